//! Commands: read the state, validate the input, and return the events that follow from it.
//!
//! Every command validates first and only then emits; each emitted event is applied to the
//! state at once, so later events of the same command see it. On `Err` the state is unchanged.

use std::sync::Arc;

use tracing::instrument;

use super::allocation::{adaptive_probabilities, block_probabilities, choose};
use super::draw::DrawCache;
use super::events::{
    AllocationBasis, ArmShare, Event, EventBody, OutcomeValue, RandomisationPhase, RevealCause,
    StopReason,
};
use super::state::{model_for, ArmStatus, TrialState, TrialStatus};
use super::strata::Biomarkers;
use super::{EngineError, TrialSeed};
use crate::protocol::limits::{MAX_LOOKS, MAX_PARTICIPANTS};
use crate::protocol::{
    AllocationRule, ArmId, Design, OutcomeKind, Power, Prior, PriorMixture, Protocol,
};
use crate::stats::{Marginal, Quadrature, MAX_ARMS};

/// A platform amendment: a new arm.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArm {
    /// Identifier (unique in the trial).
    pub id: ArmId,
    /// Display name.
    pub name: String,
    /// Prior; `None` uses the default for the outcome kind (`protocol::default_prior`).
    pub prior: Option<Prior>,
    /// Fixed-allocation weight (≥ 1).
    pub ratio: u32,
}

/// The engine for one trial: its protocol, its seed and a numerical workspace.
#[derive(Debug)]
pub struct Engine<'p> {
    pub(super) protocol: &'p Protocol,
    seed: TrialSeed,
    draws: DrawCache,
    pub(super) quadrature: Quadrature,
    /// The last P(best) computed and the marginals it was computed from: a look, its decision
    /// rules and the allocation update that follows ask for the same value several times.
    p_best_cache: Option<(Vec<Marginal>, Vec<f64>)>,
}

impl<'p> Engine<'p> {
    /// An engine for `protocol` drawing from `seed`.
    pub fn new(protocol: &'p Protocol, seed: TrialSeed) -> Self {
        Self {
            protocol,
            draws: DrawCache::new(&seed),
            seed,
            quadrature: Quadrature::new(),
            p_best_cache: None,
        }
    }

    /// An engine that reuses a numerical workspace from an earlier engine (the live service
    /// keeps one per trial, so a command allocates no quadrature buffers).
    pub fn with_quadrature(
        protocol: &'p Protocol,
        seed: TrialSeed,
        quadrature: Quadrature,
    ) -> Self {
        Self {
            protocol,
            draws: DrawCache::new(&seed),
            seed,
            quadrature,
            p_best_cache: None,
        }
    }

    /// The numerical workspace, for [`Engine::with_quadrature`].
    pub fn into_quadrature(self) -> Quadrature {
        self.quadrature
    }

    /// Switches to another trial's seed, keeping the numerical workspace (the simulator runs
    /// many trials on one engine per thread).
    pub fn reseed(&mut self, seed: TrialSeed) {
        self.draws = DrawCache::new(&seed);
        self.seed = seed;
    }

    /// The protocol.
    pub fn protocol(&self) -> &'p Protocol {
        self.protocol
    }

    /// Appends `body` as the next event, applies it, and records it in `out`.
    pub(super) fn emit(
        &self,
        state: &mut TrialState,
        body: EventBody,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let event = Event {
            seq: state.last_seq + 1,
            body,
        };
        state.apply(&event)?;
        out.push(event);
        Ok(())
    }

    /// The seed-derived uniform draw for the event with sequence number `seq`.
    pub(super) fn draw(&mut self, seq: u64) -> f64 {
        self.draws.draw(seq)
    }

    pub(super) fn require_running(state: &TrialState) -> Result<(), EngineError> {
        match &state.status {
            TrialStatus::Running => Ok(()),
            TrialStatus::NotStarted => {
                Err(EngineError::Refused("the trial has not started".into()))
            }
            TrialStatus::Stopped { .. } => {
                Err(EngineError::Refused("the trial has stopped".into()))
            }
        }
    }

    /// Starts the trial: commits to the seed and opens the arms that open at the start.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id))]
    pub fn start(
        &mut self,
        state: &mut TrialState,
        protocol_hash: &str,
    ) -> Result<Vec<Event>, EngineError> {
        if state.status != TrialStatus::NotStarted {
            return Err(EngineError::Refused("the trial has already started".into()));
        }
        // Borrowing across strata is checked by the protocol language and computed by the
        // `borrow` calculator, but the engine's looks use each stratum's own conjugate model: a
        // design that asks for borrowing is refused rather than run without it.
        let borrowing = self.protocol.precision.as_ref().map(|p| &p.borrowing);
        if borrowing.is_some_and(|b| *b != crate::protocol::precision::Borrowing::None) {
            return Err(EngineError::Refused(
                "this precision design borrows across strata ([borrowing] model = \"bhm\" or \
                 \"exnex\"): the engine's looks do not fit that model yet, so it cannot be \
                 started or simulated; use model = \"none\" (each stratum's own conjugate \
                 posterior)"
                    .into(),
            ));
        }
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::TrialStarted {
                protocol_hash: protocol_hash.to_owned(),
                seed_commitment: self.seed.commitment(),
            },
            &mut out,
        )?;
        self.open_due_arms(state, &mut out)?;
        Ok(out)
    }

    /// Whether a protocol arm has yet to open (protocol arms come first in the state, in
    /// protocol order).
    fn arms_pending(&self, state: &TrialState) -> bool {
        state
            .arms
            .iter()
            .take(self.protocol.arms.len())
            .any(|arm| arm.status == ArmStatus::Pending)
    }

    pub(super) fn open_due_arms(
        &self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let enrolled = state.enrolled();
        if !self.arms_pending(state) {
            return Ok(());
        }
        for spec in &self.protocol.arms {
            let due = spec.opens_at.unwrap_or(0) <= enrolled;
            let pending = state
                .arm_index(&spec.id)
                .is_some_and(|i| state.arms[i].status == ArmStatus::Pending);
            if due && pending {
                self.emit(
                    state,
                    EventBody::ArmOpened {
                        arm: spec.id.clone(),
                        enrolled,
                    },
                    out,
                )?;
            }
        }
        Ok(())
    }

    /// The checks every enrolment passes: the trial runs, enrolment is open and not complete,
    /// and the subject identifier is 1 to 64 printable characters.
    pub(super) fn check_enrolment(state: &TrialState, subject: &str) -> Result<(), EngineError> {
        if let Some(closed) = state.enrolment_closed() {
            return Err(EngineError::Refused(closed.to_string()));
        }
        if subject.is_empty()
            || subject.len() > 64
            || subject.trim() != subject
            || subject.chars().any(char::is_control)
        {
            return Err(EngineError::Invalid {
                field: "subject_id",
                problem: "must be 1 to 64 printable characters".into(),
            });
        }
        Ok(())
    }

    /// Enrols a participant and randomises them.
    pub fn enrol(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
    ) -> Result<Vec<Event>, EngineError> {
        let mut out = Vec::new();
        self.enrol_into(state, subject_id, &mut out)?;
        Ok(out)
    }

    /// [`Engine::enrol`], appending the events to `out`.
    pub fn enrol_into(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        self.enrol_subject_into(state, &Arc::from(subject_id.trim()), out)
    }

    /// [`Engine::enrol`] for a subject identifier the caller already holds shared (the
    /// simulator keeps one per participant number, so enrolment allocates nothing). The
    /// identifier is used as given: it must already be trimmed.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, subject = %subject_id))]
    pub fn enrol_subject_into(
        &mut self,
        state: &mut TrialState,
        subject_id: &Arc<str>,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        if let Some(precision) = &self.protocol.precision {
            return Err(EngineError::Invalid {
                field: "biomarkers",
                problem: format!(
                    "this design enrols by biomarkers: give a level of each of {}",
                    precision
                        .biomarkers
                        .iter()
                        .map(|b| b.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        self.enrol_checked_into(state, subject_id, None, out)
    }

    /// Enrols and randomises a participant: within `stratified`'s stratum (with the biomarker
    /// values read into it) for a precision design, else over the open arms.
    pub(super) fn enrol_checked_into(
        &mut self,
        state: &mut TrialState,
        subject_id: &Arc<str>,
        stratified: Option<(Arc<Biomarkers>, usize)>,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        if self.protocol.trial.design == Design::Nof1 {
            return Err(EngineError::Refused(
                "an n-of-1 patient is enrolled with the start date of their calendar".into(),
            ));
        }
        Self::check_enrolment(state, subject_id)?;
        let subject: &str = subject_id;
        let already = || EngineError::Refused(format!("subject {subject} is already enrolled"));
        // When an arm may open first, a duplicate must be refused before anything is emitted;
        // otherwise the enrolment event is the first, and applying it refuses a duplicate
        // without changing the state (one subject-index lookup instead of two).
        let arms_pending = self.arms_pending(state);
        if arms_pending && state.participant_index(subject).is_some() {
            return Err(already());
        }
        // A closed stratum is refused before anything is emitted, unless an arm opening now
        // may open it.
        if let (Some((_, stratum)), false) = (&stratified, arms_pending) {
            self.check_stratum_open(state, *stratum)?;
        }
        self.open_due_arms(state, out)?;
        let participant = state.enrolled();
        let active_count = state.active_arms().count();
        if active_count == 0 {
            return Err(EngineError::Refused("no arm is open".into()));
        }
        if let (Some((_, stratum)), true) = (&stratified, arms_pending) {
            self.check_stratum_open(state, *stratum)?;
        }
        let (biomarkers, stratum) = match stratified {
            Some((biomarkers, stratum)) => (Some(biomarkers), Some(stratum)),
            None => (None, None),
        };
        let enrolled = self.emit(
            state,
            EventBody::ParticipantEnrolled {
                participant,
                subject_id: Arc::clone(subject_id),
                start_date: None,
                biomarkers,
                stratum: stratum.map(|s| s as u32),
            },
            out,
        );
        if let Err(error) = enrolled {
            return Err(if state.participant_index(subject).is_some() {
                already()
            } else {
                error
            });
        }
        match stratum {
            Some(stratum) => self.randomise_in_stratum(state, participant, stratum, out),
            None => self.randomise(state, participant, active_count, out),
        }
    }

    /// Randomises enrolled participant `participant` over the `active_count` open arms: by the
    /// permuted block during the burn-in (or fixed allocation), then by the allocation in force.
    fn randomise(
        &mut self,
        state: &mut TrialState,
        participant: u32,
        active_count: usize,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let adaptive = matches!(
            self.protocol.allocation.rule,
            AllocationRule::Thompson { .. }
        ) && participant >= self.protocol.allocation.burn_in;
        let (chosen, shares, draw, phase) = if adaptive {
            if state.allocation.is_none() {
                let basis =
                    if state.looks_done == 0 && participant == self.protocol.allocation.burn_in {
                        AllocationBasis::BurnInEnded
                    } else {
                        AllocationBasis::ArmsChanged
                    };
                let body = self.allocation_update(state, basis)?;
                self.emit(state, body, out)?;
            }
            // Between looks the shares of the allocation update are shared, not copied.
            let current = state.allocation.clone().ok_or_else(|| {
                EngineError::Refused("no allocation probabilities are in force".into())
            })?;
            if current.len() != active_count {
                return Err(EngineError::Refused(
                    "the allocation probabilities do not match the open arms".into(),
                ));
            }
            let draw = self.draws.draw(state.last_seq + 1);
            let slot = choose(current.iter().map(|share| share.probability), draw);
            let chosen = state.active_arms().nth(slot).ok_or_else(|| {
                EngineError::Refused(
                    "the allocation probabilities do not match the open arms".into(),
                )
            })?;
            (chosen, current, draw, RandomisationPhase::Adaptive)
        } else {
            let mut active = [0_usize; MAX_ARMS];
            for (slot, arm) in state.active_arms().enumerate() {
                active[slot] = arm;
            }
            let (chosen, shares, draw) =
                self.block_draw(state, &active[..active_count], &state.block_counts);
            (chosen, shares, draw, RandomisationPhase::Block)
        };
        self.emit_randomised(state, participant, chosen, (shares, draw, phase), out)
    }

    /// Emits participant `participant`'s randomisation to arm `chosen` with the probabilities,
    /// draw and phase it was made with.
    pub(super) fn emit_randomised(
        &self,
        state: &mut TrialState,
        participant: u32,
        chosen: usize,
        (probabilities, draw, phase): (Arc<[ArmShare]>, f64, RandomisationPhase),
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        self.emit(
            state,
            EventBody::Randomised {
                participant,
                arm: state.arms[chosen].id.clone(),
                probabilities,
                draw,
                phase,
            },
            out,
        )
    }

    /// The permuted-block assignment among `arms` (in arm order), whose participants in the
    /// current block are `block[arm]`: each arm's remaining slots over all remaining slots, and
    /// the seed-derived draw of the next event. Returns the arm, the probabilities and the draw.
    pub(super) fn block_draw(
        &mut self,
        state: &TrialState,
        arms: &[usize],
        block: &[u32],
    ) -> (usize, Arc<[ArmShare]>, f64) {
        let count = arms.len();
        let (mut ratios, mut used) = ([0_u32; MAX_ARMS], [0_u32; MAX_ARMS]);
        for (slot, &arm) in arms.iter().enumerate() {
            ratios[slot] = state.arms[arm].ratio;
            used[slot] = block[arm];
        }
        let mut probabilities = [0.0_f64; MAX_ARMS];
        block_probabilities(
            &ratios[..count],
            &used[..count],
            state.block_multiple,
            &mut probabilities[..count],
        );
        let draw = self.draws.draw(state.last_seq + 1);
        let chosen = arms[choose(probabilities[..count].iter().copied(), draw)];
        let shares: Arc<[ArmShare]> = arms
            .iter()
            .zip(&probabilities)
            .map(|(&arm, &probability)| ArmShare {
                arm: state.arms[arm].id.clone(),
                probability,
            })
            .collect();
        (chosen, shares, draw)
    }

    /// P(best) of `marginals` in the outcome's better direction (cached: a pure function of its
    /// arguments, so a repeated question gets the stored answer).
    pub(super) fn p_best(&mut self, marginals: &[Marginal]) -> Result<Vec<f64>, EngineError> {
        if let Some((key, value)) = &self.p_best_cache {
            if key.as_slice() == marginals {
                return Ok(value.clone());
            }
        }
        let mut p_best = vec![0.0; marginals.len()];
        self.quadrature
            .p_best_into(marginals, self.protocol.outcome.better, &mut p_best)?;
        self.p_best_cache = Some((marginals.to_vec(), p_best.clone()));
        Ok(p_best)
    }

    /// The exponent on P(best) now.
    pub(super) fn power(&self, state: &TrialState) -> f64 {
        match self.protocol.allocation.rule {
            AllocationRule::Thompson {
                power: Power::Constant(p),
                ..
            } => p,
            AllocationRule::Thompson {
                power: Power::HalfInformation,
                ..
            } => state.enrolled() as f64 / (2.0 * state.max_participants as f64),
            AllocationRule::Fixed => 0.0,
        }
    }

    /// Computes an allocation update from the current data.
    pub(super) fn allocation_update(
        &mut self,
        state: &TrialState,
        basis: AllocationBasis,
    ) -> Result<EventBody, EngineError> {
        let AllocationRule::Thompson { control: share, .. } = self.protocol.allocation.rule else {
            return Err(EngineError::Refused(
                "fixed allocation has no adaptive update".into(),
            ));
        };
        let power = self.power(state);
        let active: Vec<usize> = state.active_arms().collect();
        let control = state.control.filter(|c| active.contains(c));
        let separate_control = control.is_some() && share != crate::protocol::ControlShare::None;
        let competing: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&a| !(separate_control && Some(a) == control))
            .collect();
        let marginals = self.marginals(state, &competing)?;
        let p_best = self.p_best(&marginals)?;
        let mut probabilities = [0.0_f64; MAX_ARMS];
        let control_share = adaptive_probabilities(
            &p_best[..competing.len()],
            power,
            separate_control.then_some(share),
            self.protocol.allocation.min,
            self.protocol.allocation.max,
            &mut probabilities[..competing.len()],
        );
        let mut shares = Vec::with_capacity(active.len());
        for &arm in &active {
            let probability = match competing.iter().position(|&c| c == arm) {
                Some(slot) => probabilities[slot],
                None => control_share,
            };
            shares.push(ArmShare {
                arm: state.arms[arm].id.clone(),
                probability,
            });
        }
        Ok(EventBody::AllocationUpdated {
            probabilities: shares.into(),
            power,
            basis,
            stratum: None,
        })
    }

    /// Posterior marginals of the given arms from all their data.
    pub(super) fn marginals(
        &self,
        state: &TrialState,
        arms: &[usize],
    ) -> Result<Vec<Marginal>, EngineError> {
        Ok(arms
            .iter()
            .map(|&arm| state.arms[arm].model.posterior())
            .collect::<Result<_, _>>()?)
    }

    /// Checks that the arm's model can take `value` (the posterior stays finite), so an
    /// out-of-range value is refused as an input error before any event is written.
    pub(super) fn check_fits(
        state: &TrialState,
        arm: usize,
        value: &OutcomeValue,
    ) -> Result<(), EngineError> {
        match value {
            OutcomeValue::Binary { .. } => Ok(()),
            OutcomeValue::Continuous { .. } | OutcomeValue::Count { .. } => {
                let mut probe = state.arms[arm].model;
                probe
                    .observe(super::state::observation(value))
                    .map_err(|e| EngineError::Invalid {
                        field: "value",
                        problem: e.to_string(),
                    })
            }
        }
    }

    /// Checks an outcome value against the protocol's kind and range.
    pub(super) fn check_outcome(&self, value: &OutcomeValue) -> Result<(), EngineError> {
        let outcome = &self.protocol.outcome;
        let invalid = |problem: String| EngineError::Invalid {
            field: "value",
            problem,
        };
        let numeric = match (*value, outcome.kind) {
            (OutcomeValue::Binary { .. }, OutcomeKind::Binary) => None,
            (OutcomeValue::Continuous { value }, OutcomeKind::Continuous) => {
                if !value.is_finite() {
                    return Err(invalid(format!("{value} is not a finite number")));
                }
                Some(value)
            }
            (OutcomeValue::Count { events, exposure }, OutcomeKind::Count) => {
                if !(exposure.is_finite() && exposure > 0.0) {
                    return Err(invalid(format!("exposure {exposure} must be positive")));
                }
                Some(events as f64)
            }
            (_, kind) => {
                return Err(invalid(format!(
                    "the outcome {:?} is {kind:?}; this value is of another kind",
                    outcome.name
                )))
            }
        };
        if let Some(x) = numeric {
            if let Some(min) = outcome.min.filter(|&m| x < m) {
                return Err(invalid(format!("{x} is below the minimum {min}")));
            }
            if let Some(max) = outcome.max.filter(|&m| x > m) {
                return Err(invalid(format!("{x} is above the maximum {max}")));
            }
        }
        Ok(())
    }

    fn randomised_participant(state: &TrialState, subject_id: &str) -> Result<u32, EngineError> {
        let index = state
            .participant_index(subject_id)
            .ok_or_else(|| EngineError::Refused(format!("subject {subject_id} is not enrolled")))?;
        if state.participants[index].arm.is_none() {
            return Err(EngineError::Refused(format!(
                "subject {subject_id} has not been randomised"
            )));
        }
        Ok(index as u32)
    }

    /// Records a participant's outcome, then runs every look that has become due.
    pub fn record_outcome(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        value: OutcomeValue,
    ) -> Result<Vec<Event>, EngineError> {
        let participant = Self::randomised_participant(state, subject_id)?;
        let mut out = Vec::new();
        self.record_outcome_into(state, participant, value, &mut out)?;
        Ok(out)
    }

    /// [`Engine::record_outcome`] by participant number, appending the events to `out`.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, participant))]
    pub fn record_outcome_into(
        &mut self,
        state: &mut TrialState,
        participant: u32,
        value: OutcomeValue,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        if state.status == TrialStatus::NotStarted {
            return Err(EngineError::Refused("the trial has not started".into()));
        }
        let Some(record) = state.participants.get(participant as usize) else {
            return Err(EngineError::Refused(format!(
                "no participant {participant}"
            )));
        };
        if record.arm.is_none() {
            return Err(EngineError::Refused(format!(
                "subject {} has not been randomised",
                record.subject_id
            )));
        }
        if record.outcome.is_some() {
            return Err(EngineError::Refused(format!(
                "subject {} already has an outcome; correct it with a reason instead",
                record.subject_id
            )));
        }
        self.check_outcome(&value)?;
        if let Some(arm) = record.arm {
            Self::check_fits(state, arm, &value)?;
        }
        self.emit(
            state,
            EventBody::OutcomeRecorded { participant, value },
            out,
        )?;
        self.run_due_looks(state, out)
    }

    /// Final analysis when no more outcomes will come: once enrolment is complete, runs the last
    /// look on the outcomes at hand (even below the final look's count) and stops the trial.
    /// The simulator calls it when every outcome has arrived or dropped out; the live service when
    /// the coordinator declares data collection complete.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id))]
    pub fn conclude_into(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        Self::require_running(state)?;
        if state.enrolled() < state.max_participants && !state.every_arm_closed() {
            return Err(EngineError::Refused(format!(
                "enrolment is not complete: {} of {} participants",
                state.enrolled(),
                state.max_participants
            )));
        }
        self.emit(state, EventBody::DataCollectionClosed, out)?;
        self.final_look(state, out)
    }

    /// Corrects a participant's outcome; the original stays in the log.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, subject = subject_id))]
    pub fn correct_outcome(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        value: OutcomeValue,
        reason: &str,
    ) -> Result<Vec<Event>, EngineError> {
        let participant = Self::randomised_participant(state, subject_id)?;
        let Some(corrects) = state.participants[participant as usize].outcome_seq else {
            return Err(EngineError::Refused(format!(
                "subject {subject_id} has no outcome to correct"
            )));
        };
        if reason.trim().is_empty() {
            return Err(EngineError::Invalid {
                field: "reason",
                problem: "a correction needs a reason".into(),
            });
        }
        self.check_outcome(&value)?;
        if let Some(arm) = state.participants[participant as usize].arm {
            Self::check_fits(state, arm, &value)?;
        }
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::OutcomeCorrected {
                participant,
                corrects,
                value,
                reason: reason.trim().to_owned(),
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Platform amendment: adds an arm, open at once.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, arm = %arm.id))]
    pub fn add_arm(
        &mut self,
        state: &mut TrialState,
        arm: NewArm,
    ) -> Result<Vec<Event>, EngineError> {
        Self::require_running(state)?;
        if self.protocol.trial.design != Design::Platform {
            return Err(EngineError::Refused(
                "only platform trials can add arms".into(),
            ));
        }
        if self.protocol.precision.is_some() {
            return Err(EngineError::Refused(
                "a precision design adds no arms by amendment yet: the new arm's strata and \
                 its place in the signatures would need a protocol amendment"
                    .into(),
            ));
        }
        if state.arm_index(&arm.id).is_some() {
            return Err(EngineError::Invalid {
                field: "arm.id",
                problem: format!("an arm {} exists already", arm.id),
            });
        }
        if state.arms.len() >= MAX_ARMS {
            return Err(EngineError::Refused(format!(
                "a trial has at most {MAX_ARMS} arms"
            )));
        }
        if arm.ratio == 0 {
            return Err(EngineError::Invalid {
                field: "arm.ratio",
                problem: "must be at least 1".into(),
            });
        }
        let default_prior = self
            .protocol
            .arms
            .iter()
            .find(|a| !a.control)
            .map(|a| a.prior);
        let prior = arm
            .prior
            .or(default_prior)
            .ok_or_else(|| EngineError::Invalid {
                field: "arm.prior",
                problem: "no default prior".into(),
            })?;
        let family_ok = matches!(
            (prior, self.protocol.outcome.kind),
            (Prior::Beta { .. }, OutcomeKind::Binary)
                | (Prior::NormalInverseGamma { .. }, OutcomeKind::Continuous)
                | (Prior::Gamma { .. }, OutcomeKind::Count)
                | (Prior::Mixture(PriorMixture::Beta(_)), OutcomeKind::Binary)
                | (
                    Prior::Mixture(PriorMixture::NormalInverseGamma(_)),
                    OutcomeKind::Continuous
                )
                | (Prior::Mixture(PriorMixture::Gamma(_)), OutcomeKind::Count)
        );
        if !family_ok {
            return Err(EngineError::Invalid {
                field: "arm.prior",
                problem: "the prior's family does not match the outcome kind".into(),
            });
        }
        model_for(&prior)?;
        let mut out = Vec::new();
        let enrolled = state.enrolled();
        self.emit(
            state,
            EventBody::ArmAdded {
                arm: arm.id.clone(),
                name: arm.name,
                prior,
                ratio: arm.ratio,
            },
            &mut out,
        )?;
        self.emit(
            state,
            EventBody::ArmOpened {
                arm: arm.id,
                enrolled,
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Amendment: changes the maximum number of participants.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, to))]
    pub fn change_max_participants(
        &mut self,
        state: &mut TrialState,
        to: u32,
    ) -> Result<Vec<Event>, EngineError> {
        Self::require_running(state)?;
        if to == 0 || to < state.enrolled() || to < state.outcomes {
            return Err(EngineError::Invalid {
                field: "max_participants",
                problem: format!(
                    "{to} must be positive and at least the {} participants already enrolled",
                    state.enrolled()
                ),
            });
        }
        if to > MAX_PARTICIPANTS {
            return Err(EngineError::Invalid {
                field: "max_participants",
                problem: format!("{to} is too large (at most {MAX_PARTICIPANTS})"),
            });
        }
        let looks = super::schedule::extended_look_count(&state.looks, to);
        if looks > u64::from(MAX_LOOKS) {
            return Err(EngineError::Invalid {
                field: "max_participants",
                problem: format!(
                    "{to} would continue the look schedule to {looks} looks (at most {MAX_LOOKS})"
                ),
            });
        }
        let mut out = Vec::new();
        let from = state.max_participants;
        self.emit(
            state,
            EventBody::MaxParticipantsChanged { from, to },
            &mut out,
        )?;
        self.run_due_looks(state, &mut out)?;
        Ok(out)
    }

    /// Closes the trial early.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id))]
    pub fn close(
        &mut self,
        state: &mut TrialState,
        reason: &str,
    ) -> Result<Vec<Event>, EngineError> {
        Self::require_running(state)?;
        if reason.trim().is_empty() {
            return Err(EngineError::Invalid {
                field: "reason",
                problem: "closing a trial needs a reason".into(),
            });
        }
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::TrialStopped {
                reason: StopReason::Closed {
                    reason: reason.trim().to_owned(),
                },
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Emergency unblinding (code break) of one participant of a blinded trial, for their safety:
    /// records who asked, when and why (the record names no arm). Refused on an open-label trial,
    /// before the participant is assigned, and without a reason.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id))]
    pub fn reveal_assignment(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        reason: &str,
    ) -> Result<Vec<Event>, EngineError> {
        if !self.protocol.trial.blinded {
            return Err(EngineError::Refused(
                "the trial is open-label: the site sees every assignment already".into(),
            ));
        }
        if state.status == TrialStatus::NotStarted {
            return Err(EngineError::Refused("the trial has not started".into()));
        }
        let participant = state
            .participant_index(subject_id.trim())
            .ok_or_else(|| EngineError::Refused(format!("no subject {}", subject_id.trim())))?;
        let assigned = state.participants[participant].arm.is_some()
            || state
                .nof1
                .get(participant)
                .is_some_and(|p| !p.periods.is_empty());
        if !assigned {
            return Err(EngineError::Refused(format!(
                "subject {} has no assignment yet",
                subject_id.trim()
            )));
        }
        if reason.trim().is_empty() {
            return Err(EngineError::Invalid {
                field: "reason",
                problem: "emergency unblinding needs a reason".into(),
            });
        }
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::AssignmentRevealed {
                participant: participant as u32,
                subject_id: Arc::clone(&state.participants[participant].subject_id),
                cause: RevealCause::Emergency {
                    reason: reason.trim().to_owned(),
                },
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Pauses enrolment (outcomes are still recorded and looks still run).
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id))]
    pub fn pause(
        &mut self,
        state: &mut TrialState,
        reason: &str,
    ) -> Result<Vec<Event>, EngineError> {
        Self::require_running(state)?;
        if state.enrolment_paused.is_some() {
            return Err(EngineError::Refused("enrolment is already paused".into()));
        }
        if reason.trim().is_empty() {
            return Err(EngineError::Invalid {
                field: "reason",
                problem: "pausing enrolment needs a reason".into(),
            });
        }
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::EnrolmentPaused {
                reason: reason.trim().to_owned(),
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Resumes a paused enrolment.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id))]
    pub fn resume(&mut self, state: &mut TrialState) -> Result<Vec<Event>, EngineError> {
        Self::require_running(state)?;
        if state.enrolment_paused.is_none() {
            return Err(EngineError::Refused("enrolment is not paused".into()));
        }
        let mut out = Vec::new();
        self.emit(state, EventBody::EnrolmentResumed, &mut out)?;
        Ok(out)
    }
}
