//! Conjugate models with incremental sufficient statistics.
//!
//! Each model holds its prior and the sufficient statistics of the data seen so far; observing an
//! outcome updates the statistics in O(1), and [`ConjugateModel::posterior`] returns the marginal
//! posterior of the arm's parameter θ (response rate, mean, or event rate). The prior may be a
//! mixture of conjugate components ([`Mixture`]); the posterior is then the mixture of the
//! components' posteriors, reweighted by each component's marginal likelihood of the data
//! (`METHODS.md`, "Mixture priors"). A plain prior is the one-component mixture, and is written
//! (serialised) exactly as before mixtures existed.

use serde::{Deserialize, Serialize, Serializer};
use statrs::function::gamma::ln_gamma;

use super::mixture::{ArmComponent, Component};
use super::{Marginal, Mixture, StatsError};

/// Beta(a, b) prior on a response probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BetaPrior {
    /// Prior successes (first shape), > 0.
    pub a: f64,
    /// Prior failures (second shape), > 0.
    pub b: f64,
}

/// Normal-Inverse-Gamma prior on (mean μ, variance σ²): μ | σ² ~ N(mu0, σ²/kappa0),
/// σ² ~ Inverse-Gamma(alpha0, beta0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NigPrior {
    /// Prior mean.
    pub mu0: f64,
    /// Prior pseudo-observations for the mean, > 0.
    pub kappa0: f64,
    /// Shape of the variance's Inverse-Gamma, > 0.
    pub alpha0: f64,
    /// Scale of the variance's Inverse-Gamma, > 0.
    pub beta0: f64,
}

/// Gamma(shape, rate) prior on an event rate per unit exposure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaPrior {
    /// Prior events (shape), > 0.
    pub shape: f64,
    /// Prior exposure (rate), > 0.
    pub rate: f64,
}

impl BetaPrior {
    /// The posterior Beta(a + s, b + n − s) after `successes` out of `trials`.
    pub fn update(&self, successes: u64, trials: u64) -> Self {
        Self {
            a: self.a + successes as f64,
            b: self.b + trials.saturating_sub(successes) as f64,
        }
    }

    /// ln of the Beta-binomial marginal likelihood of `successes` out of `trials` in a given
    /// order, ln B(a + s, b + n − s) − ln B(a, b) (the binomial coefficient, the same for every
    /// prior, is left out).
    pub fn ln_marginal_likelihood(&self, successes: u64, trials: u64) -> f64 {
        let post = self.update(successes, trials);
        ln_beta(post.a, post.b) - ln_beta(self.a, self.b)
    }
}

impl GammaPrior {
    /// The posterior Gamma(shape + E, rate + T) after `events` over `exposure`.
    pub fn update(&self, events: u64, exposure: f64) -> Self {
        Self {
            shape: self.shape + events as f64,
            rate: self.rate + exposure,
        }
    }

    /// ln of the Gamma-Poisson marginal likelihood of `events` over `exposure`,
    /// s·ln r − ln Γ(s) + ln Γ(s + E) − (s + E)·ln(r + T) (the factor Π tᵢ^eᵢ/eᵢ!, the same for
    /// every prior, is left out).
    pub fn ln_marginal_likelihood(&self, events: u64, exposure: f64) -> f64 {
        let post = self.update(events, exposure);
        self.shape * self.rate.ln() - ln_gamma(self.shape) + ln_gamma(post.shape)
            - post.shape * post.rate.ln()
    }
}

impl NigPrior {
    /// The posterior parameters after `n` values with this `mean` and sum of squared deviations
    /// from it `m2`.
    pub fn posterior(&self, n: u64, mean: f64, m2: f64) -> NigPosterior {
        let prior = self;
        let nf = n as f64;
        let kappa = prior.kappa0 + nf;
        let mu = if n == 0 {
            prior.mu0
        } else {
            (prior.kappa0 * prior.mu0 + nf * mean) / kappa
        };
        let alpha = prior.alpha0 + 0.5 * nf;
        let shift = mean - prior.mu0;
        let beta = prior.beta0
            + 0.5 * m2
            + if n == 0 {
                0.0
            } else {
                prior.kappa0 * nf * shift * shift / (2.0 * kappa)
            };
        NigPosterior {
            mu,
            kappa,
            alpha,
            beta,
        }
    }

    /// ln of the Normal-Inverse-Gamma marginal likelihood of `n` values given their
    /// `posterior`, ln Γ(αₙ) − ln Γ(α₀) + α₀ ln β₀ − αₙ ln βₙ + ½ ln(κ₀/κₙ) (the factor
    /// (2π)^(−n/2), the same for every prior, is left out).
    pub fn ln_marginal_likelihood(&self, n: u64, posterior: NigPosterior) -> f64 {
        if n == 0 {
            return 0.0;
        }
        ln_gamma(posterior.alpha) - ln_gamma(self.alpha0) + self.alpha0 * self.beta0.ln()
            - posterior.alpha * posterior.beta.ln()
            + 0.5 * (self.kappa0 / posterior.kappa).ln()
    }
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// A plain prior (a one-component mixture) as its component's fields, exactly as before
/// mixtures existed; a mixture as its list of weighted components.
fn plain_or_mixture<C, S>(prior: &Mixture<C>, serializer: S) -> Result<S::Ok, S::Error>
where
    C: Component + Serialize,
    S: Serializer,
{
    match prior.as_single() {
        Some(component) => component.serialize(serializer),
        None => prior.serialize(serializer),
    }
}

/// One outcome as the models see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Observation {
    /// A binary outcome.
    Binary(bool),
    /// A continuous measurement.
    Continuous(f64),
    /// `events` over `exposure` units of time at risk.
    Count {
        /// Number of events.
        events: u64,
        /// Exposure, > 0.
        exposure: f64,
    },
}

/// The posterior parameters of the Normal-Inverse-Gamma model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NigPosterior {
    /// Posterior mean of μ.
    pub mu: f64,
    /// Posterior pseudo-observations.
    pub kappa: f64,
    /// Posterior shape.
    pub alpha: f64,
    /// Posterior scale.
    pub beta: f64,
}

impl std::fmt::Display for BetaPrior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Beta({}, {})", self.a, self.b)
    }
}

impl std::fmt::Display for NigPrior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Normal-Inverse-Gamma(μ₀ {}, κ₀ {}, α₀ {}, β₀ {})",
            self.mu0, self.kappa0, self.alpha0, self.beta0
        )
    }
}

impl std::fmt::Display for GammaPrior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gamma(shape {}, rate {})", self.shape, self.rate)
    }
}

/// A conjugate model for one arm: prior plus sufficient statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ConjugateModel {
    /// Beta-Binomial.
    BetaBinomial {
        /// The prior (a plain prior is the one-component mixture).
        #[serde(serialize_with = "plain_or_mixture")]
        prior: Mixture<BetaPrior>,
        /// Successes observed.
        successes: u64,
        /// Outcomes observed.
        trials: u64,
    },
    /// Normal with unknown variance (Normal-Inverse-Gamma).
    Normal {
        /// The prior (a plain prior is the one-component mixture).
        #[serde(serialize_with = "plain_or_mixture")]
        prior: Mixture<NigPrior>,
        /// Outcomes observed.
        n: u64,
        /// Running mean (Welford).
        mean: f64,
        /// Running sum of squared deviations from the mean (Welford).
        m2: f64,
    },
    /// Gamma-Poisson.
    GammaPoisson {
        /// The prior (a plain prior is the one-component mixture).
        #[serde(serialize_with = "plain_or_mixture")]
        prior: Mixture<GammaPrior>,
        /// Outcomes observed.
        n: u64,
        /// Events observed.
        events: u64,
        /// Exposure observed.
        exposure: f64,
    },
}

fn check_positive(name: &'static str, value: f64) -> Result<(), StatsError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(StatsError::Parameter { name, value })
    }
}

impl ConjugateModel {
    /// The prior in words, as the protocol states it (see [`Mixture`]'s `Display`).
    pub fn prior_words(&self) -> String {
        match self {
            Self::BetaBinomial { prior, .. } => prior.to_string(),
            Self::Normal { prior, .. } => prior.to_string(),
            Self::GammaPoisson { prior, .. } => prior.to_string(),
        }
    }

    /// A Beta-Binomial model with no data.
    pub fn beta_binomial(prior: BetaPrior) -> Result<Self, StatsError> {
        check_positive("a", prior.a)?;
        check_positive("b", prior.b)?;
        Ok(Self::beta_binomial_mixture(Mixture::single(prior)?))
    }

    /// A Beta-Binomial model with a mixture prior and no data.
    pub fn beta_binomial_mixture(prior: Mixture<BetaPrior>) -> Self {
        Self::BetaBinomial {
            prior,
            successes: 0,
            trials: 0,
        }
    }

    /// A Normal-Inverse-Gamma model with no data.
    pub fn normal(prior: NigPrior) -> Result<Self, StatsError> {
        if !prior.mu0.is_finite() {
            return Err(StatsError::Parameter {
                name: "mu0",
                value: prior.mu0,
            });
        }
        check_positive("kappa0", prior.kappa0)?;
        check_positive("alpha0", prior.alpha0)?;
        check_positive("beta0", prior.beta0)?;
        Ok(Self::normal_mixture(Mixture::single(prior)?))
    }

    /// A Normal-Inverse-Gamma model with a mixture prior and no data.
    pub fn normal_mixture(prior: Mixture<NigPrior>) -> Self {
        Self::Normal {
            prior,
            n: 0,
            mean: 0.0,
            m2: 0.0,
        }
    }

    /// A Gamma-Poisson model with no data.
    pub fn gamma_poisson(prior: GammaPrior) -> Result<Self, StatsError> {
        check_positive("shape", prior.shape)?;
        check_positive("rate", prior.rate)?;
        Ok(Self::gamma_poisson_mixture(Mixture::single(prior)?))
    }

    /// A Gamma-Poisson model with a mixture prior and no data.
    pub fn gamma_poisson_mixture(prior: Mixture<GammaPrior>) -> Self {
        Self::GammaPoisson {
            prior,
            n: 0,
            events: 0,
            exposure: 0.0,
        }
    }

    /// Adds one outcome. An observation of the wrong kind, a non-finite value, a non-positive
    /// exposure, or a value that would make the posterior's parameters overflow (a continuous
    /// value of 1e200, an exposure of 1e308) is rejected and leaves the model unchanged.
    pub fn observe(&mut self, observation: Observation) -> Result<(), StatsError> {
        let before = *self;
        self.add(observation)?;
        if self.posterior_is_finite() {
            Ok(())
        } else {
            *self = before;
            Err(StatsError::Observation(
                "the value is out of range: the posterior's sufficient statistics would not stay finite",
            ))
        }
    }

    /// Whether every parameter of the posterior is finite (and the scale positive).
    fn posterior_is_finite(&self) -> bool {
        match *self {
            Self::BetaBinomial { .. } => true,
            Self::Normal { prior, n, mean, m2 } => prior.components().iter().all(|c| {
                let p = c.posterior(n, mean, m2);
                p.mu.is_finite()
                    && p.kappa.is_finite()
                    && p.alpha.is_finite()
                    && p.beta.is_finite()
                    && p.beta > 0.0
            }),
            Self::GammaPoisson {
                prior, exposure, ..
            } => prior
                .components()
                .iter()
                .all(|c| (c.rate + exposure).is_finite()),
        }
    }

    fn add(&mut self, observation: Observation) -> Result<(), StatsError> {
        match (self, observation) {
            (
                Self::BetaBinomial {
                    successes, trials, ..
                },
                Observation::Binary(success),
            ) => {
                *successes += u64::from(success);
                *trials += 1;
            }
            (Self::Normal { n, mean, m2, .. }, Observation::Continuous(x)) => {
                if !x.is_finite() {
                    return Err(StatsError::Observation(
                        "a continuous outcome must be finite",
                    ));
                }
                *n += 1;
                let delta = x - *mean;
                *mean += delta / *n as f64;
                *m2 += delta * (x - *mean);
            }
            (
                Self::GammaPoisson {
                    n,
                    events,
                    exposure,
                    ..
                },
                Observation::Count {
                    events: e,
                    exposure: t,
                },
            ) => {
                if !(t.is_finite() && t > 0.0) {
                    return Err(StatsError::Observation(
                        "exposure must be finite and positive",
                    ));
                }
                *n += 1;
                *events += e;
                *exposure += t;
            }
            _ => {
                return Err(StatsError::Observation(
                    "outcome kind does not match the model",
                ))
            }
        }
        Ok(())
    }

    /// Adds a summary of continuous data: `n` values with this mean and sample SD (divisor n − 1),
    /// merged exactly as if the values had been observed one by one.
    pub fn observe_summary(
        &mut self,
        n_new: u64,
        mean_new: f64,
        sd_new: f64,
    ) -> Result<(), StatsError> {
        let Self::Normal { n, mean, m2, .. } = self else {
            return Err(StatsError::Observation(
                "a mean/SD summary needs the normal model",
            ));
        };
        if n_new == 0 {
            return Ok(());
        }
        if !(mean_new.is_finite() && sd_new.is_finite() && sd_new >= 0.0) {
            return Err(StatsError::Observation(
                "summary mean and SD must be finite, SD ≥ 0",
            ));
        }
        let m2_new = sd_new * sd_new * (n_new as f64 - 1.0);
        let total = *n + n_new;
        let delta = mean_new - *mean;
        *mean += delta * n_new as f64 / total as f64;
        *m2 += m2_new + delta * delta * (*n as f64) * (n_new as f64) / total as f64;
        *n = total;
        Ok(())
    }

    /// Adds `successes` out of `trials` binary outcomes.
    pub fn observe_binomial(
        &mut self,
        new_successes: u64,
        new_trials: u64,
    ) -> Result<(), StatsError> {
        let Self::BetaBinomial {
            successes, trials, ..
        } = self
        else {
            return Err(StatsError::Observation(
                "successes/trials need the beta-binomial model",
            ));
        };
        if new_successes > new_trials {
            return Err(StatsError::Observation("successes cannot exceed trials"));
        }
        *successes += new_successes;
        *trials += new_trials;
        Ok(())
    }

    /// Outcomes observed so far.
    pub fn observations(&self) -> u64 {
        match self {
            Self::BetaBinomial { trials, .. } => *trials,
            Self::Normal { n, .. } => *n,
            Self::GammaPoisson { n, .. } => *n,
        }
    }

    /// Normal-Inverse-Gamma posterior parameters (normal model with a plain prior only; a
    /// mixture's are in [`Self::posterior_mixture_nig`]).
    pub fn nig_posterior(&self) -> Option<NigPosterior> {
        let Self::Normal { prior, n, mean, m2 } = *self else {
            return None;
        };
        Some(prior.as_single()?.posterior(n, mean, m2))
    }

    /// The posterior mixture of a normal model's (μ, σ²): components updated and reweighted.
    pub fn posterior_mixture_nig(&self) -> Option<Result<Mixture<NigPrior>, StatsError>> {
        let Self::Normal { prior, n, mean, m2 } = *self else {
            return None;
        };
        Some(prior.update(n, mean, m2))
    }

    /// The marginal posterior of θ: Beta for binary, Student-t (of the mean) for continuous,
    /// Gamma for counts.
    ///
    /// An error, never a default, when a parameter is not finite and positive: `observe`
    /// refuses the values that would make it so, but a model built or updated otherwise (or a
    /// numerics bug) must not turn into a uniform prior silently.
    ///
    /// With a mixture prior, the mixture of the components' posteriors with weights
    /// proportional to wₖ·mₖ(data), mₖ the component's marginal likelihood.
    pub fn posterior(&self) -> Result<Marginal, StatsError> {
        match *self {
            Self::BetaBinomial {
                prior,
                successes,
                trials,
            } => match prior.as_single() {
                Some(prior) => prior.update(successes, trials).marginal(),
                None => prior.update(successes, trials)?.marginal(),
            },
            Self::Normal { prior, n, mean, m2 } => match prior.as_single() {
                Some(prior) => {
                    let p = prior.posterior(n, mean, m2);
                    Marginal::student_t(2.0 * p.alpha, p.mu, (p.beta / (p.alpha * p.kappa)).sqrt())
                }
                None => prior.update(n, mean, m2)?.marginal(),
            },
            Self::GammaPoisson {
                prior,
                events,
                exposure,
                ..
            } => match prior.as_single() {
                Some(prior) => prior.update(events, exposure).marginal(),
                None => prior.update(events, exposure)?.marginal(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posterior_that_is_not_finite_is_an_error_not_a_uniform_prior() {
        let prior = GammaPrior {
            shape: 1.0,
            rate: 1.0,
        };
        let overflowed = ConjugateModel::GammaPoisson {
            prior: Mixture::single(prior).unwrap_or_else(|e| panic!("{e}")),
            n: 1,
            events: 1,
            exposure: f64::INFINITY,
        };
        assert!(matches!(
            overflowed.posterior(),
            Err(StatsError::Parameter { .. })
        ));
        let normal = ConjugateModel::Normal {
            prior: Mixture::single(NigPrior {
                mu0: 0.0,
                kappa0: 1.0,
                alpha0: 1.0,
                beta0: 1.0,
            })
            .unwrap_or_else(|e| panic!("{e}")),
            n: 2,
            mean: f64::NAN,
            m2: 1.0,
        };
        assert!(normal.posterior().is_err());
        let fine = ConjugateModel::gamma_poisson(prior).unwrap_or_else(|e| panic!("{e}"));
        assert!(fine.posterior().is_ok());
    }

    #[test]
    fn values_that_would_overflow_the_posterior_are_refused_and_change_nothing() {
        let mut normal = ConjugateModel::normal(NigPrior {
            mu0: 0.0,
            kappa0: 1.0,
            alpha0: 1.0,
            beta0: 1.0,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        normal
            .observe(Observation::Continuous(2.0))
            .unwrap_or_else(|e| panic!("{e}"));
        let before = normal;
        for huge in [1e200, -1e200, 1e155] {
            assert!(
                normal.observe(Observation::Continuous(huge)).is_err(),
                "{huge}"
            );
            assert_eq!(normal, before, "{huge} left the model unchanged");
        }
        let mut counts = ConjugateModel::gamma_poisson(GammaPrior {
            shape: 1.0,
            rate: 1.0,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        counts
            .observe(Observation::Count {
                events: 1,
                exposure: 1e308,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let before = counts;
        assert!(counts
            .observe(Observation::Count {
                events: 1,
                exposure: 1e308
            })
            .is_err());
        assert_eq!(counts, before);
    }

    #[test]
    fn normal_update_matches_the_textbook_formulas() -> Result<(), StatsError> {
        let prior = NigPrior {
            mu0: 1.0,
            kappa0: 2.0,
            alpha0: 3.0,
            beta0: 4.0,
        };
        let mut model = ConjugateModel::normal(prior)?;
        let data = [2.0, 3.5, -1.0, 0.25];
        for x in data {
            model.observe(Observation::Continuous(x))?;
        }
        let p = model.nig_posterior().ok_or(StatsError::NoArms)?;
        let n = 4.0;
        let mean: f64 = data.iter().sum::<f64>() / n;
        let ss: f64 = data.iter().map(|x| (x - mean).powi(2)).sum();
        assert!((p.kappa - 6.0).abs() < 1e-12);
        assert!((p.mu - (2.0 * 1.0 + n * mean) / 6.0).abs() < 1e-12);
        assert!((p.alpha - 5.0).abs() < 1e-12);
        let beta = 4.0 + 0.5 * ss + 2.0 * n * (mean - 1.0).powi(2) / (2.0 * 6.0);
        assert!((p.beta - beta).abs() < 1e-12);
        // A summary gives the same posterior as the raw values.
        let sd = (ss / (n - 1.0)).sqrt();
        let mut summary = ConjugateModel::normal(prior)?;
        summary.observe_summary(4, mean, sd)?;
        let q = summary.nig_posterior().ok_or(StatsError::NoArms)?;
        assert!((q.beta - p.beta).abs() < 1e-12 && (q.mu - p.mu).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn wrong_kind_is_rejected_and_changes_nothing() -> Result<(), StatsError> {
        let mut model = ConjugateModel::beta_binomial(BetaPrior { a: 1.0, b: 1.0 })?;
        let before = model;
        assert!(model.observe(Observation::Continuous(1.0)).is_err());
        assert_eq!(model, before);
        Ok(())
    }
}
