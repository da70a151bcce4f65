//! The HTML pages, one file per area: thin handlers that extract, check the role and the CSRF
//! token, make one service call in a blocking task, and render an askama template. No
//! statistics and no SQL.

mod admin;
mod audit;
mod dashboard;
mod dashboard_strata;
mod nof1;
mod participants;
mod protocols;
mod session;
mod simulations;
mod trials;

use crate::service::Permission;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::LoggedIn;
use super::error::WebError;
use super::notice::{self, Notice};
use super::AppState;
use crate::service::{Role, Service, ServiceError};
use actix_web::http::StatusCode;

type Page = Result<HttpResponse, WebError>;

/// A form whose only field is the CSRF token.
#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

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

/// A `303 See Other` to `location` whose page confirms `notice` (post, redirect, get).
fn done(user: &LoggedIn, location: &str, notice: Notice) -> HttpResponse {
    notice::redirect_with(user.secure, location, notice)
}

/// A mistake the user can fix in the form they sent: the form is shown again, with the
/// message next to the field it names and every value they typed, in the full page layout.
#[derive(Debug, Clone)]
pub struct FormError {
    /// The form field at fault (the name of its input), when the error names one.
    pub field: Option<&'static str>,
    /// What is wrong and what to do, in the user's words.
    pub message: String,
    /// The answer's status: the error's own 4xx (422 for a value, 409 for a conflict, …).
    pub status: StatusCode,
}

impl FormError {
    /// The form-fixable errors; `None` for the rest (missing pages, lost sessions, CSRF,
    /// server errors), which keep the error page.
    pub fn of(error: &WebError) -> Option<Self> {
        let (status, _) = error.status_and_kind();
        let field = match error {
            WebError::Service(ServiceError::Invalid { field, .. }) => Some(*field),
            WebError::Service(
                ServiceError::Protocol(_)
                | ServiceError::Conflict(_)
                | ServiceError::Forbidden(_)
                | ServiceError::Unauthorized(_)
                | ServiceError::Throttled(_),
            )
            | WebError::BadRequest(_) => None,
            WebError::Service(
                ServiceError::NotFound(_)
                | ServiceError::Store(_)
                | ServiceError::Audit(_)
                | ServiceError::PasswordHash(_)
                | ServiceError::Integrity(_),
            )
            | WebError::Csrf
            | WebError::LoginRequired
            | WebError::PasswordChangeRequired
            | WebError::TooLarge(_)
            | WebError::UnsupportedMediaType(_)
            | WebError::NotFound(_)
            | WebError::MethodNotAllowed(_)
            | WebError::Busy(_)
            | WebError::Internal(_) => return None,
        };
        Some(Self {
            field,
            message: error.public_detail(),
            status,
        })
    }

    /// Whether the message belongs next to `field` (templates: `{% if e.on("subject_id") %}`).
    pub fn on(&self, field: &str) -> bool {
        self.field == Some(field)
    }

    /// Whether the message names no field of the form (shown above the form).
    pub fn general(&self) -> bool {
        self.field.is_none()
    }
}

/// Splits a form action's outcome: `Ok(Ok(value))` on success, `Ok(Err(form_error))` for a
/// mistake to show in the form again, `Err(error)` for an error page.
fn fixable<T>(result: Result<T, WebError>) -> Result<Result<T, FormError>, WebError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => match FormError::of(&error) {
            Some(form_error) => Ok(Err(form_error)),
            None => Err(error),
        },
    }
}

/// Renders `page` (the form again, with its [`FormError`] and the user's values) with the
/// error's status.
fn form_again<T: Template>(error: &FormError, page: &T) -> Page {
    let body = page
        .render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(error.status)
        .content_type("text/html; charset=utf-8")
        .body(body))
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
    /// The confirmation of the action that led here, shown once.
    pub notice: Option<Notice>,
}

impl Chrome {
    fn of(user: &LoggedIn) -> Self {
        Self {
            username: user.actor.username.clone(),
            role: user.actor.role,
            csrf: user.csrf.clone(),
            roles: user.roles.clone(),
            notice: user.notice,
        }
    }

    /// Whether the role reads the audit trail.
    pub fn audit(&self) -> bool {
        self.role.may(Permission::ReadAudit)
    }

    /// Whether the role is admin.
    pub fn admin(&self) -> bool {
        self.role.may(Permission::ManageUsers)
    }

    /// Whether the role is statistician.
    pub fn statistician(&self) -> bool {
        self.role.may(Permission::WriteProtocols)
    }

    /// Whether the role is coordinator.
    pub fn coordinator(&self) -> bool {
        self.role.may(Permission::Enrol)
    }

    /// Whether the role sees unblinded results.
    pub fn unblinded(&self) -> bool {
        self.role.may(Permission::SeeResults)
    }

    /// Whether the role lists participants.
    pub fn participants(&self) -> bool {
        self.role.may(Permission::ListParticipants)
    }

    /// Whether the role sees outcome values (everyone who lists participants but the
    /// pharmacist).
    pub fn sees_outcomes(&self) -> bool {
        self.role.may(Permission::Enrol) || self.role.may(Permission::SeeResults)
    }

    /// Whether the role may break a participant's code (emergency unblinding).
    pub fn breaks_codes(&self) -> bool {
        self.role.may(Permission::BreakCode)
    }

    /// Whether the role signs (statistician, DMC).
    pub fn signs(&self) -> bool {
        self.role.may(Permission::SignProtocols)
    }
}

/// Registers every page.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(session::home_page)
        .service(session::login_form_page)
        .service(session::login_page)
        .service(session::logout_page)
        .service(session::account_page)
        .service(session::change_password_page)
        .service(session::revoke_token_page)
        .service(trials::trials_page)
        .service(protocols::new_trial_page)
        .service(protocols::create_trial_page)
        .service(protocols::edit_draft_page)
        .service(protocols::save_draft_page)
        .service(protocols::version_page)
        .service(dashboard::dashboard_page)
        .service(dashboard::recommend_page)
        .service(dashboard::report_page)
        .service(simulations::simulate_page)
        .service(simulations::simulate_form_page)
        .service(simulations::stored_report_page)
        .service(simulations::stored_report_html)
        .service(simulations::stored_report_json)
        .service(simulations::simulation_report_page)
        .service(simulations::cancel_simulation_page)
        .service(simulations::simulation_page)
        .service(participants::enrol_form_page)
        .service(participants::enrol_page)
        .service(participants::participants_page)
        .service(participants::work_page)
        .service(participants::participant_page)
        .service(participants::record_outcome_page)
        .service(participants::code_break_page)
        .service(nof1::record_measurement_page)
        .service(nof1::report_page)
        .service(nof1::series_page)
        .service(audit::export_jsonl_page)
        .service(audit::export_jsonl_get_page)
        .service(audit::export_page)
        .service(trials::sign_page)
        .service(trials::start_page)
        .service(trials::amend_page)
        .service(trials::pause_resume_close_page)
        .service(trials::witnesses_page)
        .service(trials::trial_page)
        .service(audit::audit_page)
        .service(audit::verify_page)
        .service(admin::users_page)
        .service(admin::add_user_page)
        .service(admin::user_page)
        .service(admin::change_role_page)
        .service(admin::set_active_page)
        .service(admin::reset_password_page);
}
