//! The summaries of a borrowing fit: per stratum the posterior moments, P(θⱼ > threshold),
//! P(exchangeable | data) and the quantiles; the posterior of μ and τ. Each is a weighted sum
//! over the nodes of [`super::fit`] (plus the non-exchangeable posteriors and the
//! all-non-exchangeable component).

use super::fit::{BorrowWorkspace, NEGLIGIBLE};
use super::grid::{legendre_rule, PANEL_FIRST, TAU_PANELS, TAU_POINTS};
use super::inner::{legendre_all, softplus_and_expit};
use super::stratum::NodeValues;
use super::{ScalarSummary, StratumPosterior};
use crate::stats::roots::{quantile, Continuous};
use crate::stats::special::NormalTable;
use crate::stats::StatsError;

/// logit⁻¹.
fn expit(theta: f64) -> f64 {
    softplus_and_expit(theta).1
}

/// The posterior mean and SD of a weighted combination of strata, Σⱼ πⱼ pⱼ (binary strata: of
/// the response rates; normal strata: of the θⱼ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combination {
    /// E[Σⱼ πⱼ pⱼ | data].
    pub mean: f64,
    /// SD[Σⱼ πⱼ pⱼ | data], with the strata's posterior correlation through μ and τ.
    pub sd: f64,
}

/// A stratum's conditional E[p], E[p²] and P(θ ≤ cut) at a node: its exchangeable values with
/// probability `r`, its non-exchangeable ones otherwise (a term whose probability is 0 is left
/// out, whatever its values).
fn mixed(r: f64, exchangeable: &NodeValues, nex: &NodeValues) -> (f64, f64, f64) {
    let (mut first, mut second, mut below) = (0.0, 0.0, 0.0);
    if r > 0.0 {
        first = r * exchangeable.first;
        second = r * exchangeable.second;
        below = r * exchangeable.below;
    }
    if r < 1.0 {
        first += (1.0 - r) * nex.first;
        second += (1.0 - r) * nex.second;
        below += (1.0 - r) * nex.below;
    }
    (first, second, below)
}

impl BorrowWorkspace {
    /// The posterior mean and SD of Σⱼ πⱼ pⱼ with `weights` πⱼ (one per stratum of the last
    /// fit, [`Self::fit`] or [`Self::fit_decisions`], which must have succeeded; non-negative
    /// and summing to 1): a
    /// signature's rate, the prevalence-weighted combination of its strata's rates.
    ///
    /// Given (μ, τ) the strata are independent, so at each node the combination's conditional
    /// mean is Σ πⱼ mⱼ and its conditional variance Σ πⱼ² vⱼ; the posterior moments are their
    /// mixtures over the nodes (the law of total variance), which carries the strata's
    /// correlation through (μ, τ). Under EXNEX a node carries the configurations in which some
    /// stratum is exchangeable: its moments are those of the unconditioned node less the
    /// all-non-exchangeable configuration's, divided by the share it carries; that
    /// configuration itself is held apart with its own weight, as in the strata's summaries.
    pub fn combination(&self, weights: &[f64]) -> Result<Combination, StatsError> {
        let problem = |problem: String| StatsError::Combination { problem };
        if !self.fitted {
            return Err(problem(
                "there is no fit to combine (none was made, or the last one failed)".into(),
            ));
        }
        let count = self.inputs.len();
        if weights.len() != count {
            return Err(problem(format!(
                "{} weights given for {count} strata",
                weights.len()
            )));
        }
        if let Some((j, w)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(problem(format!(
                "weight {w} of stratum {} must be finite and non-negative",
                j + 1
            )));
        }
        let sum: f64 = weights.iter().sum();
        if (sum - 1.0).abs() > 1e-9 {
            return Err(problem(format!("the weights sum to {sum}, not 1")));
        }
        // The all-non-exchangeable configuration: every stratum at its own posterior.
        let (mut nex_mean, mut nex_variance) = (0.0, 0.0);
        for (pi, nex) in weights.iter().zip(&self.nex_values) {
            nex_mean += pi * nex.first;
            nex_variance += pi * pi * (nex.second - nex.first * nex.first);
        }
        let nex_second = nex_variance + nex_mean * nex_mean;
        let (mut first, mut second) = (self.all_nex * nex_mean, self.all_nex * nex_second);
        for (node, &w) in self.node_weight.iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            let rest = self.node_rest[node];
            let (mut mean, mut variance) = (0.0, 0.0);
            for (j, (pi, nex)) in weights.iter().zip(&self.nex_values).enumerate() {
                let slot = node * count + j;
                // The unconditioned P(exchangeable | data, μ, τ).
                let r = (self.exchangeable[slot] * rest).min(1.0);
                let (m1, m2, _) = mixed(r, &self.values[slot], nex);
                mean += pi * m1;
                variance += pi * pi * (m2 - m1 * m1);
            }
            let mut node_second = variance + mean * mean;
            if rest < 1.0 {
                mean = (mean - (1.0 - rest) * nex_mean) / rest;
                node_second = (node_second - (1.0 - rest) * nex_second) / rest;
            }
            first += w * mean;
            second += w * node_second;
        }
        Ok(Combination {
            mean: first,
            sd: (second - first * first).max(0.0).sqrt(),
        })
    }

    /// Fills the posterior from the normalised node weights; the quantiles only when asked
    /// (they need [`BorrowWorkspace::fill_detail`] first).
    pub(super) fn summarise(&mut self, quantiles: bool) {
        let count = self.inputs.len();
        self.posterior.strata.clear();
        for j in 0..count {
            let nex = self.nex_values[j];
            let (mut first, mut second, mut below, mut ex) = (0.0, 0.0, 0.0, 0.0);
            for (node, &w) in self.node_weight.iter().enumerate() {
                let slot = node * count + j;
                let r = self.exchangeable[slot];
                let (m1, m2, b) = mixed(r, &self.values[slot], &nex);
                first += w * m1;
                second += w * m2;
                below += w * b;
                ex += w * r;
            }
            first += self.all_nex * nex.first;
            second += self.all_nex * nex.second;
            below += self.all_nex * nex.below;
            let sd = (second - first * first).max(0.0).sqrt();
            let mut q = [0.0; 3];
            if quantiles {
                let (guess, guess_sd) = if self.binary {
                    (
                        (first / (1.0 - first)).ln(),
                        sd / (first * (1.0 - first)).max(1e-12),
                    )
                } else {
                    (first, sd)
                };
                let dist = StratumMarginal { fit: self, j };
                for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                    let theta = quantile(&dist, p, guess, guess_sd.max(1e-300));
                    *out = if self.binary { expit(theta) } else { theta };
                }
            }
            self.posterior.strata.push(StratumPosterior {
                summary: scalar(first, sd, q),
                p_above: (1.0 - below).clamp(0.0, 1.0),
                p_exchangeable: ex.clamp(0.0, 1.0),
            });
        }
        self.posterior.mu = self.summarise_mu(quantiles);
        self.posterior.tau = self.summarise_tau(quantiles);
    }

    /// P(θⱼ ≤ t | data) and the density of θⱼ at t, from the conditional posteriors filled for
    /// the quantiles.
    fn stratum_cdf(&self, j: usize, t: f64) -> (f64, f64) {
        let count = self.inputs.len();
        let (mut cdf, mut density, mut ex_mass) = (0.0, 0.0, 0.0);
        for (node, &weight) in self.node_weight.iter().enumerate() {
            let slot = node * count + j;
            let w = weight * self.exchangeable[slot];
            ex_mass += w;
            if w <= NEGLIGIBLE {
                continue;
            }
            let (f, d) = self.detail[slot].cdf(&self.inner, t);
            cdf += w * f;
            density += w * d;
        }
        let nex_mass = 1.0 - ex_mass;
        if nex_mass > 0.0 {
            let (f, d) = self.nex[j].cdf(&self.inner, t);
            cdf += nex_mass * f;
            density += nex_mass * d;
        }
        (cdf.clamp(0.0, 1.0), density.max(0.0))
    }

    fn summarise_mu(&self, quantiles: bool) -> ScalarSummary {
        let (mut first, mut second) = (0.0, 0.0);
        for (w, mu) in self.node_weight.iter().zip(&self.node_mu) {
            first += w * mu;
            second += w * mu * mu;
        }
        let (m, s) = self.mu_prior;
        first += self.all_nex * m;
        second += self.all_nex * (m * m + s * s);
        let sd = (second - first * first).max(0.0).sqrt();
        let mut q = [0.0; 3];
        if quantiles {
            let dist = MuMarginal { fit: self };
            for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                *out = quantile(&dist, p, first, sd.max(1e-300));
            }
        }
        scalar(first, sd, q)
    }

    fn summarise_tau(&self, quantiles: bool) -> ScalarSummary {
        let rows = self.row_masses();
        let (mut first, mut second) = (0.0, 0.0);
        for (w, tau) in rows.iter().zip(&self.tau_nodes) {
            first += w * tau;
            second += w * tau * tau;
        }
        // HalfNormal(s): E τ = s·√(2/π), E τ² = s².
        let s = self.tau_scale;
        first += self.all_nex * s * (2.0 / std::f64::consts::PI).sqrt();
        second += self.all_nex * s * s;
        let sd = (second - first * first).max(0.0).sqrt();
        let mut q = [0.0; 3];
        if quantiles {
            let dist = TauMarginal {
                rows: &rows,
                nodes: &self.tau_nodes,
                weights: &self.tau_weights,
                points: self.panel_points,
                all_nex: self.all_nex,
                scale: s,
            };
            for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                *out = quantile(&dist, p, first, sd.max(1e-300)).max(0.0);
            }
        }
        scalar(first, sd, q)
    }
}

/// A summary from the mean, the SD and the 2.5/50/97.5% quantiles.
fn scalar(mean: f64, sd: f64, q: [f64; 3]) -> ScalarSummary {
    ScalarSummary {
        mean,
        sd,
        median: q[1],
        ci95: [q[0], q[2]],
    }
}

/// The marginal posterior of θⱼ: the weighted mixture of its conditionals over the nodes.
struct StratumMarginal<'a> {
    fit: &'a BorrowWorkspace,
    j: usize,
}

impl Continuous for StratumMarginal<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.fit.stratum_cdf(self.j, x).0
    }
    fn density(&self, x: f64) -> f64 {
        self.fit.stratum_cdf(self.j, x).1
    }
}

/// The marginal posterior of μ for its quantiles: each node's mass spread evenly over its cell
/// of the row's μ rule (the histogram of the rule), plus the all-non-exchangeable component's
/// prior.
struct MuMarginal<'a> {
    fit: &'a BorrowWorkspace,
}

impl MuMarginal<'_> {
    fn cdf_and_density(&self, mu: f64) -> (f64, f64) {
        let (mut cdf, mut density) = (0.0, 0.0);
        for (node, &weight) in self.fit.node_weight.iter().enumerate() {
            {
                if weight <= NEGLIGIBLE {
                    continue;
                }
                let (lo, hi) = self.fit.node_cell[node];
                let width = hi - lo;
                let position = (mu - lo) / width;
                if position >= 1.0 {
                    cdf += weight;
                } else if position > 0.0 {
                    cdf += weight * position;
                    density += weight / width;
                }
            }
        }
        if self.fit.all_nex > 0.0 {
            let (m, s) = self.fit.mu_prior;
            let (f, phi) = NormalTable::get().cdf((mu - m) / s);
            cdf += self.fit.all_nex * f;
            density += self.fit.all_nex * phi / s;
        }
        (cdf.clamp(0.0, 1.0), density.max(0.0))
    }
}

impl Continuous for MuMarginal<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.cdf_and_density(x).0
    }
    fn density(&self, x: f64) -> f64 {
        self.cdf_and_density(x).1
    }
}

/// The marginal posterior of τ: on each Gauss–Legendre panel, the Legendre expansion of the
/// density from the node weights, integrated in closed form.
struct TauMarginal<'a> {
    rows: &'a [f64; TAU_POINTS],
    nodes: &'a [f64; TAU_POINTS],
    weights: &'a [f64; TAU_POINTS],
    /// The Gauss–Legendre points of each panel.
    points: [usize; TAU_PANELS],
    /// The all-non-exchangeable component's mass and τ's prior scale.
    all_nex: f64,
    scale: f64,
}
impl TauMarginal<'_> {
    fn cdf_and_density(&self, tau: f64) -> (f64, f64) {
        let (nodes_cdf, nodes_density) = self.nodes_cdf(tau);
        if self.all_nex <= 0.0 || tau <= 0.0 {
            return (nodes_cdf, nodes_density);
        }
        // HalfNormal(s): CDF 1 − 2Φ(−τ/s), density 2φ(τ/s)/s.
        let (upper, phi) = NormalTable::get().tail(tau / self.scale);
        (
            (nodes_cdf + self.all_nex * (1.0 - 2.0 * upper)).clamp(0.0, 1.0),
            nodes_density + self.all_nex * 2.0 * phi / self.scale,
        )
    }

    fn nodes_cdf(&self, tau: f64) -> (f64, f64) {
        let mut cdf = 0.0;
        for panel in 0..TAU_PANELS {
            let points = self.points[panel];
            let (nodes, weights) = legendre_rule(points);
            let range = PANEL_FIRST[panel]..PANEL_FIRST[panel + 1];
            let half = self.weights[range.start] / weights[0];
            let mid = self.nodes[range.start] - half * nodes[0];
            let (lo, hi) = (mid - half, mid + half);
            let mass: f64 = self.rows[range.clone()].iter().sum();
            if tau >= hi {
                cdf += mass;
                continue;
            }
            if tau < lo {
                break;
            }
            // a_m = (2m + 1)/2 · Σₖ Rₖ·P_m(vₖ): the density in v is Σ a_m P_m(v).
            let mut a = [0.0; 8];
            for (k, &x) in nodes.iter().enumerate() {
                let p = legendre_all(x);
                for (m, am) in a.iter_mut().enumerate().take(points) {
                    *am += self.rows[range.start + k] * p[m];
                }
            }
            for (m, am) in a.iter_mut().enumerate().take(points) {
                *am *= (2.0 * m as f64 + 1.0) / 2.0;
            }
            let v = (tau - mid) / half;
            let p = legendre_all(v);
            let mut partial = a[0] * (v + 1.0);
            let mut density = a[0];
            for m in 1..points {
                partial += a[m] * (p[m + 1] - p[m - 1]) / (2.0 * m as f64 + 1.0);
                density += a[m] * p[m];
            }
            return ((cdf + partial).clamp(0.0, 1.0), (density / half).max(0.0));
        }
        (cdf.clamp(0.0, 1.0), 0.0)
    }
}

impl Continuous for TauMarginal<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.cdf_and_density(x).0
    }
    fn density(&self, x: f64) -> f64 {
        self.cdf_and_density(x).1
    }
}

#[cfg(test)]
mod tests {
    use crate::stats::borrow::{
        BorrowModel, BorrowWorkspace, ExchangeWeights, HalfNormalPrior, NormalPrior, StrataModel,
        Stratum,
    };
    use crate::stats::StatsError;

    fn strata(data: &[(u64, u64)]) -> Vec<Stratum> {
        data.iter()
            .map(|&(responders, n)| Stratum::Binary { responders, n })
            .collect()
    }

    fn model(tau_scale: f64, exnex: Option<f64>) -> Result<BorrowModel, StatsError> {
        Ok(BorrowModel {
            mu: NormalPrior::new("mu", -1.0, 2.0)?,
            tau: HalfNormalPrior::new(tau_scale)?,
            strata: match exnex {
                None => StrataModel::Hierarchical,
                Some(w) => StrataModel::Exnex {
                    nex: NormalPrior::new("nex", -1.0, 2.0)?,
                    weights: ExchangeWeights::Common(w),
                },
            },
        })
    }

    /// One stratum with weight 1 is that stratum's posterior, under both models and both fits.
    #[test]
    fn a_single_stratum_combination_is_its_posterior() -> Result<(), StatsError> {
        let data = strata(&[(3, 20), (9, 25), (1, 12), (14, 30)]);
        let mut fit = BorrowWorkspace::new();
        for m in [model(1.0, None)?, model(0.5, Some(0.5))?] {
            for decisions in [false, true] {
                let posterior = if decisions {
                    fit.fit_decisions(&m, &data, 0.3)?.clone()
                } else {
                    fit.fit(&m, &data, 0.3)?.clone()
                };
                for (j, stratum) in posterior.strata.iter().enumerate() {
                    let mut weights = [0.0; 4];
                    weights[j] = 1.0;
                    let c = fit.combination(&weights)?;
                    assert!(
                        (c.mean - stratum.summary.mean).abs() < 1e-12
                            && (c.sd - stratum.summary.sd).abs() < 1e-10,
                        "stratum {j}: {c:?} against {:?}",
                        stratum.summary
                    );
                }
            }
        }
        Ok(())
    }

    /// The strata's posterior correlation through (μ, τ) is carried: with τ near 0 two strata
    /// share one rate, so their average is as uncertain as either; with EXNEX and a tiny
    /// exchangeability weight they are nearly independent, so the variance of the average is
    /// the sum of the quarter variances.
    #[test]
    fn a_combination_carries_the_strata_correlation() -> Result<(), StatsError> {
        let data = strata(&[(5, 20), (6, 20)]);
        let mut fit = BorrowWorkspace::new();
        let pooled = fit.fit_decisions(&model(0.001, None)?, &data, 0.3)?.clone();
        let c = fit.combination(&[0.5, 0.5])?;
        let single = pooled.strata[0].summary.sd;
        assert!(
            (c.sd / single - 1.0).abs() < 0.01,
            "{c:?} against a stratum SD of {single}"
        );
        let separate = fit
            .fit_decisions(&model(1.0, Some(1e-9))?, &data, 0.3)?
            .clone();
        let c = fit.combination(&[0.5, 0.5])?;
        let independent = 0.5
            * (separate.strata[0].summary.sd.powi(2) + separate.strata[1].summary.sd.powi(2))
                .sqrt();
        let mean = 0.5 * (separate.strata[0].summary.mean + separate.strata[1].summary.mean);
        assert!(
            (c.sd / independent - 1.0).abs() < 1e-6 && (c.mean - mean).abs() < 1e-12,
            "{c:?} against {independent}, {mean}"
        );
        Ok(())
    }

    #[test]
    fn bad_weights_are_refused() -> Result<(), StatsError> {
        let data = strata(&[(5, 20), (6, 20)]);
        let mut fit = BorrowWorkspace::new();
        fit.fit_decisions(&model(1.0, None)?, &data, 0.3)?;
        for (weights, message) in [
            (&[1.0][..], "1 weights given for 2 strata"),
            (&[0.5, 0.6][..], "the weights sum to 1.1, not 1"),
            (&[1.5, -0.5][..], "weight -0.5 of stratum 2"),
            (&[f64::NAN, 1.0][..], "weight NaN of stratum 1"),
        ] {
            let e = fit.combination(weights).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
        }
        // A failed fit leaves nothing to combine (not the previous fit's nodes).
        let bad = BorrowModel {
            strata: StrataModel::Exnex {
                nex: NormalPrior::new("nex", -1.0, 2.0)?,
                weights: ExchangeWeights::PerStratum(vec![0.5, 1.5]),
            },
            ..model(1.0, None)?
        };
        assert!(fit.fit_decisions(&bad, &data, 0.3).is_err());
        let e = fit.combination(&[0.5, 0.5]).unwrap_err().to_string();
        assert!(e.contains("there is no fit to combine"), "{e}");
        assert!(BorrowWorkspace::new().combination(&[1.0]).is_err());
        Ok(())
    }
}
