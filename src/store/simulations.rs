//! Stored simulation reports: rows only, numbered per trial. The service checks what a report
//! is of (the version and its hash) and bounds its sizes; nothing here decides anything.

use diesel::prelude::*;

use super::schema::simulation_reports;
use super::{DbConn, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// One stored simulation report, with its result and its page.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = simulation_reports)]
pub struct SimulationReportRow {
    /// Trial.
    pub trial_id: String,
    /// Number within the trial (1, 2, …).
    pub number: i64,
    /// The protocol version simulated.
    pub version: i32,
    /// That version's hash (hex).
    pub protocol_hash: String,
    /// The scenario's name.
    pub scenario: String,
    /// The seed (a 64-bit unsigned integer in decimal).
    pub seed: String,
    /// Replicates.
    pub reps: i64,
    /// Who ran it.
    pub ran_by: String,
    /// When it was stored (UTC, fixed width).
    pub ran_at: String,
    /// The headline metrics in one line.
    pub summary: String,
    /// The simulator's result (JSON).
    pub result_json: String,
    /// The report page (HTML).
    pub report_html: String,
}

/// A stored report without its result and page, for lists.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = simulation_reports)]
pub struct SimulationListing {
    /// Trial.
    pub trial_id: String,
    /// Number within the trial.
    pub number: i64,
    /// The protocol version simulated.
    pub version: i32,
    /// That version's hash (hex).
    pub protocol_hash: String,
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: String,
    /// Replicates.
    pub reps: i64,
    /// Who ran it.
    pub ran_by: String,
    /// When it was stored.
    pub ran_at: String,
    /// The headline metrics in one line.
    pub summary: String,
}

impl SimulationReportRow {
    /// Inserts the report (in the caller's write transaction).
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        diesel::insert_into(simulation_reports::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The number the next report of `trial_id` gets (call under the trial's write lock).
    pub fn next_number(conn: &mut DbConn, trial_id: &str) -> Result<i64> {
        let last: Option<i64> = simulation_reports::table
            .filter(simulation_reports::trial_id.eq(trial_id))
            .select(diesel::dsl::max(simulation_reports::number))
            .first(conn)?;
        Ok(last.unwrap_or(0) + 1)
    }

    /// Report `number` of `trial_id`.
    pub fn find(conn: &mut DbConn, trial_id: &str, number: i64) -> Result<Option<Self>> {
        Ok(simulation_reports::table
            .find((trial_id, number))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Every report of `trial_id`, oldest first (for the regulatory package).
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(simulation_reports::table
            .filter(simulation_reports::trial_id.eq(trial_id))
            .order(simulation_reports::number)
            .select(Self::as_select())
            .load(conn)?)
    }
}

impl SimulationListing {
    /// The reports of `trial_id` without their pages, newest first.
    pub fn of_trial(conn: &mut DbConn, trial_id: &str) -> Result<Vec<Self>> {
        Ok(simulation_reports::table
            .filter(simulation_reports::trial_id.eq(trial_id))
            .order(simulation_reports::number.desc())
            .select(Self::as_select())
            .load(conn)?)
    }

    /// How many reports of version `version` of `trial_id` were made of exactly the hash
    /// `protocol_hash`.
    pub fn count_of_version(
        conn: &mut DbConn,
        trial_id: &str,
        version: i32,
        protocol_hash: &str,
    ) -> Result<i64> {
        Ok(simulation_reports::table
            .filter(simulation_reports::trial_id.eq(trial_id))
            .filter(simulation_reports::version.eq(version))
            .filter(simulation_reports::protocol_hash.eq(protocol_hash))
            .count()
            .get_result(conn)?)
    }
}
