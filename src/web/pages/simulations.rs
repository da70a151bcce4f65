//! Simulations of a trial's protocol versions: the simulate form (any version, also an
//! amendment awaiting approval), the jobs and their progress, and the stored reports that
//! justify a version.

use super::{call, done, form_again, html, Chrome, CsrfForm, FormError, Page};
use crate::service::{NewSimulationReport, Permission, ServiceError, SimulationReportInfo};
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::jobs::{FinishedReport, Job, JobError, JobRequest, JobState, ReportStore};
use crate::web::notice::Notice;
use crate::web::{path_segment, AppState};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use std::sync::Arc;

/// The default number of replicates offered.
const DEFAULT_REPS: &str = "1000";
/// The default seed offered.
const DEFAULT_SEED: &str = "1";

/// The simulate form as sent (numbers as text: the handler parses them and names the field).
#[derive(Deserialize)]
struct SimulateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    reps: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    version: String,
}

/// `?version=N`: the protocol version to simulate (the current one when absent).
#[derive(Deserialize)]
struct SimulateQuery {
    version: Option<String>,
}

/// A protocol version number from a form or a query: 1 to `i32::MAX`.
fn version_of(text: &str) -> Result<Option<i32>, ServiceError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i32>()
        .ok()
        .filter(|&v| v >= 1)
        .map(Some)
        .ok_or_else(|| ServiceError::Invalid {
            field: "version",
            problem: format!("{text:?} is not a protocol version number (1, 2, …)"),
        })
}

#[derive(Template)]
#[template(path = "simulate.html")]
struct SimulatePage {
    chrome: Chrome,
    trial_id: String,
    version: i32,
    protocol_hash: String,
    scenarios: Vec<String>,
    scenario: String,
    reps: String,
    seed: String,
    max_reps: u64,
    form_error: Option<FormError>,
}

impl SimulatePage {
    /// Whether `name` is the scenario to show selected.
    fn selected(&self, name: &str) -> bool {
        self.scenario == name
    }
}

/// The simulate form for a version of a trial (`?version=N`; the current one by default).
#[get("/trials/{id}/simulate")]
pub(super) async fn simulate_form_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    query: web::Query<SimulateQuery>,
) -> Page {
    user.require(Permission::WriteProtocols)?;
    let id = path.into_inner();
    let version = version_of(query.version.as_deref().unwrap_or(""))?;
    let (actor, trial) = (user.actor.clone(), id.clone());
    let (protocol, version) = call(&state, move |s| {
        s.protocol_to_simulate(&actor, &trial, version)
    })
    .await?;
    let scenarios: Vec<String> = protocol
        .protocol
        .scenarios
        .iter()
        .map(|s| s.name.clone())
        .collect();
    html(&SimulatePage {
        chrome: Chrome::of(&user),
        trial_id: id,
        version,
        protocol_hash: protocol.hash.to_hex(),
        scenario: scenarios.first().cloned().unwrap_or_default(),
        scenarios,
        reps: DEFAULT_REPS.into(),
        seed: DEFAULT_SEED.into(),
        max_reps: state.jobs.limits().max_reps,
        form_error: None,
    })
}

/// A mistake in the simulate form that names its field.
fn field_error(field: &'static str, message: String) -> FormError {
    FormError {
        field: Some(field),
        message,
        status: StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The store a job of `user` hands its finished report to: the service, which ties it to the
/// protocol version simulated.
fn report_store(state: &web::Data<AppState>, user: &LoggedIn) -> ReportStore {
    let service = Arc::clone(&state.service);
    let actor = user.actor.clone();
    Box::new(move |finished: FinishedReport<'_>| {
        let report = NewSimulationReport {
            trial_id: finished.spec.trial_id.clone(),
            version: finished.spec.version,
            protocol_hash: finished.spec.protocol_hash.clone(),
            scenario: finished.spec.scenario.clone(),
            seed: finished.spec.seed,
            reps: finished.spec.reps,
            summary: finished.summary.to_owned(),
            result_json: finished.result_json.to_owned(),
            report_html: finished.report_html.to_owned(),
        };
        service
            .store_simulation_report(&actor, &report)
            .map_err(|error| {
                tracing::error!(%error, "simulation report not stored");
                error.to_string()
            })
    })
}

/// Starts a simulation of a protocol version (the form's `version`, the current one when
/// empty). A mistake (replicates, seed, scenario, version) shows the form again with its
/// message next to the field; a started job is confirmed on its page.
#[post("/trials/{id}/simulations")]
pub(super) async fn simulate_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<SimulateForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::WriteProtocols)?;
    let id = path.into_inner();
    let form = form.into_inner();
    let version = version_of(&form.version)?;
    let (actor, trial) = (user.actor.clone(), id.clone());
    let (protocol, version) = call(&state, move |s| {
        s.protocol_to_simulate(&actor, &trial, version)
    })
    .await?;
    let number = |field: &'static str, what: &str, text: &str| {
        text.trim()
            .parse::<u64>()
            .map_err(|_| field_error(field, format!("{what}: {text:?} is not a whole number")))
    };
    let limits = state.jobs.limits();
    let scenarios: Vec<String> = protocol
        .protocol
        .scenarios
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let protocol_hash = protocol.hash.to_hex();
    let started = number("reps", "replicates", &form.reps).and_then(|reps| {
        let seed = number("seed", "seed", &form.seed)?;
        let request = JobRequest {
            trial_id: id.clone(),
            version,
            scenario: form.scenario.clone(),
            reps,
            seed,
            started_by: user.actor.username.clone(),
        };
        match state
            .jobs
            .start_storing(protocol, request, Some(report_store(&state, &user)))
        {
            Ok(job) => Ok(Ok(job)),
            Err(error @ JobError::Reps { .. }) => Err(field_error("reps", error.to_string())),
            Err(JobError::Scenario(error)) => Err(field_error(
                "scenario",
                format!("scenario {:?}: {error}", form.scenario),
            )),
            Err(other) => Ok(Err(WebError::from(other))),
        }
    });
    match started {
        Ok(Ok(job)) => Ok(done(
            &user,
            &format!("/trials/{}/simulations/{}", path_segment(&id), job.spec.id),
            Notice::SimulationStarted,
        )),
        Ok(Err(error)) => Err(error),
        Err(form_error) => form_again(
            &form_error.clone(),
            &SimulatePage {
                chrome: Chrome::of(&user),
                trial_id: id,
                version,
                protocol_hash,
                scenarios,
                scenario: form.scenario,
                reps: form.reps,
                seed: form.seed,
                max_reps: limits.max_reps,
                form_error: Some(form_error),
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "simulation.html")]
struct SimulationPage {
    chrome: Chrome,
    job: Arc<Job>,
    percent: u64,
    running: bool,
    summary: Option<String>,
    stored: Option<i64>,
    failure: Option<String>,
}

fn job_of(state: &AppState, trial: &str, job: u64) -> Result<Arc<Job>, WebError> {
    state
        .jobs
        .get(job)
        .filter(|j| j.spec.trial_id == trial)
        .ok_or_else(|| WebError::NotFound(format!("no simulation {job} of trial {trial}")))
}

#[get("/trials/{id}/simulations/{job}")]
pub(super) async fn simulation_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, u64)>,
) -> Page {
    user.require(Permission::WriteProtocols)?;
    let (id, number) = path.into_inner();
    let job = job_of(&state, &id, number)?;
    let (running, summary, stored, failure) = match job.state() {
        JobState::Waiting | JobState::Running => (true, None, None, None),
        JobState::Finished { summary, stored } => (false, Some(summary), stored, None),
        JobState::Failed { reason } => (false, None, None, Some(reason)),
        JobState::Cancelled => (false, None, None, Some("cancelled".to_owned())),
    };
    html(&SimulationPage {
        chrome: Chrome::of(&user),
        percent: job.percent(),
        job,
        running,
        summary,
        stored,
        failure,
    })
}

#[get("/trials/{id}/simulations/{job}/report")]
pub(super) async fn simulation_report_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, u64)>,
) -> Page {
    user.require(Permission::WriteProtocols)?;
    let (id, number) = path.into_inner();
    let job = job_of(&state, &id, number)?;
    if !matches!(job.state(), JobState::Finished { .. }) {
        return Err(WebError::NotFound(format!(
            "simulation {number} has no report (yet)"
        )));
    }
    let jobs = Arc::clone(&state.jobs);
    let html = web::block(move || jobs.report(number)).await??;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Cancels a waiting or running simulation (POST with the CSRF token): a running one stops
/// before its next replicate.
#[post("/trials/{id}/simulations/{job}/cancel")]
pub(super) async fn cancel_simulation_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, u64)>,
    form: web::Form<CsrfForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::WriteProtocols)?;
    let (id, number) = path.into_inner();
    let job = job_of(&state, &id, number)?;
    if !state.jobs.cancel(job.spec.id) {
        return Err(
            ServiceError::Conflict(format!("simulation {number} has ended already")).into(),
        );
    }
    Ok(done(
        &user,
        &format!("/trials/{}/simulations/{number}", path_segment(&id)),
        Notice::SimulationCancelled,
    ))
}

#[derive(Template)]
#[template(path = "simulation_report.html")]
struct StoredReportPage {
    chrome: Chrome,
    report: SimulationReportInfo,
}

/// A stored simulation report: what it simulated, who ran it and when, and its headline.
#[get("/trials/{id}/simulation-reports/{number}")]
pub(super) async fn stored_report_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, i64)>,
) -> Page {
    let (id, number) = path.into_inner();
    let actor = user.actor.clone();
    let report = call(&state, move |s| s.simulation_report(&actor, &id, number)).await?;
    html(&StoredReportPage {
        chrome: Chrome::of(&user),
        report: report.info,
    })
}

/// The stored report's page itself (self-contained HTML, as the simulator rendered it).
#[get("/trials/{id}/simulation-reports/{number}/report.html")]
pub(super) async fn stored_report_html(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, i64)>,
) -> Page {
    let (id, number) = path.into_inner();
    let actor = user.actor.clone();
    let report = call(&state, move |s| s.simulation_report(&actor, &id, number)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(report.report_html))
}

/// The stored report's result, as the simulator wrote it (JSON).
#[get("/trials/{id}/simulation-reports/{number}/result.json")]
pub(super) async fn stored_report_json(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, i64)>,
) -> Page {
    let (id, number) = path.into_inner();
    let actor = user.actor.clone();
    let report = call(&state, move |s| s.simulation_report(&actor, &id, number)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(report.result_json))
}
