//! Rows and queries for who may act: browser sessions, API tokens, failed-login counts and the
//! user list an admin manages. Nothing here decides whether an action is allowed (the service
//! does); these are the stored facts.

use diesel::prelude::*;

use super::schema::*;
use super::{DbConn, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// A browser session (the cookie holds the token; only its SHA-256 is stored).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    /// Hex SHA-256 of the session token.
    pub token_hash: String,
    /// The user.
    pub username: String,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// When it started (UTC RFC 3339).
    pub created_at: String,
    /// When it ends (UTC RFC 3339).
    pub expires_at: String,
    /// The role the user acts in.
    pub role: String,
}

impl SessionRow {
    /// Stores a new session.
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        diesel::insert_into(sessions::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, if any.
    pub fn find(conn: &mut DbConn, token_hash: &str) -> Result<Option<Self>> {
        Ok(sessions::table
            .find(token_hash)
            .select(Self::as_select())
            .load(conn)?
            .pop())
    }

    /// Ends a session.
    pub fn delete(conn: &mut DbConn, token_hash: &str) -> Result<()> {
        diesel::delete(sessions::table.find(token_hash)).execute(conn)?;
        Ok(())
    }

    /// Ends every session of `username` (after a password or role change).
    pub fn delete_for_user(conn: &mut DbConn, username: &str) -> Result<()> {
        diesel::delete(sessions::table.filter(sessions::username.eq(username))).execute(conn)?;
        Ok(())
    }

    /// Removes sessions that ended before `now`.
    pub fn delete_expired(conn: &mut DbConn, now: &str) -> Result<usize> {
        Ok(diesel::delete(sessions::table.filter(sessions::expires_at.lt(now))).execute(conn)?)
    }
}

/// An API token (the bearer holds the token; only its SHA-256 is stored).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiTokenRow {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The user.
    pub username: String,
    /// What it is for.
    pub label: String,
    /// When it was issued.
    pub created_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// The role the token acts in.
    pub role: String,
    /// When it expires (the service clock's fixed-width UTC text; empty for tokens issued
    /// before tokens expired, which are refused as expired).
    pub expires_at: String,
    /// When a request last carried it.
    pub last_used_at: Option<String>,
}

impl ApiTokenRow {
    /// Stores a new token.
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        diesel::insert_into(api_tokens::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The token whose hash is `token_hash`, if any.
    pub fn find(conn: &mut DbConn, token_hash: &str) -> Result<Option<Self>> {
        Ok(api_tokens::table
            .find(token_hash)
            .select(Self::as_select())
            .load(conn)?
            .pop())
    }

    /// The tokens of `username`, newest first (revoked ones too).
    pub fn of_user(conn: &mut DbConn, username: &str) -> Result<Vec<Self>> {
        Ok(api_tokens::table
            .filter(api_tokens::username.eq(username))
            .order((api_tokens::created_at.desc(), api_tokens::token_hash))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Records that a request carried the token at `at`.
    pub fn touch(conn: &mut DbConn, token_hash: &str, at: &str) -> Result<()> {
        diesel::update(api_tokens::table.find(token_hash))
            .set(api_tokens::last_used_at.eq(at))
            .execute(conn)?;
        Ok(())
    }

    /// Revokes a token of `username` that is not revoked yet; whether one was.
    pub fn revoke_own(
        conn: &mut DbConn,
        username: &str,
        token_hash: &str,
        at: &str,
    ) -> Result<bool> {
        let revoked = diesel::update(
            api_tokens::table
                .find(token_hash)
                .filter(api_tokens::username.eq(username))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(at))
        .execute(conn)?;
        Ok(revoked > 0)
    }

    /// Revokes a token.
    pub fn revoke(conn: &mut DbConn, token_hash: &str, at: &str) -> Result<()> {
        diesel::update(api_tokens::table.find(token_hash))
            .set(api_tokens::revoked_at.eq(at))
            .execute(conn)?;
        Ok(())
    }

    /// Revokes every token of `username`.
    pub fn revoke_for_user(conn: &mut DbConn, username: &str, at: &str) -> Result<()> {
        diesel::update(
            api_tokens::table
                .filter(api_tokens::username.eq(username))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(at))
        .execute(conn)?;
        Ok(())
    }
}

/// Password attempts not (yet) found right, counted per user name (throttling): an attempt is
/// recorded before its password is evaluated and the count cleared when one is right.
pub struct LoginFailures;

impl LoginFailures {
    /// Records an attempt.
    pub fn record(conn: &mut DbConn, username: &str, at: &str) -> Result<()> {
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::username.eq(username),
                login_failures::failed_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Attempts of `username` at or after `since`, and the latest of them.
    pub fn since(conn: &mut DbConn, username: &str, since: &str) -> Result<(i64, Option<String>)> {
        let (count, latest): (i64, Option<String>) = login_failures::table
            .filter(login_failures::username.eq(username))
            .filter(login_failures::failed_at.ge(since))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::max(login_failures::failed_at),
            ))
            .get_result(conn)?;
        Ok((count, latest))
    }

    /// Forgets the attempts of `username` (after a right password).
    pub fn clear(conn: &mut DbConn, username: &str) -> Result<()> {
        diesel::delete(login_failures::table.filter(login_failures::username.eq(username)))
            .execute(conn)?;
        Ok(())
    }
}

/// A user with their roles, for the admin's list.
#[derive(Debug, Clone)]
pub struct UserListing {
    /// The account.
    pub user: super::UserRow,
    /// Its roles, sorted.
    pub roles: Vec<String>,
}

impl UserListing {
    /// Every user, by name.
    pub fn all(conn: &mut DbConn) -> Result<Vec<Self>> {
        let users: Vec<super::UserRow> = users::table
            .order(users::username)
            .select(super::UserRow::as_select())
            .load(conn)?;
        let roles: Vec<(String, String)> = user_roles::table
            .order((user_roles::username, user_roles::role))
            .load(conn)?;
        Ok(users
            .into_iter()
            .map(|user| {
                let roles = roles
                    .iter()
                    .filter(|(name, _)| *name == user.username)
                    .map(|(_, role)| role.clone())
                    .collect();
                Self { user, roles }
            })
            .collect())
    }

    /// Gives `username` a role (no-op when held).
    pub fn grant(conn: &mut DbConn, username: &str, role: &str) -> Result<bool> {
        let held = super::UserRow::roles(conn, username)?;
        if held.iter().any(|r| r == role) {
            return Ok(false);
        }
        diesel::insert_into(user_roles::table)
            .values((user_roles::username.eq(username), user_roles::role.eq(role)))
            .execute(conn)?;
        Ok(true)
    }

    /// Takes a role from `username`.
    pub fn revoke(conn: &mut DbConn, username: &str, role: &str) -> Result<bool> {
        let removed = diesel::delete(
            user_roles::table
                .filter(user_roles::username.eq(username))
                .filter(user_roles::role.eq(role)),
        )
        .execute(conn)?;
        Ok(removed > 0)
    }

    /// Sets the password hash of `username`, and whether they must change it at their next
    /// login (`true` after an admin's reset, `false` after their own change).
    pub fn set_password(
        conn: &mut DbConn,
        username: &str,
        hash: &str,
        must_change: bool,
    ) -> Result<()> {
        diesel::update(users::table.find(username))
            .set((
                users::password_hash.eq(hash),
                users::must_change_password.eq(must_change),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Activates or deactivates `username`.
    pub fn set_active(conn: &mut DbConn, username: &str, active: bool) -> Result<()> {
        diesel::update(users::table.find(username))
            .set(users::active.eq(active))
            .execute(conn)?;
        Ok(())
    }

    /// Whether any user holds `role`.
    pub fn anyone_holds(conn: &mut DbConn, role: &str) -> Result<bool> {
        let count: i64 = user_roles::table
            .filter(user_roles::role.eq(role))
            .count()
            .get_result(conn)?;
        Ok(count > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_pool, DatabaseUrl, UserRow};

    #[test]
    fn failures_are_counted_from_a_time_and_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::parse(&dir.path().join("t.db").display().to_string()).expect("url");
        let pool = open_pool(&url, 1).expect("pool");
        let mut conn = pool.get().expect("conn");
        LoginFailures::record(&mut conn, "ann", "2026-01-01T00:00:00.000000Z").expect("record");
        LoginFailures::record(&mut conn, "ann", "2026-01-01T00:10:00.000000Z").expect("record");
        LoginFailures::record(&mut conn, "bob", "2026-01-01T00:10:00.000000Z").expect("record");
        let (n, latest) =
            LoginFailures::since(&mut conn, "ann", "2026-01-01T00:05:00.000000Z").expect("since");
        assert_eq!(n, 1);
        assert_eq!(latest.as_deref(), Some("2026-01-01T00:10:00.000000Z"));
        LoginFailures::clear(&mut conn, "ann").expect("clear");
        assert_eq!(
            LoginFailures::since(&mut conn, "ann", "2000")
                .expect("since")
                .0,
            0
        );
        let user = UserRow {
            username: "ann".into(),
            printed_name: "Ann".into(),
            email: "ann@example.org".into(),
            password_hash: "x".into(),
            active: true,
            created_at: "2026".into(),
            must_change_password: false,
        };
        UserRow::insert(&mut conn, &user, "coordinator").expect("insert");
        assert!(UserListing::grant(&mut conn, "ann", "dmc").expect("grant"));
        assert!(!UserListing::grant(&mut conn, "ann", "dmc").expect("grant again"));
        let all = UserListing::all(&mut conn).expect("all");
        assert_eq!(all[0].roles, vec!["coordinator", "dmc"]);
        assert!(UserListing::revoke(&mut conn, "ann", "coordinator").expect("revoke"));
        assert_eq!(
            UserRow::roles(&mut conn, "ann").expect("roles"),
            vec!["dmc"]
        );
    }
}
