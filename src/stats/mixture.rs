//! Mixture priors: a prior that is a weighted sum of conjugate components of one family.
//!
//! A [`Mixture`] holds between 1 and [`MAX_COMPONENTS`] components inline (no allocation, so it
//! stays `Copy` like the plain priors). It can only be built from valid parts: every weight finite
//! and positive, the weights summing to 1 within [`WEIGHT_TOLERANCE`] (they are then rescaled to
//! sum to 1 exactly), every component valid for its family. Errors name the component by its
//! 1-based position, as a statistician counts them in a protocol or on the command line.
//!
//! Formulas (posterior reweighting by marginal likelihoods, effective sample sizes) are in
//! `METHODS.md`, "Mixture priors".

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{BetaPrior, GammaPrior, Marginal, NigPrior, StatsError};

/// The largest number of components a mixture holds (a 4–5 component MAP prior plus a robust
/// component fits with room to spare).
pub const MAX_COMPONENTS: usize = 8;

/// How far the given weights' sum may be from 1 before the mixture is refused.
pub const WEIGHT_TOLERANCE: f64 = 1e-6;

/// A conjugate component: a plain prior of one family that can check itself.
pub trait Component: Copy + PartialEq + std::fmt::Debug {
    /// The family's name, for messages ("beta", "gamma", "normal_inverse_gamma").
    const FAMILY: &'static str;
    /// `Ok` when every parameter is finite and in range, else the parameter that is not.
    fn check(&self) -> Result<(), StatsError>;
}

/// A component the decision quadrature can integrate: a conjugate prior (or posterior) of an
/// arm's parameter θ.
pub trait ArmComponent: Component {
    /// The component as a distribution of the arm's parameter θ (for Normal-Inverse-Gamma, the
    /// Student-t marginal of the mean).
    fn marginal(&self) -> Result<Marginal, StatsError>;
}

fn finite_positive(name: &'static str, value: f64) -> Result<(), StatsError> {
    super::positive(name, value).map(|_| ())
}

impl Component for BetaPrior {
    const FAMILY: &'static str = "beta";
    fn check(&self) -> Result<(), StatsError> {
        finite_positive("a", self.a)?;
        finite_positive("b", self.b)
    }
}

impl ArmComponent for BetaPrior {
    fn marginal(&self) -> Result<Marginal, StatsError> {
        Marginal::beta(self.a, self.b)
    }
}

impl Component for GammaPrior {
    const FAMILY: &'static str = "gamma";
    fn check(&self) -> Result<(), StatsError> {
        finite_positive("shape", self.shape)?;
        finite_positive("rate", self.rate)
    }
}

impl ArmComponent for GammaPrior {
    fn marginal(&self) -> Result<Marginal, StatsError> {
        Marginal::gamma(self.shape, self.rate)
    }
}

impl Component for NigPrior {
    const FAMILY: &'static str = "normal_inverse_gamma";
    fn check(&self) -> Result<(), StatsError> {
        if !self.mu0.is_finite() {
            return Err(StatsError::Parameter {
                name: "mu0",
                value: self.mu0,
            });
        }
        finite_positive("kappa0", self.kappa0)?;
        finite_positive("alpha0", self.alpha0)?;
        finite_positive("beta0", self.beta0)
    }
}

impl ArmComponent for NigPrior {
    fn marginal(&self) -> Result<Marginal, StatsError> {
        Marginal::student_t(
            2.0 * self.alpha0,
            self.mu0,
            (self.beta0 / (self.alpha0 * self.kappa0)).sqrt(),
        )
    }
}

/// A validated mixture of `C` components with weights summing to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mixture<C: Component> {
    len: usize,
    weights: [f64; MAX_COMPONENTS],
    components: [C; MAX_COMPONENTS],
}

impl<C: Component> Mixture<C> {
    /// A mixture of `(weight, component)` parts; see the module documentation for the rules.
    pub fn new(parts: &[(f64, C)]) -> Result<Self, StatsError> {
        let first = parts.first().ok_or(StatsError::NoComponents)?;
        if parts.len() > MAX_COMPONENTS {
            return Err(StatsError::TooManyComponents {
                got: parts.len(),
                max: MAX_COMPONENTS,
            });
        }
        let mut weights = [0.0; MAX_COMPONENTS];
        let mut components = [first.1; MAX_COMPONENTS];
        let mut sum = 0.0;
        for (index, &(weight, component)) in parts.iter().enumerate() {
            if !(weight.is_finite() && weight > 0.0) {
                return Err(StatsError::MixtureWeight {
                    component: index + 1,
                    value: weight,
                });
            }
            component
                .check()
                .map_err(|cause| StatsError::MixtureComponent {
                    component: index + 1,
                    cause: Box::new(cause),
                })?;
            weights[index] = weight;
            components[index] = component;
            sum += weight;
        }
        if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
            return Err(StatsError::MixtureWeights { sum });
        }
        weights[..parts.len()].iter_mut().for_each(|w| *w /= sum);
        Ok(Self {
            len: parts.len(),
            weights,
            components,
        })
    }

    /// The one-component mixture of a valid plain prior.
    pub fn single(component: C) -> Result<Self, StatsError> {
        Self::new(&[(1.0, component)])
    }

    /// Number of components (at least 1).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mixture has at least one component (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The weights, summing to 1.
    pub fn weights(&self) -> &[f64] {
        &self.weights[..self.len]
    }

    /// The components, in the order given.
    pub fn components(&self) -> &[C] {
        &self.components[..self.len]
    }

    /// `(weight, component)` pairs in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (f64, C)> + '_ {
        self.weights()
            .iter()
            .copied()
            .zip(self.components().iter().copied())
    }

    /// The only component, when there is exactly one.
    pub fn as_single(&self) -> Option<C> {
        (self.len == 1).then_some(self.components[0])
    }
}

impl Mixture<BetaPrior> {
    /// The posterior mixture after `successes` out of `trials`: each component updated, its
    /// weight multiplied by its Beta-binomial marginal likelihood (see [`BetaPrior`]'s
    /// `ln_marginal_likelihood`) and the weights renormalised.
    pub fn update(&self, successes: u64, trials: u64) -> Result<Self, StatsError> {
        self.reweighted(|c| {
            (
                c.update(successes, trials),
                c.ln_marginal_likelihood(successes, trials),
            )
        })
    }
}

impl Mixture<GammaPrior> {
    /// The posterior mixture after `events` over `exposure`: each component updated and
    /// reweighted by its Gamma-Poisson marginal likelihood.
    pub fn update(&self, events: u64, exposure: f64) -> Result<Self, StatsError> {
        self.reweighted(|c| {
            (
                c.update(events, exposure),
                c.ln_marginal_likelihood(events, exposure),
            )
        })
    }
}

impl Mixture<NigPrior> {
    /// The posterior mixture after `n` values with this mean and sum of squared deviations
    /// `m2`: each component updated and reweighted by its Normal-Inverse-Gamma marginal
    /// likelihood.
    pub fn update(&self, n: u64, mean: f64, m2: f64) -> Result<Self, StatsError> {
        self.reweighted(|c| {
            let posterior = c.posterior(n, mean, m2);
            (
                NigPrior {
                    mu0: posterior.mu,
                    kappa0: posterior.kappa,
                    alpha0: posterior.alpha,
                    beta0: posterior.beta,
                },
                c.ln_marginal_likelihood(n, posterior),
            )
        })
    }
}

impl<C: Component> Mixture<C> {
    /// The mixture of the updated components, weights multiplied by exp(log marginal
    /// likelihood) in log space and renormalised; components whose weight underflows to 0 are
    /// dropped (at least the most likely one stays).
    fn reweighted(&self, update: impl Fn(&C) -> (C, f64)) -> Result<Self, StatsError> {
        let mut parts = [(0.0, self.components[0]); MAX_COMPONENTS];
        let mut top = f64::NEG_INFINITY;
        for (k, part) in parts.iter_mut().enumerate().take(self.len) {
            let (component, ln_likelihood) = update(&self.components[k]);
            let ln_weight = self.weights[k].ln() + ln_likelihood;
            if !ln_weight.is_finite() && ln_weight != f64::NEG_INFINITY {
                return Err(StatsError::Observation(
                    "a mixture component's marginal likelihood is not finite",
                ));
            }
            *part = (ln_weight, component);
            top = top.max(ln_weight);
        }
        if !top.is_finite() {
            return Err(StatsError::Observation(
                "no mixture component has a positive marginal likelihood",
            ));
        }
        let total: f64 = parts[..self.len]
            .iter()
            .map(|(ln_w, _)| (ln_w - top).exp())
            .sum();
        let mut kept = 0;
        for k in 0..self.len {
            let weight = (parts[k].0 - top).exp() / total;
            if weight > 0.0 {
                parts[kept] = (weight, parts[k].1);
                kept += 1;
            }
        }
        Self::new(&parts[..kept])
    }
}

impl<C: ArmComponent> Mixture<C> {
    /// The mixture's density at θ, Σ wₖ pₖ(θ) (the components as marginals of θ: Beta, Gamma,
    /// or the Student-t of the mean for Normal-Inverse-Gamma).
    pub fn density(&self, theta: f64) -> Result<f64, StatsError> {
        Ok(self.marginal()?.density(theta))
    }

    /// The mixture as a marginal of θ, for the quadrature (one component gives the plain
    /// marginal).
    pub fn marginal(&self) -> Result<Marginal, StatsError> {
        let mut parts = [(0.0, C::marginal(&self.components[0])?); MAX_COMPONENTS];
        for (k, part) in parts.iter_mut().enumerate().take(self.len) {
            *part = (self.weights[k], C::marginal(&self.components[k])?);
        }
        Marginal::mixture(&parts[..self.len])
    }
}

#[derive(Serialize, Deserialize)]
struct Part<C> {
    weight: f64,
    #[serde(flatten)]
    component: C,
}

impl<C: Component + std::fmt::Display> std::fmt::Display for Mixture<C> {
    /// One component as itself ("Beta(1, 1)"); a mixture as its weighted sum
    /// ("0.8 × Beta(12.3, 55.9) + 0.2 × Beta(1, 1)").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let [only] = self.components() {
            return write!(f, "{only}");
        }
        for (i, (w, c)) in self.iter().enumerate() {
            if i > 0 {
                write!(f, " + ")?;
            }
            write!(f, "{w} × {c}")?;
        }
        Ok(())
    }
}

impl<C: Component + Serialize> Serialize for Mixture<C> {
    /// A list of `{"weight": w, …component's fields}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.iter()
                .map(|(weight, component)| Part { weight, component }),
        )
    }
}

impl<'de, C: Component + Deserialize<'de>> Deserialize<'de> for Mixture<C> {
    /// The list [`Serialize`] writes, validated again (a stored mixture is checked like a new one).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parts: Vec<Part<C>> = Vec::deserialize(deserializer)?;
        let parts: Vec<(f64, C)> = parts.into_iter().map(|p| (p.weight, p.component)).collect();
        Self::new(&parts).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beta(a: f64, b: f64) -> BetaPrior {
        BetaPrior { a, b }
    }

    #[test]
    fn weights_are_rescaled_to_sum_to_one_exactly() -> Result<(), StatsError> {
        let m = Mixture::new(&[(0.8, beta(12.3, 55.9)), (0.2000004, beta(1.0, 1.0))])?;
        assert_eq!(m.len(), 2);
        assert!((m.weights().iter().sum::<f64>() - 1.0).abs() < 1e-15);
        Ok(())
    }

    #[test]
    fn bad_parts_are_refused_with_the_component_named() {
        assert_eq!(
            Mixture::new(&[(0.5, beta(1.0, 1.0)), (0.4, beta(2.0, 2.0))]),
            Err(StatsError::MixtureWeights { sum: 0.9 })
        );
        assert!(matches!(
            Mixture::new(&[(0.5, beta(1.0, 1.0)), (0.5, beta(0.0, 2.0))]),
            Err(StatsError::MixtureComponent { component: 2, .. })
        ));
        assert!(matches!(
            Mixture::new(&[(-0.5, beta(1.0, 1.0)), (1.5, beta(1.0, 2.0))]),
            Err(StatsError::MixtureWeight { component: 1, .. })
        ));
        assert_eq!(
            Mixture::<BetaPrior>::new(&[]),
            Err(StatsError::NoComponents)
        );
        let many = [(1.0 / 9.0, beta(1.0, 1.0)); 9];
        assert_eq!(
            Mixture::new(&many),
            Err(StatsError::TooManyComponents { got: 9, max: 8 })
        );
    }

    #[test]
    fn serialises_as_a_list_of_weighted_components() -> Result<(), Box<dyn std::error::Error>> {
        let m = Mixture::new(&[(0.25, beta(1.0, 3.0)), (0.75, beta(2.0, 2.0))])?;
        assert_eq!(
            serde_json::to_string(&m)?,
            r#"[{"weight":0.25,"a":1.0,"b":3.0},{"weight":0.75,"a":2.0,"b":2.0}]"#
        );
        Ok(())
    }
}
