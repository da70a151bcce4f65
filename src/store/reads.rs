//! Read queries behind the web pages and the JSON API: trial lists, projections of one trial,
//! the audit-trail browser's filtered and paged search, and the outbox sender's queue.

use diesel::prelude::*;

use super::schema::*;
use super::{
    AuditRow, DbConn, LookRow, OutboxRow, OutcomeRow, ParticipantRow, ProtocolVersionRow,
    SignatureRow, StoreError, TrialRow,
};

type Result<T> = std::result::Result<T, StoreError>;

impl TrialRow {
    /// Every trial, by id, with its stored status (`draft` when it has none yet).
    pub fn all_with_status(conn: &mut DbConn) -> Result<Vec<(TrialRow, String)>> {
        let rows: Vec<(TrialRow, Option<String>)> = trials::table
            .left_join(trial_status::table.on(trial_status::trial_id.eq(trials::id)))
            .order(trials::id)
            .select((TrialRow::as_select(), trial_status::status.nullable()))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(trial, status)| (trial, status.unwrap_or_else(|| "draft".to_owned())))
            .collect())
    }
}

impl ProtocolVersionRow {
    /// Every version of a trial's protocol, oldest first.
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(protocol_versions::table
            .filter(protocol_versions::trial_id.eq(trial_id))
            .order(protocol_versions::version)
            .select(Self::as_select())
            .load(conn)?)
    }
}

impl SignatureRow {
    /// Every signature on any version of a trial's protocol, oldest first.
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(signatures::table
            .filter(signatures::trial_id.eq(trial_id))
            .order(signatures::system_seq)
            .select(Self::as_select())
            .load(conn)?)
    }
}

impl ParticipantRow {
    /// A trial's participants in enrolment order.
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(participants::table
            .filter(participants::trial_id.eq(trial_id))
            .order(participants::participant)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// One participant by subject identifier.
    pub fn by_subject(conn: &mut DbConn, trial_id: &str, subject_id: &str) -> Result<Option<Self>> {
        Ok(participants::table
            .filter(participants::trial_id.eq(trial_id))
            .filter(participants::subject_id.eq(subject_id))
            .select(Self::as_select())
            .load(conn)?
            .pop())
    }
}

impl OutcomeRow {
    /// A trial's outcomes and corrections in seq order.
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(outcomes::table
            .filter(outcomes::trial_id.eq(trial_id))
            .order(outcomes::seq)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// One participant's outcomes and corrections in seq order.
    pub fn of_participant(
        conn: &mut DbConn,
        trial_id: &str,
        participant: i32,
    ) -> Result<Vec<Self>> {
        Ok(outcomes::table
            .filter(outcomes::trial_id.eq(trial_id))
            .filter(outcomes::participant.eq(participant))
            .order(outcomes::seq)
            .select(Self::as_select())
            .load(conn)?)
    }
}

impl LookRow {
    /// A trial's looks in order.
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(looks::table
            .filter(looks::trial_id.eq(trial_id))
            .order(looks::look)
            .select(Self::as_select())
            .load(conn)?)
    }
}

/// Arm status rows of a trial: (arm, status, seq of the change), by arm.
pub fn arm_statuses(conn: &mut DbConn, trial_id: &str) -> Result<Vec<(String, String, i64)>> {
    Ok(arm_status::table
        .filter(arm_status::trial_id.eq(trial_id))
        .order(arm_status::arm)
        .select((arm_status::arm, arm_status::status, arm_status::changed_at))
        .load(conn)?)
}

/// A trial's status row: (status, seq of the change), if it has one.
pub fn trial_status(conn: &mut DbConn, trial_id: &str) -> Result<Option<(String, i64)>> {
    Ok(trial_status::table
        .filter(trial_status::trial_id.eq(trial_id))
        .select((trial_status::status, trial_status::changed_at))
        .load(conn)?
        .pop())
}

/// The column the audit browser sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditSort {
    /// Time recorded (then chain and seq).
    #[default]
    RecordedAt,
    /// Chain, then seq.
    Chain,
    /// Event kind.
    Kind,
    /// Actor.
    Actor,
}

/// A filtered, sorted page of the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Exactly this chain (`system` or `trial:<id>`).
    pub chain: Option<String>,
    /// Exactly this kind.
    pub kind: Option<String>,
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Recorded at or after (RFC 3339 prefix, e.g. `2026-11-25`).
    pub from: Option<String>,
    /// Recorded before the end of (RFC 3339 prefix; compared as text after appending `~`).
    pub to: Option<String>,
    /// Sort column.
    pub sort: AuditSort,
    /// Newest (largest) first.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
    /// Chains left out of the search (set by the service, never from a request: the chains
    /// whose sealed records a kind filter or order would tell apart).
    pub excluded_chains: Vec<String>,
}

impl AuditRow {
    /// One page of records matching `query`, and how many match in all.
    pub fn search(conn: &mut DbConn, query: &AuditQuery) -> Result<(Vec<AuditRow>, i64)> {
        let filtered = || {
            let mut q = audit_events::table.into_boxed();
            if let Some(chain) = &query.chain {
                q = q.filter(audit_events::chain.eq(chain.clone()));
            }
            if !query.excluded_chains.is_empty() {
                q = q.filter(audit_events::chain.ne_all(query.excluded_chains.clone()));
            }
            if let Some(kind) = &query.kind {
                q = q.filter(audit_events::kind.eq(kind.clone()));
            }
            if let Some(actor) = &query.actor {
                q = q.filter(audit_events::actor.eq(actor.clone()));
            }
            if let Some(from) = &query.from {
                q = q.filter(audit_events::recorded_at.ge(from.clone()));
            }
            if let Some(to) = &query.to {
                // "~" sorts after every character of an RFC 3339 time: the whole day counts.
                q = q.filter(audit_events::recorded_at.le(format!("{to}~")));
            }
            q
        };
        let total: i64 = filtered().count().get_result(conn)?;
        let mut q = filtered();
        q = match (query.sort, query.descending) {
            (AuditSort::RecordedAt, false) => q.order((
                audit_events::recorded_at.asc(),
                audit_events::chain.asc(),
                audit_events::seq.asc(),
            )),
            (AuditSort::RecordedAt, true) => q.order((
                audit_events::recorded_at.desc(),
                audit_events::chain.desc(),
                audit_events::seq.desc(),
            )),
            (AuditSort::Chain, false) => {
                q.order((audit_events::chain.asc(), audit_events::seq.asc()))
            }
            (AuditSort::Chain, true) => {
                q.order((audit_events::chain.desc(), audit_events::seq.desc()))
            }
            (AuditSort::Kind, false) => q.order((
                audit_events::kind.asc(),
                audit_events::chain.asc(),
                audit_events::seq.asc(),
            )),
            (AuditSort::Kind, true) => q.order((
                audit_events::kind.desc(),
                audit_events::chain.desc(),
                audit_events::seq.desc(),
            )),
            (AuditSort::Actor, false) => q.order((
                audit_events::actor.asc(),
                audit_events::chain.asc(),
                audit_events::seq.asc(),
            )),
            (AuditSort::Actor, true) => q.order((
                audit_events::actor.desc(),
                audit_events::chain.desc(),
                audit_events::seq.desc(),
            )),
        };
        let rows = q
            .offset(query.offset.max(0))
            .limit(query.limit.clamp(1, 1000))
            .select(AuditRow::as_select())
            .load(conn)?;
        Ok((rows, total))
    }

    /// The distinct event kinds recorded (for the browser's filter).
    pub fn kinds(conn: &mut DbConn) -> Result<Vec<String>> {
        Self::kinds_outside(conn, &[])
    }

    /// Every kind recorded on chains other than `excluded`.
    pub fn kinds_outside(conn: &mut DbConn, excluded: &[String]) -> Result<Vec<String>> {
        Ok(audit_events::table
            .filter(audit_events::chain.ne_all(excluded.to_vec()))
            .select(audit_events::kind)
            .distinct()
            .order(audit_events::kind)
            .load(conn)?)
    }
}

impl OutboxRow {
    /// Up to `limit` messages neither sent nor parked whose next attempt is due at `now`,
    /// oldest first.
    pub fn pending(conn: &mut DbConn, now: &str, limit: i64) -> Result<Vec<Self>> {
        Ok(outbox::table
            .filter(outbox::sent_at.is_null())
            .filter(outbox::parked_at.is_null())
            .filter(
                outbox::next_attempt_at
                    .is_null()
                    .or(outbox::next_attempt_at.le(now)),
            )
            .order(outbox::id)
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Marks a message sent.
    pub fn mark_sent(conn: &mut DbConn, id: i64, at: &str) -> Result<()> {
        diesel::update(outbox::table.find(id))
            .set(outbox::sent_at.eq(at))
            .execute(conn)?;
        Ok(())
    }

    /// Records a temporary failure: one more attempt, the reason, and when to try again.
    pub fn defer(
        conn: &mut DbConn,
        id: i64,
        attempts: i32,
        next: &str,
        reason: &str,
    ) -> Result<()> {
        diesel::update(outbox::table.find(id))
            .set((
                outbox::attempts.eq(attempts),
                outbox::next_attempt_at.eq(next),
                outbox::last_error.eq(reason),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Parks a message that failed for good, with the reason; it is not tried again.
    pub fn park(conn: &mut DbConn, id: i64, attempts: i32, at: &str, reason: &str) -> Result<()> {
        diesel::update(outbox::table.find(id))
            .set((
                outbox::attempts.eq(attempts),
                outbox::parked_at.eq(at),
                outbox::last_error.eq(reason),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The parked messages, newest first (at most `limit`).
    pub fn parked(conn: &mut DbConn, limit: i64) -> Result<Vec<Self>> {
        Ok(outbox::table
            .filter(outbox::parked_at.is_not_null())
            .order(outbox::id.desc())
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?)
    }
}
