//! Trial commands: create, sign, start, enrol, record outcomes, amend, pause, resume, close,
//! the committee's recommendation.
//! Each is one transaction under the trial's write lock (see the module docs of `service`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tracing::instrument;

mod amendment;
mod commands;
mod derive;
mod recommendation;
mod run;
mod versions;

pub use derive::{ProjectionDifference, ProjectionReport};
pub use recommendation::{parse_recommendation, RecommendationInput, RECOMMENDATION_ACTIONS};
pub use versions::SavedVersion;
pub(crate) use versions::{base_version, newest_version};

pub(super) use run::checkpoint_row;

use super::{Actor, Permission, Role, Service, ServiceError, Sight};
use crate::audit::{Attribution, AuditRecord, ChainId, Checkpoint, Purpose};
use crate::engine::history::Conduct;
use crate::engine::{
    Change, Decision, Disclosure, Engine, Event, History, NewArm, OutcomeValue, PatientEnd,
    RevealCause, TrialSeed, TrialState, TrialStatus,
};
use crate::protocol::{limits, ArmId, Design, LoadedProtocol};
use crate::store::{
    AuditRow, CheckpointRow, DbConn, IdempotencyKey, LookRow, NewOutboxRow, OutboxRow, OutcomeRow,
    ParticipantRow, Projections, ProtocolVersionRow, SignatureRow, TrialRow, UserRow, WriteLock,
};

/// What an electronic signature means (21 CFR 11.50(a)(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    /// "I wrote this."
    Authorship,
    /// "I approve this version": needed to start a trial and for amendments.
    Approval,
    /// "I have reviewed this."
    Review,
}

impl Meaning {
    fn as_str(self) -> &'static str {
        match self {
            Self::Authorship => "authorship",
            Self::Approval => "approval",
            Self::Review => "review",
        }
    }
}

impl fmt::Display for Meaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Meaning {
    type Err = ServiceError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "authorship" => Ok(Self::Authorship),
            "approval" => Ok(Self::Approval),
            "review" => Ok(Self::Review),
            other => Err(ServiceError::Invalid {
                field: "meaning",
                problem: format!("{other:?} is not authorship, approval or review"),
            }),
        }
    }
}

/// A protocol amendment.
#[derive(Debug, Clone, PartialEq)]
pub enum Amendment {
    /// A new arm.
    AddArm {
        /// Its id.
        id: ArmId,
        /// Its name.
        name: String,
        /// Fixed-allocation weight.
        ratio: u32,
    },
    /// A new maximum sample size.
    MaxParticipants(u32),
}

/// The answer to an enrolment: what the coordinator is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Trial.
    pub trial_id: String,
    /// Subject identifier.
    pub subject_id: String,
    /// Participant number (0-based enrolment order).
    pub participant: u32,
    /// The arm assigned (n-of-1: the treatment of the first period).
    pub arm: String,
    /// Seq of the `randomised` event on the trial's chain (n-of-1: of the first cycle's
    /// assignment).
    pub seq: u64,
    /// n-of-1: the calendar date of study day 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
}

/// The answer to a recorded outcome.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutcomeReceipt {
    /// Seq of the outcome (or correction) event: absent for viewers who do not see
    /// comparative records (see [`crate::service::ParticipantView::seq`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The seq of the outcome corrected, for a correction (absent where `seq` is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrects: Option<u64>,
    /// Looks that ran because of this outcome.
    pub looks: Vec<u32>,
    /// Whether the trial has stopped.
    pub stopped: bool,
}

/// The answer to an emergency unblinding: one participant's assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodeBreak {
    /// Subject identifier.
    pub subject_id: String,
    /// The arm (n-of-1: the first period's treatment).
    pub arm: String,
    /// n-of-1: every period's treatment, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatments: Option<Vec<String>>,
}

/// A trial as created.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrialSummary {
    /// Trial id.
    pub id: String,
    /// Protocol hash of version 1.
    pub protocol_hash: String,
    /// SHA-256 of the secret seed.
    pub seed_commitment: String,
}

/// The chain of an existing trial. An id that no chain can have names no trial (every trial's
/// id passed [`ChainId::trial`] when it was created), so it is not found: a request whose path
/// holds such an id gets a 404 naming it, never an internal error.
pub(crate) fn chain_of(trial_id: &str) -> Result<ChainId, ServiceError> {
    ChainId::trial(trial_id)
        .map_err(|e| ServiceError::NotFound(format!("no trial {trial_id:?}: {e}")))
}

/// Refuses a new trial's id outside the URL-safe set ([`limits::is_url_safe_id`]); trials
/// created before the rule keep their ids.
fn check_new_trial_id(id: &str) -> Result<(), ServiceError> {
    if limits::is_url_safe_id(id) {
        return Ok(());
    }
    Err(ServiceError::Invalid {
        field: "trial.id",
        problem: format!(
            "{id:?} is not allowed for a new trial: use 1 to {} ASCII letters, digits, '.', '_' \
             and '-' (not \".\" or \"..\")",
            limits::MAX_TRIAL_ID_CHARS
        ),
    })
}

/// The `trials.design` column's word for a design.
pub(crate) fn design_text(design: Design) -> &'static str {
    match design {
        Design::Platform => "platform",
        Design::Nof1 => "nof1",
    }
}

pub(crate) fn status_text(state: &TrialState) -> String {
    match &state.status {
        TrialStatus::NotStarted => "not_started".into(),
        TrialStatus::Running if state.enrolment_paused.is_some() => "paused".into(),
        TrialStatus::Running => "running".into(),
        TrialStatus::Stopped { .. } => "stopped".into(),
    }
}

fn check_key(key: &str) -> Result<(), ServiceError> {
    if key.is_empty() || key.len() > 128 || key.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ServiceError::Invalid {
            field: "idempotency_key",
            problem: "must be 1 to 128 printable characters without spaces".into(),
        });
    }
    Ok(())
}

fn need_reason(reason: &str, what: &str) -> Result<String, ServiceError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ServiceError::Invalid {
            field: "reason",
            problem: format!("{what} needs a reason"),
        });
    }
    Ok(reason.to_owned())
}

/// What the command's closure gets: the connection, the engine and the state to change.
pub(crate) struct Command<'a, 'p> {
    pub conn: &'a mut DbConn,
    pub engine: &'a mut Engine<'p>,
    pub state: &'a mut TrialState,
    pub trial: &'a TrialRow,
    pub protocol: &'a LoadedProtocol,
}

impl Service {
    /// Creates a trial from protocol text (statistician). The secret seed is drawn now; its
    /// commitment is recorded on the system chain and in the trial's first event.
    #[instrument(skip_all, fields(origin = %origin))]
    pub fn create_trial(
        &self,
        actor: &Actor,
        source: &str,
        origin: &str,
    ) -> Result<TrialSummary, ServiceError> {
        actor.require(Permission::WriteProtocols)?;
        self.insert_trial(actor, source, origin)
    }

    /// Loads a demo protocol as a draft trial on first start, attributed to `admin` (the
    /// account created at first start); the system chain records it like any creation.
    pub fn load_demo_trial(
        &self,
        admin: &Actor,
        source: &str,
        origin: &str,
    ) -> Result<TrialSummary, ServiceError> {
        admin.require(Permission::ManageUsers)?;
        self.insert_trial(admin, source, origin)
    }

    fn insert_trial(
        &self,
        actor: &Actor,
        source: &str,
        origin: &str,
    ) -> Result<TrialSummary, ServiceError> {
        let loaded = LoadedProtocol::from_toml(source, origin)?;
        let id = loaded.protocol.trial.id.clone();
        check_new_trial_id(&id)?;
        let seed = TrialSeed::from_bytes(self.randomness.bytes32());
        let summary = TrialSummary {
            id: id.clone(),
            protocol_hash: loaded.hash.to_hex(),
            seed_commitment: seed.commitment(),
        };
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            if TrialRow::find(conn, &id)?.is_some() {
                return Err(ServiceError::Conflict(format!("trial {id} exists already")));
            }
            let at = by.recorded_at.as_str().to_owned();
            TrialRow {
                id: id.clone(),
                title: loaded.protocol.trial.title.clone(),
                design: design_text(loaded.protocol.trial.design).into(),
                seed_hex: seed.to_hex(),
                seed_commitment: summary.seed_commitment.clone(),
                current_version: 1,
                created_by: actor.username.clone(),
                created_at: at.clone(),
            }
            .insert(conn)?;
            ProtocolVersionRow {
                trial_id: id.clone(),
                version: 1,
                hash: summary.protocol_hash.clone(),
                source: source.to_owned(),
                note: format!("created from {origin}"),
                created_by: actor.username.clone(),
                created_at: at,
            }
            .insert(conn)?;
            self.append_system(
                conn,
                &crate::audit::SystemEvent::TrialCreated {
                    id: summary.id.clone(),
                    protocol_hash: summary.protocol_hash.parse()?,
                    seed_commitment: summary.seed_commitment.parse()?,
                },
                &by,
            )?;
            let state = TrialState::new(&loaded.protocol)?;
            Projections {
                trial_status: Some((status_text(&state), 0)),
                ..Projections::default()
            }
            .write(conn, &id)?;
            let subject = format!("[{id}] protocol version 1 awaits approval");
            let messages: Vec<NewOutboxRow> = UserRow::emails_with_roles(conn, &["statistician"])?
                .into_iter()
                .map(|recipient| NewOutboxRow {
                    trial_id: Some(id.clone()),
                    recipient,
                    subject: subject.clone(),
                    body: format!(
                        "{subject}.\n\nCreated by {} at {} (protocol hash {}).\nA statistician's approval signature is needed before the trial can start.\n",
                        by.actor,
                        by.recorded_at.as_str(),
                        summary.protocol_hash
                    ),
                    created_at: by.recorded_at.as_str().to_owned(),
                })
                .collect();
            OutboxRow::queue(conn, &messages)?;
            Ok(())
        })?;
        Ok(summary)
    }

    /// Signs the trial's newest protocol version (a pending amendment's, else the one in
    /// force): the password is entered again; the signature carries its meaning, the signer's
    /// printed name and the UTC time, and is bound to the version's hash. An approval must come
    /// from someone other than the version's author (four eyes); approving a pending amendment
    /// brings it into force. Returns the signature's seq on the system chain.
    #[instrument(skip_all, fields(trial = %trial_id, meaning = %meaning))]
    pub fn sign(
        &self,
        actor: &Actor,
        trial_id: &str,
        meaning: Meaning,
        password: &str,
    ) -> Result<u64, ServiceError> {
        actor.require(Permission::SignProtocols)?;
        if meaning == Meaning::Approval {
            actor.require(Permission::DirectTrials)?;
        }
        let user = self.reauthenticate(actor, password, "an electronic signature")?;
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        let trial = TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        if meaning == Meaning::Approval
            && newest_version(&mut conn, &trial)?.version > trial.current_version
        {
            drop(conn);
            return self.approve_amendment(actor, trial_id, &user, &by);
        }
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            let trial = TrialRow::find(conn, trial_id)?
                .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
            let newest = newest_version(conn, &trial)?;
            self.signature(conn, &trial, newest.version, meaning, &user, &by)
        })
    }

    fn signature(
        &self,
        conn: &mut DbConn,
        trial: &TrialRow,
        version: i32,
        meaning: Meaning,
        user: &UserRow,
        by: &crate::audit::Attribution,
    ) -> Result<u64, ServiceError> {
        let protocol = ProtocolVersionRow::find(conn, &trial.id, version)?.ok_or_else(|| {
            ServiceError::Integrity(format!(
                "trial {} has no protocol version {version}",
                trial.id
            ))
        })?;
        four_eyes(&protocol, meaning, user)?;
        let record = self.append_system(
            conn,
            &crate::audit::SystemEvent::Signature(crate::audit::ElectronicSignature {
                trial: trial.id.clone(),
                version: u32::try_from(version).map_err(|_| {
                    ServiceError::Integrity(format!(
                        "trial {} has a protocol version numbered {version}",
                        trial.id
                    ))
                })?,
                protocol_hash: protocol.hash.parse()?,
                meaning: meaning.as_str().to_owned(),
                username: user.username.clone(),
                printed_name: user.printed_name.clone(),
                signed_at: by.recorded_at.clone(),
            }),
            by,
        )?;
        SignatureRow {
            system_seq: record.seq as i64,
            trial_id: trial.id.clone(),
            version,
            protocol_hash: protocol.hash,
            meaning: meaning.as_str().into(),
            username: user.username.clone(),
            printed_name: user.printed_name.clone(),
            signed_at: by.recorded_at.as_str().to_owned(),
        }
        .insert(conn)?;
        Ok(record.seq)
    }

    /// Starts the trial (statistician). Its protocol version must carry an approval signature.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn start(&self, actor: &Actor, trial_id: &str) -> Result<(), ServiceError> {
        actor.require(Permission::DirectTrials)?;
        self.run_command(actor, trial_id, None, WriteLock::Trial(trial_id), |c| {
            let approved = SignatureRow::for_version(c.conn, trial_id, c.trial.current_version)?
                .iter()
                .any(|s| s.meaning == Meaning::Approval.as_str());
            if !approved {
                return Err(ServiceError::Conflict(format!(
                    "trial {trial_id} cannot start: protocol version {} has no approval signature",
                    c.trial.current_version
                )));
            }
            let events = c.engine.start(c.state, &c.protocol.hash.to_hex())?;
            Ok((events, ()))
        })
    }
}

/// Four eyes: the author of a protocol version may sign it for authorship or review, never
/// approve it. The one rule of [`Service::sign`], checked before anything else an approval
/// needs (an amendment's simulation).
fn four_eyes(
    version: &ProtocolVersionRow,
    meaning: Meaning,
    user: &UserRow,
) -> Result<(), ServiceError> {
    if meaning == Meaning::Approval && version.created_by == user.username {
        return Err(ServiceError::Forbidden(format!(
            "you wrote protocol version {} of trial {}: its approval must come from another \
             statistician (four eyes); you may sign it for authorship or review",
            version.version, version.trial_id
        )));
    }
    Ok(())
}
