//! The inputs and results of the n-of-1 analyses: measurements, priors and options in; effect
//! posteriors, the hierarchical model's summaries and the empirical-Bayes fit out; and the check
//! of the one option both analyses share.
//!
//! Plain data (serialisable for the CLI's JSON and the engine's events); no numerics here.

use serde::{Deserialize, Serialize};

use crate::stats::{Better, NigPrior, StatsError};

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

/// An MCID must be finite and ≥ 0.
pub(super) fn finite_mcid(mcid: f64) -> Result<(), StatsError> {
    if mcid.is_finite() && mcid >= 0.0 {
        Ok(())
    } else {
        Err(StatsError::Delta { value: mcid })
    }
}
