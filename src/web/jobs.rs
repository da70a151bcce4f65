//! Simulation jobs started from the browser: each runs `sim::simulate_scenario_until` (the same
//! engine the trial runs on) on its own thread and reports progress.
//!
//! Bounded: at most [`JobLimits::running`] jobs run and [`JobLimits::waiting`] wait; a request
//! beyond that is refused ([`JobError::Full`]), as is a job of more than
//! [`JobLimits::max_reps`] replicates. A job can be cancelled: the simulator reads its cancel
//! flag before every replicate. Every job is kept on disk in `DATA_DIR/simulations` (a 0700
//! folder): `N.json` (what was run, on which protocol id, version and hash, and how it ended)
//! and, once finished, `N.html` (the report), both 0600 and written atomically, so the list and
//! the reports survive a restart; a job that was waiting or running when the server stopped is
//! listed as interrupted. A job may carry a [`ReportStore`]: when it finishes, the store is
//! handed the report (the web passes one that stores it through the service, in the database,
//! tied to the protocol version simulated) and the job records the stored report's number.
//! Nothing here touches the database or the audit trail itself.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::protocol::LoadedProtocol;
use crate::sim::{self, Selection, SimError, SimScenario, SimulationPlan};

/// The folder of the data directory that holds the jobs.
pub const JOBS_DIR: &str = "simulations";

/// How many jobs may run and wait, and how big one may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// Jobs running at once.
    pub running: usize,
    /// Jobs waiting for a turn.
    pub waiting: usize,
    /// Replicates of one job.
    pub max_reps: u64,
}

impl Default for JobLimits {
    /// Two running, eight waiting, 100,000 replicates a job.
    fn default() -> Self {
        Self {
            running: 2,
            waiting: 8,
            max_reps: 100_000,
        }
    }
}

/// Why a job was not started, not found or not kept.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Too many replicates (or none).
    #[error("reps: {asked} is not 1 to {max} replicates (the most one job may run)")]
    Reps {
        /// What was asked.
        asked: u64,
        /// The bound.
        max: u64,
    },
    /// The scenario does not exist in the protocol.
    #[error("scenario: {0}")]
    Scenario(#[source] SimError),
    /// Running and waiting jobs are at their caps.
    #[error(
        "the simulation queue is full ({running} running, {waiting} waiting): try again when one finishes"
    )]
    Full {
        /// Jobs running.
        running: usize,
        /// Jobs waiting.
        waiting: usize,
    },
    /// The job's folder or files could not be written or read.
    #[error("simulation storage {path}: {source}")]
    Storage {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A job's stored record does not parse.
    #[error("simulation record {path}: {source}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The worker thread could not start.
    #[error("cannot start the simulation thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a turn.
    Waiting,
    /// Running.
    Running,
    /// Finished: a one-line summary (the report is `N.html`).
    Finished {
        /// Headline metrics.
        summary: String,
        /// The number of the report as stored by the job's [`ReportStore`], if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stored: Option<i64>,
    },
    /// Failed, with the reason.
    Failed {
        /// Why.
        reason: String,
    },
    /// Cancelled by a user.
    Cancelled,
}

impl JobState {
    /// Whether the job will not change any more.
    pub fn ended(&self) -> bool {
        match self {
            Self::Waiting | Self::Running => false,
            Self::Finished { .. } | Self::Failed { .. } | Self::Cancelled => true,
        }
    }
}

/// What a job runs, as stored in `N.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Job number.
    pub id: u64,
    /// Trial.
    pub trial_id: String,
    /// The protocol's trial id.
    pub protocol_id: String,
    /// Protocol version simulated.
    pub version: i32,
    /// The protocol's canonical hash (hex).
    pub protocol_hash: String,
    /// Scenario name.
    pub scenario: String,
    /// Replicates.
    pub reps: u64,
    /// Seed.
    pub seed: u64,
    /// Who started it.
    pub started_by: String,
}

#[derive(Serialize, Deserialize)]
struct JobRecord {
    #[serde(flatten)]
    spec: JobSpec,
    #[serde(flatten)]
    state: JobState,
}

/// One simulation job.
#[derive(Debug)]
pub struct Job {
    /// What it runs.
    pub spec: JobSpec,
    /// Replicates finished.
    done: AtomicU64,
    /// Set to stop it.
    cancel: AtomicBool,
    state: Mutex<JobState>,
}

impl Job {
    /// Percent of the replicates run (100 once finished; where it stopped when cancelled or
    /// failed).
    pub fn percent(&self) -> u64 {
        if matches!(self.state(), JobState::Finished { .. }) {
            return 100;
        }
        (self.done.load(Ordering::Relaxed) * 100)
            .checked_div(self.spec.reps)
            .unwrap_or(100)
            .min(100)
    }

    /// Where the job stands, in words: `waiting`, `running, 40 %`, `finished`, `cancelled at
    /// 12 %`, `failed at 3 %`.
    pub fn progress(&self) -> String {
        let percent = self.percent();
        match self.state() {
            JobState::Waiting => "waiting".into(),
            JobState::Running => format!("running, {percent} %"),
            JobState::Finished { .. } => "finished".into(),
            JobState::Cancelled => format!("cancelled at {percent} %"),
            JobState::Failed { .. } => format!("failed at {percent} %"),
        }
    }

    /// A copy of the state.
    pub fn state(&self) -> JobState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, state: JobState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

/// A finished simulation, handed to the job's [`ReportStore`].
#[derive(Debug, Clone, Copy)]
pub struct FinishedReport<'a> {
    /// What the job ran.
    pub spec: &'a JobSpec,
    /// The headline metrics in one line.
    pub summary: &'a str,
    /// The simulator's result (JSON).
    pub result_json: &'a str,
    /// The report page (HTML).
    pub report_html: &'a str,
}

/// Where a finished job's report goes: returns the stored report's number, or why it could
/// not be stored (the job then fails with that reason).
pub type ReportStore = Box<dyn FnOnce(FinishedReport<'_>) -> Result<i64, String> + Send>;

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

struct Pending {
    job: Arc<Job>,
    protocol: LoadedProtocol,
    plan: SimulationPlan,
    store: Option<ReportStore>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Arc<Job>>,
    waiting: VecDeque<Pending>,
    running: usize,
}

struct Shared {
    dir: PathBuf,
    limits: JobLimits,
    threads: usize,
    queue: Mutex<Queue>,
}

/// Every job of this server's data directory.
pub struct SimulationJobs {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimulationJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimulationJobs({})", self.shared.dir.display())
    }
}

fn storage(path: &Path) -> impl FnOnce(std::io::Error) -> JobError + '_ {
    move |source| JobError::Storage {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same folder, renamed), 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(storage(dir))?;
    // NamedTempFile creates its file 0600 on Unix.
    file.write_all(bytes).map_err(storage(path))?;
    file.as_file().sync_all().map_err(storage(path))?;
    file.persist(path).map_err(|e| JobError::Storage {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn report_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}.html"))
    }

    /// Stores the job's state; an error is logged (the job goes on in memory).
    fn save(&self, job: &Job) {
        let record = JobRecord {
            spec: job.spec.clone(),
            state: job.state(),
        };
        let path = self.record_path(job.spec.id);
        let saved = serde_json::to_vec_pretty(&record)
            .map_err(|source| JobError::Record {
                path: path.clone(),
                source,
            })
            .and_then(|bytes| write_private(&path, &bytes));
        if let Err(error) = saved {
            tracing::error!(%error, job = job.spec.id, "simulation job not saved");
        }
    }

    fn finish(&self, job: &Job, state: JobState) {
        job.set(state);
        self.save(job);
    }

    /// Starts `pending` on its own thread; when it ends, the next waiting job starts.
    fn spawn(self: &Arc<Self>, pending: Pending) -> Result<(), JobError> {
        let shared = Arc::clone(self);
        let job = Arc::clone(&pending.job);
        job.set(JobState::Running);
        self.save(&job);
        std::thread::Builder::new()
            .name(format!("simulation-{}", job.spec.id))
            .spawn(move || {
                let mut pending = pending;
                let state = shared.run(&mut pending);
                shared.next(&pending.job, state);
            })
            .map(|_| ())
            .map_err(JobError::Thread)
    }

    fn run(&self, pending: &mut Pending) -> JobState {
        let job = &pending.job;
        let span = tracing::info_span!("simulation", job = job.spec.id, trial = %job.spec.trial_id);
        let _entered = span.enter();
        let result = sim::simulate_scenario_until(
            &pending.protocol.protocol,
            &job.spec.protocol_hash,
            &pending.plan,
            &|| {
                job.done.fetch_add(1, Ordering::Relaxed);
            },
            &job.cancel,
        );
        let report = match result {
            Ok(report) => report,
            Err(SimError::Cancelled) => return JobState::Cancelled,
            Err(error) => {
                return JobState::Failed {
                    reason: error.to_string(),
                }
            }
        };
        let html = match sim::render_scenario_html(&pending.protocol.protocol, &report) {
            Ok(html) => html,
            Err(error) => {
                return JobState::Failed {
                    reason: error.to_string(),
                }
            }
        };
        if let Err(error) = write_private(&self.report_path(job.spec.id), html.as_bytes()) {
            tracing::error!(%error, "simulation report not saved");
            return JobState::Failed {
                reason: "the report could not be saved; the error has been logged".into(),
            };
        }
        let summary = summary(&report);
        let stored = match pending.store.take() {
            None => None,
            Some(store) => {
                let result_json = match serde_json::to_string(&report) {
                    Ok(json) => json,
                    Err(error) => {
                        return JobState::Failed {
                            reason: format!("the result could not be written as JSON: {error}"),
                        }
                    }
                };
                let finished = FinishedReport {
                    spec: &job.spec,
                    summary: &summary,
                    result_json: &result_json,
                    report_html: &html,
                };
                match store(finished) {
                    Ok(number) => Some(number),
                    Err(reason) => {
                        return JobState::Failed {
                            reason: format!("the report could not be stored: {reason}"),
                        }
                    }
                }
            }
        };
        JobState::Finished { summary, stored }
    }

    /// A running job ended with `state`: record it and, under the same lock (so that the
    /// count of running jobs never lags behind their states), start the next waiting one that
    /// was not cancelled.
    fn next(self: &Arc<Self>, ended: &Job, state: JobState) {
        let mut queue = self.lock();
        self.finish(ended, state);
        queue.running = queue.running.saturating_sub(1);
        while let Some(pending) = queue.waiting.pop_front() {
            if pending.job.cancel.load(Ordering::Relaxed) {
                self.finish(&pending.job, JobState::Cancelled);
                continue;
            }
            let job = Arc::clone(&pending.job);
            queue.running += 1;
            if let Err(error) = self.spawn(pending) {
                queue.running -= 1;
                self.finish(
                    &job,
                    JobState::Failed {
                        reason: error.to_string(),
                    },
                );
                continue;
            }
            break;
        }
    }
}

fn summary(report: &sim::ScenarioReport) -> String {
    match report {
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
    }
}

impl SimulationJobs {
    /// The jobs kept in `data_dir/simulations` (created 0700 when missing), with `limits`;
    /// each job runs on `threads` threads. Jobs that were waiting or running when the server
    /// stopped are listed as failed ("interrupted").
    pub fn open(data_dir: &Path, limits: JobLimits, threads: usize) -> Result<Self, JobError> {
        let dir = data_dir.join(JOBS_DIR);
        std::fs::create_dir_all(&dir).map_err(storage(&dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(storage(&dir))?;
        }
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            limits,
            threads: threads.max(1),
            queue: Mutex::new(Queue::default()),
        });
        let mut jobs = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(storage(&dir))? {
            let path = entry.map_err(storage(&dir))?.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(storage(&path))?;
            let record: JobRecord =
                serde_json::from_slice(&bytes).map_err(|source| JobError::Record {
                    path: path.clone(),
                    source,
                })?;
            let job = Arc::new(Job {
                spec: record.spec,
                done: AtomicU64::new(0),
                cancel: AtomicBool::new(false),
                state: Mutex::new(record.state),
            });
            if !job.state().ended() {
                shared.finish(
                    &job,
                    JobState::Failed {
                        reason: "interrupted: the server stopped before the job finished".into(),
                    },
                );
            }
            jobs.push(job);
        }
        jobs.sort_by_key(|job| job.spec.id);
        shared.lock().jobs = jobs;
        Ok(Self { shared })
    }

    /// The limits in force.
    pub fn limits(&self) -> JobLimits {
        self.shared.limits
    }

    /// Queues a job (it starts at once when fewer than [`JobLimits::running`] run). Errors in
    /// the request (replicates out of range, unknown scenario) and a full queue are returned
    /// at once, before anything is stored.
    pub fn start(
        &self,
        protocol: LoadedProtocol,
        request: JobRequest,
    ) -> Result<Arc<Job>, JobError> {
        self.start_storing(protocol, request, None)
    }

    /// [`SimulationJobs::start`], handing the finished report to `store`.
    pub fn start_storing(
        &self,
        protocol: LoadedProtocol,
        request: JobRequest,
        store: Option<ReportStore>,
    ) -> Result<Arc<Job>, JobError> {
        let limits = self.shared.limits;
        if request.reps == 0 || request.reps > limits.max_reps {
            return Err(JobError::Reps {
                asked: request.reps,
                max: limits.max_reps,
            });
        }
        let scenario = SimScenario::from_protocol(&protocol.protocol, &request.scenario, &[])
            .map_err(JobError::Scenario)?;
        let mut queue = self.shared.lock();
        if queue.running >= limits.running && queue.waiting.len() >= limits.waiting {
            return Err(JobError::Full {
                running: queue.running,
                waiting: queue.waiting.len(),
            });
        }
        let id = queue.jobs.last().map_or(1, |job| job.spec.id + 1);
        let job = Arc::new(Job {
            spec: JobSpec {
                id,
                trial_id: request.trial_id,
                protocol_id: protocol.protocol.trial.id.clone(),
                version: request.version,
                protocol_hash: protocol.hash.to_hex(),
                scenario: request.scenario,
                reps: request.reps,
                seed: request.seed,
                started_by: request.started_by,
            },
            done: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            state: Mutex::new(JobState::Waiting),
        });
        let plan = SimulationPlan {
            scenario,
            reps: job.spec.reps,
            seed: job.spec.seed,
            threads: self.shared.threads,
            selection: Selection::BestRemaining,
        };
        queue.jobs.push(Arc::clone(&job));
        let pending = Pending {
            job: Arc::clone(&job),
            protocol,
            plan,
            store,
        };
        if queue.running < limits.running {
            queue.running += 1;
            if let Err(error) = self.shared.spawn(pending) {
                queue.running -= 1;
                self.shared.finish(
                    &job,
                    JobState::Failed {
                        reason: error.to_string(),
                    },
                );
                return Err(error);
            }
        } else {
            self.shared.save(&job);
            queue.waiting.push_back(pending);
        }
        Ok(job)
    }

    /// Asks job `id` to stop: a waiting job is cancelled at once, a running one before its
    /// next replicate. Whether the job was still going.
    pub fn cancel(&self, id: u64) -> bool {
        let mut queue = self.shared.lock();
        let Some(job) = queue.jobs.iter().find(|j| j.spec.id == id).cloned() else {
            return false;
        };
        if job.state().ended() {
            return false;
        }
        job.cancel.store(true, Ordering::Relaxed);
        if let Some(at) = queue.waiting.iter().position(|p| p.job.spec.id == id) {
            queue.waiting.remove(at);
            self.shared.finish(&job, JobState::Cancelled);
        }
        true
    }

    /// The job numbered `id`.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.shared
            .lock()
            .jobs
            .iter()
            .find(|j| j.spec.id == id)
            .cloned()
    }

    /// The finished report of job `id`, read from disk.
    pub fn report(&self, id: u64) -> Result<String, JobError> {
        let path = self.shared.report_path(id);
        std::fs::read_to_string(&path).map_err(storage(&path))
    }

    /// The jobs of a trial, newest first.
    pub fn of_trial(&self, trial_id: &str) -> Vec<Arc<Job>> {
        self.shared
            .lock()
            .jobs
            .iter()
            .rev()
            .filter(|j| j.spec.trial_id == trial_id)
            .cloned()
            .collect()
    }
}
