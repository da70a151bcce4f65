//! A precision design's part of a look: each active arm's posterior in each stratum it may
//! enrol, each experimental arm's predictive probability of success in each signature, and the
//! decisions they lead to (graduation in a signature, futility in every signature). The rule is
//! written out in `METHODS.md`, "Precision designs: strata, signatures and graduation".

use super::super::commands::Engine;
use super::super::events::{DropReason, Event, EventBody};
use super::super::state::{observation, TrialState};
use super::super::strata::{SignatureAnalysis, StratumAnalysis};
use super::super::EngineError;
use crate::stats::predictive::{ConfirmatoryTrial, EffectScale, NormalEffect};
use crate::stats::{ConjugateModel, MAX_ARMS};

/// One arm's predictive probability in one signature, for the decisions of the look.
#[derive(Debug, Clone, Copy)]
pub(in crate::engine) struct Assessment {
    arm: usize,
    signature: usize,
    probability: f64,
}

/// What a look computes for a precision design.
#[derive(Debug, Default)]
pub(in crate::engine) struct PrecisionLook {
    /// Per arm and stratum.
    pub strata: Vec<StratumAnalysis>,
    /// Per experimental arm and signature.
    pub signatures: Vec<SignatureAnalysis>,
    /// The same probabilities by index.
    assessments: Vec<Assessment>,
}

/// Posterior mean and variance of a stratum's rate.
fn moments(model: &ConjugateModel) -> Result<(f64, f64), EngineError> {
    let posterior = model.posterior()?;
    let mean = posterior.mean().unwrap_or(f64::NAN);
    let sd = posterior.sd().unwrap_or(f64::NAN);
    Ok((mean, sd * sd))
}

impl Engine<'_> {
    /// The per-stratum posteriors of the `active` arms and, with graduation, the per-signature
    /// predictive probabilities of the experimental arms.
    pub(in crate::engine) fn precision_look(
        &mut self,
        state: &TrialState,
        active: &[usize],
    ) -> Result<PrecisionLook, EngineError> {
        let Some(strata) = &state.strata else {
            return Ok(PrecisionLook::default());
        };
        let mut look = PrecisionLook::default();
        let mut weights = [0.0_f64; MAX_ARMS];
        for s in 0..strata.count {
            // A stratum with no arm open has no allocation weights (nothing to compare).
            let (open, count, control) = if state.open_in(s).next().is_some() {
                self.allocation_weights(state, s, &mut weights)?
            } else {
                ([0; MAX_ARMS], 0, None)
            };
            let competing = |arm: usize| {
                open[..count]
                    .iter()
                    .filter(|&&a| Some(a) != control)
                    .position(|&a| a == arm)
            };
            for &arm in active.iter().filter(|&&a| strata.eligible[a].contains(s)) {
                let model = strata.model(arm, s);
                let (mean, variance) = moments(model)?;
                look.strata.push(StratumAnalysis {
                    arm: state.arms[arm].id.clone(),
                    stratum: s as u32,
                    n: model.observations() as u32,
                    mean,
                    sd: variance.sqrt(),
                    p_allocation: competing(arm).map(|slot| weights[slot]),
                });
            }
        }
        let (Some(precision), Some(control)) = (&self.protocol.precision, state.control) else {
            return Ok(look);
        };
        let Some(graduation) = precision.graduation else {
            return Ok(look);
        };
        if !active.contains(&control) {
            return Ok(look);
        }
        let trial = ConfirmatoryTrial::new(u64::from(graduation.future_n), graduation.alpha)?;
        for &arm in active.iter().filter(|&&a| a != control) {
            let controls = self.controls_by_stratum(state, control, arm)?;
            for (g, assessed) in precision.assessed_signatures(arm) {
                let signature = &precision.signatures[g];
                let total: u32 = assessed.iter().map(|s| strata.enrolled[s]).sum();
                if total == 0 {
                    continue;
                }
                let (mut arm_mean, mut arm_var, mut c_mean, mut c_var, mut n) =
                    (0.0, 0.0, 0.0, 0.0, 0);
                for s in assessed.iter() {
                    let weight = f64::from(strata.enrolled[s]) / f64::from(total);
                    let model = strata.model(arm, s);
                    let (m, v) = moments(model)?;
                    arm_mean += weight * m;
                    arm_var += weight * weight * v;
                    let (m, v) = controls[s];
                    c_mean += weight * m;
                    c_var += weight * weight * v;
                    n += model.observations() as u32;
                }
                let effect_mean = arm_mean - c_mean;
                let effect_sd = (arm_var + c_var).sqrt();
                let probability = trial.predictive_probability_normal(NormalEffect {
                    mean: effect_mean,
                    sd: effect_sd,
                    scale: EffectScale::Probability,
                    control_rate: c_mean,
                })?;
                look.signatures.push(SignatureAnalysis {
                    arm: state.arms[arm].id.clone(),
                    signature: signature.id.clone(),
                    n,
                    effect_mean,
                    effect_sd,
                    probability,
                });
                look.assessments.push(Assessment {
                    arm,
                    signature: g,
                    probability,
                });
            }
        }
        Ok(look)
    }

    /// The control's posterior mean and variance in each stratum, from the controls
    /// `analysis.controls` allows for `arm` (concurrent: randomised while it was open).
    fn controls_by_stratum(
        &self,
        state: &TrialState,
        control: usize,
        arm: usize,
    ) -> Result<Vec<(f64, f64)>, EngineError> {
        let Some(strata) = &state.strata else {
            return Ok(Vec::new());
        };
        let (from, until) = self.control_window(state, arm);
        if from == 0 && until == u32::MAX {
            return (0..strata.count)
                .map(|s| moments(strata.model(control, s)))
                .collect();
        }
        let empty = super::super::state::model_for(&state.arms[control].prior)?;
        let mut models = vec![empty; strata.count];
        for (index, participant) in state.participants.iter().enumerate() {
            let index = index as u32;
            if participant.arm != Some(control) || index < from || index >= until {
                continue;
            }
            if let (Some(value), Some(s)) = (&participant.outcome, participant.stratum) {
                models[s as usize].observe(observation(value))?;
            }
        }
        models.iter().map(moments).collect()
    }

    /// The decisions of a precision look: an experimental arm with at least `min_participants`
    /// outcomes graduates in each signature (in protocol order) where its predictive probability
    /// reaches the threshold and it still enrols some of the signature's strata; it is dropped
    /// when the probability is below the futility threshold in every signature where it is
    /// assessed.
    pub(in crate::engine) fn graduate(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
        look: u32,
        assessed: &PrecisionLook,
    ) -> Result<(), EngineError> {
        let Some(precision) = &self.protocol.precision else {
            return Ok(());
        };
        let Some(graduation) = precision.graduation else {
            return Ok(());
        };
        let arms: Vec<usize> = {
            let mut arms: Vec<usize> = assessed.assessments.iter().map(|a| a.arm).collect();
            arms.dedup();
            arms
        };
        for arm in arms {
            // A `[decision]` rule of this look may have dropped the arm or made it the control.
            let active = state.arms[arm].status == super::super::ArmStatus::Active;
            if !active || state.control == Some(arm) {
                continue;
            }
            let outcomes = state.arms[arm].model.observations();
            if outcomes < u64::from(graduation.min_participants) {
                continue;
            }
            let mine = || assessed.assessments.iter().filter(|a| a.arm == arm);
            for a in mine() {
                // An arm that has received its maximum may still graduate; one that has
                // graduated in every stratum of the signature already has nothing left to gain.
                let ungraduated = |state: &TrialState| {
                    state.strata.as_ref().is_some_and(|s| {
                        !precision.signatures[a.signature]
                            .strata
                            .intersection(s.eligible[arm])
                            .difference(s.closed[arm])
                            .is_empty()
                    })
                };
                if a.probability >= graduation.threshold && ungraduated(state) {
                    self.emit(
                        state,
                        EventBody::ArmGraduated {
                            arm: state.arms[arm].id.clone(),
                            signature: precision.signatures[a.signature].id.clone(),
                            probability: a.probability,
                            threshold: graduation.threshold,
                            look,
                        },
                        out,
                    )?;
                }
            }
            let best = mine()
                .map(|a| a.probability)
                .fold(f64::NEG_INFINITY, f64::max);
            if best < graduation.futility {
                self.emit(
                    state,
                    EventBody::ArmDropped {
                        arm: state.arms[arm].id.clone(),
                        reason: DropReason::FutilityInEverySignature,
                        probability: best,
                        threshold: graduation.futility,
                        look,
                    },
                    out,
                )?;
            }
        }
        Ok(())
    }

    /// After a precision look: the allocation update of every stratum where an experimental
    /// arm is still open.
    pub(in crate::engine) fn update_strata(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let count = state.strata.as_ref().map_or(0, |s| s.count);
        for s in 0..count {
            if state.stratum_open(s) {
                let body = self.stratum_allocation_update(
                    state,
                    s,
                    super::super::events::AllocationBasis::Look,
                )?;
                self.emit(state, body, out)?;
            }
        }
        Ok(())
    }
}
