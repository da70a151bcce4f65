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

/// A password: 12 to 128 characters (NIST SP 800-63B's length rule, bounded so that estimating
/// and hashing it stays cheap), and not guessable: the `zxcvbn` estimator must score it at
/// least [`Password::MIN_SCORE`] of 4, so common passwords, names, dates, keyboard walks and
/// repetitions are refused with the estimator's own feedback.
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    /// The fewest characters.
    pub const MIN_CHARS: usize = 12;
    /// The most characters.
    pub const MAX_CHARS: usize = 128;
    /// The lowest `zxcvbn` score accepted (of 0–4): 3 is "safely unguessable", at least 10^8
    /// guesses, out of reach of online guessing under the login throttle and costly offline
    /// against Argon2id.
    pub const MIN_SCORE: u8 = 3;

    /// Checks a new password.
    pub fn new(text: &str) -> Result<Self, ServiceError> {
        let chars = text.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(ServiceError::Invalid {
                field: "password",
                problem: format!(
                    "must have {} to {} characters, not {chars}",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            });
        }
        let estimate = zxcvbn::zxcvbn(text, &[]);
        let score = u8::from(estimate.score());
        if score < Self::MIN_SCORE {
            let mut problem = format!(
                "too easy to guess (strength {score} of 4, at least {} needed)",
                Self::MIN_SCORE
            );
            if let Some(feedback) = estimate.feedback() {
                if let Some(warning) = feedback.warning() {
                    problem.push_str(&format!(": {warning}"));
                }
                for suggestion in feedback.suggestions() {
                    problem.push_str(&format!(" {suggestion}"));
                }
            }
            return Err(ServiceError::Invalid {
                field: "password",
                problem,
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// The password's text (to show a temporary password once, and to compare a new password
    /// with the current one).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Argon2id hash in PHC format, with a salt from `salt`.
    pub(crate) fn hash(&self, salt: &[u8; 32]) -> Result<String, ServiceError> {
        let salt = SaltString::encode_b64(&salt[..16]).map_err(ServiceError::PasswordHash)?;
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(ServiceError::PasswordHash)
    }
}

/// An Argon2id hash with the parameters of `Argon2::default()` (those every stored hash is made
/// with) of no password anyone knows: a login for an unknown or inactive user name is verified
/// against it, so that it costs the same time as a login for a known one and the answer's time
/// does not tell which user names exist.
pub(crate) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$YmF5ZXN0cmlhbC1kdW1teQ$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// Whether `password` matches the stored PHC hash. With no stored hash (an unknown or inactive
/// user) the password is verified against [`DUMMY_HASH`] all the same and the answer is `false`.
/// A stored hash that does not parse is an error, never "wrong password".
pub(crate) fn password_matches(password: &str, stored: Option<&str>) -> Result<bool, ServiceError> {
    let hash =
        PasswordHash::new(stored.unwrap_or(DUMMY_HASH)).map_err(ServiceError::PasswordHash)?;
    let verified = Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok();
    Ok(verified && stored.is_some())
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
    fn common_and_repetitive_passwords_are_refused_with_the_estimators_feedback() {
        for weak in [
            "password1234",
            "aaaaaaaaaaaaaaaa",
            "qwertyuiopasdf",
            "123456789012",
        ] {
            let problem = Password::new(weak).expect_err(weak).to_string();
            assert!(
                problem.starts_with("password: too easy to guess"),
                "{weak}: {problem}"
            );
        }
        let repeated = Password::new("abcabcabcabcabc")
            .expect_err("repeats")
            .to_string();
        assert!(repeated.contains("epeat"), "{repeated}");
        let long = "x".repeat(129);
        assert!(Password::new(&long)
            .expect_err("too long")
            .to_string()
            .contains("12 to 128 characters, not 129"));
        // The passwords of the tests and of the browser test.
        for good in ["correct horse battery staple", "correct-horse-battery-1"] {
            assert!(Password::new(good).is_ok(), "{good}");
        }
        // The admin password printed at first start is 24 hex digits of a fresh token.
        for seed in 0..200 {
            let token = hex::encode(crate::service::Randomness::seeded(seed).bytes32());
            assert!(Password::new(&token[..24]).is_ok(), "{}", &token[..24]);
        }
    }

    #[test]
    fn the_dummy_hash_costs_what_a_stored_hash_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).expect("the dummy hash parses");
        let params = argon2::Params::try_from(&dummy).expect("Argon2 parameters");
        let default = Argon2::default();
        assert_eq!(dummy.algorithm, argon2::Algorithm::Argon2id.ident());
        assert_eq!(params.m_cost(), default.params().m_cost());
        assert_eq!(params.t_cost(), default.params().t_cost());
        assert_eq!(params.p_cost(), default.params().p_cost());
        let stored = Password::new("correct horse battery")
            .and_then(|p| p.hash(&[7; 32]))
            .expect("hash");
        let stored = PasswordHash::new(&stored).expect("parses");
        assert_eq!(stored.algorithm, dummy.algorithm);
        assert_eq!(stored.version, dummy.version);
        // No password is accepted for an unknown user, not even one that matched the dummy.
        assert!(!password_matches("anything", None).expect("dummy verifies"));
    }

    #[test]
    fn names_roles_and_passwords_are_parsed() {
        assert!(Username::parse("ana.lopez").is_ok());
        assert!(Username::parse("Ana").is_err());
        assert!(Username::parse("").is_err());
        assert!("dmc".parse::<Role>().is_ok());
        assert!("owner".parse::<Role>().is_err());
        assert!(Password::new("short").is_err());
        let password = Password::new("correct horse battery").ok();
        assert!(password.is_some());
        let hash = password.and_then(|p| p.hash(&[7; 32]).ok());
        let matches =
            |attempt: &str| password_matches(attempt, hash.as_deref()).expect("a well-formed hash");
        assert!(matches("correct horse battery") && !matches("wrong horse battery"));
        assert!(password_matches("x", Some("not a PHC string")).is_err());
    }
}
