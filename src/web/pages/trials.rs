//! The trial list, a trial's page and the statistician's actions on it. Each form on the page
//! is shown only where its action is possible (else one sentence says why); after a mistake the
//! user can fix, the page comes back with the message next to that form and what was typed;
//! after a success, the page confirms it (a [`Notice`]).

use super::{call, done, fixable, form_again, html, Chrome, CsrfForm, FormError, Page};
use crate::protocol::{limits, ArmId};
use crate::service::Permission;
use crate::service::{
    Amendment, ExportChoice, Meaning, ServiceError, SimulationShelf, TrialListing, TrialView,
};
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::jobs::Job;
use crate::web::notice::Notice;
use crate::web::AppState;
use actix_web::{get, post, web};
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

/// Which form on a trial's page failed, and why (shown next to that form).
#[derive(Default)]
pub struct Failed {
    form: &'static str,
    error: Option<FormError>,
}

impl Failed {
    fn of(form: &'static str, error: FormError) -> Self {
        Self {
            form,
            error: Some(error),
        }
    }

    /// The error of `form` (the form's id), if that form failed.
    pub fn on(&self, form: &str) -> Option<&FormError> {
        self.error.as_ref().filter(|_| self.form == form)
    }
}

/// What the user typed into the trial page's forms, shown again after an error (never a
/// password).
#[derive(Default)]
pub struct Typed {
    /// The signature's meaning.
    pub meaning: String,
    /// The amendment's arm id.
    pub arm_id: String,
    /// The amendment's arm name.
    pub arm_name: String,
    /// The amendment's ratio.
    pub ratio: String,
    /// The amendment's reason.
    pub amend_reason: String,
    /// The reason to pause.
    pub pause_reason: String,
    /// The reason to close.
    pub close_reason: String,
    /// The witness list as typed.
    pub witnesses: Option<String>,
}

#[derive(Template)]
#[template(path = "trial.html")]
struct TrialPage {
    chrome: Chrome,
    trial: TrialView,
    jobs: Vec<Arc<Job>>,
    /// The witness list as the form shows it: the stored addresses, or what was typed.
    witnesses: String,
    failed: Failed,
    typed: Typed,
    /// The version the simulation form offers first (`?simulate=N`, from a pending version's
    /// page; 0 for the one in force).
    simulate: i32,
    /// The stored simulation reports (`simulation_list.html`), for the roles that read them.
    simulations: Option<SimulationShelf>,
    /// For the roles that read the audit trail: whether the trial may be exported now, or why
    /// not (the export button is shown only where it works).
    export: Option<ExportChoice>,
}

#[derive(Deserialize)]
struct TrialQuery {
    #[serde(default)]
    simulate: Option<String>,
}

/// The trial's page: for `failed`, the form again with its error and `typed` (with the error's
/// status), else as stored.
async fn trial_page_with(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    id: String,
    failed: Failed,
    mut typed: Typed,
    simulate: Option<i32>,
) -> Page {
    let actor = user.actor.clone();
    let lookup = id.clone();
    let trial = call(state, move |s| s.trial_view(&actor, &lookup, false)).await?;
    let jobs = if user.may(Permission::WriteProtocols) {
        state.jobs.of_trial(&id)
    } else {
        Vec::new()
    };
    let witnesses = match typed.witnesses.take() {
        Some(typed) => typed,
        None if user.may(Permission::DirectTrials) => {
            let (actor, lookup) = (user.actor.clone(), id.clone());
            call(state, move |s| s.witnesses(&actor, &lookup))
                .await?
                .iter()
                .map(|w| format!("{w}\n"))
                .collect()
        }
        None => String::new(),
    };
    let simulations = if user.may(Permission::ReadSimulations) {
        let (actor, lookup) = (user.actor.clone(), id.clone());
        Some(call(state, move |s| s.simulation_shelf(&actor, &lookup)).await?)
    } else {
        None
    };
    let export = if user.may(Permission::ReadAudit) {
        let (actor, lookup) = (user.actor.clone(), id.clone());
        Some(call(state, move |s| s.export_choice(&actor, &lookup)).await?)
    } else {
        None
    };
    let status = failed.error.as_ref().map(|e| e.status);
    let page = TrialPage {
        chrome: Chrome::of(user),
        trial,
        jobs,
        witnesses,
        failed,
        typed,
        simulate: simulate.unwrap_or(0),
        simulations,
        export,
    };
    match (status, page.failed.error.as_ref()) {
        (Some(_), Some(error)) => form_again(error, &page),
        _ => html(&page),
    }
}

#[get("/trials/{id}")]
pub(super) async fn trial_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    query: web::Query<TrialQuery>,
) -> Page {
    let simulate = query.simulate.as_deref().and_then(|v| v.parse().ok());
    trial_page_with(
        &state,
        &user,
        path.into_inner(),
        Failed::default(),
        Typed::default(),
        simulate,
    )
    .await
}

/// After a form on the trial's page: on success the trial's page with `notice`; on a mistake
/// the user can fix, the page again with the form's error and what they typed.
async fn answer<T>(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    id: String,
    form: &'static str,
    result: Result<T, WebError>,
    notice: impl FnOnce(T) -> Notice,
    typed: Typed,
) -> Page {
    match fixable(result)? {
        Ok(value) => Ok(done(
            user,
            &format!("/trials/{}", crate::web::path_segment(&id)),
            notice(value),
        )),
        Err(error) => trial_page_with(state, user, id, Failed::of(form, error), typed, None).await,
    }
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
    let text = form.into_inner().witnesses;
    let (actor, trial, list) = (user.actor.clone(), id.clone(), text.clone());
    let result = call(&state, move |s| s.set_witnesses(&actor, &trial, &list)).await;
    let notice = |changed| {
        if changed {
            Notice::WitnessesSaved
        } else {
            Notice::NothingChanged
        }
    };
    answer(
        &state,
        &user,
        id,
        "witnesses",
        result,
        notice,
        Typed {
            witnesses: Some(text),
            ..Typed::default()
        },
    )
    .await
}

#[derive(Deserialize)]
struct SignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
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
    let form = form.into_inner();
    let typed = Typed {
        meaning: form.meaning.clone(),
        ..Typed::default()
    };
    let (actor, trial, password, meaning) =
        (user.actor.clone(), id.clone(), form.password, form.meaning);
    let result = call(&state, move |s| {
        let meaning: Meaning = meaning.parse()?;
        s.sign(&actor, &trial, meaning, &password).map(|_| ())
    })
    .await;
    answer(
        &state,
        &user,
        id,
        "sign",
        result,
        |()| Notice::ProtocolSigned,
        typed,
    )
    .await
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
    let result = call(&state, move |s| s.start(&actor, &trial)).await;
    answer(
        &state,
        &user,
        id,
        "start",
        result,
        |()| Notice::TrialStarted,
        Typed::default(),
    )
    .await
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
    let reason = form.into_inner().reason;
    let (form, notice, typed) = match action.as_str() {
        "pause" => (
            "pause",
            Notice::TrialPaused,
            Typed {
                pause_reason: reason.clone(),
                ..Typed::default()
            },
        ),
        "resume" => ("resume", Notice::TrialResumed, Typed::default()),
        _ => (
            "close",
            Notice::TrialClosed,
            Typed {
                close_reason: reason.clone(),
                ..Typed::default()
            },
        ),
    };
    let (actor, trial) = (user.actor.clone(), id.clone());
    let result = call(&state, move |s| match form {
        "pause" => s.pause(&actor, &trial, &reason),
        "resume" => s.resume(&actor, &trial),
        _ => s.close(&actor, &trial, &reason),
    })
    .await;
    answer(&state, &user, id, form, result, |()| notice, typed).await
}

#[derive(Deserialize)]
struct AmendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    arm_id: String,
    #[serde(default)]
    arm_name: String,
    #[serde(default)]
    ratio: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    reason: String,
}

/// The amendment the form describes: an arm with its id, name and fixed-allocation ratio.
fn arm_amendment(form: &AmendForm) -> Result<Amendment, ServiceError> {
    let id = ArmId::parse(form.arm_id.trim()).map_err(|e| ServiceError::Invalid {
        field: "arm_id",
        problem: e.to_string(),
    })?;
    let name = form.arm_name.trim();
    if name.is_empty() || name.chars().count() > limits::MAX_TEXT_CHARS {
        return Err(ServiceError::Invalid {
            field: "arm_name",
            problem: format!(
                "give the new arm a name of 1 to {} characters",
                limits::MAX_TEXT_CHARS
            ),
        });
    }
    let ratio = match form.ratio.trim() {
        "" => 1,
        text => text
            .parse::<u32>()
            .ok()
            .filter(|r| (1..=limits::MAX_RATIO).contains(r))
            .ok_or_else(|| ServiceError::Invalid {
                field: "ratio",
                problem: format!(
                    "{text:?} is not a whole number from 1 to {}",
                    limits::MAX_RATIO
                ),
            })?,
    };
    Ok(Amendment::AddArm {
        id,
        name: name.to_owned(),
        ratio,
    })
}

/// Proposes an amendment: a new protocol version, pending until another statistician approves
/// it; the answer is that version's page with its diff.
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
    let typed = Typed {
        arm_id: form.arm_id.clone(),
        arm_name: form.arm_name.clone(),
        ratio: form.ratio.clone(),
        amend_reason: form.reason.clone(),
        ..Typed::default()
    };
    let (actor, trial) = (user.actor.clone(), id.clone());
    let result = call(&state, move |s| {
        let amendment = arm_amendment(&form)?;
        s.amend(&actor, &trial, &amendment, &form.password, &form.reason)
    })
    .await;
    match fixable(result)? {
        Ok(version) => Ok(done(
            &user,
            &format!(
                "/trials/{}/versions/{version}",
                crate::web::path_segment(&id)
            ),
            Notice::AmendmentProposed,
        )),
        Err(error) => {
            trial_page_with(&state, &user, id, Failed::of("amend", error), typed, None).await
        }
    }
}
