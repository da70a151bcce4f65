//! A trial's witnesses: the e-mail addresses that receive every signed head of the trial's
//! chain. Rows only; the service validates the addresses and decides when to mail.

use diesel::prelude::*;

use super::schema::{trial_witnesses, witness_marks};
use super::{DbConn, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// One witness address of a trial.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = trial_witnesses)]
pub struct WitnessRow {
    /// Trial.
    pub trial_id: String,
    /// The address, as parsed by the mailer.
    pub email: String,
    /// Who added it.
    pub added_by: String,
    /// When (UTC, fixed width).
    pub added_at: String,
}

impl WitnessRow {
    /// The witnesses of `trial_id`, by address.
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(trial_witnesses::table
            .filter(trial_witnesses::trial_id.eq(trial_id))
            .order(trial_witnesses::email)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Replaces the witnesses of `trial_id` with `rows` (in the caller's transaction).
    pub fn replace(conn: &mut DbConn, trial_id: &str, rows: &[Self]) -> Result<()> {
        diesel::delete(trial_witnesses::table.filter(trial_witnesses::trial_id.eq(trial_id)))
            .execute(conn)?;
        for row in rows {
            diesel::insert_into(trial_witnesses::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(())
    }
}

/// The last head of a chain sent to its witnesses: (seq, when), if any was.
pub fn witness_mark(conn: &mut DbConn, chain: &str) -> Result<Option<(i64, String)>> {
    Ok(witness_marks::table
        .find(chain)
        .select((witness_marks::seq, witness_marks::witnessed_at))
        .first(conn)
        .optional()?)
}

/// Records that the head `seq` of `chain` was sent to its witnesses at `at`.
pub fn mark_witnessed(conn: &mut DbConn, chain: &str, seq: i64, at: &str) -> Result<()> {
    let updated = diesel::update(witness_marks::table.find(chain))
        .set((
            witness_marks::seq.eq(seq),
            witness_marks::witnessed_at.eq(at),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(witness_marks::table)
            .values((
                witness_marks::chain.eq(chain),
                witness_marks::seq.eq(seq),
                witness_marks::witnessed_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}
