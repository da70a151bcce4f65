//! Meta-analytic-predictive (MAP) priors from historical studies (Neuenschwander et al. 2010):
//! the predictive distribution of a new study's parameter under the hierarchical model, computed
//! exactly by quadrature, then approximated by a mixture of conjugate components (`map_fit`).
//!
//! Binary: y_i ~ Bin(n_i, p_i), logit p_i = θ_i, θ_i ~ N(μ, τ²), μ ~ N(m, s²),
//! τ ~ HalfNormal(s_τ); the predictive of p_new = expit(θ_new). Normal: y_i ~ N(θ_i, se_i²),
//! θ_i ~ N(μ, τ²) with the same priors; the predictive of θ_new.
//!
//! (μ, τ) are integrated by Gauss–Legendre panels; each study's θ_i by adaptive Gauss–Hermite in
//! the standardised variable z = (θ_i − μ)/τ (so that τ → 0 stays exact: the rule then sits at
//! z = 0). The predictive density of θ_new is tabulated on panels (`legendre16::Tabulated`) from
//! the conditional posteriors of μ given each τ node. Formulas: `METHODS.md`, "Effective sample
//! size and MAP priors". Knows no files: the command line reads the CSV.

use serde::Serialize;

use super::legendre16::{self, Tabulated};
use super::StatsError;

/// The most historical studies (rows) accepted.
pub const MAX_HISTORICAL: usize = 10_000;
/// τ is integrated over [0, `TAU_SDS` · s_τ] (the half-normal prior beyond holds e^{−32}).
const TAU_SDS: f64 = 8.0;
/// Gauss–Legendre panels over τ.
const TAU_PANELS: usize = 8;
/// μ given τ is integrated over ±`MU_SDS` of its approximate posterior SD.
const MU_SDS: f64 = 10.0;
/// Gauss–Legendre panels over μ given τ.
const MU_PANELS: usize = 5;
/// A log density this far below its maximum is negligible (e^{−36} ≈ 2 × 10⁻¹⁶).
const NEGLIGIBLE_LOG: f64 = 36.0;
/// The predictive's panels reach this many SDs beyond each τ node's scale …
const PREDICTIVE_SDS: f64 = 12.0;
/// … with an edge every this many SDs.
const PREDICTIVE_STEP: f64 = 2.0;

/// Points of the predictive with less probability than this are left out of the fit.
const POINT_NEGLIGIBLE: f64 = 1e-14;

/// Adaptive Gauss–Hermite rule (20 points): the positive nodes t and their weights times e^{t²}.
const HERMITE: [(f64, f64); 10] = [
    (0.245_340_708_300_901_24, 0.490_921_500_666_745_84),
    (0.737_473_728_545_394_4, 0.493_843_385_272_053),
    (1.234_076_215_395_323, 0.499_920_871_336_290_5),
    (1.738_537_712_116_586_1, 0.509_679_027_117_458_6),
    (2.254_974_002_089_275_7, 0.524_080_350_948_557_3),
    (2.788_806_058_428_130_5, 0.544_851_742_364_519_4),
    (3.347_854_567_383_216_3, 0.575_262_442_852_503_2),
    (3.944_764_040_115_625, 0.622_278_696_191_410_5),
    (4.603_682_449_550_744, 0.704_332_961_176_940_1),
    (5.387_480_890_011_233, 0.898_591_961_453_186_9),
];

/// One historical study with a binary outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BinaryStudy {
    /// Responders, ≤ n.
    pub responders: u64,
    /// Participants, ≥ 1.
    pub n: u64,
}

/// One historical study with a normal outcome: its mean and standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NormalStudy {
    /// The study's estimate of its mean.
    pub mean: f64,
    /// Its standard error, > 0.
    pub se: f64,
}

/// Priors of the hierarchical model: μ ~ N(mu_mean, mu_sd²), τ ~ HalfNormal(tau_scale).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HierarchicalPriors {
    /// Prior mean of μ (logit scale for binary data).
    pub mu_mean: f64,
    /// Prior SD of μ, > 0.
    pub mu_sd: f64,
    /// Scale of the half-normal prior on τ, > 0.
    pub tau_scale: f64,
}

impl HierarchicalPriors {
    /// RBesT's binary example (ankylosing spondylitis, `gMAP(…, tau.prior = 1,
    /// beta.prior = 2)`): μ ~ N(0, 2²), τ ~ HalfNormal(1).
    pub const BINARY_DEFAULT: Self = Self {
        mu_mean: 0.0,
        mu_sd: 2.0,
        tau_scale: 1.0,
    };

    /// RBesT's normal example (Crohn's disease, `beta.prior = cbind(0, σ)`, `tau.prior =
    /// cbind(0, σ/2)`): μ ~ N(0, σ²), τ ~ HalfNormal(σ/2), for the reference scale σ.
    pub fn normal_default(sigma: f64) -> Self {
        Self {
            mu_mean: 0.0,
            mu_sd: sigma,
            tau_scale: 0.5 * sigma,
        }
    }

    fn check(&self) -> Result<(), StatsError> {
        if !self.mu_mean.is_finite() {
            return Err(StatsError::Parameter {
                name: "mu_mean",
                value: self.mu_mean,
            });
        }
        super::positive("mu_sd", self.mu_sd)?;
        super::positive("tau_scale", self.tau_scale)?;
        Ok(())
    }
}

/// Mean, SD and the 2.5 %, 50 % and 97.5 % quantiles of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// 2.5 % quantile.
    pub q025: f64,
    /// Median.
    pub median: f64,
    /// 97.5 % quantile.
    pub q975: f64,
}

/// The scale on which the new study's parameter is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// θ = logit p (binary data); summaries are of p.
    Logit,
    /// θ itself (normal data).
    Identity,
}

impl Link {
    /// The parameter from θ.
    pub fn inverse(self, theta: f64) -> f64 {
        match self {
            Self::Logit => super::ess::expit(theta),
            Self::Identity => theta,
        }
    }
}

/// The exact MAP predictive distribution of a new study's θ, and the posterior of τ.
#[derive(Debug, Clone)]
pub struct MapPredictive {
    link: Link,
    theta: Tabulated,
    tau: Tabulated,
}

/// Given one τ node: the conditional posterior of μ.
enum Conditional {
    /// Normal data: μ | τ, y ~ N(mean, variance) exactly.
    Normal { mean: f64, variance: f64 },
    /// Binary data: ln g(μ) = ln p(μ) + Σ ln L_i(μ, τ) (less its maximum) tabulated on μ panels;
    /// `nodes` holds (μ_j, quadrature weight × g(μ_j)/∫g).
    Binary {
        ln_g: Tabulated,
        ln_mass: f64,
        nodes: Vec<(f64, f64)>,
        sd: f64,
    },
}

/// One τ node of the outer rule.
struct Slice {
    tau: f64,
    /// Quadrature weight × p(τ | y) (summing to 1 over the slices).
    weight: f64,
    /// ln of the unnormalised p(τ | y) (prior × marginal likelihood).
    ln_posterior: f64,
    /// Centre and SD of μ | τ (approximate for binary data), for the predictive's panels.
    centre: f64,
    sd: f64,
    conditional: Conditional,
}

fn ln_expit(x: f64) -> f64 {
    // ln(1/(1 + e^{−x})) = −softplus(−x)
    let y = -x;
    -(y.max(0.0) + (-y.abs()).exp().ln_1p())
}

/// ln ∫ Bin(y | n, expit(μ + τz)) φ(z) dz without the binomial coefficient, by the 20-point
/// Gauss–Hermite rule centred at the integrand's mode and scaled by its curvature.
pub(crate) fn ln_study_likelihood(y: f64, n: f64, mu: f64, tau: f64) -> f64 {
    let ell = |z: f64| {
        let eta = mu + tau * z;
        y * ln_expit(eta) + (n - y) * ln_expit(-eta) - 0.5 * z * z
    };
    // ℓ′(z) = τ(y − n·p) − z decreases strictly, and changes sign within
    // [−τ(n − y) − 1, τy + 1]: Newton's method kept inside a shrinking bracket.
    let slope = |z: f64| {
        let p = super::ess::expit(mu + tau * z);
        (tau * (y - n * p) - z, tau * tau * n * p * (1.0 - p) + 1.0)
    };
    let (mut lo, mut hi) = (-tau * (n - y) - 1.0, tau * y + 1.0);
    let mut z = 0.0_f64.clamp(lo, hi);
    for _ in 0..200 {
        let (gradient, curvature) = slope(z);
        if gradient > 0.0 {
            lo = z;
        } else {
            hi = z;
        }
        let mut next = z + gradient / curvature;
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        let done = (next - z).abs() <= 1e-12 * (1.0 + z.abs());
        z = next;
        if done {
            break;
        }
    }
    let curvature = slope(z).1;
    let s = std::f64::consts::SQRT_2 / curvature.sqrt();
    let top = ell(z);
    let sum: f64 = HERMITE
        .iter()
        .map(|&(t, w)| w * ((ell(z + s * t) - top).exp() + (ell(z - s * t) - top).exp()))
        .sum();
    top + (s * sum / (2.0 * std::f64::consts::PI).sqrt()).ln()
}

fn ln_normal_density(x: f64, mean: f64, sd: f64) -> f64 {
    let u = (x - mean) / sd;
    -0.5 * u * u - sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

fn check_count(studies: usize) -> Result<(), StatsError> {
    if studies == 0 {
        return Err(StatsError::NoStudies);
    }
    if studies > MAX_HISTORICAL {
        return Err(StatsError::TooManyStudies {
            got: studies,
            max: MAX_HISTORICAL,
        });
    }
    Ok(())
}

/// τ nodes: Gauss–Legendre panels over [0, TAU_SDS · s_τ], with the half-normal log density.
fn tau_nodes(scale: f64) -> Vec<(f64, f64, f64)> {
    let width = TAU_SDS * scale / TAU_PANELS as f64;
    let mut nodes = Vec::with_capacity(16 * TAU_PANELS);
    for p in 0..TAU_PANELS {
        legendre16::panel_nodes(p as f64 * width, (p + 1) as f64 * width, |tau, w| {
            let ln_prior = ln_normal_density(tau, 0.0, scale) + std::f64::consts::LN_2;
            nodes.push((tau, w, ln_prior));
        });
    }
    nodes.sort_by(|a, b| a.0.total_cmp(&b.0));
    nodes
}

/// The binary model's conditional of μ given τ, with ln ∫ g dμ.
fn binary_conditional(
    groups: &[(f64, f64, f64)],
    priors: &HierarchicalPriors,
    tau: f64,
) -> (Conditional, f64, f64, f64) {
    // Approximate centre and SD from the empirical logits (then checked against the exact g).
    let mut precision = 1.0 / (priors.mu_sd * priors.mu_sd);
    let mut weighted = priors.mu_mean * precision;
    for &(y, n, count) in groups {
        let v = 1.0 / (y + 0.5) + 1.0 / (n - y + 0.5);
        let w = count / (v + tau * tau);
        precision += w;
        weighted += w * ((y + 0.5) / (n - y + 0.5)).ln();
    }
    let mut centre = weighted / precision;
    let mut sd = 1.0 / precision.sqrt();
    let ln_g = |mu: f64| {
        ln_normal_density(mu, priors.mu_mean, priors.mu_sd)
            + groups
                .iter()
                .map(|&(y, n, count)| count * ln_study_likelihood(y, n, mu, tau))
                .sum::<f64>()
    };
    let mut table;
    let mut attempt = 0;
    loop {
        let lo = centre - MU_SDS * sd;
        let width = 2.0 * MU_SDS * sd / MU_PANELS as f64;
        let edges: Vec<f64> = (0..=MU_PANELS).map(|i| lo + i as f64 * width).collect();
        table = Tabulated::new(edges, ln_g);
        let mut best = (f64::NEG_INFINITY, centre);
        table.for_each(|mu, _, v| {
            if v > best.0 {
                best = (v, mu);
            }
        });
        let (first, last) = table.range();
        let edge_high = table.value(first).max(table.value(last)) > best.0 - NEGLIGIBLE_LOG;
        attempt += 1;
        if !edge_high || attempt >= 8 {
            // Refine the SD from the tabulated values (second moment) for the predictive panels.
            let (mut mass, mut m1, mut m2) = (0.0, 0.0, 0.0);
            table.for_each(|mu, w, v| {
                let g = w * (v - best.0).exp();
                mass += g;
                m1 += g * mu;
                m2 += g * mu * mu;
            });
            let mean = m1 / mass;
            let sd_exact = (m2 / mass - mean * mean).max(0.0).sqrt();
            let mut nodes = Vec::with_capacity(16 * MU_PANELS);
            table.for_each(|mu, w, v| nodes.push((mu, w * (v - best.0).exp() / mass)));
            let ln_mass = best.0 + mass.ln();
            return (
                Conditional::Binary {
                    ln_g: table,
                    ln_mass,
                    nodes,
                    sd: sd_exact,
                },
                ln_mass,
                mean,
                sd_exact,
            );
        }
        centre = best.1;
        sd *= 2.0;
    }
}

/// The normal model's conditional of μ given τ (exact) and ln ∫ g dμ.
fn normal_conditional(
    studies: &[NormalStudy],
    priors: &HierarchicalPriors,
    tau: f64,
) -> (Conditional, f64, f64, f64) {
    let prior_precision = 1.0 / (priors.mu_sd * priors.mu_sd);
    let mut precision = prior_precision;
    let mut weighted = priors.mu_mean * prior_precision;
    let mut squares = priors.mu_mean * priors.mu_mean * prior_precision;
    let mut ln_det = -prior_precision.ln();
    for s in studies {
        let v = s.se * s.se + tau * tau;
        precision += 1.0 / v;
        weighted += s.mean / v;
        squares += s.mean * s.mean / v;
        ln_det += v.ln();
    }
    let mean = weighted / precision;
    let variance = 1.0 / precision;
    // ln ∫ N(μ; m, s²) Π N(y_i; μ, v_i) dμ, less (n/2)·ln 2π.
    let ln_mass = -0.5 * (ln_det + precision.ln()) - 0.5 * (squares - weighted * mean);
    (
        Conditional::Normal { mean, variance },
        ln_mass,
        mean,
        variance.sqrt(),
    )
}

impl MapPredictive {
    /// The exact MAP predictive for binary historical data.
    pub fn binary(studies: &[BinaryStudy], priors: HierarchicalPriors) -> Result<Self, StatsError> {
        check_count(studies.len())?;
        priors.check()?;
        let mut groups: Vec<(u64, u64, f64)> = Vec::new();
        for (index, s) in studies.iter().enumerate() {
            if s.n == 0 {
                return Err(StatsError::EmptyStudy { study: index + 1 });
            }
            if s.responders > s.n {
                return Err(StatsError::Responders {
                    study: index + 1,
                    responders: s.responders,
                    n: s.n,
                });
            }
            match groups
                .iter_mut()
                .find(|g| g.0 == s.responders && g.1 == s.n)
            {
                Some(g) => g.2 += 1.0,
                None => groups.push((s.responders, s.n, 1.0)),
            }
        }
        let groups: Vec<(f64, f64, f64)> = groups
            .iter()
            .map(|&(y, n, c)| (y as f64, n as f64, c))
            .collect();
        Ok(Self::build(Link::Logit, &priors, |tau| {
            binary_conditional(&groups, &priors, tau)
        }))
    }

    /// The exact MAP predictive for normal historical data (each study's mean and SE).
    pub fn normal(studies: &[NormalStudy], priors: HierarchicalPriors) -> Result<Self, StatsError> {
        check_count(studies.len())?;
        priors.check()?;
        for (index, s) in studies.iter().enumerate() {
            if !s.mean.is_finite() {
                return Err(StatsError::StudyValue {
                    study: index + 1,
                    name: "mean",
                    value: s.mean,
                });
            }
            if !(s.se.is_finite() && s.se > 0.0) {
                return Err(StatsError::StudyValue {
                    study: index + 1,
                    name: "se",
                    value: s.se,
                });
            }
        }
        Ok(Self::build(Link::Identity, &priors, |tau| {
            normal_conditional(studies, &priors, tau)
        }))
    }

    fn build(
        link: Link,
        priors: &HierarchicalPriors,
        conditional: impl Fn(f64) -> (Conditional, f64, f64, f64),
    ) -> Self {
        let mut slices: Vec<Slice> = tau_nodes(priors.tau_scale)
            .into_iter()
            .map(|(tau, w, ln_prior)| {
                let (conditional, ln_mass, centre, sd) = conditional(tau);
                Slice {
                    tau,
                    weight: w,
                    ln_posterior: ln_prior + ln_mass,
                    centre,
                    sd,
                    conditional,
                }
            })
            .collect();
        let top = slices
            .iter()
            .map(|s| s.ln_posterior)
            .fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = slices
            .iter()
            .map(|s| s.weight * (s.ln_posterior - top).exp())
            .sum();
        for s in &mut slices {
            s.weight *= (s.ln_posterior - top).exp() / total;
        }
        // p(τ | y), tabulated on the same panels (the τ nodes are exactly their nodes).
        let width = TAU_SDS * priors.tau_scale / TAU_PANELS as f64;
        let tau_edges: Vec<f64> = (0..=TAU_PANELS).map(|i| i as f64 * width).collect();
        let tau = Tabulated::new(tau_edges, |t| {
            slices
                .iter()
                .find(|s| s.tau == t)
                .map_or(0.0, |s| (s.ln_posterior - top).exp() / total)
        });
        // The predictive of θ_new: panels following each τ node's scale √(sd² + τ²).
        let relevant: Vec<&Slice> = slices.iter().filter(|s| s.weight > 1e-16).collect();
        let scales: Vec<(f64, f64)> = relevant
            .iter()
            .step_by(8)
            .chain(relevant.first())
            .map(|s| (s.centre, (s.sd * s.sd + s.tau * s.tau).sqrt()))
            .collect();
        let edges = legendre16::edges(&scales, PREDICTIVE_SDS, PREDICTIVE_STEP);
        let theta = Tabulated::new(edges, |x| {
            relevant
                .iter()
                .map(|s| s.weight * conditional_predictive(s, x))
                .sum()
        });
        Self { link, theta, tau }
    }

    /// The scale of θ.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Summary of the new study's parameter (p_new for binary data, θ_new for normal data).
    pub fn summary(&self) -> Summary {
        let link = self.link;
        summarise(&self.theta, |x| link.inverse(x))
    }

    /// Summary of the posterior of τ.
    pub fn tau(&self) -> Summary {
        summarise(&self.tau, |x| x)
    }

    /// The predictive as weighted points (parameter value, probability), for fitting.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let total = self.theta.total();
        let mut points = Vec::new();
        self.theta.for_each(|x, w, v| {
            let p = w * v / total;
            if p > POINT_NEGLIGIBLE {
                points.push((x, p));
            }
        });
        let kept: f64 = points.iter().map(|p| p.1).sum();
        points.iter_mut().for_each(|p| p.1 /= kept);
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }

    /// ∫ of the tabulated predictive density (1 up to the quadrature error).
    pub fn mass(&self) -> f64 {
        self.theta.total()
    }
}

/// ∫ N(θ; μ, τ²) p(μ | τ, y) dμ for one τ node.
fn conditional_predictive(slice: &Slice, theta: f64) -> f64 {
    let tau = slice.tau;
    match &slice.conditional {
        Conditional::Normal { mean, variance } => {
            ln_normal_density(theta, *mean, (variance + tau * tau).sqrt()).exp()
        }
        Conditional::Binary {
            ln_g,
            ln_mass,
            nodes,
            sd,
        } => {
            if tau >= *sd {
                nodes
                    .iter()
                    .filter(|(mu, _)| (theta - mu).abs() < 12.0 * tau)
                    .map(|&(mu, w)| w * ln_normal_density(theta, mu, tau).exp())
                    .sum()
            } else {
                let (lo, hi) = ln_g.range();
                let mut sum = 0.0;
                for (a, b) in [(theta - 10.0 * tau, theta), (theta, theta + 10.0 * tau)] {
                    legendre16::panel_nodes(a, b, |mu, w| {
                        if (lo..=hi).contains(&mu) {
                            sum += w
                                * (ln_g.value(mu) - ln_mass).exp()
                                * ln_normal_density(theta, mu, tau).exp();
                        }
                    });
                }
                sum
            }
        }
    }
}

/// Mean, SD and quantiles of h(X) for X with the tabulated density (h increasing).
fn summarise(table: &Tabulated, h: impl Fn(f64) -> f64) -> Summary {
    let total = table.total();
    let (mut m1, mut m2) = (0.0, 0.0);
    table.for_each(|x, w, v| {
        let y = h(x);
        m1 += w * v * y;
        m2 += w * v * y * y;
    });
    let mean = m1 / total;
    Summary {
        mean,
        sd: (m2 / total - mean * mean).max(0.0).sqrt(),
        q025: h(table.quantile(0.025)),
        median: h(table.quantile(0.5)),
        q975: h(table.quantile(0.975)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RBesT's `AS` data set: placebo arms of eight studies in ankylosing spondylitis (Baeten
    /// et al. 2013), as listed in RBesT's vignette "Getting started with RBesT (binary)".
    pub(crate) fn ankylosing_spondylitis() -> Vec<BinaryStudy> {
        [
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
        .collect()
    }

    #[test]
    fn gauss_hermite_is_exact_at_tau_zero_and_matches_a_fine_rule() {
        let at_zero = ln_study_likelihood(9.0, 39.0, -1.2, 0.0);
        let direct = 9.0 * ln_expit(-1.2) + 30.0 * ln_expit(1.2);
        assert!((at_zero - direct).abs() < 1e-13);
        // A fine midpoint rule in θ for τ = 0.7.
        let (mu, tau) = (-1.0, 0.7);
        let mut sum = 0.0;
        let h = 1e-4;
        for i in 0..200_000 {
            let theta = -10.0 + (i as f64 + 0.5) * h;
            let ll = 9.0 * ln_expit(theta) + 30.0 * ln_expit(-theta);
            sum += h * (ll + ln_normal_density(theta, mu, tau)).exp();
        }
        let got = ln_study_likelihood(9.0, 39.0, mu, tau);
        assert!((got - sum.ln()).abs() < 1e-9, "{got} vs {}", sum.ln());
    }

    #[test]
    fn as_predictive_is_normalised_and_near_rbest() -> Result<(), StatsError> {
        let map = MapPredictive::binary(
            &ankylosing_spondylitis(),
            HierarchicalPriors::BINARY_DEFAULT,
        )?;
        let groups: Vec<(f64, f64, f64)> = ankylosing_spondylitis()
            .iter()
            .map(|s| (s.responders as f64, s.n as f64, 1.0))
            .collect();
        for tau in [0.01, 0.5, 2.0, 7.9] {
            let (_, ln_mass, c, sd) =
                binary_conditional(&groups, &HierarchicalPriors::BINARY_DEFAULT, tau);
            eprintln!("tau {tau} ln_mass {ln_mass} centre {c} sd {sd}");
        }
        eprintln!(
            "tau {:?} theta range {:?} tau total {}",
            map.tau(),
            map.theta.range(),
            map.tau.total()
        );
        assert!((map.mass() - 1.0).abs() < 1e-8, "{}", map.mass());
        let s = map.summary();
        // RBesT's MCMC summary: mean 0.255, sd 0.0864 (see tests/map_reference for the exact values).
        eprintln!("{s:?}");
        assert!((s.mean - 0.255).abs() < 0.005, "{s:?}");
        assert!((s.sd - 0.0864).abs() < 0.005, "{s:?}");
        Ok(())
    }

    #[test]
    fn normal_predictive_with_tiny_tau_prior_is_the_pooled_posterior() -> Result<(), StatsError> {
        let studies = [
            NormalStudy { mean: 1.0, se: 0.5 },
            NormalStudy { mean: 2.0, se: 0.5 },
        ];
        let priors = HierarchicalPriors {
            mu_mean: 0.0,
            mu_sd: 100.0,
            tau_scale: 1e-6,
        };
        let s = MapPredictive::normal(&studies, priors)?.summary();
        assert!((s.mean - 12.0 / 8.0001).abs() < 1e-9, "{s:?}");
        assert!((s.sd - (1.0f64 / 8.0001).sqrt()).abs() < 1e-9, "{s:?}");
        Ok(())
    }
}
