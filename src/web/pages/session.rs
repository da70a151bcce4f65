//! Login, logout, the account page and password change.

use super::{call, done, form_again, html, see_other, Chrome, CsrfForm, FormError, Page};
use crate::service::{Role, ServiceError, TokenListing};
use crate::web::auth::{cookie, same_token, LoggedIn, LOGIN_COOKIE, SESSION_COOKIE};
use crate::web::error::WebError;
use crate::web::notice::{self, Notice};
use crate::web::AppState;
use actix_web::{get, post, web, HttpRequest, HttpResponse, Responder};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    /// The user name typed (kept when the login failed).
    username: String,
    /// The role chosen (kept when the login failed).
    role: String,
    /// Every role, for the role choice.
    all_roles: [Role; 6],
    /// Why the login failed.
    problem: Option<String>,
    /// The confirmation of the action before (a password change logs out).
    notice: Option<Notice>,
}

fn render_login(
    req: &HttpRequest,
    state: &AppState,
    (username, role): (&str, &str),
    problem: Option<String>,
    status: actix_web::http::StatusCode,
) -> Page {
    let csrf = state.service.new_token();
    let page = LoginPage {
        csrf: csrf.clone(),
        username: username.to_owned(),
        role: role.to_owned(),
        all_roles: Role::ALL,
        problem,
        notice: notice::carried(req),
    };
    let body = page
        .render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .cookie(cookie(req, LOGIN_COOKIE, csrf))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

#[get("/")]
pub(super) async fn home_page(req: HttpRequest) -> impl Responder {
    if req.cookie(SESSION_COOKIE).is_some() {
        see_other("/trials")
    } else {
        see_other("/login")
    }
}

#[get("/login")]
pub(super) async fn login_form_page(req: HttpRequest, state: web::Data<AppState>) -> Page {
    render_login(
        &req,
        &state,
        ("", ""),
        None,
        actix_web::http::StatusCode::OK,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    csrf: String,
}

#[post("/login")]
pub(super) async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Page {
    let form = form.into_inner();
    let expected = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    if !expected.is_some_and(|token| same_token(&token, &form.csrf)) {
        return Err(WebError::Csrf);
    }
    let kept = (form.username.as_str(), form.role.as_str());
    let role = match form.role.trim() {
        "" => None,
        text => match text.parse::<Role>() {
            Ok(role) => Some(role),
            Err(error) => {
                let status = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
                return render_login(&req, &state, kept, Some(error.to_string()), status);
            }
        },
    };
    let (username, password) = (form.username.clone(), form.password.clone());
    let started = call(&state, move |s| s.start_session(&username, &password, role)).await;
    match started {
        // A user whose password an admin reset goes to the password change first.
        Ok(session) => Ok(HttpResponse::SeeOther()
            .insert_header((
                "Location",
                if session.must_change_password {
                    "/account"
                } else {
                    "/trials"
                },
            ))
            .cookie(cookie(&req, SESSION_COOKIE, session.token))
            .finish()),
        Err(WebError::Service(
            error @ (ServiceError::Unauthorized(_) | ServiceError::Throttled(_)),
        )) => {
            let code = if matches!(error, ServiceError::Throttled(_)) {
                actix_web::http::StatusCode::TOO_MANY_REQUESTS
            } else {
                actix_web::http::StatusCode::UNAUTHORIZED
            };
            render_login(&req, &state, kept, Some(error.to_string()), code)
        }
        Err(other) => Err(other),
    }
}

#[post("/logout")]
pub(super) async fn logout_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<CsrfForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let token = user.token.clone();
    call(&state, move |s| s.end_session(&token)).await?;
    let mut gone = cookie(&req, SESSION_COOKIE, String::new());
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/login"))
        .cookie(gone)
        .finish())
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    /// Whether an admin reset the password: the page then asks for a new one first.
    must_change_password: bool,
    tokens: Vec<TokenListing>,
    /// The password form's mistake.
    password_error: Option<FormError>,
    /// The token list's mistake.
    token_error: Option<FormError>,
}

async fn account_page_of(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    password_error: Option<FormError>,
    token_error: Option<FormError>,
) -> Result<AccountPage, WebError> {
    let actor = user.actor.clone();
    let tokens = call(state, move |s| s.api_tokens(&actor)).await?;
    Ok(AccountPage {
        chrome: Chrome::of(user),
        must_change_password: user.must_change_password,
        tokens,
        password_error,
        token_error,
    })
}

#[get("/account")]
pub(super) async fn account_page(state: web::Data<AppState>, user: LoggedIn) -> Page {
    html(&account_page_of(&state, &user, None, None).await?)
}

#[derive(Deserialize)]
struct RevokeTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// Revokes one of the user's own API tokens (the account page's list).
#[post("/account/tokens/revoke")]
pub(super) async fn revoke_token_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<RevokeTokenForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let (actor, token) = (user.actor.clone(), form.into_inner().token);
    match call(&state, move |s| s.revoke_own_api_token(&actor, &token)).await {
        Ok(()) => Ok(done(&user, "/account", Notice::TokenRevoked)),
        // A token revoked meanwhile (another tab) or an id that is not the user's: the list
        // again, with what happened.
        Err(
            error @ WebError::Service(ServiceError::NotFound(_) | ServiceError::Invalid { .. }),
        ) => {
            let (status, _) = error.status_and_kind();
            let problem = FormError {
                field: None,
                message: error.public_detail(),
                status,
            };
            let page = account_page_of(&state, &user, None, Some(problem.clone())).await?;
            form_again(&problem, &page)
        }
        Err(other) => Err(other),
    }
}

/// Where a password change's error belongs on the account page: the strength rule's
/// `password` is the new password's field, a wrong current password the current one's.
fn password_form_error(error: WebError) -> Result<FormError, WebError> {
    let field = match &error {
        WebError::Service(ServiceError::Invalid {
            field: "password", ..
        }) => Some("new"),
        WebError::Service(ServiceError::Invalid { field, .. }) => Some(*field),
        WebError::Service(ServiceError::Unauthorized(_)) => Some("current"),
        _ => None,
    };
    let mut form_error = FormError::of(&error).ok_or(error)?;
    if field.is_some() {
        form_error.field = field;
    }
    Ok(form_error)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

#[post("/account/password")]
pub(super) async fn change_password_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<PasswordForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let changed = if form.new == form.confirm {
        let actor = user.actor.clone();
        call(&state, move |s| {
            s.change_password(&actor, &form.current, &form.new)
        })
        .await
    } else {
        Err(WebError::Service(ServiceError::Invalid {
            field: "confirm",
            problem: "the new password and its confirmation differ".into(),
        }))
    };
    match changed {
        // Every session of the user ended with the change: log in with the new password.
        Ok(()) => Ok(done(&user, "/login", Notice::PasswordChanged)),
        Err(error) => {
            let problem = password_form_error(error)?;
            let page = account_page_of(&state, &user, Some(problem.clone()), None).await?;
            form_again(&problem, &page)
        }
    }
}
