//! The audit trail browser, verification with the signed checkpoints, and the exports (ODM,
//! JSON Lines, CSV and the regulatory package) as downloads.

use super::{call, html, Chrome, CsrfForm, Page};
use crate::export::ExportFormat;
use crate::service::Permission;
use crate::service::{
    AuditPage, ExportFile, Exporter, ProjectionReport, ServiceError, VerifyReport,
};
use crate::store::{AuditQuery, AuditSort, CheckpointRow};
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::AppState;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

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
    /// Trials with an audit chain, for the export form.
    trials: Vec<String>,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

#[get("/audit")]
pub(super) async fn audit_page(
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
        excluded_chains: Vec::new(),
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
    let trials = page
        .chains
        .iter()
        .filter_map(|c| c.strip_prefix("trial:").map(str::to_owned))
        .collect();
    html(&AuditBrowser {
        chrome: Chrome::of(&user),
        trials,
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
        .map(|(k, v)| format!("{k}={}", crate::web::path_segment(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    chrome: Chrome,
    report: VerifyReport,
    projections: ProjectionReport,
    heads: Vec<(CheckpointRow, usize)>,
    public_key: String,
}

#[post("/audit/verify")]
pub(super) async fn verify_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<CsrfForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::ReadAudit)?;
    let actor = user.actor.clone();
    let (report, projections, heads, public_key) = call(&state, move |s| {
        Ok((
            s.verify(None)?,
            s.check_projections(None)?,
            s.signed_heads(&actor)?,
            s.public_key().to_hex(),
        ))
    })
    .await?;
    html(&VerifyPage {
        chrome: Chrome::of(&user),
        report,
        projections,
        heads,
        public_key,
    })
}

/// A file download.
fn download(file: ExportFile) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}\"",
                file.filename.replace(['"', '\\'], "")
            ),
        ))
        .insert_header(("X-Content-SHA256", file.sha256))
        .body(file.bytes)
}

#[derive(Deserialize)]
struct TrialExportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    unblinded: Option<String>,
}

/// Whether a form's `unblinded` box was ticked.
fn ticked(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// The JSON Lines export of a trial's audit trail from the trial's page: a form that POSTs
/// with the session's CSRF token (blinded; `unblinded=1` for statisticians and the DMC). An
/// export is recorded on the system chain, so it is never a GET.
#[post("/trials/{id}/export.jsonl")]
pub(super) async fn export_jsonl_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<TrialExportForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let trial = path.into_inner();
    let unblinded = ticked(form.unblinded.as_deref());
    let who = Exporter::User(user.actor.clone());
    let file = call(&state, move |s| {
        s.export(&who, &trial, ExportFormat::Jsonl, unblinded)
    })
    .await?;
    Ok(download(file))
}

/// `GET` of the export address (an old link or bookmark): 405 naming the form to use, since
/// an export changes the system chain.
#[get("/trials/{id}/export.jsonl")]
pub(super) async fn export_jsonl_get_page(path: web::Path<String>) -> Page {
    Err(WebError::MethodNotAllowed(format!(
        "an export is recorded on the audit trail, so it is a form: use the Export button on /trials/{}",
        path.into_inner()
    )))
}

#[derive(Deserialize)]
struct ExportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    trial: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    unblinded: Option<String>,
}

/// A trial's export in any format: ODM, JSON Lines, CSV (zip) or the regulatory package (zip).
/// Each export is recorded on the system chain and covered by a signed checkpoint.
#[post("/audit/export")]
pub(super) async fn export_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<ExportForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let format: ExportFormat = form
        .format
        .parse()
        .map_err(|problem| ServiceError::Invalid {
            field: "format",
            problem,
        })?;
    let trial = form.trial.trim().to_owned();
    if trial.is_empty() {
        return Err(ServiceError::Invalid {
            field: "trial",
            problem: "choose the trial to export".into(),
        }
        .into());
    }
    let unblinded = ticked(form.unblinded.as_deref());
    let who = Exporter::User(user.actor.clone());
    let file = call(&state, move |s| s.export(&who, &trial, format, unblinded)).await?;
    Ok(download(file))
}
