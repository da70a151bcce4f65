//! Who may act: logins (throttled), browser sessions with their CSRF token, API tokens,
//! password changes and the admin's user and role management. Every login, failed login,
//! password change and role change is recorded on the system chain.
//!
//! Tokens are 32 random bytes in hex; only their SHA-256 is stored, so a copy of the database
//! does not hold a usable session.

use crate::service::Permission;
use sha2::{Digest, Sha256};
use tracing::instrument;

use super::clock::shifted;
use super::{printable, users};
use super::{Actor, Password, Role, Service, ServiceError};
use crate::audit::{Attribution, SignatureFailure, SystemEvent};
use crate::store::{self, ApiTokenRow, LoginFailures, SessionRow, UserListing, UserRow, WriteLock};

/// How long a browser session lasts without logging in again (8 hours).
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Password attempts (logins, e-signatures, password changes) for one user name within
/// [`LOCKOUT_SECONDS`], none of them right, that lock it.
pub const LOCKOUT_FAILURES: i64 = 5;
/// The throttling window, and how long a locked user name stays locked after its last failure.
pub const LOCKOUT_SECONDS: i64 = 15 * 60;

/// A new browser session: the cookie's token and the CSRF token for its forms.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Goes into the session cookie (never stored).
    pub token: String,
    /// Goes into every form of the session.
    pub csrf: String,
    /// Who is logged in.
    pub actor: Actor,
    /// Whether they must choose a new password before anything else (after an admin's reset).
    pub must_change_password: bool,
}

/// The actor behind a session cookie, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct SessionActor {
    /// Who, in which role.
    pub actor: Actor,
    /// The CSRF token the session's forms must carry.
    pub csrf: String,
    /// The roles the user holds (to offer a switch).
    pub roles: Vec<Role>,
    /// Whether an admin reset the password and the user has not chosen a new one yet: until
    /// they do, the pages send them to the password change.
    pub must_change_password: bool,
}

/// A newly issued API token (shown once).
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// The bearer token.
    pub token: String,
    /// Who it acts as.
    pub actor: Actor,
    /// When it expires (UTC).
    pub expires_at: String,
}

/// How long an API token lasts: 1 to 365 days (30 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTokenDays(u16);

impl ApiTokenDays {
    /// The most days a token may last.
    pub const MAX: u16 = 365;

    /// Checks a lifetime in days.
    pub fn new(days: u64) -> Result<Self, ServiceError> {
        u16::try_from(days)
            .ok()
            .filter(|d| (1..=Self::MAX).contains(d))
            .map(Self)
            .ok_or_else(|| ServiceError::Invalid {
                field: "api_token_days",
                problem: format!("{days} is not 1 to {} days", Self::MAX),
            })
    }

    /// The lifetime in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 86_400
    }
}

impl Default for ApiTokenDays {
    fn default() -> Self {
        Self(30)
    }
}

/// One of a user's API tokens as the account page lists it (never the secret).
#[derive(Debug, Clone)]
pub struct TokenListing {
    /// The token's id: the SHA-256 of the secret, which the database keeps instead of it.
    pub id: String,
    /// What it is for.
    pub label: String,
    /// The role it acts in.
    pub role: String,
    /// When it was issued.
    pub created_at: String,
    /// When it expires (empty for tokens issued before tokens expired).
    pub expires_at: String,
    /// When a request last carried it.
    pub last_used_at: Option<String>,
    /// `valid`, `expired` or `revoked`.
    pub state: &'static str,
}

impl TokenListing {
    fn of(row: ApiTokenRow, now: &str) -> Self {
        let state = if row.revoked_at.is_some() {
            "revoked"
        } else if row.expires_at.as_str() <= now {
            "expired"
        } else {
            "valid"
        };
        Self {
            id: row.token_hash,
            label: row.label,
            role: row.role,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            state,
        }
    }

    /// Whether it can still be used (and so revoked).
    pub fn valid(&self) -> bool {
        self.state == "valid"
    }
}

/// The answer to an API login or token of a user who must first choose a new password.
fn must_change_first(username: &str) -> ServiceError {
    ServiceError::Forbidden(format!(
        "{username} must choose a new password first: an admin reset it; log in on the web \
         page and change it on the account page"
    ))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Service {
    /// A fresh random token (64 hex digits) from the service's randomness: CSRF tokens of
    /// the login form, idempotency keys of the enrolment form.
    pub fn new_token(&self) -> String {
        self.fresh_token()
    }

    fn fresh_token(&self) -> String {
        hex::encode(self.randomness.bytes32())
    }

    /// Checks the throttle of `name` and records this attempt, both in one write transaction
    /// (the system lock: SQLite's single writer, PostgreSQL's advisory lock), before any
    /// password is evaluated. So concurrent attempts are counted one after the other and no more
    /// than [`LOCKOUT_FAILURES`] passwords are ever evaluated within [`LOCKOUT_SECONDS`]: an
    /// attempt counts as a failure until its password is found right (which clears the count).
    /// When the name is locked, `refused` names the system event that records the refusal and
    /// the answer is [`ServiceError::Throttled`]; the attempt still counts, so a name under
    /// attack stays locked until that long after the last attempt.
    fn admit_attempt(
        &self,
        conn: &mut store::DbConn,
        name: &str,
        by: &Attribution,
        refused: impl FnOnce(String) -> SystemEvent,
    ) -> Result<(), ServiceError> {
        let now = by.recorded_at.as_str();
        let window_start = shifted(&by.recorded_at, -LOCKOUT_SECONDS);
        let lock = self.write_transaction(conn, WriteLock::System, |conn| {
            let (attempts, latest) = LoginFailures::since(conn, name, window_start.as_str())?;
            LoginFailures::record(conn, name, now)?;
            if attempts < LOCKOUT_FAILURES {
                return Ok::<_, ServiceError>(None);
            }
            let problem = format!(
                "too many wrong passwords for {name}: try again {} minutes after the last attempt ({})",
                LOCKOUT_SECONDS / 60,
                latest.as_deref().unwrap_or(now)
            );
            self.append_system(conn, &refused(problem.clone()), by)?;
            Ok(Some(problem))
        })?;
        match lock {
            Some(problem) => Err(ServiceError::Throttled(problem)),
            None => Ok(()),
        }
    }

    /// Evaluates a password against a stored hash, or against the dummy hash when there is none
    /// (an unknown or inactive user), so both take the same time. Counted in
    /// [`Service::password_evaluations`].
    fn evaluate_password(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, ServiceError> {
        self.password_evaluations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        users::password_matches(password, stored)
    }

    /// How many passwords this service has evaluated (Argon2 verifications, those against the
    /// dummy hash included) since it opened: what the throttle bounds.
    pub fn password_evaluations(&self) -> u64 {
        self.password_evaluations
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks a user name and password and returns the actor in `role` (or the user's first
    /// role). Every attempt, failed ones too, is recorded on the system chain. The attempt is
    /// counted before the password is evaluated ([`Service::admit_attempt`]): after
    /// [`LOCKOUT_FAILURES`] failures within [`LOCKOUT_SECONDS`] the user name is locked until
    /// that long after its last attempt, and the answer is then [`ServiceError::Throttled`]
    /// whatever the password. Logins, e-signatures and password changes share the count.
    #[instrument(skip_all, fields(username = %username))]
    pub fn login(
        &self,
        username: &str,
        password: &str,
        role: Option<Role>,
    ) -> Result<Actor, ServiceError> {
        let mut conn = self.conn()?;
        let name = printable(username);
        let failed_by = Attribution {
            actor: name.clone(),
            role: "none".to_owned(),
            recorded_at: self.clock.now(),
            reason: None,
        };
        self.admit_attempt(&mut conn, &name, &failed_by, |failure| {
            SystemEvent::LoginFailed { failure }
        })?;
        let user = UserRow::find(&mut conn, username)?;
        let stored = user
            .as_ref()
            .filter(|user| user.active)
            .map(|user| user.password_hash.as_str());
        let verdict = if self.evaluate_password(password, stored)? {
            let roles = UserRow::roles(&mut conn, username)?;
            match role {
                Some(role) if roles.iter().any(|r| r == role.as_str()) => Ok(role),
                Some(role) => Err(format!("{username} does not hold the role {role}")),
                None => roles
                    .first()
                    .ok_or_else(|| format!("{username} holds no role"))
                    .and_then(|r| r.parse::<Role>().map_err(|e| e.to_string())),
            }
        } else {
            Err("wrong user name or password".to_owned())
        };
        let (event, by) = match &verdict {
            Ok(role) => (
                SystemEvent::Login {
                    failure: crate::audit::NoFailure,
                },
                Attribution {
                    actor: username.to_owned(),
                    role: role.as_str().to_owned(),
                    ..failed_by
                },
            ),
            Err(problem) => (
                SystemEvent::LoginFailed {
                    failure: problem.clone(),
                },
                failed_by,
            ),
        };
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            if verdict.is_ok() {
                LoginFailures::clear(conn, &name)?;
            }
            self.append_system(conn, &event, &by).map(|_| ())
        })?;
        match verdict {
            Ok(role) => Ok(Actor {
                username: username.to_owned(),
                role,
            }),
            Err(problem) => Err(ServiceError::Unauthorized(problem)),
        }
    }

    /// Checks `password` for `actor` again (electronic signatures, amendments, emergency
    /// unblinding, password changes), under the same throttle as logins: the attempt is counted
    /// first, a locked name is refused without evaluating the password, and a wrong password
    /// is recorded on the system chain before the error is returned.
    pub(super) fn reauthenticate(
        &self,
        actor: &Actor,
        password: &str,
        purpose: &str,
    ) -> Result<UserRow, ServiceError> {
        let mut conn = self.conn()?;
        let by = self.attribution(actor, None);
        let failed = |failure| SystemEvent::SignatureFailed {
            purpose: purpose.to_owned(),
            failure,
        };
        self.admit_attempt(&mut conn, &actor.username, &by, |_| {
            failed(SignatureFailure::Throttled)
        })?;
        let user = UserRow::find(&mut conn, &actor.username)?
            .ok_or_else(|| ServiceError::NotFound(format!("no user {}", actor.username)))?;
        let stored = user.active.then_some(user.password_hash.as_str());
        let right = self.evaluate_password(password, stored)?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            if right {
                LoginFailures::clear(conn, &actor.username)?;
                Ok(())
            } else {
                self.append_system(conn, &failed(SignatureFailure::WrongPassword), &by)
                    .map(|_| ())
            }
        })?;
        if right {
            Ok(user)
        } else {
            Err(ServiceError::Unauthorized(format!(
                "wrong password: {purpose} needs the signer's own password"
            )))
        }
    }

    /// Logs in and starts a browser session.
    pub fn start_session(
        &self,
        username: &str,
        password: &str,
        role: Option<Role>,
    ) -> Result<NewSession, ServiceError> {
        let actor = self.login(username, password, role)?;
        let token = self.fresh_token();
        let csrf = self.fresh_token();
        let now = self.clock.now();
        let row = SessionRow {
            token_hash: token_hash(&token),
            username: actor.username.clone(),
            csrf_token: csrf.clone(),
            created_at: now.as_str().to_owned(),
            expires_at: shifted(&now, SESSION_SECONDS).as_str().to_owned(),
            role: actor.role.as_str().to_owned(),
        };
        let mut conn = self.conn()?;
        SessionRow::delete_expired(&mut conn, now.as_str())?;
        row.insert(&mut conn)?;
        let must_change_password = UserRow::find(&mut conn, &actor.username)?
            .is_some_and(|user| user.must_change_password);
        Ok(NewSession {
            token,
            csrf,
            actor,
            must_change_password,
        })
    }

    /// The actor behind a session cookie: the session must exist and not have expired, and the
    /// user must be active and still hold the session's role.
    pub fn session(&self, token: &str) -> Result<SessionActor, ServiceError> {
        let expired = || ServiceError::Unauthorized("not logged in, or the session ended".into());
        let mut conn = self.conn()?;
        let row = SessionRow::find(&mut conn, &token_hash(token))?.ok_or_else(expired)?;
        if row.expires_at.as_str() <= self.clock.now().as_str() {
            return Err(expired());
        }
        let (actor, roles, user) = self.current_actor(&mut conn, &row.username, &row.role)?;
        Ok(SessionActor {
            actor,
            csrf: row.csrf_token,
            roles,
            must_change_password: user.must_change_password,
        })
    }

    /// Ends a browser session (logout). Ending one that does not exist is not an error.
    pub fn end_session(&self, token: &str) -> Result<(), ServiceError> {
        let mut conn = self.conn()?;
        Ok(SessionRow::delete(&mut conn, &token_hash(token))?)
    }

    /// Logs in and issues an API token for the JSON API (`Authorization: Bearer`). It expires
    /// after the configured lifetime ([`ServiceConfig::api_token_days`](super::ServiceConfig)).
    #[instrument(skip_all, fields(username = %username))]
    pub fn issue_api_token(
        &self,
        username: &str,
        password: &str,
        role: Option<Role>,
        label: &str,
    ) -> Result<ApiToken, ServiceError> {
        let actor = self.login(username, password, role)?;
        let mut conn = self.conn()?;
        if UserRow::find(&mut conn, username)?.is_some_and(|user| user.must_change_password) {
            return Err(must_change_first(username));
        }
        drop(conn);
        let token = self.fresh_token();
        let now = self.clock.now();
        let expires_at = shifted(&now, self.api_token_days.seconds());
        let row = ApiTokenRow {
            token_hash: token_hash(&token),
            username: actor.username.clone(),
            label: printable(label),
            created_at: now.as_str().to_owned(),
            revoked_at: None,
            role: actor.role.as_str().to_owned(),
            expires_at: expires_at.as_str().to_owned(),
            last_used_at: None,
        };
        let mut conn = self.conn()?;
        row.insert(&mut conn)?;
        Ok(ApiToken {
            token,
            actor,
            expires_at: expires_at.as_str().to_owned(),
        })
    }

    /// The actor behind an API token: it must exist, not be revoked and not have expired, and
    /// its user must still be active in its role. The use is recorded (`last_used_at`, at most
    /// once a minute per token, so that reads stay reads on a busy client).
    pub fn api_actor(&self, token: &str) -> Result<Actor, ServiceError> {
        let invalid = || ServiceError::Unauthorized("unknown or revoked API token".into());
        let mut conn = self.conn()?;
        let row = ApiTokenRow::find(&mut conn, &token_hash(token))?.ok_or_else(invalid)?;
        if row.revoked_at.is_some() {
            return Err(invalid());
        }
        let now = self.clock.now();
        if row.expires_at.as_str() <= now.as_str() {
            return Err(ServiceError::Unauthorized(format!(
                "this API token expired at {}: POST /api/session for a new one",
                if row.expires_at.is_empty() {
                    "its issue (issued before tokens expired)"
                } else {
                    row.expires_at.as_str()
                }
            )));
        }
        let (actor, _, user) = self.current_actor(&mut conn, &row.username, &row.role)?;
        if user.must_change_password {
            return Err(must_change_first(&actor.username));
        }
        let stale = shifted(&now, -60);
        if row
            .last_used_at
            .as_deref()
            .is_none_or(|used| used < stale.as_str())
        {
            ApiTokenRow::touch(&mut conn, &row.token_hash, now.as_str())?;
        }
        Ok(actor)
    }

    /// Revokes an API token (`DELETE /api/session`).
    pub fn revoke_api_token(&self, token: &str) -> Result<(), ServiceError> {
        let mut conn = self.conn()?;
        let at = self.clock.now();
        Ok(ApiTokenRow::revoke(
            &mut conn,
            &token_hash(token),
            at.as_str(),
        )?)
    }

    /// The actor's own API tokens, newest first: label, issue, expiry, last use and state,
    /// never the secret (which is not stored).
    pub fn api_tokens(&self, actor: &Actor) -> Result<Vec<TokenListing>, ServiceError> {
        let mut conn = self.conn()?;
        let now = self.clock.now();
        Ok(ApiTokenRow::of_user(&mut conn, &actor.username)?
            .into_iter()
            .map(|row| TokenListing::of(row, now.as_str()))
            .collect())
    }

    /// Revokes one of the actor's own API tokens, named by its id ([`TokenListing::id`]).
    /// Another user's token, or one already revoked, is "not found".
    #[instrument(skip_all, fields(username = %actor.username))]
    pub fn revoke_own_api_token(&self, actor: &Actor, id: &str) -> Result<(), ServiceError> {
        let id = id.trim();
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::Invalid {
                field: "token",
                problem: "a token id is 64 hexadecimal digits (from the account page)".into(),
            });
        }
        let mut conn = self.conn()?;
        let at = self.clock.now();
        if ApiTokenRow::revoke_own(&mut conn, &actor.username, id, at.as_str())? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(
                "no such API token of yours that is still valid".into(),
            ))
        }
    }

    fn current_actor(
        &self,
        conn: &mut store::DbConn,
        username: &str,
        role: &str,
    ) -> Result<(Actor, Vec<Role>, UserRow), ServiceError> {
        let gone = || ServiceError::Unauthorized(format!("{username} may no longer act as {role}"));
        let user = UserRow::find(conn, username)?.ok_or_else(gone)?;
        let roles: Vec<Role> = UserRow::roles(conn, username)?
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        let role: Role = role.parse().map_err(|_| gone())?;
        if !user.active || !roles.contains(&role) {
            return Err(gone());
        }
        Ok((
            Actor {
                username: username.to_owned(),
                role,
            },
            roles,
            user,
        ))
    }

    /// Changes the actor's own password (the current one is needed, and the new one must differ
    /// from it). Every session and API token of the user ends, and a reset's demand for a new
    /// password is met; the change is recorded on the system chain.
    #[instrument(skip_all, fields(username = %actor.username))]
    pub fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        let new = Password::new(new)?;
        if new.as_str() == current {
            return Err(ServiceError::Invalid {
                field: "password",
                problem: "the new password must differ from the current one".into(),
            });
        }
        self.reauthenticate(actor, current, "password change")?;
        let hash = new.hash(&self.randomness.bytes32())?;
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            UserListing::set_password(conn, &actor.username, &hash, false)?;
            SessionRow::delete_for_user(conn, &actor.username)?;
            ApiTokenRow::revoke_for_user(conn, &actor.username, by.recorded_at.as_str())?;
            self.append_system(
                conn,
                &crate::audit::SystemEvent::PasswordChanged {
                    username: actor.username.clone(),
                },
                &by,
            )
            .map(|_| ())
        })
    }

    /// Resets `username`'s password (admin, or the server's command line): to `chosen` when the
    /// admin typed one (it must pass the strength rule), otherwise to a new random one. The
    /// user's sessions and API tokens end, and they must choose a new password at their next
    /// login. Returns the temporary password, to be shown once and never stored in clear.
    #[instrument(skip_all, fields(username = %username))]
    pub fn reset_password(
        &self,
        actor: &Actor,
        username: &str,
        chosen: Option<Password>,
    ) -> Result<String, ServiceError> {
        actor.require(Permission::ManageUsers)?;
        let password = match chosen {
            Some(password) => password,
            None => Password::new(&self.fresh_token()[..24])?,
        };
        let hash = password.hash(&self.randomness.bytes32())?;
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            if UserRow::find(conn, username)?.is_none() {
                return Err(ServiceError::NotFound(format!("no user {username}")));
            }
            UserListing::set_password(conn, username, &hash, true)?;
            SessionRow::delete_for_user(conn, username)?;
            ApiTokenRow::revoke_for_user(conn, username, by.recorded_at.as_str())?;
            LoginFailures::clear(conn, username)?;
            self.append_system(
                conn,
                &SystemEvent::PasswordReset {
                    username: username.to_owned(),
                },
                &by,
            )
            .map(|_| ())
        })?;
        Ok(password.as_str().to_owned())
    }

    /// Every user with their roles (admin).
    pub fn users(&self, actor: &Actor) -> Result<Vec<UserListing>, ServiceError> {
        actor.require(Permission::ManageUsers)?;
        let mut conn = self.conn()?;
        Ok(UserListing::all(&mut conn)?)
    }

    /// One user with their roles (admin).
    pub fn user(&self, actor: &Actor, username: &str) -> Result<UserListing, ServiceError> {
        self.users(actor)?
            .into_iter()
            .find(|listing| listing.user.username == username)
            .ok_or_else(|| ServiceError::NotFound(format!("no user {username}")))
    }

    /// Grants (`grant = true`) or revokes a role (admin). The user's sessions and tokens end,
    /// so the change takes effect at once; recorded on the system chain as `role_changed`.
    /// The last admin role cannot be revoked.
    #[instrument(skip_all, fields(username = %username, role = %role, grant))]
    pub fn change_role(
        &self,
        actor: &Actor,
        username: &str,
        role: Role,
        grant: bool,
    ) -> Result<(), ServiceError> {
        actor.require(Permission::ManageUsers)?;
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            if UserRow::find(conn, username)?.is_none() {
                return Err(ServiceError::NotFound(format!("no user {username}")));
            }
            let changed = if grant {
                UserListing::grant(conn, username, role.as_str())?
            } else {
                let changed = UserListing::revoke(conn, username, role.as_str())?;
                if role == Role::Admin && !UserListing::anyone_holds(conn, "admin")? {
                    return Err(ServiceError::Conflict(
                        "the last admin role cannot be revoked".into(),
                    ));
                }
                changed
            };
            if !changed {
                return Ok(());
            }
            SessionRow::delete_for_user(conn, username)?;
            ApiTokenRow::revoke_for_user(conn, username, by.recorded_at.as_str())?;
            self.append_system(
                conn,
                &crate::audit::SystemEvent::RoleChanged {
                    username: username.to_owned(),
                    role: role.as_str().to_owned(),
                    change: if grant {
                        crate::audit::RoleChange::Granted
                    } else {
                        crate::audit::RoleChange::Revoked
                    },
                },
                &by,
            )
            .map(|_| ())
        })
    }

    /// Activates or deactivates an account (admin); a deactivated user's sessions end.
    #[instrument(skip_all, fields(username = %username, active))]
    pub fn set_active(
        &self,
        actor: &Actor,
        username: &str,
        active: bool,
    ) -> Result<(), ServiceError> {
        actor.require(Permission::ManageUsers)?;
        if !active && username == actor.username {
            return Err(ServiceError::Conflict(
                "an admin cannot deactivate their own account".into(),
            ));
        }
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            if UserRow::find(conn, username)?.is_none() {
                return Err(ServiceError::NotFound(format!("no user {username}")));
            }
            UserListing::set_active(conn, username, active)?;
            SessionRow::delete_for_user(conn, username)?;
            ApiTokenRow::revoke_for_user(conn, username, by.recorded_at.as_str())?;
            let username = username.to_owned();
            self.append_system(
                conn,
                &if active {
                    crate::audit::SystemEvent::UserActivated { username }
                } else {
                    crate::audit::SystemEvent::UserDeactivated { username }
                },
                &by,
            )
            .map(|_| ())
        })
    }

    /// Whether any user exists (first start creates the admin).
    pub fn has_users(&self) -> Result<bool, ServiceError> {
        let mut conn = self.conn()?;
        Ok(!UserListing::all(&mut conn)?.is_empty())
    }
}
