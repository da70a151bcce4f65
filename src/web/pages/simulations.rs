//! Simulation jobs started from a trial's page, their progress and their reports.

use super::{call, html, see_other, Chrome, CsrfForm, Page};
use crate::service::Permission;
use crate::service::ServiceError;
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::jobs::{Job, JobRequest, JobState};
use crate::web::AppState;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct SimulateForm {
    #[serde(default)]
    csrf: String,
    scenario: String,
    reps: String,
    seed: String,
    /// The protocol version to simulate (default: the one in force); a pending amendment's
    /// may be simulated before it is signed.
    #[serde(default)]
    version: String,
}

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
    let number = |field: &'static str, text: &str| {
        text.trim().parse::<u64>().map_err(|_| {
            WebError::Service(ServiceError::Invalid {
                field,
                problem: format!("{text:?} is not a whole number"),
            })
        })
    };
    let reps = number("reps", &form.reps)?;
    let seed = number("seed", &form.seed)?;
    let (actor, trial) = (user.actor.clone(), id.clone());
    let version = match form.version.trim() {
        "" => None,
        text => Some(text.parse::<i32>().map_err(|_| {
            WebError::Service(ServiceError::Invalid {
                field: "version",
                problem: format!("{text:?} is not a version number"),
            })
        })?),
    };
    let (protocol, version) = call(&state, move |s| match version {
        Some(version) => s.protocol_at(&actor, &trial, version),
        None => s.current_protocol(&actor, &trial),
    })
    .await?;
    let job = state.jobs.start(
        protocol,
        JobRequest {
            trial_id: id.clone(),
            version,
            scenario: form.scenario,
            reps,
            seed,
            started_by: user.actor.username.clone(),
        },
    )?;
    Ok(see_other(&format!(
        "/trials/{}/simulations/{}",
        crate::web::path_segment(&id),
        job.spec.id
    )))
}

#[derive(Template)]
#[template(path = "simulation.html")]
struct SimulationPage {
    chrome: Chrome,
    job: Arc<Job>,
    percent: u64,
    running: bool,
    summary: Option<String>,
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
    let (running, summary, failure) = match job.state() {
        JobState::Waiting | JobState::Running => (true, None, None),
        JobState::Finished { summary } => (false, Some(summary), None),
        JobState::Failed { reason } => (false, None, Some(reason)),
        JobState::Cancelled => (false, None, Some("cancelled".to_owned())),
    };
    html(&SimulationPage {
        chrome: Chrome::of(&user),
        percent: job.percent(),
        job,
        running,
        summary,
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
    Ok(see_other(&format!("/trials/{id}/simulations/{number}")))
}
