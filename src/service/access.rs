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
use crate::audit::Attribution;
use crate::store::{self, ApiTokenRow, LoginFailures, SessionRow, UserListing, UserRow, WriteLock};

/// How long a browser session lasts without logging in again (8 hours).
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Failed logins for one user name within [`LOCKOUT_SECONDS`] that lock it.
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
}

/// A newly issued API token (shown once).
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// The bearer token.
    pub token: String,
    /// Who it acts as.
    pub actor: Actor,
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

    /// Checks a user name and password and returns the actor in `role` (or the user's first
    /// role). Every attempt, failed ones too, is recorded on the system chain. After
    /// [`LOCKOUT_FAILURES`] failures within [`LOCKOUT_SECONDS`] the user name is locked until
    /// that long after its last failure: the answer is then [`ServiceError::Throttled`] whatever
    /// the password.
    #[instrument(skip_all, fields(username = %username))]
    pub fn login(
        &self,
        username: &str,
        password: &str,
        role: Option<Role>,
    ) -> Result<Actor, ServiceError> {
        let mut conn = self.conn()?;
        let now = self.clock.now();
        let name = printable(username);
        let window_start = shifted(&now, -LOCKOUT_SECONDS);
        let (failures, latest) = LoginFailures::since(&mut conn, &name, window_start.as_str())?;
        let locked = failures >= LOCKOUT_FAILURES;
        let user = UserRow::find(&mut conn, username)?;
        let roles = match &user {
            Some(user) => UserRow::roles(&mut conn, &user.username)?,
            None => Vec::new(),
        };
        let verdict = match &user {
            _ if locked => Err(format!(
                "too many failed logins for {name}: try again {} minutes after the last one ({})",
                LOCKOUT_SECONDS / 60,
                latest.as_deref().unwrap_or("just now")
            )),
            Some(user) if user.active && users::password_matches(password, &user.password_hash) => {
                match role {
                    Some(role) if roles.iter().any(|r| r == role.as_str()) => Ok(role),
                    Some(role) => Err(format!("{username} does not hold the role {role}")),
                    None => roles
                        .first()
                        .ok_or_else(|| format!("{username} holds no role"))
                        .and_then(|r| r.parse::<Role>().map_err(|e| e.to_string())),
                }
            }
            _ => Err("wrong user name or password".to_owned()),
        };
        let (event, actor_name, role_name) = match &verdict {
            Ok(role) => (
                crate::audit::SystemEvent::Login {
                    failure: crate::audit::NoFailure,
                },
                username.to_owned(),
                role.as_str().to_owned(),
            ),
            Err(problem) => (
                crate::audit::SystemEvent::LoginFailed {
                    failure: problem.clone(),
                },
                name.clone(),
                "none".to_owned(),
            ),
        };
        let by = Attribution {
            actor: actor_name,
            role: role_name,
            recorded_at: now.clone(),
            reason: None,
        };
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            match &verdict {
                Ok(_) => LoginFailures::clear(conn, &name)?,
                Err(_) => LoginFailures::record(conn, &name, now.as_str())?,
            }
            self.append_system(conn, &event, &by).map(|_| ())
        })?;
        match verdict {
            Ok(role) => Ok(Actor {
                username: username.to_owned(),
                role,
            }),
            Err(problem) if locked => Err(ServiceError::Throttled(problem)),
            Err(problem) => Err(ServiceError::Unauthorized(problem)),
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
        Ok(NewSession { token, csrf, actor })
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
        let (actor, roles) = self.current_actor(&mut conn, &row.username, &row.role)?;
        Ok(SessionActor {
            actor,
            csrf: row.csrf_token,
            roles,
        })
    }

    /// Ends a browser session (logout). Ending one that does not exist is not an error.
    pub fn end_session(&self, token: &str) -> Result<(), ServiceError> {
        let mut conn = self.conn()?;
        Ok(SessionRow::delete(&mut conn, &token_hash(token))?)
    }

    /// Logs in and issues an API token for the JSON API (`Authorization: Bearer`).
    pub fn issue_api_token(
        &self,
        username: &str,
        password: &str,
        role: Option<Role>,
        label: &str,
    ) -> Result<ApiToken, ServiceError> {
        let actor = self.login(username, password, role)?;
        let token = self.fresh_token();
        let row = ApiTokenRow {
            token_hash: token_hash(&token),
            username: actor.username.clone(),
            label: printable(label),
            created_at: self.clock.now().as_str().to_owned(),
            revoked_at: None,
            role: actor.role.as_str().to_owned(),
        };
        let mut conn = self.conn()?;
        row.insert(&mut conn)?;
        Ok(ApiToken { token, actor })
    }

    /// The actor behind an API token.
    pub fn api_actor(&self, token: &str) -> Result<Actor, ServiceError> {
        let invalid = || ServiceError::Unauthorized("unknown or revoked API token".into());
        let mut conn = self.conn()?;
        let row = ApiTokenRow::find(&mut conn, &token_hash(token))?.ok_or_else(invalid)?;
        if row.revoked_at.is_some() {
            return Err(invalid());
        }
        Ok(self.current_actor(&mut conn, &row.username, &row.role)?.0)
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

    fn current_actor(
        &self,
        conn: &mut store::DbConn,
        username: &str,
        role: &str,
    ) -> Result<(Actor, Vec<Role>), ServiceError> {
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
        ))
    }

    /// Changes the actor's own password (the current one is needed). Every session and API
    /// token of the user ends; the change is recorded on the system chain.
    #[instrument(skip_all, fields(username = %actor.username))]
    pub fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        let new = Password::new(new)?;
        self.reauthenticate(actor, current, "password change")?;
        let hash = new.hash(&self.randomness.bytes32())?;
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            UserListing::set_password(conn, &actor.username, &hash)?;
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

    /// Every user with their roles (admin).
    pub fn users(&self, actor: &Actor) -> Result<Vec<UserListing>, ServiceError> {
        actor.require(Permission::ManageUsers)?;
        let mut conn = self.conn()?;
        Ok(UserListing::all(&mut conn)?)
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
