//! The trial's data as the exports lay it out, read from the audit records: per participant
//! their enrolment, assignments, outcomes and measurements with every correction, and the
//! looks with their decisions. Each value keeps the record that holds it (who, when, why, and
//! the hash that ODM's `SourceID` and the CSV tables name).

use std::collections::HashMap;

use crate::audit::AuditRecord;
use crate::engine::{
    ArmAnalysis, ArmShare, Event, EventBody, Nof1Effect, OutcomeValue, PatientEnd,
    RandomisationPhase, SeriesSummary, StopReason,
};

use super::ExportError;

/// A participant's assignment: the randomised arm (platform) or one period's treatment (n-of-1).
#[derive(Debug, Clone)]
pub(crate) struct Assigned<'a> {
    pub record: &'a AuditRecord,
    /// n-of-1: the cycle and the period (1-based).
    pub cycle: Option<u32>,
    pub period: Option<u32>,
    pub arm: String,
    /// The probability the arm (treatment) had (platform always; n-of-1 adaptive cycles).
    pub probability: Option<f64>,
    /// The seed-derived uniform draw.
    pub draw: Option<f64>,
    pub phase: Option<&'static str>,
}

/// A recorded value or a correction of one.
#[derive(Debug, Clone)]
pub(crate) struct Valued<'a> {
    pub record: &'a AuditRecord,
    pub value: OutcomeValue,
    /// The seq of the event whose value this corrects.
    pub corrects: Option<u64>,
    pub reason: Option<String>,
}

/// The values of one study day (n-of-1), in the order recorded.
#[derive(Debug, Clone)]
pub(crate) struct Day<'a> {
    pub day: u32,
    pub values: Vec<Valued<'a>>,
}

/// One participant.
#[derive(Debug, Clone)]
pub(crate) struct Subject<'a> {
    pub participant: u32,
    pub subject_id: String,
    pub start_date: Option<String>,
    pub enrolled: &'a AuditRecord,
    pub assignments: Vec<Assigned<'a>>,
    pub outcomes: Vec<Valued<'a>>,
    pub days: Vec<Day<'a>>,
    pub finished: Option<(&'a AuditRecord, u32, PatientEnd)>,
}

/// A look of a platform trial and the decisions that followed it.
#[derive(Debug, Clone)]
pub(crate) struct Look<'a> {
    pub record: &'a AuditRecord,
    pub look: u32,
    pub outcomes: u32,
    pub enrolled: u32,
    pub arms: Vec<ArmAnalysis>,
    pub decisions: Vec<String>,
}

/// A patient's look (n-of-1).
#[derive(Debug, Clone)]
pub(crate) struct PatientLook<'a> {
    pub record: &'a AuditRecord,
    pub participant: u32,
    pub cycle: u32,
    pub effects: Vec<Nof1Effect>,
    pub decision: Option<String>,
}

/// Everything the tables and the ODM file show.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts<'a> {
    pub subjects: Vec<Subject<'a>>,
    pub looks: Vec<Look<'a>>,
    pub patient_looks: Vec<PatientLook<'a>>,
    pub series: Vec<(&'a AuditRecord, SeriesSummary)>,
    pub stopped: Option<(&'a AuditRecord, StopReason)>,
    /// Arms opened or added, in order, with the record that did it.
    pub arms: Vec<String>,
}

/// A decision in words (unblinded: it names probabilities of comparative results, which every
/// export holds; allocation probabilities are not among them).
pub(crate) fn stop_words(reason: &StopReason) -> String {
    match reason {
        StopReason::Closed { reason } => format!("closed: {reason}"),
        StopReason::MaxParticipants => "the maximum sample size was reached".to_owned(),
        StopReason::Superiority {
            arm,
            probability,
            threshold,
        } => format!("arm {arm} superior: P(best) {probability} > {threshold}"),
        StopReason::Equivalence {
            probability,
            threshold,
        } => format!("arms equivalent: P {probability} > {threshold}"),
        StopReason::OneArmLeft { arm } => format!("only arm {arm} is left"),
    }
}

pub(crate) fn end_words(end: &PatientEnd) -> String {
    match end {
        PatientEnd::Benefit {
            treatment,
            probability,
            threshold,
        } => format!("benefit of {treatment}: P {probability} > {threshold}"),
        PatientEnd::Equivalence {
            probability,
            threshold,
        } => format!("equivalence: P {probability} > {threshold}"),
        PatientEnd::Completed => "every cycle completed".to_owned(),
        PatientEnd::Withdrawn { reason } => format!("withdrawn: {reason}"),
    }
}

fn probability_of(shares: &[ArmShare], arm: &str) -> Option<f64> {
    shares
        .iter()
        .find(|s| s.arm.as_str() == arm)
        .map(|s| s.probability)
}

/// The events of a trial chain's records.
pub(crate) fn events(records: &[AuditRecord]) -> Result<Vec<Event>, ExportError> {
    records
        .iter()
        .map(|r| {
            r.to_event().map_err(|e| ExportError::Record {
                chain: r.chain.to_string(),
                seq: r.seq,
                problem: e.to_string(),
            })
        })
        .collect()
}

impl<'a> Facts<'a> {
    /// Reads the facts from a trial chain's records (with their events, in the same order).
    pub(crate) fn of(records: &'a [AuditRecord], events: &[Event]) -> Result<Self, ExportError> {
        let mut facts = Facts::default();
        // seq of an outcome or measurement event → (participant, day) it holds a value of.
        let mut holds: HashMap<u64, (u32, Option<u32>)> = HashMap::new();
        let missing = |record: &AuditRecord, participant: u32| ExportError::Record {
            chain: record.chain.to_string(),
            seq: record.seq,
            problem: format!("participant {participant} is not enrolled before this record"),
        };
        for (record, event) in records.iter().zip(events) {
            match &event.body {
                EventBody::ArmOpened { arm, .. } | EventBody::ArmAdded { arm, .. } => {
                    if !facts.arms.iter().any(|a| a == arm.as_str()) {
                        facts.arms.push(arm.to_string());
                    }
                }
                EventBody::ParticipantEnrolled {
                    participant,
                    subject_id,
                    start_date,
                } => facts.subjects.push(Subject {
                    participant: *participant,
                    subject_id: subject_id.to_string(),
                    start_date: start_date.as_deref().map(str::to_owned),
                    enrolled: record,
                    assignments: Vec::new(),
                    outcomes: Vec::new(),
                    days: Vec::new(),
                    finished: None,
                }),
                EventBody::Randomised {
                    participant,
                    arm,
                    probabilities,
                    draw,
                    phase,
                } => {
                    let subject = facts
                        .subjects
                        .get_mut(*participant as usize)
                        .ok_or_else(|| missing(record, *participant))?;
                    subject.assignments.push(Assigned {
                        record,
                        cycle: None,
                        period: None,
                        arm: arm.to_string(),
                        probability: probability_of(probabilities, arm.as_str()),
                        draw: Some(*draw),
                        phase: Some(match phase {
                            RandomisationPhase::Block => "block",
                            RandomisationPhase::Adaptive => "adaptive",
                        }),
                    });
                }
                EventBody::Nof1CycleAssigned {
                    participant,
                    cycle,
                    treatments,
                    probabilities,
                    draw,
                } => {
                    let subject = facts
                        .subjects
                        .get_mut(*participant as usize)
                        .ok_or_else(|| missing(record, *participant))?;
                    let k = treatments.len() as u32;
                    for (i, treatment) in treatments.iter().enumerate() {
                        subject.assignments.push(Assigned {
                            record,
                            cycle: Some(*cycle),
                            period: Some((cycle.saturating_sub(1)) * k + i as u32 + 1),
                            arm: treatment.to_string(),
                            probability: probabilities
                                .as_deref()
                                .and_then(|p| probability_of(p, treatment.as_str())),
                            draw: *draw,
                            phase: None,
                        });
                    }
                }
                EventBody::OutcomeRecorded { participant, value } => {
                    let subject = facts
                        .subjects
                        .get_mut(*participant as usize)
                        .ok_or_else(|| missing(record, *participant))?;
                    subject.outcomes.push(Valued {
                        record,
                        value: *value,
                        corrects: None,
                        reason: None,
                    });
                    holds.insert(record.seq, (*participant, None));
                }
                EventBody::OutcomeCorrected {
                    participant,
                    corrects,
                    value,
                    reason,
                } => {
                    let subject = facts
                        .subjects
                        .get_mut(*participant as usize)
                        .ok_or_else(|| missing(record, *participant))?;
                    subject.outcomes.push(Valued {
                        record,
                        value: *value,
                        corrects: Some(*corrects),
                        reason: Some(reason.clone()),
                    });
                    holds.insert(record.seq, (*participant, None));
                }
                EventBody::MeasurementRecorded {
                    participant,
                    day,
                    value,
                } => {
                    let subject = facts
                        .subjects
                        .get_mut(*participant as usize)
                        .ok_or_else(|| missing(record, *participant))?;
                    let entry = Valued {
                        record,
                        value: *value,
                        corrects: None,
                        reason: None,
                    };
                    match subject.days.iter_mut().find(|d| d.day == *day) {
                        Some(existing) => existing.values.push(entry),
                        None => subject.days.push(Day {
                            day: *day,
                            values: vec![entry],
                        }),
                    }
                    holds.insert(record.seq, (*participant, Some(*day)));
                }
                EventBody::MeasurementCorrected {
                    participant,
                    corrects,
                    value,
                    reason,
                } => {
                    let day = match holds.get(corrects) {
                        Some((p, Some(day))) if p == participant => *day,
                        _ => {
                            return Err(ExportError::Record {
                                chain: record.chain.to_string(),
                                seq: record.seq,
                                problem: format!(
                                    "it corrects record {corrects}, which holds no measurement of participant {participant}"
                                ),
                            })
                        }
                    };
                    let subject = facts
                        .subjects
                        .get_mut(*participant as usize)
                        .ok_or_else(|| missing(record, *participant))?;
                    let entry = Valued {
                        record,
                        value: *value,
                        corrects: Some(*corrects),
                        reason: Some(reason.clone()),
                    };
                    match subject.days.iter_mut().find(|d| d.day == day) {
                        Some(existing) => existing.values.push(entry),
                        None => subject.days.push(Day {
                            day,
                            values: vec![entry],
                        }),
                    }
                    holds.insert(record.seq, (*participant, Some(day)));
                }
                EventBody::LookPerformed {
                    look,
                    outcomes,
                    enrolled,
                    arms,
                } => facts.looks.push(Look {
                    record,
                    look: *look,
                    outcomes: *outcomes,
                    enrolled: *enrolled,
                    arms: arms.clone(),
                    decisions: Vec::new(),
                }),
                EventBody::ArmDropped {
                    arm,
                    reason,
                    probability,
                    threshold,
                    look,
                } => {
                    let why = serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let words = format!(
                        "arm {arm} dropped for {why} (probability {probability}, threshold {threshold})"
                    );
                    if let Some(l) = facts.looks.iter_mut().rev().find(|l| l.look == *look) {
                        l.decisions.push(words);
                    }
                }
                EventBody::ControlChanged {
                    from,
                    to,
                    probability,
                    threshold,
                    look,
                } => {
                    let words = format!(
                        "arm {to} superior to control {from} (P {probability} > {threshold}); {to} is the new control"
                    );
                    if let Some(l) = facts.looks.iter_mut().rev().find(|l| l.look == *look) {
                        l.decisions.push(words);
                    }
                }
                EventBody::TrialStopped { reason } => {
                    if let Some(l) = facts.looks.last_mut() {
                        if !matches!(reason, StopReason::Closed { .. }) {
                            l.decisions
                                .push(format!("trial stopped: {}", stop_words(reason)));
                        }
                    }
                    facts.stopped = Some((record, reason.clone()));
                }
                EventBody::PatientLookPerformed {
                    participant,
                    cycle,
                    effects,
                } => facts.patient_looks.push(PatientLook {
                    record,
                    participant: *participant,
                    cycle: *cycle,
                    effects: effects.clone(),
                    decision: None,
                }),
                EventBody::PatientFinished {
                    participant,
                    cycle,
                    end,
                } => {
                    if let Some(l) = facts
                        .patient_looks
                        .iter_mut()
                        .rev()
                        .find(|l| l.participant == *participant)
                    {
                        if !matches!(end, PatientEnd::Withdrawn { .. }) {
                            l.decision = Some(end_words(end));
                        }
                    }
                    let subject = facts
                        .subjects
                        .get_mut(*participant as usize)
                        .ok_or_else(|| missing(record, *participant))?;
                    subject.finished = Some((record, *cycle, end.clone()));
                }
                EventBody::SeriesLookPerformed { summary } => {
                    facts.series.push((record, summary.clone()));
                }
                EventBody::TrialStarted { .. }
                | EventBody::AllocationUpdated { .. }
                | EventBody::DataCollectionClosed
                | EventBody::EnrolmentPaused { .. }
                | EventBody::EnrolmentResumed
                | EventBody::MaxParticipantsChanged { .. } => {}
            }
        }
        Ok(facts)
    }
}
