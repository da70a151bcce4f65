//! Who is asking: the session cookie (pages) and the bearer token (JSON API), each checked by
//! the service in a blocking task; and the CSRF checks of forms.
//!
//! Pages: a session cookie (HttpOnly, SameSite=Strict, Secure when the request came over
//! TLS) and, on every form, the session's CSRF token. The login form, before any session,
//! carries a token that must equal a cookie set with the form (double submit).

use crate::service::Permission;
use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::{ApiError, WebError};
use super::AppState;
use crate::service::{Actor, Role, ServiceError};

/// The session cookie.
pub const SESSION_COOKIE: &str = "bayestrial_session";
/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "bayestrial_login";

/// Equality that takes the same time wherever the first difference is.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie with the app's flags: HttpOnly, SameSite=Strict, path `/`, Secure over TLS.
pub fn cookie(req: &HttpRequest, name: &'static str, value: String) -> Cookie<'static> {
    let secure = req.connection_info().scheme() == "https";
    Cookie::build(name, value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .finish()
}

/// A logged-in user (pages).
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// Who, in which role.
    pub actor: Actor,
    /// The session's CSRF token.
    pub csrf: String,
    /// The user's roles.
    pub roles: Vec<Role>,
    /// The session token (for logout).
    pub token: String,
    /// The confirmation the request carries from the action before it, if any.
    pub notice: Option<super::notice::Notice>,
    /// Whether the request came over TLS (cookies set in the answer are then `Secure`).
    pub secure: bool,
    /// Whether an admin reset the password and the user must choose a new one (only the
    /// account page, its password change and logout answer until then).
    pub must_change_password: bool,
}

/// The pages a user whose password was reset may reach before choosing a new one: the account
/// page with its password form, and logout.
fn open_before_password_change(method: &actix_web::http::Method, path: &str) -> bool {
    use actix_web::http::Method;
    matches!(
        (method, path),
        (&Method::GET, "/account") | (&Method::POST, "/account/password" | "/logout")
    )
}

impl LoggedIn {
    /// Refuses unless the actor's role has `permission` (asked of the service's model).
    pub fn require(&self, permission: Permission) -> Result<(), WebError> {
        Ok(self.actor.require(permission)?)
    }

    /// Refuses a form whose CSRF token is not the session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if same_token(token, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    /// Whether the role has `permission` (for showing actions).
    pub fn may(&self, permission: Permission) -> bool {
        self.actor.may(permission)
    }
}

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>>>>;

fn state(req: &HttpRequest) -> Option<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>().cloned()
}

impl FromRequest for LoggedIn {
    type Error = WebError;
    type Future = Boxed<Self, WebError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let notice = super::notice::carried(req);
        let secure = req.connection_info().scheme() == "https";
        let open = open_before_password_change(req.method(), req.path());
        Box::pin(async move {
            let state = state.ok_or_else(|| WebError::Internal("no app state".into()))?;
            let token = token.ok_or(WebError::LoginRequired)?;
            let service = state.service.clone();
            let lookup = token.clone();
            let session = web::block(move || service.session(&lookup))
                .await?
                .map_err(|error| match error {
                    ServiceError::Unauthorized(_) => WebError::LoginRequired,
                    other => WebError::Service(other),
                })?;
            if session.must_change_password && !open {
                return Err(WebError::PasswordChangeRequired);
            }
            Ok(LoggedIn {
                actor: session.actor,
                csrf: session.csrf,
                roles: session.roles,
                token,
                notice,
                secure,
                must_change_password: session.must_change_password,
            })
        })
    }
}

/// The actor behind `Authorization: Bearer TOKEN` (JSON API).
#[derive(Debug, Clone)]
pub struct Bearer {
    /// Who, in which role.
    pub actor: Actor,
    /// The token (to revoke it).
    pub token: String,
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = Boxed<Self, ApiError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| WebError::Internal("no app state".into()))?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ServiceError::Unauthorized(
                        "send the header Authorization: Bearer TOKEN (POST /api/session gives one)"
                            .into(),
                    )
                })?;
            let service = state.service.clone();
            let lookup = token.clone();
            let actor = web::block(move || service.api_actor(&lookup)).await??;
            Ok(Bearer { actor, token })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", "a"));
    }
}
