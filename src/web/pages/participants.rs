//! Enrolment, the participant list and the coordinator's work list, a participant's timeline,
//! and outcomes. On n-of-1 trials enrolment takes the patient's start date and the participant
//! page is the patient's calendar (see [`super::nof1`]).
//!
//! Every form here is shown again after a mistake the user can fix, with the message next to
//! its field and the values typed ([`Entered`]); an action that worked confirms itself with a
//! [`Notice`].

use super::nof1::{self, Entered, Saved};
use super::{call, done, fixable, form_again, html, Chrome, FormError, Page};
use crate::protocol::OutcomeKind;
use crate::service::Permission;
use crate::service::{
    AssignmentView, CodeBreak, ParticipantDetail, ParticipantList, ParticipantQuery, ServiceError,
    TrialView, WorkList, MAX_SEARCH_CHARS,
};
use crate::web::auth::LoggedIn;
use crate::web::notice::Notice;
use crate::web::{path_segment, AppState};
use actix_web::{get, post, web};
use askama::Template;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The participant page's address.
fn participant_href(trial: &str, subject: &str) -> String {
    format!(
        "/trials/{}/participants/{}",
        path_segment(trial),
        path_segment(subject)
    )
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    chrome: Chrome,
    trial: TrialView,
    idempotency_key: String,
    assignment: Option<AssignmentView>,
    form_error: Option<FormError>,
    /// The values typed (empty on a fresh form).
    subject_id: String,
    start_date: String,
    eligible: bool,
    /// Precision designs: the biomarker levels chosen (id → level).
    biomarkers: BTreeMap<String, String>,
}

impl EnrolPage {
    fn error_on(&self, field: &str) -> Option<&str> {
        self.form_error
            .as_ref()
            .filter(|e| e.on(field))
            .map(|e| e.message.as_str())
    }

    /// Whether `level` of biomarker `id` was chosen on the form shown again.
    fn chosen(&self, id: &str, level: &str) -> bool {
        self.biomarkers.get(id).is_some_and(|l| l == level)
    }
}

/// The form field of a biomarker's level: `biomarker.ID`.
const BIOMARKER_FIELD: &str = "biomarker.";

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
        form_error: None,
        subject_id: String::new(),
        start_date: String::new(),
        eligible: false,
        biomarkers: BTreeMap::new(),
    })
}

#[derive(Deserialize)]
struct EnrolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject_id: String,
    #[serde(default)]
    eligible: String,
    #[serde(default)]
    idempotency_key: String,
    /// n-of-1 trials: the date of study day 1 (empty: today).
    #[serde(default)]
    start_date: String,
    /// Precision designs: `biomarker.ID` = level, one per biomarker (other keys are ignored).
    #[serde(flatten)]
    other: BTreeMap<String, String>,
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
    let id = path.into_inner();
    let (actor, trial) = (user.actor.clone(), id.clone());
    let eligible = form.eligible == "yes";
    let key = Some(form.idempotency_key.clone()).filter(|k| !k.is_empty());
    let start = Some(form.start_date.trim().to_owned()).filter(|d| !d.is_empty());
    let subject = form.subject_id.clone();
    let biomarkers: BTreeMap<String, String> = form
        .other
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(BIOMARKER_FIELD)?.to_owned(), v.clone())))
        .collect();
    let given = biomarkers.clone();
    let outcome = fixable(
        call(&state, move |s| {
            if !eligible {
                return Err(ServiceError::Invalid {
                    field: "eligible",
                    problem: "confirm that the participant meets every eligibility criterion"
                        .into(),
                });
            }
            let assignment = if given.is_empty() {
                s.enrol_starting(&actor, &trial, &subject, key.as_deref(), start.as_deref())?
            } else {
                s.enrol_with_biomarkers(&actor, &trial, &subject, key.as_deref(), given)?
            };
            Ok((
                s.assignment_view(&actor, &assignment)?,
                assignment.subject_id,
            ))
        })
        .await,
    )?;
    let actor = user.actor.clone();
    let trial = id.clone();
    let view = call(&state, move |s| s.trial_view(&actor, &trial, false)).await?;
    match outcome {
        Ok((_, subject)) if view.nof1 => {
            // The patient's calendar is the answer.
            Ok(done(
                &user,
                &participant_href(&id, &subject),
                Notice::Enrolled,
            ))
        }
        Ok((assignment, _)) => {
            // The assignment is the answer: shown once, here, with the notice.
            let mut chrome = Chrome::of(&user);
            chrome.notice = Some(Notice::Enrolled);
            html(&EnrolPage {
                chrome,
                trial: view,
                idempotency_key: state.service.new_token(),
                assignment: Some(assignment),
                form_error: None,
                subject_id: String::new(),
                start_date: String::new(),
                eligible: false,
                biomarkers: BTreeMap::new(),
            })
        }
        Err(error) => form_again(
            &error,
            &EnrolPage {
                chrome: Chrome::of(&user),
                trial: view,
                // The same key: sending the corrected form again is the same enrolment.
                idempotency_key: form.idempotency_key,
                assignment: None,
                form_error: Some(error.clone()),
                subject_id: form.subject_id,
                start_date: form.start_date,
                eligible,
                biomarkers,
            },
        ),
    }
}

/// A link to one page of the list.
pub struct PageLink {
    /// What the link says.
    pub label: String,
    /// Where it goes (empty for the current page).
    pub href: String,
    /// Whether it is the page shown.
    pub current: bool,
}

#[derive(Template)]
#[template(path = "participants.html")]
struct ParticipantsPage {
    chrome: Chrome,
    trial: TrialView,
    list: ParticipantList,
    links: Vec<PageLink>,
    form_error: Option<FormError>,
    /// The search and filters as typed.
    search: String,
    outcome: String,
    arm: String,
    max_search: usize,
}

impl ParticipantsPage {
    fn error_on(&self, field: &str) -> Option<&str> {
        self.form_error
            .as_ref()
            .filter(|e| e.on(field))
            .map(|e| e.message.as_str())
    }
}

#[derive(Deserialize)]
struct ListForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    arm: String,
    #[serde(default)]
    page: String,
}

/// The page links of a list: first, previous, a window of five around the page, next, last;
/// each keeps the search and the filters.
fn page_links(trial: &str, list: &ParticipantList) -> Vec<PageLink> {
    if list.pages <= 1 {
        return Vec::new();
    }
    let q = &list.query;
    let mut base = format!("/trials/{}/participants?", path_segment(trial));
    for (key, value) in [
        ("q", q.search.as_str()),
        ("outcome", q.outcome.as_str()),
        ("arm", q.arm.as_deref().unwrap_or("")),
    ] {
        if !value.is_empty() {
            base.push_str(&format!("{key}={}&", path_segment(value)));
        }
    }
    let link = |label: String, page: u64| PageLink {
        label,
        href: if page == list.page {
            String::new()
        } else {
            format!("{base}page={page}")
        },
        current: page == list.page,
    };
    let mut links = Vec::new();
    if list.page > 1 {
        links.push(link("« first".into(), 1));
        links.push(link("‹ previous".into(), list.page - 1));
    }
    let high = list.page.saturating_add(2).max(5).min(list.pages);
    for page in high.saturating_sub(4).max(1)..=high {
        links.push(link(page.to_string(), page));
    }
    if list.page < list.pages {
        links.push(link("next ›".into(), list.page + 1));
        links.push(link("last »".into(), list.pages));
    }
    links
}

#[get("/trials/{id}/participants")]
pub(super) async fn participants_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    query: web::Query<ListForm>,
) -> Page {
    let id = path.into_inner();
    let form = query.into_inner();
    let actor = user.actor.clone();
    let trial = id.clone();
    let (q, o, a, p) = (
        form.q.clone(),
        form.outcome.clone(),
        form.arm.clone(),
        form.page.clone(),
    );
    let (view, list) = call(&state, move |s| {
        let view = s.trial_view(&actor, &trial, false)?;
        let list = ParticipantQuery::parse(&q, &o, &a, &p)
            .and_then(|query| s.participant_list(&actor, &trial, query));
        match list {
            Ok(list) => Ok((view, Ok(list))),
            // A query to fix: the whole list, with the message next to the field.
            Err(error @ ServiceError::Invalid { .. }) => {
                let all = s.participant_list(&actor, &trial, ParticipantQuery::default())?;
                Ok((view, Err((error, all))))
            }
            Err(other) => Err(other),
        }
    })
    .await?;
    let (list, form_error) = match list {
        Ok(list) => (list, None),
        Err((error, all)) => (all, FormError::of(&error.into())),
    };
    let page = ParticipantsPage {
        chrome: Chrome::of(&user),
        links: page_links(&id, &list),
        trial: view,
        list,
        search: form.q,
        outcome: form.outcome,
        arm: form.arm,
        max_search: MAX_SEARCH_CHARS,
        form_error,
    };
    match &page.form_error {
        Some(error) => form_again(error, &page),
        None => html(&page),
    }
}

#[derive(Template)]
#[template(path = "work.html")]
struct WorkPage {
    chrome: Chrome,
    trial: TrialView,
    work: WorkList,
}

/// The coordinator's work list: outcomes awaited (with the days since randomisation against
/// the protocol's expected delay) or, on n-of-1 trials, the measurements due.
#[get("/trials/{id}/work")]
pub(super) async fn work_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    user.require(Permission::Enrol)?;
    let id = path.into_inner();
    let actor = user.actor.clone();
    let (trial, work) = call(&state, move |s| {
        Ok((s.trial_view(&actor, &id, false)?, s.work_list(&actor, &id)?))
    })
    .await?;
    html(&WorkPage {
        chrome: Chrome::of(&user),
        trial,
        work,
    })
}

#[derive(Template)]
#[template(path = "participant.html")]
struct ParticipantPage {
    chrome: Chrome,
    trial: TrialView,
    detail: ParticipantDetail,
    binary: bool,
    /// The outcome form's value: what was typed after a mistake, else the current value.
    value: String,
    entered: Entered,
}

impl ParticipantPage {
    fn new(user: &LoggedIn, trial: TrialView, detail: ParticipantDetail, entered: Entered) -> Self {
        let value = if entered.failed == "outcome" {
            entered.value.clone()
        } else {
            detail.current_value.clone().unwrap_or_default()
        };
        Self {
            chrome: Chrome::of(user),
            binary: trial.outcome_kind == OutcomeKind::Binary,
            trial,
            detail,
            value,
            entered,
        }
    }
}

/// The participant page of either design, with a form sent back (or none).
async fn show_participant(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    id: String,
    subject: String,
    saved: &Saved,
    entered: Entered,
) -> Page {
    let actor = user.actor.clone();
    let (trial, detail, report) = call(state, move |s| {
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
    let error = entered.form_error.clone();
    if let Some(report) = report {
        return nof1::participant_page(user, trial, detail, report, saved, entered);
    }
    let page = ParticipantPage::new(user, trial, detail, entered);
    match &error {
        Some(error) => form_again(error, &page),
        None => html(&page),
    }
}

#[get("/trials/{id}/participants/{subject}")]
pub(super) async fn participant_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
    saved: web::Query<Saved>,
) -> Page {
    let (id, subject) = path.into_inner();
    show_participant(&state, &user, id, subject, &saved, Entered::default()).await
}

#[derive(Deserialize)]
struct OutcomeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
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
    let (value, reason) = (form.value.clone(), form.reason.clone());
    let receipt = fixable(
        call(&state, move |s| {
            let value = s.parse_outcome(&trial, &value)?;
            let reason = Some(reason.trim()).filter(|r| !r.is_empty());
            s.record_outcome(&actor, &trial, &who, value, reason)
        })
        .await,
    )?;
    match receipt {
        Ok(receipt) => {
            let notice = if receipt.corrects.is_some() || !form.reason.trim().is_empty() {
                Notice::OutcomeCorrected
            } else {
                Notice::OutcomeRecorded
            };
            Ok(done(&user, &participant_href(&id, &subject), notice))
        }
        Err(error) => {
            let entered = Entered {
                failed: "outcome",
                form_error: Some(error),
                value: form.value,
                reason: form.reason,
                ..Entered::default()
            };
            show_participant(&state, &user, id, subject, &Saved::default(), entered).await
        }
    }
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
    let (actor, trial, who) = (user.actor.clone(), id.clone(), subject.clone());
    let (reason, password) = (form.reason.clone(), form.password);
    let answer = fixable(
        call(&state, move |s| {
            let answer = s.break_code(&actor, &trial, &who, &reason, &password)?;
            Ok((answer, s.trial_view(&actor, &trial, false)?))
        })
        .await,
    )?;
    let (answer, view) = match answer {
        Ok(answer) => answer,
        Err(error) => {
            // The password is never sent back.
            let entered = Entered {
                failed: "unblind",
                form_error: Some(error),
                reason: form.reason,
                ..Entered::default()
            };
            return show_participant(&state, &user, id, subject, &Saved::default(), entered).await;
        }
    };
    let arm_name = view
        .arms
        .iter()
        .find(|a| a.id == answer.arm)
        .map_or_else(|| answer.arm.clone(), |a| a.name.clone());
    // The answer is shown once, here: this page is the confirmation.
    let mut chrome = Chrome::of(&user);
    chrome.notice = Some(Notice::CodeBroken);
    html(&CodeBreakPage {
        chrome,
        trial_id: id,
        answer,
        arm_name,
    })
}
