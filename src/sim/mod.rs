//! Simulation: Monte Carlo of the trial engine over synthetic participants, and the operating
//! characteristics of a design (type I error, power, sample size, allocation).
//!
//! The simulator drives the same [`crate::engine::Engine`] that runs live trials and holds no
//! copy of any rule. Replicate r uses seeds derived from (simulation seed, r) only, and results
//! are aggregated in replicate order, so the output is identical with any number of threads.
//!
//! Platform protocols give [`Metrics`] ([`simulate`]); n-of-1 protocols give per-patient and
//! per-series [`Nof1Metrics`] ([`simulate_nof1`]); [`simulate_scenario`] picks by the design.

mod calibrate;
mod metrics;
mod nof1;
mod nof1_metrics;
mod report;
mod scenario;
mod strata;
mod trial;

pub use calibrate::{calibrate, Calibrated, Calibration, CalibrationError, Probe};
pub use metrics::{Mcse, Metrics, SizeHistogram, Spread};
pub use nof1::{
    simulate_series, Nof1Outcome, Nof1Workspace, PatientConclusion, PatientOutcome, SeriesOutcome,
    FINAL_LOOK_BENEFIT,
};
pub use nof1_metrics::{
    Estimate, Nof1Mcse, Nof1Metrics, SeriesMcse, SeriesMetrics, SERIES_THRESHOLD,
};
pub use report::{render_html, render_nof1_html, render_scenario_html, PALETTE};
pub use scenario::SimScenario;
pub use strata::StratumAllocation;
pub use trial::{
    simulate_trial, trial_seed, Conclusion, Selection, StrataOutcome, TrialOutcome, Workspace,
};

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::{Engine, EngineError, TrialSeed};
use crate::protocol::{Design, Protocol};

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
    /// The caller's cancel flag was set; replicates stopped at the next one to start.
    #[error("cancelled")]
    Cancelled,
    /// The protocol's design has other operating characteristics than the ones asked for.
    #[error("{0}")]
    Design(String),
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
    /// Selection rule for `prob_select` (platform designs; n-of-1 designs select nothing).
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

/// A cancel flag nobody sets (the simulations that cannot be cancelled).
static NEVER: AtomicBool = AtomicBool::new(false);

/// Runs `one` on replicates 0..reps, each with a per-thread scratch value from `init`, on
/// `plan.threads` threads; the results come back in replicate order. `cancel` is read before
/// each replicate: once set, no replicate starts and the answer is [`SimError::Cancelled`].
fn run_parallel<S, T, I, F>(
    plan: &SimulationPlan,
    cancel: &AtomicBool,
    init: I,
    one: F,
) -> Result<Vec<T>, SimError>
where
    T: Send,
    I: Fn() -> S + Send + Sync,
    F: Fn(&mut S, u64) -> Result<T, SimError> + Send + Sync,
{
    let one = |scratch: &mut S, rep: u64| {
        if cancel.load(Ordering::Relaxed) {
            return Err(SimError::Cancelled);
        }
        one(scratch, rep)
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

/// Runs every replicate of a platform protocol; `progress` is called once per finished
/// replicate (from any thread).
pub fn run_replicates(
    protocol: &Protocol,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<TrialOutcome>, SimError> {
    run_replicates_until(protocol, plan, progress, &NEVER)
}

fn run_replicates_until(
    protocol: &Protocol,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
    cancel: &AtomicBool,
) -> Result<Vec<TrialOutcome>, SimError> {
    run_parallel(
        plan,
        cancel,
        || {
            (
                Engine::new(protocol, TrialSeed::from_u64(0)),
                Workspace::default(),
            )
        },
        |(engine, workspace): &mut (Engine<'_>, Workspace), rep| {
            let outcome = simulate_trial(engine, workspace, &plan.scenario, plan.seed, rep);
            progress();
            outcome
        },
    )
}

/// Runs every replicate (one series of `max_participants` patients each) of an n-of-1
/// protocol; `progress` is called once per finished replicate (from any thread).
pub fn run_nof1_replicates(
    protocol: &Protocol,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Nof1Outcome>, SimError> {
    run_nof1_replicates_until(protocol, plan, progress, &NEVER)
}

fn run_nof1_replicates_until(
    protocol: &Protocol,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
    cancel: &AtomicBool,
) -> Result<Vec<Nof1Outcome>, SimError> {
    run_parallel(
        plan,
        cancel,
        || {
            (
                Engine::new(protocol, TrialSeed::from_u64(0)),
                Nof1Workspace::default(),
            )
        },
        |(engine, workspace): &mut (Engine<'_>, Nof1Workspace), rep| {
            let outcome = simulate_series(engine, workspace, &plan.scenario, plan.seed, rep);
            progress();
            outcome
        },
    )
}

/// Simulates `plan` on a platform protocol and aggregates the operating characteristics
/// (n-of-1 protocols: [`simulate_nof1`]).
#[tracing::instrument(skip_all, fields(trial = %protocol.trial.id, scenario = %plan.scenario.name, reps = plan.reps))]
pub fn simulate(
    protocol: &Protocol,
    protocol_hash: &str,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
) -> Result<SimulationReport, SimError> {
    simulate_until(protocol, protocol_hash, plan, progress, &NEVER)
}

fn simulate_until(
    protocol: &Protocol,
    protocol_hash: &str,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
    cancel: &AtomicBool,
) -> Result<SimulationReport, SimError> {
    if protocol.trial.design == Design::Nof1 {
        return Err(SimError::Design(format!(
            "{} is an n-of-1 protocol: the n-of-1 simulator gives its operating \
             characteristics, per patient and per series",
            protocol.trial.id
        )));
    }
    let trials = run_replicates_until(protocol, plan, progress, cancel)?;
    let metrics = Metrics::aggregate(protocol, &plan.scenario.truth, plan.selection, &trials);
    Ok(SimulationReport {
        reps: plan.reps,
        seed: plan.seed,
        protocol_hash: protocol_hash.to_owned(),
        protocol_id: protocol.trial.id.clone(),
        scenario: plan.scenario.name.clone(),
        truth: truth_by_arm(protocol, &plan.scenario),
        selection: plan.selection,
        metrics,
    })
}

/// The result of simulating an n-of-1 protocol, as written by `simulate --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Nof1SimulationReport {
    /// Replicates (series).
    pub reps: u64,
    /// Simulation seed.
    pub seed: u64,
    /// Canonical hash of the protocol.
    pub protocol_hash: String,
    /// The protocol's trial id.
    pub protocol_id: String,
    /// Scenario name.
    pub scenario: String,
    /// True value per treatment.
    pub truth: std::collections::BTreeMap<String, f64>,
    /// Per-patient and per-series operating characteristics.
    pub nof1: Nof1Metrics,
}

/// Simulates `plan` on an n-of-1 protocol and aggregates its operating characteristics.
#[tracing::instrument(skip_all, fields(trial = %protocol.trial.id, scenario = %plan.scenario.name, reps = plan.reps))]
pub fn simulate_nof1(
    protocol: &Protocol,
    protocol_hash: &str,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
) -> Result<Nof1SimulationReport, SimError> {
    simulate_nof1_until(protocol, protocol_hash, plan, progress, &NEVER)
}

fn simulate_nof1_until(
    protocol: &Protocol,
    protocol_hash: &str,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
    cancel: &AtomicBool,
) -> Result<Nof1SimulationReport, SimError> {
    if protocol.nof1.is_none() {
        return Err(SimError::Design(format!(
            "{} is a platform protocol, not an n-of-1 protocol",
            protocol.trial.id
        )));
    }
    let series = run_nof1_replicates_until(protocol, plan, progress, cancel)?;
    Ok(Nof1SimulationReport {
        reps: plan.reps,
        seed: plan.seed,
        protocol_hash: protocol_hash.to_owned(),
        protocol_id: protocol.trial.id.clone(),
        scenario: plan.scenario.name.clone(),
        truth: truth_by_arm(protocol, &plan.scenario),
        nof1: Nof1Metrics::aggregate(protocol, &plan.scenario.truth, &series),
    })
}

/// A simulation of either design.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ScenarioReport {
    /// A platform protocol's.
    Platform(SimulationReport),
    /// An n-of-1 protocol's.
    Nof1(Nof1SimulationReport),
}

/// Simulates `plan` with the simulator of the protocol's design.
pub fn simulate_scenario(
    protocol: &Protocol,
    protocol_hash: &str,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
) -> Result<ScenarioReport, SimError> {
    simulate_scenario_until(protocol, protocol_hash, plan, progress, &NEVER)
}

/// [`simulate_scenario`] that stops when `cancel` is set: the flag is read before every
/// replicate, so a cancelled run ends within one replicate per thread, with
/// [`SimError::Cancelled`].
pub fn simulate_scenario_until(
    protocol: &Protocol,
    protocol_hash: &str,
    plan: &SimulationPlan,
    progress: &(dyn Fn() + Sync),
    cancel: &AtomicBool,
) -> Result<ScenarioReport, SimError> {
    match protocol.trial.design {
        Design::Platform => simulate_until(protocol, protocol_hash, plan, progress, cancel)
            .map(ScenarioReport::Platform),
        Design::Nof1 => simulate_nof1_until(protocol, protocol_hash, plan, progress, cancel)
            .map(ScenarioReport::Nof1),
    }
}

fn truth_by_arm(
    protocol: &Protocol,
    scenario: &SimScenario,
) -> std::collections::BTreeMap<String, f64> {
    protocol
        .arms
        .iter()
        .zip(&scenario.truth)
        .map(|(a, &v)| (a.id.to_string(), v))
        .collect()
}
