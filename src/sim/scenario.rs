//! Scenarios: the truth a simulated trial is run against, from a protocol's `[[scenario]]` table
//! with optional `--truth ARM=VALUE` overrides.

use serde::Serialize;

use super::SimError;
use crate::engine::OutcomeValue;
use crate::protocol::precision::ScenarioStrata;
use crate::protocol::{ArmId, DelaySpec, OutcomeKind, OutcomeSpec, Protocol};
use statrs::distribution::{ContinuousCDF, Normal};

/// A scenario resolved against the protocol's arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimScenario {
    /// Scenario name.
    pub name: String,
    /// True parameter per protocol arm (same order as `protocol.arms`); in a precision design
    /// NaN for an arm whose truth differs between strata (see `strata`).
    pub truth: Vec<f64>,
    /// Residual SD for continuous outcomes.
    pub sd: Option<f64>,
    /// Mean participants per week (Poisson arrivals).
    pub accrual_per_week: f64,
    /// Outcome delay.
    pub delay: DelaySpec,
    /// Probability a participant never gives an outcome.
    pub dropout: f64,
    /// Precision designs: the strata's prevalence and each arm's truth per stratum (an
    /// override of an arm's truth applies in every stratum).
    pub strata: Option<ScenarioStrata>,
}

impl SimScenario {
    /// The scenario `name` of `protocol`, with `overrides` of the true values.
    pub fn from_protocol(
        protocol: &Protocol,
        name: &str,
        overrides: &[(ArmId, f64)],
    ) -> Result<Self, SimError> {
        let scenario = protocol
            .scenarios
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| SimError::Scenario {
                name: name.to_owned(),
                available: protocol
                    .scenarios
                    .iter()
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let mut truth = Vec::with_capacity(protocol.arms.len());
        for arm in &protocol.arms {
            let value = scenario
                .truth
                .get(&arm.id)
                .copied()
                .ok_or_else(|| SimError::Truth {
                    arm: arm.id.to_string(),
                    problem: "the scenario gives no true value for this arm".into(),
                })?;
            truth.push(value);
        }
        for (arm, value) in overrides {
            let index = protocol
                .arms
                .iter()
                .position(|a| &a.id == arm)
                .ok_or_else(|| SimError::Truth {
                    arm: arm.to_string(),
                    problem: format!(
                        "not an arm of this protocol (arms: {})",
                        protocol
                            .arms
                            .iter()
                            .map(|a| a.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            let valid = match protocol.outcome.kind {
                OutcomeKind::Binary => *value > 0.0 && *value < 1.0,
                OutcomeKind::Count => *value > 0.0 && value.is_finite(),
                OutcomeKind::Continuous => value.is_finite(),
            };
            if !valid {
                return Err(SimError::Truth {
                    arm: arm.to_string(),
                    problem: format!(
                        "{value} is not a valid true value for a {:?} outcome",
                        protocol.outcome.kind
                    ),
                });
            }
            truth[index] = *value;
        }
        let mut strata = scenario.strata.clone();
        if let Some(strata) = &mut strata {
            for (arm, value) in overrides {
                if let Some(index) = protocol.arms.iter().position(|a| &a.id == arm) {
                    strata.truth[index].iter_mut().for_each(|t| *t = *value);
                }
            }
            // An arm has one true value only when it is the same in every stratum; otherwise
            // its truth is per stratum and the per-arm figures that need one (RMSE, the ideal
            // design percentage) are not defined for it.
            for (t, by_stratum) in truth.iter_mut().zip(&strata.truth) {
                if by_stratum.iter().any(|x| x != t) {
                    *t = f64::NAN;
                }
            }
        }
        Ok(Self {
            name: scenario.name.clone(),
            truth,
            sd: scenario.sd,
            accrual_per_week: scenario.accrual_per_week,
            delay: scenario.outcome_delay,
            dropout: scenario.dropout,
            strata,
        })
    }

    /// The outcome of a participant on protocol arm `arm` (index in `protocol.arms`) at the
    /// uniform `u`, drawn as the simulator draws it: the inverse CDF of the arm's true
    /// distribution, kept inside the outcome's range. `None` for an arm the scenario gives no
    /// truth for (one added by an amendment).
    pub fn outcome(&self, protocol: &Protocol, arm: usize, u: f64) -> Option<OutcomeValue> {
        let truth = *self.truth.get(arm)?;
        let sd = self.sd.unwrap_or(1.0);
        Some(clamp_to_range(
            outcome_value(protocol.outcome.kind, truth, sd, u),
            &protocol.outcome,
        ))
    }
}

/// The outcome of a participant whose true value is `truth`: the inverse CDF of the outcome's
/// distribution at the uniform `u` (Bernoulli, Normal(truth, sd) or Poisson).
pub(super) fn outcome_value(kind: OutcomeKind, truth: f64, sd: f64, u: f64) -> OutcomeValue {
    match kind {
        OutcomeKind::Binary => OutcomeValue::Binary {
            response: u < truth,
        },
        OutcomeKind::Continuous => {
            let z = Normal::new(0.0, 1.0)
                .map(|n| n.inverse_cdf(u.clamp(1e-300, 1.0 - 1e-16)))
                .unwrap_or(0.0);
            OutcomeValue::Continuous {
                value: truth + sd * z,
            }
        }
        OutcomeKind::Count => {
            // Poisson(truth) by inversion of the CDF at u.
            let mut k = 0_u64;
            let mut term = (-truth).exp();
            let mut cumulative = term;
            while u > cumulative && k < 10_000 {
                k += 1;
                term *= truth / k as f64;
                cumulative += term;
            }
            OutcomeValue::Count {
                events: k,
                exposure: 1.0,
            }
        }
    }
}

/// `value` brought inside the outcome's `min`/`max` (continuous and count outcomes).
pub(super) fn clamp_to_range(value: OutcomeValue, outcome: &OutcomeSpec) -> OutcomeValue {
    let lo = outcome.min.unwrap_or(f64::NEG_INFINITY);
    let hi = outcome.max.unwrap_or(f64::INFINITY);
    match value {
        OutcomeValue::Continuous { value } => OutcomeValue::Continuous {
            value: value.clamp(lo, hi),
        },
        OutcomeValue::Count { events, exposure } => OutcomeValue::Count {
            // Saturating float-to-integer casts; the engine refuses nothing in range.
            events: (events as f64).clamp(lo.ceil().max(0.0), hi.floor()) as u64,
            exposure,
        },
        binary @ OutcomeValue::Binary { .. } => binary,
    }
}
