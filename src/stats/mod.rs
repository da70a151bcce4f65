//! Numerics only: conjugate posteriors and the decision probabilities computed from them, and the
//! n-of-1 analyses ([`nof1`]: one patient's effects, the hierarchical model of a series), with
//! the special functions (`special`) and root finders (`roots`) they share: one implementation
//! of each, here.
//!
//! Nothing here knows about trials, protocols, events, files or the web. Every formula is written
//! down in `METHODS.md` with its reference.

mod conjugate;
mod marginal;
pub mod mixture;
pub mod nof1;
pub mod predictive;
mod quadrature;
pub(crate) mod roots;
pub(crate) mod special;
mod summary;

pub use conjugate::{BetaPrior, ConjugateModel, GammaPrior, NigPosterior, NigPrior, Observation};
pub use marginal::{Marginal, Shape};
pub use mixture::{Component, Mixture, MAX_COMPONENTS};
pub use nof1::{
    analyse_patient, pool_series, EffectOptions, EffectPosterior, EmpiricalBayes, Nof1Observation,
    Nof1Prior, PatientEffect, PopulationEffect, SeriesOptions, SeriesPosterior, ShrunkenEffect,
    TComponent, TauSummary,
};
pub use quadrature::{Quadrature, MAX_ARMS, PANEL_WIDTH, TAIL_DROP};
pub use summary::PosteriorSummary;

use serde::{Deserialize, Serialize};

/// Errors from the numerics: always a caller's invalid argument, never a convergence failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A distribution parameter is not finite or out of range.
    #[error("parameter {name} = {value} must be finite and positive")]
    Parameter {
        /// Which parameter.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A margin δ is not valid for the quantity asked.
    #[error("margin delta = {value} is not valid here (it must be finite, and positive for equivalence)")]
    Delta {
        /// The value given.
        value: f64,
    },
    /// A probability outside (0, 1).
    #[error("probability {value} must lie strictly between 0 and 1")]
    Probability {
        /// The value given.
        value: f64,
    },
    /// No arms were given.
    #[error("at least one arm is needed")]
    NoArms,
    /// More arms than one evaluation supports.
    #[error("{got} arms given; at most {max} are supported")]
    TooManyArms {
        /// Arms given.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Arms of different families cannot be compared.
    #[error("cannot compare a {first} arm with a {other} arm")]
    MixedFamilies {
        /// Family of the first arm.
        first: &'static str,
        /// Family of the offending arm.
        other: &'static str,
    },
    /// An observation the model cannot take.
    #[error("invalid observation: {0}")]
    Observation(&'static str),
    /// An n-of-1 analysis needs at least two treatments to contrast.
    #[error("{got} treatments given; a contrast needs at least 2")]
    Treatments {
        /// Treatments given.
        got: usize,
    },
    /// An observation names a treatment beyond the number of treatments.
    #[error("treatment index {index} is out of range for {treatments} treatments")]
    TreatmentIndex {
        /// The index given.
        index: usize,
        /// The number of treatments.
        treatments: usize,
    },
    /// A treatment without observations, which the flat prior cannot take.
    #[error("treatment {treatment} has no observations; the flat prior needs at least one per treatment")]
    Unobserved {
        /// The treatment's index.
        treatment: usize,
    },
    /// Too few observations for the model.
    #[error(
        "{got} observations; the flat prior needs at least {needed} (more than the treatments)"
    )]
    TooFewObservations {
        /// Observations given.
        got: usize,
        /// Observations needed.
        needed: usize,
    },
    /// Two observations on the same day, which AR(1) errors in days cannot order.
    #[error("two observations on day {day}; with AR(1) errors each day may hold one (average them first)")]
    SameDay {
        /// The day.
        day: u32,
    },
    /// A mixture with no components.
    #[error("a mixture needs at least one component")]
    NoComponents,
    /// A mixture with more components than supported.
    #[error("{got} mixture components given; at most {max} are supported")]
    TooManyComponents {
        /// Components given.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A mixture weight that is not finite and positive.
    #[error("mixture component {component}: weight {value} must be finite and positive")]
    MixtureWeight {
        /// The component's 1-based position.
        component: usize,
        /// The weight given.
        value: f64,
    },
    /// Mixture weights that do not sum to 1.
    #[error("mixture weights sum to {sum}, not 1")]
    MixtureWeights {
        /// The sum of the weights given.
        sum: f64,
    },
    /// A mixture component with an invalid parameter.
    #[error("mixture component {component}: {cause}")]
    MixtureComponent {
        /// The component's 1-based position.
        component: usize,
        /// What is wrong with it.
        #[source]
        cause: Box<StatsError>,
    },
    /// The output slice has the wrong length.
    #[error("output has {got} slots for {expected} arms")]
    OutputLength {
        /// Arms given.
        expected: usize,
        /// Slots given.
        got: usize,
    },
    /// More successes than patients in an arm's data.
    #[error("{successes} successes of {patients} patients: successes cannot exceed patients")]
    Successes {
        /// Successes given.
        successes: u64,
        /// Patients given.
        patients: u64,
    },
    /// More patients observed than the trial's maximum size.
    #[error("{patients} patients observed, but the trial's maximum is {maximum}")]
    BeyondMaximum {
        /// Patients observed.
        patients: u64,
        /// The trial's maximum size.
        maximum: u64,
    },
    /// A sample size above what one calculation accepts.
    #[error("sample size {got} is above the limit of {max}")]
    SampleSize {
        /// The size given.
        got: u64,
        /// The limit.
        max: u64,
    },
}

/// `value` when it is finite and positive, else the error naming the parameter.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(StatsError::Parameter { name, value })
    }
}

/// Which direction of an arm's parameter is better for participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Larger values are better (response rates, scores where high is good).
    #[default]
    Higher,
    /// Smaller values are better (event rates, pain scores).
    Lower,
}

impl std::str::FromStr for Better {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "higher" => Ok(Self::Higher),
            "lower" => Ok(Self::Lower),
            other => Err(format!("{other:?} is not a direction: use higher or lower")),
        }
    }
}
