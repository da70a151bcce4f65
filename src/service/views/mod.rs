//! What each role may read: the trial list, a trial's overview, its participants and their
//! timelines, the unblinded results (statisticians and the DMC only, and every view of them is
//! recorded) and the audit trail (filtered, sorted, paged; its exports are in `export.rs`).
//!
//! What a view reveals is decided by the engine's classification of what it shows
//! ([`crate::engine::Disclosure`]) and the viewer's [`Sight`] (role, blinding, whether the trial
//! stopped), in one place, so that the web pages and the JSON API cannot differ and something
//! new is hidden until someone decides otherwise. Views read the engine's history and state;
//! none interprets events itself.

mod audit;
mod diff;
mod participants;
mod precision;
mod trial;
mod work;

pub use participants::{
    OutcomeFilter, ParticipantList, ParticipantQuery, MAX_SEARCH_CHARS, PARTICIPANTS_PER_PAGE,
};
pub use precision::{PrecisionResults, SignatureArm, SignatureResult, StratumArm, StratumResult};
pub use work::{MeasurementDue, OutcomeDue, WorkList, WORK_LIST_ROWS};

pub use diff::{line_diff, DiffHunk, DiffLine, LineChange};

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::trial::chain_of;
use super::{Actor, Service, ServiceError, Sight};
use crate::engine::{
    ArmAnalysis, ArmShare, Conclusion, History, OutcomeValue, TrialState, TrialStatus,
};
use crate::protocol::{LoadedProtocol, OutcomeKind, OutcomeSpec};
use crate::store::{self, AuditRow, ProtocolVersionRow, TrialRow};

/// How a trial's status reads at a glance: the one place that decides the badge's class for
/// every page. A stopped trial is finished, not in trouble: it reads as concluded when the
/// viewer may know that it stopped with an answer (superiority or equivalence), and as
/// neutral otherwise (futility, the maximum sample size, a closure, or a reason the viewer
/// may not see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusTone {
    /// Not started.
    Draft,
    /// Enrolling.
    Running,
    /// Enrolment paused.
    Paused,
    /// Stopped, without a conclusion the viewer may see.
    Stopped,
    /// Stopped with a conclusion: an arm superior, or the arms equivalent.
    Concluded,
}

impl StatusTone {
    /// The tone of a status word (`draft`, `running`, `paused`, `stopped`), with the stop's
    /// conclusion when the viewer may see it.
    pub fn of(status: &str, conclusion: Option<Conclusion>) -> Self {
        match (status, conclusion) {
            ("running", _) => Self::Running,
            ("paused", _) => Self::Paused,
            ("stopped", Some(Conclusion::Superiority | Conclusion::Equivalence)) => Self::Concluded,
            (
                "stopped",
                Some(Conclusion::Futility | Conclusion::MaximumSampleSize | Conclusion::Closed)
                | None,
            ) => Self::Stopped,
            _ => Self::Draft,
        }
    }

    /// The badge's CSS classes (after `status`): `draft`, `running`, `paused`, `stopped` or
    /// `stopped concluded`.
    pub fn class(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Concluded => "stopped concluded",
        }
    }
}

/// A trial in the list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialListing {
    /// Trial id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `draft` (not started), `running`, `paused` or `stopped`.
    pub status: String,
    /// How the status reads (pages only; the list does not load why a trial stopped).
    #[serde(skip)]
    pub tone: StatusTone,
    /// Current protocol version.
    pub version: i32,
}

/// One arm as every role may see it: no results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArmView {
    /// Arm id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `pending`, `open` or `closed`: absent for viewers who may not see it (the site of a
    /// blinded trial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// Whether it is the current control: only for viewers who see comparative results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<bool>,
}

/// Where a protocol version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// The version in force (before the start: the current draft).
    InForce,
    /// A proposed amendment waiting for its approval signature.
    Pending,
    /// An earlier draft, or a version an amendment replaced.
    Superseded,
}

impl VersionState {
    /// Where a version numbered `version` stands when `current` is in force.
    pub fn of(version: i32, current: i32) -> Self {
        match version.cmp(&current) {
            std::cmp::Ordering::Less => Self::Superseded,
            std::cmp::Ordering::Equal => Self::InForce,
            std::cmp::Ordering::Greater => Self::Pending,
        }
    }

    /// Whether it waits for its approval.
    pub fn is_pending(self) -> bool {
        self == Self::Pending
    }

    /// In words, for a trial that has `started` or not.
    pub fn words(self, started: bool) -> &'static str {
        match (self, started) {
            (Self::InForce, true) => "in force",
            (Self::InForce, false) => "current draft",
            (Self::Pending, _) => "pending signature",
            (Self::Superseded, true) => "superseded",
            (Self::Superseded, false) => "earlier draft",
        }
    }
}

/// A protocol version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    /// Version number.
    pub version: i32,
    /// In force, pending signature, or superseded.
    pub state: VersionState,
    /// Canonical hash.
    pub hash: String,
    /// What changed.
    pub note: String,
    /// Who.
    pub created_by: String,
    /// When.
    pub created_at: String,
}

/// An electronic signature on a protocol version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignatureView {
    /// Version signed.
    pub version: i32,
    /// Hash signed.
    pub protocol_hash: String,
    /// authorship, approval or review.
    pub meaning: String,
    /// Signer's printed name.
    pub printed_name: String,
    /// Signer's user name.
    pub username: String,
    /// UTC time.
    pub signed_at: String,
}

/// A trial's overview, filtered by the viewer's role.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialView {
    /// Trial id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Whether the site sees kit codes instead of arms.
    pub blinded: bool,
    /// Whether the trial is a series of n-of-1 trials (`design = "nof1"`).
    pub nof1: bool,
    /// `draft`, `running`, `paused` or `stopped`.
    pub status: String,
    /// How the status reads (pages only), with the stop's conclusion when the viewer may see
    /// why it stopped.
    #[serde(skip)]
    pub tone: StatusTone,
    /// Why it stopped, in words fit for the viewer's role.
    pub stopped_because: Option<String>,
    /// Current protocol version.
    pub version: i32,
    /// Hash of the current protocol version.
    pub protocol_hash: String,
    /// Whether the current version carries an approval signature.
    pub approved: bool,
    /// The outcome kind (`binary`, `continuous`, `count`).
    pub outcome_kind: OutcomeKind,
    /// The outcome's name.
    pub outcome_name: String,
    /// Smallest admissible value.
    pub outcome_min: Option<f64>,
    /// Largest admissible value.
    pub outcome_max: Option<f64>,
    /// Maximum participants.
    pub max_participants: u32,
    /// Participants enrolled.
    pub enrolled: u32,
    /// Participants with an outcome.
    pub outcomes: u32,
    /// Looks performed.
    pub looks_done: u32,
    /// Planned looks (outcome counts).
    pub looks_planned: Vec<u32>,
    /// Arms, without results.
    pub arms: Vec<ArmView>,
    /// Scenario names of the protocol (for simulation).
    pub scenarios: Vec<String>,
    /// Protocol versions.
    pub versions: Vec<VersionView>,
    /// Signatures.
    pub signatures: Vec<SignatureView>,
    /// The version a signature now goes to: a pending amendment's, else the one in force.
    pub awaiting: i32,
    /// Who wrote it (its approval must come from someone else: four eyes).
    pub awaiting_author: String,
    /// Whether it carries an approval signature.
    pub awaiting_approved: bool,
    /// The current protocol version's TOML text.
    pub source: String,
    /// Results: present only for roles that see them and only when asked for.
    pub results: Option<TrialResults>,
    /// Binary outcomes: the words for 1 (a response) and 0 (no response), from the protocol's
    /// `outcome.labels` ("response" and "no response" when it gives none).
    pub outcome_labels: [String; 2],
    /// The longest mean delay from randomisation to the outcome that the protocol's scenarios
    /// assume, in days (absent when none declares one).
    pub outcome_delay_days: Option<u32>,
    /// While enrolment is paused: the reason given.
    pub paused_because: Option<String>,
    /// Why nobody can be enrolled now (absent while enrolment is open).
    pub no_enrolment: Option<NoEnrolment>,
    /// Precision designs: the biomarkers a participant is enrolled with (empty otherwise).
    pub biomarkers: Vec<BiomarkerField>,
}

/// A biomarker asked for at enrolment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BiomarkerField {
    /// Its id (the key in `biomarkers`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its levels.
    pub levels: Vec<String>,
}

/// Why enrolment is closed, and who can open it again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoEnrolment {
    /// The reason, in words.
    pub reason: String,
    /// Who can open enrolment again and how (absent when nobody can: the trial stopped).
    pub reopened_by: Option<String>,
}

impl NoEnrolment {
    /// The engine's reason, with the roles the permission table lets open enrolment again.
    pub fn of(closed: &crate::engine::EnrolmentClosed) -> Self {
        use crate::engine::EnrolmentClosed;
        let directors = crate::service::Role::ALL
            .into_iter()
            .filter(|r| r.may(crate::service::Permission::DirectTrials))
            .map(|r| format!("a {r}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let reopened_by = match closed {
            EnrolmentClosed::NotStarted => Some(format!(
                "{directors} can start the trial once its protocol is approved"
            )),
            EnrolmentClosed::Paused { .. } => Some(format!("{directors} can resume enrolment")),
            EnrolmentClosed::Full { .. } => {
                Some(format!("{directors} can raise the maximum by an amendment"))
            }
            EnrolmentClosed::Stopped | EnrolmentClosed::EveryArmClosed => None,
        };
        Self {
            reason: closed.to_string(),
            reopened_by,
        }
    }
}

/// One protocol version with what changed since the one before it: what a signer reviews.
#[derive(Debug, Clone, Serialize)]
pub struct VersionDetail {
    /// Trial id.
    pub trial_id: String,
    /// Trial title.
    pub title: String,
    /// `draft`, `running`, `paused` or `stopped`.
    pub status: String,
    /// The version.
    pub version: VersionView,
    /// The version in force now.
    pub current: i32,
    /// The newest version (a pending amendment's, else the one in force): signatures go to it.
    pub newest: i32,
    /// The version it is compared with: the one before it (none for version 1).
    pub previous: Option<i32>,
    /// The line diff from `previous` (empty when the texts are the same).
    pub hunks: Vec<DiffHunk>,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
    /// The version's text.
    pub source: String,
    /// Its signatures, oldest first.
    pub signatures: Vec<SignatureView>,
    /// Whether it carries an approval signature.
    pub approved: bool,
}

/// One arm's current posterior (from every outcome so far).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArmPosterior {
    /// Arm id.
    pub arm: String,
    /// Name.
    pub name: String,
    /// Status, with the reason when dropped.
    pub status: String,
    /// Participants assigned.
    pub assigned: u32,
    /// Participants with an outcome.
    pub n: u64,
    /// Binary outcomes: participants who responded.
    pub responders: Option<u64>,
    /// Continuous outcomes: the mean value observed; counts: events per unit of exposure.
    pub observed_mean: Option<f64>,
    /// The arm's fixed-allocation weight.
    pub ratio: u32,
    /// Posterior mean.
    pub mean: Option<f64>,
    /// Posterior SD.
    pub sd: Option<f64>,
    /// Equal-tailed 95% credible interval.
    pub ci95: [f64; 2],
    /// The density on a grid from the 0.1% to the 99.9% quantile: (θ, density).
    pub curve: Vec<[f64; 2]>,
    /// The arm's prior in words ("Beta(1, 1)", "0.8 × Beta(12.3, 55.9) + 0.2 × Beta(1, 1)").
    pub prior: String,
    /// A mixture prior's posterior component weights, in the prior's order (empty otherwise):
    /// how much each component of the prior still counts given the arm's data.
    pub posterior_weights: Vec<f64>,
}

/// A look and what it decided.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LookResult {
    /// 1-based look number.
    pub look: u32,
    /// Seq of the `look_performed` event.
    pub seq: u64,
    /// Participants with outcomes.
    pub outcomes: u32,
    /// Participants enrolled.
    pub enrolled: u32,
    /// Per-arm analysis.
    pub arms: Vec<ArmAnalysis>,
    /// The control every `p_better_than_control` of this look is against; `None` without one.
    pub control: Option<String>,
    /// Decisions taken at this look, in words ([`crate::engine::Decision::words`]).
    pub decisions: Vec<String>,
    /// The data monitoring committee's recommendation after this look, when recorded.
    pub recommendation: Option<RecommendationView>,
}

/// The data monitoring committee's recommendation after a look, with its e-signature.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecommendationView {
    /// The look it follows.
    pub look: u32,
    /// Seq of its record.
    pub seq: u64,
    /// `continue`, `pause_enrolment`, `stop_arm`, `stop_trial` or `modify`.
    pub action: &'static str,
    /// The recommendation in words ("stop arm b").
    pub words: String,
    /// The arm to stop (`stop_arm`).
    pub arm: Option<String>,
    /// Why.
    pub rationale: String,
    /// The signer's printed name.
    pub signed_by: String,
    /// The signer's account.
    pub username: String,
    /// When it was recorded (UTC RFC 3339).
    pub recorded_at: String,
}

/// A decision threshold that the looks' probability is held against, at each look done.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThresholdLine {
    /// `superiority` or `inferiority`.
    pub rule: &'static str,
    /// What crossing it does, in words.
    pub words: &'static str,
    /// The threshold at look 1, 2, … (one per look done).
    pub values: Vec<f64>,
}

/// The allocation probabilities in force at one randomisation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AllocationPoint {
    /// Participant number (0-based).
    pub participant: u32,
    /// Probability per arm.
    pub probabilities: Vec<ArmShare>,
    /// `block` (burn-in or fixed allocation: permuted blocks of the ratios) or `adaptive`.
    pub phase: &'static str,
    /// What the design allocates: in a block, each open arm's share of the ratios (the draw's
    /// own probabilities follow what is left of the block); adaptive, the probabilities.
    pub design: Vec<ArmShare>,
}

/// Unblinded results (statisticians and the DMC).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialResults {
    /// Which per-arm probability the looks report: `p_best` or `p_better_than_control`.
    pub comparison: &'static str,
    /// Current posteriors.
    pub posteriors: Vec<ArmPosterior>,
    /// Looks with their decisions.
    pub looks: Vec<LookResult>,
    /// Allocation probabilities at each randomisation.
    pub allocation: Vec<AllocationPoint>,
    /// The decision thresholds the looks' probability is held against.
    pub thresholds: Vec<ThresholdLine>,
    /// The bounds of an adaptive allocation probability (`[min, max]`); `None` when fixed.
    pub allocation_bounds: Option<[f64; 2]>,
    /// Participants randomised by fixed ratios before adaptation starts.
    pub burn_in: u32,
    /// Precision designs: the results per stratum and per signature.
    pub precision: Option<PrecisionResults>,
}

/// A participant as the viewer may see them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParticipantView {
    /// Subject identifier.
    pub subject_id: String,
    /// Participant number (0-based).
    pub participant: i32,
    /// The arm (absent for blinded roles on blinded trials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// Kit code (blinded trials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kit: Option<String>,
    /// Seq of the randomisation: absent for viewers who do not see comparative records (the
    /// gaps between seqs would count the decisions taken at looks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Who enrolled them.
    pub enrolled_by: String,
    /// When.
    pub enrolled_at: String,
    /// The current outcome, as text (absent for the pharmacist, who never sees results).
    pub outcome: Option<String>,
}

/// One entry of a participant's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// When.
    pub at: String,
    /// Seq on the trial's chain (absent where [`ParticipantView::seq`] is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// What happened, in words.
    pub what: String,
    /// Who.
    pub by: String,
    /// Reason (corrections).
    pub reason: Option<String>,
}

/// A participant and their timeline.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantDetail {
    /// The participant.
    pub participant: ParticipantView,
    /// The current outcome as a form field holds it (`1`/`0`, a number, `EVENTS/EXPOSURE`),
    /// for the correction form; absent with no outcome or for viewers who see none.
    pub current_value: Option<String>,
    /// Enrolment, assignment, outcomes and corrections, in order.
    pub timeline: Vec<TimelineEntry>,
}

/// An assignment as shown to the person who enrolled (or anyone else).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AssignmentView {
    /// Trial.
    pub trial_id: String,
    /// Subject identifier.
    pub subject_id: String,
    /// The arm (absent for blinded roles on blinded trials).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arm: Option<String>,
    /// The arm's name (with the arm).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arm_name: Option<String>,
    /// Kit code (blinded trials).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kit: Option<String>,
    /// Seq of the randomisation (absent where [`ParticipantView::seq`] is).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seq: Option<u64>,
}

/// An audit record as the viewer may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Chain.
    pub chain: String,
    /// Seq.
    pub seq: i64,
    /// Kind (`sealed` when the record is sealed for the viewer).
    pub kind: String,
    /// Payload (canonical JSON), or a note that it is sealed.
    pub payload: String,
    /// Whether the payload is sealed for this viewer.
    pub sealed: bool,
    /// Who.
    pub actor: String,
    /// Role.
    pub role: String,
    /// When.
    pub recorded_at: String,
    /// Why.
    pub reason: Option<String>,
    /// The record's salt (record format 2), so that its hash can be recomputed: absent when the
    /// record is sealed for the viewer (without it the hash cannot be brute-forced) and on
    /// chains without salts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Previous hash.
    pub prev_hash: String,
    /// Hash.
    pub hash: String,
    /// The payload as labelled fields for reading (empty when sealed): participant numbers
    /// shown as their subject ids. Not part of the JSON form (the payload is).
    #[serde(skip)]
    pub fields: Vec<AuditField>,
}

/// One field of an audit record's payload, for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditField {
    /// What it is (the payload's key in words).
    pub label: String,
    /// Its value in words.
    pub value: String,
}

/// A page of the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    /// The records.
    pub entries: Vec<AuditEntry>,
    /// Matching records in all.
    pub total: i64,
    /// Every chain (for the filter).
    pub chains: Vec<String>,
    /// Every kind (for the filter).
    pub kinds: Vec<String>,
}

/// A trial as the export form offers it: exportable by this viewer now, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportChoice {
    /// Trial id.
    pub trial: String,
    /// Why the viewer cannot export it now (`None`: it can).
    pub refusal: Option<String>,
}

/// The kit code of participant `participant` of a trial with seed `seed_hex`: `KIT-` and 8
/// upper-case hex digits of SHA-256("bayestrial-kit" ‖ seed ‖ participant as 4 bytes
/// big-endian). It depends on the secret seed, not on the arm, so it reveals nothing.
pub fn kit_code(seed_hex: &str, participant: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"bayestrial-kit");
    hasher.update(seed_hex.as_bytes());
    hasher.update(participant.to_be_bytes());
    let digest = hasher.finalize();
    let hex = hex::encode_upper(&digest[..4]);
    format!("KIT-{}-{}", &hex[..4], &hex[4..])
}

/// The kit code of one period of an n-of-1 patient on a blinded trial: `KIT-` and 8 upper-case
/// hex digits of SHA-256("bayestrial-kit" ‖ seed ‖ participant ‖ period, each number as 4 bytes
/// big-endian). Like [`kit_code`], it depends on the secret seed only.
pub fn period_kit_code(seed_hex: &str, participant: u32, period: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"bayestrial-kit");
    hasher.update(seed_hex.as_bytes());
    hasher.update(participant.to_be_bytes());
    hasher.update(period.to_be_bytes());
    let digest = hasher.finalize();
    let hex = hex::encode_upper(&digest[..4]);
    format!("KIT-{}-{}", &hex[..4], &hex[4..])
}

/// A trial as a view reads it: its row, protocol, state and history at one head.
pub(crate) struct Snapshot {
    /// The trial's row.
    pub trial: TrialRow,
    /// Protocol version 1 (the engine's; amendments are events).
    pub protocol: Arc<LoadedProtocol>,
    /// The state at the head.
    pub state: TrialState,
    /// The engine's history at the head.
    pub history: Arc<History<u64>>,
}

impl Snapshot {
    /// What `actor` may see of this trial.
    pub fn sight(&self, actor: &Actor) -> Sight {
        Sight {
            role: actor.role,
            blinded: self.protocol.protocol.trial.blinded,
            stopped: matches!(self.state.status, TrialStatus::Stopped { .. }),
        }
    }
}

fn listing_status(status: &str) -> String {
    if status == "not_started" {
        "draft".to_owned()
    } else {
        status.to_owned()
    }
}

/// An outcome value as text for tables, a binary value in the outcome's own words.
pub fn outcome_text(value: &OutcomeValue, outcome: &OutcomeSpec) -> String {
    match value {
        OutcomeValue::Binary { response } => outcome.binary_label(*response).to_owned(),
        OutcomeValue::Continuous { value } => format!("{value}"),
        OutcomeValue::Count { events, exposure } => format!("{events} events / {exposure}"),
    }
}

/// An outcome value as a form field holds it ([`parse_outcome_text`] reads it back): `1` or
/// `0`, a number, `EVENTS` or `EVENTS/EXPOSURE`.
pub fn outcome_form_text(value: &OutcomeValue) -> String {
    match value {
        OutcomeValue::Binary { response } => u8::from(*response).to_string(),
        OutcomeValue::Continuous { value } => format!("{value}"),
        OutcomeValue::Count { events, exposure } if *exposure == 1.0 => events.to_string(),
        OutcomeValue::Count { events, exposure } => format!("{events}/{exposure}"),
    }
}

impl Service {
    /// Every trial with its status (any role).
    pub fn trials(&self, _actor: &Actor) -> Result<Vec<TrialListing>, ServiceError> {
        let mut conn = self.conn()?;
        Ok(TrialRow::all_with_status(&mut conn)?
            .into_iter()
            .map(|(trial, status)| TrialListing {
                id: trial.id,
                title: trial.title,
                tone: StatusTone::of(&listing_status(&status), None),
                status: listing_status(&status),
                version: trial.current_version,
            })
            .collect())
    }

    /// The trial's row, protocol (version 1) and state at the stored head. A cached state at
    /// that head is cloned in place (the next command keeps it); otherwise the trial is loaded
    /// and the cache refreshed.
    pub(crate) fn snapshot(
        &self,
        conn: &mut store::DbConn,
        trial_id: &str,
    ) -> Result<Snapshot, ServiceError> {
        let last = AuditRow::last_seq(conn, &chain_of(trial_id)?.to_string())?;
        let cached = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(trial_id)
                // A draft's protocol may be saved again without a record: never from cache.
                .filter(|c| last > 0 && c.head.as_ref().map_or(0, |h| h.seq as i64) == last)
                .map(|c| {
                    (
                        Arc::clone(&c.protocol),
                        c.state.clone(),
                        Arc::clone(&c.history),
                    )
                })
        });
        if let Some((protocol, state, history)) = cached {
            let trial = TrialRow::find(conn, trial_id)?
                .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
            return Ok(Snapshot {
                trial,
                protocol,
                state,
                history,
            });
        }
        let (trial, mut cached) = self.load_trial(conn, trial_id)?;
        cached.trial = None;
        let snapshot = Snapshot {
            trial,
            protocol: Arc::clone(&cached.protocol),
            state: cached.state.clone(),
            history: Arc::clone(&cached.history),
        };
        self.keep(trial_id, cached);
        Ok(snapshot)
    }

    /// The trial's row and the protocol its engine folds from, without its state: from the
    /// cache when it holds the trial, else folded (and cached). Never takes the cache entry away from
    /// a command that is running.
    pub(crate) fn trial_protocol(
        &self,
        conn: &mut store::DbConn,
        trial_id: &str,
    ) -> Result<(TrialRow, Arc<LoadedProtocol>), ServiceError> {
        let trial = TrialRow::find(conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        let cached = self
            .cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(trial_id).map(|c| Arc::clone(&c.protocol)));
        if let Some(protocol) = cached {
            return Ok((trial, protocol));
        }
        let snapshot = self.snapshot(conn, trial_id)?;
        Ok((trial, snapshot.protocol))
    }

    /// Reads a recorded value typed into a form or sent as JSON, for the trial's outcome kind:
    /// binary `1`/`0`/`true`/`false`/`response`/`no response`; continuous a number; count
    /// `EVENTS` or `EVENTS/EXPOSURE`.
    pub fn parse_outcome(&self, trial_id: &str, text: &str) -> Result<OutcomeValue, ServiceError> {
        let mut conn = self.conn()?;
        let (_, protocol) = self.trial_protocol(&mut conn, trial_id)?;
        parse_outcome_text(protocol.protocol.outcome.kind, text)
    }
}

/// See [`Service::parse_outcome`].
pub fn parse_outcome_text(kind: OutcomeKind, text: &str) -> Result<OutcomeValue, ServiceError> {
    let text = text.trim();
    let invalid = |problem: String| ServiceError::Invalid {
        field: "value",
        problem,
    };
    let number = |t: &str| {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| invalid(format!("{t:?} is not a finite number")))
    };
    match kind {
        OutcomeKind::Binary => match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "response" => Ok(OutcomeValue::Binary { response: true }),
            "0" | "false" | "no" | "no response" => Ok(OutcomeValue::Binary { response: false }),
            other => Err(invalid(format!(
                "{other:?} is not a binary outcome: use 1 (response) or 0 (no response)"
            ))),
        },
        OutcomeKind::Continuous => Ok(OutcomeValue::Continuous {
            value: number(text)?,
        }),
        OutcomeKind::Count => {
            let (events, exposure) = match text.split_once('/') {
                Some((e, x)) => (e, number(x)?),
                None => (text, 1.0),
            };
            let events = events.trim().parse::<u64>().map_err(|_| {
                invalid(format!(
                    "{events:?} is not a whole number of events (write EVENTS or EVENTS/EXPOSURE)"
                ))
            })?;
            Ok(OutcomeValue::Count { events, exposure })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_codes_are_stable_and_distinct() {
        let seed = "00".repeat(32);
        let a = kit_code(&seed, 0);
        assert_eq!(a, kit_code(&seed, 0));
        assert_ne!(a, kit_code(&seed, 1));
        assert_ne!(a, kit_code(&"11".repeat(32), 0));
        assert!(a.starts_with("KIT-") && a.len() == 13, "{a}");
    }

    #[test]
    fn outcome_text_is_read_by_kind() {
        assert_eq!(
            parse_outcome_text(OutcomeKind::Binary, "1").expect("binary"),
            OutcomeValue::Binary { response: true }
        );
        assert!(parse_outcome_text(OutcomeKind::Binary, "2").is_err());
        assert_eq!(
            parse_outcome_text(OutcomeKind::Continuous, " -2.5 ").expect("continuous"),
            OutcomeValue::Continuous { value: -2.5 }
        );
        assert!(parse_outcome_text(OutcomeKind::Continuous, "NaN").is_err());
        assert_eq!(
            parse_outcome_text(OutcomeKind::Count, "3/2.5").expect("count"),
            OutcomeValue::Count {
                events: 3,
                exposure: 2.5
            }
        );
        assert!(parse_outcome_text(OutcomeKind::Count, "-1").is_err());
    }
}
