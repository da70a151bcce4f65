//! Simulation: Monte Carlo of the trial engine over synthetic participants, and the operating
//! characteristics of a design (type I error, power, sample size, allocation).
//!
//! The simulator drives the same [`crate::engine::Engine`] that runs live trials and holds no
//! copy of any rule. Replicate r uses seeds derived from (simulation seed, r) only, and results
//! are aggregated in replicate order, so the output is identical with any number of threads.

mod calibrate;
mod metrics;
mod report;
mod scenario;
mod trial;

pub use calibrate::{calibrate, Calibration, CalibrationError, Probe};
pub use metrics::{Mcse, Metrics, SizeHistogram, Spread};
pub use report::{render_html, PALETTE};
pub use scenario::SimScenario;
pub use trial::{simulate_trial, trial_seed, Conclusion, Selection, TrialOutcome, Workspace};

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::{Engine, EngineError, TrialSeed};
use crate::protocol::Protocol;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario does not exist.
    #[error("no scenario named {name:?} (available: {available})")]
    Scenario {
        /// The name asked for.
        name: String,
        /// The scenarios the protocol has.
        available: String,
    },
    /// A true value is missing or invalid.
    #[error("truth for arm {arm}: {problem}")]
    Truth {
        /// The arm.
        arm: String,
        /// What is wrong.
        problem: String,
    },
    /// The engine refused a command (a bug in the protocol/engine pairing if it happens).
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Threads(String),
    /// An invariant of the simulator failed.
    #[error("internal: {0}")]
    Internal(&'static str),
    /// The HTML report could not be rendered.
    #[error("report: {0}")]
    Report(String),
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulationPlan {
    /// The scenario.
    pub scenario: SimScenario,
    /// Replicates.
    pub reps: u64,
    /// Simulation seed.
    pub seed: u64,
    /// Worker threads (1 = run on the calling thread).
    pub threads: usize,
    /// Selection rule for `prob_select`.
    pub selection: Selection,
}

/// The result of a simulation, as written by `simulate --json`.
#[derive(Debug, Clone, Serialize)]
pub struct SimulationReport {
    /// Replicates.
    pub reps: u64,
    /// Simulation seed.
    pub seed: u64,
    /// Canonical hash of the protocol.
    pub protocol_hash: String,
    /// The protocol's trial id.
    pub protocol_id: String,
    /// Scenario name.
    pub scenario: String,
    /// True value per arm.
    pub truth: std::collections::BTreeMap<String, f64>,
    /// Selection rule.
    pub selection: Selection,
    /// Operating characteristics.
    pub metrics: Metrics,
}

/// Runs every replicate; `progress` is called once per finished replicate (from any thread).
pub fn run_replicates(
    protocol: &Protocol,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<TrialOutcome>, SimError> {
    let one = |(engine, workspace): &mut (Engine<'_>, Workspace), rep: u64| {
        let outcome = simulate_trial(engine, workspace, &plan.scenario, plan.seed, rep);
        progress();
        outcome
    };
    let init = || {
        (
            Engine::new(protocol, TrialSeed::from_u64(0)),
            Workspace::default(),
        )
    };
    if plan.threads <= 1 {
        let mut scratch = init();
        return (0..plan.reps).map(|rep| one(&mut scratch, rep)).collect();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .map_err(|e| SimError::Threads(e.to_string()))?;
    pool.install(|| {
        (0..plan.reps)
            .into_par_iter()
            .map_init(init, one)
            .collect::<Result<Vec<_>, _>>()
    })
}

/// Simulates `plan` and aggregates the operating characteristics.
#[tracing::instrument(skip_all, fields(trial = %protocol.trial.id, scenario = %plan.scenario.name, reps = plan.reps))]
pub fn simulate(
    protocol: &Protocol,
    protocol_hash: &str,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
) -> Result<SimulationReport, SimError> {
    let trials = run_replicates(protocol, plan, progress)?;
    let metrics = Metrics::aggregate(protocol, &plan.scenario.truth, plan.selection, &trials);
    Ok(SimulationReport {
        reps: plan.reps,
        seed: plan.seed,
        protocol_hash: protocol_hash.to_owned(),
        protocol_id: protocol.trial.id.clone(),
        scenario: plan.scenario.name.clone(),
        truth: protocol
            .arms
            .iter()
            .zip(&plan.scenario.truth)
            .map(|(a, &v)| (a.id.to_string(), v))
            .collect(),
        selection: plan.selection,
        metrics,
    })
}
