//! The trial's history: a typed read model folded from the events, the only place besides the
//! state fold and replay that interprets them.
//!
//! Each participant's timeline (enrolment, assignments, outcomes and n-of-1 measurements with
//! every correction, code breaks, the end of their n-of-1 trial), each look with its typed
//! decisions, the allocation updates, the arms' changes of status and the trial's conclusion.
//! Every entry keeps its *source* `R`: the audit record that holds it in an export, the seq in the
//! live service. Projections, views, exports, notifications and simulation metrics are mappings
//! from this model; none of them matches on event variants.
//!
//! [`History::apply`] also says what an event changed ([`Change`]), so that a caller writing
//! per-command rows (the live service's projections and notifications) maps the change, not the
//! event. This module must not compute statistics or decide anything: the engine's commands did.

use std::collections::HashMap;
use std::sync::Arc;

pub use super::decision::{conclusion_of, Decision};
use super::events::{
    AllocationBasis, ArmAnalysis, ArmShare, Conclusion, DropReason, Event, EventBody, OutcomeValue,
    Recommendation, RevealCause, StopReason,
};
use super::nof1::{Nof1Effect, PatientEnd, SeriesSummary};
use super::strata::{Biomarkers, SignatureAnalysis, StratumAnalysis};
use super::EngineError;

/// A participant's assignment: the randomised arm (platform) or one period's treatment (n-of-1).
#[derive(Debug, Clone)]
pub struct Assigned<R> {
    /// Where it is recorded.
    pub record: R,
    /// n-of-1: the cycle (1-based).
    pub cycle: Option<u32>,
    /// n-of-1: the period (1-based).
    pub period: Option<u32>,
    /// The arm (treatment).
    pub arm: String,
    /// The probability the arm (treatment) had (platform always; n-of-1 adaptive cycles).
    pub probability: Option<f64>,
    /// Every open arm's probability at this randomisation (platform).
    pub probabilities: Option<Arc<[ArmShare]>>,
    /// The seed-derived uniform draw.
    pub draw: Option<f64>,
    /// `block` or `adaptive` (platform).
    pub phase: Option<&'static str>,
}

/// A recorded value or a correction of one.
#[derive(Debug, Clone)]
pub struct Valued<R> {
    /// Where it is recorded.
    pub record: R,
    /// The value.
    pub value: OutcomeValue,
    /// The seq of the event whose value this corrects.
    pub corrects: Option<u64>,
    /// Why (corrections).
    pub reason: Option<String>,
}

/// The values of one study day (n-of-1), in the order recorded.
#[derive(Debug, Clone)]
pub struct Day<R> {
    /// Study day.
    pub day: u32,
    /// The value and its corrections.
    pub values: Vec<Valued<R>>,
}

/// A participant's assignment revealed to the site.
#[derive(Debug, Clone)]
pub struct Revealed<R> {
    /// Where it is recorded.
    pub record: R,
    /// Why.
    pub cause: RevealCause,
}

/// One participant's timeline.
#[derive(Debug, Clone)]
pub struct Subject<R> {
    /// 0-based participant number.
    pub participant: u32,
    /// The subject identifier.
    pub subject_id: String,
    /// n-of-1: the date of study day 1.
    pub start_date: Option<String>,
    /// Precision designs: the biomarker values entered at enrolment.
    pub biomarkers: Option<Arc<Biomarkers>>,
    /// Precision designs: the stratum the engine read from them.
    pub stratum: Option<u32>,
    /// The enrolment record.
    pub enrolled: R,
    /// Assignments in order (platform: one; n-of-1: one per period).
    pub assignments: Vec<Assigned<R>>,
    /// Outcomes and their corrections, in order (platform).
    pub outcomes: Vec<Valued<R>>,
    /// Measurements by study day (n-of-1).
    pub days: Vec<Day<R>>,
    /// n-of-1: how and after which cycle the patient's trial ended.
    pub finished: Option<(R, u32, PatientEnd)>,
    /// Code breaks and reveals.
    pub revealed: Vec<Revealed<R>>,
}

/// The data monitoring committee's recommendation after a look, with its e-signature.
#[derive(Debug, Clone)]
pub struct Recommended<R> {
    /// Where it is recorded (the record names the account that signed and when).
    pub record: R,
    /// The look it follows.
    pub look: u32,
    /// What the committee recommends.
    pub recommendation: Recommendation,
    /// Why.
    pub rationale: String,
    /// The signer's printed name.
    pub signed_by: String,
}

/// A look of a platform trial and the decisions that followed it.
#[derive(Debug, Clone)]
pub struct Look<R> {
    /// Where it is recorded.
    pub record: R,
    /// 1-based look number.
    pub look: u32,
    /// Participants with outcomes.
    pub outcomes: u32,
    /// Participants enrolled.
    pub enrolled: u32,
    /// Per-arm analysis.
    pub arms: Vec<ArmAnalysis>,
    /// Precision designs: per arm and stratum.
    pub strata: Vec<StratumAnalysis>,
    /// Precision designs: per experimental arm and signature.
    pub signatures: Vec<SignatureAnalysis>,
    /// The control every `p_better_than_control` of this look is against (the control in force
    /// at the look, before any change the look decided); `None` without a control.
    pub control: Option<String>,
    /// Decisions, in order, with their records.
    pub decisions: Vec<(R, Decision)>,
}

/// A patient's look (n-of-1).
#[derive(Debug, Clone)]
pub struct PatientLook<R> {
    /// Where it is recorded.
    pub record: R,
    /// 0-based participant number.
    pub participant: u32,
    /// The cycle just completed.
    pub cycle: u32,
    /// Each treatment against the first.
    pub effects: Vec<Nof1Effect>,
    /// The end of the patient's trial this look decided (not a withdrawal).
    pub decision: Option<PatientEnd>,
}

/// A recomputation of the allocation probabilities.
#[derive(Debug, Clone)]
pub struct Allocation<R> {
    /// Where it is recorded.
    pub record: R,
    /// Looks done when it was made.
    pub after_look: u32,
    /// Every open arm's probability.
    pub probabilities: Arc<[ArmShare]>,
    /// Why.
    pub basis: AllocationBasis,
    /// Precision designs: the stratum these probabilities randomise in.
    pub stratum: Option<u32>,
}

/// A change of an arm's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmChange {
    /// Added by an amendment (opens with the next event).
    Added,
    /// Opened to enrolment.
    Opened,
    /// Dropped at a look.
    Dropped(DropReason),
    /// Became the control (superior to the old one).
    BecameControl,
}

/// An arm with its changes of status.
#[derive(Debug, Clone)]
pub struct ArmHistory<R> {
    /// The arm.
    pub arm: String,
    /// Its changes, in order.
    pub changes: Vec<(R, ArmChange)>,
}

/// A change of enrolment or data collection (inputs).
#[derive(Debug, Clone, PartialEq)]
pub enum Conduct {
    /// The trial started.
    Started,
    /// Enrolment paused.
    Paused {
        /// Why.
        reason: String,
    },
    /// Enrolment resumed.
    Resumed,
    /// The maximum sample size was amended.
    MaxParticipantsChanged {
        /// Old maximum.
        from: u32,
        /// New maximum.
        to: u32,
    },
    /// Data collection closed.
    DataCollectionClosed,
}

/// The trial's end: the reason and what it means.
#[derive(Debug, Clone)]
pub struct Stopped<R> {
    /// Where it is recorded.
    pub record: R,
    /// Why it stopped.
    pub reason: StopReason,
    /// What it means ([`conclusion_of`]).
    pub conclusion: Conclusion,
}

/// What one event changed in the history (for callers that write per-command rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// [`History::conduct`]'s last entry.
    Conduct,
    /// An arm's last change: the index in [`History::arms`].
    Arm(usize),
    /// A participant was enrolled.
    Enrolled(u32),
    /// A participant got assignments: their first one (platform: the only one) is new when
    /// `first` is true.
    Assigned {
        /// The participant.
        participant: u32,
        /// Whether these are the participant's first assignments.
        first: bool,
    },
    /// The participant's last outcome entry is new.
    Outcome(u32),
    /// The participant's last measurement entry on `day` is new.
    Measurement {
        /// The participant.
        participant: u32,
        /// The study day.
        day: u32,
    },
    /// The last allocation update is new.
    Allocation,
    /// The last look is new.
    Look,
    /// The look's last decision is new: the index in [`History::looks`].
    Decision(usize),
    /// The last patient look is new.
    PatientLook,
    /// The participant's n-of-1 trial ended.
    PatientFinished(u32),
    /// The last series look is new.
    Series,
    /// The committee's recommendation: the index in [`History::recommendations`].
    Recommended(usize),
    /// The participant's last reveal is new.
    Revealed(u32),
    /// The trial stopped ([`History::stopped`]).
    Stopped,
}

/// The trial's history (module docs).
#[derive(Debug, Clone)]
pub struct History<R> {
    /// Participants in enrolment order.
    pub subjects: Vec<Subject<R>>,
    /// Looks, in order.
    pub looks: Vec<Look<R>>,
    /// Allocation updates, in order.
    pub allocations: Vec<Allocation<R>>,
    /// Patient looks (n-of-1), in order.
    pub patient_looks: Vec<PatientLook<R>>,
    /// Series looks (n-of-1), in order.
    pub series: Vec<(R, SeriesSummary)>,
    /// Start, pauses, resumptions, amendments of the maximum, closure of data collection.
    pub conduct: Vec<(R, Conduct)>,
    /// Arms opened or added, in order, with their changes.
    pub arms: Vec<ArmHistory<R>>,
    /// The data monitoring committee's recommendations, in order.
    pub recommendations: Vec<Recommended<R>>,
    /// The trial's end.
    pub stopped: Option<Stopped<R>>,
    /// Whether the protocol has a control arm.
    has_control: bool,
    /// Whether a control change happened (a superior arm replaced the control).
    promoted: bool,
    /// The control in force: the last look's, then the arm a control change promoted.
    control: Option<String>,
    /// The last arm drop's reason.
    last_drop: Option<DropReason>,
    /// seq of an outcome or measurement event → (participant, day) it holds a value of.
    holds: HashMap<u64, (u32, Option<u32>)>,
}

fn probability_of(shares: &[ArmShare], arm: &str) -> Option<f64> {
    shares
        .iter()
        .find(|s| s.arm.as_str() == arm)
        .map(|s| s.probability)
}

impl<R: Clone> History<R> {
    /// An empty history of a trial (`has_control`: whether its protocol has a control arm).
    pub fn new(has_control: bool) -> Self {
        Self {
            subjects: Vec::new(),
            looks: Vec::new(),
            allocations: Vec::new(),
            patient_looks: Vec::new(),
            series: Vec::new(),
            conduct: Vec::new(),
            arms: Vec::new(),
            recommendations: Vec::new(),
            stopped: None,
            has_control,
            promoted: false,
            control: None,
            last_drop: None,
            holds: HashMap::new(),
        }
    }

    /// The history of a whole log, each event with its source.
    pub fn of<'e>(
        has_control: bool,
        log: impl IntoIterator<Item = (R, &'e Event)>,
    ) -> Result<Self, EngineError> {
        let mut history = Self::new(has_control);
        for (record, event) in log {
            history.apply(record, event)?;
        }
        Ok(history)
    }

    fn subject(&mut self, seq: u64, participant: u32) -> Result<&mut Subject<R>, EngineError> {
        self.subjects
            .get_mut(participant as usize)
            .ok_or_else(|| EngineError::Log {
                seq,
                problem: format!("participant {participant} is not enrolled before this event"),
            })
    }

    fn arm_change(&mut self, record: R, arm: &str, change: ArmChange) -> Change {
        let index = match self.arms.iter().position(|a| a.arm == arm) {
            Some(index) => index,
            None => {
                self.arms.push(ArmHistory {
                    arm: arm.to_owned(),
                    changes: Vec::new(),
                });
                self.arms.len() - 1
            }
        };
        self.arms[index].changes.push((record, change));
        Change::Arm(index)
    }

    fn decide(
        &mut self,
        seq: u64,
        look: u32,
        record: R,
        decision: Decision,
    ) -> Result<Change, EngineError> {
        let index = self
            .looks
            .iter()
            .rposition(|l| l.look == look)
            .ok_or_else(|| EngineError::Log {
                seq,
                problem: format!("a decision of look {look}, which has not been performed"),
            })?;
        self.looks[index].decisions.push((record, decision));
        Ok(Change::Decision(index))
    }

    /// Folds one event with its source and says what it changed. Fails when the event names a
    /// participant who is not enrolled, or corrects a record that holds no value of theirs.
    pub fn apply(&mut self, record: R, event: &Event) -> Result<Vec<Change>, EngineError> {
        let seq = event.seq;
        let change = match &event.body {
            EventBody::TrialStarted { .. } => {
                self.conduct.push((record, Conduct::Started));
                vec![Change::Conduct]
            }
            EventBody::ArmOpened { arm, .. } => {
                vec![self.arm_change(record, arm.as_str(), ArmChange::Opened)]
            }
            EventBody::ArmAdded { arm, .. } => {
                vec![self.arm_change(record, arm.as_str(), ArmChange::Added)]
            }
            EventBody::ParticipantEnrolled {
                participant,
                subject_id,
                start_date,
                biomarkers,
                stratum,
            } => {
                if *participant as usize != self.subjects.len() {
                    return Err(EngineError::Log {
                        seq,
                        problem: format!(
                            "participant {participant} enrolled after {} participants",
                            self.subjects.len()
                        ),
                    });
                }
                self.subjects.push(Subject {
                    participant: *participant,
                    subject_id: subject_id.to_string(),
                    start_date: start_date.as_deref().map(str::to_owned),
                    biomarkers: biomarkers.clone(),
                    stratum: *stratum,
                    enrolled: record,
                    assignments: Vec::new(),
                    outcomes: Vec::new(),
                    days: Vec::new(),
                    finished: None,
                    revealed: Vec::new(),
                });
                vec![Change::Enrolled(*participant)]
            }
            EventBody::Randomised {
                participant,
                arm,
                probabilities,
                draw,
                phase,
            } => {
                let subject = self.subject(seq, *participant)?;
                let first = subject.assignments.is_empty();
                subject.assignments.push(Assigned {
                    record,
                    cycle: None,
                    period: None,
                    arm: arm.to_string(),
                    probability: probability_of(probabilities, arm.as_str()),
                    probabilities: Some(Arc::clone(probabilities)),
                    draw: Some(*draw),
                    phase: Some(phase.as_str()),
                });
                vec![Change::Assigned {
                    participant: *participant,
                    first,
                }]
            }
            EventBody::Nof1CycleAssigned {
                participant,
                cycle,
                treatments,
                probabilities,
                draw,
            } => {
                let subject = self.subject(seq, *participant)?;
                let first = subject.assignments.is_empty();
                let k = treatments.len() as u32;
                for (i, treatment) in treatments.iter().enumerate() {
                    subject.assignments.push(Assigned {
                        record: record.clone(),
                        cycle: Some(*cycle),
                        period: Some(cycle.saturating_sub(1) * k + i as u32 + 1),
                        arm: treatment.to_string(),
                        probability: probabilities
                            .as_deref()
                            .and_then(|p| probability_of(p, treatment.as_str())),
                        probabilities: None,
                        draw: *draw,
                        phase: None,
                    });
                }
                vec![Change::Assigned {
                    participant: *participant,
                    first,
                }]
            }
            EventBody::OutcomeRecorded { participant, value } => {
                self.subject(seq, *participant)?.outcomes.push(Valued {
                    record,
                    value: *value,
                    corrects: None,
                    reason: None,
                });
                self.holds.insert(seq, (*participant, None));
                vec![Change::Outcome(*participant)]
            }
            EventBody::OutcomeCorrected {
                participant,
                corrects,
                value,
                reason,
            } => {
                self.subject(seq, *participant)?.outcomes.push(Valued {
                    record,
                    value: *value,
                    corrects: Some(*corrects),
                    reason: Some(reason.clone()),
                });
                self.holds.insert(seq, (*participant, None));
                vec![Change::Outcome(*participant)]
            }
            EventBody::MeasurementRecorded {
                participant,
                day,
                value,
            } => {
                let entry = Valued {
                    record,
                    value: *value,
                    corrects: None,
                    reason: None,
                };
                self.measure(seq, *participant, *day, entry)?;
                vec![Change::Measurement {
                    participant: *participant,
                    day: *day,
                }]
            }
            EventBody::MeasurementCorrected {
                participant,
                corrects,
                value,
                reason,
            } => {
                let day = match self.holds.get(corrects) {
                    Some((p, Some(day))) if p == participant => *day,
                    _ => {
                        return Err(EngineError::Log {
                            seq,
                            problem: format!(
                                "it corrects record {corrects}, which holds no measurement of participant {participant}"
                            ),
                        })
                    }
                };
                let entry = Valued {
                    record,
                    value: *value,
                    corrects: Some(*corrects),
                    reason: Some(reason.clone()),
                };
                self.measure(seq, *participant, day, entry)?;
                vec![Change::Measurement {
                    participant: *participant,
                    day,
                }]
            }
            EventBody::AllocationUpdated {
                probabilities,
                basis,
                stratum,
                ..
            } => {
                self.allocations.push(Allocation {
                    record,
                    after_look: self.looks.last().map_or(0, |l| l.look),
                    probabilities: Arc::clone(probabilities),
                    basis: *basis,
                    stratum: *stratum,
                });
                vec![Change::Allocation]
            }
            EventBody::LookPerformed {
                look,
                outcomes,
                enrolled,
                arms,
                strata,
                signatures,
            } => {
                // With a control, the look compares every other analysed arm with it: the one
                // arm without a P(better than control) is the control in force.
                let control = if self.has_control {
                    arms.iter()
                        .find(|a| a.p_better_than_control.is_none())
                        .map(|a| a.arm.to_string())
                } else {
                    None
                };
                self.control.clone_from(&control);
                self.looks.push(Look {
                    record,
                    look: *look,
                    outcomes: *outcomes,
                    enrolled: *enrolled,
                    arms: arms.clone(),
                    strata: strata.clone(),
                    signatures: signatures.clone(),
                    control,
                    decisions: Vec::new(),
                });
                vec![Change::Look]
            }
            EventBody::ArmDropped {
                arm,
                reason,
                probability,
                threshold,
                look,
            } => {
                self.last_drop = Some(*reason);
                let decision = Decision::ArmDropped {
                    arm: arm.to_string(),
                    reason: *reason,
                    probability: *probability,
                    threshold: *threshold,
                    against: self.control.clone(),
                };
                vec![
                    self.decide(seq, *look, record.clone(), decision)?,
                    self.arm_change(record, arm.as_str(), ArmChange::Dropped(*reason)),
                ]
            }
            EventBody::ArmGraduated {
                arm,
                signature,
                probability,
                threshold,
                look,
            } => {
                let decision = Decision::Graduated {
                    arm: arm.to_string(),
                    signature: signature.clone(),
                    probability: *probability,
                    threshold: *threshold,
                };
                vec![self.decide(seq, *look, record, decision)?]
            }
            EventBody::ControlChanged {
                from,
                to,
                probability,
                threshold,
                look,
            } => {
                self.promoted = true;
                self.control = Some(to.to_string());
                let decision = Decision::ControlChanged {
                    from: from.to_string(),
                    to: to.to_string(),
                    probability: *probability,
                    threshold: *threshold,
                };
                vec![
                    self.decide(seq, *look, record.clone(), decision)?,
                    self.arm_change(record, to.as_str(), ArmChange::BecameControl),
                ]
            }
            EventBody::DataCollectionClosed => {
                self.conduct.push((record, Conduct::DataCollectionClosed));
                vec![Change::Conduct]
            }
            EventBody::EnrolmentPaused { reason } => {
                self.conduct.push((
                    record,
                    Conduct::Paused {
                        reason: reason.clone(),
                    },
                ));
                vec![Change::Conduct]
            }
            EventBody::EnrolmentResumed => {
                self.conduct.push((record, Conduct::Resumed));
                vec![Change::Conduct]
            }
            EventBody::MaxParticipantsChanged { from, to } => {
                self.conduct.push((
                    record,
                    Conduct::MaxParticipantsChanged {
                        from: *from,
                        to: *to,
                    },
                ));
                vec![Change::Conduct]
            }
            EventBody::PatientLookPerformed {
                participant,
                cycle,
                effects,
            } => {
                self.subject(seq, *participant)?;
                self.patient_looks.push(PatientLook {
                    record,
                    participant: *participant,
                    cycle: *cycle,
                    effects: effects.clone(),
                    decision: None,
                });
                vec![Change::PatientLook]
            }
            EventBody::PatientFinished {
                participant,
                cycle,
                end,
            } => {
                if !matches!(end, PatientEnd::Withdrawn { .. }) {
                    if let Some(l) = self
                        .patient_looks
                        .iter_mut()
                        .rev()
                        .find(|l| l.participant == *participant)
                    {
                        l.decision = Some(end.clone());
                    }
                }
                self.subject(seq, *participant)?.finished = Some((record, *cycle, end.clone()));
                vec![Change::PatientFinished(*participant)]
            }
            EventBody::SeriesLookPerformed { summary } => {
                self.series.push((record, summary.clone()));
                vec![Change::Series]
            }
            EventBody::AssignmentRevealed {
                participant, cause, ..
            } => {
                self.subject(seq, *participant)?.revealed.push(Revealed {
                    record,
                    cause: cause.clone(),
                });
                vec![Change::Revealed(*participant)]
            }
            EventBody::DmcRecommended {
                look,
                recommendation,
                rationale,
                signed_by,
            } => {
                if !self.looks.iter().any(|l| l.look == *look) {
                    return Err(EngineError::Log {
                        seq,
                        problem: format!(
                            "a recommendation after look {look}, which has not been performed"
                        ),
                    });
                }
                self.recommendations.push(Recommended {
                    record,
                    look: *look,
                    recommendation: recommendation.clone(),
                    rationale: rationale.clone(),
                    signed_by: signed_by.clone(),
                });
                vec![Change::Recommended(self.recommendations.len() - 1)]
            }
            EventBody::TrialStopped { reason } => {
                let conclusion =
                    conclusion_of(reason, self.has_control, self.promoted, self.last_drop);
                let mut changes = Vec::with_capacity(2);
                if !matches!(reason, StopReason::Closed { .. }) {
                    if let Some(look) = self.looks.last().map(|l| l.look) {
                        changes.push(self.decide(
                            seq,
                            look,
                            record.clone(),
                            Decision::TrialStopped(reason.clone()),
                        )?);
                    }
                }
                self.stopped = Some(Stopped {
                    record,
                    reason: reason.clone(),
                    conclusion,
                });
                changes.push(Change::Stopped);
                changes
            }
        };
        Ok(change)
    }

    fn measure(
        &mut self,
        seq: u64,
        participant: u32,
        day: u32,
        entry: Valued<R>,
    ) -> Result<(), EngineError> {
        let subject = self.subject(seq, participant)?;
        match subject.days.iter_mut().find(|d| d.day == day) {
            Some(existing) => existing.values.push(entry),
            None => subject.days.push(Day {
                day,
                values: vec![entry],
            }),
        }
        self.holds.insert(seq, (participant, Some(day)));
        Ok(())
    }

    /// The participant's current outcome entry (the last recorded or corrected).
    pub fn current_outcome(&self, participant: u32) -> Option<&Valued<R>> {
        self.subjects
            .get(participant as usize)
            .and_then(|s| s.outcomes.last())
    }

    /// The arm's current status word for a viewer who may see why (`open`, `pending`, or
    /// `closed (<reason>)`), from its last change.
    pub fn arm_status_words(&self, arm: &str) -> Option<String> {
        let history = self.arms.iter().find(|a| a.arm == arm)?;
        let closed = history.changes.iter().rev().find_map(|(_, c)| match c {
            ArmChange::Dropped(reason) => Some(*reason),
            ArmChange::Added | ArmChange::Opened | ArmChange::BecameControl => None,
        });
        Some(match closed {
            Some(reason) => format!("closed ({reason})"),
            None if history
                .changes
                .iter()
                .any(|(_, c)| matches!(c, ArmChange::Opened)) =>
            {
                "open".to_owned()
            }
            None => "pending".to_owned(),
        })
    }
}
