//! Simulation jobs started from the browser: each runs `sim::simulate_scenario` on its own thread
//! (the same engine the trial runs on) and reports progress; the finished report is kept in
//! memory for its page. Jobs live as long as the server process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::protocol::LoadedProtocol;
use crate::sim::{self, Selection, SimScenario, SimulationPlan};

/// Largest number of replicates a browser job may ask for.
pub const MAX_REPS: u64 = 100_000;

/// Where a job is.
#[derive(Debug, Clone)]
pub enum JobState {
    /// Running: `done` of `reps` replicates finished.
    Running,
    /// Finished: the HTML report and a one-line summary.
    Finished {
        /// The report page.
        html: String,
        /// Headline metrics.
        summary: String,
    },
    /// Failed, with the reason.
    Failed(String),
}

/// One simulation job.
#[derive(Debug)]
pub struct Job {
    /// Job number.
    pub id: u64,
    /// Trial.
    pub trial_id: String,
    /// Protocol version simulated.
    pub version: i32,
    /// Scenario name.
    pub scenario: String,
    /// Replicates.
    pub reps: u64,
    /// Seed.
    pub seed: u64,
    /// Who started it.
    pub started_by: String,
    /// Replicates finished.
    pub done: AtomicU64,
    /// State.
    pub state: Mutex<JobState>,
}

impl Job {
    /// Percent done.
    pub fn percent(&self) -> u64 {
        (self.done.load(Ordering::Relaxed) * 100)
            .checked_div(self.reps)
            .unwrap_or(100)
    }

    /// A copy of the state.
    pub fn state(&self) -> JobState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| JobState::Failed("the job's lock is poisoned".into()))
    }
}

/// Every job of this server process.
#[derive(Debug, Default)]
pub struct SimulationJobs {
    jobs: Mutex<Vec<Arc<Job>>>,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// Trial.
    pub trial_id: String,
    /// Version of the protocol.
    pub version: i32,
    /// Scenario name.
    pub scenario: String,
    /// Replicates.
    pub reps: u64,
    /// Seed.
    pub seed: u64,
    /// Who asks.
    pub started_by: String,
}

impl SimulationJobs {
    /// Starts a job on its own thread; errors in the request (unknown scenario, reps out of
    /// range) are returned at once.
    pub fn start(
        &self,
        protocol: LoadedProtocol,
        request: JobRequest,
        threads: usize,
    ) -> Result<Arc<Job>, String> {
        if request.reps == 0 || request.reps > MAX_REPS {
            return Err(format!("reps: must be 1 to {MAX_REPS}"));
        }
        let scenario = SimScenario::from_protocol(&protocol.protocol, &request.scenario, &[])
            .map_err(|e| format!("scenario: {e}"))?;
        let mut jobs = self.jobs.lock().map_err(|_| "job list lock poisoned")?;
        let job = Arc::new(Job {
            id: jobs.len() as u64 + 1,
            trial_id: request.trial_id,
            version: request.version,
            scenario: request.scenario,
            reps: request.reps,
            seed: request.seed,
            started_by: request.started_by,
            done: AtomicU64::new(0),
            state: Mutex::new(JobState::Running),
        });
        jobs.push(Arc::clone(&job));
        drop(jobs);
        let plan = SimulationPlan {
            scenario,
            reps: job.reps,
            seed: job.seed,
            threads,
            selection: Selection::BestRemaining,
        };
        let worker = Arc::clone(&job);
        std::thread::Builder::new()
            .name(format!("simulation-{}", job.id))
            .spawn(move || {
                let result = sim::simulate_scenario(
                    &protocol.protocol,
                    &protocol.hash.to_hex(),
                    &plan,
                    &|| {
                        worker.done.fetch_add(1, Ordering::Relaxed);
                    },
                )
                .map_err(|e| e.to_string())
                .and_then(|report| {
                    let html = sim::render_scenario_html(&protocol.protocol, &report)
                        .map_err(|e| e.to_string())?;
                    let summary = match &report {
                        sim::ScenarioReport::Platform(report) => {
                            let m = &report.metrics;
                            format!(
                                "P(conclusive) {:.3} ± {:.3}; P(superiority) {:.3} ± {:.3}; mean sample size {:.1}",
                                m.prob_conclusive,
                                m.mcse.prob_conclusive,
                                m.prob_superiority,
                                m.mcse.prob_superiority,
                                m.sample_size.mean
                            )
                        }
                        sim::ScenarioReport::Nof1(report) => {
                            let m = &report.nof1;
                            format!(
                                "per-patient power {}; false or wrong-direction benefit {:.3}; mean cycles {:.2}; series detects an effect {:.3}",
                                m.prob_correct_benefit
                                    .map_or_else(|| "— (no better treatment)".to_owned(), |p| format!("{p:.3}")),
                                m.prob_wrong_benefit,
                                m.cycles.mean,
                                m.series.prob_detect
                            )
                        }
                    };
                    Ok(JobState::Finished { html, summary })
                });
                let state = result.unwrap_or_else(JobState::Failed);
                if let Ok(mut slot) = worker.state.lock() {
                    *slot = state;
                }
            })
            .map_err(|e| format!("cannot start the simulation thread: {e}"))?;
        Ok(job)
    }

    /// The job numbered `id`.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs.lock().ok()?.iter().find(|j| j.id == id).cloned()
    }

    /// The jobs of a trial, newest first.
    pub fn of_trial(&self, trial_id: &str) -> Vec<Arc<Job>> {
        self.jobs
            .lock()
            .map(|jobs| {
                jobs.iter()
                    .rev()
                    .filter(|j| j.trial_id == trial_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}
