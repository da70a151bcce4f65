//! The mixture that stands for a MAP predictive distribution: Beta components (binary data) or
//! Normal components (normal data) fitted by expectation–maximisation to the exact predictive
//! given as weighted points (`MapPredictive::points`), the number of components chosen by AIC
//! (or given), and the robust component added (Schmidli et al. 2014).
//!
//! Deterministic: the starting values split the predictive into K slices of equal probability;
//! no random numbers. Beta components are kept at a, b ≥ 1 (RBesT's `constrain_gt1`), so that
//! the ELIR effective sample size stays finite.

use serde::Serialize;
use statrs::function::gamma::{digamma, ln_gamma};

use super::ess::NormalComponent;
use super::map::{Link, MapPredictive};
use super::mixture::Component;
use super::special::trigamma;
use super::{BetaPrior, Mixture, StatsError, MAX_COMPONENTS};

/// The most components fitted (one slot of a mixture is kept for the robust component).
pub const MAX_FITTED: usize = MAX_COMPONENTS - 1;
/// The sample size the AIC is computed for: the exact predictive is treated as this many draws
/// (RBesT's `automixfit` applies AIC to an MCMC sample of about this size).
pub const AIC_SAMPLE_SIZE: f64 = 10_000.0;
/// EM stops when the expected log density improves by less than this.
const EM_TOLERANCE: f64 = 1e-10;
/// Most EM iterations.
const EM_ITERATIONS: usize = 1_000;

/// A fitted mixture, how many components it has, and the AIC of every K tried.
#[derive(Debug, Clone, Serialize)]
pub struct MapFit<C: Component + Serialize> {
    /// The fitted mixture (without a robust component).
    pub mixture: Mixture<C>,
    /// (K, AIC) for each number of components tried.
    pub aic: Vec<(usize, f64)>,
}

/// One family's EM steps on points (x, weight).
trait EmFamily: Component {
    /// ln of the density's normalising constant.
    fn ln_constant(&self) -> f64;
    /// ln density at x less [`EmFamily::ln_constant`], given ln x and ln(1 − x).
    fn ln_kernel(&self, x: f64, ln_x: f64, ln_1mx: f64) -> f64;
    /// ln density at x.
    #[cfg(test)]
    fn ln_pdf(&self, x: f64) -> f64 {
        self.ln_constant() + self.ln_kernel(x, x.ln(), (-x).ln_1p())
    }
    /// The weighted maximum-likelihood component for the points with weights `w`.
    fn m_step(points: &[(f64, f64)], w: &[f64]) -> Self;
}

impl EmFamily for BetaPrior {
    fn ln_constant(&self) -> f64 {
        -(ln_gamma(self.a) + ln_gamma(self.b) - ln_gamma(self.a + self.b))
    }
    fn ln_kernel(&self, _x: f64, ln_x: f64, ln_1mx: f64) -> f64 {
        (self.a - 1.0) * ln_x + (self.b - 1.0) * ln_1mx
    }
    fn m_step(points: &[(f64, f64)], w: &[f64]) -> Self {
        let (mut s, mut l1, mut l2, mut m1, mut m2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&(x, _), &wi) in points.iter().zip(w) {
            s += wi;
            l1 += wi * x.ln();
            l2 += wi * (1.0 - x).ln();
            m1 += wi * x;
            m2 += wi * x * x;
        }
        let (l1, l2, mean) = (l1 / s, l2 / s, m1 / s);
        let variance = (m2 / s - mean * mean).max(1e-12);
        beta_mle(l1, l2, mean, variance)
    }
}

/// The Beta(a, b) with a, b ≥ 1 maximising (a − 1)·L1 + (b − 1)·L2 − ln B(a, b): Newton's method
/// on ψ(a) − ψ(a + b) = L1, ψ(b) − ψ(a + b) = L2 from the moment estimates; on the boundary a = 1
/// the optimum is b = −1/L2 (and symmetrically).
fn beta_mle(l1: f64, l2: f64, mean: f64, variance: f64) -> BetaPrior {
    let objective = |a: f64, b: f64| {
        (a - 1.0) * l1 + (b - 1.0) * l2 - (ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b))
    };
    let n = (mean * (1.0 - mean) / variance - 1.0).max(2.0);
    let (mut a, mut b) = ((mean * n).max(1.0), ((1.0 - mean) * n).max(1.0));
    for _ in 0..100 {
        let (ps, ts) = (digamma(a + b), trigamma(a + b));
        let (f1, f2) = (digamma(a) - ps - l1, digamma(b) - ps - l2);
        let (j11, j22, j12) = (trigamma(a) - ts, trigamma(b) - ts, -ts);
        let det = j11 * j22 - j12 * j12;
        let da = (j22 * f1 - j12 * f2) / det;
        let db = (j11 * f2 - j12 * f1) / det;
        let mut step = 1.0;
        while a - step * da <= 0.0 || b - step * db <= 0.0 {
            step *= 0.5;
        }
        a -= step * da;
        b -= step * db;
        if (da.abs() / a).max(db.abs() / b) < 1e-13 {
            break;
        }
    }
    if a >= 1.0 && b >= 1.0 {
        return BetaPrior { a, b };
    }
    let on_a = BetaPrior {
        a: 1.0,
        b: (-1.0 / l2).max(1.0),
    };
    let on_b = BetaPrior {
        a: (-1.0 / l1).max(1.0),
        b: 1.0,
    };
    if objective(on_a.a, on_a.b) >= objective(on_b.a, on_b.b) {
        on_a
    } else {
        on_b
    }
}

impl EmFamily for NormalComponent {
    fn ln_constant(&self) -> f64 {
        -self.sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }
    fn ln_kernel(&self, x: f64, _ln_x: f64, _ln_1mx: f64) -> f64 {
        let u = (x - self.mean) / self.sd;
        -0.5 * u * u
    }
    fn m_step(points: &[(f64, f64)], w: &[f64]) -> Self {
        let (mut s, mut m1) = (0.0, 0.0);
        for (&(x, _), &wi) in points.iter().zip(w) {
            s += wi;
            m1 += wi * x;
        }
        let mean = m1 / s;
        let v: f64 = points
            .iter()
            .zip(w)
            .map(|(&(x, _), &wi)| wi * (x - mean) * (x - mean))
            .sum::<f64>()
            / s;
        NormalComponent {
            mean,
            sd: v.max(1e-300).sqrt(),
        }
    }
}

/// EM for K components on points sorted by x with probabilities summing to 1; returns the
/// mixture parts and the expected log density Σ w ln f(x).
fn em<C: EmFamily>(points: &[(f64, f64)], k: usize) -> (Vec<(f64, C)>, f64) {
    // Start: K consecutive slices of equal probability.
    let mut parts: Vec<(f64, C)> = (0..k)
        .map(|c| {
            let (lo, hi) = (c as f64 / k as f64, (c + 1) as f64 / k as f64);
            let mut cumulative = 0.0;
            let w: Vec<f64> = points
                .iter()
                .map(|&(_, p)| {
                    let mid = cumulative + 0.5 * p;
                    cumulative += p;
                    if mid >= lo && mid < hi {
                        p
                    } else {
                        0.0
                    }
                })
                .collect();
            (1.0 / k as f64, C::m_step(points, &w))
        })
        .collect();
    let mut responsibilities = vec![vec![0.0; points.len()]; k];
    let mut last = f64::NEG_INFINITY;
    let mut ln_terms = vec![0.0; k];
    let logs: Vec<(f64, f64)> = points
        .iter()
        .map(|&(x, _)| (x.ln(), (-x).ln_1p()))
        .collect();
    let mut constants = vec![0.0; k];
    for _ in 0..EM_ITERATIONS {
        let mut expected = 0.0;
        for (constant, (w, c)) in constants.iter_mut().zip(&parts) {
            *constant = w.ln() + c.ln_constant();
        }
        for (i, (&(x, p), &(ln_x, ln_1mx))) in points.iter().zip(&logs).enumerate() {
            let mut top = f64::NEG_INFINITY;
            for ((t, (_, c)), constant) in ln_terms.iter_mut().zip(&parts).zip(&constants) {
                *t = constant + c.ln_kernel(x, ln_x, ln_1mx);
                top = top.max(*t);
            }
            let sum: f64 = ln_terms.iter().map(|t| (t - top).exp()).sum();
            expected += p * (top + sum.ln());
            for (r, t) in responsibilities.iter_mut().zip(&ln_terms) {
                r[i] = p * (t - top).exp() / sum;
            }
        }
        for ((w, c), r) in parts.iter_mut().zip(&responsibilities) {
            *w = r.iter().sum();
            if *w > 1e-300 {
                *c = C::m_step(points, r);
            }
        }
        if (expected - last).abs() <= EM_TOLERANCE * (1.0 + expected.abs()) {
            last = expected;
            break;
        }
        last = expected;
    }
    parts.retain(|(w, _)| *w > 1e-12);
    let total: f64 = parts.iter().map(|(w, _)| w).sum();
    parts.iter_mut().for_each(|(w, _)| *w /= total);
    (parts, last)
}

fn fit<C: EmFamily + Serialize>(
    points: &[(f64, f64)],
    components: Option<usize>,
) -> Result<MapFit<C>, StatsError> {
    let range = match components {
        Some(k) if (1..=MAX_FITTED).contains(&k) => k..=k,
        Some(k) => {
            return Err(StatsError::FitComponents {
                got: k,
                max: MAX_FITTED,
            })
        }
        None => 1..=MAX_FITTED,
    };
    let mut best: Option<(f64, Vec<(f64, C)>)> = None;
    let mut aic = Vec::new();
    for k in range {
        let (parts, expected) = em::<C>(points, k);
        let criterion = -2.0 * AIC_SAMPLE_SIZE * expected + 2.0 * (3 * parts.len() - 1) as f64;
        aic.push((k, criterion));
        if best.as_ref().is_none_or(|b| criterion < b.0) {
            best = Some((criterion, parts));
        }
    }
    let (_, parts) = best.ok_or(StatsError::NoComponents)?;
    Ok(MapFit {
        mixture: Mixture::new(&parts)?,
        aic,
    })
}

impl MapPredictive {
    /// The Beta mixture for p_new (binary data), with `components` components or the number
    /// AIC prefers among 1..=[`MAX_FITTED`].
    pub fn fit_beta(&self, components: Option<usize>) -> Result<MapFit<BetaPrior>, StatsError> {
        let points: Vec<(f64, f64)> = self
            .points()
            .into_iter()
            .map(|(theta, p)| (Link::Logit.inverse(theta), p))
            .filter(|&(x, _)| x > 0.0 && x < 1.0)
            .collect();
        fit(&points, components)
    }

    /// The Normal mixture for θ_new (normal data).
    pub fn fit_normal(
        &self,
        components: Option<usize>,
    ) -> Result<MapFit<NormalComponent>, StatsError> {
        fit(&self.points(), components)
    }
}

/// The mixture with a robust component of weight `weight` added and the others scaled by
/// 1 − weight (RBesT's `robustify`).
pub fn robustify<C: Component>(
    mixture: &Mixture<C>,
    weight: f64,
    robust: C,
) -> Result<Mixture<C>, StatsError> {
    if !(weight > 0.0 && weight < 1.0) {
        return Err(StatsError::RobustWeight { value: weight });
    }
    let mut parts: Vec<(f64, C)> = mixture
        .iter()
        .map(|(w, c)| ((1.0 - weight) * w, c))
        .collect();
    parts.push((weight, robust));
    Mixture::new(&parts)
}

/// The robust component for binary data: Beta(1, 1) (RBesT's default, mean ½ and n + 1 = 2).
pub const ROBUST_BETA: BetaPrior = BetaPrior { a: 1.0, b: 1.0 };

/// The unit-information robust component for normal data: N(mean, σ²) (RBesT's default with
/// n = 1).
pub fn robust_normal(mean: f64, sigma: f64) -> NormalComponent {
    NormalComponent { mean, sd: sigma }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ess::{ess_beta, EssMethod};
    use crate::stats::map::{BinaryStudy, HierarchicalPriors};

    #[test]
    fn a_single_beta_is_recovered_from_its_own_density() {
        // Points of Beta(3, 7) on a fine midpoint grid.
        let n = 20_000;
        let points: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let x = (i as f64 + 0.5) / n as f64;
                let b = BetaPrior { a: 3.0, b: 7.0 };
                (x, b.ln_pdf(x).exp() / n as f64)
            })
            .collect();
        let fitted = fit::<BetaPrior>(&points, Some(1)).unwrap_or_else(|e| panic!("{e}"));
        let c = fitted.mixture.components()[0];
        assert!(
            (c.a - 3.0).abs() < 1e-4 && (c.b - 7.0).abs() < 1e-4,
            "{c:?}"
        );
    }

    #[test]
    fn as_map_fit_is_close_to_the_exact_predictive() -> Result<(), StatsError> {
        let studies: Vec<BinaryStudy> = [
            (23, 107),
            (12, 44),
            (19, 51),
            (9, 39),
            (39, 139),
            (6, 20),
            (9, 78),
            (10, 35),
        ]
        .iter()
        .map(|&(responders, n)| BinaryStudy { responders, n })
        .collect();
        let map = MapPredictive::binary(&studies, HierarchicalPriors::BINARY_DEFAULT)?;
        let fitted = map.fit_beta(None)?;
        let exact = map.summary();
        let (mut mean, mut second) = (0.0, 0.0);
        for (w, c) in fitted.mixture.iter() {
            let m = c.a / (c.a + c.b);
            mean += w * m;
            second += w * (m * (1.0 - m) / (c.a + c.b + 1.0) + m * m);
        }
        let sd = (second - mean * mean).sqrt();
        eprintln!(
            "{fitted:?} {exact:?} {mean} {sd} elir {}",
            ess_beta(&fitted.mixture, EssMethod::Elir)?
        );
        assert!((mean - exact.mean).abs() < 1e-3);
        assert!((sd - exact.sd).abs() < 2e-3);
        Ok(())
    }
}
