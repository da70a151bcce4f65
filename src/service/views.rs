//! What each role may read: the trial list, a trial's overview, its participants and their
//! timelines, the unblinded results (statisticians and the DMC only, and every view of them is
//! recorded) and the audit trail (filtered, sorted, paged; its exports are in `export.rs`).
//!
//! Blinding is decided here, once, so that the web pages and the JSON API cannot differ:
//! [`Role::sees_results`] roles get arm-level results and allocation probabilities; every other
//! role gets views without them, a kit code instead of the arm on blinded trials, and audit
//! records of running trials with their comparative payloads sealed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::instrument;

use super::trial::{chain_of, status_text};
use super::{record_from_row, Actor, Role, Service, ServiceError};
use crate::engine::{
    ArmAnalysis, ArmShare, ArmStatus, EventBody, OutcomeValue, StopReason, TrialState, TrialStatus,
};
use crate::protocol::{Design, LoadedProtocol, OutcomeKind};
use crate::stats::Quadrature;
use crate::store::{
    self, AuditQuery, AuditRow, CheckpointRow, OutcomeRow, ParticipantRow, ProtocolVersionRow,
    SignatureRow, TrialRow, WriteLock,
};

/// Event kinds whose payload reveals comparative results or allocation probabilities.
const SEALED_KINDS: &[&str] = &[
    "randomised",
    "allocation_updated",
    "look_performed",
    "arm_dropped",
    "control_changed",
    "trial_stopped",
    "nof1_cycle_assigned",
    "patient_look_performed",
    "patient_finished",
    "series_look_performed",
];

impl Role {
    /// Whether the role may see arm-level results and allocation probabilities (ARCHITECTURE
    /// §8): statisticians and the DMC.
    pub fn sees_results(self) -> bool {
        matches!(self, Role::Statistician | Role::Dmc)
    }

    /// Whether the role may read the audit trail, verify it and export it.
    pub fn reads_audit(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Statistician | Role::Dmc | Role::Regulator
        )
    }

    /// Whether the role may list a trial's participants.
    pub fn sees_participants(self) -> bool {
        matches!(self, Role::Coordinator | Role::Statistician | Role::Dmc)
    }
}

/// A trial in the list.
#[derive(Debug, Clone, Serialize)]
pub struct TrialListing {
    /// Trial id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `draft` (not started), `running`, `paused` or `stopped`.
    pub status: String,
    /// Current protocol version.
    pub version: i32,
}

/// One arm as every role may see it: no results.
#[derive(Debug, Clone, Serialize)]
pub struct ArmView {
    /// Arm id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `pending`, `open` or `closed`.
    pub status: &'static str,
    /// Whether it is the current control.
    pub control: bool,
}

/// A protocol version.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    /// Version number.
    pub version: i32,
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
    /// The current protocol version's TOML text.
    pub source: String,
    /// Results: present only for roles that see them and only when asked for.
    pub results: Option<TrialResults>,
}

/// One arm's current posterior (from every outcome so far).
#[derive(Debug, Clone, Serialize)]
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
    /// Posterior mean.
    pub mean: Option<f64>,
    /// Posterior SD.
    pub sd: Option<f64>,
    /// Equal-tailed 95% credible interval.
    pub ci95: [f64; 2],
    /// The density on a grid from the 0.1% to the 99.9% quantile: (θ, density).
    pub curve: Vec<[f64; 2]>,
}

/// A look and what it decided.
#[derive(Debug, Clone, Serialize)]
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
    /// Decisions taken at this look, in words.
    pub decisions: Vec<String>,
}

/// The allocation probabilities in force at one randomisation.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationPoint {
    /// Participant number (0-based).
    pub participant: u32,
    /// Probability per arm.
    pub probabilities: Vec<ArmShare>,
}

/// Unblinded results (statisticians and the DMC).
#[derive(Debug, Clone, Serialize)]
pub struct TrialResults {
    /// Which per-arm probability the looks report: `p_best` or `p_better_than_control`.
    pub comparison: &'static str,
    /// Current posteriors.
    pub posteriors: Vec<ArmPosterior>,
    /// Looks with their decisions.
    pub looks: Vec<LookResult>,
    /// Allocation probabilities at each randomisation.
    pub allocation: Vec<AllocationPoint>,
}

/// A participant as the viewer may see them.
#[derive(Debug, Clone, Serialize)]
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
    /// Seq of the randomisation.
    pub seq: i64,
    /// Who enrolled them.
    pub enrolled_by: String,
    /// When.
    pub enrolled_at: String,
    /// The current outcome, as text.
    pub outcome: Option<String>,
}

/// One entry of a participant's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// When.
    pub at: String,
    /// Seq on the trial's chain.
    pub seq: i64,
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
    /// Enrolment, assignment, outcomes and corrections, in order.
    pub timeline: Vec<TimelineEntry>,
}

/// An assignment as shown to the person who enrolled (or anyone else).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
    /// Seq of the randomisation.
    pub seq: u64,
}

/// An audit record as the viewer may see it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Chain.
    pub chain: String,
    /// Seq.
    pub seq: i64,
    /// Kind.
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
    /// Previous hash.
    pub prev_hash: String,
    /// Hash.
    pub hash: String,
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

fn arm_status_word(status: ArmStatus) -> &'static str {
    match status {
        ArmStatus::Pending => "pending",
        ArmStatus::Active => "open",
        ArmStatus::Dropped => "closed",
    }
}

fn listing_status(status: &str) -> String {
    if status == "not_started" {
        "draft".to_owned()
    } else {
        status.to_owned()
    }
}

/// An outcome value as text for tables.
pub fn outcome_text(value: &OutcomeValue) -> String {
    match value {
        OutcomeValue::Binary { response: true } => "response".to_owned(),
        OutcomeValue::Binary { response: false } => "no response".to_owned(),
        OutcomeValue::Continuous { value } => format!("{value}"),
        OutcomeValue::Count { events, exposure } => format!("{events} events / {exposure}"),
    }
}

fn stop_words(reason: &StopReason, unblinded: bool) -> String {
    match reason {
        StopReason::Closed { reason } => format!("closed: {reason}"),
        StopReason::MaxParticipants => "the maximum sample size was reached".to_owned(),
        _ if !unblinded => "stopped by a decision rule at a look".to_owned(),
        StopReason::Superiority {
            arm,
            probability,
            threshold,
        } => format!("arm {arm} superior: P(best) {probability:.4} > {threshold}"),
        StopReason::Equivalence {
            probability,
            threshold,
        } => format!("arms equivalent: P {probability:.4} > {threshold}"),
        StopReason::OneArmLeft { arm } => format!("only arm {arm} is left"),
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
                status: listing_status(&status),
                version: trial.current_version,
            })
            .collect())
    }

    /// The trial's row, protocol (version 1) and state at the stored head. A cached state at
    /// that head is cloned in place (the next command keeps it); otherwise the trial is loaded
    /// and the cache refreshed.
    pub(super) fn snapshot(
        &self,
        conn: &mut store::DbConn,
        trial_id: &str,
    ) -> Result<(TrialRow, Arc<LoadedProtocol>, TrialState), ServiceError> {
        let last = AuditRow::last_seq(conn, &chain_of(trial_id)?.to_string())?;
        let cached = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(trial_id)
                .filter(|c| c.head.as_ref().map_or(0, |h| h.seq as i64) == last)
                .map(|c| (Arc::clone(&c.protocol), c.state.clone()))
        });
        if let Some((protocol, state)) = cached {
            let trial = TrialRow::find(conn, trial_id)?
                .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
            return Ok((trial, protocol, state));
        }
        let (trial, mut cached) = self.load_trial(conn, trial_id)?;
        cached.trial = None;
        let protocol = Arc::clone(&cached.protocol);
        let state = cached.state.clone();
        self.keep(trial_id, cached);
        Ok((trial, protocol, state))
    }

    /// The trial's row and protocol (version 1), without its state: from the cache when it
    /// holds the trial, else parsed from the stored text. Never takes the cache entry away from
    /// a command that is running.
    fn trial_protocol(
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
        let version = ProtocolVersionRow::find(conn, trial_id, 1)?.ok_or_else(|| {
            ServiceError::Integrity(format!("trial {trial_id} has no protocol version 1"))
        })?;
        let protocol =
            LoadedProtocol::from_toml(&version.source, &format!("trial {trial_id} version 1"))?;
        Ok((trial, Arc::new(protocol)))
    }

    /// A trial's overview for `actor`. With `with_results`, the unblinded results are added:
    /// only statisticians and the DMC may ask, and the view is recorded on the system chain
    /// (`results_viewed`).
    #[instrument(skip_all, fields(trial = %trial_id, role = %actor.role, with_results))]
    pub fn trial_view(
        &self,
        actor: &Actor,
        trial_id: &str,
        with_results: bool,
    ) -> Result<TrialView, ServiceError> {
        if with_results && !actor.role.sees_results() {
            return Err(ServiceError::Forbidden(format!(
                "the {} role may not see unblinded results",
                actor.role
            )));
        }
        let mut conn = self.conn()?;
        let (trial, protocol, state) = self.snapshot(&mut conn, trial_id)?;
        let current = ProtocolVersionRow::find(&mut conn, trial_id, trial.current_version)?
            .ok_or_else(|| {
                ServiceError::Integrity(format!(
                    "trial {trial_id} has no protocol version {}",
                    trial.current_version
                ))
            })?;
        let versions = ProtocolVersionRow::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(|v| VersionView {
                version: v.version,
                hash: v.hash,
                note: v.note,
                created_by: v.created_by,
                created_at: v.created_at,
            })
            .collect();
        let signatures: Vec<SignatureView> = SignatureRow::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(|s| SignatureView {
                version: s.version,
                protocol_hash: s.protocol_hash,
                meaning: s.meaning,
                printed_name: s.printed_name,
                username: s.username,
                signed_at: s.signed_at,
            })
            .collect();
        let approved = signatures.iter().any(|s| {
            s.version == trial.current_version
                && s.meaning == "approval"
                && s.protocol_hash == current.hash
        });
        let unblinded = actor.role.sees_results();
        let p = &protocol.protocol;
        let mut view = TrialView {
            id: trial.id.clone(),
            title: trial.title.clone(),
            blinded: p.trial.blinded,
            nof1: p.trial.design == Design::Nof1,
            status: listing_status(&status_text(&state)),
            stopped_because: match &state.status {
                TrialStatus::Stopped { reason } => Some(stop_words(reason, unblinded)),
                _ => None,
            },
            version: trial.current_version,
            protocol_hash: current.hash,
            source: current.source,
            approved,
            outcome_kind: p.outcome.kind,
            outcome_name: p.outcome.name.clone(),
            outcome_min: p.outcome.min,
            outcome_max: p.outcome.max,
            max_participants: state.max_participants,
            enrolled: state.enrolled(),
            outcomes: state.outcomes,
            looks_done: state.looks_done,
            looks_planned: state.looks.clone(),
            arms: state
                .arms
                .iter()
                .enumerate()
                .map(|(i, arm)| ArmView {
                    id: arm.id.to_string(),
                    name: arm.name.clone(),
                    status: arm_status_word(arm.status),
                    control: state.control == Some(i),
                })
                .collect(),
            scenarios: p.scenarios.iter().map(|s| s.name.clone()).collect(),
            versions,
            signatures,
            results: None,
        };
        if with_results {
            view.results = Some(self.results(&mut conn, trial_id, &protocol, &state)?);
            let by = self.attribution(actor, None);
            self.write_transaction(&mut conn, WriteLock::System, |conn| {
                self.append_system(
                    conn,
                    &crate::audit::SystemEvent::ResultsViewed {
                        trial: trial_id.to_owned(),
                        head_seq: state.last_seq,
                        view: None,
                    },
                    &by,
                )
                .map(|_| ())
            })?;
        }
        Ok(view)
    }

    fn results(
        &self,
        conn: &mut store::DbConn,
        trial_id: &str,
        protocol: &LoadedProtocol,
        state: &TrialState,
    ) -> Result<TrialResults, ServiceError> {
        let mut quadrature = Quadrature::new();
        let mut assigned = vec![0_u32; state.arms.len()];
        for participant in &state.participants {
            if let Some(arm) = participant.arm {
                assigned[arm] += 1;
            }
        }
        let chain = chain_of(trial_id)?.to_string();
        let mut looks: Vec<LookResult> = Vec::new();
        let mut drop_reasons: BTreeMap<String, String> = BTreeMap::new();
        for row in AuditRow::after(conn, &chain, 0)? {
            let event = record_from_row(row)?.to_event()?;
            let decision = match event.body {
                EventBody::LookPerformed {
                    look,
                    outcomes,
                    enrolled,
                    arms,
                } => {
                    looks.push(LookResult {
                        look,
                        seq: event.seq,
                        outcomes,
                        enrolled,
                        arms,
                        decisions: Vec::new(),
                    });
                    None
                }
                EventBody::ArmDropped {
                    arm,
                    reason,
                    probability,
                    threshold,
                    ..
                } => {
                    let why = serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    drop_reasons.insert(arm.to_string(), why.clone());
                    Some(format!(
                        "arm {arm} dropped for {why} (probability {probability:.4}, threshold {threshold})"
                    ))
                }
                EventBody::ControlChanged {
                    from,
                    to,
                    probability,
                    threshold,
                    ..
                } => Some(format!(
                    "arm {to} superior to control {from} (P {probability:.4} > {threshold}); {to} is the new control"
                )),
                EventBody::TrialStopped { reason } => {
                    Some(format!("trial stopped: {}", stop_words(&reason, true)))
                }
                _ => None,
            };
            if let (Some(decision), Some(look)) = (decision, looks.last_mut()) {
                look.decisions.push(decision);
            }
        }
        let mut posteriors = Vec::with_capacity(state.arms.len());
        for (i, arm) in state.arms.iter().enumerate() {
            let marginal = arm.model.posterior();
            let numeric = |e: crate::stats::StatsError| {
                ServiceError::Integrity(format!("arm {} posterior: {e}", arm.id))
            };
            let summary = quadrature.summary(&marginal).map_err(numeric)?;
            let low = quadrature.quantile(&marginal, 0.001).map_err(numeric)?;
            let high = quadrature.quantile(&marginal, 0.999).map_err(numeric)?;
            const POINTS: usize = 121;
            let curve = (0..POINTS)
                .map(|k| {
                    let theta = low + (high - low) * k as f64 / (POINTS - 1) as f64;
                    [theta, marginal.density(theta)]
                })
                .collect();
            let id = arm.id.to_string();
            posteriors.push(ArmPosterior {
                status: match drop_reasons.get(&id) {
                    Some(why) if arm.status == ArmStatus::Dropped => format!("closed ({why})"),
                    _ => arm_status_word(arm.status).to_owned(),
                },
                arm: id,
                name: arm.name.clone(),
                assigned: assigned[i],
                n: arm.model.observations(),
                mean: summary.mean,
                sd: summary.sd,
                ci95: summary.ci95,
                curve,
            });
        }
        let allocation = ParticipantRow::of_trial(conn, trial_id)?
            .into_iter()
            .map(|row| {
                let probabilities: Vec<ArmShare> = serde_json::from_str(&row.probabilities)
                    .map_err(|e| {
                        ServiceError::Integrity(format!(
                            "participant {} probabilities: {e}",
                            row.participant
                        ))
                    })?;
                Ok(AllocationPoint {
                    participant: row.participant as u32,
                    probabilities,
                })
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        Ok(TrialResults {
            comparison: if protocol.protocol.arms.iter().any(|a| a.control) {
                "p_better_than_control"
            } else {
                "p_best"
            },
            posteriors,
            looks,
            allocation,
        })
    }

    fn participant_view(
        &self,
        actor: &Actor,
        trial: &TrialRow,
        blinded: bool,
        row: &ParticipantRow,
        state: &TrialState,
    ) -> ParticipantView {
        let concealed = blinded && !actor.role.sees_results();
        let outcome = state
            .participants
            .get(row.participant as usize)
            .and_then(|p| p.outcome.as_ref())
            .map(outcome_text);
        ParticipantView {
            subject_id: row.subject_id.clone(),
            participant: row.participant,
            arm: (!concealed).then(|| row.arm.clone()),
            kit: blinded.then(|| kit_code(&trial.seed_hex, row.participant as u32)),
            seq: row.seq,
            enrolled_by: row.enrolled_by.clone(),
            enrolled_at: row.enrolled_at.clone(),
            outcome,
        }
    }

    /// A trial's participants (coordinators, statisticians, the DMC).
    pub fn participants(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<Vec<ParticipantView>, ServiceError> {
        actor.require(
            &[Role::Coordinator, Role::Statistician, Role::Dmc],
            "list participants",
        )?;
        let mut conn = self.conn()?;
        let (trial, protocol, state) = self.snapshot(&mut conn, trial_id)?;
        let blinded = protocol.protocol.trial.blinded;
        Ok(ParticipantRow::of_trial(&mut conn, trial_id)?
            .iter()
            .map(|row| self.participant_view(actor, &trial, blinded, row, &state))
            .collect())
    }

    /// One participant with their timeline.
    pub fn participant(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
    ) -> Result<ParticipantDetail, ServiceError> {
        actor.require(
            &[Role::Coordinator, Role::Statistician, Role::Dmc],
            "see participants",
        )?;
        let mut conn = self.conn()?;
        let (trial, protocol, state) = self.snapshot(&mut conn, trial_id)?;
        let row =
            ParticipantRow::by_subject(&mut conn, trial_id, subject_id)?.ok_or_else(|| {
                ServiceError::NotFound(format!("no participant {subject_id} in trial {trial_id}"))
            })?;
        let view =
            self.participant_view(actor, &trial, protocol.protocol.trial.blinded, &row, &state);
        let assignment = match (&view.arm, &view.kit) {
            (Some(arm), Some(kit)) => format!("randomised to {arm} (kit {kit})"),
            (Some(arm), None) => format!("randomised to {arm}"),
            (None, Some(kit)) => format!("randomised: kit {kit}"),
            (None, None) => "randomised".to_owned(),
        };
        let mut timeline = vec![
            TimelineEntry {
                at: row.enrolled_at.clone(),
                seq: row.seq - 1,
                what: "enrolled (eligibility confirmed)".to_owned(),
                by: row.enrolled_by.clone(),
                reason: None,
            },
            TimelineEntry {
                at: row.enrolled_at.clone(),
                seq: row.seq,
                what: assignment,
                by: row.enrolled_by.clone(),
                reason: None,
            },
        ];
        for outcome in OutcomeRow::of_participant(&mut conn, trial_id, row.participant)? {
            let value: OutcomeValue = serde_json::from_str(&outcome.value).map_err(|e| {
                ServiceError::Integrity(format!("outcome {} value: {e}", outcome.seq))
            })?;
            timeline.push(TimelineEntry {
                at: outcome.recorded_at,
                seq: outcome.seq,
                what: match outcome.corrects {
                    Some(seq) => format!(
                        "outcome corrected to {} (corrects seq {seq})",
                        outcome_text(&value)
                    ),
                    None => format!("outcome recorded: {}", outcome_text(&value)),
                },
                by: outcome.recorded_by,
                reason: outcome.reason,
            });
        }
        Ok(ParticipantDetail {
            participant: view,
            timeline,
        })
    }

    /// What the person who enrolled is shown: the arm, or a kit code on a blinded trial for
    /// roles that do not see results.
    pub fn assignment_view(
        &self,
        actor: &Actor,
        assignment: &super::Assignment,
    ) -> Result<AssignmentView, ServiceError> {
        let mut conn = self.conn()?;
        let (trial, protocol) = self.trial_protocol(&mut conn, &assignment.trial_id)?;
        let blinded = protocol.protocol.trial.blinded;
        let concealed = blinded && !actor.role.sees_results();
        // Arms added by amendment are not in version 1: their id stands for their name.
        let arm_name = protocol
            .protocol
            .arms
            .iter()
            .find(|a| a.id.as_str() == assignment.arm)
            .map(|a| a.name.clone());
        Ok(AssignmentView {
            trial_id: assignment.trial_id.clone(),
            subject_id: assignment.subject_id.clone(),
            arm: (!concealed).then(|| assignment.arm.clone()),
            arm_name: if concealed { None } else { arm_name },
            kit: blinded.then(|| kit_code(&trial.seed_hex, assignment.participant)),
            seq: assignment.seq,
        })
    }

    /// The trial's current protocol version, parsed, and its number (statisticians: for
    /// simulation before approval or amendment).
    pub fn current_protocol(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<(LoadedProtocol, i32), ServiceError> {
        actor.require(&[Role::Statistician], "simulate protocols")?;
        let mut conn = self.conn()?;
        let trial = TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        let version = ProtocolVersionRow::find(&mut conn, trial_id, trial.current_version)?
            .ok_or_else(|| {
                ServiceError::Integrity(format!("trial {trial_id} has no current version"))
            })?;
        let origin = format!("trial {trial_id} version {}", version.version);
        Ok((
            LoadedProtocol::from_toml(&version.source, &origin)?,
            version.version,
        ))
    }

    /// Reads a recorded value typed into a form or sent as JSON, for the trial's outcome kind:
    /// binary `1`/`0`/`true`/`false`/`response`/`no response`; continuous a number; count
    /// `EVENTS` or `EVENTS/EXPOSURE`.
    pub fn parse_outcome(&self, trial_id: &str, text: &str) -> Result<OutcomeValue, ServiceError> {
        let mut conn = self.conn()?;
        let (_, protocol) = self.trial_protocol(&mut conn, trial_id)?;
        parse_outcome_text(protocol.protocol.outcome.kind, text)
    }

    pub(super) fn sealed_for(&self, actor: &Actor, chain: &str, conn: &mut store::DbConn) -> bool {
        if actor.role.sees_results() {
            return false;
        }
        let Some(trial_id) = chain.strip_prefix("trial:") else {
            return false;
        };
        // Sealed unless the trial has stopped.
        !matches!(
            self.snapshot(conn, trial_id).map(|(_, _, s)| s.status),
            Ok(TrialStatus::Stopped { .. })
        )
    }

    /// A page of the audit trail (admin, statistician, DMC, regulator). For roles that do not
    /// see results, the comparative payloads of running trials are sealed (their hashes are
    /// shown and verified; the payloads open once the trial stops).
    pub fn audit_page(&self, actor: &Actor, query: &AuditQuery) -> Result<AuditPage, ServiceError> {
        if !actor.role.reads_audit() {
            return Err(ServiceError::Forbidden(format!(
                "the {} role may not read the audit trail",
                actor.role
            )));
        }
        let mut conn = self.conn()?;
        let (rows, total) = AuditRow::search(&mut conn, query)?;
        let mut sealed_chains: BTreeMap<String, bool> = BTreeMap::new();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let sealed_chain = match sealed_chains.get(&row.chain) {
                Some(sealed) => *sealed,
                None => {
                    let sealed = self.sealed_for(actor, &row.chain, &mut conn);
                    sealed_chains.insert(row.chain.clone(), sealed);
                    sealed
                }
            };
            entries.push(audit_entry(row, sealed_chain));
        }
        Ok(AuditPage {
            entries,
            total,
            chains: AuditRow::chains(&mut conn)?,
            kinds: AuditRow::kinds(&mut conn)?,
        })
    }

    /// Every signed checkpoint (roles that read the audit trail).
    pub fn checkpoints(&self, actor: &Actor) -> Result<Vec<CheckpointRow>, ServiceError> {
        if !actor.role.reads_audit() {
            return Err(ServiceError::Forbidden(format!(
                "the {} role may not read the audit trail",
                actor.role
            )));
        }
        let mut conn = self.conn()?;
        let mut all = Vec::new();
        for chain in AuditRow::chains(&mut conn)? {
            all.extend(CheckpointRow::of_chain(&mut conn, &chain)?);
        }
        Ok(all)
    }

    /// The trial's records after `after` as the viewer may see them (`GET …/events`).
    pub fn trial_events(
        &self,
        actor: &Actor,
        trial_id: &str,
        after: i64,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        if !actor.role.reads_audit() {
            return Err(ServiceError::Forbidden(format!(
                "the {} role may not read the audit trail",
                actor.role
            )));
        }
        let chain = chain_of(trial_id)?.to_string();
        let mut conn = self.conn()?;
        if TrialRow::find(&mut conn, trial_id)?.is_none() {
            return Err(ServiceError::NotFound(format!("no trial {trial_id}")));
        }
        let sealed = self.sealed_for(actor, &chain, &mut conn);
        Ok(AuditRow::after(&mut conn, &chain, after.max(0))?
            .into_iter()
            .map(|row| audit_entry(row, sealed))
            .collect())
    }
}

fn audit_entry(row: AuditRow, sealed_chain: bool) -> AuditEntry {
    let sealed = sealed_chain && SEALED_KINDS.contains(&row.kind.as_str());
    AuditEntry {
        payload: if sealed {
            "(sealed until the trial stops: comparative results and allocation)".to_owned()
        } else {
            row.payload
        },
        sealed,
        chain: row.chain,
        seq: row.seq,
        kind: row.kind,
        actor: row.actor,
        role: row.role,
        recorded_at: row.recorded_at,
        reason: row.reason,
        prev_hash: row.prev_hash,
        hash: row.hash,
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
