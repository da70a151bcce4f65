//! Interim analyses: the look that is due, its per-arm results, and the decision rules in the
//! order inferiority, superiority, equivalence, futility (ARCHITECTURE §4).

use super::commands::Engine;
use super::events::{AllocationBasis, ArmAnalysis, DropReason, Event, EventBody, StopReason};
use super::state::{model_for, observation};
use super::state::{TrialState, TrialStatus};
use super::EngineError;
use crate::protocol::{AllocationRule, ControlsPolicy};
use crate::stats::{Better, Marginal};

/// The probability behind a decision, its threshold and the look it was taken at.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    probability: f64,
    threshold: f64,
    look: u32,
}

impl Verdict {
    fn new(probability: f64, threshold: f64, look: u32) -> Self {
        Self {
            probability,
            threshold,
            look,
        }
    }
}

impl Engine<'_> {
    /// Runs every look whose outcome count has been reached, while the trial runs.
    pub(super) fn run_due_looks(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        while state.is_running() {
            let Some(&threshold) = state.looks.get(state.looks_done as usize) else {
                break;
            };
            if state.outcomes < threshold {
                break;
            }
            self.look(state, out, false)?;
        }
        Ok(())
    }

    /// The control's posterior for comparing with `arm`: only controls randomised while `arm`
    /// was open (concurrent) or all of them.
    fn control_for(
        &self,
        state: &TrialState,
        control: usize,
        arm: usize,
    ) -> Result<(Marginal, u32), EngineError> {
        let mut model = model_for(&state.arms[control].prior)?;
        let (from, until) = self.control_window(state, arm);
        if from == 0 && until == u32::MAX {
            // Every control counts: the control's own incremental model.
            let model = &state.arms[control].model;
            return Ok((model.posterior()?, model.observations() as u32));
        }
        let mut n = 0;
        for (index, participant) in state.participants.iter().enumerate() {
            let index = index as u32;
            if participant.arm == Some(control) && index >= from && index < until {
                if let Some(value) = &participant.outcome {
                    model.observe(observation(value))?;
                    n += 1;
                }
            }
        }
        Ok((model.posterior()?, n))
    }

    /// The participant numbers [from, until) whose controls `arm` is compared with:
    /// `analysis.controls = "concurrent"` those randomised while it was open, `"all"` every one.
    pub(super) fn control_window(&self, state: &TrialState, arm: usize) -> (u32, u32) {
        match self.protocol.analysis.controls {
            ControlsPolicy::All => (0, u32::MAX),
            ControlsPolicy::Concurrent => (
                state.arms[arm].opened_at.unwrap_or(0),
                state.arms[arm].closed_at.unwrap_or(u32::MAX),
            ),
        }
    }

    /// P(arm better than control by more than `delta`) in the outcome's better direction.
    pub(super) fn p_better(
        &mut self,
        arm: &Marginal,
        control: &Marginal,
        delta: f64,
    ) -> Result<f64, EngineError> {
        Ok(match self.protocol.outcome.better {
            Better::Higher => self.quadrature.p_greater(arm, control, delta)?,
            Better::Lower => self.quadrature.p_greater(control, arm, delta)?,
        })
    }

    fn drop_arm(
        &self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
        arm: usize,
        reason: DropReason,
        Verdict {
            probability,
            threshold,
            look,
        }: Verdict,
    ) -> Result<(), EngineError> {
        let id = state.arms[arm].id.clone();
        self.emit(
            state,
            EventBody::ArmDropped {
                arm: id,
                reason,
                probability,
                threshold,
                look,
            },
            out,
        )
    }

    fn stop(
        &self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
        reason: StopReason,
    ) -> Result<(), EngineError> {
        self.emit(state, EventBody::TrialStopped { reason }, out)
    }

    /// The final look, run now whatever the outcome count; the trial stops after it.
    pub(super) fn final_look(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        self.look(state, out, true)
    }

    /// One look: analysis, decisions, and the allocation update that follows.
    fn look(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
        force_final: bool,
    ) -> Result<(), EngineError> {
        let look_index = state.looks_done as usize;
        let look = state.looks_done + 1;
        let is_final = force_final || look_index + 1 >= state.looks.len();
        let active: Vec<usize> = state.active_arms().collect();
        // Each arm's model has seen exactly the outcomes of its participants (a correction
        // replaces one, so the count is unchanged).
        let count = |arm: usize| state.arms[arm].model.observations() as u32;
        let marginals = self.marginals(state, &active)?;
        let decision = self.protocol.decision.clone();
        let control = state.control.filter(|c| active.contains(c));
        let mut analyses = Vec::with_capacity(active.len());
        match control {
            None => {
                let p_best = self.p_best(&marginals)?;
                for (slot, &arm) in active.iter().enumerate() {
                    analyses.push(ArmAnalysis {
                        arm: state.arms[arm].id.clone(),
                        n: count(arm),
                        posterior: marginals[slot],
                        mean: marginals[slot].mean(),
                        p_best: Some(p_best[slot]),
                        p_better_than_control: None,
                        p_equivalent: None,
                        p_beyond_futility_margin: None,
                        control_n: None,
                    });
                }
            }
            Some(c) => {
                for (slot, &arm) in active.iter().enumerate() {
                    let mut analysis = ArmAnalysis {
                        arm: state.arms[arm].id.clone(),
                        n: count(arm),
                        posterior: marginals[slot],
                        mean: marginals[slot].mean(),
                        p_best: None,
                        p_better_than_control: None,
                        p_equivalent: None,
                        p_beyond_futility_margin: None,
                        control_n: None,
                    };
                    if arm != c {
                        let (control_marginal, control_n) = self.control_for(state, c, arm)?;
                        analysis.control_n = Some(control_n);
                        analysis.p_better_than_control =
                            Some(self.p_better(&marginals[slot], &control_marginal, 0.0)?);
                        if let Some(rule) = &decision.equivalence {
                            analysis.p_equivalent = Some(self.quadrature.p_within(
                                &marginals[slot],
                                &control_marginal,
                                rule.delta,
                            )?);
                        }
                        if let Some(rule) = &decision.futility {
                            analysis.p_beyond_futility_margin = Some(self.p_better(
                                &marginals[slot],
                                &control_marginal,
                                rule.delta,
                            )?);
                        }
                    }
                    analyses.push(analysis);
                }
            }
        }
        let mut precision = self.precision_look(state, &active)?;
        self.emit(
            state,
            EventBody::LookPerformed {
                look,
                outcomes: state.outcomes,
                enrolled: state.enrolled(),
                arms: analyses,
                strata: std::mem::take(&mut precision.strata),
                signatures: std::mem::take(&mut precision.signatures),
            },
            out,
        )?;
        match control {
            None => self.decide_without_control(state, out, look_index)?,
            Some(_) => self.decide_with_control(state, out, look_index)?,
        }
        if state.is_running() {
            self.graduate(state, out, look, &precision)?;
        }
        if state.is_running() {
            let remaining: Vec<usize> = state.active_arms().collect();
            if let [only] = remaining.as_slice() {
                let arm = state.arms[*only].id.clone();
                self.stop(state, out, StopReason::OneArmLeft { arm })?;
            } else if is_final {
                let reason =
                    if state.every_arm_closed() && state.enrolled() < state.max_participants {
                        StopReason::EveryArmClosed
                    } else {
                        StopReason::MaxParticipants
                    };
                self.stop(state, out, reason)?;
            }
        }
        let adaptive = matches!(
            self.protocol.allocation.rule,
            AllocationRule::Thompson { .. }
        ) && state.enrolled() >= self.protocol.allocation.burn_in
            && state.enrolled() < state.max_participants;
        if state.status == TrialStatus::Running && adaptive {
            if state.strata.is_some() {
                self.update_strata(state, out)?;
            } else {
                let body = self.allocation_update(state, AllocationBasis::Look)?;
                self.emit(state, body, out)?;
            }
        }
        Ok(())
    }

    fn decide_without_control(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
        look_index: usize,
    ) -> Result<(), EngineError> {
        let look = look_index as u32 + 1;
        let decision = self.protocol.decision.clone();
        // Inferiority: drop every arm below the threshold, recompute, repeat until none.
        if let Some(threshold) = decision.inferiority.as_ref().map(|t| t.at(look_index)) {
            loop {
                let active: Vec<usize> = state.active_arms().collect();
                if active.len() <= 1 {
                    break;
                }
                let marginals = self.marginals(state, &active)?;
                let p_best = self.p_best(&marginals)?;
                let below: Vec<(usize, f64)> = active
                    .iter()
                    .zip(&p_best)
                    .filter(|(_, &p)| p < threshold)
                    .map(|(&a, &p)| (a, p))
                    .collect();
                if below.is_empty() || below.len() == active.len() {
                    break;
                }
                for (arm, p) in below {
                    self.drop_arm(
                        state,
                        out,
                        arm,
                        DropReason::Inferiority,
                        Verdict::new(p, threshold, look),
                    )?;
                }
            }
        }
        let active: Vec<usize> = state.active_arms().collect();
        if active.len() <= 1 {
            return Ok(());
        }
        let marginals = self.marginals(state, &active)?;
        if let Some(threshold) = decision.superiority.as_ref().map(|t| t.at(look_index)) {
            let p_best = self.p_best(&marginals)?;
            let best = (0..active.len()).fold(0, |b, i| if p_best[i] > p_best[b] { i } else { b });
            if p_best[best] > threshold {
                let arm = state.arms[active[best]].id.clone();
                return self.stop(
                    state,
                    out,
                    StopReason::Superiority {
                        arm,
                        probability: p_best[best],
                        threshold,
                    },
                );
            }
        }
        if let Some(rule) = &decision.equivalence {
            let threshold = rule.threshold.at(look_index);
            let probability = self.quadrature.p_range_below(&marginals, rule.delta)?;
            if probability > threshold {
                return self.stop(
                    state,
                    out,
                    StopReason::Equivalence {
                        probability,
                        threshold,
                    },
                );
            }
        }
        Ok(())
    }

    fn decide_with_control(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
        look_index: usize,
    ) -> Result<(), EngineError> {
        let look = look_index as u32 + 1;
        let decision = self.protocol.decision.clone();
        loop {
            let Some(control) = state.control else {
                return Ok(());
            };
            let comparisons = self.comparisons(state, control)?;
            // Inferiority against the control.
            if let Some(threshold) = decision.inferiority.as_ref().map(|t| t.at(look_index)) {
                for &(arm, p, _) in &comparisons {
                    if p < threshold {
                        self.drop_arm(
                            state,
                            out,
                            arm,
                            DropReason::Inferiority,
                            Verdict::new(p, threshold, look),
                        )?;
                    }
                }
            }
            // Superiority: the best superior arm becomes the new control; then re-check.
            if let Some(threshold) = decision.superiority.as_ref().map(|t| t.at(look_index)) {
                let best = comparisons
                    .iter()
                    .filter(|&&(arm, p, _)| {
                        p > threshold && state.arms[arm].status == super::ArmStatus::Active
                    })
                    .fold(None::<(usize, f64)>, |best, &(arm, p, _)| match best {
                        Some((_, q)) if q >= p => best,
                        _ => Some((arm, p)),
                    });
                if let Some((arm, probability)) = best {
                    let from = state.arms[control].id.clone();
                    let to = state.arms[arm].id.clone();
                    self.emit(
                        state,
                        EventBody::ControlChanged {
                            from,
                            to,
                            probability,
                            threshold,
                            look,
                        },
                        out,
                    )?;
                    self.drop_arm(
                        state,
                        out,
                        control,
                        DropReason::ReplacedAsControl,
                        Verdict {
                            probability,
                            threshold,
                            look,
                        },
                    )?;
                    // Re-check the remaining arms against the new control.
                    continue;
                }
            }
            break;
        }
        let Some(control) = state.control else {
            return Ok(());
        };
        if let Some(rule) = &decision.equivalence {
            let threshold = rule.threshold.at(look_index);
            for arm in state
                .active_arms()
                .filter(|&a| a != control)
                .collect::<Vec<_>>()
            {
                let arm_marginal = self.marginals(state, &[arm])?[0];
                let (control_marginal, _) = self.control_for(state, control, arm)?;
                let p = self
                    .quadrature
                    .p_within(&arm_marginal, &control_marginal, rule.delta)?;
                if p > threshold {
                    self.drop_arm(
                        state,
                        out,
                        arm,
                        DropReason::Equivalence,
                        Verdict::new(p, threshold, look),
                    )?;
                }
            }
        }
        if let Some(rule) = &decision.futility {
            let threshold = rule.threshold.at(look_index);
            for arm in state
                .active_arms()
                .filter(|&a| a != control)
                .collect::<Vec<_>>()
            {
                let arm_marginal = self.marginals(state, &[arm])?[0];
                let (control_marginal, _) = self.control_for(state, control, arm)?;
                let p = self.p_better(&arm_marginal, &control_marginal, rule.delta)?;
                if p < threshold {
                    self.drop_arm(
                        state,
                        out,
                        arm,
                        DropReason::Futility,
                        Verdict::new(p, threshold, look),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// (arm, P(better than control), control n) for every active non-control arm.
    fn comparisons(
        &mut self,
        state: &TrialState,
        control: usize,
    ) -> Result<Vec<(usize, f64, u32)>, EngineError> {
        let arms: Vec<usize> = state.active_arms().filter(|&a| a != control).collect();
        let marginals = self.marginals(state, &arms)?;
        let mut result = Vec::with_capacity(arms.len());
        for (slot, &arm) in arms.iter().enumerate() {
            let (control_marginal, n) = self.control_for(state, control, arm)?;
            let p = self.p_better(&marginals[slot], &control_marginal, 0.0)?;
            result.push((arm, p, n));
        }
        Ok(result)
    }
}
