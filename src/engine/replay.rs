//! Replay: re-derives every decision of a logged trial from its inputs and compares.
//!
//! The inputs of a trial are its start, enrolments, outcomes, corrections, amendments, the
//! committee's recommendations and closure. Replay feeds each input to the same engine commands
//! that produced the log, on a fresh state, and requires the events they return
//! (randomisations with their probabilities and draws, allocation updates, looks, drops, stops)
//! to equal the logged ones exactly.

use super::commands::{Engine, NewArm};
use super::events::{Event, EventBody, Origin, RevealCause, StopReason};
use super::nof1::PatientEnd;
use super::state::TrialState;
use super::{EngineError, ReplayMismatch, TrialSeed};
use crate::protocol::Protocol;

/// Replays `events` and returns the final state, or the first event that differs.
pub fn replay(
    protocol: &Protocol,
    seed: TrialSeed,
    events: &[Event],
) -> Result<TrialState, ReplayMismatch> {
    let mut engine = Engine::new(protocol, seed);
    let mut state = TrialState::new(protocol).map_err(|e| ReplayMismatch {
        seq: 0,
        problem: format!("the protocol cannot start a trial: {e}"),
    })?;
    let mut position = 0;
    while position < events.len() {
        let first_seq = events[position].seq;
        let Some(offset) = events[position..].iter().position(|e| is_input(&e.body)) else {
            return Err(ReplayMismatch {
                seq: first_seq,
                problem: format!(
                    "{} is not explained by any later input",
                    events[position].body.kind()
                ),
            });
        };
        let input = &events[position + offset];
        let produced = run(&mut engine, &mut state, &input.body).map_err(|e| ReplayMismatch {
            seq: input.seq,
            problem: format!("the engine refuses this input: {e}"),
        })?;
        for (k, derived) in produced.iter().enumerate() {
            let Some(logged) = events.get(position + k) else {
                return Err(ReplayMismatch {
                    seq: derived.seq,
                    problem: format!(
                        "the log ends where the engine derives {}",
                        derived.body.kind()
                    ),
                });
            };
            if logged != derived {
                return Err(ReplayMismatch {
                    seq: logged.seq,
                    problem: describe_difference(logged, derived),
                });
            }
        }
        if produced.len() <= offset {
            return Err(ReplayMismatch {
                seq: first_seq,
                problem: "the log holds events the engine does not derive".into(),
            });
        }
        position += produced.len();
    }
    Ok(state)
}

fn is_input(body: &EventBody) -> bool {
    body.origin() == Origin::Input
}

fn subject(state: &TrialState, participant: u32) -> Result<std::sync::Arc<str>, EngineError> {
    state
        .participants
        .get(participant as usize)
        .map(|p| p.subject_id.clone())
        .ok_or_else(|| EngineError::Refused(format!("unknown participant {participant}")))
}

fn run(
    engine: &mut Engine<'_>,
    state: &mut TrialState,
    input: &EventBody,
) -> Result<Vec<Event>, EngineError> {
    match input {
        EventBody::TrialStarted { protocol_hash, .. } => engine.start(state, protocol_hash),
        EventBody::ParticipantEnrolled {
            subject_id,
            start_date: Some(date),
            ..
        } => engine.enrol_patient(state, subject_id, date),
        EventBody::ParticipantEnrolled {
            subject_id,
            biomarkers: Some(biomarkers),
            ..
        } => {
            let mut out = Vec::new();
            engine.enrol_with_biomarkers_into(state, subject_id, biomarkers, &mut out)?;
            Ok(out)
        }
        EventBody::ParticipantEnrolled { subject_id, .. } => engine.enrol(state, subject_id),
        EventBody::MeasurementRecorded {
            participant,
            day,
            value,
        } => {
            let subject = subject(state, *participant)?;
            engine.record_measurement(state, &subject, *day, *value)
        }
        EventBody::MeasurementCorrected {
            participant,
            corrects,
            value,
            reason,
        } => {
            let subject = subject(state, *participant)?;
            engine.correct_measurement(state, &subject, *corrects, *value, reason)
        }
        EventBody::PatientFinished {
            participant,
            end: PatientEnd::Withdrawn { reason },
            ..
        } => {
            let subject = subject(state, *participant)?;
            engine.withdraw_patient(state, &subject, reason)
        }
        EventBody::OutcomeRecorded { participant, value } => {
            let subject = subject(state, *participant)?;
            engine.record_outcome(state, &subject, *value)
        }
        EventBody::OutcomeCorrected {
            participant,
            value,
            reason,
            ..
        } => {
            let subject = subject(state, *participant)?;
            engine.correct_outcome(state, &subject, *value, reason)
        }
        EventBody::ArmAdded {
            arm,
            name,
            prior,
            ratio,
        } => engine.add_arm(
            state,
            NewArm {
                id: arm.clone(),
                name: name.clone(),
                prior: Some(*prior),
                ratio: *ratio,
            },
        ),
        EventBody::MaxParticipantsChanged { to, .. } => engine.change_max_participants(state, *to),
        EventBody::DataCollectionClosed => {
            let mut out = Vec::new();
            engine.conclude_into(state, &mut out).map(|()| out)
        }
        EventBody::TrialStopped {
            reason: StopReason::Closed { reason },
        } => engine.close(state, reason),
        EventBody::EnrolmentPaused { reason } => engine.pause(state, reason),
        EventBody::EnrolmentResumed => engine.resume(state),
        EventBody::DmcRecommended {
            look,
            recommendation,
            rationale,
            signed_by,
        } => engine.recommend(state, *look, recommendation.clone(), rationale, signed_by),
        EventBody::AssignmentRevealed {
            participant,
            cause: RevealCause::Emergency { reason },
            ..
        } => {
            let subject = subject(state, *participant)?;
            engine.reveal_assignment(state, &subject, reason)
        }
        other => Err(EngineError::Refused(format!(
            "{} is not an input",
            other.kind()
        ))),
    }
}

fn describe_difference(logged: &Event, derived: &Event) -> String {
    if logged.body.kind() != derived.body.kind() {
        return format!(
            "the log has {} where the engine derives {}",
            logged.body.kind(),
            derived.body.kind()
        );
    }
    let as_json = |e: &Event| serde_json::to_string(e).unwrap_or_default();
    format!(
        "{} differs: logged {} but derived {}",
        logged.body.kind(),
        as_json(logged),
        as_json(derived)
    )
}
