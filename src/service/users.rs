//! Users, roles, passwords and who is acting: the system chain records every account change and
//! every login, failed ones too.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use super::ServiceError;

/// A role; what each may do is `Role::may` (`service::permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users and roles.
    Admin,
    /// Protocols, approval, start, amendments, unblinded results.
    Statistician,
    /// Enrolment and outcomes, emergency unblinding.
    Coordinator,
    /// Dispensing: the arm behind a kit code, never results or allocation probabilities.
    Pharmacist,
    /// Data monitoring committee: unblinded results, audit.
    Dmc,
    /// Read-only audit and exports.
    Regulator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Statistician,
        Role::Coordinator,
        Role::Pharmacist,
        Role::Dmc,
        Role::Regulator,
    ];

    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Statistician => "statistician",
            Self::Coordinator => "coordinator",
            Self::Pharmacist => "pharmacist",
            Self::Dmc => "dmc",
            Self::Regulator => "regulator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ServiceError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "admin" => Self::Admin,
            "statistician" => Self::Statistician,
            "coordinator" => Self::Coordinator,
            "pharmacist" => Self::Pharmacist,
            "dmc" => Self::Dmc,
            "regulator" => Self::Regulator,
            other => {
                return Err(ServiceError::Invalid {
                    field: "role",
                    problem: format!(
                    "{other:?} is not a role: admin, statistician, coordinator, pharmacist, dmc or regulator"
                ),
                })
            }
        })
    }
}

/// A user name: 1 to 64 of a-z, 0-9, `.`, `_`, `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Parses a user name.
    pub fn parse(text: &str) -> Result<Self, ServiceError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ServiceError::Invalid {
                field: "username",
                problem: format!(
                    "{text:?} must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter"
                ),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password: at least 12 characters (NIST SP 800-63B length rule).
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    /// Checks a new password.
    pub fn new(text: &str) -> Result<Self, ServiceError> {
        if text.chars().count() < 12 {
            return Err(ServiceError::Invalid {
                field: "password",
                problem: "must have at least 12 characters".into(),
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// Argon2id hash in PHC format, with a salt from `salt`.
    pub(crate) fn hash(&self, salt: &[u8; 32]) -> Result<String, ServiceError> {
        let salt = SaltString::encode_b64(&salt[..16]).map_err(|e| ServiceError::Invalid {
            field: "password",
            problem: format!("cannot salt: {e}"),
        })?;
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ServiceError::Invalid {
                field: "password",
                problem: format!("cannot hash: {e}"),
            })
    }
}

/// Whether `password` matches the stored PHC hash.
pub(crate) fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new account.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// Role.
    pub role: Role,
    /// Name printed on signatures.
    pub printed_name: String,
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: Password,
}

impl NewUser {
    /// Checks the printed name and the e-mail address (with the mailer's parser).
    pub fn validate(&self) -> Result<(), ServiceError> {
        let name = self.printed_name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(ServiceError::Invalid {
                field: "name",
                problem: "the printed name must be 1 to 200 printable characters".into(),
            });
        }
        // The mailer's own parser: an address accepted here is never refused when sending.
        crate::notify::parse_address(&self.email).map_err(|e| ServiceError::Invalid {
            field: "email",
            problem: e.to_string(),
        })?;
        Ok(())
    }
}

/// An authenticated user acting in one of their roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub username: String,
    /// In which role.
    pub role: Role,
}

impl Actor {
    /// The actor for commands run from the server's own command line (`bayestrial user add`).
    pub fn command_line() -> Self {
        Self {
            username: "command-line".into(),
            role: Role::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roles_and_passwords_are_parsed() {
        assert!(Username::parse("ana.lopez").is_ok());
        assert!(Username::parse("Ana").is_err());
        assert!(Username::parse("").is_err());
        assert!("dmc".parse::<Role>().is_ok());
        assert!("owner".parse::<Role>().is_err());
        assert!(Password::new("short").is_err());
        let password = Password::new("correct horse battery").ok();
        let hash = password.and_then(|p| p.hash(&[7; 32]).ok());
        assert!(hash
            .as_deref()
            .is_some_and(|h| password_matches("correct horse battery", h)
                && !password_matches("wrong horse battery", h)));
    }
}
