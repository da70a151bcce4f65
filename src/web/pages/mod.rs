//! The HTML pages, one file per area: thin handlers that extract, check the role and the CSRF
//! token, make one service call in a blocking task, and render an askama template. No
//! statistics and no SQL.

mod admin;
mod audit;
mod dashboard;
mod nof1;
mod participants;
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
use super::AppState;
use crate::service::{Role, Service, ServiceError};

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
        .service(trials::new_trial_page)
        .service(trials::create_trial_page)
        .service(dashboard::dashboard_page)
        .service(simulations::simulate_page)
        .service(simulations::simulation_report_page)
        .service(simulations::cancel_simulation_page)
        .service(simulations::simulation_page)
        .service(participants::enrol_form_page)
        .service(participants::enrol_page)
        .service(participants::participants_page)
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
        .service(admin::change_role_page)
        .service(admin::set_active_page);
}
