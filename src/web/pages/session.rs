//! Login, logout, the account page and password change.

use super::{call, html, see_other, Chrome, CsrfForm, Page};
use crate::service::{Role, ServiceError, TokenListing};
use crate::web::auth::{cookie, same_token, LoggedIn, LOGIN_COOKIE, SESSION_COOKIE};
use crate::web::error::WebError;
use crate::web::AppState;
use actix_web::{get, post, web, HttpRequest, HttpResponse, Responder};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    username: String,
    problem: Option<String>,
}

fn render_login(
    req: &HttpRequest,
    state: &AppState,
    username: &str,
    problem: Option<String>,
    status: actix_web::http::StatusCode,
) -> Page {
    let csrf = state.service.new_token();
    let page = LoginPage {
        csrf: csrf.clone(),
        username: username.to_owned(),
        problem,
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
    render_login(&req, &state, "", None, actix_web::http::StatusCode::OK)
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
    let role = match form.role.trim() {
        "" => None,
        text => Some(text.parse::<Role>()?),
    };
    let (username, password) = (form.username.clone(), form.password);
    let started = call(&state, move |s| s.start_session(&username, &password, role)).await;
    match started {
        Ok(session) => Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/trials"))
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
            render_login(&req, &state, &form.username, Some(error.to_string()), code)
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
    problem: Option<String>,
    tokens: Vec<TokenListing>,
}

#[get("/account")]
pub(super) async fn account_page(state: web::Data<AppState>, user: LoggedIn) -> Page {
    let actor = user.actor.clone();
    let tokens = call(&state, move |s| s.api_tokens(&actor)).await?;
    html(&AccountPage {
        chrome: Chrome::of(&user),
        problem: None,
        tokens,
    })
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
    call(&state, move |s| s.revoke_own_api_token(&actor, &token)).await?;
    Ok(see_other("/account"))
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
    if form.new != form.confirm {
        return Err(WebError::Service(ServiceError::Invalid {
            field: "confirm",
            problem: "the new password and its confirmation differ".into(),
        }));
    }
    let actor = user.actor.clone();
    call(&state, move |s| {
        s.change_password(&actor, &form.current, &form.new)
    })
    .await?;
    Ok(see_other("/login"))
}
