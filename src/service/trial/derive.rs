//! The projection tables re-derived from the chains, for `audit verify`: the pages show the
//! `trials`, `participants`, `outcomes`, `looks`, `arm_status` and `trial_status` rows, which an
//! attacker who can write the database could edit without touching a record. Here every trial
//! chain is folded through the engine again, one record at a time, and mapped by the same
//! [`project`] the commands use; the `trials` row is derived from the trial's `trial_created`
//! record on the system chain, the protocol version it started on (a draft: the newest the
//! system chain records) and its amendments. Every stored row that
//! differs from the derived one, and every row missing or extra, is reported.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::run::project;
use super::*;
use crate::audit::SystemEvent;
use crate::store::{arm_statuses, trial_status};

/// One projection row that is not what the chain says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionDifference {
    /// The trial.
    pub trial: String,
    /// The table.
    pub table: &'static str,
    /// The row's key, e.g. `participant 3` or `seq 17`.
    pub row: String,
    /// What differs: `field: stored X, chain says Y`, or that the row is missing or extra.
    pub problem: String,
}

impl fmt::Display for ProjectionDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trial {} table {} {}: {}",
            self.trial, self.table, self.row, self.problem
        )
    }
}

/// What the re-derivation checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProjectionReport {
    /// Trials checked.
    pub trials: usize,
    /// Rows compared (stored and derived, counted once per key).
    pub rows: usize,
    /// Every row that differs.
    pub differences: Vec<ProjectionDifference>,
}

/// The projection rows of one trial, keyed as the tables are.
#[derive(Debug, Default)]
struct Image {
    participants: BTreeMap<i32, ParticipantRow>,
    outcomes: BTreeMap<i64, OutcomeRow>,
    looks: BTreeMap<i32, LookRow>,
    arm_status: BTreeMap<String, (String, i64)>,
    trial_status: Option<(String, i64)>,
}

impl Image {
    /// Applies one command's rows as [`Projections::write`] applies them.
    fn apply(&mut self, rows: Projections) {
        for row in rows.participants {
            self.participants.insert(row.participant, row);
        }
        for row in rows.outcomes {
            self.outcomes.insert(row.seq, row);
        }
        for row in rows.looks {
            self.looks.insert(row.look, row);
        }
        for (arm, status, seq) in rows.arm_status {
            self.arm_status.insert(arm, (status, seq));
        }
        if let Some(status) = rows.trial_status {
            self.trial_status = Some(status);
        }
    }
}

/// The fields of a row, named, as text: what two rows are compared by.
trait Fields {
    fn fields(&self) -> Vec<(&'static str, String)>;
}

impl Fields for ParticipantRow {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("subject_id", self.subject_id.clone()),
            ("arm", self.arm.clone()),
            ("seq", self.seq.to_string()),
            // Bit for bit: a draw is a double and must be exactly the replayed one.
            ("draw", format!("{:?}", self.draw)),
            ("probabilities", self.probabilities.clone()),
            ("enrolled_by", self.enrolled_by.clone()),
            ("enrolled_at", self.enrolled_at.clone()),
        ]
    }
}

impl Fields for OutcomeRow {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("participant", self.participant.to_string()),
            ("value", self.value.clone()),
            ("corrects", format!("{:?}", self.corrects)),
            ("reason", format!("{:?}", self.reason)),
            ("recorded_by", self.recorded_by.clone()),
            ("recorded_at", self.recorded_at.clone()),
        ]
    }
}

impl Fields for LookRow {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("seq", self.seq.to_string()),
            ("outcomes", self.outcomes.to_string()),
            ("enrolled", self.enrolled.to_string()),
            ("analysis", self.analysis.clone()),
        ]
    }
}

impl Fields for (String, i64) {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("status", self.0.clone()),
            ("changed_at", self.1.to_string()),
        ]
    }
}

impl Fields for TrialRow {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("title", self.title.clone()),
            ("design", self.design.clone()),
            ("seed_commitment", self.seed_commitment.clone()),
            ("current_version", self.current_version.to_string()),
            ("created_by", self.created_by.clone()),
            ("created_at", self.created_at.clone()),
        ]
    }
}

/// Compares a table's stored rows with the derived ones, key by key.
fn compare<K: Ord + fmt::Display, V: Fields>(
    trial: &str,
    table: &'static str,
    key_name: &str,
    stored: BTreeMap<K, V>,
    derived: BTreeMap<K, V>,
    report: &mut ProjectionReport,
) {
    let mut stored = stored;
    let mut differ = |row: &K, problem: String| {
        report.differences.push(ProjectionDifference {
            trial: trial.to_owned(),
            table,
            row: format!("{key_name} {row}"),
            problem,
        });
    };
    let mut rows = 0;
    for (key, want) in &derived {
        rows += 1;
        match stored.remove(key) {
            None => differ(key, "missing: the chain has this row".into()),
            Some(have) => {
                for ((field, have), (_, want)) in have.fields().into_iter().zip(want.fields()) {
                    if have != want {
                        differ(
                            key,
                            format!("{field}: stored {have:?}, the chain says {want:?}"),
                        );
                    }
                }
            }
        }
    }
    for key in stored.keys() {
        rows += 1;
        differ(key, "extra: the chain has no such row".into());
    }
    report.rows += rows;
}

impl Service {
    /// Re-derives every trial's projection rows (or one trial's) from the chains and reports
    /// each stored row that differs (module docs). Chains that do not verify or replay are
    /// `audit verify`'s and `replay`'s to report; a record that does not fold is an error here.
    pub fn check_projections(&self, trial: Option<&str>) -> Result<ProjectionReport, ServiceError> {
        let mut conn = self.conn()?;
        let ids = match trial {
            Some(id) => vec![id.to_owned()],
            None => TrialRow::ids(&mut conn)?,
        };
        // Each trial's `trial_created` record, read from the system chain once.
        // and the newest version each draft was saved as.
        let mut created: BTreeMap<String, Created> = BTreeMap::new();
        let mut saved: BTreeMap<String, i32> = BTreeMap::new();
        for row in AuditRow::after(&mut conn, "system", 0)? {
            let record = super::super::record_from_row(row)?;
            match record.to_system_event() {
                Ok(SystemEvent::TrialCreated {
                    id,
                    protocol_hash,
                    seed_commitment,
                }) => {
                    created.entry(id).or_insert(Created {
                        record,
                        protocol_hash,
                        seed_commitment,
                    });
                }
                Ok(SystemEvent::ProtocolVersionAdded { trial, version, .. }) => {
                    let version = i32::try_from(version).map_err(|_| {
                        ServiceError::Integrity(format!(
                            "system record {}: trial {trial} version {version} is out of range",
                            record.seq
                        ))
                    })?;
                    let newest = saved.entry(trial).or_insert(version);
                    *newest = (*newest).max(version);
                }
                _ => {}
            }
        }
        let mut report = ProjectionReport::default();
        for id in ids {
            let stored_trial = TrialRow::find(&mut conn, &id)?
                .ok_or_else(|| ServiceError::NotFound(format!("no trial {id}")))?;
            let draft = saved.get(&id).copied().unwrap_or(1);
            let (trial_row, image) = derive(&mut conn, &id, created.get(&id), draft)?;
            compare(
                &id,
                "trials",
                "id",
                BTreeMap::from([(id.clone(), stored_trial)]),
                BTreeMap::from([(id.clone(), trial_row)]),
                &mut report,
            );
            let participants = ParticipantRow::of_trial(&mut conn, &id)?
                .into_iter()
                .map(|r| (r.participant, r))
                .collect();
            compare(
                &id,
                "participants",
                "participant",
                participants,
                image.participants,
                &mut report,
            );
            let outcomes = OutcomeRow::of_trial(&mut conn, &id)?
                .into_iter()
                .map(|r| (r.seq, r))
                .collect();
            compare(
                &id,
                "outcomes",
                "seq",
                outcomes,
                image.outcomes,
                &mut report,
            );
            let looks = LookRow::of_trial(&mut conn, &id)?
                .into_iter()
                .map(|r| (r.look, r))
                .collect();
            compare(&id, "looks", "look", looks, image.looks, &mut report);
            let arms = arm_statuses(&mut conn, &id)?
                .into_iter()
                .map(|(arm, status, seq)| (arm, (status, seq)))
                .collect();
            compare(
                &id,
                "arm_status",
                "arm",
                arms,
                image.arm_status,
                &mut report,
            );
            let status: BTreeMap<String, (String, i64)> = trial_status(&mut conn, &id)?
                .map(|s| (id.clone(), s))
                .into_iter()
                .collect();
            let derived: BTreeMap<String, (String, i64)> = image
                .trial_status
                .map(|s| (id.clone(), s))
                .into_iter()
                .collect();
            compare(&id, "trial_status", "trial", status, derived, &mut report);
            report.trials += 1;
        }
        Ok(report)
    }
}

/// A trial's `trial_created` record on the system chain and what it names.
struct Created {
    record: AuditRecord,
    protocol_hash: crate::audit::Hash,
    seed_commitment: crate::audit::Hash,
}

/// The `trials` row and the projection image of trial `id`, from its chain, the protocol
/// version it started on (before the start: `draft`, the newest version the system chain
/// records it was saved as), and the system chain's `trial_created` record.
fn derive(
    conn: &mut DbConn,
    id: &str,
    created: Option<&Created>,
    draft: i32,
) -> Result<(TrialRow, Image), ServiceError> {
    let integrity = |what: String| ServiceError::Integrity(format!("trial {id}: {what}"));
    let Created {
        record: created_record,
        protocol_hash,
        seed_commitment,
    } = created.ok_or_else(|| integrity("the system chain has no trial_created record".into()))?;
    let version = ProtocolVersionRow::find(conn, id, 1)?
        .ok_or_else(|| integrity("no protocol version 1".into()))?;
    let loaded = LoadedProtocol::from_toml(&version.source, &format!("trial {id} version 1"))?;
    if !loaded.binds(&protocol_hash.to_hex()) {
        return Err(integrity(
            "protocol version 1 is not the one its trial_created record names".into(),
        ));
    }
    let chain = chain_of(id)?.to_string();
    let rows = AuditRow::after(conn, &chain, 0)?;
    let first = match rows.first() {
        Some(row) => Some(super::super::record_from_row(row.clone())?.to_event()?),
        None => None,
    };
    // Started: the version its start names, whichever that is; a draft: the newest saved.
    let current = if first.is_some() { i32::MAX } else { draft };
    let base = base_version(conn, id, current, first.as_ref())?;
    let loaded = if base.version == 1 {
        loaded
    } else {
        LoadedProtocol::from_toml(
            &base.source,
            &format!("trial {id} version {}", base.version),
        )?
    };
    let mut state = TrialState::new(&loaded.protocol)?;
    let mut history = History::new(loaded.protocol.control().is_some());
    let mut image = Image::default();
    image.apply(Projections {
        trial_status: Some((status_text(&state), 0)),
        ..Projections::default()
    });
    let mut amendments = 0;
    for row in rows {
        let record = super::super::record_from_row(row)?;
        let event = record.to_event()?;
        let status_before = status_text(&state);
        state.apply(&event)?;
        amendments += i32::from(event.body.amends_protocol());
        let changes: Vec<(Change, &AuditRecord)> = history
            .apply(event.seq, &event)?
            .into_iter()
            .map(|change| (change, &record))
            .collect();
        image.apply(project(id, &history, &changes, &state, &status_before)?);
    }
    let trial = TrialRow {
        id: id.to_owned(),
        title: loaded.protocol.trial.title.clone(),
        design: design_text(loaded.protocol.trial.design).into(),
        seed_hex: String::new(),
        seed_commitment: seed_commitment.to_hex(),
        current_version: base.version + amendments,
        created_by: created_record.actor.clone(),
        created_at: created_record.recorded_at.as_str().to_owned(),
    };
    Ok((trial, image))
}
