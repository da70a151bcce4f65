//! Exports of one trial (ODM, JSON Lines, CSV, the regulatory package) for the command line
//! and the web alike: who may export what, gathering the chains, checkpoints, protocol versions
//! and users, signing export checkpoints, and recording every export on the system chain.
//!
//! An export reads without a write lock (records, checkpoints and protocol versions are
//! append-only), verifies both chains and their checkpoints (every head is covered: each
//! command signed its own) and replays the trial before it signs anything, renders the file
//! (`crate::export`), and then, in one short transaction under the system chain's lock, appends
//! an `export` record (trial, format, unblinded, the heads exported and the file's SHA-256) to
//! the system chain and signs an export checkpoint of that record. A later `audit verify`
//! checks that the heads an `export` record names are still in the trial's chain.

use std::collections::BTreeSet;

use tracing::instrument;

use super::trial::chain_of;
use super::verify::checkpoint_from_row;
use super::witness::witness_mail;
use super::Permission;
use super::{record_from_row, Actor, Service, ServiceError};
use crate::audit::{
    signatures_of, verify_chain, verify_checkpoint_sequence, verify_checkpoints, Attribution,
    AuditError, AuditRecord, ChainHead, ChainId, Checkpoint, Purpose, SystemEvent,
};
use crate::export::{self, ExportFormat, ProtocolText, SimulationText, TrialExport, UserInfo};
use crate::store::{
    AuditRow, CheckpointRow, DbConn, OutboxRow, ProtocolVersionRow, SimulationReportRow, TrialRow,
    UserRow, WriteLock,
};

/// Who asks for an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exporter {
    /// A logged-in user in one of their roles: the roles that read the audit trail (admin,
    /// statistician, DMC, regulator) may export; only statisticians and the DMC unblinded; roles
    /// that do not see results may export a trial once it has stopped.
    User(Actor),
    /// The server's command line (`bayestrial export`). It runs with the server's own access to
    /// the database and the key file, so it is not a logged-in user and may export anything,
    /// unblinded too; its exports are recorded as actor `command-line`, role `server`, with the
    /// operating-system user (`$USER`) in the record's payload.
    CommandLine,
}

/// An export, ready to download or write.
#[derive(Debug, Clone)]
pub struct ExportFile {
    /// The suggested file name.
    pub filename: String,
    /// Its media type.
    pub content_type: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the bytes (as recorded on the system chain).
    pub sha256: String,
    /// The seq of the `export` record on the system chain.
    pub system_seq: u64,
}

fn records(conn: &mut DbConn, chain: &str) -> Result<Vec<AuditRecord>, ServiceError> {
    AuditRow::after(conn, chain, 0)?
        .into_iter()
        .map(record_from_row)
        .collect()
}

fn checkpoints(conn: &mut DbConn, chain: &str, head: u64) -> Result<Vec<Checkpoint>, ServiceError> {
    let mut out = Vec::new();
    for row in CheckpointRow::of_chain(conn, chain)? {
        let checkpoint = checkpoint_from_row(&row).map_err(|problem| {
            ServiceError::Integrity(format!("{chain} checkpoint at seq {}: {problem}", row.seq))
        })?;
        if checkpoint.seq <= head {
            out.push(checkpoint);
        }
    }
    Ok(out)
}

fn head_of(records: &[AuditRecord]) -> Option<ChainHead> {
    records.last().map(|r| ChainHead {
        chain: r.chain.clone(),
        seq: r.seq,
        hash: r.hash,
    })
}

/// Replays the exported trial chain through the engine (the protocol version it started on
/// and the trial's seed) before an export signs it: the server must not sign a chain whose decisions the
/// engine does not derive, even when every hash is consistent.
fn replay_before_signing(
    conn: &mut DbConn,
    trial: &TrialRow,
    records: &[AuditRecord],
) -> Result<(), ServiceError> {
    let refuse = |seq: u64, problem: String| {
        ServiceError::Integrity(format!(
            "refusing to export: trial:{} does not replay at seq {seq}: {problem} (run \
             bayestrial replay)",
            trial.id
        ))
    };
    let seed = crate::engine::TrialSeed::from_hex(&trial.seed_hex)
        .map_err(|e| refuse(0, format!("the trial's seed does not read: {e}")))?;
    let events = records
        .iter()
        .map(|r| r.to_event().map_err(|e| refuse(r.seq, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let version = crate::service::trial::base_version(
        conn,
        &trial.id,
        trial.current_version,
        events.first(),
    )?;
    let loaded = crate::protocol::LoadedProtocol::from_toml(
        &version.source,
        &format!("trial {} version {}", trial.id, version.version),
    )?;
    crate::engine::replay(&loaded.protocol, seed, &events)
        .map(|_| ())
        .map_err(|mismatch| refuse(mismatch.seq, mismatch.problem))
}

impl Service {
    /// Why `actor` cannot export trial `trial_id` now (`None`: they can): a trial without audit
    /// records (not started), or a running trial for a role that does not see results (its
    /// export holds unblinded records). The one rule of [`Service::export`] and the export
    /// form's choices.
    pub(super) fn export_refusal(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<Option<String>, ServiceError> {
        if AuditRow::last_seq(conn, &chain_of(trial_id)?.to_string())? == 0 {
            return Ok(Some(format!(
                "trial {trial_id} has no audit records yet: start it before exporting"
            )));
        }
        let sight = self.snapshot(conn, trial_id)?.sight(actor);
        Ok(
            (!sight.reveals(crate::engine::Disclosure::Comparative)).then(|| {
                format!(
                    "trial {trial_id} is still running: its export holds unblinded records, and \
                 the {} role may export it once the trial has stopped",
                    actor.role
                )
            }),
        )
    }

    /// Verifies a chain and its checkpoints before an export signs its head: the server must
    /// not put its signature on a chain that was tampered with.
    fn check_before_signing(
        &self,
        records: &[AuditRecord],
        checkpoints: &[Checkpoint],
    ) -> Result<(), ServiceError> {
        let refuse = |chain: String, seq: u64, problem: String| {
            ServiceError::Integrity(format!(
                "refusing to export: {chain} does not verify at seq {seq}: {problem} (run \
                 bayestrial audit verify)"
            ))
        };
        verify_chain(records)
            .map_err(|b| refuse(b.chain.to_string(), b.seq, b.problem.to_string()))?;
        verify_checkpoints(records, checkpoints, &self.public_key())
            .map_err(|b| refuse(b.chain.to_string(), b.seq, b.problem.to_string()))?;
        if let Some(first) = records.first() {
            verify_checkpoint_sequence(&first.chain, records, checkpoints)
                .map_err(|b| refuse(b.chain.to_string(), b.seq, b.problem.to_string()))?;
        }
        Ok(())
    }

    /// Exports trial `trial_id` in `format` for `who` (see [`Exporter`] for who may export
    /// what). The export is recorded on the system chain and covered by signed checkpoints.
    #[instrument(skip_all, fields(trial = %trial_id, format = %format, unblinded))]
    pub fn export(
        &self,
        who: &Exporter,
        trial_id: &str,
        format: ExportFormat,
        unblinded: bool,
    ) -> Result<ExportFile, ServiceError> {
        let chain = chain_of(trial_id)?;
        let mut conn = self.conn()?;
        let (by, os_user) = match who {
            Exporter::User(actor) => {
                actor.require(Permission::ReadAudit)?;
                if unblinded && !actor.may(Permission::SeeResults) {
                    return Err(ServiceError::Forbidden(format!(
                        "the {} role may not make unblinded exports (the seed and the allocation \
                         probabilities): statisticians and the DMC may",
                        actor.role
                    )));
                }
                if TrialRow::find(&mut conn, trial_id)?.is_none() {
                    return Err(ServiceError::NotFound(format!("no trial {trial_id}")));
                }
                if let Some(refusal) = self.export_refusal(&mut conn, actor, trial_id)? {
                    return Err(ServiceError::Conflict(refusal));
                }
                (self.attribution(actor, None), None)
            }
            Exporter::CommandLine => (
                Attribution {
                    actor: "command-line".to_owned(),
                    role: "server".to_owned(),
                    recorded_at: self.clock.now(),
                    reason: None,
                },
                std::env::var("USER").ok().filter(|u| !u.trim().is_empty()),
            ),
        };
        let trial = TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;

        // Read: both chains and their checkpoints, verified before anything is signed.
        let trial_records = records(&mut conn, &chain.to_string())?;
        let trial_head = head_of(&trial_records).ok_or_else(|| {
            ServiceError::Conflict(format!(
                "trial {trial_id} has no audit records yet: start it before exporting"
            ))
        })?;
        let trial_checkpoints = checkpoints(&mut conn, &chain.to_string(), trial_head.seq)?;
        self.check_before_signing(&trial_records, &trial_checkpoints)?;
        replay_before_signing(&mut conn, &trial, &trial_records)?;
        let system = ChainId::system().to_string();
        let system_records = records(&mut conn, &system)?;
        let system_head = head_of(&system_records);
        let system_checkpoints = checkpoints(
            &mut conn,
            &system,
            system_head.as_ref().map_or(0, |h| h.seq),
        )?;
        self.check_before_signing(&system_records, &system_checkpoints)?;

        let protocols: Vec<ProtocolText> = ProtocolVersionRow::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(|v| ProtocolText {
                version: u32::try_from(v.version).unwrap_or(0),
                hash: v.hash,
                source: v.source,
                note: v.note,
                created_by: v.created_by,
                created_at: v.created_at,
            })
            .collect();
        let simulations: Vec<SimulationText> = SimulationReportRow::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(|r| SimulationText {
                number: r.number,
                version: r.version,
                protocol_hash: r.protocol_hash,
                scenario: r.scenario,
                seed: r.seed,
                reps: r.reps,
                ran_by: r.ran_by,
                ran_at: r.ran_at,
                summary: r.summary,
                result_json: r.result_json,
                report_html: r.report_html,
            })
            .collect();
        let mut names: BTreeSet<String> = trial_records.iter().map(|r| r.actor.clone()).collect();
        for (_, signature) in signatures_of(&system_records, trial_id).map_err(AuditError::from)? {
            names.insert(signature.username);
        }
        let mut users = Vec::new();
        for name in names {
            if let Some(row) = UserRow::find(&mut conn, &name)? {
                users.push(UserInfo {
                    roles: UserRow::roles(&mut conn, &name)?,
                    username: row.username,
                    printed_name: row.printed_name,
                    email: row.email,
                });
            }
        }
        let trial_signed = trial_checkpoints
            .iter()
            .rev()
            .find(|c| c.seq == trial_head.seq)
            .cloned();
        let mut all_checkpoints = trial_checkpoints;
        all_checkpoints.extend(system_checkpoints);
        let data = TrialExport {
            trial_id: trial_id.to_owned(),
            title: trial.title.clone(),
            exported_at: by.recorded_at.clone(),
            exported_by: by.actor.clone(),
            exporter_role: by.role.clone(),
            unblinded,
            seed_hex: unblinded.then(|| trial.seed_hex.clone()),
            public_key: self.public_key(),
            protocols,
            trial_records,
            system_records,
            checkpoints: all_checkpoints,
            users,
            simulations,
        };
        let bytes = export::render(&data, format, &self.key)
            .map_err(|e| ServiceError::Integrity(format!("export of trial {trial_id}: {e}")))?;
        let sha256 = export::sha256_hex(&bytes);
        let filename = format.file_name(trial_id, unblinded);

        // Record the export, sign the system chain's new head as an export checkpoint, and
        // witness it with the trial head's checkpoint the file holds.
        let (system_seq, witnessed) =
            self.write_transaction(&mut conn, WriteLock::System, |conn| {
                let event = SystemEvent::Export {
                    trial: trial_id.to_owned(),
                    format: format.as_str().to_owned(),
                    unblinded,
                    file: filename.clone(),
                    sha256: sha256.parse()?,
                    bytes: bytes.len() as u64,
                    head_seq: trial_head.seq,
                    head_hash: trial_head.hash,
                    system_head_seq: system_head.as_ref().map(|h| h.seq),
                    os_user: os_user.clone(),
                };
                let (record, over) =
                    self.append_system_signed(conn, &event, &by, Purpose::Export)?;
                let mut witnessed: Vec<Checkpoint> = trial_signed.iter().cloned().collect();
                witnessed.push(over);
                for checkpoint in &witnessed {
                    let mail = witness_mail(conn, checkpoint)?;
                    OutboxRow::queue(conn, &mail)?;
                }
                Ok::<_, ServiceError>((record.seq, witnessed))
            })?;
        self.log_witnessed(&witnessed);
        tracing::info!(trial = %trial_id, format = %format, unblinded, bytes = bytes.len(), %sha256, "exported");
        Ok(ExportFile {
            filename,
            content_type: format.content_type(),
            bytes,
            sha256,
            system_seq,
        })
    }
}
