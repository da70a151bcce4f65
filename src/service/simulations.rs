//! Simulation reports that justify a protocol version: a finished simulation is stored with the
//! trial, the exact protocol version it simulated (number and hash), the scenario, the seed, the
//! replicates, who ran it and when, its JSON result and its HTML report; the reports are listed
//! per trial, read back, put in the regulatory package, and an amendment's approval needs one
//! ([`Service::require_simulated`]).
//!
//! The rule for approvals: a version that changes a trial that has started (an amendment) may
//! receive its approval signature only when at least one stored report simulated that exact
//! version (same number and hash). A trial that has not started yet is not blocked: its first
//! version is approved and started without one (simulating it first is good practice, and the
//! trial page offers it), since the design has not met a participant yet. The rule has no
//! exception: a running trial whose protocol has no `[[scenario]]` cannot be amended (every
//! shipped protocol has scenarios, and an amendment keeps them).
//!
//! Simulations hold no participant's data, so the reports are shown to every role that takes
//! part in protocol decisions or audits them ([`Permission::ReadSimulations`]). Storing one is
//! not a trial command: it goes on no audit chain (the regulatory package, which signs its
//! manifest, carries the reports).

use tracing::instrument;

use super::{Actor, Permission, Service, ServiceError};
use crate::engine::TrialStatus;
use crate::protocol::{LoadedProtocol, Protocol};
use crate::store::{
    DbConn, ProtocolVersionRow, SimulationListing, SimulationReportRow, TrialRow, WriteLock,
};

/// The largest report page stored (bytes).
pub const MAX_REPORT_HTML_BYTES: usize = 8 << 20;
/// The largest JSON result stored (bytes).
pub const MAX_RESULT_JSON_BYTES: usize = 8 << 20;
/// The longest one-line summary stored (characters).
pub const MAX_SUMMARY_CHARS: usize = 2_000;
/// The longest scenario name accepted (characters).
pub const MAX_SCENARIO_CHARS: usize = 200;

/// A finished simulation to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSimulationReport {
    /// Trial.
    pub trial_id: String,
    /// The protocol version simulated.
    pub version: i32,
    /// The hash of the protocol text simulated (hex): must be that version's.
    pub protocol_hash: String,
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Replicates run.
    pub reps: u64,
    /// The headline metrics in one line.
    pub summary: String,
    /// The simulator's result (JSON).
    pub result_json: String,
    /// The report page (HTML).
    pub report_html: String,
}

/// A stored report, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationReportInfo {
    /// Trial.
    pub trial_id: String,
    /// Number within the trial.
    pub number: i64,
    /// The protocol version simulated.
    pub version: i32,
    /// That version's hash.
    pub protocol_hash: String,
    /// The scenario.
    pub scenario: String,
    /// The seed.
    pub seed: String,
    /// Replicates.
    pub reps: i64,
    /// Who ran it.
    pub ran_by: String,
    /// When it was stored (UTC).
    pub ran_at: String,
    /// The headline metrics.
    pub summary: String,
}

impl From<SimulationListing> for SimulationReportInfo {
    fn from(row: SimulationListing) -> Self {
        Self {
            trial_id: row.trial_id,
            number: row.number,
            version: row.version,
            protocol_hash: row.protocol_hash,
            scenario: row.scenario,
            seed: row.seed,
            reps: row.reps,
            ran_by: row.ran_by,
            ran_at: row.ran_at,
            summary: row.summary,
        }
    }
}

/// A stored report with its page and result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationReport {
    /// What it is.
    pub info: SimulationReportInfo,
    /// The report page (HTML).
    pub report_html: String,
    /// The simulator's result (JSON).
    pub result_json: String,
}

/// A protocol version that awaits its approval signature (an amendment proposed but not
/// approved), with whether a stored report simulated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingVersion {
    /// Its number.
    pub version: i32,
    /// Its hash.
    pub hash: String,
    /// Whether a stored report simulated exactly this version.
    pub simulated: bool,
}

/// What the trial page shows about simulations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimulationShelf {
    /// The stored reports, newest first.
    pub reports: Vec<SimulationReportInfo>,
    /// The version awaiting approval, if any.
    pub pending: Option<PendingVersion>,
}

/// The version after the current one, if an amendment proposed it and it awaits approval.
pub(crate) fn pending_version(
    conn: &mut DbConn,
    trial: &TrialRow,
) -> Result<Option<ProtocolVersionRow>, ServiceError> {
    Ok(ProtocolVersionRow::find(
        conn,
        &trial.id,
        trial.current_version + 1,
    )?)
}

fn too_long(field: &'static str, what: &str, size: usize, max: usize) -> ServiceError {
    ServiceError::Invalid {
        field,
        problem: format!("{what} is {size} long, more than the {max} stored"),
    }
}

impl Service {
    /// Stores a finished simulation of a protocol version of a trial (statistician): the
    /// version must exist and its hash must be the one simulated. Returns the report's number
    /// within the trial.
    #[instrument(skip_all, fields(trial = %report.trial_id, version = report.version))]
    pub fn store_simulation_report(
        &self,
        actor: &Actor,
        report: &NewSimulationReport,
    ) -> Result<i64, ServiceError> {
        actor.require(Permission::WriteProtocols)?;
        let scenario_chars = report.scenario.chars().count();
        if scenario_chars == 0 || scenario_chars > MAX_SCENARIO_CHARS {
            return Err(ServiceError::Invalid {
                field: "scenario",
                problem: format!("give a scenario name of 1 to {MAX_SCENARIO_CHARS} characters"),
            });
        }
        let reps = i64::try_from(report.reps)
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| ServiceError::Invalid {
                field: "reps",
                problem: format!("{} is not a positive number of replicates", report.reps),
            })?;
        let summary_chars = report.summary.chars().count();
        if summary_chars > MAX_SUMMARY_CHARS {
            return Err(too_long(
                "summary",
                "the summary",
                summary_chars,
                MAX_SUMMARY_CHARS,
            ));
        }
        if report.report_html.len() > MAX_REPORT_HTML_BYTES {
            return Err(too_long(
                "report_html",
                "the report page (bytes)",
                report.report_html.len(),
                MAX_REPORT_HTML_BYTES,
            ));
        }
        if report.result_json.len() > MAX_RESULT_JSON_BYTES {
            return Err(too_long(
                "result_json",
                "the result (bytes)",
                report.result_json.len(),
                MAX_RESULT_JSON_BYTES,
            ));
        }
        let trial_id = report.trial_id.as_str();
        let ran_at = self.clock.now();
        let mut conn = self.conn()?;
        let number = self.write_transaction(&mut conn, WriteLock::Trial(trial_id), |conn| {
            TrialRow::find(conn, trial_id)?
                .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
            let version =
                ProtocolVersionRow::find(conn, trial_id, report.version)?.ok_or_else(|| {
                    ServiceError::NotFound(format!(
                        "trial {trial_id} has no protocol version {}",
                        report.version
                    ))
                })?;
            if version.hash != report.protocol_hash {
                return Err(ServiceError::Conflict(format!(
                    "the simulation ran protocol text with hash {}, but version {} of trial \
                     {trial_id} has hash {}: simulate that version again",
                    report.protocol_hash, report.version, version.hash
                )));
            }
            let number = SimulationReportRow::next_number(conn, trial_id)?;
            SimulationReportRow {
                trial_id: trial_id.to_owned(),
                number,
                version: report.version,
                protocol_hash: report.protocol_hash.clone(),
                scenario: report.scenario.clone(),
                seed: report.seed.to_string(),
                reps,
                ran_by: actor.username.clone(),
                ran_at: ran_at.as_str().to_owned(),
                summary: report.summary.clone(),
                result_json: report.result_json.clone(),
                report_html: report.report_html.clone(),
            }
            .insert(conn)?;
            Ok::<_, ServiceError>(number)
        })?;
        tracing::info!(trial = %trial_id, number, version = report.version, scenario = %report.scenario, "simulation report stored");
        Ok(number)
    }

    /// The stored reports of a trial (newest first) and the version awaiting approval.
    pub fn simulation_shelf(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<SimulationShelf, ServiceError> {
        actor.require(Permission::ReadSimulations)?;
        let mut conn = self.conn()?;
        let trial = TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        let reports: Vec<SimulationReportInfo> = SimulationListing::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(SimulationReportInfo::from)
            .collect();
        let pending = pending_version(&mut conn, &trial)?.map(|row| PendingVersion {
            simulated: reports
                .iter()
                .any(|r| r.version == row.version && r.protocol_hash == row.hash),
            version: row.version,
            hash: row.hash,
        });
        Ok(SimulationShelf { reports, pending })
    }

    /// Stored report `number` of a trial, with its page.
    pub fn simulation_report(
        &self,
        actor: &Actor,
        trial_id: &str,
        number: i64,
    ) -> Result<SimulationReport, ServiceError> {
        actor.require(Permission::ReadSimulations)?;
        let mut conn = self.conn()?;
        let row = SimulationReportRow::find(&mut conn, trial_id, number)?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "trial {trial_id} has no simulation report {number}"
            ))
        })?;
        Ok(SimulationReport {
            report_html: row.report_html.clone(),
            result_json: row.result_json.clone(),
            info: SimulationReportInfo {
                trial_id: row.trial_id,
                number: row.number,
                version: row.version,
                protocol_hash: row.protocol_hash,
                scenario: row.scenario,
                seed: row.seed,
                reps: row.reps,
                ran_by: row.ran_by,
                ran_at: row.ran_at,
                summary: row.summary,
            },
        })
    }

    /// The protocol version to simulate (statisticians): `version`, or the current one when
    /// `None`; a version awaiting approval may be simulated. Returns it parsed and its number.
    pub fn protocol_to_simulate(
        &self,
        actor: &Actor,
        trial_id: &str,
        version: Option<i32>,
    ) -> Result<(LoadedProtocol, i32), ServiceError> {
        actor.require(Permission::WriteProtocols)?;
        let mut conn = self.conn()?;
        let trial = TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        let number = version.unwrap_or(trial.current_version);
        let row = ProtocolVersionRow::find(&mut conn, trial_id, number)?.ok_or_else(|| {
            ServiceError::Invalid {
                field: "version",
                problem: format!(
                    "trial {trial_id} has no protocol version {number} (its versions are 1 to {})",
                    pending_version(&mut conn, &trial)
                        .ok()
                        .flatten()
                        .map_or(trial.current_version, |p| p.version)
                ),
            }
        })?;
        let origin = format!("trial {trial_id} version {number}");
        Ok((LoadedProtocol::from_toml(&row.source, &origin)?, number))
    }

    /// Refuses the approval of `version` of a trial that has started (an amendment) until a
    /// stored report simulated exactly that version (module docs), naming the version to
    /// simulate and where.
    pub(crate) fn require_simulated(
        conn: &mut DbConn,
        status: &TrialStatus,
        version: &ProtocolVersionRow,
        protocol: &Protocol,
    ) -> Result<(), ServiceError> {
        match status {
            TrialStatus::NotStarted => return Ok(()),
            TrialStatus::Running | TrialStatus::Stopped { .. } => {}
        }
        let simulated = SimulationListing::count_of_version(
            conn,
            &version.trial_id,
            version.version,
            &version.hash,
        )?;
        if simulated > 0 {
            return Ok(());
        }
        if protocol.scenarios.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "protocol version {v} of trial {t} has not been simulated, and it cannot be: it \
                 has no [[scenario]] tables. An amendment is approved only after a stored \
                 simulation report of that exact version; a trial whose protocol has no \
                 scenario cannot be amended",
                v = version.version,
                t = version.trial_id
            )));
        }
        Err(ServiceError::Conflict(format!(
            "protocol version {v} of trial {t} has not been simulated: an amendment is approved \
             only after a stored simulation report of that exact version. Simulate version {v} \
             on /trials/{t}/simulate?version={v}, then sign again",
            v = version.version,
            t = version.trial_id
        )))
    }
}
