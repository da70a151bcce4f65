//! How a trial command runs: lock, load (cached state and history, or a fold of the stored
//! records), command, chain, project, checkpoint (every command's head, signed in its
//! transaction), notify, commit. Projections and notifications
//! are mappings from the engine's history of the command's events.

use crate::service::Permission;
use std::sync::Arc;

use super::super::witness::witness_mail;
use super::super::{record_from_row, row_from_record, Actor, CachedTrial, Service, ServiceError};
use super::*;

impl Service {
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

    pub(crate) fn keep(&self, trial_id: &str, cached: CachedTrial) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(trial_id.to_owned(), cached);
        }
    }

    /// The trial's state at the stored head: the cached state when its head is the stored one,
    /// the cached state plus the records appended since (another process), or a full fold.
    pub(crate) fn load_trial(
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
            // A draft (no records yet) is folded afresh: its protocol may have been saved
            // again, by another process too, without a record on its chain.
            let usable = if last == 0 {
                false
            } else if last == cached_seq {
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
                    cached.checkpointed = None;
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
        let rows = AuditRow::after(conn, &chain, 0)?;
        let first = match rows.first() {
            Some(row) => Some(record_from_row(row.clone())?.to_event()?),
            None => None,
        };
        let version = base_version(conn, trial_id, trial.current_version, first.as_ref())?;
        let protocol = LoadedProtocol::from_toml(
            &version.source,
            &format!("trial {trial_id} version {}", version.version),
        )?;
        let seed = TrialSeed::from_hex(&trial.seed_hex)
            .map_err(|e| ServiceError::Integrity(format!("trial {trial_id} seed: {e}")))?;
        let mut cached = CachedTrial {
            trial: None,
            quadrature: None,
            state: TrialState::new(&protocol.protocol)?,
            history: Arc::new(History::new(protocol.protocol.control().is_some())),
            protocol: Arc::new(protocol),
            seed,
            head: None,
            checkpointed: None,
        };
        fold_rows(&mut cached, rows)?;
        Ok((trial, cached))
    }

    /// Runs one trial command: lock, load, command, chain, project, checkpoint, notify, commit.
    /// The cached state is kept only when the transaction commits.
    pub(crate) fn run_command<T>(
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
            if events.is_empty() {
                cached.trial = Some(trial.clone());
                return Ok((value, cached, None));
            }
            let records =
                AuditRecord::from_events(cached.head.as_ref(), &chain, &events, &by, &cached.seed)?;
            let rows: Vec<AuditRow> = records.iter().map(row_from_record).collect();
            AuditRow::append(conn, &rows)?;
            let history = Arc::make_mut(&mut cached.history);
            let mut changes = Vec::with_capacity(events.len());
            for (event, record) in events.iter().zip(&records) {
                for change in history.apply(event.seq, event)? {
                    changes.push((change, record));
                }
            }
            // An amendment changes the trial's row; read it again next time.
            let amended = events.iter().any(|e| e.body.amends_protocol());
            cached.trial = (!amended).then_some(trial.clone());
            project(trial_id, history, &changes, &cached.state, &status_before)?
                .write(conn, trial_id)?;
            let last = records.last().cloned();
            // Every command's head is signed in its own transaction (a look's as a look); a look's
            // or a stop's is also witnessed (module `witness`).
            let analysed = events.iter().any(|e| e.body.is_analysis());
            let stopped = changes.iter().any(|(c, _)| matches!(c, Change::Stopped));
            let mut signed = None;
            if let Some(head) = &last {
                let purpose = if analysed {
                    Purpose::Look
                } else {
                    Purpose::Command
                };
                let checkpoint = self.sign_head_after(conn, head, purpose, cached.checkpointed)?;
                cached.checkpointed = Some(head.seq);
                if analysed || stopped {
                    let mail = witness_mail(conn, &checkpoint)?;
                    OutboxRow::queue(conn, &mail)?;
                    signed = Some(checkpoint);
                }
            }
            let blinded = protocol.protocol.trial.blinded;
            let messages =
                notifications(conn, trial_id, blinded, history, &cached.state, &changes)?;
            OutboxRow::queue(conn, &messages)?;
            cached.head = last.or(cached.head.take());
            Ok((value, cached, signed))
        });
        match outcome {
            Ok((value, cached, signed)) => {
                self.keep(trial_id, cached);
                self.log_witnessed(signed.as_slice());
                Ok(value)
            }
            Err(error) => Err(error),
        }
    }
}

fn fold_rows(cached: &mut CachedTrial, rows: Vec<AuditRow>) -> Result<(), ServiceError> {
    let history = Arc::make_mut(&mut cached.history);
    for row in rows {
        let record = record_from_row(row)?;
        let event = record.to_event()?;
        cached.state.apply(&event)?;
        history.apply(event.seq, &event)?;
        cached.head = Some(record);
    }
    Ok(())
}

pub(crate) fn checkpoint_row(checkpoint: &Checkpoint) -> CheckpointRow {
    CheckpointRow {
        chain: checkpoint.chain.to_string(),
        seq: checkpoint.seq as i64,
        purpose: checkpoint.purpose.to_string(),
        head_hash: checkpoint.head_hash.to_hex(),
        signed_at: checkpoint.signed_at.as_str().to_owned(),
        public_key: checkpoint.public_key.to_hex(),
        signature: checkpoint.signature.to_hex(),
        previous: checkpoint.previous.map(|p| p as i64),
    }
}

/// The projection rows of one command: a mapping from what its events changed in the
/// engine's history (each change with the record that holds it). `audit verify` derives the
/// tables from the chain with this same mapping, one record at a time (`super::derive`), so
/// every row must depend only on the records, never on how they were grouped into commands.
pub(super) fn project(
    trial_id: &str,
    history: &History<u64>,
    changes: &[(Change, &AuditRecord)],
    state: &TrialState,
    status_before: &str,
) -> Result<Projections, ServiceError> {
    let mut rows = Projections::default();
    let integrity = |what: String| ServiceError::Integrity(what);
    for (change, record) in changes {
        let at = record.recorded_at.as_str();
        match *change {
            Change::Assigned {
                participant,
                first: true,
            } => {
                let subject = history
                    .subjects
                    .get(participant as usize)
                    .ok_or_else(|| integrity(format!("participant {participant} not enrolled")))?;
                let assigned = subject.assignments.first().ok_or_else(|| {
                    integrity(format!("participant {participant} without an assignment"))
                })?;
                rows.participants.push(ParticipantRow {
                    trial_id: trial_id.to_owned(),
                    participant: participant as i32,
                    subject_id: subject.subject_id.clone(),
                    arm: assigned.arm.clone(),
                    seq: assigned.record as i64,
                    draw: assigned.draw.unwrap_or(0.0),
                    probabilities: match &assigned.probabilities {
                        Some(shares) => json(&**shares)?,
                        None => "[]".to_owned(),
                    },
                    enrolled_by: record.actor.clone(),
                    enrolled_at: at.to_owned(),
                });
            }
            Change::Outcome(participant) => {
                let entry = history.current_outcome(participant).ok_or_else(|| {
                    integrity(format!("participant {participant} without an outcome"))
                })?;
                rows.outcomes.push(OutcomeRow {
                    trial_id: trial_id.to_owned(),
                    seq: entry.record as i64,
                    participant: participant as i32,
                    value: json(&entry.value)?,
                    corrects: entry.corrects.map(|c| c as i64),
                    reason: entry.reason.clone(),
                    recorded_by: record.actor.clone(),
                    recorded_at: at.to_owned(),
                });
            }
            Change::Look => {
                let look = history
                    .looks
                    .last()
                    .ok_or_else(|| integrity("a look change without a look".into()))?;
                rows.looks.push(LookRow {
                    trial_id: trial_id.to_owned(),
                    look: look.look as i32,
                    seq: look.record as i64,
                    outcomes: look.outcomes as i32,
                    enrolled: look.enrolled as i32,
                    analysis: json(&look.arms)?,
                });
            }
            Change::Arm(index) => {
                let arm = history
                    .arms
                    .get(index)
                    .ok_or_else(|| integrity(format!("arm {index} has no history")))?;
                if let Some(words) = history.arm_status_words(&arm.arm) {
                    let status = match words.as_str() {
                        "open" => "active".to_owned(),
                        other => other.replacen("closed", "dropped", 1),
                    };
                    rows.arm_status
                        .push((arm.arm.clone(), status, record.seq as i64));
                }
            }
            Change::Conduct
            | Change::Enrolled(_)
            | Change::Assigned { first: false, .. }
            | Change::Measurement { .. }
            | Change::Allocation
            | Change::Decision(_)
            | Change::PatientLook
            | Change::PatientFinished(_)
            | Change::Series
            | Change::Revealed(_)
            | Change::Recommended(_)
            | Change::Stopped => {}
        }
    }
    let status = status_text(state);
    if status != status_before {
        // The status changes only with the conduct of the trial or its stop: the record of the
        // last such change is when.
        let at = changes
            .iter()
            .rev()
            .find(|(change, _)| matches!(change, Change::Conduct | Change::Stopped))
            .or(changes.last())
            .map_or(0, |(_, r)| r.seq as i64);
        rows.trial_status = Some((status, at));
    }
    Ok(rows)
}

fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::Integrity(e.to_string()))
}

/// One notification: its subject and what it reveals.
struct Notice {
    subject: String,
    reveals: Disclosure,
}

/// The notice of one change, if it is one people are told about. A notice names no result:
/// what it reveals decides who receives it ([`Sight::reveals`]).
fn notice(trial_id: &str, history: &History<u64>, change: Change) -> Option<Notice> {
    let notice = |subject: String, reveals: Disclosure| Some(Notice { subject, reveals });
    match change {
        Change::Conduct => match history.conduct.last().map(|(_, c)| c) {
            Some(Conduct::Started) => notice(
                format!("[{trial_id}] trial started"),
                Disclosure::Operational,
            ),
            Some(Conduct::Paused { .. }) => notice(
                format!("[{trial_id}] enrolment paused"),
                Disclosure::Operational,
            ),
            Some(Conduct::Resumed) => notice(
                format!("[{trial_id}] enrolment resumed"),
                Disclosure::Operational,
            ),
            Some(Conduct::MaxParticipantsChanged { .. } | Conduct::DataCollectionClosed) | None => {
                None
            }
        },
        Change::Decision(index) => {
            let look = history.looks.get(index)?;
            match look.decisions.last().map(|(_, d)| d) {
                Some(Decision::ArmDropped { arm, .. }) => notice(
                    format!("[{trial_id}] arm {arm} closed at look {}", look.look),
                    Disclosure::Comparative,
                ),
                Some(Decision::ControlChanged { to, .. }) => notice(
                    format!(
                        "[{trial_id}] arm {to} declared superior to the control at look {}",
                        look.look
                    ),
                    Disclosure::Comparative,
                ),
                Some(Decision::Graduated { arm, signature, .. }) => notice(
                    format!(
                        "[{trial_id}] arm {arm} graduated in signature {signature} at look {}",
                        look.look
                    ),
                    Disclosure::Comparative,
                ),
                Some(Decision::TrialStopped(_)) | None => None,
            }
        }
        Change::Stopped => notice(
            format!("[{trial_id}] trial stopped"),
            Disclosure::Operational,
        ),
        Change::PatientFinished(participant) => {
            let (_, cycle, end) = history
                .subjects
                .get(participant as usize)?
                .finished
                .as_ref()?;
            (end.disclosure() == Disclosure::Comparative || matches!(end, PatientEnd::Completed))
                .then(|| Notice {
                    subject: format!(
                        "[{trial_id}] an n-of-1 patient's trial ended after cycle {cycle}"
                    ),
                    reveals: Disclosure::Comparative,
                })
        }
        Change::Revealed(participant) => {
            let subject = history.subjects.get(participant as usize)?;
            match subject.revealed.last().map(|r| &r.cause) {
                Some(RevealCause::Emergency { .. }) => notice(
                    format!(
                        "[{trial_id}] emergency unblinding of {}",
                        subject.subject_id
                    ),
                    Disclosure::Assignment,
                ),
                Some(RevealCause::PatientFinished) | None => None,
            }
        }
        Change::Recommended(index) => {
            let recommended = history.recommendations.get(index)?;
            notice(
                format!(
                    "[{trial_id}] the data monitoring committee recorded its recommendation after look {}",
                    recommended.look
                ),
                Disclosure::Comparative,
            )
        }
        Change::Arm(_)
        | Change::Enrolled(_)
        | Change::Assigned { .. }
        | Change::Outcome(_)
        | Change::Measurement { .. }
        | Change::Allocation
        | Change::Look
        | Change::PatientLook
        | Change::Series => None,
    }
}

/// E-mails queued in the same transaction, one per notice and recipient: the people who conduct
/// or monitor the trial (coordinators, statisticians, the DMC) whose role may see what the
/// notice reveals. A decision's e-mail says that the system took it, and after which record.
fn notifications(
    conn: &mut DbConn,
    trial_id: &str,
    blinded: bool,
    history: &History<u64>,
    state: &TrialState,
    changes: &[(Change, &AuditRecord)],
) -> Result<Vec<NewOutboxRow>, ServiceError> {
    let mut messages = Vec::new();
    let stopped = matches!(state.status, TrialStatus::Stopped { .. });
    for (change, record) in changes {
        let Some(notice) = notice(trial_id, history, *change) else {
            continue;
        };
        let roles: Vec<&str> = Role::ALL
            .iter()
            .filter(|role| role.may(Permission::Enrol) || role.may(Permission::SeeResults))
            .filter(|role| {
                Sight {
                    role: **role,
                    blinded,
                    stopped,
                }
                .reveals(notice.reveals)
            })
            .map(|role| role.as_str())
            .collect();
        let by = if record.actor == Attribution::SYSTEM {
            format!(
                "by the system, by a rule of the protocol ({})",
                record.reason.as_deref().unwrap_or("no input named")
            )
        } else {
            format!("by {}", record.actor)
        };
        for recipient in UserRow::emails_with_roles(conn, &roles)? {
            messages.push(NewOutboxRow {
                trial_id: Some(trial_id.to_owned()),
                recipient,
                subject: notice.subject.clone(),
                body: format!(
                    "{}.\n\nRecord {} on the trial's audit trail, recorded {} {by}.\nLog in to bayestrial for details.\n",
                    notice.subject,
                    record.seq,
                    record.recorded_at.as_str(),
                ),
                created_at: record.recorded_at.as_str().to_owned(),
            });
        }
    }
    Ok(messages)
}
