//! n-of-1 numerics: one patient's treatment effects, and the hierarchical model that pools a
//! series of n-of-1 trials.
//!
//! [`analyse_patient`] gives the posterior of every contrast "treatment k minus treatment 0" from
//! one patient's measurements, with independent errors (exact Student-t) or with AR(1) errors in
//! study time (the autocorrelation integrated out by deterministic quadrature, so the posterior is
//! a finite mixture of Student-t's). [`pool_series`] combines the patients' effect estimates in
//! the normal-normal hierarchical model with a half-Cauchy prior on the between-patient SD, by
//! deterministic quadrature over that SD, and also reports the empirical-Bayes fit.
//!
//! Numerics only: nothing here knows protocols, schedules, periods, files or the engine; callers
//! pass measurements already selected (washout days left out, for example). Every formula is in
//! `METHODS.md`, "n-of-1 analysis". Nothing here draws random numbers.

use argmin::core::{CostFunction, Executor, State, TerminationReason};
use argmin::solver::brent::BrentOpt;
use serde::{Deserialize, Serialize};
use statrs::function::erf::erfc;
use statrs::function::gamma::ln_gamma;

use super::{Better, NigPrior, StatsError};

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// One measurement of an n-of-1 trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nof1Observation {
    /// The treatment given, as a 0-based index (effects are contrasts against treatment 0).
    pub treatment: usize,
    /// The study day, counted from 1; only differences between days matter (AR(1) time gaps).
    pub day: u32,
    /// The measured outcome.
    pub value: f64,
}

/// The prior of a patient's treatment means μ₁ … μ_K and the shared error variance σ².
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "prior", rename_all = "snake_case")]
pub enum Nof1Prior {
    /// The reference prior p(μ₁, …, μ_K, σ) ∝ 1/σ. Needs every treatment observed and more
    /// observations than treatments.
    Flat,
    /// Each μₖ | σ² ~ N(mu0, σ²/kappa0) independently, σ² ~ Inverse-Gamma(alpha0, beta0).
    NormalInverseGamma(NigPrior),
}

/// What to compute for one patient.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EffectOptions {
    /// The minimal clinically important difference, ≥ 0, on the outcome's scale.
    pub mcid: f64,
    /// Which direction of the outcome is better for the patient.
    pub better: Better,
    /// Model the errors as AR(1) in study time instead of independent.
    pub ar1: bool,
}

/// One location-scale Student-t component of an effect posterior.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TComponent {
    /// Mixture weight (the weights of a posterior sum to 1).
    pub weight: f64,
    /// Degrees of freedom.
    pub df: f64,
    /// Location (centre of symmetry).
    pub loc: f64,
    /// Scale.
    pub scale: f64,
}

/// The posterior of one contrast μₖ − μ₀ for one patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectPosterior {
    /// The treatment k of the contrast "treatment k minus treatment 0".
    pub treatment: usize,
    /// Posterior mean. When it does not exist (some component with df ≤ 1) this is the centre
    /// of symmetry Σ weight·loc, which is the mean whenever the mean exists.
    pub mean: f64,
    /// Posterior SD; `f64::INFINITY` when some component has df ≤ 2.
    pub sd: f64,
    /// Equal-tailed 95% credible interval (2.5% and 97.5% quantiles).
    pub ci95: (f64, f64),
    /// P(effect > 0).
    pub p_positive: f64,
    /// P(effect > mcid) when higher is better, P(effect < −mcid) when lower is better.
    pub p_beyond_mcid: f64,
    /// P(|effect| < mcid); 0 when mcid = 0.
    pub p_within_mcid: f64,
    /// Posterior mean of the AR(1) coefficient ρ (only with AR(1) errors).
    pub rho: Option<f64>,
    /// Observations per treatment (index = treatment).
    pub n: Vec<u32>,
    /// The posterior as a mixture of Student-t's: one component with independent errors, one per
    /// quadrature node of ρ (negligible ones dropped) with AR(1) errors.
    pub components: Vec<TComponent>,
}

/// One patient's effect, summarised for pooling (a normal approximation of its posterior).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatientEffect {
    /// Posterior mean of the patient's effect.
    pub mean: f64,
    /// Posterior SD of the patient's effect, finite and > 0.
    pub sd: f64,
}

/// What to compute for a series of n-of-1 trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeriesOptions {
    /// The minimal clinically important difference, ≥ 0.
    pub mcid: f64,
    /// Which direction of the outcome is better.
    pub better: Better,
    /// Scale of the half-Cauchy(0, tau_scale) prior on the between-patient SD τ, > 0.
    pub tau_scale: f64,
}

/// The posterior of the population mean effect μ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PopulationEffect {
    /// Posterior mean (with one patient, where the mean does not exist, the centre of symmetry).
    pub mean: f64,
    /// Posterior SD; `f64::INFINITY` with fewer than 3 patients (the half-Cauchy tail of τ).
    pub sd: f64,
    /// Equal-tailed 95% credible interval.
    pub ci95: (f64, f64),
    /// P(μ > 0).
    pub p_positive: f64,
    /// P(μ > mcid) when higher is better, P(μ < −mcid) when lower is better.
    pub p_beyond_mcid: f64,
}

/// The posterior of the between-patient SD τ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TauSummary {
    /// Posterior mean; `f64::INFINITY` with one patient (the posterior is then the prior).
    pub mean: f64,
    /// Posterior median.
    pub median: f64,
    /// Equal-tailed 95% credible interval.
    pub ci95: (f64, f64),
}

/// The posterior of one patient's true effect θᵢ in the hierarchical model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShrunkenEffect {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior SD.
    pub sd: f64,
    /// Equal-tailed 95% credible interval.
    pub ci95: (f64, f64),
    /// P(θᵢ > 0).
    pub p_positive: f64,
    /// P(θᵢ > mcid) when higher is better, P(θᵢ < −mcid) when lower is better.
    pub p_beyond_mcid: f64,
}

/// The empirical-Bayes fit: τ maximising the restricted likelihood (μ integrated out under its
/// flat prior), found with Brent's method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EmpiricalBayes {
    /// μ̂(τ̂), the precision-weighted mean of the patients' effects.
    pub mu_hat: f64,
    /// √V_μ(τ̂), the SD of μ given τ = τ̂.
    pub mu_sd: f64,
    /// τ̂; 0 when the maximum is on the boundary (no heterogeneity beyond the patients' own
    /// uncertainty) or with a single patient.
    pub tau_hat: f64,
    /// The restricted log-likelihood at τ̂, constants included (METHODS.md).
    pub log_likelihood: f64,
    /// Brent iterations.
    pub iterations: u64,
    /// Whether the search converged. False with one patient, whose restricted likelihood does
    /// not depend on τ.
    pub converged: bool,
    /// Whether τ̂ = 0 is a boundary maximum.
    pub at_boundary: bool,
}

/// The hierarchical model's posterior for a series of n-of-1 trials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPosterior {
    /// The population mean effect μ.
    pub population: PopulationEffect,
    /// The between-patient SD τ.
    pub tau: TauSummary,
    /// Each patient's effect θᵢ, in the order given.
    pub shrunken: Vec<ShrunkenEffect>,
    /// The empirical-Bayes fit, for comparison.
    pub empirical_bayes: EmpiricalBayes,
}

// ---------------------------------------------------------------------------------------------
// Quadrature rule, special functions and mixtures
// ---------------------------------------------------------------------------------------------

/// Gauss–Legendre nodes on [−1, 1] (8 points).
const GL_NODES: [f64; 8] = [
    -0.960_289_856_497_536_2,
    -0.796_666_477_413_626_7,
    -0.525_532_409_916_329,
    -0.183_434_642_495_649_78,
    0.183_434_642_495_649_78,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_2,
];
/// Gauss–Legendre weights matching [`GL_NODES`].
const GL_WEIGHTS: [f64; 8] = [
    0.101_228_536_290_377_06,
    0.222_381_034_453_374_43,
    0.313_706_645_877_886_9,
    0.362_683_783_378_361_66,
    0.362_683_783_378_361_66,
    0.313_706_645_877_886_9,
    0.222_381_034_453_374_43,
    0.101_228_536_290_377_06,
];

/// Uniform panels over the whole quadrature domain (before grading and refinement).
const BASE_PANELS: usize = 32;
/// Geometric halvings of the two end panels of τ's grid, which resolve a half-Cauchy scale far
/// from the data's (τ from about 10⁻⁷ to 10⁷ times the scale).
const TAU_END_GRADING: usize = 20;
/// Geometric halvings of the two end panels of ρ's grid (down to 1 − |ρ| ≈ 10⁻¹⁰), which
/// resolve the vague prior's feature at 1 − ρ ≈ κ₀.
const RHO_END_GRADING: usize = 12;
/// The smallest components are dropped while their weights add up to at most this.
const NEGLIGIBLE_MASS: f64 = 1e-13;
/// A posterior SD (on the quadrature scale) below this many base panel widths triggers a finer
/// window of panels around the posterior mass.
const REFINE_BELOW: f64 = 1.5;
/// Half-width of the refined window, in posterior SDs.
const WINDOW_SDS: f64 = 10.0;
/// Panels per posterior SD inside the refined window.
const PANELS_PER_SD: f64 = 1.0;

/// Panel edges over (lo, hi): `BASE_PANELS` equal panels, the two end panels halved `grading`
/// times towards the ends.
fn base_edges(lo: f64, hi: f64, grading: usize) -> Vec<f64> {
    let h = (hi - lo) / BASE_PANELS as f64;
    let mut edges = Vec::with_capacity(BASE_PANELS + 2 * grading + 1);
    for i in 0..=BASE_PANELS {
        edges.push(lo + h * i as f64);
    }
    let mut step = h;
    for _ in 0..grading {
        step *= 0.5;
        edges.push(lo + step);
        edges.push(hi - step);
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    edges
}

/// Adds a window of panels `PANELS_PER_SD` per SD over centre ± `WINDOW_SDS` SDs, clipped to
/// (lo, hi), to `edges`; returns whether anything was added.
fn refine_edges(edges: &mut Vec<f64>, lo: f64, hi: f64, centre: f64, sd: f64) -> bool {
    let h = (hi - lo) / BASE_PANELS as f64;
    if !(sd.is_finite() && sd > 0.0 && sd < REFINE_BELOW * h) {
        return false;
    }
    let width = sd / PANELS_PER_SD;
    let from = (centre - WINDOW_SDS * sd).max(lo);
    let to = (centre + WINDOW_SDS * sd).min(hi);
    let count = ((to - from) / width).ceil() as usize;
    for i in 0..=count {
        let x = from + width * i as f64;
        if x > lo && x < hi {
            edges.push(x);
        }
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    true
}

/// `f(node, weight)` at every Gauss–Legendre node of every panel of `edges`, 8 results per
/// panel in order; a panel that an earlier pass over `old_edges` also had is copied from its
/// results `old` instead of evaluated again.
fn evaluate_panels<T: Copy>(
    edges: &[f64],
    old_edges: &[f64],
    old: &[T],
    mut f: impl FnMut(f64, f64) -> Result<T, StatsError>,
) -> Result<Vec<T>, StatsError> {
    let per = GL_NODES.len();
    let mut out = Vec::with_capacity(per * edges.len());
    for pair in edges.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let reuse = old_edges
            .binary_search_by(|e| e.total_cmp(&a))
            .ok()
            .filter(|&i| old_edges.get(i + 1) == Some(&b) && old.len() >= per * (i + 1));
        if let Some(i) = reuse {
            out.extend_from_slice(&old[per * i..per * (i + 1)]);
            continue;
        }
        let half = 0.5 * (b - a);
        let mid = 0.5 * (a + b);
        for (x, w) in GL_NODES.iter().zip(GL_WEIGHTS) {
            out.push(f(mid + half * x, half * w)?);
        }
    }
    Ok(out)
}

/// Standard normal CDF.
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal density.
fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Continued fraction of the regularised incomplete beta function (modified Lentz), for
/// x < (a + 1)/(a + b + 2); `y` = 1 − x, passed separately for accuracy.
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const MAX_TERMS: usize = 20_000;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=MAX_TERMS {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b), with y = 1 − x given separately so that
/// neither loses precision near 0 or 1, and ln B(a, b) given by the caller.
/// [Press et al., *Numerical Recipes*, 3rd ed., 2007, §6.4]
fn incomplete_beta(a: f64, b: f64, ln_beta: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    // The logarithm of whichever of x, y is near 1 comes from the other one, with ln(1 + ·).
    let ln_x = if x > 0.5 { (-y).ln_1p() } else { x.ln() };
    let ln_y = if y > 0.5 { (-x).ln_1p() } else { y.ln() };
    let ln_front = a * ln_x + b * ln_y - ln_beta;
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_continued_fraction(b, a, y) / b
    }
}

/// ln Γ(a + ½) − ln Γ(a), without the cancellation of two large ln Γ values when a is large
/// (Stirling's series: the difference of (z − ½) ln z − z + Σ B₂ₖ/(2k(2k−1)z^(2k−1)) at a + ½
/// and a, rearranged so that no large terms cancel).
fn ln_gamma_half_ratio(a: f64) -> f64 {
    if a < 20.0 {
        return ln_gamma(a + 0.5) - ln_gamma(a);
    }
    let series = |z: f64| {
        let z2 = z * z;
        (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * z2)) / z2) / z2) / z
    };
    // (a) ln(a + ½) − (a − ½) ln a − ½ = a·ln(1 + 1/(2a)) − ½ + ½ ln a.
    let main = (a * (0.5 / a).ln_1p() - 0.5) + 0.5 * a.ln();
    main + series(a + 0.5) - series(a)
}

/// ln B(ν/2, ½) = ln Γ(ν/2) + ln Γ(½) − ln Γ(ν/2 + ½).
fn ln_beta_t(df: f64) -> f64 {
    0.5 * std::f64::consts::PI.ln() - ln_gamma_half_ratio(0.5 * df)
}

/// CDF of the standard Student-t with `df` degrees of freedom.
#[cfg(test)]
fn t_cdf(df: f64, z: f64) -> f64 {
    t_cdf_with(df, ln_beta_t(df), z)
}

/// [`t_cdf`] with ln B(df/2, ½) computed by the caller.
fn t_cdf_with(df: f64, ln_beta: f64, z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z.is_infinite() {
        return if z > 0.0 { 1.0 } else { 0.0 };
    }
    if z == 0.0 {
        return 0.5;
    }
    let z2 = z * z;
    let (x, y) = (z2 / (df + z2), df / (df + z2));
    // P(|T| > |z|) = I_y(df/2, 1/2) = 1 − I_x(1/2, df/2).
    let two_tails = if x < 0.5 {
        1.0 - incomplete_beta(0.5, 0.5 * df, ln_beta, x, y)
    } else {
        incomplete_beta(0.5 * df, 0.5, ln_beta, y, x)
    };
    if z < 0.0 {
        0.5 * two_tails
    } else {
        1.0 - 0.5 * two_tails
    }
}

/// ln of the Student-t density's normalising constant Γ((ν+1)/2) / (Γ(ν/2) √(νπ)).
fn t_ln_norm(df: f64) -> f64 {
    ln_gamma_half_ratio(0.5 * df) - 0.5 * (df * std::f64::consts::PI).ln()
}

/// A one-dimensional distribution whose quantiles are found numerically.
trait Continuous {
    /// P(X ≤ x).
    fn cdf(&self, x: f64) -> f64;
    /// The density at x.
    fn density(&self, x: f64) -> f64;
}

/// The p-quantile of `dist`, starting from `guess`: a bracket is stepped out from it (the step
/// doubling each time), then Newton steps safeguarded by bisection converge on the quantile.
fn quantile(dist: &impl Continuous, p: f64, guess: f64, step: f64) -> f64 {
    let mut step = if step.is_finite() && step > 0.0 {
        step
    } else {
        1.0
    };
    let (mut lo, mut hi) = (guess, guess);
    if dist.cdf(guess) > p {
        for _ in 0..2000 {
            hi = lo;
            lo = hi - step;
            if dist.cdf(lo) <= p {
                break;
            }
            step *= 2.0;
        }
    } else {
        for _ in 0..2000 {
            lo = hi;
            hi = lo + step;
            if dist.cdf(hi) >= p {
                break;
            }
            step *= 2.0;
        }
    }
    solve_monotone(|x| dist.cdf(x) - p, |x| dist.density(x), lo, hi)
}

/// The equal-tailed 95% interval, from a normal-approximation guess.
fn interval95(dist: &impl Continuous, mean: f64, sd: f64, spread: f64) -> (f64, f64) {
    const Z: f64 = 1.959_963_984_540_054;
    let (half, step) = if sd.is_finite() && sd > 0.0 {
        (Z * sd, 0.25 * sd)
    } else {
        (2.0 * spread, spread)
    };
    (
        quantile(dist, 0.025, mean - half, step),
        quantile(dist, 0.975, mean + half, step),
    )
}

/// The root of the increasing function `f` (derivative `df`) in [lo, hi], f(lo) ≤ 0 ≤ f(hi):
/// Newton's method, falling back to bisection whenever a step leaves the bracket.
fn solve_monotone(f: impl Fn(f64) -> f64, df: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    let (mut lo, mut hi) = (lo, hi);
    let mut x = 0.5 * (lo + hi);
    for _ in 0..300 {
        let fx = f(x);
        if fx == 0.0 {
            return x;
        }
        if fx > 0.0 {
            hi = x;
        } else {
            lo = x;
        }
        if hi - lo <= 4.0 * f64::EPSILON * lo.abs().max(hi.abs()) {
            return 0.5 * (lo + hi);
        }
        let slope = df(x);
        let newton = x - fx / slope;
        let next = if slope > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= 1e-15 * (x.abs() + (hi - lo)) + f64::MIN_POSITIVE {
            return next;
        }
        x = next;
    }
    x
}

/// A mixture of location-scale Student-t's.
struct TMixture<'a> {
    components: &'a [TComponent],
    /// ln of each component's density constant, and ln B(df/2, ½).
    constants: Vec<(f64, f64)>,
}

impl<'a> TMixture<'a> {
    fn new(components: &'a [TComponent]) -> Self {
        let constants = components
            .iter()
            .map(|c| (t_ln_norm(c.df), ln_beta_t(c.df)))
            .collect();
        Self {
            components,
            constants,
        }
    }

    /// P(X > x), by the symmetry of each component (no cancellation in the upper tail).
    fn sf(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, k)| c.weight * t_cdf_with(c.df, k.1, (c.loc - x) / c.scale))
            .sum()
    }
}

impl Continuous for TMixture<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, k)| c.weight * t_cdf_with(c.df, k.1, (x - c.loc) / c.scale))
            .sum()
    }

    fn density(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, &(ln_norm, _))| {
                let z = (x - c.loc) / c.scale;
                c.weight / c.scale * (ln_norm - 0.5 * (c.df + 1.0) * (z * z / c.df).ln_1p()).exp()
            })
            .sum()
    }
}

/// A mixture of normals: (weight, mean, SD) triples.
struct NormalMixture<'a>(&'a [(f64, f64, f64)]);

impl NormalMixture<'_> {
    fn sf(&self, x: f64) -> f64 {
        self.0
            .iter()
            .map(|&(w, m, s)| w * normal_cdf((m - x) / s))
            .sum()
    }
}

impl Continuous for NormalMixture<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.0
            .iter()
            .map(|&(w, m, s)| w * normal_cdf((x - m) / s))
            .sum()
    }

    fn density(&self, x: f64) -> f64 {
        self.0
            .iter()
            .map(|&(w, m, s)| w / s * normal_pdf((x - m) / s))
            .sum()
    }
}

/// Probabilities of a posterior relative to 0 and the MCID.
fn probabilities(
    cdf: impl Fn(f64) -> f64,
    sf: impl Fn(f64) -> f64,
    mcid: f64,
    better: Better,
) -> (f64, f64, f64) {
    let clamp = |p: f64| p.clamp(0.0, 1.0);
    let p_positive = clamp(sf(0.0));
    let p_beyond = clamp(match better {
        Better::Higher => sf(mcid),
        Better::Lower => cdf(-mcid),
    });
    let p_within = if mcid > 0.0 {
        clamp(cdf(mcid) - cdf(-mcid))
    } else {
        0.0
    };
    (p_positive, p_beyond, p_within)
}

fn finite_mcid(mcid: f64) -> Result<(), StatsError> {
    if mcid.is_finite() && mcid >= 0.0 {
        Ok(())
    } else {
        Err(StatsError::Delta { value: mcid })
    }
}

fn positive(name: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(StatsError::Parameter { name, value })
    }
}

// ---------------------------------------------------------------------------------------------
// One patient
// ---------------------------------------------------------------------------------------------

/// The prior on the centred scale (the data's mean subtracted from the values and from mu0).
#[derive(Debug, Clone, Copy)]
enum CentredPrior {
    Flat,
    Nig {
        mu0: f64,
        kappa0: f64,
        alpha0: f64,
        beta0: f64,
    },
}

/// One transformed regression row in the basis β = (μ₀, μ₁ − μ₀, …, μ_{K−1} − μ₀):
/// ỹ = c0·β₀ + c1·β_{t1} + c2·β_{t2} + error; an index 0 in `t1` or `t2` means "unused".
#[derive(Debug, Clone, Copy)]
struct Row {
    c0: f64,
    t1: usize,
    c1: f64,
    t2: usize,
    c2: f64,
    y: f64,
}

/// The regression for one value of ρ: posterior quantities and the log marginal likelihood up
/// to a constant that does not depend on ρ.
#[derive(Debug, Clone, Copy)]
struct Conditional {
    log_weight: f64,
    a_n: f64,
    b_n: f64,
}

/// The K-treatment regression, solved by Givens rotations (a QR factorisation updated row by
/// row), with buffers reused across values of ρ. The coefficients are β = (μ₀, μ₁ − μ₀, …): the
/// level and the contrasts. Orthogonal rotations keep the small singular values (the level
/// when ρ is near 1, a contrast when ρ is near −1 and the treatments alternate daily) accurate
/// where normal equations would lose them to cancellation.
struct Regression {
    k: usize,
    rows: Vec<Row>,
    /// Upper-triangular R, row-major k × k.
    r: Vec<f64>,
    /// Qᵀy.
    qty: Vec<f64>,
    /// Squared column norms of the (augmented) design, for the rank check.
    column_norms: Vec<f64>,
    mean: Vec<f64>,
    x: Vec<f64>,
    work: Vec<f64>,
}

/// A column of R smaller than this fraction of the design's column norm counts as rank
/// deficient (its value would be rounding error).
const RANK_TOLERANCE: f64 = 1e-13;

/// Σ_{j<g} rʲ = (1 − r^g)/(1 − r) for r = ρ², with 1 − r = `one_minus_r` passed separately
/// (it is cos²θ, exact where ρ = sin θ rounds to ±1).
fn geometric_sum(r: f64, one_minus_r: f64, g: u32) -> f64 {
    if g <= 1 {
        return 1.0;
    }
    if one_minus_r <= 0.0 {
        return f64::from(g);
    }
    if r < 0.5 {
        (1.0 - r.powi(power(g))) / one_minus_r
    } else {
        -(f64::from(g) * (-one_minus_r).ln_1p()).exp_m1() / one_minus_r
    }
}

/// A day gap as an exponent (gaps beyond i32 are far past any correlation).
fn power(g: u32) -> i32 {
    i32::try_from(g).unwrap_or(i32::MAX)
}

/// (ρ^g, 1 − ρ^g) with 1 − ρ^g accurate near ρ = 1; `root` = √(1 − ρ²).
fn ar_power(rho: f64, root: f64, g: u32) -> (f64, f64) {
    let abs = rho.abs();
    if abs < 0.5 {
        let phi = rho.powi(power(g));
        return (phi, 1.0 - phi);
    }
    // ln|ρ| = ln(1 − (1 − |ρ|)), 1 − |ρ| = (1 − ρ²)/(1 + |ρ|).
    let ln_abs = (-(root * root) / (1.0 + abs)).ln_1p();
    let magnitude_complement = -(f64::from(g) * ln_abs).exp_m1();
    let magnitude = 1.0 - magnitude_complement;
    if rho < 0.0 && g % 2 == 1 {
        (-magnitude, 1.0 + magnitude)
    } else {
        (magnitude, magnitude_complement)
    }
}

/// What a day gap g contributes to the transformed rows at one ρ.
#[derive(Debug, Clone, Copy, Default)]
struct GapValues {
    /// ρ^g.
    phi: f64,
    /// 1 − ρ^g, accurate near ρ = 1.
    one_minus_phi: f64,
    /// w = 1/√c_g.
    w: f64,
    /// ln w.
    ln_w: f64,
}

/// The distinct day gaps of a patient's sorted data, each measurement's gap, and their values
/// at the current ρ (computed once per ρ, not once per row).
struct Gaps {
    distinct: Vec<u32>,
    /// For measurement t ≥ 1, the position of dₜ − d_{t−1} in `distinct` (0 for t = 0).
    index: Vec<usize>,
    values: Vec<GapValues>,
}

impl Gaps {
    fn new(data: &[(usize, u32, f64)]) -> Self {
        let gap = |i: usize| data[i].1 - data[i - 1].1;
        let mut distinct: Vec<u32> = (1..data.len()).map(gap).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let index = (0..data.len())
            .map(|i| {
                if i == 0 {
                    0
                } else {
                    distinct.binary_search(&gap(i)).unwrap_or(0)
                }
            })
            .collect();
        let values = vec![GapValues::default(); distinct.len()];
        Self {
            distinct,
            index,
            values,
        }
    }

    fn fill(&mut self, rho: f64, root: f64) {
        let (r, one_minus_r) = (rho * rho, root * root);
        for (value, &g) in self.values.iter_mut().zip(&self.distinct) {
            let (phi, one_minus_phi) = ar_power(rho, root, g);
            let c = geometric_sum(r, one_minus_r, g);
            *value = GapValues {
                phi,
                one_minus_phi,
                w: 1.0 / c.sqrt(),
                ln_w: -0.5 * c.ln(),
            };
        }
    }
}

impl Regression {
    fn new(k: usize, n: usize) -> Self {
        Self {
            k,
            rows: Vec::with_capacity(n),
            r: vec![0.0; k * k],
            qty: vec![0.0; k],
            column_norms: vec![0.0; k],
            mean: vec![0.0; k],
            x: vec![0.0; k],
            work: vec![0.0; k],
        }
    }

    /// Builds the rows of the data as they are (independent errors).
    fn build_rows(&mut self, data: &[(usize, u32, f64)]) {
        self.rows.clear();
        self.rows.extend(data.iter().map(|&(t, _, y)| Row {
            c0: 1.0,
            t1: t,
            c1: 1.0,
            t2: 0,
            c2: 0.0,
            y,
        }));
    }

    /// Builds the Prais–Winsten rows for AR(1) errors with ρ = sin θ (√(1 − ρ²) = cos θ, exact
    /// near the ends); `data` are (treatment, day, centred value) sorted by day, `gaps` their
    /// day gaps. Returns Σ ln wₜ, the log Jacobian of the transformation.
    fn build_ar_rows(&mut self, data: &[(usize, u32, f64)], gaps: &mut Gaps, theta: f64) -> f64 {
        self.rows.clear();
        let (rho, root) = (theta.sin(), theta.cos());
        gaps.fill(rho, root);
        let mut log_jacobian = 0.0;
        for (index, &(t, _, y)) in data.iter().enumerate() {
            if index == 0 {
                self.rows.push(Row {
                    c0: root,
                    t1: t,
                    c1: root,
                    t2: 0,
                    c2: 0.0,
                    y: root * y,
                });
                log_jacobian += root.ln();
                continue;
            }
            let (prev_t, _, prev_y) = data[index - 1];
            let GapValues {
                phi,
                one_minus_phi,
                w,
                ln_w,
            } = gaps.values[gaps.index[index]];
            log_jacobian += ln_w;
            let row = if prev_t == t {
                Row {
                    c0: w * one_minus_phi,
                    t1: t,
                    c1: w * one_minus_phi,
                    t2: 0,
                    c2: 0.0,
                    y: w * (y - phi * prev_y),
                }
            } else {
                Row {
                    c0: w * one_minus_phi,
                    t1: t,
                    c1: w,
                    t2: prev_t,
                    c2: -w * phi,
                    y: w * (y - phi * prev_y),
                }
            };
            self.rows.push(row);
        }
        log_jacobian
    }

    /// Rotates the row (`self.x`, y) into R and Qᵀy; returns the part of y left over (its
    /// square adds to the residual sum of squares).
    fn rotate_in(&mut self, y: f64) -> f64 {
        let k = self.k;
        let mut y = y;
        for j in 0..k {
            self.column_norms[j] += self.x[j] * self.x[j];
        }
        for j in 0..k {
            let xj = self.x[j];
            if xj == 0.0 {
                continue;
            }
            let rjj = self.r[j * k + j];
            let h = (rjj * rjj + xj * xj).sqrt();
            let (c, s) = (rjj / h, xj / h);
            self.r[j * k + j] = h;
            for l in (j + 1)..k {
                let (a, b) = (self.r[j * k + l], self.x[l]);
                self.r[j * k + l] = c * a + s * b;
                self.x[l] = c * b - s * a;
            }
            let a = self.qty[j];
            self.qty[j] = c * a + s * y;
            y = c * y - s * a;
        }
        y
    }

    /// The conjugate regression on the current rows; `None` when the design is rank deficient
    /// (to rounding).
    fn fit(
        &mut self,
        prior: CentredPrior,
        log_jacobian: f64,
    ) -> Result<Option<Conditional>, StatsError> {
        let k = self.k;
        self.r.iter_mut().for_each(|v| *v = 0.0);
        self.qty.iter_mut().for_each(|v| *v = 0.0);
        self.column_norms.iter_mut().for_each(|v| *v = 0.0);
        let mut rss = 0.0;
        for index in 0..self.rows.len() {
            let row = self.rows[index];
            self.x.iter_mut().for_each(|v| *v = 0.0);
            self.x[0] = row.c0;
            if row.t1 > 0 {
                self.x[row.t1] += row.c1;
            }
            if row.t2 > 0 {
                self.x[row.t2] += row.c2;
            }
            let rest = self.rotate_in(row.y);
            rss += rest * rest;
        }
        if let CentredPrior::Nig { mu0, kappa0, .. } = prior {
            // μₜ ~ N(mu0, σ²/κ₀) as K pseudo-rows √κ₀·μₜ = √κ₀·mu0, μ₀ = β₀, μₜ = β₀ + βₜ;
            // their residuals add the prior's penalty κ₀ Σ (μₜ − mu0)² to the sum of squares.
            let root = kappa0.sqrt();
            for t in 0..k {
                self.x.iter_mut().for_each(|v| *v = 0.0);
                self.x[0] = root;
                if t > 0 {
                    self.x[t] = root;
                }
                let rest = self.rotate_in(root * mu0);
                rss += rest * rest;
            }
        }
        let mut log_det = 0.0;
        for j in 0..k {
            let rjj = self.r[j * k + j];
            if !(rjj > RANK_TOLERANCE * self.column_norms[j].sqrt() && rjj.is_finite()) {
                return Ok(None);
            }
            log_det += 2.0 * rjj.ln();
        }
        // Back-substitution R β = Qᵀy.
        for i in (0..k).rev() {
            let mut v = self.qty[i];
            for m in (i + 1)..k {
                v -= self.r[i * k + m] * self.mean[m];
            }
            self.mean[i] = v / self.r[i * k + i];
        }
        let n = self.rows.len() as f64;
        let (a_n, b_n) = match prior {
            CentredPrior::Flat => (0.5 * (n - k as f64), 0.5 * rss),
            CentredPrior::Nig { alpha0, beta0, .. } => (alpha0 + 0.5 * n, beta0 + 0.5 * rss),
        };
        if !(b_n > 0.0 && b_n.is_finite()) {
            return Err(StatsError::Observation(
                "the measurements equal their treatment means exactly: no residual variation",
            ));
        }
        Ok(Some(Conditional {
            log_weight: log_jacobian - 0.5 * log_det - a_n * b_n.ln(),
            a_n,
            b_n,
        }))
    }

    /// The contrast μₜ − μ₀ = βₜ: its location and (RᵀR)⁻¹ₜₜ = ‖R⁻ᵀeₜ‖².
    fn contrast(&mut self, t: usize) -> (f64, f64) {
        let k = self.k;
        let mut total = 0.0;
        for i in 0..k {
            let mut v = f64::from(u8::from(i == t));
            for m in 0..i {
                v -= self.r[m * k + i] * self.work[m];
            }
            self.work[i] = v / self.r[i * k + i];
            total += self.work[i] * self.work[i];
        }
        (self.mean[t], total)
    }
}

const SINGULAR: StatsError =
    StatsError::Observation("the treatments cannot be separated by these data (singular design)");

/// The conditional posterior at one node: its log weight and each contrast's (loc, scale).
#[derive(Debug, Clone, Copy)]
struct Node {
    log_weight: f64,
    theta: f64,
    rho: f64,
    df: f64,
    first: usize,
}

fn validate_prior(prior: &Nof1Prior) -> Result<(), StatsError> {
    if let Nof1Prior::NormalInverseGamma(p) = prior {
        if !p.mu0.is_finite() {
            return Err(StatsError::Parameter {
                name: "mu0",
                value: p.mu0,
            });
        }
        positive("kappa0", p.kappa0)?;
        positive("alpha0", p.alpha0)?;
        positive("beta0", p.beta0)?;
    }
    Ok(())
}

/// The posterior of every contrast "treatment k minus treatment 0", k = 1 … K−1, from one
/// patient's measurements.
///
/// Independent errors give a Student-t posterior for each contrast (exact; it does not depend on
/// the order of `obs`). With `opts.ar1`, the errors follow a stationary AR(1) process in study
/// days (a gap of g days multiplies the correlation by ρ^g), the likelihood is the exact one
/// (the first observation from the stationary distribution), ρ ~ Uniform(−1, 1), and ρ is
/// integrated out by Gauss–Legendre quadrature on ρ = sin θ; `obs` are then sorted by day, and
/// two observations on the same day are an error (average them first).
///
/// Errors: fewer than 2 treatments, a treatment index ≥ `treatments`, a day of 0, a non-finite
/// value, an invalid prior or MCID; with the flat prior also a treatment without observations,
/// no more observations than treatments, or no residual variation.
pub fn analyse_patient(
    obs: &[Nof1Observation],
    treatments: usize,
    prior: &Nof1Prior,
    opts: &EffectOptions,
) -> Result<Vec<EffectPosterior>, StatsError> {
    if treatments < 2 {
        return Err(StatsError::Treatments { got: treatments });
    }
    finite_mcid(opts.mcid)?;
    validate_prior(prior)?;
    let mut counts = vec![0_u32; treatments];
    for o in obs {
        if o.treatment >= treatments {
            return Err(StatsError::TreatmentIndex {
                index: o.treatment,
                treatments,
            });
        }
        if !o.value.is_finite() {
            return Err(StatsError::Observation("a measurement must be finite"));
        }
        if o.day == 0 {
            return Err(StatsError::Observation("study days count from 1"));
        }
        counts[o.treatment] += 1;
    }
    if let Nof1Prior::Flat = prior {
        if let Some(t) = counts.iter().position(|&c| c == 0) {
            return Err(StatsError::Unobserved { treatment: t });
        }
        if obs.len() <= treatments {
            return Err(StatsError::TooFewObservations {
                got: obs.len(),
                needed: treatments + 1,
            });
        }
    }
    // Centre the values: the model is invariant under a common shift of the values and mu0.
    let centre = if obs.is_empty() {
        0.0
    } else {
        obs.iter().map(|o| o.value).sum::<f64>() / obs.len() as f64
    };
    let centred = match *prior {
        Nof1Prior::Flat => CentredPrior::Flat,
        Nof1Prior::NormalInverseGamma(p) => CentredPrior::Nig {
            mu0: p.mu0 - centre,
            kappa0: p.kappa0,
            alpha0: p.alpha0,
            beta0: p.beta0,
        },
    };
    let mut data: Vec<(usize, u32, f64)> = obs
        .iter()
        .map(|o| (o.treatment, o.day, o.value - centre))
        .collect();
    let mut regression = Regression::new(treatments, data.len());
    let contrasts = treatments - 1;

    if !opts.ar1 {
        regression.build_rows(&data);
        let fit = regression.fit(centred, 0.0)?.ok_or(SINGULAR)?;
        let mut out = Vec::with_capacity(contrasts);
        for t in 1..treatments {
            let (loc, var) = regression.contrast(t);
            let component = TComponent {
                weight: 1.0,
                df: 2.0 * fit.a_n,
                loc,
                scale: (fit.b_n / fit.a_n * var).sqrt(),
            };
            out.push(summarise_effect(t, vec![component], None, &counts, opts));
        }
        return Ok(out);
    }

    data.sort_by_key(|&(_, day, _)| day);
    if let Some(pair) = data.windows(2).find(|p| p[0].1 == p[1].1) {
        return Err(StatsError::SameDay { day: pair[0].1 });
    }
    let half_pi = std::f64::consts::FRAC_PI_2;
    let mut gaps = Gaps::new(&data);
    // Contrast locations and scales of every node, indexed by `Node::first`; never cleared, so
    // nodes copied from the first pass keep valid indices.
    let mut params: Vec<(f64, f64)> = Vec::new();
    let mut evaluate = |edges: &[f64], old_edges: &[f64], old: &[Node]| {
        evaluate_panels(edges, old_edges, old, |theta, weight| {
            let log_jacobian = regression.build_ar_rows(&data, &mut gaps, theta);
            let first = params.len();
            // A node where the design is singular to rounding (the very ends of ρ's range, for
            // some designs) carries no weight that double precision could resolve.
            let Some(fit) = regression.fit(centred, log_jacobian)? else {
                return Ok(Node {
                    log_weight: f64::NEG_INFINITY,
                    theta,
                    rho: theta.sin(),
                    df: 1.0,
                    first,
                });
            };
            for t in 1..treatments {
                let (loc, var) = regression.contrast(t);
                params.push((loc, (fit.b_n / fit.a_n * var).sqrt()));
            }
            Ok(Node {
                // dρ = cos θ dθ; the prior density of ρ is constant.
                log_weight: fit.log_weight + weight.ln() + theta.cos().ln(),
                theta,
                rho: theta.sin(),
                df: 2.0 * fit.a_n,
                first,
            })
        })
    };
    let base = base_edges(-half_pi, half_pi, RHO_END_GRADING);
    let mut nodes = evaluate(&base, &[], &[])?;
    if nodes.iter().all(|n| n.log_weight == f64::NEG_INFINITY) {
        return Err(SINGULAR);
    }
    let (centre_theta, sd_theta) = node_moments(&nodes, |n| n.theta);
    let mut edges = base.clone();
    if refine_edges(&mut edges, -half_pi, half_pi, centre_theta, sd_theta) {
        nodes = evaluate(&edges, &base, &nodes)?;
    }
    let weights = normalised_weights(&nodes);
    let rho_mean: f64 = nodes.iter().zip(&weights).map(|(n, w)| w * n.rho).sum();
    let cutoff = negligible_below(&weights);
    let mut out = Vec::with_capacity(contrasts);
    for t in 1..treatments {
        let components: Vec<TComponent> = nodes
            .iter()
            .zip(&weights)
            .filter(|(_, &w)| w >= cutoff && w > 0.0)
            .map(|(n, &w)| {
                let (loc, scale) = params[n.first + t - 1];
                TComponent {
                    weight: w,
                    df: n.df,
                    loc,
                    scale,
                }
            })
            .collect();
        let total: f64 = components.iter().map(|c| c.weight).sum();
        let components = components
            .into_iter()
            .map(|c| TComponent {
                weight: c.weight / total,
                ..c
            })
            .collect();
        out.push(summarise_effect(
            t,
            components,
            Some(rho_mean),
            &counts,
            opts,
        ));
    }
    Ok(out)
}

/// The weight below which components are dropped: the smallest weights, adding up to at most
/// [`NEGLIGIBLE_MASS`].
fn negligible_below(weights: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = weights.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut dropped = 0.0;
    for &w in &sorted {
        if dropped + w > NEGLIGIBLE_MASS {
            return w;
        }
        dropped += w;
    }
    f64::INFINITY
}

/// Normalised weights exp(log_weight − max) / Σ.
fn normalised_weights(nodes: &[Node]) -> Vec<f64> {
    let max = nodes
        .iter()
        .map(|n| n.log_weight)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut weights: Vec<f64> = nodes.iter().map(|n| (n.log_weight - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    weights
}

/// Posterior mean and SD of `f(node)` under the nodes' weights.
fn node_moments(nodes: &[Node], f: impl Fn(&Node) -> f64) -> (f64, f64) {
    let weights = normalised_weights(nodes);
    let mean: f64 = nodes.iter().zip(&weights).map(|(n, w)| w * f(n)).sum();
    let var: f64 = nodes
        .iter()
        .zip(&weights)
        .map(|(n, w)| w * (f(n) - mean).powi(2))
        .sum();
    (mean, var.sqrt())
}

fn summarise_effect(
    treatment: usize,
    components: Vec<TComponent>,
    rho: Option<f64>,
    counts: &[u32],
    opts: &EffectOptions,
) -> EffectPosterior {
    let mixture = TMixture::new(&components);
    let mean: f64 = components.iter().map(|c| c.weight * c.loc).sum();
    let sd = if components.iter().all(|c| c.df > 2.0) {
        components
            .iter()
            .map(|c| c.weight * (c.scale * c.scale * c.df / (c.df - 2.0) + (c.loc - mean).powi(2)))
            .sum::<f64>()
            .sqrt()
    } else {
        f64::INFINITY
    };
    let spread = components.iter().map(|c| c.scale).fold(0.0, f64::max);
    let ci95 = interval95(&mixture, mean, sd, spread);
    let (p_positive, p_beyond_mcid, p_within_mcid) = probabilities(
        |x| mixture.cdf(x),
        |x| mixture.sf(x),
        opts.mcid,
        opts.better,
    );
    EffectPosterior {
        treatment,
        mean,
        sd,
        ci95,
        p_positive,
        p_beyond_mcid,
        p_within_mcid,
        rho,
        n: counts.to_vec(),
        components,
    }
}

impl EffectPosterior {
    /// The posterior density of the effect at `x`.
    pub fn density(&self, x: f64) -> f64 {
        TMixture::new(&self.components).density(x)
    }

    /// The posterior CDF of the effect at `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        TMixture::new(&self.components).cdf(x)
    }

    /// The p-quantile of the effect's posterior, 0 < p < 1.
    pub fn quantile(&self, p: f64) -> Result<f64, StatsError> {
        if !(p > 0.0 && p < 1.0) {
            return Err(StatsError::Probability { value: p });
        }
        let spread = self.components.iter().map(|c| c.scale).fold(0.0, f64::max);
        Ok(quantile(
            &TMixture::new(&self.components),
            p,
            self.mean,
            spread,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// A series of patients
// ---------------------------------------------------------------------------------------------

/// μ̂(τ), V_μ(τ) and the restricted log-likelihood (without its −(J−1)/2·ln 2π) at τ².
fn tau_conditional(patients: &[PatientEffect], tau2: f64) -> (f64, f64, f64) {
    let (mut precision, mut weighted) = (0.0, 0.0);
    for p in patients {
        let v = p.sd * p.sd + tau2;
        precision += 1.0 / v;
        weighted += p.mean / v;
    }
    let mu_hat = weighted / precision;
    let v_mu = 1.0 / precision;
    let mut log_lik = 0.5 * v_mu.ln();
    for p in patients {
        let v = p.sd * p.sd + tau2;
        let r = p.mean - mu_hat;
        log_lik -= 0.5 * (v.ln() + r * r / v);
    }
    (mu_hat, v_mu, log_lik)
}

/// One quadrature node over φ = atan(τ / tau_scale).
#[derive(Debug, Clone, Copy)]
struct TauNode {
    phi: f64,
    tau: f64,
    mu_hat: f64,
    v_mu: f64,
    log_weight: f64,
}

/// The posterior of a series of n-of-1 trials under the normal-normal hierarchical model:
/// dᵢ ~ N(θᵢ, sᵢ²), θᵢ ~ N(μ, τ²), μ flat, τ ~ half-Cauchy(0, tau_scale), where dᵢ and sᵢ are
/// patient i's effect mean and SD. τ is integrated out by Gauss–Legendre quadrature on
/// φ = atan(τ/tau_scale) ∈ (0, π/2), on which the prior is uniform; given τ, μ and each θᵢ are
/// normal. One patient is allowed (τ's posterior is then its prior).
pub fn pool_series(
    patients: &[PatientEffect],
    opts: &SeriesOptions,
) -> Result<SeriesPosterior, StatsError> {
    if patients.is_empty() {
        return Err(StatsError::NoArms);
    }
    finite_mcid(opts.mcid)?;
    let scale = positive("tau_scale", opts.tau_scale)?;
    for p in patients {
        if !p.mean.is_finite() {
            return Err(StatsError::Parameter {
                name: "patient effect mean",
                value: p.mean,
            });
        }
        positive("patient effect sd", p.sd)?;
    }
    let count = patients.len();
    let half_pi = std::f64::consts::FRAC_PI_2;
    let evaluate = |edges: &[f64], old_edges: &[f64], old: &[TauNode]| {
        evaluate_panels(edges, old_edges, old, |phi, weight| {
            let tau = scale * phi.tan();
            let (mu_hat, v_mu, log_lik) = tau_conditional(patients, tau * tau);
            Ok(TauNode {
                phi,
                tau,
                mu_hat,
                v_mu,
                log_weight: log_lik + weight.ln(),
            })
        })
    };
    let base = base_edges(0.0, half_pi, TAU_END_GRADING);
    let mut nodes = evaluate(&base, &[], &[])?;
    let weights = tau_weights(&nodes);
    let phi_mean: f64 = nodes.iter().zip(&weights).map(|(n, w)| w * n.phi).sum();
    let phi_sd = nodes
        .iter()
        .zip(&weights)
        .map(|(n, w)| w * (n.phi - phi_mean).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut edges = base.clone();
    if refine_edges(&mut edges, 0.0, half_pi, phi_mean, phi_sd) {
        nodes = evaluate(&edges, &base, &nodes)?;
    }
    let weights = tau_weights(&nodes);
    let cutoff = negligible_below(&weights);
    let kept: Vec<(TauNode, f64)> = nodes
        .iter()
        .zip(&weights)
        .filter(|(_, &w)| w >= cutoff && w > 0.0)
        .map(|(n, &w)| (*n, w))
        .collect();
    let total: f64 = kept.iter().map(|(_, w)| w).sum();

    // Moments use every node (the tails of τ matter for them); the mixtures whose CDFs are
    // evaluated many times use the kept nodes.
    let moments = |f: &dyn Fn(&TauNode) -> (f64, f64)| {
        let (mut first, mut second) = (0.0, 0.0);
        for (n, w) in nodes.iter().zip(&weights) {
            let (m, v) = f(n);
            first += w * m;
            second += w * (v + m * m);
        }
        (first, (second - first * first).max(0.0).sqrt())
    };

    // μ: a mixture of N(μ̂(τ), V_μ(τ)).
    let mut mixture: Vec<(f64, f64, f64)> = kept
        .iter()
        .map(|(n, w)| (w / total, n.mu_hat, n.v_mu.sqrt()))
        .collect();
    let population = {
        let (mean, sd) = moments(&|n| (n.mu_hat, n.v_mu));
        let sd = if count >= 3 { sd } else { f64::INFINITY };
        let (ci95, (p_positive, p_beyond_mcid, _)) = normal_mixture_summary(&mixture, mean, opts);
        PopulationEffect {
            mean,
            sd,
            ci95,
            p_positive,
            p_beyond_mcid,
        }
    };

    // θᵢ: a mixture of N(Bμ̂ + (1 − B)dᵢ, s²τ²/(s² + τ²) + B²V_μ), B = s²/(s² + τ²).
    let mut shrunken = Vec::with_capacity(count);
    for p in patients {
        let s2 = p.sd * p.sd;
        let theta = |n: &TauNode| {
            let tau2 = n.tau * n.tau;
            let b = s2 / (s2 + tau2);
            let var = s2 * tau2 / (s2 + tau2) + b * b * n.v_mu;
            (b * n.mu_hat + (1.0 - b) * p.mean, var)
        };
        let (mean, sd) = moments(&theta);
        mixture.clear();
        mixture.extend(kept.iter().map(|(n, w)| {
            let (m, v) = theta(n);
            (w / total, m, v.sqrt())
        }));
        let (ci95, (p_positive, p_beyond_mcid, _)) = normal_mixture_summary(&mixture, mean, opts);
        shrunken.push(ShrunkenEffect {
            mean,
            sd,
            ci95,
            p_positive,
            p_beyond_mcid,
        });
    }

    // τ: its posterior over φ, integrated panel by panel.
    let tau = {
        let mean = if count >= 2 {
            nodes.iter().zip(&weights).map(|(n, w)| w * n.tau).sum()
        } else {
            f64::INFINITY
        };
        let log_max = nodes
            .iter()
            .map(|n| n.log_weight)
            .fold(f64::NEG_INFINITY, f64::max);
        let density = |phi: f64| {
            let tau = scale * phi.tan();
            let (_, _, log_lik) = tau_conditional(patients, tau * tau);
            (log_lik - log_max).exp()
        };
        // Mass per panel, in the order of `edges` (8 nodes per panel, as evaluated).
        let masses: Vec<f64> = nodes
            .chunks(GL_NODES.len())
            .map(|panel| panel.iter().map(|n| (n.log_weight - log_max).exp()).sum())
            .collect();
        let z: f64 = masses.iter().sum();
        let quantile_phi = |p: f64| {
            let target = p * z;
            let mut below = 0.0;
            for (i, &mass) in masses.iter().enumerate() {
                if below + mass >= target || i + 1 == masses.len() {
                    let (a, b) = (edges[i], edges[i + 1]);
                    let cdf = |x: f64| {
                        let half = 0.5 * (x - a);
                        let mid = 0.5 * (x + a);
                        let inner: f64 = GL_NODES
                            .iter()
                            .zip(GL_WEIGHTS)
                            .map(|(u, w)| half * w * density(mid + half * u))
                            .sum();
                        below + inner - target
                    };
                    return solve_monotone(cdf, density, a, b);
                }
                below += mass;
            }
            half_pi
        };
        let median = scale * quantile_phi(0.5).tan();
        let ci95 = (
            scale * quantile_phi(0.025).tan(),
            scale * quantile_phi(0.975).tan(),
        );
        TauSummary { mean, median, ci95 }
    };

    let empirical_bayes = empirical_bayes(patients);
    Ok(SeriesPosterior {
        population,
        tau,
        shrunken,
        empirical_bayes,
    })
}

fn tau_weights(nodes: &[TauNode]) -> Vec<f64> {
    let max = nodes
        .iter()
        .map(|n| n.log_weight)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut weights: Vec<f64> = nodes.iter().map(|n| (n.log_weight - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    weights
}

type Probabilities = (f64, f64, f64);

fn normal_mixture_summary(
    mixture: &[(f64, f64, f64)],
    mean: f64,
    opts: &SeriesOptions,
) -> ((f64, f64), Probabilities) {
    let dist = NormalMixture(mixture);
    let spread = mixture.iter().map(|&(_, _, s)| s).fold(0.0, f64::max);
    let mean_sq: f64 = mixture.iter().map(|&(w, m, s)| w * (s * s + m * m)).sum();
    let sd = (mean_sq - mean * mean).max(0.0).sqrt();
    let ci95 = interval95(&dist, mean, sd, spread);
    let probs = probabilities(|x| dist.cdf(x), |x| dist.sf(x), opts.mcid, opts.better);
    (ci95, probs)
}

/// −ℓ(τ) for Brent's method, τ = x · unit.
struct NegativeRestricted<'a> {
    patients: &'a [PatientEffect],
    unit: f64,
}

impl CostFunction for NegativeRestricted<'_> {
    type Param = f64;
    type Output = f64;

    fn cost(&self, x: &f64) -> Result<f64, argmin::core::Error> {
        let tau = x * self.unit;
        Ok(-tau_conditional(self.patients, tau * tau).2)
    }
}

/// The empirical-Bayes fit (see [`EmpiricalBayes`]).
fn empirical_bayes(patients: &[PatientEffect]) -> EmpiricalBayes {
    let count = patients.len();
    let constant = -0.5 * (count as f64 - 1.0) * (2.0 * std::f64::consts::PI).ln();
    let at = |tau: f64, iterations: u64, converged: bool| {
        let (mu_hat, v_mu, log_lik) = tau_conditional(patients, tau * tau);
        EmpiricalBayes {
            mu_hat,
            mu_sd: v_mu.sqrt(),
            tau_hat: tau,
            log_likelihood: log_lik + constant,
            iterations,
            converged,
            at_boundary: tau == 0.0,
        }
    };
    if count < 2 {
        return at(0.0, 0, false);
    }
    // A scale for the search: the larger of the spread of the effects and their typical SD.
    let n = count as f64;
    let mean = patients.iter().map(|p| p.mean).sum::<f64>() / n;
    let spread = (patients
        .iter()
        .map(|p| (p.mean - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let typical = (patients.iter().map(|p| p.sd * p.sd).sum::<f64>() / n).sqrt();
    let unit = spread.max(typical);
    // Grid 0 and unit·10^(g/8), g = −48 … 32, then Brent between the best point's neighbours.
    let grid: Vec<f64> = std::iter::once(0.0)
        .chain((-48..=32).map(|g| 10f64.powf(f64::from(g) / 8.0)))
        .collect();
    let values: Vec<f64> = grid
        .iter()
        .map(|x| tau_conditional(patients, (x * unit).powi(2)).2)
        .collect();
    let best = values
        .iter()
        .enumerate()
        .fold(0, |best, (i, v)| if *v > values[best] { i } else { best });
    if best + 1 == grid.len() {
        // Still rising at 10⁴ × the data's scale: report the grid's end, not converged.
        return at(grid[best] * unit, 0, false);
    }
    let lo = if best == 0 { 0.0 } else { grid[best - 1] };
    let hi = grid[best + 1];
    let problem = NegativeRestricted { patients, unit };
    let solver = BrentOpt::new(lo, hi).set_tolerance(1.5e-8, 1e-12);
    let result = Executor::new(problem, solver)
        .configure(|state| state.max_iters(200))
        .timer(false)
        .run();
    let Ok(result) = result else {
        return at(grid[best] * unit, 0, false);
    };
    let state = result.state();
    let iterations = state.get_iter();
    let converged = matches!(
        state.get_termination_reason(),
        Some(TerminationReason::SolverConverged)
    );
    let x = state.get_best_param().copied().unwrap_or(grid[best]);
    let interior = tau_conditional(patients, (x * unit).powi(2)).2;
    if values[0] >= interior {
        at(0.0, iterations, converged)
    } else {
        at(x * unit, iterations, converged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(treatment: usize, day: u32, value: f64) -> Nof1Observation {
        Nof1Observation {
            treatment,
            day,
            value,
        }
    }

    const IID: EffectOptions = EffectOptions {
        mcid: 0.5,
        better: Better::Higher,
        ar1: false,
    };

    #[test]
    fn t_cdf_matches_mpmath() {
        // 40-digit values from tests/reference/generate_nof1.py (group `t_cdf`).
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/reference/nof1_cases.json"))
                .map_err(|e| e.to_string())
                .unwrap_or_default();
        let cases = reference["t_cdf"].as_array().cloned().unwrap_or_default();
        assert!(cases.len() >= 20, "the t_cdf reference group");
        for case in cases {
            let number = |key: &str| case[key].as_f64().unwrap_or(f64::NAN);
            let (df, z, want) = (number("df"), number("z"), number("cdf"));
            let got = t_cdf(df, z);
            let tolerance = 1e-14_f64.max(1e-12 * want);
            assert!(
                (got - want).abs() <= tolerance,
                "t_cdf({df}, {z}) = {got:e}, want {want:e}"
            );
        }
    }

    #[test]
    fn flat_prior_gives_the_pooled_variance_t() -> Result<(), StatsError> {
        let data = [
            obs(0, 1, 3.0),
            obs(0, 2, 4.5),
            obs(0, 3, 2.0),
            obs(1, 4, 6.0),
            obs(1, 5, 5.5),
        ];
        let result = analyse_patient(&data, 2, &Nof1Prior::Flat, &IID)?;
        let e = &result[0];
        let (m0, m1): (f64, f64) = (9.5 / 3.0, 5.75);
        let ss = (3.0 - m0).powi(2) + (4.5 - m0).powi(2) + (2.0 - m0).powi(2) + 0.125;
        let sp2 = ss / 3.0;
        let c = &e.components[0];
        assert!((c.df - 3.0).abs() < 1e-12);
        assert!((c.loc - (m1 - m0)).abs() < 1e-12);
        assert!((c.scale - (sp2 * (1.0 / 2.0 + 1.0 / 3.0)).sqrt()).abs() < 1e-12);
        assert!((e.mean - (m1 - m0)).abs() < 1e-12);
        assert!((e.sd - c.scale * 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(e.n, vec![3, 2]);
        assert!((e.cdf(e.ci95.0) - 0.025).abs() < 1e-12);
        assert!((e.cdf(e.ci95.1) - 0.975).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn nig_prior_matches_the_conjugate_model() -> Result<(), StatsError> {
        use crate::stats::{ConjugateModel, Observation};
        let prior = NigPrior {
            mu0: 1.0,
            kappa0: 2.0,
            alpha0: 3.0,
            beta0: 4.0,
        };
        // With one treatment observed only, the other keeps its prior; check treatment 0 alone
        // through the shared σ²: the t-scale of μ₁ − μ₀ is √(β/α · (1/κ₀ₙ + 1/κ₁ₙ)).
        let a = [2.0, 3.5, -1.0, 0.25];
        let b = [1.5, 2.25];
        let mut data: Vec<Nof1Observation> = a.iter().map(|&v| obs(0, 1, v)).collect();
        data.extend(b.iter().map(|&v| obs(1, 2, v)));
        let result = analyse_patient(&data, 2, &Nof1Prior::NormalInverseGamma(prior), &IID)?;
        let mut m0 = ConjugateModel::normal(prior)?;
        let mut m1 = ConjugateModel::normal(prior)?;
        for v in a {
            m0.observe(Observation::Continuous(v))?;
        }
        for v in b {
            m1.observe(Observation::Continuous(v))?;
        }
        let p0 = m0.nig_posterior().ok_or(StatsError::NoArms)?;
        let p1 = m1.nig_posterior().ok_or(StatsError::NoArms)?;
        // Shared σ²: α = α₀ + n/2, β = β₀ + Σ (βₖ − β₀).
        let alpha = prior.alpha0 + 3.0;
        let beta = prior.beta0 + (p0.beta - prior.beta0) + (p1.beta - prior.beta0);
        let c = &result[0].components[0];
        assert!((c.df - 2.0 * alpha).abs() < 1e-12);
        assert!((c.loc - (p1.mu - p0.mu)).abs() < 1e-12);
        let scale = (beta / alpha * (1.0 / p0.kappa + 1.0 / p1.kappa)).sqrt();
        assert!((c.scale - scale).abs() < 1e-12, "{} vs {scale}", c.scale);
        Ok(())
    }

    #[test]
    fn ar1_near_independence_agrees_with_iid_on_white_noise() -> Result<(), StatsError> {
        // Alternating treatments, no autocorrelation built in: ρ's posterior centres near 0 and
        // the effect moves little.
        let values = [
            0.3, 1.2, -0.4, 0.9, 0.1, 1.6, -0.2, 0.7, 0.5, 1.1, -0.6, 1.4, 0.0, 0.8, 0.2, 1.3,
        ];
        let data: Vec<Nof1Observation> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| obs(i % 2, i as u32 + 1, v))
            .collect();
        let iid = analyse_patient(&data, 2, &Nof1Prior::Flat, &IID)?;
        let ar = analyse_patient(
            &data,
            2,
            &Nof1Prior::Flat,
            &EffectOptions { ar1: true, ..IID },
        )?;
        let rho = ar[0].rho.ok_or(StatsError::NoArms)?;
        assert!(rho.abs() < 0.4, "rho {rho}");
        assert!((ar[0].mean - iid[0].mean).abs() < 0.5 * iid[0].sd);
        let total: f64 = ar[0].components.iter().map(|c| c.weight).sum();
        assert!((total - 1.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn ar1_quadrature_agrees_with_a_finer_rule() -> Result<(), StatsError> {
        let values = [
            1.0, 1.4, 1.9, 2.6, 2.2, 1.7, 1.1, 0.6, 0.9, 1.5, 2.4, 3.1, 2.8, 2.0, 1.3, 1.0, 1.6,
            2.3,
        ];
        let data: Vec<Nof1Observation> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| obs((i / 3) % 2, 2 * i as u32 + 1 + (i as u32 / 6), v))
            .collect();
        let opts = EffectOptions { ar1: true, ..IID };
        let prior = Nof1Prior::NormalInverseGamma(NigPrior {
            mu0: 0.0,
            kappa0: 1e-4,
            alpha0: 1e-3,
            beta0: 1e-3,
        });
        let coarse = analyse_patient(&data, 2, &prior, &opts)?;
        // A brute-force rule: 4000 midpoint panels in θ with the same 8-point rule.
        let edges: Vec<f64> = (0..=4000)
            .map(|i| -std::f64::consts::FRAC_PI_2 + std::f64::consts::PI * f64::from(i) / 4000.0)
            .collect();
        let centre = values.iter().sum::<f64>() / values.len() as f64;
        let mut sorted: Vec<(usize, u32, f64)> = data
            .iter()
            .map(|o| (o.treatment, o.day, o.value - centre))
            .collect();
        sorted.sort_by_key(|r| r.1);
        let centred = CentredPrior::Nig {
            mu0: -centre,
            kappa0: 1e-4,
            alpha0: 1e-3,
            beta0: 1e-3,
        };
        let mut regression = Regression::new(2, sorted.len());
        let mut gaps = Gaps::new(&sorted);
        let parts = evaluate_panels(&edges, &[], &[], |theta, weight| {
            let jac = regression.build_ar_rows(&sorted, &mut gaps, theta);
            let fit = regression.fit(centred, jac)?.ok_or(SINGULAR)?;
            let (loc, var) = regression.contrast(1);
            Ok((
                fit.log_weight + weight.ln() + theta.cos().ln(),
                loc,
                (fit.b_n / fit.a_n * var).sqrt(),
                2.0 * fit.a_n,
            ))
        })?;
        let max = parts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = parts.iter().map(|p| (p.0 - max).exp()).sum();
        let mean: f64 = parts.iter().map(|p| (p.0 - max).exp() * p.1).sum::<f64>() / total;
        let p_pos: f64 = parts
            .iter()
            .map(|p| (p.0 - max).exp() * t_cdf(p.3, p.1 / p.2))
            .sum::<f64>()
            / total;
        assert!(
            (coarse[0].mean - mean).abs() < 1e-9,
            "{} vs {mean}",
            coarse[0].mean
        );
        assert!((coarse[0].p_positive - p_pos).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn one_patient_series_keeps_the_patient_and_the_prior() -> Result<(), StatsError> {
        let opts = SeriesOptions {
            mcid: 0.0,
            better: Better::Higher,
            tau_scale: 1.0,
        };
        let s = pool_series(&[PatientEffect { mean: 0.8, sd: 0.5 }], &opts)?;
        // θ₁ | d is N(d, s²) whatever τ.
        assert!((s.shrunken[0].mean - 0.8).abs() < 1e-12);
        assert!((s.shrunken[0].sd - 0.5).abs() < 1e-9);
        // τ keeps its half-Cauchy(0, 1) prior: median 1, 97.5% quantile tan(0.975·π/2).
        assert!((s.tau.median - 1.0).abs() < 1e-9, "{}", s.tau.median);
        let q = (0.975 * std::f64::consts::FRAC_PI_2).tan();
        assert!(
            (s.tau.ci95.1 - q).abs() < 1e-7 * q,
            "{} vs {q}",
            s.tau.ci95.1
        );
        assert!(s.tau.mean.is_infinite() && s.population.sd.is_infinite());
        assert!(!s.empirical_bayes.converged);
        Ok(())
    }

    #[test]
    fn homogeneous_effects_put_tau_hat_on_the_boundary() -> Result<(), StatsError> {
        let patients: Vec<PatientEffect> = [1.0, 1.05, 0.97, 1.02]
            .iter()
            .map(|&mean| PatientEffect { mean, sd: 0.4 })
            .collect();
        let opts = SeriesOptions {
            mcid: 0.2,
            better: Better::Higher,
            tau_scale: 0.5,
        };
        let s = pool_series(&patients, &opts)?;
        assert!(s.empirical_bayes.at_boundary);
        assert_eq!(s.empirical_bayes.tau_hat, 0.0);
        assert!((s.empirical_bayes.mu_hat - 1.01).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        let prior = Nof1Prior::Flat;
        assert!(matches!(
            analyse_patient(&[obs(0, 1, 1.0)], 1, &prior, &IID),
            Err(StatsError::Treatments { got: 1 })
        ));
        assert!(matches!(
            analyse_patient(&[obs(2, 1, 1.0)], 2, &prior, &IID),
            Err(StatsError::TreatmentIndex { .. })
        ));
        assert!(matches!(
            analyse_patient(
                &[obs(0, 1, 1.0), obs(0, 2, 2.0), obs(0, 3, 2.5)],
                2,
                &prior,
                &IID
            ),
            Err(StatsError::Unobserved { treatment: 1 })
        ));
        assert!(matches!(
            analyse_patient(&[obs(0, 1, 1.0), obs(1, 2, 2.0)], 2, &prior, &IID),
            Err(StatsError::TooFewObservations { .. })
        ));
        let same_day = [
            obs(0, 1, 1.0),
            obs(1, 1, 2.0),
            obs(0, 2, 1.5),
            obs(1, 3, 2.5),
        ];
        assert!(matches!(
            analyse_patient(&same_day, 2, &prior, &EffectOptions { ar1: true, ..IID }),
            Err(StatsError::SameDay { day: 1 })
        ));
        assert!(pool_series(
            &[PatientEffect { mean: 1.0, sd: 0.0 }],
            &SeriesOptions {
                mcid: 0.0,
                better: Better::Higher,
                tau_scale: 1.0
            }
        )
        .is_err());
    }
}
