//! The JSON Lines export: one JSON object per line, each with a `"type"`:
//!
//! 1. `header`: the trial, who exported it and when, whether it is unblinded, the public key,
//!    and the head (seq and hash) of the trial's chain and of the system chain;
//! 2. `protocol`: every protocol version with its exact TOML text and hash;
//! 3. `record`: every record of the trial's chain, then of the system chain, in order, with
//!    `chain, seq, kind, actor, role, recorded_at, reason, prev_hash, hash`, `salt` (records of
//!    a salted trial chain, record format 2: [`crate::audit::Salt`]) and `payload` (the
//!    payload's canonical JSON text parsed as a JSON value; canonical JSON parsed and encoded
//!    again gives the same text, so the hash can be recomputed);
//! 4. `checkpoint`: every signed checkpoint of both chains up to their heads;
//! 5. `seed` (unblinded exports only): the trial's secret seed, whose SHA-256 the trial's first
//!    record commits to, and from which every salt is derived.
//!
//! In a blinded export a record of the trial's chain whose event reveals an assignment or a
//! comparative result ([`crate::engine::Disclosure::is_sealed`], decided by the engine for
//! every event) is **sealed**: it keeps `chain, seq, kind, actor, role, recorded_at, reason,
//! prev_hash, hash`, has `"sealed": true`, and has neither `payload` nor `salt`: nothing of its
//! payload is disclosed, and without the salt its hash cannot be tested against candidate
//! payloads. Its own hash cannot be recomputed, but the next record's hash covers it (as
//! `prev_hash`), so the chain and the signed checkpoints still pin it in place. Every other
//! record carries its payload and its salt, so its hash is recomputed in full. An unblinded
//! export seals nothing and holds every salt and the seed, so a verifier checks every hash and
//! that each salt is the one the seed derives (METHODS.md §10).
//!
//! Format version 1 (before salts) wrote a sealed record with an optional `disclosed` value
//! and sealed only records with allocation probabilities; such files are still read and
//! verified (their records have no salts; `disclosed` is ignored).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ExportError, TrialExport};
use crate::audit::{
    AuditRecord, ChainHead, ChainId, Checkpoint, Hash, PublicKey, Salt, UtcTimestamp,
};

/// The version of the JSON Lines layout written (the header's `format_version`): 2 since record
/// salts (module docs).
pub const FORMAT_VERSION: u32 = 2;

/// Every layout version the offline verifier reads: 1 (before salts) and 2.
pub const READABLE_VERSIONS: [u32; 2] = [1, FORMAT_VERSION];

/// The first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// `bayestrial-export`.
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The trial.
    pub trial: String,
    /// Its title.
    pub title: String,
    /// When the export was made.
    pub exported_at: UtcTimestamp,
    /// Who made it.
    pub exported_by: String,
    /// In which role.
    pub exporter_role: String,
    /// Whether the seed and the allocation probabilities are in the file.
    pub unblinded: bool,
    /// The key that verifies the checkpoints.
    pub public_key: PublicKey,
    /// The last record of the trial's chain in the file.
    pub trial_head: ChainHead,
    /// The last record of the system chain in the file.
    pub system_head: Option<ChainHead>,
    /// Records sealed in this file (0 when unblinded).
    pub sealed_records: u64,
    /// The program that wrote it.
    pub source_system: String,
}

/// A protocol version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolLine {
    /// Version number.
    pub version: u32,
    /// Hex SHA-256 of the canonical form.
    pub hash: String,
    /// What changed.
    pub note: String,
    /// Who made this version.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// The exact TOML text.
    pub source: String,
}

/// An audit record (see the module docs for sealed records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordLine {
    /// The chain.
    pub chain: ChainId,
    /// Position in the chain.
    pub seq: u64,
    /// Kind.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// When.
    pub recorded_at: UtcTimestamp,
    /// Why.
    pub reason: Option<String>,
    /// The previous record's hash.
    pub prev_hash: Hash,
    /// This record's hash.
    pub hash: Hash,
    /// The record's salt (record format 2; absent when sealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<Salt>,
    /// The payload (absent when sealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Whether the payload is sealed (blinded exports).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
}

impl RecordLine {
    /// The audit record, when the payload is present: the payload's canonical JSON text.
    pub fn to_record(&self) -> Result<Option<AuditRecord>, crate::audit::AuditError> {
        let Some(payload) = &self.payload else {
            return Ok(None);
        };
        Ok(Some(AuditRecord {
            chain: self.chain.clone(),
            seq: self.seq,
            kind: self.kind.clone(),
            payload: crate::audit::canonical_json(payload)?,
            actor: self.actor.clone(),
            role: self.role.clone(),
            recorded_at: self.recorded_at.clone(),
            reason: self.reason.clone(),
            salt: self.salt,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }))
    }
}

/// The revealed seed (unblinded exports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedLine {
    /// The trial.
    pub trial: String,
    /// The 32-byte seed, hex.
    pub seed: String,
    /// Its SHA-256, hex (as committed in the trial's first record).
    pub commitment: String,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    /// The first line.
    Header(Header),
    /// A protocol version.
    Protocol(ProtocolLine),
    /// An audit record.
    Record(RecordLine),
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
    /// The seed.
    Seed(SeedLine),
}

/// Whether a blinded export seals `record` (module docs): a record of a trial chain whose
/// engine event reveals an assignment or a comparative result, as the engine classifies it
/// (the engine's `disclosure()` of the event). System records are never sealed. Fails, naming
/// the seq, when a trial record's payload is not the engine event its kind names.
pub fn is_sealed(record: &AuditRecord) -> Result<bool, ExportError> {
    if record.chain.is_system() {
        return Ok(false);
    }
    let event = record
        .to_event()
        .map_err(|source| ExportError::Unclassifiable {
            chain: record.chain.to_string(),
            seq: record.seq,
            source,
        })?;
    Ok(event.body.disclosure().is_sealed())
}

fn record_line(record: &AuditRecord, unblinded: bool) -> Result<RecordLine, ExportError> {
    let sealed = !unblinded && is_sealed(record)?;
    let payload = if sealed {
        None
    } else {
        Some(
            serde_json::from_str(&record.payload).map_err(|e| ExportError::Record {
                chain: record.chain.to_string(),
                seq: record.seq,
                problem: format!("the payload is not JSON: {e}"),
            })?,
        )
    };
    Ok(RecordLine {
        chain: record.chain.clone(),
        seq: record.seq,
        kind: record.kind.clone(),
        actor: record.actor.clone(),
        role: record.role.clone(),
        recorded_at: record.recorded_at.clone(),
        reason: record.reason.clone(),
        prev_hash: record.prev_hash,
        hash: record.hash,
        salt: if sealed { None } else { record.salt },
        payload,
        sealed,
    })
}

fn head(records: &[AuditRecord]) -> Option<ChainHead> {
    records.last().map(|r| ChainHead {
        chain: r.chain.clone(),
        seq: r.seq,
        hash: r.hash,
    })
}

fn push_line(out: &mut String, line: &ExportLine) -> Result<(), ExportError> {
    let text = serde_json::to_string(line).map_err(|e| ExportError::write("JSON Lines", e))?;
    out.push_str(&text);
    out.push('\n');
    Ok(())
}

/// Writes the JSON Lines export (module docs).
pub(crate) fn write(export: &TrialExport) -> Result<String, ExportError> {
    let trial_head = head(&export.trial_records).ok_or_else(|| {
        ExportError::Empty(format!(
            "trial {} has no audit records yet: start it before exporting",
            export.trial_id
        ))
    })?;
    let lines: Vec<RecordLine> = export
        .trial_records
        .iter()
        .chain(&export.system_records)
        .map(|r| record_line(r, export.unblinded))
        .collect::<Result<_, _>>()?;
    let mut out = String::with_capacity(lines.len() * 400);
    push_line(
        &mut out,
        &ExportLine::Header(Header {
            format: "bayestrial-export".to_owned(),
            format_version: FORMAT_VERSION,
            trial: export.trial_id.clone(),
            title: export.title.clone(),
            exported_at: export.exported_at.clone(),
            exported_by: export.exported_by.clone(),
            exporter_role: export.exporter_role.clone(),
            unblinded: export.unblinded,
            public_key: export.public_key,
            trial_head,
            system_head: head(&export.system_records),
            sealed_records: lines.iter().filter(|l| l.sealed).count() as u64,
            source_system: format!("bayestrial {}", env!("CARGO_PKG_VERSION")),
        }),
    )?;
    for p in &export.protocols {
        push_line(
            &mut out,
            &ExportLine::Protocol(ProtocolLine {
                version: p.version,
                hash: p.hash.clone(),
                note: p.note.clone(),
                created_by: p.created_by.clone(),
                created_at: p.created_at.clone(),
                source: p.source.clone(),
            }),
        )?;
    }
    for line in lines {
        push_line(&mut out, &ExportLine::Record(line))?;
    }
    for checkpoint in &export.checkpoints {
        push_line(&mut out, &ExportLine::Checkpoint(checkpoint.clone()))?;
    }
    if let (true, Some(seed)) = (export.unblinded, &export.seed_hex) {
        let commitment = crate::engine::TrialSeed::from_hex(seed)
            .map(|s| s.commitment())
            .map_err(|e| ExportError::write("seed line", e))?;
        push_line(
            &mut out,
            &ExportLine::Seed(SeedLine {
                trial: export.trial_id.clone(),
                seed: seed.clone(),
                commitment,
            }),
        )?;
    }
    Ok(out)
}
