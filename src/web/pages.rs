//! The HTML pages: thin handlers that extract, check the role and the CSRF token, make one
//! service call in a blocking task, and render an askama template. No statistics and no SQL.

use std::sync::Arc;

use actix_multipart::form::bytes::Bytes as UploadBytes;
use actix_multipart::form::text::Text;
use actix_multipart::form::MultipartForm;
use actix_web::{get, post, web, HttpRequest, HttpResponse, Responder};
use askama::Template;
use serde::Deserialize;

use super::auth::{cookie, same_token, LoggedIn, LOGIN_COOKIE, SESSION_COOKIE};
use super::error::WebError;
use super::jobs::{Job, JobRequest, JobState};
use super::{charts, AppState};
use crate::protocol::{ArmId, LoadedProtocol, OutcomeKind, ProtocolError};
use crate::service::{
    Amendment, AssignmentView, AuditPage, Meaning, ParticipantDetail, ParticipantView, Role,
    Service, ServiceError, TrialListing, TrialView, VerifyReport,
};
use crate::store::{AuditQuery, AuditSort, CheckpointRow, UserListing};

type Page = Result<HttpResponse, WebError>;

/// Runs a service call on the blocking pool.
async fn call<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, WebError>
where
    F: FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    let service = Arc::clone(&state.service);
    Ok(web::block(move || f(&service)).await??)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location.to_owned()))
        .finish()
}

fn html<T: Template>(page: &T) -> Page {
    let body = page
        .render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// What every logged-in page shows around its content.
pub struct Chrome {
    /// User name.
    pub username: String,
    /// Current role.
    pub role: Role,
    /// CSRF token for the page's forms.
    pub csrf: String,
    /// Other roles the user may switch to (by logging in again).
    pub roles: Vec<Role>,
}

impl Chrome {
    fn of(user: &LoggedIn) -> Self {
        Self {
            username: user.actor.username.clone(),
            role: user.actor.role,
            csrf: user.csrf.clone(),
            roles: user.roles.clone(),
        }
    }

    /// Whether the role reads the audit trail.
    pub fn audit(&self) -> bool {
        self.role.reads_audit()
    }

    /// Whether the role is admin.
    pub fn admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the role is statistician.
    pub fn statistician(&self) -> bool {
        self.role == Role::Statistician
    }

    /// Whether the role is coordinator.
    pub fn coordinator(&self) -> bool {
        self.role == Role::Coordinator
    }

    /// Whether the role sees unblinded results.
    pub fn unblinded(&self) -> bool {
        self.role.sees_results()
    }

    /// Whether the role lists participants.
    pub fn participants(&self) -> bool {
        self.role.sees_participants()
    }

    /// Whether the role signs (statistician, DMC).
    pub fn signs(&self) -> bool {
        matches!(self.role, Role::Statistician | Role::Dmc)
    }
}

// ---------------------------------------------------------------- login, logout, account

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    username: String,
    problem: Option<String>,
}

fn render_login(
    req: &HttpRequest,
    state: &AppState,
    username: &str,
    problem: Option<String>,
    status: actix_web::http::StatusCode,
) -> Page {
    let csrf = state.service.new_token();
    let page = LoginPage {
        csrf: csrf.clone(),
        username: username.to_owned(),
        problem,
    };
    let body = page
        .render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .cookie(cookie(req, LOGIN_COOKIE, csrf))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

#[get("/")]
async fn home_page(req: HttpRequest) -> impl Responder {
    if req.cookie(SESSION_COOKIE).is_some() {
        see_other("/trials")
    } else {
        see_other("/login")
    }
}

#[get("/login")]
async fn login_form_page(req: HttpRequest, state: web::Data<AppState>) -> Page {
    render_login(&req, &state, "", None, actix_web::http::StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    csrf: String,
}

#[post("/login")]
async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Page {
    let form = form.into_inner();
    let expected = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    if !expected.is_some_and(|token| same_token(&token, &form.csrf)) {
        return Err(WebError::Csrf);
    }
    let role = match form.role.trim() {
        "" => None,
        text => Some(text.parse::<Role>()?),
    };
    let (username, password) = (form.username.clone(), form.password);
    let started = call(&state, move |s| s.start_session(&username, &password, role)).await;
    match started {
        Ok(session) => Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/trials"))
            .cookie(cookie(&req, SESSION_COOKIE, session.token))
            .finish()),
        Err(WebError::Service(
            error @ (ServiceError::Unauthorized(_) | ServiceError::Throttled(_)),
        )) => {
            let code = if matches!(error, ServiceError::Throttled(_)) {
                actix_web::http::StatusCode::TOO_MANY_REQUESTS
            } else {
                actix_web::http::StatusCode::UNAUTHORIZED
            };
            render_login(&req, &state, &form.username, Some(error.to_string()), code)
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[post("/logout")]
async fn logout_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<CsrfForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let token = user.token.clone();
    call(&state, move |s| s.end_session(&token)).await?;
    let mut gone = cookie(&req, SESSION_COOKIE, String::new());
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/login"))
        .cookie(gone)
        .finish())
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    problem: Option<String>,
}

#[get("/account")]
async fn account_page(user: LoggedIn) -> Page {
    html(&AccountPage {
        chrome: Chrome::of(&user),
        problem: None,
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

#[post("/account/password")]
async fn change_password_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<PasswordForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    if form.new != form.confirm {
        return Err(WebError::Service(ServiceError::Invalid {
            field: "confirm",
            problem: "the new password and its confirmation differ".into(),
        }));
    }
    let actor = user.actor.clone();
    call(&state, move |s| {
        s.change_password(&actor, &form.current, &form.new)
    })
    .await?;
    Ok(see_other("/login"))
}

// ---------------------------------------------------------------- trials

#[derive(Template)]
#[template(path = "trials.html")]
struct TrialsPage {
    chrome: Chrome,
    trials: Vec<TrialListing>,
}

#[get("/trials")]
async fn trials_page(state: web::Data<AppState>, user: LoggedIn) -> Page {
    let actor = user.actor.clone();
    let trials = call(&state, move |s| s.trials(&actor)).await?;
    html(&TrialsPage {
        chrome: Chrome::of(&user),
        trials,
    })
}

/// One line of the protocol editor, with the errors that point at it.
pub struct EditorLine {
    /// 1-based line number.
    pub number: usize,
    /// The text.
    pub text: String,
    /// Errors on this line.
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "trial_new.html")]
struct NewTrialPage {
    chrome: Chrome,
    source: String,
    lines: Vec<EditorLine>,
    general: Vec<String>,
    ok: Option<String>,
}

fn editor(
    chrome: Chrome,
    source: String,
    errors: &[ProtocolError],
    ok: Option<String>,
) -> NewTrialPage {
    let mut general = Vec::new();
    let mut lines: Vec<EditorLine> = source
        .lines()
        .enumerate()
        .map(|(i, text)| EditorLine {
            number: i + 1,
            text: text.to_owned(),
            errors: Vec::new(),
        })
        .collect();
    for error in errors {
        let message = if error.key_path.is_empty() {
            format!("line {}:{}: {}", error.line, error.column, error.message)
        } else {
            format!(
                "line {}:{}: {}: {}",
                error.line, error.column, error.key_path, error.message
            )
        };
        match lines.get_mut(error.line.wrapping_sub(1)) {
            Some(line) if error.line > 0 => line.errors.push(message),
            _ => general.push(error.to_string()),
        }
    }
    if errors.is_empty() {
        lines.clear();
    }
    NewTrialPage {
        chrome,
        source,
        lines,
        general,
        ok,
    }
}

#[get("/trials/new")]
async fn new_trial_page(user: LoggedIn) -> Page {
    user.require(&[Role::Statistician], "create trials")?;
    html(&editor(Chrome::of(&user), String::new(), &[], None))
}

/// The protocol editor's form: pasted text or an uploaded file.
#[derive(MultipartForm)]
struct ProtocolUpload {
    csrf: Option<Text<String>>,
    action: Option<Text<String>>,
    protocol: Option<Text<String>>,
    #[multipart(limit = "1MB")]
    protocol_file: Option<UploadBytes>,
}

#[post("/trials")]
async fn create_trial_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: MultipartForm<ProtocolUpload>,
) -> Page {
    let form = form.into_inner();
    user.check_csrf(form.csrf.as_ref().map_or("", |t| t.as_str()))?;
    user.require(&[Role::Statistician], "create trials")?;
    let uploaded = form
        .protocol_file
        .as_ref()
        .filter(|file| !file.data.is_empty())
        .map(|file| {
            String::from_utf8(file.data.to_vec()).map_err(|_| {
                WebError::BadRequest("protocol_file: the uploaded file is not UTF-8 text".into())
            })
        })
        .transpose()?;
    let origin = form
        .protocol_file
        .as_ref()
        .filter(|file| !file.data.is_empty())
        .and_then(|file| file.file_name.clone())
        .unwrap_or_else(|| "protocol".to_owned());
    let source = uploaded
        .or_else(|| form.protocol.map(|t| t.into_inner()))
        .unwrap_or_default();
    let create = form.action.is_some_and(|a| a.as_str() == "create");
    let chrome = Chrome::of(&user);
    if source.trim().is_empty() {
        let page = editor(chrome, source, &[], None);
        return html(&NewTrialPage {
            general: vec!["paste a protocol or choose a file".into()],
            ..page
        });
    }
    match LoadedProtocol::from_toml(&source, &origin) {
        Err(errors) => {
            let page = editor(chrome, source, errors.errors(), None);
            let body = page
                .render()
                .map_err(|e| WebError::Internal(format!("template: {e}")))?;
            Ok(HttpResponse::UnprocessableEntity()
                .content_type("text/html; charset=utf-8")
                .body(body))
        }
        Ok(loaded) if !create => {
            let ok = format!(
                "{} is valid: {} arms, protocol hash {}",
                loaded.protocol.trial.id,
                loaded.protocol.arms.len(),
                loaded.hash.to_hex()
            );
            html(&editor(chrome, source, &[], Some(ok)))
        }
        Ok(_) => {
            let actor = user.actor.clone();
            let summary = call(&state, move |s| s.create_trial(&actor, &source, &origin)).await?;
            Ok(see_other(&format!("/trials/{}", summary.id)))
        }
    }
}

#[derive(Template)]
#[template(path = "trial.html")]
struct TrialPage {
    chrome: Chrome,
    trial: TrialView,
    jobs: Vec<Arc<Job>>,
}

#[get("/trials/{id}")]
async fn trial_page(state: web::Data<AppState>, user: LoggedIn, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    let actor = user.actor.clone();
    let lookup = id.clone();
    let trial = call(&state, move |s| s.trial_view(&actor, &lookup, false)).await?;
    let jobs = if user.is(&[Role::Statistician]) {
        state.jobs.of_trial(&id)
    } else {
        Vec::new()
    };
    html(&TrialPage {
        chrome: Chrome::of(&user),
        trial,
        jobs,
    })
}

#[derive(Deserialize)]
struct SignForm {
    #[serde(default)]
    csrf: String,
    password: String,
    meaning: String,
}

#[post("/trials/{id}/sign")]
async fn sign_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<SignForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let id = path.into_inner();
    let meaning: Meaning = form.meaning.parse()?;
    let (actor, trial, password) = (user.actor.clone(), id.clone(), form.into_inner().password);
    call(&state, move |s| s.sign(&actor, &trial, meaning, &password)).await?;
    Ok(see_other(&format!("/trials/{id}")))
}

#[post("/trials/{id}/start")]
async fn start_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let id = path.into_inner();
    let (actor, trial) = (user.actor.clone(), id.clone());
    call(&state, move |s| s.start(&actor, &trial)).await?;
    Ok(see_other(&format!("/trials/{id}")))
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

#[post("/trials/{id}/{action:pause|resume|close}")]
async fn pause_resume_close_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    let (actor, trial, reason) = (user.actor.clone(), id.clone(), form.into_inner().reason);
    call(&state, move |s| match action.as_str() {
        "pause" => s.pause(&actor, &trial, &reason),
        "resume" => s.resume(&actor, &trial),
        _ => s.close(&actor, &trial, &reason),
    })
    .await?;
    Ok(see_other(&format!("/trials/{id}")))
}

#[derive(Deserialize)]
struct AmendForm {
    #[serde(default)]
    csrf: String,
    arm_id: String,
    arm_name: String,
    #[serde(default)]
    ratio: String,
    password: String,
    reason: String,
}

#[post("/trials/{id}/amend")]
async fn amend_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<AmendForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let id = path.into_inner();
    let form = form.into_inner();
    let arm = ArmId::parse(form.arm_id.trim()).map_err(|e| ServiceError::Invalid {
        field: "arm_id",
        problem: e.to_string(),
    })?;
    let ratio = match form.ratio.trim() {
        "" => 1,
        text => text
            .parse::<u32>()
            .ok()
            .filter(|&r| r >= 1)
            .ok_or_else(|| ServiceError::Invalid {
                field: "ratio",
                problem: format!("{text:?} is not a whole number ≥ 1"),
            })?,
    };
    if form.arm_name.trim().is_empty() {
        return Err(ServiceError::Invalid {
            field: "arm_name",
            problem: "give the new arm a name".into(),
        }
        .into());
    }
    let amendment = Amendment::AddArm {
        id: arm,
        name: form.arm_name.trim().to_owned(),
        ratio,
    };
    let (actor, trial) = (user.actor.clone(), id.clone());
    call(&state, move |s| {
        s.amend(&actor, &trial, &amendment, &form.password, &form.reason)
    })
    .await?;
    Ok(see_other(&format!("/trials/{id}")))
}

// ---------------------------------------------------------------- unblinded dashboard

/// A posterior row of the dashboard, formatted.
pub struct PosteriorLine {
    /// Arm id.
    pub arm: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
    /// Participants assigned.
    pub assigned: u32,
    /// With an outcome.
    pub n: u64,
    /// Mean.
    pub mean: String,
    /// SD.
    pub sd: String,
    /// 95% interval.
    pub ci: String,
}

/// A look row of the dashboard, formatted: one cell per arm of the header.
pub struct LookLine {
    /// Look number.
    pub look: u32,
    /// Outcomes.
    pub outcomes: u32,
    /// Enrolled.
    pub enrolled: u32,
    /// Comparison probability per arm (blank when the arm was not analysed).
    pub cells: Vec<String>,
    /// Decisions.
    pub decisions: Vec<String>,
}

fn fixed(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    trial: TrialView,
    comparison: &'static str,
    posteriors: Vec<PosteriorLine>,
    arms: Vec<String>,
    looks: Vec<LookLine>,
    posterior_svg: String,
    comparison_svg: String,
    allocation_svg: String,
}

#[get("/trials/{id}/dashboard")]
async fn dashboard_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    user.require(&[Role::Statistician, Role::Dmc], "see unblinded results")?;
    let id = path.into_inner();
    let actor = user.actor.clone();
    let trial = call(&state, move |s| s.trial_view(&actor, &id, true)).await?;
    let results = trial
        .results
        .as_ref()
        .ok_or_else(|| WebError::Internal("results missing from an unblinded view".into()))?;
    let arms: Vec<String> = results.posteriors.iter().map(|p| p.arm.clone()).collect();
    let posteriors = results
        .posteriors
        .iter()
        .map(|p| PosteriorLine {
            arm: p.arm.clone(),
            name: p.name.clone(),
            status: p.status.clone(),
            assigned: p.assigned,
            n: p.n,
            mean: fixed(p.mean, 4),
            sd: fixed(p.sd, 4),
            ci: format!("{:.4} to {:.4}", p.ci95[0], p.ci95[1]),
        })
        .collect();
    let by_control = results.comparison == "p_better_than_control";
    let looks = results
        .looks
        .iter()
        .map(|look| LookLine {
            look: look.look,
            outcomes: look.outcomes,
            enrolled: look.enrolled,
            cells: arms
                .iter()
                .map(|id| {
                    let analysis = look.arms.iter().find(|a| a.arm.as_str() == id);
                    fixed(
                        analysis.and_then(|a| {
                            if by_control {
                                a.p_better_than_control
                            } else {
                                a.p_best
                            }
                        }),
                        4,
                    )
                })
                .collect(),
            decisions: look.decisions.clone(),
        })
        .collect();
    html(&DashboardPage {
        comparison: if by_control {
            "P(better than control)"
        } else {
            "P(best)"
        },
        posterior_svg: charts::posteriors(results),
        comparison_svg: charts::comparison(results),
        allocation_svg: charts::allocation(results),
        chrome: Chrome::of(&user),
        posteriors,
        arms,
        looks,
        trial,
    })
}

// ---------------------------------------------------------------- simulation jobs

#[derive(Deserialize)]
struct SimulateForm {
    #[serde(default)]
    csrf: String,
    scenario: String,
    reps: String,
    seed: String,
}

#[post("/trials/{id}/simulations")]
async fn simulate_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<SimulateForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(&[Role::Statistician], "simulate protocols")?;
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
    let (protocol, version) = call(&state, move |s| s.current_protocol(&actor, &trial)).await?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let job = state
        .jobs
        .start(
            protocol,
            JobRequest {
                trial_id: id.clone(),
                version,
                scenario: form.scenario,
                reps,
                seed,
                started_by: user.actor.username.clone(),
            },
            threads,
        )
        .map_err(WebError::BadRequest)?;
    Ok(see_other(&format!("/trials/{id}/simulations/{}", job.id)))
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
        .filter(|j| j.trial_id == trial)
        .ok_or_else(|| WebError::NotFound(format!("no simulation {job} of trial {trial}")))
}

#[get("/trials/{id}/simulations/{job}")]
async fn simulation_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, u64)>,
) -> Page {
    user.require(&[Role::Statistician], "simulate protocols")?;
    let (id, number) = path.into_inner();
    let job = job_of(&state, &id, number)?;
    let (running, summary, failure) = match job.state() {
        JobState::Running => (true, None, None),
        JobState::Finished { summary, .. } => (false, Some(summary), None),
        JobState::Failed(problem) => (false, None, Some(problem)),
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
async fn simulation_report_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, u64)>,
) -> Page {
    user.require(&[Role::Statistician], "simulate protocols")?;
    let (id, number) = path.into_inner();
    match job_of(&state, &id, number)?.state() {
        JobState::Finished { html, .. } => Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html)),
        _ => Err(WebError::NotFound(format!(
            "simulation {number} has no report (yet)"
        ))),
    }
}

// ---------------------------------------------------------------- coordinator

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    chrome: Chrome,
    trial: TrialView,
    idempotency_key: String,
    assignment: Option<AssignmentView>,
}

#[get("/trials/{id}/enrol")]
async fn enrol_form_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    user.require(&[Role::Coordinator], "enrol participants")?;
    let id = path.into_inner();
    let actor = user.actor.clone();
    let trial = call(&state, move |s| s.trial_view(&actor, &id, false)).await?;
    html(&EnrolPage {
        chrome: Chrome::of(&user),
        trial,
        idempotency_key: state.service.new_token(),
        assignment: None,
    })
}

#[derive(Deserialize)]
struct EnrolForm {
    #[serde(default)]
    csrf: String,
    subject_id: String,
    #[serde(default)]
    eligible: String,
    #[serde(default)]
    idempotency_key: String,
}

#[post("/trials/{id}/participants")]
async fn enrol_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<EnrolForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(&[Role::Coordinator], "enrol participants")?;
    let form = form.into_inner();
    if form.eligible != "yes" {
        return Err(ServiceError::Invalid {
            field: "eligible",
            problem: "confirm that the participant meets every eligibility criterion".into(),
        }
        .into());
    }
    let id = path.into_inner();
    let (actor, trial) = (user.actor.clone(), id.clone());
    let key = Some(form.idempotency_key).filter(|k| !k.is_empty());
    let (assignment, view) = call(&state, move |s| {
        let assignment = s.enrol(&actor, &trial, &form.subject_id, key.as_deref())?;
        let shown = s.assignment_view(&actor, &assignment)?;
        Ok((shown, s.trial_view(&actor, &trial, false)?))
    })
    .await?;
    html(&EnrolPage {
        chrome: Chrome::of(&user),
        trial: view,
        idempotency_key: state.service.new_token(),
        assignment: Some(assignment),
    })
}

#[derive(Template)]
#[template(path = "participants.html")]
struct ParticipantsPage {
    chrome: Chrome,
    trial: TrialView,
    participants: Vec<ParticipantView>,
}

#[get("/trials/{id}/participants")]
async fn participants_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    let id = path.into_inner();
    let actor = user.actor.clone();
    let (trial, participants) = call(&state, move |s| {
        let list = s.participants(&actor, &id)?;
        Ok((s.trial_view(&actor, &id, false)?, list))
    })
    .await?;
    html(&ParticipantsPage {
        chrome: Chrome::of(&user),
        trial,
        participants,
    })
}

#[derive(Template)]
#[template(path = "participant.html")]
struct ParticipantPage {
    chrome: Chrome,
    trial: TrialView,
    detail: ParticipantDetail,
    binary: bool,
}

#[get("/trials/{id}/participants/{subject}")]
async fn participant_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
) -> Page {
    let (id, subject) = path.into_inner();
    let actor = user.actor.clone();
    let (trial, detail) = call(&state, move |s| {
        let detail = s.participant(&actor, &id, &subject)?;
        Ok((s.trial_view(&actor, &id, false)?, detail))
    })
    .await?;
    html(&ParticipantPage {
        chrome: Chrome::of(&user),
        binary: trial.outcome_kind == OutcomeKind::Binary,
        trial,
        detail,
    })
}

#[derive(Deserialize)]
struct OutcomeForm {
    #[serde(default)]
    csrf: String,
    value: String,
    #[serde(default)]
    reason: String,
}

#[post("/trials/{id}/participants/{subject}/outcome")]
async fn record_outcome_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
    form: web::Form<OutcomeForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(&[Role::Coordinator], "record outcomes")?;
    let (id, subject) = path.into_inner();
    let form = form.into_inner();
    let (actor, trial, who) = (user.actor.clone(), id.clone(), subject.clone());
    call(&state, move |s| {
        let value = s.parse_outcome(&trial, &form.value)?;
        let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
        s.record_outcome(&actor, &trial, &who, value, reason)
    })
    .await?;
    Ok(see_other(&format!(
        "/trials/{id}/participants/{}",
        super::path_segment(&subject)
    )))
}

// ---------------------------------------------------------------- audit

#[derive(Deserialize, Default)]
struct AuditParams {
    #[serde(default)]
    trial: String,
    #[serde(default)]
    chain: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    page: Option<i64>,
}

/// Rows per page of the audit browser.
const AUDIT_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditBrowser {
    chrome: Chrome,
    page: AuditPage,
    chain: String,
    kind: String,
    actor: String,
    from: String,
    to: String,
    sort: String,
    order: String,
    number: i64,
    pages: i64,
    query: String,
    trial: String,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

#[get("/audit")]
async fn audit_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    params: web::Query<AuditParams>,
) -> Page {
    let params = params.into_inner();
    let chain = some(&params.chain).or_else(|| some(&params.trial).map(|t| format!("trial:{t}")));
    let sort = match params.sort.as_str() {
        "chain" => AuditSort::Chain,
        "kind" => AuditSort::Kind,
        "actor" => AuditSort::Actor,
        _ => AuditSort::RecordedAt,
    };
    let number = params.page.unwrap_or(1).max(1);
    let query = AuditQuery {
        chain: chain.clone(),
        kind: some(&params.kind),
        actor: some(&params.actor),
        from: some(&params.from),
        to: some(&params.to),
        sort,
        descending: params.order != "asc",
        offset: (number - 1) * AUDIT_PAGE,
        limit: AUDIT_PAGE,
    };
    let actor = user.actor.clone();
    let page = call(&state, move |s| s.audit_page(&actor, &query)).await?;
    let pages = ((page.total + AUDIT_PAGE - 1) / AUDIT_PAGE).max(1);
    let chain = chain.unwrap_or_default();
    let filters: Vec<(&str, &str)> = [
        ("chain", chain.as_str()),
        ("kind", params.kind.as_str()),
        ("actor", params.actor.as_str()),
        ("from", params.from.as_str()),
        ("to", params.to.as_str()),
        ("sort", params.sort.as_str()),
        ("order", params.order.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let query = serde_urlencoded_pairs(&filters);
    html(&AuditBrowser {
        chrome: Chrome::of(&user),
        page,
        trial: chain.strip_prefix("trial:").unwrap_or_default().to_owned(),
        chain,
        kind: params.kind,
        actor: params.actor,
        from: params.from,
        to: params.to,
        sort: params.sort,
        order: params.order,
        number,
        pages,
        query,
    })
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", super::path_segment(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    chrome: Chrome,
    report: VerifyReport,
    checkpoints: Vec<CheckpointRow>,
    public_key: String,
}

#[post("/audit/verify")]
async fn verify_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<CsrfForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    if !user.actor.role.reads_audit() {
        return Err(ServiceError::Forbidden(format!(
            "the {} role may not verify the audit trail",
            user.actor.role
        ))
        .into());
    }
    let actor = user.actor.clone();
    let (report, checkpoints, public_key) = call(&state, move |s| {
        Ok((
            s.verify(None)?,
            s.checkpoints(&actor)?,
            s.public_key().to_hex(),
        ))
    })
    .await?;
    html(&VerifyPage {
        chrome: Chrome::of(&user),
        report,
        checkpoints,
        public_key,
    })
}

#[get("/trials/{id}/export.jsonl")]
async fn export_jsonl_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    let id = path.into_inner();
    let (actor, trial) = (user.actor.clone(), id.clone());
    let body = call(&state, move |s| s.export_jsonl(&actor, &trial)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/jsonl; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}-audit.jsonl\"",
                id.replace('"', "")
            ),
        ))
        .body(body))
}

// ---------------------------------------------------------------- admin

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserListing>,
    all_roles: Vec<Role>,
}

#[get("/admin/users")]
async fn users_page(state: web::Data<AppState>, user: LoggedIn) -> Page {
    let actor = user.actor.clone();
    let users = call(&state, move |s| s.users(&actor)).await?;
    html(&UsersPage {
        chrome: Chrome::of(&user),
        users,
        all_roles: Role::ALL.to_vec(),
    })
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    csrf: String,
    username: String,
    name: String,
    email: String,
    role: String,
    password: String,
}

#[post("/admin/users")]
async fn add_user_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<NewUserForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(&[Role::Admin], "add users")?;
    let form = form.into_inner();
    let new = crate::service::NewUser {
        username: crate::service::Username::parse(&form.username)?,
        printed_name: form.name,
        email: form.email,
        role: form.role.parse()?,
        password: crate::service::Password::new(&form.password)?,
    };
    let actor = user.actor.clone();
    call(&state, move |s| s.add_user(&actor, &new)).await?;
    Ok(see_other("/admin/users"))
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    role: String,
    change: String,
}

#[post("/admin/users/{username}/roles")]
async fn change_role_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(&[Role::Admin], "change roles")?;
    let role: Role = form.role.parse()?;
    let grant = match form.change.as_str() {
        "grant" => true,
        "revoke" => false,
        other => {
            return Err(WebError::BadRequest(format!(
                "change: {other:?} is neither grant nor revoke"
            )))
        }
    };
    let (actor, username) = (user.actor.clone(), path.into_inner());
    call(&state, move |s| {
        s.change_role(&actor, &username, role, grant)
    })
    .await?;
    Ok(see_other("/admin/users"))
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    csrf: String,
    active: String,
}

#[post("/admin/users/{username}/active")]
async fn set_active_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<ActiveForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let active = form.active == "true";
    let (actor, username) = (user.actor.clone(), path.into_inner());
    call(&state, move |s| s.set_active(&actor, &username, active)).await?;
    Ok(see_other("/admin/users"))
}

/// Registers every page.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(home_page)
        .service(login_form_page)
        .service(login_page)
        .service(logout_page)
        .service(account_page)
        .service(change_password_page)
        .service(trials_page)
        .service(new_trial_page)
        .service(create_trial_page)
        .service(dashboard_page)
        .service(simulate_page)
        .service(simulation_report_page)
        .service(simulation_page)
        .service(enrol_form_page)
        .service(enrol_page)
        .service(participants_page)
        .service(participant_page)
        .service(record_outcome_page)
        .service(export_jsonl_page)
        .service(sign_page)
        .service(start_page)
        .service(amend_page)
        .service(pause_resume_close_page)
        .service(trial_page)
        .service(audit_page)
        .service(verify_page)
        .service(users_page)
        .service(add_user_page)
        .service(change_role_page)
        .service(set_active_page);
}
