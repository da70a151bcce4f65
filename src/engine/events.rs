//! Events: the only record of a trial. The state is a fold over them; commands return them.
//!
//! Inputs from outside (a participant enrolled, an outcome recorded or corrected, an amendment,
//! a closure) and decisions of the engine (randomisation, allocation updates, looks, arm drops,
//! stops) are all events, so a replay can re-derive every decision from the inputs.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::strata::{Biomarkers, SignatureAnalysis, StratumAnalysis};
use crate::protocol::{ArmId, Prior};
use crate::stats::{Marginal, Shape};
use std::fmt;

/// The contrast between one treatment and the first, at a patient's look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Nof1Effect {
    /// The treatment compared with the first treatment (effect = this − first).
    pub treatment: ArmId,
    /// Posterior mean of the effect.
    pub mean: f64,
    /// Posterior SD of the effect.
    pub sd: f64,
    /// Equal-tailed 95% credible interval.
    pub ci95: [f64; 2],
    /// P(effect > 0).
    pub p_positive: f64,
    /// P(effect beyond the MCID in the better direction): this treatment better than the first
    /// by at least the MCID.
    pub p_beyond_mcid: f64,
    /// P(effect beyond the MCID in the worse direction): the first better by at least the MCID.
    pub p_worse_beyond_mcid: f64,
    /// P(|effect| < MCID).
    pub p_within_mcid: f64,
    /// Measurements analysed per treatment, in treatment order.
    pub n: Vec<u32>,
    /// Posterior mean of the AR(1) coefficient, when the protocol models autocorrelation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
}

/// How a patient's participation ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum PatientEnd {
    /// One treatment is better by at least the MCID with high probability.
    Benefit {
        /// The better treatment.
        treatment: ArmId,
        /// P(better by at least the MCID).
        probability: f64,
        /// `nof1.stop_benefit`.
        threshold: f64,
    },
    /// The treatments are within the MCID of each other with high probability.
    Equivalence {
        /// P(|effect| < MCID) (the smallest over the contrasts).
        probability: f64,
        /// `nof1.stop_equivalence`.
        threshold: f64,
    },
    /// Every planned cycle was completed.
    Completed,
    /// Withdrawn by the coordinator (input).
    Withdrawn {
        /// Why.
        reason: String,
    },
}

impl PatientEnd {
    /// What the end reveals: completing every cycle or a withdrawal is operational; a stop
    /// for benefit or equivalence is comparative.
    pub fn disclosure(&self) -> Disclosure {
        match self {
            Self::Completed | Self::Withdrawn { .. } => Disclosure::Operational,
            Self::Benefit { .. } | Self::Equivalence { .. } => Disclosure::Comparative,
        }
    }
}

impl fmt::Display for PatientEnd {
    /// The end in words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Benefit {
                treatment,
                probability,
                threshold,
            } => write!(
                f,
                "{treatment} better by at least the MCID (P {probability:.3} ≥ {threshold})"
            ),
            Self::Equivalence {
                probability,
                threshold,
            } => write!(
                f,
                "treatments within the MCID of each other (P {probability:.3} ≥ {threshold})"
            ),
            Self::Completed => f.write_str("every planned cycle completed"),
            Self::Withdrawn { reason } => write!(f, "withdrawn: {reason}"),
        }
    }
}

/// A patient's effect after pooling, in the series look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShrunkenPatient {
    /// 0-based participant number.
    pub participant: u32,
    /// The patient's own posterior mean.
    pub own_mean: f64,
    /// Posterior mean under the hierarchical model.
    pub mean: f64,
    /// Its 95% credible interval.
    pub ci95: [f64; 2],
}

/// The hierarchical summary of a series of n-of-1 trials (contrast of the second treatment
/// with the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeriesSummary {
    /// Patients pooled (those with at least one look).
    pub patients: u32,
    /// Posterior mean of the population mean effect.
    pub mean: f64,
    /// Its posterior SD.
    pub sd: f64,
    /// Its 95% credible interval.
    pub ci95: [f64; 2],
    /// P(population effect > 0).
    pub p_positive: f64,
    /// P(population effect beyond the MCID in the better direction).
    pub p_beyond_mcid: f64,
    /// Posterior mean of the between-patient SD τ.
    pub tau_mean: f64,
    /// 95% credible interval of τ.
    pub tau_ci95: [f64; 2],
    /// Empirical-Bayes mode: population mean.
    pub eb_mean: f64,
    /// Empirical-Bayes mode: τ.
    pub eb_tau: f64,
    /// The patients' shrunken effects.
    pub shrunken: Vec<ShrunkenPatient>,
}

/// One event with its position in the trial's sequence (1-based, gap-free).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sequence number: 1 for the first event of the trial.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// A recorded outcome value, typed by the outcome kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutcomeValue {
    /// Response (true) or not.
    Binary {
        /// Whether the participant responded.
        response: bool,
    },
    /// A measurement.
    Continuous {
        /// The measured value.
        value: f64,
    },
    /// Events over an exposure.
    Count {
        /// Number of events.
        events: u64,
        /// Exposure (time at risk), > 0.
        exposure: f64,
    },
}

/// An arm's probability of allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArmShare {
    /// The arm.
    pub arm: ArmId,
    /// Its probability.
    pub probability: f64,
}

/// How a randomisation's probabilities were set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomisationPhase {
    /// Permuted block of fixed ratios (burn-in, or `rule = "fixed"`).
    Block,
    /// Response-adaptive probabilities from the last allocation update.
    Adaptive,
}

impl RandomisationPhase {
    /// `block` or `adaptive` (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Adaptive => "adaptive",
        }
    }
}

/// Why a participant's assignment was revealed to the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum RevealCause {
    /// Emergency unblinding (code break) by an investigator, for the participant's safety.
    Emergency {
        /// Why.
        reason: String,
    },
    /// A blinded n-of-1 patient's trial ended: their own treatments and report are revealed.
    PatientFinished,
}

/// Why allocation probabilities were recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationBasis {
    /// At an interim look.
    Look,
    /// The first adaptive randomisation (end of burn-in).
    BurnInEnded,
    /// The set of open arms changed since the last update.
    ArmsChanged,
}

/// One arm's results at a look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArmAnalysis {
    /// The arm.
    pub arm: ArmId,
    /// Participants on the arm with an outcome.
    pub n: u32,
    /// Posterior of the arm's parameter from all its data (a plain shape, or a mixture written
    /// `{"family": "mixture", "components": [{"weight": …, "family": …, …}]}`).
    #[schema(value_type = Shape)]
    pub posterior: Marginal,
    /// Posterior mean (absent when undefined).
    pub mean: Option<f64>,
    /// P(arm is best among the active arms) — designs without a control.
    pub p_best: Option<f64>,
    /// P(arm better than the control) — designs with a control, non-control arms.
    pub p_better_than_control: Option<f64>,
    /// P(|θarm − θcontrol| < δ) — with a control and an equivalence rule.
    pub p_equivalent: Option<f64>,
    /// P(arm better than control by more than the futility δ) — with a futility rule.
    pub p_beyond_futility_margin: Option<f64>,
    /// Control participants with outcomes used in this arm's comparison.
    pub control_n: Option<u32>,
}

/// Why an arm stopped receiving participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Inferiority rule.
    Inferiority,
    /// Futility rule.
    Futility,
    /// Equivalent to the control.
    Equivalence,
    /// The control was replaced by a superior arm.
    ReplacedAsControl,
    /// Precision designs: the predictive probability of success fell below the graduation
    /// futility threshold in every signature where the arm is assessed.
    FutilityInEverySignature,
}

impl DropReason {
    /// The reason as a snake_case word (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inferiority => "inferiority",
            Self::Futility => "futility",
            Self::Equivalence => "equivalence",
            Self::ReplacedAsControl => "replaced_as_control",
            Self::FutilityInEverySignature => "futility_in_every_signature",
        }
    }
}

impl fmt::Display for DropReason {
    /// The reason in words: "inferior to the other arms", …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Inferiority => "inferiority",
            Self::Futility => "futility",
            Self::Equivalence => "equivalence to the control",
            Self::ReplacedAsControl => "replacement as control by a superior arm",
            Self::FutilityInEverySignature => "futility in every signature",
        })
    }
}

/// What the data monitoring committee recommends after a look. A recommendation is advice on
/// the record: it changes neither the allocation nor the arms (the statistician acts on it with
/// the trial's own commands).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Recommendation {
    /// Continue the trial as planned.
    Continue,
    /// Pause enrolment.
    PauseEnrolment,
    /// Stop one arm.
    StopArm {
        /// The arm to stop.
        arm: ArmId,
    },
    /// Stop the trial.
    StopTrial,
    /// Modify the trial (the rationale says how).
    Modify,
}

impl Recommendation {
    /// The action as a snake_case word (as serialised), for exports and forms.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::PauseEnrolment => "pause_enrolment",
            Self::StopArm { .. } => "stop_arm",
            Self::StopTrial => "stop_trial",
            Self::Modify => "modify",
        }
    }

    /// The arm a recommendation names (stopping an arm).
    pub fn arm(&self) -> Option<&ArmId> {
        match self {
            Self::StopArm { arm } => Some(arm),
            Self::Continue | Self::PauseEnrolment | Self::StopTrial | Self::Modify => None,
        }
    }
}

impl fmt::Display for Recommendation {
    /// The recommendation in words: "continue the trial as planned", "stop arm B", …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Continue => f.write_str("continue the trial as planned"),
            Self::PauseEnrolment => f.write_str("pause enrolment"),
            Self::StopArm { arm } => write!(f, "stop arm {arm}"),
            Self::StopTrial => f.write_str("stop the trial"),
            Self::Modify => f.write_str("modify the trial"),
        }
    }
}

/// What a trial's end means for its question: the stop reason read with the trial's history
/// ([`super::history::conclusion_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// An arm was shown superior.
    Superiority,
    /// The arms were shown equivalent.
    Equivalence,
    /// Every experimental arm was dropped against the control (for inferiority or futility).
    Futility,
    /// The maximum sample size was reached without a decisive result.
    MaximumSampleSize,
    /// Ended by a user (a closure), not by a rule.
    Closed,
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Superiority => "superiority",
            Self::Equivalence => "equivalence",
            Self::Futility => "futility",
            Self::MaximumSampleSize => "maximum sample size",
            Self::Closed => "closed",
        })
    }
}

/// Why the trial stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum StopReason {
    /// An arm was declared superior (designs without a control).
    Superiority {
        /// The superior arm.
        arm: ArmId,
        /// Its P(best).
        probability: f64,
        /// The threshold it exceeded.
        threshold: f64,
    },
    /// All active arms were declared equivalent.
    Equivalence {
        /// P(max − min < δ).
        probability: f64,
        /// The threshold it exceeded.
        threshold: f64,
    },
    /// Only one arm is left.
    OneArmLeft {
        /// The remaining arm.
        arm: ArmId,
    },
    /// The final look at the maximum sample size has been done.
    MaxParticipants,
    /// Precision designs: the final look after every experimental arm closed to enrolment
    /// (graduated, at its maximum or dropped) in every stratum.
    EveryArmClosed,
    /// Closed by a user.
    Closed {
        /// The reason given.
        reason: String,
    },
}

impl StopReason {
    /// What the reason reveals: a closure or the maximum sample size is operational; a stop by
    /// a decision rule is comparative.
    pub fn disclosure(&self) -> Disclosure {
        match self {
            Self::Closed { .. } | Self::MaxParticipants => Disclosure::Operational,
            Self::Superiority { .. }
            | Self::Equivalence { .. }
            | Self::OneArmLeft { .. }
            | Self::EveryArmClosed => Disclosure::Comparative,
        }
    }
}

impl fmt::Display for StopReason {
    /// The reason in words, with the probability and threshold of a decision rule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed { reason } => write!(f, "closed: {reason}"),
            Self::MaxParticipants => f.write_str("the maximum sample size was reached"),
            Self::EveryArmClosed => f.write_str(
                "every experimental arm closed to enrolment (graduated, at its maximum or \
                 dropped) and the last outcomes were analysed",
            ),
            Self::Superiority {
                arm,
                probability,
                threshold,
            } => write!(
                f,
                "arm {arm} superior: P(best) {probability:.4} > {threshold}"
            ),
            Self::Equivalence {
                probability,
                threshold,
            } => write!(f, "arms equivalent: P {probability:.4} > {threshold}"),
            Self::OneArmLeft { arm } => write!(f, "only arm {arm} is left"),
        }
    }
}

/// Everything that can happen to a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "ArmAdded carries its prior inline (a mixture prior is a few hundred bytes); events \
              are few per trial, and boxing would not change their JSON"
)]
pub enum EventBody {
    /// The trial started; the seed is committed to by its hash.
    TrialStarted {
        /// Hex SHA-256 of the protocol's canonical form.
        protocol_hash: String,
        /// Hex SHA-256 of the secret seed.
        seed_commitment: String,
    },
    /// An arm opened (at start, at its `opens_at`, or after an amendment).
    ArmOpened {
        /// The arm.
        arm: ArmId,
        /// Participants enrolled when it opened.
        enrolled: u32,
    },
    /// A platform amendment added an arm (it opens with the next event).
    ArmAdded {
        /// Identifier.
        arm: ArmId,
        /// Display name.
        name: String,
        /// Its prior.
        prior: Prior,
        /// Fixed-allocation weight.
        ratio: u32,
    },
    /// A participant was enrolled (input).
    ParticipantEnrolled {
        /// 0-based participant number.
        participant: u32,
        /// The subject identifier entered by the coordinator.
        subject_id: Arc<str>,
        /// n-of-1 designs: the calendar date of the patient's study day 1 (`YYYY-MM-DD`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_date: Option<Arc<str>>,
        /// Precision designs: the biomarker values entered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        biomarkers: Option<Arc<Biomarkers>>,
        /// Precision designs: the stratum the engine read from them (index among the
        /// protocol's eligible strata).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stratum: Option<u32>,
    },
    /// Allocation probabilities were recomputed.
    AllocationUpdated {
        /// Probabilities of every open arm, summing to 1.
        probabilities: Arc<[ArmShare]>,
        /// The exponent applied to P(best).
        power: f64,
        /// Why.
        basis: AllocationBasis,
        /// Precision designs: the stratum these probabilities randomise in (the arms open
        /// there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stratum: Option<u32>,
    },
    /// A participant was randomised.
    Randomised {
        /// 0-based participant number.
        participant: u32,
        /// The arm assigned.
        arm: ArmId,
        /// The probabilities used, one per open arm.
        probabilities: Arc<[ArmShare]>,
        /// The seed-derived uniform draw that chose the arm.
        draw: f64,
        /// Block or adaptive.
        phase: RandomisationPhase,
    },
    /// An outcome was recorded (input).
    OutcomeRecorded {
        /// 0-based participant number.
        participant: u32,
        /// The value.
        value: OutcomeValue,
    },
    /// An outcome was corrected (input); the earlier event stays in the log.
    OutcomeCorrected {
        /// 0-based participant number.
        participant: u32,
        /// Sequence number of the event holding the value being corrected.
        corrects: u64,
        /// The corrected value.
        value: OutcomeValue,
        /// Why.
        reason: String,
    },
    /// An interim (or final) analysis.
    LookPerformed {
        /// 1-based look number.
        look: u32,
        /// Participants with outcomes.
        outcomes: u32,
        /// Participants enrolled.
        enrolled: u32,
        /// Per-arm results for every active arm.
        arms: Vec<ArmAnalysis>,
        /// Precision designs: each active arm's posterior in each stratum it may enrol.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        strata: Vec<StratumAnalysis>,
        /// Precision designs with graduation: each experimental arm's predictive probability of
        /// success in each signature where it is assessed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        signatures: Vec<SignatureAnalysis>,
    },
    /// An arm was dropped at a look.
    ArmDropped {
        /// The arm.
        arm: ArmId,
        /// Why.
        reason: DropReason,
        /// The probability that triggered the rule.
        probability: f64,
        /// The threshold.
        threshold: f64,
        /// 1-based look number.
        look: u32,
    },
    /// Precision designs: an arm graduated in a signature at a look; it enrols no more in the
    /// signature's strata.
    ArmGraduated {
        /// The arm.
        arm: ArmId,
        /// The signature's id.
        signature: String,
        /// Its predictive probability of success in the signature.
        probability: f64,
        /// The graduation threshold.
        threshold: f64,
        /// 1-based look number.
        look: u32,
    },
    /// A superior arm became the new control.
    ControlChanged {
        /// The old control.
        from: ArmId,
        /// The new control.
        to: ArmId,
        /// P(new better than old).
        probability: f64,
        /// The superiority threshold.
        threshold: f64,
        /// 1-based look number.
        look: u32,
    },
    /// Data collection is complete: no more outcomes will come (input); the final look follows.
    DataCollectionClosed,
    /// Enrolment was paused (input): no one is enrolled until it resumes; outcomes still count.
    EnrolmentPaused {
        /// Why.
        reason: String,
    },
    /// Enrolment resumed after a pause (input).
    EnrolmentResumed,
    /// The maximum sample size was amended (input).
    MaxParticipantsChanged {
        /// Old maximum.
        from: u32,
        /// New maximum.
        to: u32,
    },
    /// n-of-1: the treatments of one cycle of a patient's periods, in period order.
    Nof1CycleAssigned {
        /// 0-based participant number.
        participant: u32,
        /// 1-based cycle.
        cycle: u32,
        /// One treatment per period of the cycle.
        treatments: Vec<ArmId>,
        /// Adaptive sequences: the probabilities each period's treatment was drawn with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        probabilities: Option<Vec<ArmShare>>,
        /// The seed-derived uniform draw that chose the order (none when the order follows
        /// from an earlier cycle's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        draw: Option<f64>,
    },
    /// n-of-1: a measurement on a study day (input).
    MeasurementRecorded {
        /// 0-based participant number.
        participant: u32,
        /// Study day (1 is the first day of the patient's calendar).
        day: u32,
        /// The value.
        value: OutcomeValue,
    },
    /// n-of-1: a measurement was corrected (input); the earlier event stays in the log.
    MeasurementCorrected {
        /// 0-based participant number.
        participant: u32,
        /// Sequence number of the event holding the value being corrected.
        corrects: u64,
        /// The corrected value.
        value: OutcomeValue,
        /// Why.
        reason: String,
    },
    /// n-of-1: a patient's analysis after a completed cycle.
    PatientLookPerformed {
        /// 0-based participant number.
        participant: u32,
        /// The cycle just completed (1-based).
        cycle: u32,
        /// Each treatment against the first.
        effects: Vec<Nof1Effect>,
    },
    /// n-of-1: a patient's participation ended (by a stopping rule, after the last cycle, or
    /// withdrawn: an input).
    PatientFinished {
        /// 0-based participant number.
        participant: u32,
        /// Cycles analysed when it ended.
        cycle: u32,
        /// How.
        end: PatientEnd,
    },
    /// n-of-1 series: the hierarchical model over the patients, after a patient finished.
    SeriesLookPerformed {
        /// The pooled summary.
        summary: SeriesSummary,
    },
    /// A participant's assignment was revealed to the site: an emergency code break (input,
    /// with its reason) or, on a blinded n-of-1 trial, the patient's own treatments once their
    /// trial ended. The payload names no arm.
    AssignmentRevealed {
        /// 0-based participant number.
        participant: u32,
        /// Their subject identifier (as entered at enrolment), for the reader of the trail.
        subject_id: Arc<str>,
        /// Why.
        #[serde(flatten)]
        cause: RevealCause,
    },
    /// The data monitoring committee recorded its recommendation after a look (input, with the
    /// signer's e-signature: the password was entered again).
    DmcRecommended {
        /// The look it follows (1-based).
        look: u32,
        /// What it recommends.
        #[serde(flatten)]
        recommendation: Recommendation,
        /// Why, in the committee's words.
        rationale: String,
        /// The signer's printed name (the record names the account).
        signed_by: String,
    },
    /// The trial stopped.
    TrialStopped {
        /// Why.
        #[serde(flatten)]
        reason: StopReason,
    },
}

/// What a record reveals, decided once for every event (see ARCHITECTURE.md). Ordered from the
/// least to the most sensitive, so `a <= b` reads "a reveals no more than b".
///
/// Every view, the audit page, the events feed, the exports and the notifications ask
/// [`EventBody::disclosure`]; nothing outside the engine keeps a list of event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disclosure {
    /// Conduct of the trial that every role may know: that it started, enrolment counts,
    /// outcome values as entered, that enrolment is open or paused, amendments.
    Operational,
    /// One participant's arm or treatment sequence, and nothing comparative.
    Assignment,
    /// Anything that depends on the comparison of arms: posteriors, probabilities, allocation,
    /// decisions at a look, which arm is the control, why the trial or a patient stopped.
    Comparative,
}

impl Disclosure {
    /// Whether the record hides something from a blinded viewer: assignment and comparative
    /// records are sealed for them, and their hashes commit to a secret salt (METHODS.md §10).
    pub fn is_sealed(self) -> bool {
        match self {
            Self::Operational => false,
            Self::Assignment | Self::Comparative => true,
        }
    }
}

/// Who an event is attributed to on the audit trail (see ARCHITECTURE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// An input from outside (an enrolment, an outcome, a pause, a code break …): replay runs
    /// the command again from it. Attributed to the user whose command it was.
    Input,
    /// The engine's immediate answer to an input (the randomisation of an enrolment, a patient's
    /// first cycle): attributed to the user whose command it was.
    Answer,
    /// A decision the engine took by a rule of the protocol (a look, a drop, a control change,
    /// a stop, an allocation update, an arm opening, a later n-of-1 cycle): attributed to
    /// `system`, with the seq of the input that made it due.
    Decision,
}

impl EventBody {
    /// Whether the event is an input (or the direct answer to one) or a decision of the engine.
    /// An exhaustive match, like [`EventBody::disclosure`].
    pub fn origin(&self) -> Origin {
        match self {
            Self::TrialStarted { .. }
            | Self::ArmAdded { .. }
            | Self::ParticipantEnrolled { .. }
            | Self::OutcomeRecorded { .. }
            | Self::OutcomeCorrected { .. }
            | Self::DataCollectionClosed
            | Self::EnrolmentPaused { .. }
            | Self::EnrolmentResumed
            | Self::MaxParticipantsChanged { .. }
            | Self::MeasurementRecorded { .. }
            | Self::MeasurementCorrected { .. }
            | Self::DmcRecommended { .. }
            | Self::AssignmentRevealed {
                cause: RevealCause::Emergency { .. },
                ..
            } => Origin::Input,
            Self::Randomised { .. } => Origin::Answer,
            Self::Nof1CycleAssigned { cycle, .. } if *cycle <= 1 => Origin::Answer,
            Self::PatientFinished {
                end: PatientEnd::Withdrawn { .. },
                ..
            }
            | Self::TrialStopped {
                reason: StopReason::Closed { .. },
            } => Origin::Input,
            Self::Nof1CycleAssigned { .. }
            | Self::ArmOpened { .. }
            | Self::AllocationUpdated { .. }
            | Self::LookPerformed { .. }
            | Self::ArmDropped { .. }
            | Self::ArmGraduated { .. }
            | Self::ControlChanged { .. }
            | Self::PatientLookPerformed { .. }
            | Self::PatientFinished { .. }
            | Self::SeriesLookPerformed { .. }
            | Self::AssignmentRevealed { .. }
            | Self::TrialStopped { .. } => Origin::Decision,
        }
    }

    /// What the event reveals. An exhaustive match: a new variant does not compile until it is
    /// classified here.
    pub fn disclosure(&self) -> Disclosure {
        match self {
            Self::TrialStarted { .. }
            | Self::ArmOpened { .. }
            | Self::ArmAdded { .. }
            | Self::ParticipantEnrolled { .. }
            | Self::OutcomeRecorded { .. }
            | Self::OutcomeCorrected { .. }
            | Self::DataCollectionClosed
            | Self::EnrolmentPaused { .. }
            | Self::EnrolmentResumed
            | Self::MaxParticipantsChanged { .. }
            | Self::MeasurementRecorded { .. }
            | Self::MeasurementCorrected { .. }
            | Self::AssignmentRevealed { .. } => Disclosure::Operational,
            Self::Nof1CycleAssigned {
                probabilities: None,
                ..
            } => Disclosure::Assignment,
            Self::Nof1CycleAssigned {
                probabilities: Some(_),
                ..
            }
            | Self::AllocationUpdated { .. }
            | Self::Randomised { .. }
            | Self::LookPerformed { .. }
            | Self::ArmDropped { .. }
            | Self::ArmGraduated { .. }
            | Self::ControlChanged { .. }
            | Self::PatientLookPerformed { .. }
            | Self::SeriesLookPerformed { .. }
            | Self::DmcRecommended { .. } => Disclosure::Comparative,
            Self::PatientFinished { end, .. } => end.disclosure(),
            Self::TrialStopped { reason } => reason.disclosure(),
        }
    }

    /// The participant and arm (n-of-1: the first period's treatment) of a new participant's
    /// assignment: a randomisation or a patient's first cycle.
    pub fn first_assignment(&self) -> Option<(u32, &ArmId)> {
        match self {
            Self::Randomised {
                participant, arm, ..
            } => Some((*participant, arm)),
            Self::Nof1CycleAssigned {
                participant,
                cycle: 1,
                treatments,
                ..
            } => treatments.first().map(|t| (*participant, t)),
            _ => None,
        }
    }

    /// The protocol hash and the seed commitment of a trial's start.
    pub fn started_with(&self) -> Option<(&str, &str)> {
        match self {
            Self::TrialStarted {
                protocol_hash,
                seed_commitment,
            } => Some((protocol_hash, seed_commitment)),
            _ => None,
        }
    }

    /// The look's number, for a platform look.
    pub fn look_number(&self) -> Option<u32> {
        match self {
            Self::LookPerformed { look, .. } => Some(*look),
            _ => None,
        }
    }

    /// The cycle of a patient's look (n-of-1).
    pub fn patient_look_cycle(&self) -> Option<u32> {
        match self {
            Self::PatientLookPerformed { cycle, .. } => Some(*cycle),
            _ => None,
        }
    }

    /// How a patient's n-of-1 trial ended.
    pub fn patient_end(&self) -> Option<&PatientEnd> {
        match self {
            Self::PatientFinished { end, .. } => Some(end),
            _ => None,
        }
    }

    /// Whether the event is an analysis (a look, a patient's look, a series look): the head
    /// after it is signed.
    pub fn is_analysis(&self) -> bool {
        matches!(
            self,
            Self::LookPerformed { .. }
                | Self::PatientLookPerformed { .. }
                | Self::SeriesLookPerformed { .. }
        )
    }

    /// Whether the event amends the protocol (an added arm, a new maximum sample size).
    pub fn amends_protocol(&self) -> bool {
        matches!(
            self,
            Self::ArmAdded { .. } | Self::MaxParticipantsChanged { .. }
        )
    }

    /// The probabilities an allocation update at a look set, with the stratum they randomise
    /// in (precision designs), for simulation metrics.
    pub fn look_allocation(&self) -> Option<(Option<u32>, &[ArmShare])> {
        match self {
            Self::AllocationUpdated {
                probabilities,
                basis: AllocationBasis::Look,
                stratum,
                ..
            } => Some((*stratum, probabilities)),
            _ => None,
        }
    }

    /// The event's kind as a snake_case word (for logs and filters).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TrialStarted { .. } => "trial_started",
            Self::ArmOpened { .. } => "arm_opened",
            Self::ArmAdded { .. } => "arm_added",
            Self::ParticipantEnrolled { .. } => "participant_enrolled",
            Self::AllocationUpdated { .. } => "allocation_updated",
            Self::Randomised { .. } => "randomised",
            Self::OutcomeRecorded { .. } => "outcome_recorded",
            Self::OutcomeCorrected { .. } => "outcome_corrected",
            Self::LookPerformed { .. } => "look_performed",
            Self::ArmDropped { .. } => "arm_dropped",
            Self::ArmGraduated { .. } => "arm_graduated",
            Self::ControlChanged { .. } => "control_changed",
            Self::DataCollectionClosed => "data_collection_closed",
            Self::EnrolmentPaused { .. } => "enrolment_paused",
            Self::EnrolmentResumed => "enrolment_resumed",
            Self::MaxParticipantsChanged { .. } => "max_participants_changed",
            Self::Nof1CycleAssigned { .. } => "nof1_cycle_assigned",
            Self::MeasurementRecorded { .. } => "measurement_recorded",
            Self::MeasurementCorrected { .. } => "measurement_corrected",
            Self::PatientLookPerformed { .. } => "patient_look_performed",
            Self::PatientFinished { .. } => "patient_finished",
            Self::SeriesLookPerformed { .. } => "series_look_performed",
            Self::AssignmentRevealed { .. } => "assignment_revealed",
            Self::DmcRecommended { .. } => "dmc_recommended",
            Self::TrialStopped { .. } => "trial_stopped",
        }
    }
}
