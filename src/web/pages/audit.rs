//! The audit trail browser, verification with the signed checkpoints, and the exports (ODM,
//! JSON Lines, CSV and the regulatory package) as downloads.

use super::{call, fixable, form_again, html, Chrome, CsrfForm, FormError, Page};
use crate::export::ExportFormat;
use crate::service::Permission;
use crate::service::{
    AuditEntry, AuditPage, ExportChoice, ExportFile, Exporter, ProjectionReport, ServiceError,
    VerifyReport,
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
    /// The page, as typed (a number from 1; anything else is the first page).
    #[serde(default)]
    page: String,
}

/// Rows per page of the audit browser.
const AUDIT_PAGE: i64 = 50;
/// The highest page number a link may ask for (beyond the last page, the last is shown).
const MAX_PAGE: i64 = 1_000_000;
/// Numbered page links on each side of the current page.
const JUMP_SPAN: i64 = 2;

/// A link of the pager: a page number, or first/previous/next/last.
pub struct Jump {
    /// The link's text.
    pub label: String,
    /// What a screen reader says (e.g. "page 3").
    pub name: String,
    /// The page it leads to.
    pub page: i64,
    /// Whether it is the page shown (not a link).
    pub current: bool,
    /// `prev` or `next` (the link relation), or empty.
    pub rel: &'static str,
}

/// A record as the page shows it: its hashes short and the payload as fields.
pub struct RecordLine {
    /// The record as the service gave it.
    pub entry: AuditEntry,
    /// The first 12 hex digits of its hash.
    pub hash_short: String,
    /// The first 12 hex digits of the previous record's hash.
    pub prev_short: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditBrowser {
    chrome: Chrome,
    page: AuditPage,
    records: Vec<RecordLine>,
    chain: String,
    kind: String,
    actor: String,
    from: String,
    to: String,
    sort: String,
    order: String,
    number: i64,
    pages: i64,
    /// "records 51–100 of 1,775" or "1 record matches".
    matches: String,
    jumps: Vec<Jump>,
    query: String,
    trial: String,
    /// Trials the viewer may export now.
    exportable: Vec<String>,
    /// Trials the viewer may not export now, and why.
    refused: Vec<ExportChoice>,
    /// A refused export, shown in the export form.
    export_error: Option<FormError>,
    /// Whether the export form's unblinded box was ticked.
    export_unblinded: bool,
    /// A filter to fix, shown in the filter form.
    form_error: Option<FormError>,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `n` with a comma between thousands (1,775).
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the page shows of the matching records: "records 51–100 of 1,775", "1 record
/// matches", "no records match".
fn matches_text(total: i64, number: i64, shown: usize) -> String {
    let shown = i64::try_from(shown).unwrap_or(0);
    match total {
        0 => "No records match.".to_owned(),
        1 => "1 record matches.".to_owned(),
        _ if shown == 0 => format!("{} records match.", thousands(total)),
        _ => {
            let first = (number - 1) * AUDIT_PAGE + 1;
            format!(
                "Records {}–{} of {}.",
                thousands(first),
                thousands(first + shown - 1),
                thousands(total)
            )
        }
    }
}

/// The pager: first, previous, the pages around `number`, next, last.
fn jumps(number: i64, pages: i64) -> Vec<Jump> {
    let mut out = Vec::new();
    let link = |label: String, name: String, page: i64, rel: &'static str| Jump {
        label,
        name,
        page,
        current: page == number,
        rel,
    };
    if pages <= 1 {
        return out;
    }
    if number > 1 {
        out.push(link("« First".into(), "first page".into(), 1, ""));
        out.push(link(
            "‹ Previous".into(),
            "previous page".into(),
            number - 1,
            "prev",
        ));
    }
    let (lo, hi) = ((number - JUMP_SPAN).max(1), (number + JUMP_SPAN).min(pages));
    for page in lo..=hi {
        out.push(link(thousands(page), format!("page {page}"), page, ""));
    }
    if number < pages {
        out.push(link(
            "Next ›".into(),
            "next page".into(),
            number + 1,
            "next",
        ));
        out.push(link(
            format!("Last ({})", thousands(pages)),
            "last page".into(),
            pages,
            "",
        ));
    }
    out
}

/// The first 12 hex digits of a hash.
fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// The export form's values when it is shown again with an error.
struct ExportAgain {
    error: FormError,
    trial: String,
    unblinded: bool,
}

#[get("/audit")]
pub(super) async fn audit_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    params: web::Query<AuditParams>,
) -> Page {
    user.require(Permission::ReadAudit)?;
    browser(&state, &user, params.into_inner(), None).await
}

/// The audit page: the export form (again with `export`'s error and values, after a refused
/// export) and a page of records under the filter of `params`.
async fn browser(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    params: AuditParams,
    export: Option<ExportAgain>,
) -> Page {
    let chain = some(&params.chain).or_else(|| some(&params.trial).map(|t| format!("trial:{t}")));
    let sort = match params.sort.as_str() {
        "chain" => AuditSort::Chain,
        "kind" => AuditSort::Kind,
        "actor" => AuditSort::Actor,
        _ => AuditSort::RecordedAt,
    };
    let asked: i64 = params.page.trim().parse().unwrap_or(1).clamp(1, MAX_PAGE);
    let query = AuditQuery {
        chain: chain.clone(),
        kind: some(&params.kind),
        actor: some(&params.actor),
        from: some(&params.from),
        to: some(&params.to),
        sort,
        descending: params.order != "asc",
        offset: (asked - 1) * AUDIT_PAGE,
        limit: AUDIT_PAGE,
        excluded_chains: Vec::new(),
    };
    let actor = user.actor.clone();
    let (page, number, refusal, choices) = call(state, move |s| {
        let choices = s.export_choices(&actor)?;
        match s.audit_page(&actor, &query) {
            // Past the last page: the last page.
            Ok(page) if page.entries.is_empty() && page.total > 0 => {
                let last = (page.total + AUDIT_PAGE - 1) / AUDIT_PAGE;
                let query = AuditQuery {
                    offset: (last - 1) * AUDIT_PAGE,
                    ..query
                };
                Ok((s.audit_page(&actor, &query)?, last, None, choices))
            }
            Ok(page) => Ok((page, asked, None, choices)),
            // A filter to fix: the form again, with no records.
            Err(error @ ServiceError::Invalid { .. }) => {
                let lists = AuditQuery {
                    limit: 0,
                    ..AuditQuery::default()
                };
                Ok((s.audit_page(&actor, &lists)?, 1, Some(error), choices))
            }
            Err(error) => Err(error),
        }
    })
    .await?;
    let form_error = refusal.and_then(|e| FormError::of(&WebError::Service(e)));
    let export_trial = export.as_ref().map_or_else(
        || chain.clone().unwrap_or_default(),
        |e| format!("trial:{}", e.trial),
    );
    let pages = ((page.total + AUDIT_PAGE - 1) / AUDIT_PAGE).max(1);
    let matches = if form_error.is_some() {
        "Fix the filter to see the records.".to_owned()
    } else {
        matches_text(page.total, number, page.entries.len())
    };
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
    let (exportable, refused): (Vec<ExportChoice>, Vec<ExportChoice>) =
        choices.into_iter().partition(|c| c.refusal.is_none());
    let records = page
        .entries
        .iter()
        .map(|e| RecordLine {
            hash_short: short(&e.hash),
            prev_short: short(&e.prev_hash),
            entry: e.clone(),
        })
        .collect();
    let status = export
        .as_ref()
        .map(|e| e.error.clone())
        .or(form_error.clone());
    let body = AuditBrowser {
        chrome: Chrome::of(user),
        export_unblinded: export.as_ref().is_some_and(|e| e.unblinded),
        export_error: export.map(|e| e.error),
        exportable: exportable.into_iter().map(|c| c.trial).collect(),
        refused,
        records,
        page,
        trial: export_trial
            .strip_prefix("trial:")
            .unwrap_or_default()
            .to_owned(),
        chain,
        kind: params.kind,
        actor: params.actor,
        from: params.from,
        to: params.to,
        sort: params.sort,
        order: params.order,
        jumps: jumps(number, pages),
        number,
        pages,
        matches,
        query,
        form_error,
    };
    match &status {
        Some(e) => form_again(e, &body),
        None => html(&body),
    }
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
/// Each export is recorded on the system chain and covered by a signed checkpoint. A refused
/// export shows the audit page again with the reason in the export form and its choices kept.
#[post("/audit/export")]
pub(super) async fn export_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<ExportForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::ReadAudit)?;
    let form = form.into_inner();
    let trial = form.trial.trim().to_owned();
    let unblinded = ticked(form.unblinded.as_deref());
    let who = Exporter::User(user.actor.clone());
    let (asked, format) = (trial.clone(), form.format.clone());
    let file = fixable(
        call(&state, move |s| {
            let format: ExportFormat = format.parse().map_err(|problem| ServiceError::Invalid {
                field: "format",
                problem,
            })?;
            if asked.is_empty() {
                return Err(ServiceError::Invalid {
                    field: "trial",
                    problem: "choose the trial to export".into(),
                });
            }
            s.export(&who, &asked, format, unblinded)
        })
        .await,
    )?;
    match file {
        Ok(file) => Ok(download(file)),
        Err(error) => {
            let again = ExportAgain {
                error,
                trial,
                unblinded,
            };
            browser(&state, &user, AuditParams::default(), Some(again)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_thousands_and_plurals() {
        assert_eq!(thousands(1775), "1,775");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(matches_text(1775, 2, 50), "Records 51–100 of 1,775.");
        assert_eq!(matches_text(1, 1, 1), "1 record matches.");
        assert_eq!(matches_text(0, 1, 0), "No records match.");
        assert_eq!(matches_text(12, 1, 12), "Records 1–12 of 12.");
        assert_eq!(matches_text(12, 1, 0), "12 records match.");
    }

    #[test]
    fn the_pager_jumps_around_the_current_page() {
        let pages: Vec<(String, i64, bool)> = jumps(5, 36)
            .into_iter()
            .map(|j| (j.label, j.page, j.current))
            .collect();
        let labels: Vec<&str> = pages.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            labels,
            [
                "« First",
                "‹ Previous",
                "3",
                "4",
                "5",
                "6",
                "7",
                "Next ›",
                "Last (36)"
            ]
        );
        assert!(pages.iter().any(|p| p.1 == 5 && p.2));
        assert!(jumps(1, 1).is_empty());
        assert_eq!(jumps(1, 2).len(), 4);
    }
}
