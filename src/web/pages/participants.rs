//! Enrolment, the participant list, a participant's timeline, and outcomes. On n-of-1 trials
//! enrolment takes the patient's start date and the participant page is the patient's calendar
//! (see [`super::nof1`]).

use super::nof1::{self, Saved};
use super::{call, html, see_other, Chrome, Page};
use crate::protocol::OutcomeKind;
use crate::service::Permission;
use crate::service::{
    AssignmentView, CodeBreak, ParticipantDetail, ParticipantView, ServiceError, TrialView,
};
use crate::web::auth::LoggedIn;
use crate::web::AppState;
use actix_web::{get, post, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    chrome: Chrome,
    trial: TrialView,
    idempotency_key: String,
    assignment: Option<AssignmentView>,
}

#[get("/trials/{id}/enrol")]
pub(super) async fn enrol_form_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    user.require(Permission::Enrol)?;
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
    /// n-of-1 trials: the date of study day 1 (empty: today).
    #[serde(default)]
    start_date: String,
}

#[post("/trials/{id}/participants")]
pub(super) async fn enrol_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<EnrolForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::Enrol)?;
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
    let start = Some(form.start_date.trim().to_owned()).filter(|d| !d.is_empty());
    let (assignment, view) = call(&state, move |s| {
        let assignment = s.enrol_starting(
            &actor,
            &trial,
            &form.subject_id,
            key.as_deref(),
            start.as_deref(),
        )?;
        let shown = s.assignment_view(&actor, &assignment)?;
        Ok((shown, s.trial_view(&actor, &trial, false)?))
    })
    .await?;
    if view.nof1 {
        // The patient's calendar is the answer.
        return Ok(see_other(&format!(
            "/trials/{}/participants/{}",
            crate::web::path_segment(&id),
            crate::web::path_segment(&assignment.subject_id)
        )));
    }
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
pub(super) async fn participants_page(
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
pub(super) async fn participant_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
    saved: web::Query<Saved>,
) -> Page {
    let (id, subject) = path.into_inner();
    let actor = user.actor.clone();
    let (trial, detail, report) = call(&state, move |s| {
        let detail = s.participant(&actor, &id, &subject)?;
        let trial = s.trial_view(&actor, &id, false)?;
        let report = if trial.nof1
            && (actor.may(Permission::ReadPatientReports) || actor.may(Permission::Dispense))
        {
            Some(s.patient_report(&actor, &id, &subject)?)
        } else {
            None
        };
        Ok((trial, detail, report))
    })
    .await?;
    if let Some(report) = report {
        return nof1::participant_page(&user, trial, detail, report, &saved);
    }
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
pub(super) async fn record_outcome_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
    form: web::Form<OutcomeForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::Enrol)?;
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
        "/trials/{}/participants/{}",
        crate::web::path_segment(&id),
        crate::web::path_segment(&subject)
    )))
}

#[derive(Template)]
#[template(path = "code_break.html")]
struct CodeBreakPage {
    chrome: Chrome,
    trial_id: String,
    answer: CodeBreak,
    /// The arm's display name (platform trials).
    arm_name: String,
}

#[derive(Deserialize)]
struct CodeBreakForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    password: String,
}

/// Emergency unblinding from the participant page: the answer is shown once, on its own page.
#[post("/trials/{id}/participants/{subject}/unblind")]
pub(super) async fn code_break_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CodeBreakForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let (id, subject) = path.into_inner();
    let form = form.into_inner();
    let (actor, trial) = (user.actor.clone(), id.clone());
    let (answer, view) = call(&state, move |s| {
        let answer = s.break_code(&actor, &trial, &subject, &form.reason, &form.password)?;
        Ok((answer, s.trial_view(&actor, &trial, false)?))
    })
    .await?;
    let arm_name = view
        .arms
        .iter()
        .find(|a| a.id == answer.arm)
        .map_or_else(|| answer.arm.clone(), |a| a.name.clone());
    html(&CodeBreakPage {
        chrome: Chrome::of(&user),
        trial_id: id,
        answer,
        arm_name,
    })
}
