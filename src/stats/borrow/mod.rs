//! Borrowing across strata: the hierarchical model of Berry et al. (2013) and the EXNEX model of
//! Neuenschwander et al. (2016) for binary strata (θⱼ = logit pⱼ) and for normal strata (θⱼ a
//! stratum mean estimated with a known standard error), computed exactly by quadrature over the
//! population mean μ and SD τ (no MCMC, no random numbers).
//!
//! - Hierarchical model: θⱼ ~ N(μ, τ²), μ ~ N(m_μ, s_μ²), τ ~ HalfNormal(s_τ).
//! - EXNEX: each θⱼ is exchangeable (θⱼ ~ N(μ, τ²)) with prior probability wⱼ, and otherwise
//!   non-exchangeable, θⱼ ~ N(m_nex, s_nex²) on its own.
//!
//! [`BorrowWorkspace::fit`] gives, per stratum, the posterior mean, SD, median and 95% interval of
//! pⱼ (or θⱼ for normal strata), P(pⱼ > p₀) and P(exchangeable | data), and the posterior of μ and
//! τ. The workspace keeps its buffers, so repeated fits of the same size allocate nothing.
//!
//! Layout: this file holds the inputs, their validation and the results; `grid` where the τ
//! nodes go; `mu_nodes` where one τ node's μ nodes go; `rows` every stratum's values at those
//! nodes (the likelihood tabulated and convolved with the normal kernel); `inner` one stratum given (μ, τ) by its own
//! quadrature (the non-exchangeable posterior and the quantiles); `fit` the evaluation;
//! `summary` the summaries. Formulas: `METHODS.md`, "Borrowing across
//! strata". Nothing here knows files, protocols or trials.

mod fit;
mod grid;
pub(crate) mod inner;
mod laplace;
mod mu_nodes;
mod rows;
mod stratum;
mod summary;
mod tables;

pub use fit::BorrowWorkspace;
pub use summary::Combination;

use serde::Serialize;

use super::StatsError;

/// The most strata one fit accepts.
pub const MAX_STRATA: usize = 64;
/// The largest stratum size n of a binary stratum.
pub const MAX_STRATUM_SIZE: u64 = 10_000_000;

/// A normal prior N(mean, sd²), with a finite mean and a finite positive SD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NormalPrior {
    mean: f64,
    sd: f64,
}

impl NormalPrior {
    /// N(mean, sd²); `name` says which prior an error is about (`"mu"`, `"nex"`).
    pub fn new(name: &'static str, mean: f64, sd: f64) -> Result<Self, StatsError> {
        if !mean.is_finite() {
            return Err(StatsError::Parameter { name, value: mean });
        }
        super::positive(name, sd)?;
        Ok(Self { mean, sd })
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The SD.
    pub fn sd(&self) -> f64 {
        self.sd
    }
}

/// A half-normal prior on τ ≥ 0 with scale s (the SD of the normal it folds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HalfNormalPrior {
    scale: f64,
}

impl HalfNormalPrior {
    /// HalfNormal(scale), scale finite and positive.
    pub fn new(scale: f64) -> Result<Self, StatsError> {
        Ok(Self {
            scale: super::positive("tau scale", scale)?,
        })
    }

    /// The scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

/// One stratum's data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stratum {
    /// `responders` of `n` (logit-normal model).
    Binary {
        /// Responders.
        responders: u64,
        /// Participants.
        n: u64,
    },
    /// An estimate of the stratum mean with a known standard error (normal-normal model).
    Normal {
        /// The estimate.
        mean: f64,
        /// Its standard error.
        se: f64,
    },
}

impl Stratum {
    fn family(&self) -> &'static str {
        match self {
            Self::Binary { .. } => "binary",
            Self::Normal { .. } => "normal",
        }
    }

    /// Checks the stratum at 1-based position `stratum`.
    fn check(&self, stratum: usize) -> Result<(), StatsError> {
        match *self {
            Self::Binary { responders, n } => {
                if n == 0 || n > MAX_STRATUM_SIZE {
                    return Err(StatsError::StratumSize {
                        stratum,
                        n,
                        max: MAX_STRATUM_SIZE,
                    });
                }
                if responders > n {
                    return Err(StatsError::StratumResponders {
                        stratum,
                        responders,
                        n,
                    });
                }
            }
            Self::Normal { mean, se } => {
                if !mean.is_finite() {
                    return Err(StatsError::StratumValue {
                        stratum,
                        field: "mean",
                        value: mean,
                    });
                }
                if !(se.is_finite() && se > 0.0) {
                    return Err(StatsError::StratumValue {
                        stratum,
                        field: "se",
                        value: se,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Prior probabilities of exchangeability under EXNEX.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeWeights {
    /// The same w for every stratum.
    Common(f64),
    /// One wⱼ per stratum, in the order of the strata.
    PerStratum(Vec<f64>),
}

/// Which model links the strata.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrataModel {
    /// Berry et al. (2013): every θⱼ ~ N(μ, τ²).
    Hierarchical,
    /// Neuenschwander et al. (2016): θⱼ ~ N(μ, τ²) with probability wⱼ, else N(m_nex, s_nex²).
    Exnex {
        /// The non-exchangeable prior.
        nex: NormalPrior,
        /// The prior probabilities of exchangeability.
        weights: ExchangeWeights,
    },
}

/// A borrowing model: the priors of μ and τ and how strata relate to them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BorrowModel {
    /// Prior of the population mean μ (on the logit scale for binary strata).
    pub mu: NormalPrior,
    /// Prior of the between-strata SD τ.
    pub tau: HalfNormalPrior,
    /// Hierarchical or EXNEX.
    pub strata: StrataModel,
}

impl BorrowModel {
    /// wⱼ for stratum `j` of `count` (0-based), checked to lie in [0, 1].
    fn weight(&self, j: usize, count: usize) -> Result<f64, StatsError> {
        let w = match &self.strata {
            StrataModel::Hierarchical => return Ok(1.0),
            StrataModel::Exnex { weights, .. } => match weights {
                ExchangeWeights::Common(w) => *w,
                ExchangeWeights::PerStratum(ws) => {
                    if ws.len() != count {
                        return Err(StatsError::ExchangeWeights {
                            got: ws.len(),
                            expected: count,
                        });
                    }
                    ws[j]
                }
            },
        };
        if (0.0..=1.0).contains(&w) {
            Ok(w)
        } else {
            Err(StatsError::ExchangeWeight {
                stratum: j + 1,
                value: w,
            })
        }
    }
}

/// Posterior summaries of one scalar: mean, SD, median and equal-tailed 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct ScalarSummary {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior SD.
    pub sd: f64,
    /// Posterior median.
    pub median: f64,
    /// The 2.5% and 97.5% posterior quantiles.
    pub ci95: [f64; 2],
}

/// One stratum's posterior.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct StratumPosterior {
    /// pⱼ (binary) or θⱼ (normal).
    #[serde(flatten)]
    pub summary: ScalarSummary,
    /// P(pⱼ > p₀ | data) (binary) or P(θⱼ > threshold | data) (normal).
    pub p_above: f64,
    /// P(stratum j is exchangeable | data): 1 under the hierarchical model.
    pub p_exchangeable: f64,
}

/// The posterior of every stratum and of the population parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BorrowPosterior {
    /// One per stratum, in input order.
    pub strata: Vec<StratumPosterior>,
    /// The population mean μ (logit scale for binary strata).
    pub mu: ScalarSummary,
    /// The between-strata SD τ.
    pub tau: ScalarSummary,
}

/// Checks the strata (count, family, values) and the threshold; returns whether they are binary.
fn check_strata(strata: &[Stratum], threshold: f64) -> Result<bool, StatsError> {
    let Some(first) = strata.first() else {
        return Err(StatsError::NoStrata);
    };
    if strata.len() > MAX_STRATA {
        return Err(StatsError::TooManyStrata {
            got: strata.len(),
            max: MAX_STRATA,
        });
    }
    for (j, stratum) in strata.iter().enumerate() {
        if stratum.family() != first.family() {
            return Err(StatsError::MixedFamilies {
                first: first.family(),
                other: stratum.family(),
            });
        }
        stratum.check(j + 1)?;
    }
    let binary = matches!(first, Stratum::Binary { .. });
    if binary {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(StatsError::Probability { value: threshold });
        }
    } else if !threshold.is_finite() {
        return Err(StatsError::Parameter {
            name: "threshold",
            value: threshold,
        });
    }
    Ok(binary)
}
