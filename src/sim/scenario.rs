//! Scenarios: the truth a simulated trial is run against, from a protocol's `[[scenario]]` table
//! with optional `--truth ARM=VALUE` overrides.

use serde::Serialize;

use super::trial::{clamp_to_range, outcome_value};
use super::SimError;
use crate::engine::OutcomeValue;
use crate::protocol::{ArmId, DelaySpec, OutcomeKind, Protocol};

/// A scenario resolved against the protocol's arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimScenario {
    /// Scenario name.
    pub name: String,
    /// True parameter per protocol arm (same order as `protocol.arms`).
    pub truth: Vec<f64>,
    /// Residual SD for continuous outcomes.
    pub sd: Option<f64>,
    /// Mean participants per week (Poisson arrivals).
    pub accrual_per_week: f64,
    /// Outcome delay.
    pub delay: DelaySpec,
    /// Probability a participant never gives an outcome.
    pub dropout: f64,
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
        Ok(Self {
            name: scenario.name.clone(),
            truth,
            sd: scenario.sd,
            accrual_per_week: scenario.accrual_per_week,
            delay: scenario.outcome_delay,
            dropout: scenario.dropout,
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
