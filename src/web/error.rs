//! The web layer's one error type and the one place that maps errors to HTTP.
//!
//! Policy: every error becomes a 4xx with a message the user can act on (what and where), or a
//! 500 whose cause is logged with its whole `source()` chain and never shown. Pages get an HTML
//! error page; the JSON API gets `{"error": kind, "detail": message}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::service::ServiceError;

/// Errors of a web request.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// From the service.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A form without the session's CSRF token, or with another one.
    #[error("the form's security token is missing or out of date: reload the page and try again")]
    Csrf,
    /// Not logged in (pages redirect to the login page instead).
    #[error("log in first")]
    LoginRequired,
    /// An admin reset the user's password and they have not chosen a new one yet (pages
    /// redirect to the account page, where they change it).
    #[error("choose a new password first: an admin reset yours")]
    PasswordChangeRequired,
    /// A request that does not parse (which field and why).
    #[error("{0}")]
    BadRequest(String),
    /// A request body larger than the server reads (the detail names the limit).
    #[error("{0}")]
    TooLarge(String),
    /// A request body of a media type the endpoint does not read (the detail names the one it
    /// does).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No such page.
    #[error("{0}")]
    NotFound(String),
    /// A `GET` of an address that changes state: only its form (`POST`) is served.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The server is at a capacity limit (the simulation queue): try again later.
    #[error("{0}")]
    Busy(String),
    /// A blocking task failed (panicked or was cancelled).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<actix_web::error::BlockingError> for WebError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<crate::web::jobs::JobError> for WebError {
    fn from(error: crate::web::jobs::JobError) -> Self {
        use crate::web::jobs::JobError;
        match error {
            JobError::Reps { .. } | JobError::Scenario(_) => Self::BadRequest(error.to_string()),
            JobError::Full { .. } => Self::Busy(error.to_string()),
            JobError::Storage { .. } | JobError::Record { .. } | JobError::Thread(_) => {
                Self::Internal(error.to_string())
            }
        }
    }
}

impl WebError {
    /// A JSON body that could not be read: too large (413), not sent as JSON (415), or not
    /// the JSON the endpoint reads (400, naming the field when serde does).
    pub fn from_json_body(error: &actix_web::error::JsonPayloadError) -> Self {
        use actix_web::error::JsonPayloadError;
        match error {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                Self::TooLarge(format!("request body: {error}"))
            }
            JsonPayloadError::ContentType => Self::UnsupportedMediaType(
                "request body: send it as JSON with Content-Type: application/json".to_owned(),
            ),
            other => Self::BadRequest(format!("request body: {other}")),
        }
    }

    /// The status and the machine-readable kind.
    pub fn status_and_kind(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Service(error) => match error {
                ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                ServiceError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
                ServiceError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
                ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                ServiceError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
                ServiceError::Protocol(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_protocol"),
                ServiceError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                ServiceError::Store(_)
                | ServiceError::Audit(_)
                | ServiceError::PasswordHash(_)
                | ServiceError::Integrity(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            Self::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            Self::LoginRequired => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::PasswordChangeRequired => (StatusCode::FORBIDDEN, "password_change_required"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// What the user is told: the message for a 4xx; a generic sentence for a 500 (whose
    /// cause chain is logged here).
    pub fn public_detail(&self) -> String {
        let (status, _) = self.status_and_kind();
        if status.is_server_error() {
            let mut chain = self.to_string();
            let mut source = std::error::Error::source(self);
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(error = %chain, "request failed");
            "the server could not complete this request; the error has been logged".to_owned()
        } else {
            self.to_string()
        }
    }
}

/// The HTML error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    detail: &'a str,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.status_and_kind().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, _) = self.status_and_kind();
        match self {
            Self::LoginRequired => {
                return HttpResponse::SeeOther()
                    .insert_header(("Location", "/login"))
                    .finish()
            }
            Self::PasswordChangeRequired => {
                return HttpResponse::SeeOther()
                    .insert_header(("Location", "/account"))
                    .finish()
            }
            _ => {}
        }
        let detail = self.public_detail();
        let mut response = HttpResponse::build(status);
        match self {
            Self::MethodNotAllowed(_) => {
                response.insert_header((actix_web::http::header::ALLOW, "POST"));
            }
            Self::Busy(_) => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, "30"));
            }
            _ => {}
        }
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            detail: &detail,
        };
        match page.render() {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(detail),
        }
    }
}

/// A [`WebError`] answered as JSON (the API).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub WebError);

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        Self(WebError::Service(error))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self(error.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status_and_kind().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, kind) = self.0.status_and_kind();
        HttpResponse::build(status).json(serde_json::json!({
            "error": kind,
            "detail": self.0.public_detail(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::jobs::JobError;

    #[test]
    fn a_full_queue_is_503_with_retry_after_and_a_get_of_a_form_is_405_with_allow() {
        let full = WebError::from(JobError::Full {
            running: 2,
            waiting: 8,
        });
        assert_eq!(
            full.status_and_kind(),
            (StatusCode::SERVICE_UNAVAILABLE, "busy")
        );
        assert!(full.error_response().headers().contains_key("retry-after"));
        assert!(full.to_string().contains("2 running, 8 waiting"));
        let reps = WebError::from(JobError::Reps { asked: 7, max: 5 });
        assert_eq!(reps.status_and_kind().0, StatusCode::BAD_REQUEST);
        assert!(reps.to_string().contains("not 1 to 5 replicates"));
        let get = WebError::MethodNotAllowed("use the form".into());
        let response = get.error_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some("POST")
        );
    }
}
