//! Trial commands: create, sign, start, enrol, record outcomes, amend, pause, resume, close.
//! Each is one transaction under the trial's write lock (see the module docs of `service`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{record_from_row, row_from_record, Actor, CachedTrial, Role, Service, ServiceError};
use crate::audit::{AuditRecord, ChainHead, ChainId, Checkpoint, Purpose};
use crate::engine::{
    Engine, Event, EventBody, NewArm, OutcomeValue, TrialSeed, TrialState, TrialStatus,
};
use crate::protocol::{ArmId, Design, LoadedProtocol, Prior};
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReceipt {
    /// Seq of the outcome (or correction) event.
    pub seq: u64,
    /// The seq of the outcome corrected, for a correction.
    pub corrects: Option<u64>,
    /// Looks that ran because of this outcome.
    pub looks: Vec<u32>,
    /// Whether the trial has stopped.
    pub stopped: bool,
}

/// A trial as created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialSummary {
    /// Trial id.
    pub id: String,
    /// Protocol hash of version 1.
    pub protocol_hash: String,
    /// SHA-256 of the secret seed.
    pub seed_commitment: String,
}

pub(super) fn chain_of(trial_id: &str) -> Result<ChainId, ServiceError> {
    Ok(ChainId::trial(trial_id)?)
}

pub(super) fn status_text(state: &TrialState) -> String {
    match &state.status {
        TrialStatus::NotStarted => "not_started".into(),
        TrialStatus::Running if state.enrolment_paused => "paused".into(),
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
pub(super) struct Command<'a, 'p> {
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
        actor.require(&[Role::Statistician], "create trials")?;
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
        admin.require(&[Role::Admin], "load demo protocols")?;
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
        chain_of(&id)?;
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
                design: match loaded.protocol.trial.design {
                    Design::Platform => "platform".into(),
                    Design::Nof1 => "nof1".into(),
                },
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

    /// Signs the trial's current protocol version: the password is entered again; the
    /// signature carries its meaning, the signer's printed name and the UTC time, and is bound
    /// to the version's hash. Returns the signature's seq on the system chain.
    #[instrument(skip_all, fields(trial = %trial_id, meaning = %meaning))]
    pub fn sign(
        &self,
        actor: &Actor,
        trial_id: &str,
        meaning: Meaning,
        password: &str,
    ) -> Result<u64, ServiceError> {
        actor.require(&[Role::Statistician, Role::Dmc], "sign protocols")?;
        if meaning == Meaning::Approval {
            actor.require(&[Role::Statistician], "approve protocols")?;
        }
        let user = self.reauthenticate(actor, password, "an electronic signature")?;
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            let trial = TrialRow::find(conn, trial_id)?
                .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
            self.signature(conn, &trial, trial.current_version, meaning, &user, &by)
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
        actor.require(&[Role::Statistician], "start trials")?;
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

    /// Enrols and randomises a participant (coordinator). With an idempotency key, a retried
    /// request returns the first answer and appends nothing. An n-of-1 patient starts today.
    pub fn enrol(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Assignment, ServiceError> {
        self.enrol_starting(actor, trial_id, subject_id, idempotency_key, None)
    }

    /// [`Service::enrol`]; an n-of-1 patient's study day 1 is `start_date` (`YYYY-MM-DD`,
    /// default: today by the service's clock).
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn enrol_starting(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        idempotency_key: Option<&str>,
        start_date: Option<&str>,
    ) -> Result<Assignment, ServiceError> {
        actor.require(&[Role::Coordinator], "enrol participants")?;
        if let Some(key) = idempotency_key {
            check_key(key)?;
        }
        let at = self.clock.now();
        self.run_command(actor, trial_id, None, WriteLock::Trial(trial_id), |c| {
            if let Some(key) = idempotency_key {
                if let Some(response) = IdempotencyKey::find(c.conn, trial_id, key)? {
                    let first: Assignment = serde_json::from_str(&response).map_err(|e| {
                        ServiceError::Integrity(format!("stored answer for key {key}: {e}"))
                    })?;
                    if first.subject_id != subject_id.trim() {
                        return Err(ServiceError::Conflict(format!(
                            "idempotency key {key} was used for subject {}, not {}",
                            first.subject_id,
                            subject_id.trim()
                        )));
                    }
                    return Ok((Vec::new(), first));
                }
            }
            let nof1 = c.protocol.protocol.trial.design == Design::Nof1;
            let start = start_date
                .map(str::to_owned)
                .unwrap_or_else(|| at.as_str().get(..10).unwrap_or_default().to_owned());
            let events = if nof1 {
                c.engine.enrol_patient(c.state, subject_id, &start)?
            } else {
                c.engine.enrol(c.state, subject_id)?
            };
            let assignment = events
                .iter()
                .find_map(|event| match &event.body {
                    EventBody::Randomised {
                        participant, arm, ..
                    } => Some(Assignment {
                        trial_id: trial_id.to_owned(),
                        subject_id: subject_id.trim().to_owned(),
                        participant: *participant,
                        arm: arm.to_string(),
                        seq: event.seq,
                        start_date: None,
                    }),
                    EventBody::Nof1CycleAssigned {
                        participant,
                        cycle: 1,
                        treatments,
                        ..
                    } => Some(Assignment {
                        trial_id: trial_id.to_owned(),
                        subject_id: subject_id.trim().to_owned(),
                        participant: *participant,
                        arm: treatments
                            .first()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        seq: event.seq,
                        start_date: Some(start.clone()),
                    }),
                    _ => None,
                })
                .ok_or_else(|| ServiceError::Integrity("enrolment without randomisation".into()))?;
            if let Some(key) = idempotency_key {
                let response = serde_json::to_string(&assignment)
                    .map_err(|e| ServiceError::Integrity(e.to_string()))?;
                IdempotencyKey::insert(c.conn, trial_id, key, &response, at.as_str())?;
            }
            Ok((events, assignment))
        })
    }

    /// Records an outcome (coordinator). If the participant has one already, this is a
    /// correction and needs a reason; the correction names the event it corrects.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn record_outcome(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        value: OutcomeValue,
        reason: Option<&str>,
    ) -> Result<OutcomeReceipt, ServiceError> {
        actor.require(&[Role::Coordinator], "record outcomes")?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        self.run_command(actor, trial_id, reason, WriteLock::Trial(trial_id), |c| {
            let subject = subject_id.trim();
            let index = c.state.participant_index(subject).ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "subject {subject} is not enrolled in trial {trial_id}"
                ))
            })?;
            let corrects = c.state.participants[index].outcome_seq;
            let events = match (corrects, reason) {
                (None, _) => c.engine.record_outcome(c.state, subject, value)?,
                (Some(_), Some(reason)) => {
                    c.engine.correct_outcome(c.state, subject, value, reason)?
                }
                (Some(seq), None) => {
                    return Err(ServiceError::Conflict(format!(
                        "subject {subject} already has an outcome (event {seq}); a correction needs a reason"
                    )))
                }
            };
            let receipt = OutcomeReceipt {
                seq: events.first().map_or(0, |e| e.seq),
                corrects,
                looks: events
                    .iter()
                    .filter_map(|e| match e.body {
                        EventBody::LookPerformed { look, .. } => Some(look),
                        _ => None,
                    })
                    .collect(),
                stopped: matches!(c.state.status, TrialStatus::Stopped { .. }),
            };
            Ok((events, receipt))
        })
    }

    /// Amends the protocol (statistician, with the password again): a new protocol version is
    /// stored with its hash and an approval signature bound to it, and the engine records the
    /// change.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn amend(
        &self,
        actor: &Actor,
        trial_id: &str,
        amendment: &Amendment,
        password: &str,
        reason: &str,
    ) -> Result<i32, ServiceError> {
        actor.require(&[Role::Statistician], "amend protocols")?;
        let reason = need_reason(reason, "an amendment")?;
        let user = self.reauthenticate(actor, password, "an amendment")?;
        let by = self.attribution(actor, Some(&reason));
        self.run_command(
            actor,
            trial_id,
            Some(&reason),
            WriteLock::TrialAndSystem(trial_id),
            |c| {
                let current = ProtocolVersionRow::find(c.conn, trial_id, c.trial.current_version)?
                    .ok_or_else(|| {
                        ServiceError::Integrity("current protocol version missing".into())
                    })?;
                let (events, text, note) = match amendment {
                    Amendment::AddArm { id, name, ratio } => {
                        let events = c.engine.add_arm(
                            c.state,
                            NewArm {
                                id: id.clone(),
                                name: name.clone(),
                                prior: None,
                                ratio: *ratio,
                            },
                        )?;
                        // The version signed states the prior the engine gave the arm, and the
                        // simulation scenarios give it the reference arm's truth (no effect).
                        let prior = events.iter().find_map(|e| match &e.body {
                            EventBody::ArmAdded { prior, .. } => Some(*prior),
                            _ => None,
                        });
                        let reference = c
                            .protocol
                            .protocol
                            .control()
                            .or_else(|| c.protocol.protocol.arms.first())
                            .map(|a| a.id.to_string());
                        let text = amended_text(
                            &current.source,
                            amendment,
                            prior.as_ref(),
                            reference.as_deref(),
                        )?;
                        (events, text, format!("arm {id} added: {reason}"))
                    }
                    Amendment::MaxParticipants(to) => {
                        let events = c.engine.change_max_participants(c.state, *to)?;
                        let text = amended_text(&current.source, amendment, None, None)?;
                        (events, text, format!("maximum participants {to}: {reason}"))
                    }
                };
                let origin = format!("trial {trial_id} version {}", c.trial.current_version + 1);
                let loaded = LoadedProtocol::from_toml(&text, &origin)?;
                let version = c.trial.current_version + 1;
                ProtocolVersionRow {
                    trial_id: trial_id.to_owned(),
                    version,
                    hash: loaded.hash.to_hex(),
                    source: text,
                    note,
                    created_by: actor.username.clone(),
                    created_at: by.recorded_at.as_str().to_owned(),
                }
                .insert(c.conn)?;
                TrialRow::set_version(c.conn, trial_id, version)?;
                self.signature(c.conn, c.trial, version, Meaning::Approval, &user, &by)?;
                Ok((events, version))
            },
        )
    }

    /// Pauses enrolment (statistician), with a reason.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn pause(&self, actor: &Actor, trial_id: &str, reason: &str) -> Result<(), ServiceError> {
        actor.require(&[Role::Statistician], "pause enrolment")?;
        let reason = need_reason(reason, "pausing enrolment")?;
        self.run_command(
            actor,
            trial_id,
            Some(&reason),
            WriteLock::Trial(trial_id),
            |c| Ok((c.engine.pause(c.state, &reason)?, ())),
        )
    }

    /// Resumes enrolment (statistician).
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn resume(&self, actor: &Actor, trial_id: &str) -> Result<(), ServiceError> {
        actor.require(&[Role::Statistician], "resume enrolment")?;
        self.run_command(actor, trial_id, None, WriteLock::Trial(trial_id), |c| {
            Ok((c.engine.resume(c.state)?, ()))
        })
    }

    /// Closes the trial early (statistician), with a reason.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn close(&self, actor: &Actor, trial_id: &str, reason: &str) -> Result<(), ServiceError> {
        actor.require(&[Role::Statistician], "close trials")?;
        let reason = need_reason(reason, "closing a trial")?;
        self.run_command(
            actor,
            trial_id,
            Some(&reason),
            WriteLock::Trial(trial_id),
            |c| Ok((c.engine.close(c.state, &reason)?, ())),
        )
    }

    /// The trial's current state, folded from its stored events.
    pub fn trial_state(&self, trial_id: &str) -> Result<TrialState, ServiceError> {
        let mut conn = self.conn()?;
        // Read without the trial's lock: keep the state, but not the trial row, for commands.
        let (_, mut cached) = self.load_trial(&mut conn, trial_id)?;
        cached.trial = None;
        let state = cached.state.clone();
        self.keep(trial_id, cached);
        Ok(state)
    }

    pub(super) fn keep(&self, trial_id: &str, cached: CachedTrial) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(trial_id.to_owned(), cached);
        }
    }

    /// The trial's state at the stored head: the cached state when its head is the stored one,
    /// the cached state plus the records appended since (another process), or a full fold.
    pub(super) fn load_trial(
        &self,
        conn: &mut DbConn,
        trial_id: &str,
    ) -> Result<(TrialRow, CachedTrial), ServiceError> {
        let chain = chain_of(trial_id)?.to_string();
        // Records are append-only under the trial's lock: the same last seq is the same head.
        let last = AuditRow::last_seq(conn, &chain)?;
        let cached = self.cache.lock().ok().and_then(|mut c| c.remove(trial_id));
        if let Some(mut cached) = cached {
            let cached_seq = cached.head.as_ref().map_or(0, |h| h.seq as i64);
            let usable = if last == cached_seq {
                true
            } else if last > cached_seq {
                // Another process appended: fold what it added, if it follows our head.
                let newer = AuditRow::after(conn, &chain, cached_seq)?;
                let cached_hash = cached.head.as_ref().map(|h| h.hash.to_hex());
                let joins = newer.first().is_some_and(|first| {
                    Some(&first.prev_hash) == cached_hash.as_ref() || cached_seq == 0
                });
                if joins {
                    fold_rows(&mut cached, newer)?;
                    cached.trial = None;
                }
                joins
            } else {
                false
            };
            if usable {
                let trial = match cached.trial.take() {
                    Some(trial) => trial,
                    None => TrialRow::find(conn, trial_id)?
                        .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?,
                };
                return Ok((trial, cached));
            }
        }
        let trial = TrialRow::find(conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        let version = ProtocolVersionRow::find(conn, trial_id, 1)?.ok_or_else(|| {
            ServiceError::Integrity(format!("trial {trial_id} has no protocol version 1"))
        })?;
        let protocol =
            LoadedProtocol::from_toml(&version.source, &format!("trial {trial_id} version 1"))?;
        let seed = TrialSeed::from_hex(&trial.seed_hex)
            .map_err(|e| ServiceError::Integrity(format!("trial {trial_id} seed: {e}")))?;
        let mut cached = CachedTrial {
            trial: None,
            quadrature: None,
            state: TrialState::new(&protocol.protocol)?,
            protocol: Arc::new(protocol),
            seed,
            head: None,
        };
        let rows = AuditRow::after(conn, &chain, 0)?;
        fold_rows(&mut cached, rows)?;
        Ok((trial, cached))
    }

    /// Runs one trial command: lock, load, command, chain, project, checkpoint, notify, commit.
    /// The cached state is kept only when the transaction commits.
    pub(super) fn run_command<T>(
        &self,
        actor: &Actor,
        trial_id: &str,
        reason: Option<&str>,
        lock: WriteLock<'_>,
        command: impl FnOnce(&mut Command<'_, '_>) -> Result<(Vec<Event>, T), ServiceError>,
    ) -> Result<T, ServiceError> {
        let by = self.attribution(actor, reason);
        let chain = chain_of(trial_id)?;
        let mut conn = self.conn()?;
        // This process's commands on the trial take turns from before the transaction until
        // the cache holds the committed state, so the next one finds it there instead of
        // folding the whole chain again.
        let turn = self.command_turn(trial_id);
        let _turn = turn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outcome = crate::store::write_transaction(&mut conn, lock, |conn| {
            let (trial, mut cached) = self.load_trial(conn, trial_id)?;
            let protocol = Arc::clone(&cached.protocol);
            let mut engine = match cached.quadrature.take() {
                Some(quadrature) => {
                    Engine::with_quadrature(&protocol.protocol, cached.seed, quadrature)
                }
                None => Engine::new(&protocol.protocol, cached.seed),
            };
            let status_before = status_text(&cached.state);
            let (events, value) = {
                let mut context = Command {
                    conn,
                    engine: &mut engine,
                    state: &mut cached.state,
                    trial: &trial,
                    protocol: &protocol,
                };
                command(&mut context)?
            };
            cached.quadrature = Some(engine.into_quadrature());
            // An amendment changes the trial's row; read it again next time.
            let amended = events.iter().any(|e| {
                matches!(
                    e.body,
                    EventBody::ArmAdded { .. } | EventBody::MaxParticipantsChanged { .. }
                )
            });
            cached.trial = (!amended).then_some(trial.clone());
            if events.is_empty() {
                return Ok((value, cached));
            }
            let records = AuditRecord::from_events(cached.head.as_ref(), &chain, &events, &by)?;
            let rows: Vec<AuditRow> = records.iter().map(row_from_record).collect();
            AuditRow::append(conn, &rows)?;
            project(
                trial_id,
                &events,
                &cached.state,
                &by,
                &records,
                &status_before,
            )?
            .write(conn, trial_id)?;
            let last = records.last().cloned();
            if let Some(head) = &last {
                if events.iter().any(|e| {
                    matches!(
                        e.body,
                        EventBody::LookPerformed { .. }
                            | EventBody::PatientLookPerformed { .. }
                            | EventBody::SeriesLookPerformed { .. }
                    )
                }) {
                    let checkpoint = Checkpoint::sign(
                        &self.key,
                        &ChainHead {
                            chain: chain.clone(),
                            seq: head.seq,
                            hash: head.hash,
                        },
                        Purpose::Look,
                        self.clock.now(),
                    )?;
                    checkpoint_row(&checkpoint).insert(conn)?;
                }
            }
            let messages = notifications(conn, trial_id, &events, &by)?;
            OutboxRow::queue(conn, &messages)?;
            cached.head = last.or(cached.head.take());
            Ok((value, cached))
        });
        match outcome {
            Ok((value, cached)) => {
                self.keep(trial_id, cached);
                Ok(value)
            }
            Err(error) => Err(error),
        }
    }
}

fn fold_rows(cached: &mut CachedTrial, rows: Vec<AuditRow>) -> Result<(), ServiceError> {
    for row in rows {
        let record = record_from_row(row)?;
        let event = record.to_event()?;
        cached.state.apply(&event)?;
        cached.head = Some(record);
    }
    Ok(())
}

pub(super) fn checkpoint_row(checkpoint: &Checkpoint) -> CheckpointRow {
    CheckpointRow {
        chain: checkpoint.chain.to_string(),
        seq: checkpoint.seq as i64,
        purpose: checkpoint.purpose.to_string(),
        head_hash: checkpoint.head_hash.to_hex(),
        signed_at: checkpoint.signed_at.as_str().to_owned(),
        public_key: checkpoint.public_key.to_hex(),
        signature: checkpoint.signature.to_hex(),
    }
}

/// The projection rows of one command's events.
fn project(
    trial_id: &str,
    events: &[Event],
    state: &TrialState,
    by: &crate::audit::Attribution,
    records: &[AuditRecord],
    status_before: &str,
) -> Result<Projections, ServiceError> {
    let mut rows = Projections::default();
    let mut enrolled: Option<(u32, String)> = None;
    let at = by.recorded_at.as_str();
    for event in events {
        let seq = event.seq as i64;
        match &event.body {
            EventBody::ParticipantEnrolled {
                participant,
                subject_id,
                ..
            } => enrolled = Some((*participant, subject_id.to_string())),
            EventBody::Nof1CycleAssigned {
                participant,
                cycle: 1,
                treatments,
                draw,
                ..
            } => {
                let subject_id = match enrolled.take() {
                    Some((p, subject)) if p == *participant => subject,
                    _ => {
                        return Err(ServiceError::Integrity(format!(
                            "participant {participant} scheduled without enrolment"
                        )))
                    }
                };
                rows.participants.push(ParticipantRow {
                    trial_id: trial_id.to_owned(),
                    participant: *participant as i32,
                    subject_id,
                    arm: treatments
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    seq,
                    draw: draw.unwrap_or(0.0),
                    probabilities: "[]".to_owned(),
                    enrolled_by: by.actor.clone(),
                    enrolled_at: at.to_owned(),
                })
            }
            EventBody::Randomised {
                participant,
                arm,
                probabilities,
                draw,
                ..
            } => {
                let subject_id = match enrolled.take() {
                    Some((p, subject)) if p == *participant => subject,
                    _ => {
                        return Err(ServiceError::Integrity(format!(
                            "participant {participant} randomised without enrolment"
                        )))
                    }
                };
                rows.participants.push(ParticipantRow {
                    trial_id: trial_id.to_owned(),
                    participant: *participant as i32,
                    subject_id,
                    arm: arm.to_string(),
                    seq,
                    draw: *draw,
                    probabilities: json(probabilities)?,
                    enrolled_by: by.actor.clone(),
                    enrolled_at: at.to_owned(),
                })
            }
            EventBody::OutcomeRecorded { participant, value } => rows.outcomes.push(OutcomeRow {
                trial_id: trial_id.to_owned(),
                seq,
                participant: *participant as i32,
                value: json(value)?,
                corrects: None,
                reason: None,
                recorded_by: by.actor.clone(),
                recorded_at: at.to_owned(),
            }),
            EventBody::OutcomeCorrected {
                participant,
                corrects,
                value,
                reason,
            } => rows.outcomes.push(OutcomeRow {
                trial_id: trial_id.to_owned(),
                seq,
                participant: *participant as i32,
                value: json(value)?,
                corrects: Some(*corrects as i64),
                reason: Some(reason.clone()),
                recorded_by: by.actor.clone(),
                recorded_at: at.to_owned(),
            }),
            EventBody::LookPerformed {
                look,
                outcomes,
                enrolled,
                arms,
            } => rows.looks.push(LookRow {
                trial_id: trial_id.to_owned(),
                look: *look as i32,
                seq,
                outcomes: *outcomes as i32,
                enrolled: *enrolled as i32,
                analysis: json(arms)?,
            }),
            EventBody::ArmOpened { arm, .. } => {
                rows.arm_status
                    .push((arm.to_string(), "active".into(), seq))
            }
            EventBody::ArmAdded { arm, .. } => {
                rows.arm_status
                    .push((arm.to_string(), "pending".into(), seq))
            }
            EventBody::ArmDropped { arm, reason, .. } => rows.arm_status.push((
                arm.to_string(),
                format!("dropped ({})", json(reason)?.trim_matches('"')),
                seq,
            )),
            _ => {}
        }
    }
    let status = status_text(state);
    if status != status_before {
        rows.trial_status = Some((status, records.last().map_or(0, |r| r.seq as i64)));
    }
    Ok(rows)
}

fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::Integrity(e.to_string()))
}

/// E-mails queued in the same transaction: a look's decisions (an arm dropped, an arm declared
/// superior, the trial stopped) go to the statisticians and DMC members; starts, stops, pauses
/// and resumptions also to coordinators. A look without a decision sends nothing. No message
/// carries arm-level results.
fn notifications(
    conn: &mut DbConn,
    trial_id: &str,
    events: &[Event],
    by: &crate::audit::Attribution,
) -> Result<Vec<NewOutboxRow>, ServiceError> {
    let mut messages = Vec::new();
    for event in events {
        let (subject, everyone) = match &event.body {
            EventBody::TrialStarted { .. } => (format!("[{trial_id}] trial started"), true),
            EventBody::ArmDropped { arm, look, .. } => (
                format!("[{trial_id}] arm {arm} closed at look {look}"),
                false,
            ),
            EventBody::ControlChanged { to, look, .. } => (
                format!("[{trial_id}] arm {to} declared superior to the control at look {look}"),
                false,
            ),
            EventBody::EnrolmentPaused { .. } => (format!("[{trial_id}] enrolment paused"), true),
            EventBody::EnrolmentResumed => (format!("[{trial_id}] enrolment resumed"), true),
            EventBody::TrialStopped { .. } => (format!("[{trial_id}] trial stopped"), true),
            EventBody::PatientFinished { cycle, end, .. }
                if !matches!(end, crate::engine::PatientEnd::Withdrawn { .. }) =>
            {
                (
                    format!("[{trial_id}] an n-of-1 patient's trial ended after cycle {cycle}"),
                    false,
                )
            }
            _ => continue,
        };
        let roles: &[&str] = if everyone {
            &["statistician", "dmc", "coordinator"]
        } else {
            &["statistician", "dmc"]
        };
        for recipient in UserRow::emails_with_roles(conn, roles)? {
            messages.push(NewOutboxRow {
                trial_id: Some(trial_id.to_owned()),
                recipient,
                subject: subject.clone(),
                body: format!(
                    "{subject}.\n\nEvent {} on the trial's audit trail, recorded {} by {}.\nLog in to bayestrial for details.\n",
                    event.seq,
                    by.recorded_at.as_str(),
                    by.actor
                ),
                created_at: by.recorded_at.as_str().to_owned(),
            });
        }
    }
    Ok(messages)
}

/// A prior as the protocol language writes it (`{ beta = [a, b] }`, …).
fn prior_toml(prior: &Prior) -> toml_edit::InlineTable {
    let mut table = toml_edit::InlineTable::new();
    let pair = |a: f64, b: f64| toml_edit::Value::Array(toml_edit::Array::from_iter([a, b]));
    match *prior {
        Prior::Beta { a, b } => {
            table.insert("beta", pair(a, b));
        }
        Prior::Gamma { shape, rate } => {
            table.insert("gamma", pair(shape, rate));
        }
        Prior::NormalInverseGamma {
            mu0,
            kappa0,
            alpha0,
            beta0,
        } => {
            let mut nig = toml_edit::InlineTable::new();
            for (key, value) in [
                ("mu0", mu0),
                ("kappa0", kappa0),
                ("alpha0", alpha0),
                ("beta0", beta0),
            ] {
                nig.insert(key, value.into());
            }
            table.insert("normal_inverse_gamma", toml_edit::Value::InlineTable(nig));
        }
    }
    table
}

/// The protocol text of the next version: the current text with the amendment applied. An
/// added arm carries its prior, and every `[[scenario]]` truth gives it the `reference` arm's
/// value (the control's, else the first arm's: no effect) so the version stays valid.
fn amended_text(
    source: &str,
    amendment: &Amendment,
    prior: Option<&Prior>,
    reference: Option<&str>,
) -> Result<String, ServiceError> {
    let mut document: toml_edit::DocumentMut = source
        .parse()
        .map_err(|e| ServiceError::Integrity(format!("stored protocol: {e}")))?;
    match amendment {
        Amendment::AddArm { id, name, ratio } => {
            let mut arm = toml_edit::Table::new();
            arm.insert("id", toml_edit::value(id.to_string()));
            arm.insert("name", toml_edit::value(name.clone()));
            if *ratio != 1 {
                arm.insert("ratio", toml_edit::value(i64::from(*ratio)));
            }
            if let Some(prior) = prior {
                arm.insert(
                    "prior",
                    toml_edit::Item::Value(toml_edit::Value::InlineTable(prior_toml(prior))),
                );
            }
            if let (Some(reference), Some(scenarios)) = (
                reference,
                document
                    .get_mut("scenario")
                    .and_then(|s| s.as_array_of_tables_mut()),
            ) {
                for scenario in scenarios.iter_mut() {
                    let Some(truth) = scenario.get_mut("truth") else {
                        continue;
                    };
                    let value = truth.get(reference).and_then(|v| v.as_value()).cloned();
                    if let (Some(value), Some(table)) = (value, truth.as_table_like_mut()) {
                        table.insert(id.as_str(), toml_edit::Item::Value(value));
                    }
                }
            }
            match document
                .get_mut("arm")
                .and_then(|a| a.as_array_of_tables_mut())
            {
                Some(arms) => arms.push(arm),
                None => {
                    return Err(ServiceError::Integrity(
                        "stored protocol has no [[arm]] tables".into(),
                    ))
                }
            }
        }
        Amendment::MaxParticipants(to) => {
            document["trial"]["max_participants"] = toml_edit::value(i64::from(*to));
        }
    }
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn an_added_arm_keeps_every_shipped_protocol_valid() {
        for name in [
            "platform-binary-4arm.toml",
            "three-arm-pbest.toml",
            "count-rates.toml",
            "continuous-2arm.toml",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("protocols")
                .join(name);
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            let protocol =
                Protocol::from_toml(&source, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let prior = protocol.arms.iter().find(|a| !a.control).map(|a| a.prior);
            let reference = protocol
                .control()
                .or_else(|| protocol.arms.first())
                .map(|a| a.id.to_string());
            let amendment = Amendment::AddArm {
                id: ArmId::parse("new-arm").unwrap_or_else(|e| panic!("{e}")),
                name: "New arm".into(),
                ratio: 1,
            };
            let text = amended_text(&source, &amendment, prior.as_ref(), reference.as_deref())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let amended = Protocol::from_toml(&text, name)
                .unwrap_or_else(|e| panic!("{name} amended is invalid: {e}\n{text}"));
            let added = amended
                .arms
                .iter()
                .find(|a| a.id.as_str() == "new-arm")
                .unwrap_or_else(|| panic!("{name}: the arm is in the new version"));
            assert_eq!(Some(added.prior), prior, "{name}: the prior is stated");
            for scenario in &amended.scenarios {
                assert!(
                    scenario.truth.keys().any(|k| k.as_str() == "new-arm"),
                    "{name}: scenario {} gives the new arm a truth",
                    scenario.name
                );
            }
        }
    }
}
