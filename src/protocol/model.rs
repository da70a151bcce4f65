//! The validated protocol: the types every later layer reads.
//!
//! A value of these types has passed every check in [`Protocol::from_toml`]; the engine and the
//! simulator rely on that and never re-check. Nothing here knows about TOML, files or spans.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::precision::{Precision, ScenarioStrata};
use crate::stats::{BetaPrior, Better, GammaPrior, Mixture, NigPrior};

/// An arm identifier: 1 to 64 characters of ASCII letters, digits, `-` and `_`. Shared, so that
/// the many events naming an arm clone it cheaply.
#[derive(Debug, Clone, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArmId(Arc<str>);

impl std::hash::Hash for ArmId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for ArmId {
    fn eq(&self, other: &Self) -> bool {
        // Clones of one id share their text: compare the pointer before the bytes.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl ArmId {
    /// Whether both are clones of one id (the same text in memory): a fast test that is
    /// true only for equal ids, and may be false for equal ids parsed separately.
    pub fn shares_text(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Parses an arm identifier, explaining what is wrong when it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > 64 {
            return Err(format!("arm id {text:?} must have 1 to 64 characters"));
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "arm id {text:?} may only contain ASCII letters, digits, '-' and '_'"
            ));
        }
        Ok(Self(Arc::from(text)))
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Documented as the string it is serialised as, with the bounds [`ArmId::parse`] enforces.
impl utoipa::PartialSchema for ArmId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An arm identifier: 1 to 64 ASCII letters, digits, `-` and `_`.",
            ))
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some("^[A-Za-z0-9_-]{1,64}$"))
            .into()
    }
}

impl utoipa::ToSchema for ArmId {}

impl TryFrom<String> for ArmId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ArmId> for String {
    fn from(value: ArmId) -> Self {
        value.0.to_string()
    }
}

impl fmt::Display for ArmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Design {
    /// Multi-arm platform trial, possibly with a shared control.
    Platform,
    /// Single-patient multiple-crossover trial (and series of them).
    Nof1,
}

/// The kind of primary outcome, which fixes the conjugate model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Success / failure; Beta-Binomial model.
    Binary,
    /// A real-valued measurement; Normal model with unknown variance.
    Continuous,
    /// Event counts over an exposure; Gamma-Poisson model.
    Count,
}

/// The `[trial]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialSpec {
    /// Protocol identifier, e.g. `PLAT-2026-01`.
    pub id: String,
    /// Human-readable title.
    pub title: String,
    /// Platform or n-of-1.
    pub design: Design,
    /// The trial stops when this many participants have been enrolled.
    pub max_participants: u32,
    /// Coordinators see a kit code instead of the arm (the assignment is concealed from the
    /// site; statisticians and the DMC see the arm).
    pub blinded: bool,
}

/// The `[outcome]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeSpec {
    /// Binary, continuous or count.
    pub kind: OutcomeKind,
    /// Name shown to users.
    pub name: String,
    /// Which direction of the parameter is better for the participant.
    pub better: Better,
    /// Smallest admissible recorded value (continuous and count outcomes).
    pub min: Option<f64>,
    /// Largest admissible recorded value (continuous and count outcomes).
    pub max: Option<f64>,
    /// Binary outcomes: the two values in the outcome's own words (`[outcome] labels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BinaryLabels>,
}

/// The words for the two values of a binary outcome (`labels = { response, no_response }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryLabels {
    /// The value 1 (a response).
    pub response: String,
    /// The value 0 (no response).
    pub no_response: String,
}

impl OutcomeSpec {
    /// A binary value in the outcome's own words: the protocol's labels, or "response" and
    /// "no response" when it gives none.
    pub fn binary_label(&self, response: bool) -> &str {
        match (&self.labels, response) {
            (Some(labels), true) => &labels.response,
            (Some(labels), false) => &labels.no_response,
            (None, true) => "response",
            (None, false) => "no response",
        }
    }
}

/// A conjugate prior for one arm's parameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "a mixture prior is held inline so that a prior stays Copy, like the models built from it"
)]
pub enum Prior {
    /// Beta(a, b) for a response probability.
    Beta {
        /// First shape (prior successes).
        a: f64,
        /// Second shape (prior failures).
        b: f64,
    },
    /// Normal-Inverse-Gamma(mu0, kappa0, alpha0, beta0) for (mean, variance).
    NormalInverseGamma {
        /// Prior mean.
        mu0: f64,
        /// Prior pseudo-observations for the mean.
        kappa0: f64,
        /// Inverse-Gamma shape of the variance.
        alpha0: f64,
        /// Inverse-Gamma scale of the variance.
        beta0: f64,
    },
    /// Gamma(shape, rate) for an event rate per unit exposure.
    Gamma {
        /// Shape (prior events).
        shape: f64,
        /// Rate (prior exposure).
        rate: f64,
    },
    /// A mixture of priors of one family (a robust MAP prior, say), written
    /// `{"mixture": {"beta": [{"weight": …, "a": …, "b": …}, …]}}`.
    Mixture(PriorMixture),
}

impl PriorMixture {
    /// `(weight, plain prior)` of every component, in the order given.
    pub fn parts(&self) -> Vec<(f64, Prior)> {
        match self {
            Self::Beta(m) => m
                .iter()
                .map(|(w, c)| (w, Prior::Beta { a: c.a, b: c.b }))
                .collect(),
            Self::NormalInverseGamma(m) => m
                .iter()
                .map(|(w, c)| {
                    (
                        w,
                        Prior::NormalInverseGamma {
                            mu0: c.mu0,
                            kappa0: c.kappa0,
                            alpha0: c.alpha0,
                            beta0: c.beta0,
                        },
                    )
                })
                .collect(),
            Self::Gamma(m) => m
                .iter()
                .map(|(w, c)| {
                    (
                        w,
                        Prior::Gamma {
                            shape: c.shape,
                            rate: c.rate,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The components of a mixture prior, all of one family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorMixture {
    /// Beta components, for a response probability.
    Beta(Mixture<BetaPrior>),
    /// Normal-Inverse-Gamma components, for (mean, variance).
    NormalInverseGamma(Mixture<NigPrior>),
    /// Gamma components, for an event rate.
    Gamma(Mixture<GammaPrior>),
}

/// One `[[arm]]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmSpec {
    /// Identifier used in events, URLs and exports.
    pub id: ArmId,
    /// Name shown to unblinded users.
    pub name: String,
    /// Whether this is the (single) control arm.
    pub control: bool,
    /// Prior for this arm (the protocol default unless overridden).
    pub prior: Prior,
    /// The arm opens once this many participants have been enrolled (`None`: open from the start).
    pub opens_at: Option<u32>,
    /// Fixed-allocation weight used during burn-in and by `rule = "fixed"` (default 1).
    pub ratio: u32,
}

/// The exponent applied to P(best) in adaptive allocation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Power {
    /// A constant exponent in (0, ∞); 1 is plain Thompson sampling probabilities.
    Constant(f64),
    /// Thall & Wathen's n/(2N): current enrolment over twice the maximum.
    HalfInformation,
}

/// How the control arm's allocation share is set once allocation is adaptive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlShare {
    /// The control competes like any other arm (P(best) includes it).
    None,
    /// A fixed share in (0, 1).
    Fixed(f64),
    /// 1/(sqrt(k)+1) relative weighting: control weight sqrt(k) against k active arms.
    SqrtK,
    /// The control gets the largest share given to any experimental arm.
    MatchBest,
}

/// The allocation rule after burn-in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationRule {
    /// Fixed ratios (arm `ratio`) with permuted blocks throughout.
    Fixed,
    /// Response-adaptive: P(best)^power, renormalised and clamped.
    Thompson {
        /// Exponent on P(best).
        power: Power,
        /// Control share, meaningful only when the protocol has a control.
        control: ControlShare,
    },
}

/// The `[allocation]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllocationSpec {
    /// Fixed or adaptive.
    pub rule: AllocationRule,
    /// Lower bound on any active arm's probability once adaptive.
    pub min: f64,
    /// Upper bound on any active arm's probability once adaptive.
    pub max: f64,
    /// Participants randomised by fixed ratios before adaptation starts.
    pub burn_in: u32,
    /// Permuted block size as a multiple of the sum of the ratios (default 1).
    pub block_multiple: u32,
}

/// Which control participants a later-opened arm is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlsPolicy {
    /// Only controls randomised while the arm was open (default).
    Concurrent,
    /// All controls.
    All,
}

/// The `[analysis]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisSpec {
    /// Look thresholds: counts of participants with outcome data, strictly increasing.
    pub looks: Vec<u32>,
    /// Concurrent or all controls for arms added mid-trial.
    pub controls: ControlsPolicy,
}

/// A decision threshold: one value, or one per look (the last repeats for later looks).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Threshold {
    /// The same value at every look.
    Constant(f64),
    /// Value at look 1, 2, …; looks past the end use the last value.
    PerLook(Vec<f64>),
}

impl Threshold {
    /// The threshold at the given look (0-based).
    pub fn at(&self, look_index: usize) -> f64 {
        match self {
            Self::Constant(v) => *v,
            Self::PerLook(values) => values
                .get(look_index)
                .or_else(|| values.last())
                .copied()
                .unwrap_or(f64::NAN),
        }
    }

    /// Every value the threshold can take.
    pub fn values(&self) -> &[f64] {
        match self {
            Self::Constant(v) => std::slice::from_ref(v),
            Self::PerLook(values) => values,
        }
    }
}

/// A rule comparing with a margin `delta` against a threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginRule {
    /// The margin on the parameter's scale (≥ 0).
    pub delta: f64,
    /// The probability threshold.
    pub threshold: Threshold,
}

/// The `[decision]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionSpec {
    /// Declare superiority above this probability.
    pub superiority: Option<Threshold>,
    /// Drop an arm below this probability.
    pub inferiority: Option<Threshold>,
    /// Drop an arm when P(better than control by delta) is below the threshold (needs a control).
    pub futility: Option<MarginRule>,
    /// Equivalence: P(within delta) above the threshold.
    pub equivalence: Option<MarginRule>,
}

/// How an n-of-1 patient's treatment order is chosen in each cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nof1Sequence {
    /// Each cycle is AB or BA at random.
    Pairs,
    /// Balanced orders across cycles (ABBA …).
    Counterbalanced,
    /// Tempered Thompson sampling per cycle.
    Adaptive,
}

/// The `[nof1]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nof1Spec {
    /// Treatment labels, at least 2.
    pub treatments: Vec<String>,
    /// Number of cycles (each cycle gives every treatment once).
    pub cycles: u32,
    /// Days per treatment period.
    pub period_days: u32,
    /// Days of washout between periods.
    pub washout_days: u32,
    /// Days of run-in before the first period (excluded from analysis).
    pub run_in_days: u32,
    /// Measurements per period.
    pub measurements_per_period: u32,
    /// How treatment orders are chosen.
    pub sequence: Nof1Sequence,
    /// Minimal clinically important difference (≥ 0), on the outcome scale.
    pub mcid: f64,
    /// Stop early when P(effect beyond MCID) exceeds this.
    pub stop_benefit: Option<f64>,
    /// Stop early when P(|effect| < MCID) exceeds this.
    pub stop_equivalence: Option<f64>,
    /// Stopping rules apply only after this many cycles.
    pub min_cycles: u32,
    /// Model the residuals of a patient's measurements as AR(1) (autocorrelated diaries).
    pub ar1: bool,
    /// `adaptive` sequences: the exponent applied to P(treatment better) (tempering).
    pub power: f64,
    /// `adaptive` sequences: the smallest probability of either treatment in a period.
    pub min_probability: f64,
    /// Scale of the half-Cauchy prior on the between-patient SD τ of the series model.
    pub tau_scale: f64,
}

/// The distribution of the delay between randomisation and the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelaySpec {
    /// Always this many weeks.
    Fixed(f64),
    /// Exponential with this mean, in weeks.
    Exponential(f64),
    /// Uniform between the two values, in weeks.
    Uniform(f64, f64),
}

/// One `[[scenario]]`, used only by simulate and calibrate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Name used on the command line.
    pub name: String,
    /// True parameter per arm (response rate, mean, or event rate).
    pub truth: BTreeMap<ArmId, f64>,
    /// Residual SD for continuous outcomes.
    pub sd: Option<f64>,
    /// Mean participants enrolled per week.
    pub accrual_per_week: f64,
    /// Outcome delay.
    pub outcome_delay: DelaySpec,
    /// Probability a participant never gives an outcome.
    pub dropout: f64,
    /// Precision designs: each stratum's prevalence and each arm's truth per stratum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strata: Option<ScenarioStrata>,
}

/// A validated protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Protocol {
    /// `[trial]`.
    pub trial: TrialSpec,
    /// `[outcome]`.
    pub outcome: OutcomeSpec,
    /// `[[arm]]`, in file order; for n-of-1 designs one arm per treatment.
    pub arms: Vec<ArmSpec>,
    /// `[allocation]`.
    pub allocation: AllocationSpec,
    /// `[analysis]`.
    pub analysis: AnalysisSpec,
    /// `[decision]`.
    pub decision: DecisionSpec,
    /// `[nof1]`, present exactly when `design = "nof1"`.
    pub nof1: Option<Nof1Spec>,
    /// `[[scenario]]`.
    pub scenarios: Vec<Scenario>,
    /// The precision layer (`[[biomarker]]` and the tables that go with it), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
}

impl Protocol {
    /// The control arm, if the design has one.
    pub fn control(&self) -> Option<&ArmSpec> {
        self.arms.iter().find(|arm| arm.control)
    }

    /// The arm with this identifier.
    pub fn arm(&self, id: &ArmId) -> Option<&ArmSpec> {
        self.arms.iter().find(|arm| &arm.id == id)
    }

    /// The longest mean delay from randomisation to the outcome that the protocol's scenarios
    /// assume, in whole days (rounded up): when an outcome may be expected. `None` when no
    /// scenario declares a delay (none, or every one zero).
    pub fn expected_outcome_delay_days(&self) -> Option<u32> {
        self.scenarios
            .iter()
            .map(|s| s.outcome_delay.mean_weeks())
            .filter(|w| w.is_finite() && *w > 0.0)
            .fold(None, |longest: Option<f64>, w| {
                Some(longest.map_or(w, |l| l.max(w)))
            })
            .map(|weeks| (weeks * 7.0).ceil().min(f64::from(u32::MAX)) as u32)
    }
}

impl DelaySpec {
    /// The mean delay, in weeks.
    pub fn mean_weeks(&self) -> f64 {
        match *self {
            Self::Fixed(weeks) | Self::Exponential(weeks) => weeks,
            Self::Uniform(lo, hi) => (lo + hi) / 2.0,
        }
    }
}
