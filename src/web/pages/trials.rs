//! The trial list, the protocol editor, a trial's page and the statistician's actions on it.

use super::{call, html, see_other, Chrome, CsrfForm, Page};
use crate::protocol::{ArmId, LoadedProtocol, ProtocolError};
use crate::service::Permission;
use crate::service::{Amendment, Meaning, ServiceError, SimulationShelf, TrialListing, TrialView};
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::jobs::Job;
use crate::web::AppState;
use actix_multipart::form::bytes::Bytes as UploadBytes;
use actix_multipart::form::text::Text;
use actix_multipart::form::MultipartForm;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "trials.html")]
struct TrialsPage {
    chrome: Chrome,
    trials: Vec<TrialListing>,
}

#[get("/trials")]
pub(super) async fn trials_page(state: web::Data<AppState>, user: LoggedIn) -> Page {
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
pub(super) async fn new_trial_page(user: LoggedIn) -> Page {
    user.require(Permission::WriteProtocols)?;
    html(&editor(Chrome::of(&user), String::new(), &[], None))
}

/// The protocol editor's form: pasted text or an uploaded file.
#[derive(MultipartForm)]
struct ProtocolUpload {
    csrf: Option<Text<String>>,
    action: Option<Text<String>>,
    #[multipart(limit = "1MB")]
    protocol: Option<Text<String>>,
    #[multipart(limit = "1MB")]
    protocol_file: Option<UploadBytes>,
}

#[post("/trials")]
pub(super) async fn create_trial_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: MultipartForm<ProtocolUpload>,
) -> Page {
    let form = form.into_inner();
    user.check_csrf(form.csrf.as_ref().map_or("", |t| t.as_str()))?;
    user.require(Permission::WriteProtocols)?;
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
            Ok(see_other(&format!(
                "/trials/{}",
                crate::web::path_segment(&summary.id)
            )))
        }
    }
}

#[derive(Template)]
#[template(path = "trial.html")]
struct TrialPage {
    chrome: Chrome,
    trial: TrialView,
    jobs: Vec<Arc<Job>>,
    /// The trial's witness addresses (shown to those who may change them).
    witnesses: Vec<String>,
    /// The stored simulation reports (`simulation_list.html`), for the roles that read them.
    simulations: Option<SimulationShelf>,
}

#[get("/trials/{id}")]
pub(super) async fn trial_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    let id = path.into_inner();
    let actor = user.actor.clone();
    let lookup = id.clone();
    let trial = call(&state, move |s| s.trial_view(&actor, &lookup, false)).await?;
    let jobs = if user.may(Permission::WriteProtocols) {
        state.jobs.of_trial(&id)
    } else {
        Vec::new()
    };
    let witnesses = if user.may(Permission::DirectTrials) {
        let (actor, lookup) = (user.actor.clone(), id.clone());
        call(&state, move |s| s.witnesses(&actor, &lookup)).await?
    } else {
        Vec::new()
    };
    let simulations = if user.may(Permission::ReadSimulations) {
        let (actor, lookup) = (user.actor.clone(), id.clone());
        Some(call(&state, move |s| s.simulation_shelf(&actor, &lookup)).await?)
    } else {
        None
    };
    html(&TrialPage {
        chrome: Chrome::of(&user),
        trial,
        jobs,
        witnesses,
        simulations,
    })
}

#[derive(Deserialize)]
struct WitnessesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    witnesses: String,
}

/// Replaces the trial's witness addresses (who receive each signed head by e-mail).
#[post("/trials/{id}/witnesses")]
pub(super) async fn witnesses_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<WitnessesForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let id = path.into_inner();
    let (actor, trial, text) = (user.actor.clone(), id.clone(), form.into_inner().witnesses);
    call(&state, move |s| s.set_witnesses(&actor, &trial, &text)).await?;
    Ok(see_other(&format!("/trials/{id}")))
}

#[derive(Deserialize)]
struct SignForm {
    #[serde(default)]
    csrf: String,
    password: String,
    meaning: String,
}

#[post("/trials/{id}/sign")]
pub(super) async fn sign_page(
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
    Ok(see_other(&format!(
        "/trials/{}",
        crate::web::path_segment(&id)
    )))
}

#[post("/trials/{id}/start")]
pub(super) async fn start_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let id = path.into_inner();
    let (actor, trial) = (user.actor.clone(), id.clone());
    call(&state, move |s| s.start(&actor, &trial)).await?;
    Ok(see_other(&format!(
        "/trials/{}",
        crate::web::path_segment(&id)
    )))
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

#[post("/trials/{id}/{action:pause|resume|close}")]
pub(super) async fn pause_resume_close_page(
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
    Ok(see_other(&format!(
        "/trials/{}",
        crate::web::path_segment(&id)
    )))
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
pub(super) async fn amend_page(
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
    Ok(see_other(&format!(
        "/trials/{}",
        crate::web::path_segment(&id)
    )))
}
