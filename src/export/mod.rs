//! Regulator exports of one trial and their offline checks: CDISC ODM 1.3.2 XML with audit
//! records, JSON Lines of the audit chains, CSV tables, and the regulatory package (all of
//! them in one zip with a signed SHA-256 manifest); then, without a database, verification of
//! an export's chains, checkpoints and manifest, and a replay of its trial through the engine.
//!
//! The service gathers what an export holds into a [`TrialExport`] (the trial's and the system
//! chain's audit records, the checkpoints, the protocol versions, the users) and [`render`]s it;
//! everything here is a pure function of that value (and of the server key for the package's
//! manifest signature), so the same bytes come out of the same data. Every table and every ODM
//! value is derived from the audit records themselves, not from the read projections, so that
//! each value carries the hash of the event that recorded it.
//!
//! This module must not touch a database, a file, the clock or the network, and must not import
//! `store`, `service` or `web`: `bayestrial audit verify --export` and `bayestrial replay FILE`
//! run it on a file alone. It imports `audit`, `engine` and `protocol`.

mod archive;
mod csv_files;
mod facts;
mod jsonl;
mod odm;
mod odm_items;
mod offline;
mod package;
mod problem;
mod summary;

use std::fmt;
use std::str::FromStr;

use crate::audit::{AuditError, AuditRecord, Checkpoint, PublicKey, ServerKey, UtcTimestamp};

pub use jsonl::{
    is_sealed, ExportLine, Header, ProtocolLine, RecordLine, SeedLine, FORMAT_VERSION,
    READABLE_VERSIONS,
};
pub use offline::{
    export_record_hashes, replay_export, verify_export, verify_export_against, ChainSummary,
    EarlierExport, OfflineProblem, OfflineReport, ReadError, ReplayOutcome,
};
pub use package::{Manifest, ManifestFile, ManifestSimulation, MANIFEST, MANIFEST_SIGNATURE};

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CDISC ODM 1.3.2 XML, `FileType="Transactional"`.
    Odm,
    /// JSON Lines: the audit chains, checkpoints, protocol versions (and the seed, unblinded).
    Jsonl,
    /// CSV tables, in one zip.
    Csv,
    /// The regulatory package: every format, the protocol versions and a summary, in one zip
    /// with a signed manifest.
    Package,
}

impl ExportFormat {
    /// Every format.
    pub const ALL: [ExportFormat; 4] = [Self::Odm, Self::Jsonl, Self::Csv, Self::Package];

    /// The format's name: `odm`, `jsonl`, `csv` or `package`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Odm => "odm",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Package => "package",
        }
    }

    /// The file name of `trial`'s export in this format: `<trial>-odm.xml`, `<trial>-audit.jsonl`,
    /// `<trial>-csv.zip` or `<trial>-package.zip`, with `-unblinded` after the trial id when the
    /// export is unblinded (`<trial>-unblinded-odm.xml`), so that a file's name says whether it
    /// holds the seed and the allocation probabilities. The trial id is kept to ASCII letters,
    /// digits, `-`, `_` and `.` (anything else becomes `_`); a blinded export's name never
    /// contains `unblinded`, not even when the trial id does (it is written `un_blinded`).
    pub fn file_name(self, trial: &str, unblinded: bool) -> String {
        let mut stem: String = trial
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if unblinded {
            stem.push_str("-unblinded");
        } else {
            // The stem is ASCII, so its lower-case copy has the same byte offsets.
            while let Some(at) = stem.to_ascii_lowercase().find("unblinded") {
                stem.insert(at + "un".len(), '_');
            }
        }
        match self {
            Self::Odm => format!("{stem}-odm.xml"),
            Self::Jsonl => format!("{stem}-audit.jsonl"),
            Self::Csv => format!("{stem}-csv.zip"),
            Self::Package => format!("{stem}-package.zip"),
        }
    }

    /// The media type of the file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Odm => "application/xml; charset=utf-8",
            Self::Jsonl => "application/jsonl; charset=utf-8",
            Self::Csv | Self::Package => "application/zip",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "odm" | "xml" => Ok(Self::Odm),
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "package" | "zip" => Ok(Self::Package),
            other => Err(format!(
                "{other:?} is not an export format: odm, jsonl, csv or package"
            )),
        }
    }
}

/// One protocol version: its exact text and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolText {
    /// 1 for the protocol as created; each amendment adds one.
    pub version: u32,
    /// Hex SHA-256 of the protocol's canonical form.
    pub hash: String,
    /// The TOML text.
    pub source: String,
    /// What changed.
    pub note: String,
    /// Who made this version.
    pub created_by: String,
    /// When (UTC RFC 3339).
    pub created_at: String,
}

/// A stored simulation report of one protocol version, as the package carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationText {
    /// Its number within the trial.
    pub number: i64,
    /// The protocol version simulated.
    pub version: i32,
    /// That version's hash (hex).
    pub protocol_hash: String,
    /// The scenario.
    pub scenario: String,
    /// The seed (decimal).
    pub seed: String,
    /// Replicates.
    pub reps: i64,
    /// Who ran it.
    pub ran_by: String,
    /// When it was stored (UTC).
    pub ran_at: String,
    /// The headline metrics.
    pub summary: String,
    /// The simulator's result (JSON).
    pub result_json: String,
    /// The report page (HTML).
    pub report_html: String,
}

/// A user named in the export (as actor or signer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Login name (the `actor` of their records).
    pub username: String,
    /// Printed name (blank for actors that are not accounts, such as `system`).
    pub printed_name: String,
    /// E-mail address (blank when unknown).
    pub email: String,
    /// Their roles.
    pub roles: Vec<String>,
}

/// Everything one export of one trial holds, as gathered by the service.
#[derive(Debug, Clone)]
pub struct TrialExport {
    /// The trial.
    pub trial_id: String,
    /// Its title.
    pub title: String,
    /// When the export was made.
    pub exported_at: UtcTimestamp,
    /// Who made it (user name, or `command-line`).
    pub exported_by: String,
    /// In which role.
    pub exporter_role: String,
    /// Whether the export is unblinded: it then holds the seed and the allocation probabilities.
    pub unblinded: bool,
    /// The trial's secret seed (hex), present exactly when `unblinded`.
    pub seed_hex: Option<String>,
    /// The server key's public half, which verifies the checkpoints.
    pub public_key: PublicKey,
    /// Every protocol version, oldest first.
    pub protocols: Vec<ProtocolText>,
    /// The trial's chain from its first record, in order (always complete, also for a blinded
    /// export: the writers decide what to leave out).
    pub trial_records: Vec<AuditRecord>,
    /// The system chain from its first record, in order.
    pub system_records: Vec<AuditRecord>,
    /// The signed checkpoints of both chains up to their heads.
    pub checkpoints: Vec<Checkpoint>,
    /// The users named as actors or signers.
    pub users: Vec<UserInfo>,
    /// The trial's stored simulation reports, oldest first (the package carries them).
    pub simulations: Vec<SimulationText>,
}

/// Why an export cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A record's payload is not what its kind says.
    #[error("record {seq} of {chain}: {problem}")]
    Record {
        /// The chain.
        chain: String,
        /// The record.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// A trial record's payload is not the engine event its kind names, so whether a blinded
    /// export must seal it cannot be told (the export is refused rather than guessed).
    #[error("record {seq} of {chain}: cannot tell whether to seal it: {source}")]
    Unclassifiable {
        /// The chain.
        chain: String,
        /// The record.
        seq: u64,
        /// Why the payload does not read as an engine event.
        #[source]
        source: AuditError,
    },
    /// A protocol version does not parse.
    #[error("protocol version {version}: {problem}")]
    Protocol {
        /// The version.
        version: u32,
        /// What is wrong.
        problem: String,
    },
    /// The export has nothing to export.
    #[error("{0}")]
    Empty(String),
    /// Writing a format failed (cannot happen for in-memory output short of a bug).
    #[error("writing the {what}: {problem}")]
    Write {
        /// Which file.
        what: &'static str,
        /// What failed.
        problem: String,
    },
    /// The audit layer refused a value.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl ExportError {
    fn write(what: &'static str, error: impl fmt::Display) -> Self {
        Self::Write {
            what,
            problem: error.to_string(),
        }
    }
}

/// Writes `export` in `format`. The package's manifest is signed with `key`.
pub fn render(
    export: &TrialExport,
    format: ExportFormat,
    key: &ServerKey,
) -> Result<Vec<u8>, ExportError> {
    match format {
        ExportFormat::Jsonl => jsonl::write(export).map(String::into_bytes),
        ExportFormat::Odm => odm::write(export),
        ExportFormat::Csv => csv_files::write_zip(export),
        ExportFormat::Package => package::write(export, key),
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_name_their_files() {
        for format in ExportFormat::ALL {
            assert_eq!(format.as_str().parse::<ExportFormat>(), Ok(format));
        }
        assert_eq!("XML".parse::<ExportFormat>(), Ok(ExportFormat::Odm));
        assert!("pdf".parse::<ExportFormat>().is_err());
        assert_eq!(
            ExportFormat::Package.file_name("T 1/\"x\"", false),
            "T_1__x_-package.zip"
        );
        assert_eq!(
            ExportFormat::Odm.file_name("PLAT-1", false),
            "PLAT-1-odm.xml"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_unblinded_exports_say_unblinded_in_their_file_names() {
        let names = |trial: &str, unblinded: bool| -> Vec<String> {
            ExportFormat::ALL
                .iter()
                .map(|f| f.file_name(trial, unblinded))
                .collect()
        };
        assert_eq!(
            names("PLAT-1", true),
            [
                "PLAT-1-unblinded-odm.xml",
                "PLAT-1-unblinded-audit.jsonl",
                "PLAT-1-unblinded-csv.zip",
                "PLAT-1-unblinded-package.zip",
            ]
        );
        assert_eq!(
            names("PLAT-1", false),
            [
                "PLAT-1-odm.xml",
                "PLAT-1-audit.jsonl",
                "PLAT-1-csv.zip",
                "PLAT-1-package.zip",
            ]
        );
        for trial in [
            "UNBLINDED",
            "unblinded-unblinded",
            "xUnBlindedUnblinded",
            "ü unblinded",
        ] {
            for name in names(trial, false) {
                assert!(
                    !name.to_lowercase().contains("unblinded"),
                    "{trial}: {name}"
                );
            }
            for name in names(trial, true) {
                assert!(name.contains("-unblinded-"), "{trial}: {name}");
            }
        }
        assert_eq!(
            ExportFormat::Jsonl.file_name("Unblinded-1", false),
            "Un_blinded-1-audit.jsonl"
        );
    }
}
