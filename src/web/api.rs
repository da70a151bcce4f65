//! The JSON API: the same actions as the pages, authenticated by `Authorization: Bearer`
//! tokens (no cookies, so no CSRF), described by the OpenAPI 3 document at
//! `/api/openapi.json`. Errors are `{"error": kind, "detail": message}` with a 4xx status.

use std::sync::Arc;

use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::auth::Bearer;
use super::contract::{path_param, ExtractorContract};
use super::error::{ApiError, WebError};
use super::AppState;
use crate::engine::SeriesSummary;
use crate::service::{
    AssignmentView, AuditEntry, CodeBreak, Meaning, MeasurementReceipt, OutcomeReceipt,
    ParticipantView, PatientReport, Permission, Role, Service, ServiceError, TrialListing,
    TrialSummary, TrialView,
};

type Json = Result<HttpResponse, ApiError>;

async fn call<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    let service = Arc::clone(&state.service);
    Ok(web::block(move || f(&service)).await??)
}

/// `POST /api/session` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// The role to act in (default: the user's first role).
    #[serde(default)]
    #[schema(pattern = "^(admin|statistician|coordinator|pharmacist|dmc|regulator)$")]
    pub role: Option<String>,
}

/// `POST /api/session` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Bearer token for `Authorization: Bearer`.
    pub token: String,
    /// User name.
    pub username: String,
    /// Role the token acts in.
    pub role: String,
    /// When the token expires (UTC); a request with it after that answers 401.
    pub expires_at: String,
}

/// An error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: `bad_request` (400), `unauthorized` (401), `forbidden` (403),
    /// `not_found` (404), `conflict` (409), `too_large` (413), `unsupported_media_type` (415),
    /// `invalid` or `invalid_protocol` (422), `too_many_attempts` (429), `internal` (500).
    pub error: String,
    /// What is wrong, in words.
    pub detail: String,
}

/// `POST /api/trials/{id}/signatures` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignatureReceipt {
    /// Seq of the signature's record on the system chain.
    pub system_seq: u64,
}

/// `POST /api/trials/{id}/start` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartReceipt {
    /// Trial id.
    pub id: String,
    /// Always `running`.
    pub status: String,
}

/// Logs in and returns an API token. Every attempt is recorded on the system chain; repeated
/// failures lock the user name for a while (429).
#[utoipa::path(post, path = "/api/session", request_body = SessionRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/api/session")]
async fn create_session_api(state: web::Data<AppState>, body: web::Json<SessionRequest>) -> Json {
    let body = body.into_inner();
    let role = body
        .role
        .as_deref()
        .map(str::parse::<Role>)
        .transpose()
        .map_err(WebError::from)?;
    let token = call(&state, move |s| {
        s.issue_api_token(&body.username, &body.password, role, "api session")
    })
    .await?;
    Ok(HttpResponse::Ok().json(SessionResponse {
        token: token.token,
        username: token.actor.username,
        role: token.actor.role.to_string(),
        expires_at: token.expires_at,
    }))
}

/// Revokes the token used for this request.
#[utoipa::path(delete, path = "/api/session", responses((status = 204, description = "The token is revoked.")),
    security(("bearer" = [])))]
#[delete("/api/session")]
async fn delete_session_api(state: web::Data<AppState>, who: Bearer) -> Json {
    call(&state, move |s| s.revoke_api_token(&who.token)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every trial with its status.
#[utoipa::path(get, path = "/api/trials", responses((status = 200, body = Vec<TrialListing>)), security(("bearer" = [])))]
#[get("/api/trials")]
async fn list_trials_api(state: web::Data<AppState>, who: Bearer) -> Json {
    let trials = call(&state, move |s| s.trials(&who.actor)).await?;
    Ok(HttpResponse::Ok().json(trials))
}

/// `POST /api/trials` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTrialRequest {
    /// The protocol's TOML text.
    pub protocol: String,
}

/// Creates a draft trial from protocol text (statistician). Validation errors come back as
/// 422 with every error's line and column.
#[utoipa::path(post, path = "/api/trials", request_body = NewTrialRequest,
    responses((status = 201, body = TrialSummary), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/api/trials")]
async fn create_trial_api(
    state: web::Data<AppState>,
    who: Bearer,
    body: web::Json<NewTrialRequest>,
) -> Json {
    let source = body.into_inner().protocol;
    let summary = call(&state, move |s| s.create_trial(&who.actor, &source, "api")).await?;
    Ok(HttpResponse::Created().json(summary))
}

/// A trial: status, arms, counts and looks, filtered by role. Statisticians and the DMC also
/// get the unblinded results (and the view is recorded).
#[utoipa::path(get, path = "/api/trials/{id}", params(("id" = String, Path, description = "trial id")),
    responses((status = 200, body = TrialView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[get("/api/trials/{id}")]
async fn get_trial_api(state: web::Data<AppState>, who: Bearer, path: web::Path<String>) -> Json {
    let id = path_param("id", path.into_inner())?;
    let view = call(&state, move |s| {
        let unblinded = who.actor.may(Permission::SeeResults);
        s.trial_view(&who.actor, &id, unblinded)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/trials/{id}/signatures` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignatureRequest {
    /// The signer's password, entered again (21 CFR 11.200).
    pub password: String,
    /// `authorship`, `approval` or `review`.
    #[schema(pattern = "^(authorship|approval|review)$")]
    pub meaning: String,
}

/// Signs the trial's newest protocol version (a pending amendment's, else the one in force). An
/// approval must come from someone other than the version's author (403); approving a pending
/// amendment brings it into force.
#[utoipa::path(post, path = "/api/trials/{id}/signatures", request_body = SignatureRequest,
    params(("id" = String, Path, description = "trial id")),
    responses((status = 201, body = SignatureReceipt), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/api/trials/{id}/signatures")]
async fn sign_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<String>,
    body: web::Json<SignatureRequest>,
) -> Json {
    let id = path_param("id", path.into_inner())?;
    let body = body.into_inner();
    let meaning: Meaning = body.meaning.parse().map_err(WebError::from)?;
    let seq = call(&state, move |s| {
        s.sign(&who.actor, &id, meaning, &body.password)
    })
    .await?;
    Ok(HttpResponse::Created().json(SignatureReceipt { system_seq: seq }))
}

/// Starts the trial (statistician; the current version must be approved).
#[utoipa::path(post, path = "/api/trials/{id}/start", params(("id" = String, Path, description = "trial id")),
    responses((status = 200, body = StartReceipt), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
#[post("/api/trials/{id}/start")]
async fn start_api(state: web::Data<AppState>, who: Bearer, path: web::Path<String>) -> Json {
    let id = path_param("id", path.into_inner())?;
    let trial = id.clone();
    call(&state, move |s| s.start(&who.actor, &trial)).await?;
    Ok(HttpResponse::Ok().json(StartReceipt {
        id,
        status: "running".to_owned(),
    }))
}

/// `POST /api/trials/{id}/participants` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EnrolRequest {
    /// Subject identifier.
    pub subject_id: String,
    /// A key unique to this enrolment: a retry with the same key returns the first answer.
    pub idempotency_key: String,
    /// n-of-1 trials: the calendar date of the patient's study day 1 (`YYYY-MM-DD`; default
    /// today).
    #[serde(default)]
    #[schema(format = Date)]
    pub start_date: Option<String>,
    /// Precision designs: the participant's biomarker values, biomarker id → level (for example
    /// `{"HR": "neg", "HER2": "pos", "MP": "high"}`); required there, refused elsewhere.
    #[serde(default)]
    pub biomarkers: Option<std::collections::BTreeMap<String, String>>,
}

/// Enrols and randomises a participant (coordinator). The answer has the arm, or on a blinded
/// trial a kit code instead.
#[utoipa::path(post, path = "/api/trials/{id}/participants", request_body = EnrolRequest,
    params(("id" = String, Path, description = "trial id")),
    responses((status = 201, body = AssignmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/api/trials/{id}/participants")]
async fn enrol_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<String>,
    body: web::Json<EnrolRequest>,
) -> Json {
    let id = path_param("id", path.into_inner())?;
    let body = body.into_inner();
    let shown = call(&state, move |s| {
        let assignment = match body.biomarkers {
            Some(values) => s.enrol_with_biomarkers(
                &who.actor,
                &id,
                &body.subject_id,
                Some(&body.idempotency_key),
                values,
            )?,
            None => s.enrol_starting(
                &who.actor,
                &id,
                &body.subject_id,
                Some(&body.idempotency_key),
                body.start_date.as_deref(),
            )?,
        };
        s.assignment_view(&who.actor, &assignment)
    })
    .await?;
    Ok(HttpResponse::Created().json(shown))
}

/// A trial's participants (coordinators; statisticians and the DMC).
#[utoipa::path(get, path = "/api/trials/{id}/participants", params(("id" = String, Path, description = "trial id")),
    responses((status = 200, body = Vec<ParticipantView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[get("/api/trials/{id}/participants")]
async fn participants_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<String>,
) -> Json {
    let id = path_param("id", path.into_inner())?;
    let list = call(&state, move |s| s.participants(&who.actor, &id)).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `POST …/outcomes` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OutcomeRequest {
    /// Binary: `true`/`false` or `1`/`0`; continuous: a number; count: `EVENTS` or
    /// `"EVENTS/EXPOSURE"`.
    #[schema(schema_with = super::contract::scalar_value_schema)]
    pub value: serde_json::Value,
    /// Needed to correct an outcome already recorded.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Records (or, with a reason, corrects) a participant's outcome (coordinator). Looks that
/// become due run in the same transaction.
#[utoipa::path(post, path = "/api/trials/{id}/participants/{subject_id}/outcomes", request_body = OutcomeRequest,
    params(("id" = String, Path, description = "trial id"), ("subject_id" = String, Path, description = "subject")),
    responses((status = 201, body = OutcomeReceipt), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/api/trials/{id}/participants/{subject_id}/outcomes")]
async fn record_outcome_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<(String, String)>,
    body: web::Json<OutcomeRequest>,
) -> Json {
    let (id, subject) = path.into_inner();
    let id = path_param("id", id)?;
    let subject = path_param("subject_id", subject)?;
    let body = body.into_inner();
    let text = value_text(&body.value)?;
    let receipt = call(&state, move |s| {
        let value = s.parse_outcome(&id, &text)?;
        s.record_outcome(&who.actor, &id, &subject, value, body.reason.as_deref())
    })
    .await?;
    Ok(HttpResponse::Created().json(receipt))
}

/// `POST …/unblind` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UnblindRequest {
    /// Why the participant's assignment is needed (their safety).
    pub reason: String,
    /// The coordinator's password, entered again.
    pub password: String,
}

/// Emergency unblinding (code break) of one participant of a blinded trial (coordinator, as
/// investigator): the answer is that participant's arm and nothing else. The code break is a
/// record on the trial's chain and statisticians and the DMC are notified; a refused attempt
/// (no reason, wrong password) is recorded on the system chain.
#[utoipa::path(post, path = "/api/trials/{id}/participants/{subject_id}/unblind", request_body = UnblindRequest,
    params(("id" = String, Path, description = "trial id"), ("subject_id" = String, Path, description = "subject")),
    responses((status = 200, body = CodeBreak), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/api/trials/{id}/participants/{subject_id}/unblind")]
async fn unblind_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<(String, String)>,
    body: web::Json<UnblindRequest>,
) -> Json {
    let (id, subject) = path.into_inner();
    let id = path_param("id", id)?;
    let subject = path_param("subject_id", subject)?;
    let body = body.into_inner();
    let answer = call(&state, move |s| {
        s.break_code(&who.actor, &id, &subject, &body.reason, &body.password)
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `POST …/measurements` body (n-of-1 trials).
#[derive(Debug, Deserialize, ToSchema)]
pub struct MeasurementRequest {
    /// The study day (1 = the patient's first day); or give `date`.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub day: Option<u32>,
    /// The calendar date (`YYYY-MM-DD`), instead of `day`.
    #[serde(default)]
    #[schema(format = Date)]
    pub date: Option<String>,
    /// Continuous: a number; binary: `true`/`false` or `1`/`0`.
    #[schema(schema_with = super::contract::scalar_value_schema)]
    pub value: serde_json::Value,
    /// To correct a measurement: the seq of the event holding its current value.
    #[serde(default)]
    pub corrects: Option<u64>,
    /// Needed with `corrects`.
    #[serde(default)]
    pub reason: Option<String>,
}

fn value_text(value: &serde_json::Value) -> Result<String, ApiError> {
    match value {
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::String(s) => Ok(s.clone()),
        other => Err(WebError::Service(ServiceError::Invalid {
            field: "value",
            problem: format!("{other} is not a boolean, number or string"),
        })
        .into()),
    }
}

/// Records (or corrects) an n-of-1 patient's measurement (coordinator). A measurement that
/// completes a cycle runs the patient's look, its stopping rules and, when the patient's
/// trial ends, the series look, in the same transaction.
#[utoipa::path(post, path = "/api/trials/{id}/participants/{subject_id}/measurements", request_body = MeasurementRequest,
    params(("id" = String, Path, description = "trial id"), ("subject_id" = String, Path, description = "subject")),
    responses((status = 201, body = MeasurementReceipt), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/api/trials/{id}/participants/{subject_id}/measurements")]
async fn record_measurement_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<(String, String)>,
    body: web::Json<MeasurementRequest>,
) -> Json {
    let (id, subject) = path.into_inner();
    let id = path_param("id", id)?;
    let subject = path_param("subject_id", subject)?;
    let body = body.into_inner();
    let text = value_text(&body.value)?;
    let receipt = call(&state, move |s| {
        let value = s.parse_outcome(&id, &text)?;
        let day = match (body.day, &body.date, body.corrects) {
            (Some(day), None, _) => day,
            (None, Some(date), _) => s.study_day(&id, &subject, date)?,
            (None, None, Some(_)) => 0,
            _ => {
                return Err(ServiceError::Invalid {
                    field: "day",
                    problem: "give either the study day or the date".into(),
                })
            }
        };
        s.record_measurement(
            &who.actor,
            &id,
            &subject,
            day,
            value,
            body.corrects,
            body.reason.as_deref(),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(receipt))
}

/// An n-of-1 patient's report: calendar, what to measure today, measurements, the posterior of
/// the effect and a plain-language sentence (coordinators, statisticians, the DMC).
#[utoipa::path(get, path = "/api/trials/{id}/participants/{subject_id}/report",
    params(("id" = String, Path, description = "trial id"), ("subject_id" = String, Path, description = "subject")),
    responses((status = 200, body = PatientReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/api/trials/{id}/participants/{subject_id}/report")]
async fn patient_report_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<(String, String)>,
) -> Json {
    let (id, subject) = path.into_inner();
    let id = path_param("id", id)?;
    let subject = path_param("subject_id", subject)?;
    let report = call(&state, move |s| s.patient_report(&who.actor, &id, &subject)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// An n-of-1 series' hierarchical summary: population mean effect, between-patient SD,
/// shrunken individual effects and the empirical-Bayes mode (statisticians, the DMC; the view
/// is recorded on the system chain). `null` before any patient has finished.
#[utoipa::path(get, path = "/api/trials/{id}/series", params(("id" = String, Path, description = "trial id")),
    responses((status = 200, body = Option<SeriesSummary>, description = "The summary, or `null` before any patient has finished."), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/api/trials/{id}/series")]
async fn series_api(state: web::Data<AppState>, who: Bearer, path: web::Path<String>) -> Json {
    let id = path_param("id", path.into_inner())?;
    let summary = call(&state, move |s| s.series_summary(&who.actor, &id)).await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// `?after=SEQ`.
#[derive(Debug, Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

/// The trial's audit records after `after` (roles that read the audit trail; for roles that
/// do not see results, comparative payloads of running trials are sealed).
#[utoipa::path(get, path = "/api/trials/{id}/events", params(("id" = String, Path, description = "trial id"),
    ("after" = Option<i64>, Query, description = "only records with a larger seq")),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
#[get("/api/trials/{id}/events")]
async fn events_api(
    state: web::Data<AppState>,
    who: Bearer,
    path: web::Path<String>,
    query: web::Query<After>,
) -> Json {
    let id = path_param("id", path.into_inner())?;
    let after = query.after;
    let entries = call(&state, move |s| s.trial_events(&who.actor, &id, after)).await?;
    Ok(HttpResponse::Ok().json(entries))
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "bayestrial API", description = "Run Bayesian adaptive trials: enrol, randomise, record outcomes, read results by role."),
    paths(create_session_api, delete_session_api, list_trials_api, create_trial_api, get_trial_api, sign_api, start_api, enrol_api, participants_api, record_outcome_api, unblind_api, record_measurement_api, patient_report_api, series_api, events_api),
    // The request and answer types are collected from the operations; `ErrorBody` is named
    // here because the extractors' answers refer to it by name (`contract::ExtractorContract`).
    components(schemas(ErrorBody)),
    modifiers(&ExtractorContract)
)]
pub struct ApiDoc;

#[get("/api/openapi.json")]
async fn openapi_api() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Registers the API.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(openapi_api)
        .service(create_session_api)
        .service(delete_session_api)
        .service(list_trials_api)
        .service(create_trial_api)
        .service(events_api)
        .service(participants_api)
        .service(record_outcome_api)
        .service(unblind_api)
        .service(record_measurement_api)
        .service(patient_report_api)
        .service(series_api)
        .service(enrol_api)
        .service(sign_api)
        .service(start_api)
        .service(get_trial_api);
}
