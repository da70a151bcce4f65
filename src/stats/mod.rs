//! Numerics only: conjugate posteriors and the decision probabilities computed from them, and the
//! n-of-1 analyses ([`nof1`]: one patient's effects, the hierarchical model of a series), with
//! the special functions (`special`) and root finders (`roots`) they share: one implementation
//! of each, here.
//!
//! Nothing here knows about trials, protocols, events, files or the web. Every formula is written
//! down in `METHODS.md` with its reference.

pub mod borrow;
mod conjugate;
pub mod ess;
mod legendre16;
mod log_sum;
pub mod map;
pub mod map_fit;
mod marginal;
pub mod mixture;
pub mod nof1;
pub mod predictive;
mod quadrature;
pub(crate) mod roots;
pub(crate) mod special;
mod summary;

pub use conjugate::{BetaPrior, ConjugateModel, GammaPrior, NigPosterior, NigPrior, Observation};
pub use ess::{
    beta_moments, ess_beta, ess_gamma, ess_normal, normal_moments, EssMethod, NormalComponent,
};
pub use map::{
    BinaryStudy, HierarchicalPriors, Link, MapPredictive, NormalStudy, Summary, MAX_HISTORICAL,
};
pub use map_fit::{robust_normal, robustify, MapFit, AIC_SAMPLE_SIZE, MAX_FITTED, ROBUST_BETA};
pub use marginal::{Marginal, Shape};
pub use mixture::{ArmComponent, Component, Mixture, MAX_COMPONENTS};
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
    /// A combination of strata asked without a fit to combine, or with weights that are not one
    /// finite, non-negative weight per stratum summing to 1.
    #[error("combination of strata: {problem}")]
    Combination {
        /// What is wrong.
        problem: String,
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
    /// A mixture given as a component of another mixture.
    #[error("mixture component {component} is itself a mixture; give its components instead")]
    NestedMixture {
        /// The component's 1-based position.
        component: usize,
    },
    /// The ELIR effective sample size is not defined: a shape parameter below 1 makes its
    /// integral diverge at the boundary.
    #[error("mixture component {component}: {name} = {value} is below 1, where the ELIR effective sample size diverges (use --method moment or morita, or fit with shapes of at least 1)")]
    ElirUndefined {
        /// The component's 1-based position.
        component: usize,
        /// Which shape parameter.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A meta-analysis without historical studies.
    #[error("no historical studies: at least one is needed")]
    NoStudies,
    /// More historical studies than supported.
    #[error("{got} historical studies given; at most {max} are supported")]
    TooManyStudies {
        /// Studies given.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A historical study without participants.
    #[error("study {study}: n = 0; every study needs at least one participant")]
    EmptyStudy {
        /// The study's 1-based position.
        study: usize,
    },
    /// A historical study with more responders than participants.
    #[error("study {study}: responders = {responders} exceeds n = {n}")]
    Responders {
        /// The study's 1-based position.
        study: usize,
        /// Responders given.
        responders: u64,
        /// Participants given.
        n: u64,
    },
    /// A historical study's mean or standard error that is not valid (finite; SE positive).
    #[error("study {study}: {name} = {value} must be finite (and positive for se)")]
    StudyValue {
        /// The study's 1-based position.
        study: usize,
        /// Which value.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A number of mixture components to fit outside 1..=max.
    #[error("{got} components asked; fit between 1 and {max} (one slot is kept for the robust component)")]
    FitComponents {
        /// Components asked.
        got: usize,
        /// The most that can be fitted.
        max: usize,
    },
    /// A robust weight outside (0, 1).
    #[error("robust weight {value} must lie strictly between 0 and 1")]
    RobustWeight {
        /// The weight given.
        value: f64,
    },
    /// No strata were given to a borrowing model.
    #[error("at least one stratum is needed")]
    NoStrata,
    /// More strata than a borrowing model supports.
    #[error("{got} strata given; at most {max} are supported")]
    TooManyStrata {
        /// Strata given.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A binary stratum with more responders than participants.
    #[error("stratum {stratum}: {responders} responders out of {n} participants (responders must not exceed n)")]
    StratumResponders {
        /// The stratum's 1-based position.
        stratum: usize,
        /// Responders given.
        responders: u64,
        /// Participants given.
        n: u64,
    },
    /// A binary stratum whose size is 0 or beyond the bound.
    #[error("stratum {stratum}: n = {n} must be between 1 and {max}")]
    StratumSize {
        /// The stratum's 1-based position.
        stratum: usize,
        /// The size given.
        n: u64,
        /// The bound.
        max: u64,
    },
    /// A normal stratum whose mean is not finite or whose standard error is not finite and
    /// positive.
    #[error("stratum {stratum}: {field} = {value} must be finite (and positive for se)")]
    StratumValue {
        /// The stratum's 1-based position.
        stratum: usize,
        /// `mean` or `se`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A prior probability of exchangeability outside [0, 1].
    #[error("stratum {stratum}: exchangeability weight {value} must lie in [0, 1]")]
    ExchangeWeight {
        /// The stratum's 1-based position.
        stratum: usize,
        /// The weight given.
        value: f64,
    },
    /// Per-stratum exchangeability weights whose count differs from the strata's.
    #[error("{got} exchangeability weights for {expected} strata")]
    ExchangeWeights {
        /// Weights given.
        got: usize,
        /// Strata given.
        expected: usize,
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
