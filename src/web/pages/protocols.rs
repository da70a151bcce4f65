//! The protocol editor (a new trial, or a draft saved again as a new version) and the page of
//! one protocol version with its diff from the one before: what a signer reviews.

use super::{call, done, fixable, form_again, html, Chrome, Page};
use crate::protocol::{LoadedProtocol, ProtocolError};
use crate::service::{Permission, SavedVersion, ServiceError, VersionDetail};
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::notice::Notice;
use crate::web::{path_segment, AppState};
use actix_multipart::form::bytes::Bytes as UploadBytes;
use actix_multipart::form::text::Text;
use actix_multipart::form::MultipartForm;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

/// One line of the protocol editor, with the errors that point at it.
pub struct EditorLine {
    /// 1-based line number.
    pub number: usize,
    /// The text.
    pub text: String,
    /// Errors on this line.
    pub errors: Vec<String>,
}

/// The draft a page edits.
pub struct Draft {
    /// Trial id.
    pub id: String,
}

#[derive(Template)]
#[template(path = "trial_new.html")]
struct EditorPage {
    chrome: Chrome,
    /// The draft being edited; `None` for a new trial.
    draft: Option<Draft>,
    source: String,
    /// The text with line numbers (and the errors on each line).
    lines: Vec<EditorLine>,
    /// Whether any line has an error.
    line_errors: bool,
    /// Errors that name no line (and the service's refusals).
    general: Vec<String>,
    /// A trial that already has the id the text names: its page (or its editor, for a draft).
    existing: Option<(String, bool)>,
    /// What a valid text is: its trial id, its number of arms and its hash.
    ok: Option<(String, usize, String)>,
}

fn editor(
    chrome: Chrome,
    draft: Option<Draft>,
    source: String,
    errors: &[ProtocolError],
    ok: Option<(String, usize, String)>,
) -> EditorPage {
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
    let line_errors = lines.iter().any(|l| !l.errors.is_empty());
    EditorPage {
        chrome,
        draft,
        source,
        lines,
        line_errors,
        general,
        existing: None,
        ok,
    }
}

/// The page again with the error's status (a validation failure is 422).
fn again(page: &EditorPage, status: StatusCode) -> Page {
    let body = page
        .render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

#[get("/trials/new")]
pub(super) async fn new_trial_page(user: LoggedIn) -> Page {
    user.require(Permission::WriteProtocols)?;
    html(&editor(Chrome::of(&user), None, String::new(), &[], None))
}

/// The protocol editor's form: pasted text or an uploaded file.
#[derive(MultipartForm)]
pub(super) struct ProtocolUpload {
    csrf: Option<Text<String>>,
    action: Option<Text<String>>,
    #[multipart(limit = "1MB")]
    protocol: Option<Text<String>>,
    #[multipart(limit = "1MB")]
    protocol_file: Option<UploadBytes>,
}

/// What the editor's form sent: the text (an uploaded file wins over the text area), where it
/// came from, and whether the user asked to save it (not only to validate it).
struct Submitted {
    source: String,
    origin: String,
    save: bool,
}

impl ProtocolUpload {
    fn read(self, user: &LoggedIn) -> Result<Submitted, WebError> {
        user.check_csrf(self.csrf.as_ref().map_or("", |t| t.as_str()))?;
        user.require(Permission::WriteProtocols)?;
        let file = self.protocol_file.filter(|file| !file.data.is_empty());
        let origin = file
            .as_ref()
            .and_then(|file| file.file_name.clone())
            .unwrap_or_else(|| "the editor".to_owned());
        let uploaded = file
            .map(|file| {
                String::from_utf8(file.data.to_vec()).map_err(|_| {
                    WebError::BadRequest(
                        "protocol_file: the uploaded file is not UTF-8 text".into(),
                    )
                })
            })
            .transpose()?;
        // A text area sends its line breaks as CR LF: stored as LF, so that a version saved
        // from the browser and one written by the service compare line by line.
        Ok(Submitted {
            source: uploaded
                .or_else(|| self.protocol.map(|t| t.into_inner()))
                .unwrap_or_default()
                .replace("\r\n", "\n"),
            origin,
            save: self
                .action
                .is_some_and(|a| matches!(a.as_str(), "create" | "save")),
        })
    }
}

/// Validates the submitted text: `Ok(loaded)` when it validates, else the editor again with
/// the errors by line (422).
fn validated(
    user: &LoggedIn,
    draft: Option<Draft>,
    submitted: &Submitted,
) -> Result<Result<LoadedProtocol, Page>, WebError> {
    let chrome = Chrome::of(user);
    if submitted.source.trim().is_empty() {
        let mut page = editor(chrome, draft, String::new(), &[], None);
        page.general = vec!["paste a protocol or choose a file".into()];
        return Ok(Err(again(&page, StatusCode::UNPROCESSABLE_ENTITY)));
    }
    match LoadedProtocol::from_toml(&submitted.source, &submitted.origin) {
        Ok(loaded) => Ok(Ok(loaded)),
        Err(errors) => {
            let page = editor(
                chrome,
                draft,
                submitted.source.clone(),
                errors.errors(),
                None,
            );
            Ok(Err(again(&page, StatusCode::UNPROCESSABLE_ENTITY)))
        }
    }
}

fn valid_sentence(loaded: &LoadedProtocol) -> (String, usize, String) {
    (
        loaded.protocol.trial.id.clone(),
        loaded.protocol.arms.len(),
        loaded.hash.to_hex(),
    )
}

#[post("/trials")]
pub(super) async fn create_trial_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: MultipartForm<ProtocolUpload>,
) -> Page {
    let submitted = form.into_inner().read(&user)?;
    let loaded = match validated(&user, None, &submitted)? {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let id = loaded.protocol.trial.id.clone();
    if !submitted.save {
        let ok = valid_sentence(&loaded);
        return html(&editor(
            Chrome::of(&user),
            None,
            submitted.source,
            &[],
            Some(ok),
        ));
    }
    let (actor, source, origin) = (
        user.actor.clone(),
        submitted.source.clone(),
        submitted.origin,
    );
    let created = fixable(call(&state, move |s| s.create_trial(&actor, &source, &origin)).await)?;
    match created {
        Ok(summary) => Ok(done(
            &user,
            &format!("/trials/{}", path_segment(&summary.id)),
            Notice::TrialCreated,
        )),
        Err(error) => {
            let mut page = editor(Chrome::of(&user), None, submitted.source, &[], None);
            page.general = vec![error.message.clone()];
            // A trial with this id exists (creating a trial conflicts only so): link to it,
            // to its editor while it is a draft.
            if error.status == StatusCode::CONFLICT {
                let (actor, lookup) = (user.actor.clone(), id.clone());
                let draft = call(&state, move |s| s.trial_view(&actor, &lookup, false))
                    .await
                    .ok()
                    .map(|trial| trial.status == "draft");
                page.existing = draft.map(|draft| (id, draft));
            }
            form_again(&error, &page)
        }
    }
}

#[get("/trials/{id}/edit")]
pub(super) async fn edit_draft_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    user.require(Permission::WriteProtocols)?;
    let id = path.into_inner();
    let (actor, lookup) = (user.actor.clone(), id.clone());
    let trial = call(&state, move |s| s.trial_view(&actor, &lookup, false)).await?;
    if trial.status != "draft" {
        return Err(ServiceError::Conflict(format!(
            "trial {id} has started: its protocol changes only by an amendment (on the trial's page)"
        ))
        .into());
    }
    html(&editor(
        Chrome::of(&user),
        Some(Draft { id }),
        trial.source,
        &[],
        None,
    ))
}

#[post("/trials/{id}/edit")]
pub(super) async fn save_draft_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: MultipartForm<ProtocolUpload>,
) -> Page {
    let id = path.into_inner();
    let submitted = form.into_inner().read(&user)?;
    let draft = || Draft { id: id.clone() };
    let loaded = match validated(&user, Some(draft()), &submitted)? {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    if !submitted.save {
        let ok = valid_sentence(&loaded);
        return html(&editor(
            Chrome::of(&user),
            Some(draft()),
            submitted.source,
            &[],
            Some(ok),
        ));
    }
    let (actor, trial, source, origin) = (
        user.actor.clone(),
        id.clone(),
        submitted.source.clone(),
        submitted.origin,
    );
    let saved = fixable(
        call(&state, move |s| {
            s.revise_draft(&actor, &trial, &source, &origin)
        })
        .await,
    )?;
    match saved {
        Ok(SavedVersion {
            version,
            changed: true,
        }) => Ok(done(
            &user,
            &format!("/trials/{}/versions/{version}", path_segment(&id)),
            Notice::DraftSaved,
        )),
        Ok(SavedVersion { changed: false, .. }) => Ok(done(
            &user,
            &format!("/trials/{}", path_segment(&id)),
            Notice::NothingChanged,
        )),
        Err(error) => {
            let mut page = editor(
                Chrome::of(&user),
                Some(draft()),
                submitted.source,
                &[],
                None,
            );
            page.general = vec![error.message.clone()];
            form_again(&error, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "protocol_version.html")]
struct VersionPage {
    chrome: Chrome,
    detail: VersionDetail,
    /// The version's state in words.
    state_words: &'static str,
    /// Whether a signature now goes to this version (the newest one).
    awaiting: bool,
}

#[get("/trials/{id}/versions/{version}")]
pub(super) async fn version_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
) -> Page {
    let (id, version) = path.into_inner();
    let version: i32 = version.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
        WebError::NotFound(format!("trial {id} has no protocol version {version:?}"))
    })?;
    let actor = user.actor.clone();
    let detail = call(&state, move |s| s.protocol_version(&actor, &id, version)).await?;
    let started = detail.status != "draft";
    html(&VersionPage {
        chrome: Chrome::of(&user),
        state_words: detail.version.state.words(started),
        awaiting: detail.newest == detail.version.version,
        detail,
    })
}
