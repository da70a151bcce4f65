//! A precision trial's results per stratum and per signature, for the roles that see results:
//! mapped from the last look the engine performed and from the strata it folded (participants
//! per stratum, the allocation in force, graduations). Nothing here decides or computes a rule.

use serde::Serialize;

use crate::engine::history::History;
use crate::engine::TrialState;
use crate::protocol::precision::Precision;

/// One arm in one stratum.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StratumArm {
    /// The arm.
    pub arm: String,
    /// Whether the arm may enrol the stratum.
    pub eligible: bool,
    /// Whether it still enrols there (not graduated there, not full, not dropped).
    pub open: bool,
    /// Its participants there with an outcome, at the last look.
    pub n: Option<u32>,
    /// Posterior mean of its response rate there, at the last look.
    pub mean: Option<f64>,
    /// Its posterior SD.
    pub sd: Option<f64>,
    /// P(better than the control there), or P(best there) without a control, at the last look.
    pub p_allocation: Option<f64>,
    /// Its allocation probability in force there (adaptive phase).
    pub allocation: Option<f64>,
}

/// One stratum.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StratumResult {
    /// `HR=neg HER2=pos …`.
    pub label: String,
    /// Participants enrolled in it.
    pub enrolled: u32,
    /// Whether it enrols now (some experimental arm is open there).
    pub enrolling: bool,
    /// Every arm, in arm order.
    pub arms: Vec<StratumArm>,
}

/// One arm in one signature.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignatureArm {
    /// The arm.
    pub arm: String,
    /// Its participants with an outcome in the signature's strata, at the last look.
    pub n: u32,
    /// Posterior mean of the signature's effect (arm − control).
    pub effect_mean: f64,
    /// Its posterior SD.
    pub effect_sd: f64,
    /// The predictive probability of success in the signature, at the last look.
    pub probability: f64,
    /// The look at which it graduated here.
    pub graduated_at: Option<u32>,
}

/// One signature.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignatureResult {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its strata as written.
    pub written: String,
    /// The arms assessed in it at the last look.
    pub arms: Vec<SignatureArm>,
}

/// A precision trial's results per stratum and signature.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrecisionResults {
    /// The look the posteriors and probabilities are from (none yet: absent).
    pub last_look: Option<u32>,
    /// Per stratum.
    pub strata: Vec<StratumResult>,
    /// Per signature.
    pub signatures: Vec<SignatureResult>,
    /// The graduation threshold (none without `[graduation]`).
    pub threshold: Option<f64>,
    /// The futility threshold.
    pub futility: Option<f64>,
}

/// The precision results of a trial's state and history.
pub(super) fn precision_results<R>(
    precision: &Precision,
    state: &TrialState,
    history: &History<R>,
) -> Option<PrecisionResults> {
    let strata = state.strata.as_ref()?;
    let look = history.looks.last();
    let per_stratum = precision
        .strata
        .iter()
        .enumerate()
        .map(|(s, stratum)| {
            let in_force = strata.allocation[s].as_deref().unwrap_or_default();
            let arms = state
                .arms
                .iter()
                .enumerate()
                .map(|(a, arm)| {
                    let analysis = look.and_then(|l| {
                        l.strata
                            .iter()
                            .find(|x| x.stratum as usize == s && x.arm == arm.id)
                    });
                    StratumArm {
                        arm: arm.id.to_string(),
                        eligible: strata.eligible[a].contains(s),
                        open: state.stratum_open(s) && state.open_in(s).any(|o| o == a),
                        n: analysis.map(|x| x.n),
                        mean: analysis.map(|x| x.mean),
                        sd: analysis.map(|x| x.sd),
                        p_allocation: analysis.and_then(|x| x.p_allocation),
                        allocation: in_force
                            .iter()
                            .find(|share| share.arm == arm.id)
                            .map(|share| share.probability),
                    }
                })
                .collect();
            StratumResult {
                label: stratum.label.clone(),
                enrolled: strata.enrolled[s],
                enrolling: state.stratum_open(s),
                arms,
            }
        })
        .collect();
    let signatures = precision
        .signatures
        .iter()
        .enumerate()
        .map(|(g, signature)| SignatureResult {
            id: signature.id.clone(),
            name: signature.name.clone(),
            written: signature.written.clone(),
            arms: look
                .iter()
                .flat_map(|l| l.signatures.iter())
                .filter(|x| x.signature == signature.id)
                .map(|x| SignatureArm {
                    arm: x.arm.to_string(),
                    n: x.n,
                    effect_mean: x.effect_mean,
                    effect_sd: x.effect_sd,
                    probability: x.probability,
                    graduated_at: strata
                        .graduated
                        .iter()
                        .find(|d| d.signature == g && state.arms[d.arm].id == x.arm)
                        .map(|d| d.look),
                })
                .collect(),
        })
        .collect();
    Some(PrecisionResults {
        last_look: look.map(|l| l.look),
        strata: per_stratum,
        signatures,
        threshold: precision.graduation.map(|g| g.threshold),
        futility: precision.graduation.map(|g| g.futility),
    })
}
