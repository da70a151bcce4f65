//! The trial commands of the site and the statistician after the start: enrol, record an
//! outcome, pause, resume, close, and the emergency code break.

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::instrument;

use crate::engine::strata::Biomarkers;
use crate::protocol::limits::{MAX_BIOMARKERS, MAX_ID_CHARS};

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

    /// [`Service::enrol`] for a precision design: the participant's biomarker values (id →
    /// level), read into their stratum by the engine. A missing, unknown or ineligible value is
    /// refused (422) and nothing is written.
    pub fn enrol_with_biomarkers(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        idempotency_key: Option<&str>,
        biomarkers: BTreeMap<String, String>,
    ) -> Result<Assignment, ServiceError> {
        let biomarkers = checked_biomarkers(biomarkers)?;
        self.enrol_as(
            actor,
            trial_id,
            subject_id,
            idempotency_key,
            None,
            Some(biomarkers),
        )
    }

    /// [`Service::enrol`]; an n-of-1 patient's study day 1 is `start_date` (`YYYY-MM-DD`,
    /// default: today by the service's clock).
    pub fn enrol_starting(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        idempotency_key: Option<&str>,
        start_date: Option<&str>,
    ) -> Result<Assignment, ServiceError> {
        self.enrol_as(
            actor,
            trial_id,
            subject_id,
            idempotency_key,
            start_date,
            None,
        )
    }

    #[instrument(skip_all, fields(trial = %trial_id))]
    fn enrol_as(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        idempotency_key: Option<&str>,
        start_date: Option<&str>,
        biomarkers: Option<Arc<Biomarkers>>,
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
            if let (true, Some(start)) = (nof1, start_date) {
                let today = at.as_str().get(..10).unwrap_or_default();
                crate::service::nof1::refuse_future("start_date", start, today, "the start date")?;
            }
            let start = start_date
                .map(str::to_owned)
                .unwrap_or_else(|| at.as_str().get(..10).unwrap_or_default().to_owned());
            let events = match (nof1, &biomarkers) {
                (true, _) => c.engine.enrol_patient(c.state, subject_id, &start)?,
                (false, Some(values)) => {
                    let mut out = Vec::new();
                    c.engine.enrol_with_biomarkers_into(
                        c.state,
                        &Arc::from(subject_id.trim()),
                        values,
                        &mut out,
                    )?;
                    out
                }
                (false, None) => c.engine.enrol(c.state, subject_id)?,
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
                (Some(_), None) => {
                    return Err(ServiceError::Invalid {
                        field: "reason",
                        problem: format!(
                            "subject {subject} already has an outcome; a correction needs a reason"
                        ),
                    })
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
                looks: events.iter().filter_map(|e| e.body.look_number()).collect(),
                stopped,
            };
            Ok((events, receipt))
        })
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

/// Biomarker values from outside, bounded before the engine reads them: at most
/// [`MAX_BIOMARKERS`] values, each id and level at most [`MAX_ID_CHARS`] characters.
fn checked_biomarkers(values: BTreeMap<String, String>) -> Result<Arc<Biomarkers>, ServiceError> {
    let invalid = |problem: String| ServiceError::Invalid {
        field: "biomarkers",
        problem,
    };
    if values.len() > MAX_BIOMARKERS {
        return Err(invalid(format!(
            "{} values given; a design has at most {MAX_BIOMARKERS} biomarkers",
            values.len()
        )));
    }
    for (id, level) in &values {
        if id.chars().count() > MAX_ID_CHARS || level.chars().count() > MAX_ID_CHARS {
            return Err(invalid(format!(
                "a biomarker id or level is longer than {MAX_ID_CHARS} characters"
            )));
        }
    }
    Ok(Arc::new(Biomarkers(values)))
}
