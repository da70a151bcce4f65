//! The trial commands of the site and the statistician after the start: enrol, record an
//! outcome, amend, pause, resume, close, and the emergency code break.

use tracing::instrument;

use super::super::{Actor, Permission, Service, ServiceError};
use super::*;

impl Service {
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
        actor.require(Permission::Enrol)?;
        if let Some(key) = idempotency_key {
            check_key(key)?;
        }
        let subject = crate::service::subject::new_subject_id(subject_id)?;
        let subject_id = subject.as_str();
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
                .find_map(|event| {
                    let (participant, arm) = event.body.first_assignment()?;
                    Some(Assignment {
                        trial_id: trial_id.to_owned(),
                        subject_id: subject_id.trim().to_owned(),
                        participant,
                        arm: arm.to_string(),
                        seq: event.seq,
                        start_date: nof1.then(|| start.clone()),
                    })
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
        actor.require(Permission::Enrol)?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let subject = crate::service::subject::subject_key(subject_id);
        self.run_command(actor, trial_id, reason, WriteLock::Trial(trial_id), |c| {
            let subject = subject.as_str();
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
            let stopped = matches!(c.state.status, TrialStatus::Stopped { .. });
            // Seqs count the records between inputs (and so the decisions at looks): only for
            // those who see comparative records.
            let sees_seqs = Sight {
                role: actor.role,
                blinded: c.protocol.protocol.trial.blinded,
                stopped,
            }
            .sees_seqs();
            let receipt = OutcomeReceipt {
                seq: events.first().map(|e| e.seq).filter(|_| sees_seqs),
                corrects: corrects.filter(|_| sees_seqs),
                looks: events
                    .iter()
                    .filter_map(|e| e.body.look_number())
                    .collect(),
                stopped,
            };
            Ok((events, receipt))
        })
    }

    /// Proposes an amendment (statistician, with the password again): the engine checks it on
    /// a copy of the trial's state, and the next protocol version is stored with the author's
    /// authorship signature. Nothing changes in the trial until the version receives its
    /// approval signature ([`Service::sign`]), which needs a stored simulation report of that
    /// exact version ([`Service::require_simulated`]). One amendment awaits approval at a time.
    /// Returns the new version's number.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn amend(
        &self,
        actor: &Actor,
        trial_id: &str,
        amendment: &Amendment,
        password: &str,
        reason: &str,
    ) -> Result<i32, ServiceError> {
        actor.require(Permission::DirectTrials)?;
        let reason = need_reason(reason, "an amendment")?;
        let user = self.reauthenticate(actor, password, "an amendment")?;
        let by = self.attribution(actor, Some(&reason));
        self.run_command(
            actor,
            trial_id,
            Some(&reason),
            WriteLock::TrialAndSystem(trial_id),
            |c| {
                if let Some(pending) = pending_version(c.conn, c.trial)? {
                    return Err(ServiceError::Conflict(format!(
                        "protocol version {} of trial {trial_id} awaits its approval signature: \
                         approve it (after simulating it) before proposing another amendment",
                        pending.version
                    )));
                }
                let current = ProtocolVersionRow::find(c.conn, trial_id, c.trial.current_version)?
                    .ok_or_else(|| {
                        ServiceError::Integrity("current protocol version missing".into())
                    })?;
                // The engine checks the amendment on a copy: nothing is recorded before the
                // approval.
                let mut scratch = c.state.clone();
                let (text, note) = match amendment {
                    Amendment::AddArm { id, name, ratio } => {
                        c.engine.add_arm(
                            &mut scratch,
                            NewArm {
                                id: id.clone(),
                                name: name.clone(),
                                prior: None,
                                ratio: *ratio,
                            },
                        )?;
                        // The version states the prior the engine gives the arm, and the
                        // simulation scenarios give it the reference arm's truth (no effect).
                        let prior = scratch.arms.iter().find(|a| a.id == *id).map(|a| a.prior);
                        let reference = c
                            .protocol
                            .protocol
                            .control()
                            .or_else(|| c.protocol.protocol.arms.first())
                            .map(|a| a.id.to_string());
                        let text = amendment::amended_text(
                            &current.source,
                            amendment,
                            prior.as_ref(),
                            reference.as_deref(),
                        )?;
                        (text, format!("arm {id} added: {reason}"))
                    }
                    Amendment::MaxParticipants(to) => {
                        c.engine.change_max_participants(&mut scratch, *to)?;
                        let text = amendment::amended_text(&current.source, amendment, None, None)?;
                        (text, format!("maximum participants {to}: {reason}"))
                    }
                };
                let version = c.trial.current_version + 1;
                let origin = format!("trial {trial_id} version {version}");
                let loaded = LoadedProtocol::from_toml(&text, &origin)?;
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
                self.signature(c.conn, c.trial, version, Meaning::Authorship, &user, &by)?;
                Ok((Vec::new(), version))
            },
        )
    }

    /// Approves the amendment awaiting approval (`version`, the one after the current): on a
    /// trial that has started, only when a stored report simulated exactly that version. The
    /// engine records the change, the version becomes current and the approval signature is
    /// bound to it, in one transaction. Returns the signature's seq on the system chain.
    pub(super) fn approve_amendment(
        &self,
        actor: &Actor,
        trial_id: &str,
        version: i32,
        user: &UserRow,
    ) -> Result<u64, ServiceError> {
        let note = {
            let mut conn = self.conn()?;
            ProtocolVersionRow::find(&mut conn, trial_id, version)?
                .map(|row| row.note)
                .unwrap_or_default()
        };
        let by = self.attribution(actor, Some(&note));
        self.run_command(
            actor,
            trial_id,
            Some(&note),
            WriteLock::TrialAndSystem(trial_id),
            |c| {
                let pending = pending_version(c.conn, c.trial)?
                    .filter(|p| p.version == version)
                    .ok_or_else(|| {
                        ServiceError::Conflict(format!(
                            "protocol version {version} of trial {trial_id} no longer awaits \
                             approval"
                        ))
                    })?;
                let after = LoadedProtocol::from_toml(
                    &pending.source,
                    &format!("trial {trial_id} version {version}"),
                )?;
                Self::require_simulated(c.conn, &c.state.status, &pending, &after.protocol)?;
                let current = ProtocolVersionRow::find(c.conn, trial_id, c.trial.current_version)?
                    .ok_or_else(|| {
                        ServiceError::Integrity("current protocol version missing".into())
                    })?;
                let before = LoadedProtocol::from_toml(
                    &current.source,
                    &format!("trial {trial_id} version {}", current.version),
                )?;
                let events = match amendment::between(&before.protocol, &after.protocol)? {
                    amendment::Change::AddArm(arm) => c.engine.add_arm(c.state, arm)?,
                    amendment::Change::MaxParticipants(to) => {
                        c.engine.change_max_participants(c.state, to)?
                    }
                };
                TrialRow::set_version(c.conn, trial_id, version)?;
                let seq = self.signature(c.conn, c.trial, version, Meaning::Approval, user, &by)?;
                Ok((events, seq))
            },
        )
    }

    /// Pauses enrolment (statistician), with a reason.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn pause(&self, actor: &Actor, trial_id: &str, reason: &str) -> Result<(), ServiceError> {
        actor.require(Permission::DirectTrials)?;
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
        actor.require(Permission::DirectTrials)?;
        self.run_command(actor, trial_id, None, WriteLock::Trial(trial_id), |c| {
            Ok((c.engine.resume(c.state)?, ()))
        })
    }

    /// Closes the trial early (statistician), with a reason.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn close(&self, actor: &Actor, trial_id: &str, reason: &str) -> Result<(), ServiceError> {
        actor.require(Permission::DirectTrials)?;
        let reason = need_reason(reason, "closing a trial")?;
        self.run_command(
            actor,
            trial_id,
            Some(&reason),
            WriteLock::Trial(trial_id),
            |c| Ok((c.engine.close(c.state, &reason)?, ())),
        )
    }

    /// Emergency unblinding (code break) of one participant of a blinded trial by the site
    /// (coordinator, as investigator), with a reason and the password again. The answer is that
    /// participant's arm (n-of-1: their treatments in period order) and nothing else; the code
    /// break is a record on the trial's chain, and statisticians and the DMC are notified. A
    /// refused attempt (wrong password, no reason) is recorded on the system chain.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn break_code(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        reason: &str,
        password: &str,
    ) -> Result<CodeBreak, ServiceError> {
        let subject = crate::service::subject::subject_key(subject_id);
        let subject_id = subject.as_str();
        actor.require(Permission::BreakCode)?;
        let reason = match need_reason(reason, "emergency unblinding") {
            Ok(reason) => reason,
            Err(error) => {
                self.record_failed_code_break(
                    actor,
                    trial_id,
                    subject_id,
                    crate::audit::UnblindingFailure::NoReason,
                )?;
                return Err(error);
            }
        };
        // A wrong password is recorded on the system chain as a failed re-authentication.
        self.reauthenticate(actor, password, "emergency unblinding")?;
        self.run_command(
            actor,
            trial_id,
            Some(&reason),
            WriteLock::Trial(trial_id),
            |c| {
                let events = c.engine.reveal_assignment(c.state, subject_id, &reason)?;
                let index = c
                    .state
                    .participant_index(subject_id.trim())
                    .ok_or_else(|| ServiceError::NotFound(format!("no subject {subject_id}")))?;
                let arm_of = |i: usize| c.state.arms.get(i).map(|a| a.id.to_string());
                let arms: Vec<String> = match c.state.nof1.get(index) {
                    Some(patient) => patient.periods.iter().filter_map(|&t| arm_of(t)).collect(),
                    None => c.state.participants[index]
                        .arm
                        .and_then(arm_of)
                        .into_iter()
                        .collect(),
                };
                let answer = CodeBreak {
                    subject_id: subject_id.trim().to_owned(),
                    arm: arms.first().cloned().unwrap_or_default(),
                    treatments: (arms.len() > 1).then_some(arms),
                };
                Ok((events, answer))
            },
        )
    }

    fn record_failed_code_break(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        failure: crate::audit::UnblindingFailure,
    ) -> Result<(), ServiceError> {
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            self.append_system(
                conn,
                &crate::audit::SystemEvent::UnblindingFailed {
                    trial: trial_id.to_owned(),
                    subject_id: crate::service::printable(subject_id),
                    failure,
                },
                &by,
            )
            .map(|_| ())
        })
    }
}
