//! The records a precision design adds to its events: a participant's biomarker values, and a
//! look's results per stratum and per signature. Plain data: the engine computes them
//! (`super::precision`) and every reader maps them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::ArmId;

/// A participant's biomarker values, biomarker id → level, as entered at enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Biomarkers(pub BTreeMap<String, String>);

impl Biomarkers {
    /// `HR=pos HER2=neg`: each value as `id=level`, in the order of the ids.
    pub fn words(&self) -> String {
        self.0
            .iter()
            .map(|(id, level)| format!("{id}={level}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One arm's posterior in one stratum at a look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StratumAnalysis {
    /// The arm.
    pub arm: ArmId,
    /// The stratum (index among the protocol's eligible strata).
    pub stratum: u32,
    /// The arm's participants in the stratum with an outcome.
    pub n: u32,
    /// Posterior mean of the response rate.
    pub mean: f64,
    /// Posterior SD of the response rate.
    pub sd: f64,
    /// P(arm better than the control in the stratum) (designs with a control, other arms), or
    /// P(arm best among the arms open in the stratum) (designs without one).
    pub p_allocation: Option<f64>,
}

/// One arm's predictive probability of success in one signature at a look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignatureAnalysis {
    /// The arm.
    pub arm: ArmId,
    /// The signature's id.
    pub signature: String,
    /// The arm's participants with an outcome in the signature's strata where it may enrol.
    pub n: u32,
    /// Posterior mean of the signature's effect (arm's rate − control's rate, prevalence
    /// weighted).
    pub effect_mean: f64,
    /// Its posterior SD.
    pub effect_sd: f64,
    /// The predictive probability that the confirmatory trial succeeds in the signature.
    pub probability: f64,
}
