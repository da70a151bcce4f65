//! A trial's participants, one participant's timeline, and the assignment shown after an
//! enrolment, each as the viewer's [`Sight`] allows: the arm to those who may see assignments, a
//! kit code on blinded trials, outcomes to all but the pharmacist, chain seqs only to those who
//! see comparative records.

use super::*;
use crate::engine::Disclosure;
use crate::service::{Assignment, Permission};
use crate::store::{OutcomeRow, ParticipantRow};

/// What a viewer may see of participants on one trial.
struct Lens<'a> {
    sight: Sight,
    seed_hex: &'a str,
    /// Whether outcome values may be shown (everyone who lists participants but the pharmacist).
    outcomes: bool,
    /// Whether the trial is a series of n-of-1 trials.
    nof1: bool,
}

impl Lens<'_> {
    fn of<'a>(actor: &Actor, snapshot: &'a Snapshot) -> Lens<'a> {
        Lens {
            sight: snapshot.sight(actor),
            seed_hex: &snapshot.trial.seed_hex,
            outcomes: actor.may(Permission::Enrol) || actor.may(Permission::SeeResults),
            nof1: snapshot.protocol.protocol.trial.design == crate::protocol::Design::Nof1,
        }
    }

    fn arm(&self, arm: &str) -> Option<String> {
        self.sight
            .reveals(Disclosure::Assignment)
            .then(|| arm.to_owned())
    }

    /// A platform participant's kit; an n-of-1 patient has one kit per period (on the
    /// calendar), none of their own.
    fn kit(&self, participant: u32) -> Option<String> {
        (self.sight.blinded && !self.nof1).then(|| kit_code(self.seed_hex, participant))
    }

    /// Seqs count the records between inputs, and so the decisions taken at looks
    /// ([`Sight::sees_seqs`]).
    fn seq(&self, seq: i64) -> Option<i64> {
        self.sight.sees_seqs().then_some(seq)
    }

    fn participant(&self, row: &ParticipantRow, state: &TrialState) -> ParticipantView {
        let outcome = state
            .participants
            .get(row.participant as usize)
            .and_then(|p| p.outcome.as_ref())
            .filter(|_| self.outcomes)
            .map(outcome_text);
        ParticipantView {
            subject_id: row.subject_id.clone(),
            participant: row.participant,
            arm: self.arm(&row.arm),
            kit: self.kit(row.participant as u32),
            seq: self.seq(row.seq),
            enrolled_by: row.enrolled_by.clone(),
            enrolled_at: row.enrolled_at.clone(),
            outcome,
        }
    }
}

impl Service {
    /// A trial's participants (coordinators, the pharmacist, statisticians, the DMC).
    pub fn participants(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<Vec<ParticipantView>, ServiceError> {
        actor.require(Permission::ListParticipants)?;
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let lens = Lens::of(actor, &snapshot);
        Ok(ParticipantRow::of_trial(&mut conn, trial_id)?
            .iter()
            .map(|row| lens.participant(row, &snapshot.state))
            .collect())
    }

    /// One participant with their timeline.
    pub fn participant(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
    ) -> Result<ParticipantDetail, ServiceError> {
        let subject = crate::service::subject::subject_key(subject_id);
        let subject_id = subject.as_str();
        actor.require(Permission::ListParticipants)?;
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let lens = Lens::of(actor, &snapshot);
        let row =
            ParticipantRow::by_subject(&mut conn, trial_id, subject_id)?.ok_or_else(|| {
                ServiceError::NotFound(format!("no participant {subject_id} in trial {trial_id}"))
            })?;
        let view = lens.participant(&row, &snapshot.state);
        let assignment = match (&view.arm, &view.kit) {
            (Some(arm), Some(kit)) => format!("randomised to {arm} (kit {kit})"),
            (Some(arm), None) => format!("randomised to {arm}"),
            (None, Some(kit)) => format!("randomised: kit {kit}"),
            (None, None) => "randomised".to_owned(),
        };
        // Each entry with its seq, to keep the chain's order.
        let mut timeline = vec![
            (
                row.seq - 1,
                TimelineEntry {
                    at: row.enrolled_at.clone(),
                    seq: lens.seq(row.seq - 1),
                    what: "enrolled (eligibility confirmed)".to_owned(),
                    by: row.enrolled_by.clone(),
                    reason: None,
                },
            ),
            (
                row.seq,
                TimelineEntry {
                    at: row.enrolled_at.clone(),
                    seq: lens.seq(row.seq),
                    what: assignment,
                    by: row.enrolled_by.clone(),
                    reason: None,
                },
            ),
        ];
        if lens.outcomes {
            for outcome in OutcomeRow::of_participant(&mut conn, trial_id, row.participant)? {
                let value: OutcomeValue = serde_json::from_str(&outcome.value).map_err(|e| {
                    ServiceError::Integrity(format!("outcome {} value: {e}", outcome.seq))
                })?;
                let corrects = match outcome.corrects.and_then(|seq| lens.seq(seq)) {
                    Some(seq) => format!(" (corrects seq {seq})"),
                    None => String::new(),
                };
                timeline.push((
                    outcome.seq,
                    TimelineEntry {
                        at: outcome.recorded_at,
                        seq: lens.seq(outcome.seq),
                        what: match outcome.corrects {
                            Some(_) => {
                                format!("outcome corrected to {}{corrects}", outcome_text(&value))
                            }
                            None => format!("outcome recorded: {}", outcome_text(&value)),
                        },
                        by: outcome.recorded_by,
                        reason: outcome.reason,
                    },
                ));
            }
        }
        // Code breaks (and, on blinded n-of-1 trials, the reveal at the patient's end) are
        // part of the participant's story: when, by whom and why; never the arm.
        let chain = chain_of(trial_id)?.to_string();
        let reveals = snapshot
            .history
            .subjects
            .get(row.participant as usize)
            .map(|s| s.revealed.clone())
            .unwrap_or_default();
        for reveal in reveals {
            let Some(record) = AuditRow::at(&mut conn, &chain, reveal.record as i64)? else {
                return Err(ServiceError::Integrity(format!(
                    "the reveal at record {} is not on the chain",
                    reveal.record
                )));
            };
            timeline.push((
                record.seq,
                TimelineEntry {
                    at: record.recorded_at,
                    seq: lens.seq(record.seq),
                    what: match reveal.cause {
                        crate::engine::RevealCause::Emergency { .. } => {
                            "code broken (emergency unblinding)".to_owned()
                        }
                        crate::engine::RevealCause::PatientFinished => {
                            "treatments revealed to the site (the patient's trial ended)".to_owned()
                        }
                    },
                    by: record.actor,
                    reason: record.reason,
                },
            ));
        }
        timeline.sort_by_key(|(seq, _)| *seq);
        Ok(ParticipantDetail {
            participant: view,
            timeline: timeline.into_iter().map(|(_, entry)| entry).collect(),
        })
    }

    /// What the person who enrolled is shown: the arm, or a kit code on a blinded trial for
    /// roles that may not see assignments.
    pub fn assignment_view(
        &self,
        actor: &Actor,
        assignment: &Assignment,
    ) -> Result<AssignmentView, ServiceError> {
        let mut conn = self.conn()?;
        let (trial, protocol) = self.trial_protocol(&mut conn, &assignment.trial_id)?;
        let blinded = protocol.protocol.trial.blinded;
        let sight = Sight {
            role: actor.role,
            blinded,
            stopped: false,
        };
        let concealed = !sight.reveals(Disclosure::Assignment);
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
            // An n-of-1 patient's first kit is their first period's.
            kit: blinded.then(|| match protocol.protocol.trial.design {
                crate::protocol::Design::Nof1 => {
                    period_kit_code(&trial.seed_hex, assignment.participant, 1)
                }
                crate::protocol::Design::Platform => {
                    kit_code(&trial.seed_hex, assignment.participant)
                }
            }),
            seq: sight.sees_seqs().then_some(assignment.seq),
        })
    }
}
