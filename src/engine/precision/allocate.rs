//! Enrolment by biomarkers and randomisation within the participant's stratum: permuted blocks
//! over the arms open there during the burn-in, then response-adaptive probabilities from the
//! stratum's own posteriors: P(arm better than the control in the stratum)^power beside the
//! control's fixed share, or P(best in the stratum)^power without a control.

use std::sync::Arc;

use tracing::instrument;

use super::super::allocation::{adaptive_probabilities, choose};
use super::super::commands::Engine;
use super::super::events::{AllocationBasis, ArmShare, Event, EventBody, RandomisationPhase};
use super::super::state::TrialState;
use super::super::strata::Biomarkers;
use super::super::EngineError;
use crate::protocol::{AllocationRule, ControlShare};
use crate::stats::{Marginal, MAX_ARMS};

impl Engine<'_> {
    /// Enrols a participant of a precision design with their biomarker values and randomises
    /// them within their stratum. A missing, unknown or ineligible value is refused as an input
    /// error naming it; a stratum where no experimental arm is open any more is refused. The
    /// identifier is used as given (trimmed by the caller).
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, subject = %subject_id))]
    pub fn enrol_with_biomarkers_into(
        &mut self,
        state: &mut TrialState,
        subject_id: &Arc<str>,
        biomarkers: &Arc<Biomarkers>,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let Some(precision) = &self.protocol.precision else {
            return Err(EngineError::Invalid {
                field: "biomarkers",
                problem: "this design has no biomarkers: enrol without them".into(),
            });
        };
        let stratum =
            precision
                .stratum_of(&biomarkers.0)
                .map_err(|refusal| EngineError::Invalid {
                    field: "biomarkers",
                    problem: refusal.to_string(),
                })?;
        self.enrol_checked_into(
            state,
            subject_id,
            Some((Arc::clone(biomarkers), stratum)),
            out,
        )
    }

    /// Refuses enrolment in `stratum` when no experimental arm is open there.
    pub(in crate::engine) fn check_stratum_open(
        &self,
        state: &TrialState,
        stratum: usize,
    ) -> Result<(), EngineError> {
        if state.stratum_open(stratum) {
            return Ok(());
        }
        let label = self
            .protocol
            .precision
            .as_ref()
            .and_then(|p| p.strata.get(stratum))
            .map_or("?", |s| s.label.as_str());
        Err(EngineError::Refused(format!(
            "no experimental arm is open to participants of stratum {label}: each has graduated \
             there, reached its maximum or been dropped"
        )))
    }

    /// Randomises enrolled participant `participant` within `stratum`.
    pub(in crate::engine) fn randomise_in_stratum(
        &mut self,
        state: &mut TrialState,
        participant: u32,
        stratum: usize,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let mut open = [0_usize; MAX_ARMS];
        let mut count = 0;
        for arm in state.open_in(stratum) {
            open[count] = arm;
            count += 1;
        }
        if count == 0 {
            return Err(EngineError::Refused("no arm is open in the stratum".into()));
        }
        let adaptive = matches!(
            self.protocol.allocation.rule,
            AllocationRule::Thompson { .. }
        ) && participant >= self.protocol.allocation.burn_in;
        let strata = |state: &TrialState| {
            state
                .strata
                .as_ref()
                .ok_or_else(|| EngineError::Refused("the design has no strata".into()))
                .map(|s| (s.allocation[stratum].clone(), s.updated[stratum]))
        };
        let (chosen, shares, draw, phase) = if adaptive {
            let (mut current, updated) = strata(state)?;
            if current.is_none() {
                let basis = if updated {
                    AllocationBasis::ArmsChanged
                } else {
                    AllocationBasis::BurnInEnded
                };
                let body = self.stratum_allocation_update(state, stratum, basis)?;
                self.emit(state, body, out)?;
                current = strata(state)?.0;
            }
            let current = current.ok_or_else(|| {
                EngineError::Refused("no allocation probabilities are in force".into())
            })?;
            if current.len() != count {
                return Err(EngineError::Refused(
                    "the allocation probabilities do not match the arms open in the stratum".into(),
                ));
            }
            let draw = self.draw(state.last_seq + 1);
            let slot = choose(current.iter().map(|share| share.probability), draw);
            (open[slot], current, draw, RandomisationPhase::Adaptive)
        } else {
            let block = state
                .strata
                .as_ref()
                .map(|s| &s.block_counts[stratum * s.arms()..(stratum + 1) * s.arms()])
                .ok_or_else(|| EngineError::Refused("the design has no strata".into()))?;
            let (chosen, shares, draw) = self.block_draw(state, &open[..count], block);
            (chosen, shares, draw, RandomisationPhase::Block)
        };
        self.emit_randomised(state, participant, chosen, (shares, draw, phase), out)
    }

    /// The posteriors in `stratum` of `arms`, in their order.
    pub(in crate::engine) fn stratum_marginals(
        state: &TrialState,
        stratum: usize,
        arms: &[usize],
    ) -> Result<Vec<Marginal>, EngineError> {
        let strata = state
            .strata
            .as_ref()
            .ok_or_else(|| EngineError::Refused("the design has no strata".into()))?;
        Ok(arms
            .iter()
            .map(|&arm| strata.model(arm, stratum).posterior())
            .collect::<Result<_, _>>()?)
    }

    /// The allocation update of `stratum` from its posteriors: the control (when open there)
    /// at its fixed share and the other open arms ∝ P(better than the control in the
    /// stratum)^power, or without a control every open arm ∝ P(best in the stratum)^power; then
    /// the bounds `allocation.min`/`max`. Also the probabilities a look reports per stratum.
    pub(in crate::engine) fn stratum_allocation_update(
        &mut self,
        state: &TrialState,
        stratum: usize,
        basis: AllocationBasis,
    ) -> Result<EventBody, EngineError> {
        let AllocationRule::Thompson { control: share, .. } = self.protocol.allocation.rule else {
            return Err(EngineError::Refused(
                "fixed allocation has no adaptive update".into(),
            ));
        };
        let power = self.power(state);
        let mut weights = [0.0_f64; MAX_ARMS];
        let (open, count, control) = self.allocation_weights(state, stratum, &mut weights)?;
        let separate_control = control.is_some();
        let mut probabilities = [0.0_f64; MAX_ARMS];
        let competing: Vec<usize> = open[..count]
            .iter()
            .copied()
            .filter(|&a| !(separate_control && Some(a) == control))
            .collect();
        let control_share = adaptive_probabilities(
            &weights[..competing.len()],
            power,
            separate_control.then_some(share),
            self.protocol.allocation.min,
            self.protocol.allocation.max,
            &mut probabilities[..competing.len()],
        );
        let shares: Arc<[ArmShare]> = open[..count]
            .iter()
            .map(|&arm| ArmShare {
                arm: state.arms[arm].id.clone(),
                probability: match competing.iter().position(|&c| c == arm) {
                    Some(slot) => probabilities[slot],
                    None => control_share,
                },
            })
            .collect();
        Ok(EventBody::AllocationUpdated {
            probabilities: shares,
            power,
            basis,
            stratum: Some(stratum as u32),
        })
    }

    /// The arms open in `stratum` (and how many), the control when it is open there, and in
    /// `weights` the competing arms' allocation weights in arm order: P(better than the control
    /// in the stratum) for each experimental arm, or P(best in the stratum) for every arm
    /// without a control.
    pub(in crate::engine) fn allocation_weights(
        &mut self,
        state: &TrialState,
        stratum: usize,
        weights: &mut [f64; MAX_ARMS],
    ) -> Result<([usize; MAX_ARMS], usize, Option<usize>), EngineError> {
        let mut open = [0_usize; MAX_ARMS];
        let mut count = 0;
        for arm in state.open_in(stratum) {
            open[count] = arm;
            count += 1;
        }
        let separate = matches!(
            self.protocol.allocation.rule,
            AllocationRule::Thompson { control, .. } if control != ControlShare::None
        );
        let control = state
            .control
            .filter(|c| separate && open[..count].contains(c));
        let marginals = Self::stratum_marginals(state, stratum, &open[..count])?;
        match control {
            None => {
                let p_best = self.p_best(&marginals)?;
                weights[..count].copy_from_slice(&p_best);
            }
            Some(c) => {
                let slot_c = open[..count].iter().position(|&a| a == c).unwrap_or(0);
                let control_marginal = marginals[slot_c];
                let mut k = 0;
                for (slot, marginal) in marginals.iter().enumerate() {
                    if slot == slot_c {
                        continue;
                    }
                    weights[k] = self.p_better(marginal, &control_marginal, 0.0)?;
                    k += 1;
                }
            }
        }
        Ok((open, count, control))
    }
}
