//! A trial's witnesses: the e-mail addresses that receive every signed head of the trial's
//! chain. Rows only; the service validates the addresses and decides when to mail.

use diesel::prelude::*;

use super::schema::trial_witnesses;
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
