//! `TrialState`: a fold over a trial's events. Applying an event is pure and checks that the
//! event fits the state (sequence, known arms and participants), so a tampered or reordered log
//! is refused rather than folded into a wrong state.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::decision::conclusion_of;
use super::events::{
    ArmShare, Conclusion, DropReason, Event, EventBody, OutcomeValue, RandomisationPhase,
    StopReason,
};
use super::nof1::{Measurement, Nof1Patient, SeriesSummary};
use super::precision::StrataState;
use super::schedule::extend_looks;
use super::EngineError;
use crate::protocol::{ArmId, Prior, PriorMixture, Protocol};
use crate::stats::{BetaPrior, ConjugateModel, GammaPrior, NigPrior, Observation};

/// Participants reserved for up front (the maximum sample size, up to this many).
const RESERVED: usize = 4096;

/// The conjugate model for a prior, with no data.
pub(super) fn model_for(prior: &Prior) -> Result<ConjugateModel, EngineError> {
    Ok(match *prior {
        Prior::Beta { a, b } => ConjugateModel::beta_binomial(BetaPrior { a, b })?,
        Prior::NormalInverseGamma {
            mu0,
            kappa0,
            alpha0,
            beta0,
        } => ConjugateModel::normal(NigPrior {
            mu0,
            kappa0,
            alpha0,
            beta0,
        })?,
        Prior::Gamma { shape, rate } => ConjugateModel::gamma_poisson(GammaPrior { shape, rate })?,
        Prior::Mixture(PriorMixture::Beta(m)) => ConjugateModel::beta_binomial_mixture(m),
        Prior::Mixture(PriorMixture::NormalInverseGamma(m)) => ConjugateModel::normal_mixture(m),
        Prior::Mixture(PriorMixture::Gamma(m)) => ConjugateModel::gamma_poisson_mixture(m),
    })
}

/// The observation a model sees for an outcome value.
pub(super) fn observation(value: &OutcomeValue) -> Observation {
    match *value {
        OutcomeValue::Binary { response } => Observation::Binary(response),
        OutcomeValue::Continuous { value } => Observation::Continuous(value),
        OutcomeValue::Count { events, exposure } => Observation::Count { events, exposure },
    }
}

/// Where an arm is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmStatus {
    /// Declared, not yet open (`opens_at` not reached).
    Pending,
    /// Receiving participants.
    Active,
    /// Closed to new participants.
    Dropped,
}

/// One arm's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmState {
    /// Identifier.
    pub id: ArmId,
    /// Display name.
    pub name: String,
    /// Prior.
    pub prior: Prior,
    /// Fixed-allocation weight.
    pub ratio: u32,
    /// Pending, active or dropped.
    pub status: ArmStatus,
    /// Participants enrolled when the arm opened.
    pub opened_at: Option<u32>,
    /// Participants enrolled when the arm was dropped.
    pub closed_at: Option<u32>,
    /// The arm's conjugate model with every current outcome (kept incrementally).
    pub model: ConjugateModel,
}

/// One participant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Participant {
    /// Subject identifier.
    pub subject_id: Arc<str>,
    /// Index of the assigned arm in [`TrialState::arms`].
    pub arm: Option<usize>,
    /// Current outcome (after corrections).
    pub outcome: Option<OutcomeValue>,
    /// Sequence number of the event that holds the current outcome.
    pub outcome_seq: Option<u64>,
    /// Precision designs: the participant's stratum.
    pub stratum: Option<u32>,
}

/// Where the trial is in its life.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrialStatus {
    /// Created, not started.
    NotStarted,
    /// Enrolling (or waiting for outcomes after the last enrolment).
    Running,
    /// Stopped.
    Stopped {
        /// Why.
        #[serde(flatten)]
        reason: StopReason,
    },
}

/// Why enrolment is closed ([`TrialState::enrolment_closed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolmentClosed {
    /// The trial has not started.
    NotStarted,
    /// Enrolment is paused.
    Paused {
        /// The reason given when it was paused.
        reason: String,
    },
    /// The trial has stopped.
    Stopped,
    /// Every planned participant is enrolled.
    Full {
        /// Participants enrolled.
        enrolled: u32,
        /// The maximum.
        max: u32,
    },
    /// Precision designs: no experimental arm is open in any stratum.
    EveryArmClosed,
}

impl std::fmt::Display for EnrolmentClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStarted => write!(f, "the trial has not started"),
            Self::Paused { reason } => write!(f, "enrolment is paused ({reason})"),
            Self::Stopped => write!(f, "the trial has stopped"),
            Self::Full { enrolled, max } => {
                write!(f, "enrolment is complete: {enrolled} of {max} participants")
            }
            Self::EveryArmClosed => write!(
                f,
                "enrolment is complete: every experimental arm has graduated, reached its \
                 maximum or been dropped in every stratum"
            ),
        }
    }
}

/// The state of one trial: a fold over its events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialState {
    /// Sequence number of the last event applied (0 before any).
    pub last_seq: u64,
    /// Life cycle.
    pub status: TrialStatus,
    /// Arms in protocol order, then arms added by amendment.
    pub arms: Vec<ArmState>,
    /// Index of the current control arm.
    pub control: Option<usize>,
    /// Participants in enrolment order.
    pub participants: Vec<Participant>,
    /// Participant number by subject identifier (an index: not part of the serialised state).
    #[serde(skip)]
    pub subjects: FxHashMap<Arc<str>, u32>,
    /// Participants with an outcome.
    pub outcomes: u32,
    /// Looks performed.
    pub looks_done: u32,
    /// Look thresholds (outcome counts), including amendments of the maximum.
    pub looks: Vec<u32>,
    /// Current maximum number of participants.
    pub max_participants: u32,
    /// The last allocation update's probabilities, one per active arm in arm order (adaptive
    /// phase; cleared when the set of active arms changes).
    pub allocation: Option<Arc<[ArmShare]>>,
    /// Participants per arm in the current permuted block.
    pub block_counts: Vec<u32>,
    /// Block size as a multiple of the sum of the open arms' ratios.
    pub block_multiple: u32,
    /// While enrolment is paused: the reason given when it was paused.
    pub enrolment_paused: Option<String>,
    /// n-of-1 designs: one record per participant (their calendar, treatments, measurements and
    /// looks); empty for platform designs.
    pub nof1: Vec<Nof1Patient>,
    /// n-of-1 series: the last series look's summary.
    pub series: Option<SeriesSummary>,
    /// Whether a superior arm has replaced the control.
    pub promoted: bool,
    /// The reason of the last arm drop.
    pub last_drop: Option<DropReason>,
    /// Whether the protocol has a control arm.
    pub has_control: bool,
    /// The looks that have the data monitoring committee's recommendation, in order recorded.
    pub recommended: Vec<u32>,
    /// Precision designs: the strata (participants, models, allocation and graduations per
    /// stratum).
    pub strata: Option<StrataState>,
}

/// What a stopped trial concluded, and the arm it found superior.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// What the stop means.
    pub conclusion: Conclusion,
    /// The superior arm (index in [`TrialState::arms`]), when there is one.
    pub superior: Option<usize>,
}

impl TrialState {
    /// The state of a trial with no events (fails only on a prior the protocol layer would
    /// have rejected).
    pub fn new(protocol: &Protocol) -> Result<Self, EngineError> {
        let reserved = RESERVED.min(protocol.trial.max_participants as usize);
        Self::with_buffers(
            protocol,
            Vec::with_capacity(reserved),
            FxHashMap::with_capacity_and_hasher(reserved, Default::default()),
        )
    }

    /// A state for `protocol` that reuses the (emptied) participant list and subject index.
    fn with_buffers(
        protocol: &Protocol,
        mut participants: Vec<Participant>,
        mut subjects: FxHashMap<Arc<str>, u32>,
    ) -> Result<Self, EngineError> {
        participants.clear();
        subjects.clear();
        let mut arms = Vec::with_capacity(protocol.arms.len());
        for spec in &protocol.arms {
            arms.push(ArmState {
                id: spec.id.clone(),
                name: spec.name.clone(),
                prior: spec.prior,
                ratio: spec.ratio,
                status: ArmStatus::Pending,
                opened_at: None,
                closed_at: None,
                model: model_for(&spec.prior)?,
            });
        }
        let block_counts = vec![0; arms.len()];
        let strata = protocol.precision.as_ref().map(|precision| {
            let models: Vec<ConjugateModel> = arms.iter().map(|a| a.model).collect();
            StrataState::new(protocol, precision, &models)
        });
        Ok(Self {
            last_seq: 0,
            status: TrialStatus::NotStarted,
            control: protocol.arms.iter().position(|arm| arm.control),
            arms,
            participants,
            subjects,
            outcomes: 0,
            looks_done: 0,
            looks: protocol.analysis.looks.clone(),
            max_participants: protocol.trial.max_participants,
            allocation: None,
            block_counts,
            block_multiple: protocol.allocation.block_multiple.max(1),
            enrolment_paused: None,
            nof1: Vec::new(),
            series: None,
            promoted: false,
            last_drop: None,
            has_control: protocol.arms.iter().any(|arm| arm.control),
            recommended: Vec::new(),
            strata,
        })
    }

    /// Makes this the state of a new trial of `protocol`, keeping the memory of the participant
    /// list and the subject index (the simulator runs many trials on one state).
    pub fn reset(&mut self, protocol: &Protocol) -> Result<(), EngineError> {
        let participants = std::mem::take(&mut self.participants);
        let subjects = std::mem::take(&mut self.subjects);
        *self = Self::with_buffers(protocol, participants, subjects)?;
        Ok(())
    }

    /// Folds a whole event list.
    pub fn fold<'a>(
        protocol: &Protocol,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Self, EngineError> {
        let mut state = Self::new(protocol)?;
        for event in events {
            state.apply(event)?;
        }
        Ok(state)
    }

    /// Participants enrolled.
    pub fn enrolled(&self) -> u32 {
        self.participants.len() as u32
    }

    /// Why nobody can be enrolled now, or `None` while enrolment is open (the one rule every
    /// enrolment passes and every page that offers enrolment asks).
    pub fn enrolment_closed(&self) -> Option<EnrolmentClosed> {
        match &self.status {
            TrialStatus::NotStarted => Some(EnrolmentClosed::NotStarted),
            TrialStatus::Stopped { .. } => Some(EnrolmentClosed::Stopped),
            TrialStatus::Running => match &self.enrolment_paused {
                Some(reason) => Some(EnrolmentClosed::Paused {
                    reason: reason.clone(),
                }),
                None if self.enrolled() >= self.max_participants => Some(EnrolmentClosed::Full {
                    enrolled: self.enrolled(),
                    max: self.max_participants,
                }),
                None if self.every_arm_closed() => Some(EnrolmentClosed::EveryArmClosed),
                None => None,
            },
        }
    }

    /// Index of the arm with this id.
    pub fn arm_index(&self, id: &ArmId) -> Option<usize> {
        // Ids taken from this state share its text: try the pointers before the bytes.
        self.arms
            .iter()
            .position(|arm| arm.id.shares_text(id))
            .or_else(|| self.arms.iter().position(|arm| &arm.id == id))
    }

    /// Indices of active arms, in arm order.
    pub fn active_arms(&self) -> impl Iterator<Item = usize> + '_ {
        self.arms
            .iter()
            .enumerate()
            .filter(|(_, arm)| arm.status == ArmStatus::Active)
            .map(|(i, _)| i)
    }

    /// Whether the trial is running.
    pub fn is_running(&self) -> bool {
        self.status == TrialStatus::Running
    }

    /// Index of the participant with this subject identifier.
    pub fn participant_index(&self, subject_id: &str) -> Option<usize> {
        self.subjects.get(subject_id).map(|&i| i as usize)
    }

    fn arm_by_id(&self, seq: u64, id: &ArmId) -> Result<usize, EngineError> {
        self.arm_index(id).ok_or_else(|| EngineError::Log {
            seq,
            problem: format!("unknown arm {id}"),
        })
    }

    fn participant(&mut self, seq: u64, index: u32) -> Result<&mut Participant, EngineError> {
        self.participants
            .get_mut(index as usize)
            .ok_or_else(|| EngineError::Log {
                seq,
                problem: format!("unknown participant {index}"),
            })
    }

    fn patient(&mut self, seq: u64, index: u32) -> Result<&mut Nof1Patient, EngineError> {
        self.nof1
            .get_mut(index as usize)
            .ok_or_else(|| EngineError::Log {
                seq,
                problem: format!("participant {index} is not an n-of-1 patient"),
            })
    }

    /// The model of `arm` folded from its participants' current outcomes, in enrolment order.
    fn model_of(&self, arm: usize) -> Result<ConjugateModel, EngineError> {
        let mut model = model_for(&self.arms[arm].prior)?;
        for participant in &self.participants {
            if let (Some(a), Some(value)) = (participant.arm, &participant.outcome) {
                if a == arm {
                    model.observe(observation(value))?;
                }
            }
        }
        Ok(model)
    }

    fn reset_block(&mut self) {
        self.block_counts.iter_mut().for_each(|c| *c = 0);
    }

    fn arms_changed(&mut self) {
        self.reset_block();
        self.allocation = None;
        if let Some(strata) = &mut self.strata {
            strata.strata_changed(crate::protocol::precision::StrataSet::first(strata.count));
        }
    }

    /// Precision designs: the active arms that may receive a participant of `stratum` now, in
    /// arm order (none without strata).
    pub fn open_in(&self, stratum: usize) -> impl Iterator<Item = usize> + '_ {
        self.active_arms()
            .filter(move |&a| self.strata.as_ref().is_some_and(|s| s.open(a, stratum)))
    }

    /// Precision designs: whether an arm other than the control is open in `stratum`.
    pub fn stratum_open(&self, stratum: usize) -> bool {
        self.open_in(stratum).any(|a| Some(a) != self.control)
    }

    /// Precision designs: whether no experimental arm is open in any stratum (false without
    /// strata).
    pub fn every_arm_closed(&self) -> bool {
        self.strata
            .as_ref()
            .is_some_and(|s| !(0..s.count).any(|stratum| self.stratum_open(stratum)))
    }

    /// A participant of `stratum` randomised to `arm`: the stratum's permuted block (emptied
    /// once every arm open there has its share) and the arm's count (which may fill it).
    fn randomised_in_stratum(&mut self, arm: usize, stratum: usize, phase: RandomisationPhase) {
        if phase == RandomisationPhase::Block {
            if let Some(strata) = &mut self.strata {
                strata.block_mut(stratum)[arm] += 1;
            }
            let full = self.strata.as_ref().is_some_and(|strata| {
                let block = &strata.block_counts[stratum * strata.arms()..];
                self.open_in(stratum)
                    .all(|a| block[a] >= self.arms[a].ratio * self.block_multiple)
            });
            if full {
                if let Some(strata) = &mut self.strata {
                    strata.block_mut(stratum).fill(0);
                }
            }
        }
        if let Some(strata) = &mut self.strata {
            strata.randomised(arm);
        }
    }

    /// The model of `arm` in `stratum` folded from its participants' current outcomes.
    fn stratum_model_of(&self, arm: usize, stratum: u32) -> Result<ConjugateModel, EngineError> {
        let mut model = model_for(&self.arms[arm].prior)?;
        for participant in &self.participants {
            if let (Some(a), Some(value), Some(s)) =
                (participant.arm, &participant.outcome, participant.stratum)
            {
                if a == arm && s == stratum {
                    model.observe(observation(value))?;
                }
            }
        }
        Ok(model)
    }

    /// What the trial concluded ([`conclusion_of`]) and its superior arm: `None` while it runs.
    pub fn verdict(&self) -> Option<Verdict> {
        let TrialStatus::Stopped { reason } = &self.status else {
            return None;
        };
        let conclusion = conclusion_of(reason, self.has_control, self.promoted, self.last_drop);
        let superior = match (conclusion, reason) {
            (Conclusion::Superiority, StopReason::Superiority { arm, .. })
            | (Conclusion::Superiority, StopReason::OneArmLeft { arm }) => self.arm_index(arm),
            (Conclusion::Superiority, _) => self.control,
            _ => None,
        };
        Some(Verdict {
            conclusion,
            superior,
        })
    }

    /// Applies one event. On error the state is unchanged.
    pub fn apply(&mut self, event: &Event) -> Result<(), EngineError> {
        let seq = event.seq;
        if seq != self.last_seq + 1 {
            return Err(EngineError::Log {
                seq,
                problem: format!("expected sequence number {}", self.last_seq + 1),
            });
        }
        let log = |problem: &str| EngineError::Log {
            seq,
            problem: problem.to_owned(),
        };
        match &event.body {
            EventBody::TrialStarted { .. } => {
                if self.status != TrialStatus::NotStarted {
                    return Err(log("the trial has already started"));
                }
                self.status = TrialStatus::Running;
            }
            EventBody::ArmAdded {
                arm,
                name,
                prior,
                ratio,
            } => {
                if self.arm_index(arm).is_some() {
                    return Err(log("an arm with this id exists already"));
                }
                if self.strata.is_some() {
                    return Err(log("a precision design adds no arms by amendment"));
                }
                let model = model_for(prior).map_err(|e| log(&format!("invalid prior: {e}")))?;
                self.arms.push(ArmState {
                    id: arm.clone(),
                    name: name.clone(),
                    prior: *prior,
                    ratio: *ratio,
                    status: ArmStatus::Pending,
                    opened_at: None,
                    closed_at: None,
                    model,
                });
                self.block_counts.push(0);
            }
            EventBody::ArmOpened { arm, enrolled } => {
                let i = self.arm_by_id(seq, arm)?;
                if self.arms[i].status != ArmStatus::Pending {
                    return Err(log("the arm is not pending"));
                }
                self.arms[i].status = ArmStatus::Active;
                self.arms[i].opened_at = Some(*enrolled);
                self.arms_changed();
            }
            EventBody::ParticipantEnrolled {
                participant,
                subject_id,
                start_date,
                biomarkers,
                stratum,
            } => {
                let stratum = match (&self.strata, stratum, biomarkers) {
                    (Some(strata), Some(s), Some(_)) => Some(strata.check_stratum(seq, *s)?),
                    (None, None, None) => None,
                    (Some(_), _, _) => {
                        return Err(log(
                            "a participant of a precision design is enrolled with biomarker \
                             values and their stratum",
                        ))
                    }
                    (None, _, _) => {
                        return Err(log(
                            "biomarker values or a stratum in a design without strata",
                        ))
                    }
                };
                if let Some(date) = start_date {
                    if self.nof1.len() != self.participants.len() {
                        return Err(log("a start date is only given to n-of-1 patients"));
                    }
                    super::nof1::parse_date(date).map_err(|e| log(&e))?;
                }
                if *participant != self.enrolled() {
                    return Err(log("participant numbers must follow enrolment order"));
                }
                match self.subjects.entry(subject_id.clone()) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        return Err(log("subject already enrolled"));
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(*participant);
                    }
                }
                self.participants.push(Participant {
                    subject_id: subject_id.clone(),
                    arm: None,
                    outcome: None,
                    outcome_seq: None,
                    stratum: stratum.map(|s| s as u32),
                });
                if let (Some(strata), Some(s)) = (&mut self.strata, stratum) {
                    strata.enrolled[s] += 1;
                }
                if let Some(date) = start_date {
                    self.nof1.push(Nof1Patient {
                        start_date: date.to_string(),
                        ..Nof1Patient::default()
                    });
                }
            }
            EventBody::Nof1CycleAssigned {
                participant,
                cycle,
                treatments,
                ..
            } => {
                let k = self.arms.len();
                let indices = treatments
                    .iter()
                    .map(|t| self.arm_by_id(seq, t))
                    .collect::<Result<Vec<usize>, _>>()?;
                let patient = self.patient(seq, *participant)?;
                if indices.len() != k || patient.periods.len() != (*cycle as usize - 1) * k {
                    return Err(log(
                        "a cycle must follow the patient's last and name one treatment per period",
                    ));
                }
                patient.periods.extend(indices);
            }
            EventBody::MeasurementRecorded {
                participant,
                day,
                value,
            } => {
                let patient = self.patient(seq, *participant)?;
                if patient.end.is_some() {
                    return Err(log("a measurement after the patient's trial ended"));
                }
                patient.measurements.push(Measurement {
                    seq,
                    day: *day,
                    value: *value,
                });
            }
            EventBody::MeasurementCorrected {
                participant,
                corrects,
                value,
                ..
            } => {
                let patient = self.patient(seq, *participant)?;
                let Some(m) = patient.measurements.iter_mut().find(|m| m.seq == *corrects) else {
                    return Err(log("the correction does not name a current measurement"));
                };
                m.seq = seq;
                m.value = *value;
            }
            EventBody::PatientLookPerformed {
                participant,
                cycle,
                effects,
            } => {
                let patient = self.patient(seq, *participant)?;
                if *cycle != patient.cycles_looked + 1 || patient.end.is_some() {
                    return Err(log("a patient's looks follow their cycles in order"));
                }
                patient.cycles_looked = *cycle;
                patient.effects.clone_from(effects);
                patient.looked.clone_from(&patient.measurements);
            }
            EventBody::PatientFinished {
                participant, end, ..
            } => {
                let patient = self.patient(seq, *participant)?;
                if patient.end.is_some() {
                    return Err(log("the patient's trial has already ended"));
                }
                patient.end = Some(end.clone());
            }
            EventBody::SeriesLookPerformed { summary } => {
                self.series = Some(summary.clone());
            }
            EventBody::AllocationUpdated {
                probabilities,
                stratum,
                ..
            } => {
                let stratum = match (&self.strata, stratum) {
                    (Some(strata), Some(s)) => Some(strata.check_stratum(seq, *s)?),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(log("a precision design's allocation names its stratum"))
                    }
                    (None, Some(_)) => return Err(log("a stratum in a design without strata")),
                };
                if let Some(s) = stratum {
                    let listed_in_order = {
                        let mut open = self.open_in(s);
                        probabilities.iter().all(|share| {
                            matches!(
                                (open.next(), self.arm_index(&share.arm)),
                                (Some(a), Some(b)) if a == b
                            )
                        }) && open.next().is_none()
                    };
                    if !listed_in_order {
                        return Err(log(
                            "allocation probabilities must list every arm open in the stratum, \
                             in arm order",
                        ));
                    }
                    if let Some(strata) = &mut self.strata {
                        strata.allocation[s] = Some(Arc::clone(probabilities));
                        strata.updated[s] = true;
                    }
                    self.last_seq = seq;
                    return Ok(());
                }
                let listed_in_order = {
                    let mut active = self.active_arms();
                    probabilities.iter().all(|share| {
                        matches!(
                            (active.next(), self.arm_index(&share.arm)),
                            (Some(a), Some(b)) if a == b
                        )
                    }) && active.next().is_none()
                };
                if !listed_in_order {
                    return Err(log(
                        "allocation probabilities must list every active arm, in arm order",
                    ));
                }
                self.allocation = Some(Arc::clone(probabilities));
            }
            EventBody::Randomised {
                participant,
                arm,
                phase,
                ..
            } => {
                let i = self.arm_by_id(seq, arm)?;
                if self.arms[i].status != ArmStatus::Active {
                    return Err(log("randomised to an arm that is not active"));
                }
                let p = self.participant(seq, *participant)?;
                if p.arm.is_some() {
                    return Err(log("participant already randomised"));
                }
                if let Some(s) = p.stratum.map(|s| s as usize) {
                    if !self.open_in(s).any(|a| a == i) {
                        return Err(log(
                            "randomised to an arm not open in the participant's stratum",
                        ));
                    }
                    self.participants[*participant as usize].arm = Some(i);
                    self.randomised_in_stratum(i, s, *phase);
                    self.last_seq = seq;
                    return Ok(());
                }
                p.arm = Some(i);
                if *phase == RandomisationPhase::Block {
                    self.block_counts[i] += 1;
                    let full = self
                        .active_arms()
                        .all(|a| self.block_counts[a] >= self.arms[a].ratio * self.block_multiple);
                    if full {
                        self.reset_block();
                    }
                }
            }
            EventBody::OutcomeRecorded { participant, value } => {
                let p = self.participant(seq, *participant)?;
                let Some(arm) = p.arm else {
                    return Err(log("outcome for a participant who was not randomised"));
                };
                if p.outcome.is_some() {
                    return Err(log("outcome already recorded; a correction is needed"));
                }
                let stratum = p.stratum.map(|s| s as usize);
                let mut model = self.arms[arm].model;
                model
                    .observe(observation(value))
                    .map_err(|e| log(&format!("invalid outcome: {e}")))?;
                let in_stratum = match (&self.strata, stratum) {
                    (Some(strata), Some(s)) => {
                        let mut m = *strata.model(arm, s);
                        m.observe(observation(value))
                            .map_err(|e| log(&format!("invalid outcome: {e}")))?;
                        Some((s, m))
                    }
                    _ => None,
                };
                let p = self.participant(seq, *participant)?;
                p.outcome = Some(*value);
                p.outcome_seq = Some(seq);
                self.arms[arm].model = model;
                if let (Some(strata), Some((s, m))) = (&mut self.strata, in_stratum) {
                    let count = strata.count;
                    strata.models[arm * count + s] = m;
                }
                self.outcomes += 1;
            }
            EventBody::OutcomeCorrected {
                participant,
                corrects,
                value,
                ..
            } => {
                let p = self.participant(seq, *participant)?;
                if p.outcome_seq != Some(*corrects) {
                    return Err(log("the correction does not name the current outcome"));
                }
                let Some(arm) = p.arm else {
                    return Err(log("correction for a participant who was not randomised"));
                };
                let previous = (p.outcome, p.outcome_seq);
                p.outcome = Some(*value);
                p.outcome_seq = Some(seq);
                // Rebuild the arm's model from its current outcomes, in enrolment order.
                let stratum = self.participants[*participant as usize].stratum;
                let rebuilt = self.model_of(arm).and_then(|model| match stratum {
                    Some(s) => Ok((model, Some((s, self.stratum_model_of(arm, s)?)))),
                    None => Ok((model, None)),
                });
                match rebuilt {
                    Ok((model, in_stratum)) => {
                        self.arms[arm].model = model;
                        if let (Some(strata), Some((s, m))) = (&mut self.strata, in_stratum) {
                            let count = strata.count;
                            strata.models[arm * count + s as usize] = m;
                        }
                    }
                    Err(e) => {
                        let p = self.participant(seq, *participant)?;
                        (p.outcome, p.outcome_seq) = previous;
                        return Err(log(&format!("invalid outcome: {e}")));
                    }
                }
            }
            EventBody::LookPerformed { look, .. } => {
                if *look != self.looks_done + 1 {
                    return Err(log("looks must be numbered in order"));
                }
                self.looks_done += 1;
            }
            EventBody::ArmDropped { arm, .. } => {
                let i = self.arm_by_id(seq, arm)?;
                if self.arms[i].status != ArmStatus::Active {
                    return Err(log("dropping an arm that is not active"));
                }
                self.arms[i].status = ArmStatus::Dropped;
                self.arms[i].closed_at = Some(self.enrolled());
                if let EventBody::ArmDropped { reason, .. } = &event.body {
                    self.last_drop = Some(*reason);
                }
                if self.control == Some(i) {
                    self.control = None;
                }
                self.arms_changed();
            }
            EventBody::ArmGraduated {
                arm,
                signature,
                look,
                ..
            } => {
                let i = self.arm_by_id(seq, arm)?;
                if self.arms[i].status != ArmStatus::Active || *look != self.looks_done {
                    return Err(log(
                        "an arm graduates while active, at the look just performed",
                    ));
                }
                let Some(strata) = &mut self.strata else {
                    return Err(log("a graduation in a design without signatures"));
                };
                let Some(g) = strata.signatures.iter().position(|(id, _)| id == signature) else {
                    return Err(log("a graduation in an unknown signature"));
                };
                if strata
                    .graduated
                    .iter()
                    .any(|x| x.arm == i && x.signature == g)
                {
                    return Err(log("the arm has already graduated in this signature"));
                }
                strata.graduate(i, g, *look);
            }
            EventBody::ControlChanged { to, .. } => {
                let i = self.arm_by_id(seq, to)?;
                self.control = Some(i);
                self.promoted = true;
            }
            EventBody::DataCollectionClosed => {
                if self.enrolled() < self.max_participants && !self.every_arm_closed() {
                    return Err(log("data collection closed before enrolment was complete"));
                }
            }
            EventBody::EnrolmentPaused { reason } => {
                if self.status != TrialStatus::Running || self.enrolment_paused.is_some() {
                    return Err(log("enrolment can only be paused while the trial runs"));
                }
                self.enrolment_paused = Some(reason.clone());
            }
            EventBody::EnrolmentResumed => {
                if self.enrolment_paused.is_none() {
                    return Err(log("enrolment is not paused"));
                }
                self.enrolment_paused = None;
            }
            EventBody::MaxParticipantsChanged { to, .. } => {
                self.max_participants = *to;
                self.looks = extend_looks(&self.looks, *to);
            }
            EventBody::AssignmentRevealed {
                participant,
                subject_id,
                ..
            } => {
                if self.participant(seq, *participant)?.subject_id != *subject_id {
                    return Err(log("a reveal names another participant's subject id"));
                }
            }
            EventBody::DmcRecommended {
                look,
                recommendation,
                ..
            } => {
                if self.status != TrialStatus::Running {
                    return Err(log("a recommendation while the trial does not run"));
                }
                if *look == 0 || *look > self.looks_done || self.recommended.contains(look) {
                    return Err(log(
                        "a recommendation names a look not performed or already recommended on",
                    ));
                }
                if let Some(arm) = recommendation.arm() {
                    self.arm_by_id(seq, arm)?;
                }
                self.recommended.push(*look);
            }
            EventBody::TrialStopped { reason } => {
                self.status = TrialStatus::Stopped {
                    reason: reason.clone(),
                };
            }
        }
        self.last_seq = seq;
        Ok(())
    }
}
