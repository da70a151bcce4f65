//! The service's one error type. The web layer maps it to HTTP in one place; the CLI to exit
//! codes. Every variant says what is wrong in words a coordinator or statistician can act on.

use crate::audit::AuditError;
use crate::engine::EngineError;
use crate::protocol::ProtocolErrors;
use crate::store::StoreError;

/// Errors of the live-trial service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such trial, participant or user.
    #[error("{0}")]
    NotFound(String),
    /// Wrong user name or password.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many failed logins for this user name: try again later.
    #[error("{0}")]
    Throttled(String),
    /// The actor's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// An input is invalid: which field and why.
    #[error("{field}: {problem}")]
    Invalid {
        /// The input.
        field: &'static str,
        /// What is wrong and what would be valid.
        problem: String,
    },
    /// The command does not fit the trial's state (not approved, paused, closed, duplicate…).
    #[error("{0}")]
    Conflict(String),
    /// The protocol text does not validate.
    #[error("{0}")]
    Protocol(#[from] ProtocolErrors),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit layer refused a record.
    #[error("audit: {0}")]
    Audit(#[from] AuditError),
    /// A password could not be hashed, or a stored password hash does not parse.
    #[error("password hash: {0}")]
    PasswordHash(#[source] argon2::password_hash::Error),
    /// Stored data does not fit together (a bug or tampering).
    #[error("integrity: {0}")]
    Integrity(String),
}

impl From<diesel::result::Error> for ServiceError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Store(StoreError::Query(error))
    }
}

impl From<EngineError> for ServiceError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Refused(message) => Self::Conflict(message),
            EngineError::Invalid { field, problem } => Self::Invalid { field, problem },
            other => Self::Integrity(other.to_string()),
        }
    }
}
