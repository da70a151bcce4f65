//! Row types and the queries that read and write them. Rows are plain text and numbers; the
//! service converts them to domain types (`TryFrom`), so nothing here interprets a trial.

use diesel::prelude::*;

use super::schema::*;
use super::{DbConn, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// A user account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// Login name.
    pub username: String,
    /// Name printed on electronic signatures.
    pub printed_name: String,
    /// E-mail address for notifications.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Whether the account may log in.
    pub active: bool,
    /// When it was created.
    pub created_at: String,
    /// Whether the user must choose a new password before anything else (after an admin's
    /// reset).
    pub must_change_password: bool,
}

impl UserRow {
    /// Inserts a user with one role.
    pub fn insert(conn: &mut DbConn, user: &UserRow, role: &str) -> Result<()> {
        diesel::insert_into(users::table)
            .values(user)
            .execute(conn)?;
        diesel::insert_into(user_roles::table)
            .values((
                user_roles::username.eq(&user.username),
                user_roles::role.eq(role),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The user named `username`, if any.
    pub fn find(conn: &mut DbConn, username: &str) -> Result<Option<UserRow>> {
        Ok(users::table
            .find(username)
            .select(UserRow::as_select())
            .first(conn)
            .optional()?)
    }

    /// The roles of `username`.
    pub fn roles(conn: &mut DbConn, username: &str) -> Result<Vec<String>> {
        Ok(user_roles::table
            .filter(user_roles::username.eq(username))
            .select(user_roles::role)
            .order(user_roles::role)
            .load(conn)?)
    }

    /// E-mail addresses of the active users holding any of `roles`.
    pub fn emails_with_roles(conn: &mut DbConn, roles: &[&str]) -> Result<Vec<String>> {
        Ok(users::table
            .inner_join(user_roles::table.on(user_roles::username.eq(users::username)))
            .filter(user_roles::role.eq_any(roles))
            .filter(users::active.eq(true))
            .select(users::email)
            .distinct()
            .order(users::email)
            .load(conn)?)
    }
}

/// A trial.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = trials)]
pub struct TrialRow {
    /// The protocol's trial id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `platform` or `nof1`.
    pub design: String,
    /// The secret randomisation seed (hex); revealed only in the unblinded export.
    pub seed_hex: String,
    /// SHA-256 of the seed (hex).
    pub seed_commitment: String,
    /// The protocol version in force.
    pub current_version: i32,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: String,
}

impl TrialRow {
    /// Inserts a trial.
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        diesel::insert_into(trials::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The trial `id`, if it exists.
    ///
    /// An id that no trial can have (control characters, surrounding spaces, over 128
    /// characters: what [`crate::audit::ChainId::trial`] refuses, and every stored trial passed
    /// it) is not looked up: it finds nothing, so a hostile path gives a 404, not a database
    /// error (PostgreSQL refuses a NUL byte in text).
    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<TrialRow>> {
        if crate::audit::ChainId::trial(id).is_err() {
            return Ok(None);
        }
        // `load` rather than `first`: SQLite re-prepares a statement whose LIMIT is a bound
        // parameter on every execution; a primary-key lookup needs no LIMIT.
        Ok(per_backend!(conn, |c| trials::table
            .find(id)
            .select(TrialRow::as_select())
            .load(c))?
        .pop())
    }

    /// Every trial id, in order.
    pub fn ids(conn: &mut DbConn) -> Result<Vec<String>> {
        Ok(trials::table
            .select(trials::id)
            .order(trials::id)
            .load(conn)?)
    }

    /// Moves the trial to protocol `version`.
    pub fn set_version(conn: &mut DbConn, id: &str, version: i32) -> Result<()> {
        diesel::update(trials::table.find(id))
            .set(trials::current_version.eq(version))
            .execute(conn)?;
        Ok(())
    }
}

/// One version of a trial's protocol: the exact text and its hash.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = protocol_versions)]
pub struct ProtocolVersionRow {
    /// Trial.
    pub trial_id: String,
    /// 1 for the protocol as created; each amendment adds one.
    pub version: i32,
    /// The protocol hash (hex SHA-256 of its canonical form).
    pub hash: String,
    /// The TOML text.
    pub source: String,
    /// What changed.
    pub note: String,
    /// Who made this version.
    pub created_by: String,
    /// When.
    pub created_at: String,
}

impl ProtocolVersionRow {
    /// Inserts a version.
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        diesel::insert_into(protocol_versions::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Version `version` of trial `trial_id`.
    pub fn find(conn: &mut DbConn, trial_id: &str, version: i32) -> Result<Option<Self>> {
        Ok(protocol_versions::table
            .find((trial_id, version))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }
}

/// An electronic signature (21 CFR 11.50): who, the printed name, when, what it means and the
/// exact protocol version it is bound to. Its key is its record on the system chain.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signatures)]
pub struct SignatureRow {
    /// Seq of the system-chain record that holds it.
    pub system_seq: i64,
    /// Trial.
    pub trial_id: String,
    /// Protocol version signed.
    pub version: i32,
    /// That version's hash.
    pub protocol_hash: String,
    /// `authorship`, `approval` or `review`.
    pub meaning: String,
    /// Signer's user name.
    pub username: String,
    /// Signer's printed name.
    pub printed_name: String,
    /// When (UTC).
    pub signed_at: String,
}

impl SignatureRow {
    /// Inserts a signature.
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        diesel::insert_into(signatures::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The signatures of one protocol version, oldest first.
    pub fn for_version(conn: &mut DbConn, trial_id: &str, version: i32) -> Result<Vec<Self>> {
        Ok(signatures::table
            .filter(signatures::trial_id.eq(trial_id))
            .filter(signatures::version.eq(version))
            .order(signatures::system_seq)
            .select(Self::as_select())
            .load(conn)?)
    }
}

/// One audit record as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    /// `system` or `trial:<id>`.
    pub chain: String,
    /// Position in the chain (1-based).
    pub seq: i64,
    /// Kind.
    pub kind: String,
    /// Canonical JSON payload.
    pub payload: String,
    /// Who.
    pub actor: String,
    /// Role.
    pub role: String,
    /// When (UTC RFC 3339).
    pub recorded_at: String,
    /// Why.
    pub reason: Option<String>,
    /// Previous hash (hex).
    pub prev_hash: String,
    /// This record's hash (hex).
    pub hash: String,
    /// The record's secret salt (64 hex digits; record format 2), or `NULL` (format 1: the
    /// system chain and trial chains begun before salts).
    pub salt: Option<String>,
}

impl AuditRow {
    /// Appends records (the caller holds the chain's write lock).
    pub fn append(conn: &mut DbConn, rows: &[AuditRow]) -> Result<()> {
        // One statement per row: the multi-backend connection has no batch insert.
        for row in rows {
            per_backend!(&mut *conn, |c| diesel::insert_into(audit_events::table)
                .values(row)
                .execute(c))?;
        }
        Ok(())
    }

    /// The last record of `chain`.
    pub fn head(conn: &mut DbConn, chain: &str) -> Result<Option<AuditRow>> {
        // MAX then a primary-key lookup, without a LIMIT parameter (see `TrialRow::find`).
        let last: Option<i64> = per_backend!(&mut *conn, |c| audit_events::table
            .filter(audit_events::chain.eq(chain))
            .select(diesel::dsl::max(audit_events::seq))
            .get_result(c))?;
        let Some(seq) = last else {
            return Ok(None);
        };
        Ok(per_backend!(conn, |c| audit_events::table
            .find((chain, seq))
            .select(Self::as_select())
            .load(c))?
        .pop())
    }

    /// The record `seq` of `chain`, if there is one.
    pub fn at(conn: &mut DbConn, chain: &str, seq: i64) -> Result<Option<AuditRow>> {
        Ok(per_backend!(conn, |c| audit_events::table
            .find((chain, seq))
            .select(Self::as_select())
            .load(c))?
        .pop())
    }

    /// The sequence number of the last record of `chain` (0 when it has none).
    pub fn last_seq(conn: &mut DbConn, chain: &str) -> Result<i64> {
        let last: Option<i64> = per_backend!(conn, |c| audit_events::table
            .filter(audit_events::chain.eq(chain))
            .select(diesel::dsl::max(audit_events::seq))
            .get_result(c))?;
        Ok(last.unwrap_or(0))
    }

    /// The records of `chain` after `seq`, in order.
    pub fn after(conn: &mut DbConn, chain: &str, seq: i64) -> Result<Vec<AuditRow>> {
        Ok(audit_events::table
            .filter(audit_events::chain.eq(chain))
            .filter(audit_events::seq.gt(seq))
            .order(audit_events::seq)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Every chain that has records, in order.
    pub fn chains(conn: &mut DbConn) -> Result<Vec<String>> {
        Ok(audit_events::table
            .select(audit_events::chain)
            .distinct()
            .order(audit_events::chain)
            .load(conn)?)
    }
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkpoints)]
pub struct CheckpointRow {
    /// Chain.
    pub chain: String,
    /// Seq of the head signed.
    pub seq: i64,
    /// `look` or `export`.
    pub purpose: String,
    /// Head hash (hex).
    pub head_hash: String,
    /// When.
    pub signed_at: String,
    /// Server public key (hex).
    pub public_key: String,
    /// Ed25519 signature (hex).
    pub signature: String,
    /// Seq of the chain's previous checkpoint (signed with it); `None` for checkpoints signed
    /// before the link existed.
    pub previous: Option<i64>,
}

impl CheckpointRow {
    /// Inserts a checkpoint (on the per-command path: prepared by the backend's connection).
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        per_backend!(conn, |c| diesel::insert_into(checkpoints::table)
            .values(self)
            .execute(c))?;
        Ok(())
    }

    /// The seq of `chain`'s latest checkpoint (0 when it has none): the link the next one signs.
    pub fn last_seq(conn: &mut DbConn, chain: &str) -> Result<i64> {
        // On the per-command path: prepared by the backend's own connection, no LIMIT.
        let last: Option<i64> = per_backend!(conn, |c| checkpoints::table
            .filter(checkpoints::chain.eq(chain))
            .select(diesel::dsl::max(checkpoints::seq))
            .get_result(c))?;
        Ok(last.unwrap_or(0))
    }

    /// Whether any chain has a linked checkpoint (one signed since checkpoints were linked).
    pub fn any_linked(conn: &mut DbConn) -> Result<bool> {
        let linked: i64 = checkpoints::table
            .filter(checkpoints::previous.is_not_null())
            .count()
            .get_result(conn)?;
        Ok(linked > 0)
    }

    /// `chain`'s latest checkpoint (the last of [`CheckpointRow::of_chain`]'s order), if any.
    pub fn latest(conn: &mut DbConn, chain: &str) -> Result<Option<Self>> {
        Ok(checkpoints::table
            .filter(checkpoints::chain.eq(chain))
            .order((checkpoints::seq.desc(), checkpoints::purpose.desc()))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// How many checkpoints `chain` has.
    pub fn count_of(conn: &mut DbConn, chain: &str) -> Result<i64> {
        Ok(checkpoints::table
            .filter(checkpoints::chain.eq(chain))
            .count()
            .get_result(conn)?)
    }

    /// The checkpoints of `chain`, in seq order.
    pub fn of_chain(conn: &mut DbConn, chain: &str) -> Result<Vec<Self>> {
        Ok(checkpoints::table
            .filter(checkpoints::chain.eq(chain))
            .order((checkpoints::seq, checkpoints::purpose))
            .select(Self::as_select())
            .load(conn)?)
    }
}

/// Projection: a participant and their assignment.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = participants)]
pub struct ParticipantRow {
    /// Trial.
    pub trial_id: String,
    /// Participant number (0-based enrolment order).
    pub participant: i32,
    /// Subject identifier.
    pub subject_id: String,
    /// Arm id.
    pub arm: String,
    /// Seq of the `randomised` event.
    pub seq: i64,
    /// The uniform draw.
    pub draw: f64,
    /// The probabilities in force (JSON).
    pub probabilities: String,
    /// Who enrolled them.
    pub enrolled_by: String,
    /// When.
    pub enrolled_at: String,
}

/// Projection: an outcome or a correction.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = outcomes)]
pub struct OutcomeRow {
    /// Trial.
    pub trial_id: String,
    /// Seq of the event.
    pub seq: i64,
    /// Participant number.
    pub participant: i32,
    /// The value (JSON).
    pub value: String,
    /// Seq of the outcome corrected.
    pub corrects: Option<i64>,
    /// Reason for a correction.
    pub reason: Option<String>,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: String,
}

/// Projection: an interim or final analysis.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = looks)]
pub struct LookRow {
    /// Trial.
    pub trial_id: String,
    /// 1-based look number.
    pub look: i32,
    /// Seq of the `look_performed` event.
    pub seq: i64,
    /// Outcomes at the look.
    pub outcomes: i32,
    /// Participants enrolled at the look.
    pub enrolled: i32,
    /// The per-arm analysis (JSON).
    pub analysis: String,
}

/// Projection rows appended by one command.
#[derive(Debug, Default)]
pub struct Projections {
    /// New participants with their assignments.
    pub participants: Vec<ParticipantRow>,
    /// New outcomes and corrections.
    pub outcomes: Vec<OutcomeRow>,
    /// New looks.
    pub looks: Vec<LookRow>,
    /// Arm status changes: (arm, status, seq).
    pub arm_status: Vec<(String, String, i64)>,
    /// The trial's new status, when the command changed it: (status, seq).
    pub trial_status: Option<(String, i64)>,
}

impl Projections {
    /// Writes the projections of trial `trial_id`.
    pub fn write(&self, conn: &mut DbConn, trial_id: &str) -> Result<()> {
        for row in &self.participants {
            diesel::insert_into(participants::table)
                .values(row)
                .execute(conn)?;
        }
        for row in &self.outcomes {
            diesel::insert_into(outcomes::table)
                .values(row)
                .execute(conn)?;
        }
        for row in &self.looks {
            diesel::insert_into(looks::table)
                .values(row)
                .execute(conn)?;
        }
        for (arm, status, seq) in &self.arm_status {
            let updated = diesel::update(arm_status::table.find((trial_id, arm)))
                .set((
                    arm_status::status.eq(status),
                    arm_status::changed_at.eq(seq),
                ))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(arm_status::table)
                    .values((
                        arm_status::trial_id.eq(trial_id),
                        arm_status::arm.eq(arm),
                        arm_status::status.eq(status),
                        arm_status::changed_at.eq(seq),
                    ))
                    .execute(conn)?;
            }
        }
        if let Some((status, seq)) = &self.trial_status {
            let updated = diesel::update(trial_status::table.find(trial_id))
                .set((
                    trial_status::status.eq(status),
                    trial_status::changed_at.eq(seq),
                ))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(trial_status::table)
                    .values((
                        trial_status::trial_id.eq(trial_id),
                        trial_status::status.eq(status),
                        trial_status::changed_at.eq(seq),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    }
}

/// The stored answer to an idempotent request.
pub struct IdempotencyKey;

impl IdempotencyKey {
    /// The response stored for (`trial_id`, `key`), if any.
    pub fn find(conn: &mut DbConn, trial_id: &str, key: &str) -> Result<Option<String>> {
        Ok(per_backend!(conn, |c| idempotency_keys::table
            .find((trial_id, key))
            .select(idempotency_keys::response)
            .load(c))?
        .pop())
    }

    /// Stores the response for (`trial_id`, `key`).
    pub fn insert(
        conn: &mut DbConn,
        trial_id: &str,
        key: &str,
        response: &str,
        at: &str,
    ) -> Result<()> {
        per_backend!(conn, |c| diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::trial_id.eq(trial_id),
                idempotency_keys::key.eq(key),
                idempotency_keys::response.eq(response),
                idempotency_keys::created_at.eq(at),
            ))
            .execute(c))?;
        Ok(())
    }
}

/// An e-mail waiting to be sent.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Trial, if about one.
    pub trial_id: Option<String>,
    /// Address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// When queued.
    pub created_at: String,
    /// When sent.
    pub sent_at: Option<String>,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Not to be tried again before this time (after a temporary failure).
    pub next_attempt_at: Option<String>,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When it was parked after a permanent failure (it is not tried again).
    pub parked_at: Option<String>,
}

/// A new outbox message.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewOutboxRow {
    /// Trial, if about one.
    pub trial_id: Option<String>,
    /// Address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// When queued.
    pub created_at: String,
}

impl OutboxRow {
    /// Queues messages (in the caller's transaction).
    pub fn queue(conn: &mut DbConn, messages: &[NewOutboxRow]) -> Result<()> {
        for message in messages {
            diesel::insert_into(outbox::table)
                .values(message)
                .execute(conn)?;
        }
        Ok(())
    }

    /// Messages of `trial_id` (all trials when `None`), oldest first.
    pub fn list(conn: &mut DbConn, trial_id: Option<&str>) -> Result<Vec<Self>> {
        let mut query = outbox::table.into_boxed();
        if let Some(id) = trial_id {
            query = query.filter(outbox::trial_id.eq(id));
        }
        Ok(query
            .order(outbox::id)
            .select(Self::as_select())
            .load(conn)?)
    }
}
