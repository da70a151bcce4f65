//! The regulatory package: one zip holding every protocol version (`protocol/version-N.toml`),
//! the JSON Lines export (`audit.jsonl`), the ODM file (`odm.xml`), the CSV tables (`csv/`),
//! a human-readable summary (`summary.html`) and the server's public key (`public-key.hex`),
//! with `MANIFEST.json` listing every other file's size and SHA-256 and `MANIFEST.sig` holding
//! the server's Ed25519 signature of the manifest's exact bytes (128 hex digits and a newline;
//! signed as `bayestrial-document-v1`, a zero byte, then the manifest: see
//! [`crate::audit::ServerKey::sign_document`]).
//!
//! `audit.jsonl` is the JSON Lines export exactly as [`super::jsonl`] writes it: in a blinded
//! package its sealed records carry neither payload nor salt, in an unblinded one every record
//! carries its salt and the seed is revealed. The offline verifier checks the manifest (whose
//! `unblinded` must be the JSON Lines header's) and then `audit.jsonl` as it checks a JSON Lines
//! file (METHODS.md §10).
//!
//! The trial's stored simulation reports are in the package too: `simulation/report-N.html`
//! (the page as stored) and `simulation/report-N.json` (the simulator's result), each listed
//! with its file hashes like every file, and described in the manifest's `simulations`
//! (protocol version and hash, scenario, seed, replicates, who ran it and when), so a reader
//! sees which report justified which version.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use serde::{Deserialize, Serialize};

use super::archive::zip_files;
use super::jsonl::Header;
use super::problem::{OfflineProblem, ReadError};
use super::{csv_files, jsonl, odm, sha256_hex, summary, ExportError, TrialExport};
use crate::audit::{PublicKey, ServerKey, Signature, UtcTimestamp};

/// The manifest's file name.
pub const MANIFEST: &str = "MANIFEST.json";
/// The manifest signature's file name.
pub const MANIFEST_SIGNATURE: &str = "MANIFEST.sig";

/// The largest file a package reader unpacks (a guard against zip bombs).
const MAX_ENTRY_BYTES: u64 = 4 << 30;

/// One file listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path inside the zip.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// A simulation report in the package, as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSimulation {
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
    /// The report page's path in the package.
    pub report: String,
    /// The result's path in the package.
    pub result: String,
}

/// `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `bayestrial-package`.
    pub format: String,
    /// 1.
    pub format_version: u32,
    /// The trial.
    pub trial: String,
    /// When the package was made.
    pub created_at: UtcTimestamp,
    /// Who made it.
    pub created_by: String,
    /// Whether it is unblinded.
    pub unblinded: bool,
    /// The key whose signature `MANIFEST.sig` holds (and that signed the checkpoints).
    pub public_key: PublicKey,
    /// How the signature is made.
    pub signature: String,
    /// Every other file of the package.
    pub files: Vec<ManifestFile>,
    /// The stored simulation reports in `simulation/` (absent in packages made before they
    /// were included).
    #[serde(default)]
    pub simulations: Vec<ManifestSimulation>,
}

/// A package read back: every entry's bytes, and the JSON Lines export's.
#[derive(Debug, Clone)]
pub(crate) struct PackageContents {
    pub entries: BTreeMap<String, Vec<u8>>,
    pub jsonl: Vec<u8>,
}

/// Writes the package (module docs).
pub(crate) fn write(export: &TrialExport, key: &ServerKey) -> Result<Vec<u8>, ExportError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for p in &export.protocols {
        files.push((
            format!("protocol/version-{}.toml", p.version),
            p.source.clone().into_bytes(),
        ));
    }
    files.push(("audit.jsonl".into(), jsonl::write(export)?.into_bytes()));
    files.push(("odm.xml".into(), odm::write(export)?));
    for (name, bytes) in csv_files::write(export)? {
        files.push((format!("csv/{name}"), bytes));
    }
    let mut simulations = Vec::with_capacity(export.simulations.len());
    for report in &export.simulations {
        let page = format!("simulation/report-{}.html", report.number);
        let result = format!("simulation/report-{}.json", report.number);
        files.push((page.clone(), report.report_html.clone().into_bytes()));
        files.push((result.clone(), report.result_json.clone().into_bytes()));
        simulations.push(ManifestSimulation {
            number: report.number,
            version: report.version,
            protocol_hash: report.protocol_hash.clone(),
            scenario: report.scenario.clone(),
            seed: report.seed.clone(),
            reps: report.reps,
            ran_by: report.ran_by.clone(),
            ran_at: report.ran_at.clone(),
            report: page,
            result,
        });
    }
    files.push(("summary.html".into(), summary::write(export)?.into_bytes()));
    files.push((
        "public-key.hex".into(),
        format!("{}\n", export.public_key.to_hex()).into_bytes(),
    ));
    let manifest = Manifest {
        format: "bayestrial-package".into(),
        format_version: 1,
        trial: export.trial_id.clone(),
        created_at: export.exported_at.clone(),
        created_by: export.exported_by.clone(),
        unblinded: export.unblinded,
        public_key: export.public_key,
        signature: format!(
            "{MANIFEST_SIGNATURE}: Ed25519 (RFC 8032) by public_key over the bytes \
             'bayestrial-document-v1', a zero byte, then this file's exact bytes; 128 hex digits"
        ),
        files: files
            .iter()
            .map(|(path, bytes)| ManifestFile {
                path: path.clone(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
        simulations,
    };
    let mut manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::write("manifest", e))?;
    manifest_bytes.push(b'\n');
    let signature = key.sign_document(&manifest_bytes);
    files.push((MANIFEST.into(), manifest_bytes));
    files.push((
        MANIFEST_SIGNATURE.into(),
        format!("{}\n", signature.to_hex()).into_bytes(),
    ));
    zip_files(&files, &export.exported_at)
}

/// Reads a package's entries.
pub(crate) fn read(bytes: &[u8]) -> Result<PackageContents, ReadError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ReadError::Unreadable(format!("not a readable zip: {e}")))?;
    let mut entries = BTreeMap::new();
    for index in 0..archive.len() {
        let mut file = archive
            .by_index(index)
            .map_err(|e| ReadError::Unreadable(format!("zip entry {index}: {e}")))?;
        if file.is_dir() {
            continue;
        }
        let name = file.name().to_owned();
        let mut data = Vec::new();
        (&mut file)
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut data)
            .map_err(|e| ReadError::Unreadable(format!("{name}: {e}")))?;
        entries.insert(name, data);
    }
    let jsonl = entries.get("audit.jsonl").cloned().ok_or_else(|| {
        ReadError::Unreadable("not a bayestrial package: the zip holds no audit.jsonl".into())
    })?;
    Ok(PackageContents { entries, jsonl })
}

fn at(place: &str, what: impl Into<String>) -> OfflineProblem {
    OfflineProblem {
        place: place.to_owned(),
        seq: None,
        problem: what.into(),
    }
}

/// Checks the manifest's signature (by `pinned` when given, and by the key of the JSON Lines
/// export), that it is as blinded as the JSON Lines export says, and every file's size and
/// hash. Returns the number of files checked.
pub(crate) fn verify(
    contents: &PackageContents,
    pinned: Option<&PublicKey>,
    jsonl: &Header,
) -> Result<usize, OfflineProblem> {
    let jsonl_key = &jsonl.public_key;
    let manifest_bytes = contents
        .entries
        .get(MANIFEST)
        .ok_or_else(|| at(MANIFEST, "missing from the package"))?;
    let manifest: Manifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| at(MANIFEST, format!("does not read: {e}")))?;
    let signature: Signature = contents
        .entries
        .get(MANIFEST_SIGNATURE)
        .ok_or_else(|| at(MANIFEST_SIGNATURE, "missing from the package"))
        .and_then(|bytes| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or_else(|| at(MANIFEST_SIGNATURE, "not 128 hex digits"))
        })?;
    if let Some(pinned) = pinned {
        if manifest.public_key != *pinned {
            return Err(at(
                MANIFEST,
                format!(
                    "signed by key {}, not the pinned key {pinned}",
                    manifest.public_key
                ),
            ));
        }
    }
    if manifest.public_key != *jsonl_key {
        return Err(at(
            MANIFEST,
            format!(
                "names key {} but audit.jsonl names {jsonl_key}",
                manifest.public_key
            ),
        ));
    }
    if !manifest
        .public_key
        .verify_document(manifest_bytes, &signature)
    {
        return Err(at(
            MANIFEST_SIGNATURE,
            "the signature of MANIFEST.json does not verify: the manifest was altered or not \
             signed by this key",
        ));
    }
    if manifest.unblinded != jsonl.unblinded {
        return Err(at(
            MANIFEST,
            format!(
                "says unblinded is {} but audit.jsonl says {}",
                manifest.unblinded, jsonl.unblinded
            ),
        ));
    }
    for file in &manifest.files {
        let bytes = contents
            .entries
            .get(&file.path)
            .ok_or_else(|| at(&file.path, "listed in the manifest but missing"))?;
        let sha = sha256_hex(bytes);
        if sha != file.sha256 || bytes.len() as u64 != file.bytes {
            return Err(at(
                &file.path,
                format!(
                    "altered: its SHA-256 is {sha} ({} bytes), the manifest says {} ({} bytes)",
                    bytes.len(),
                    file.sha256,
                    file.bytes
                ),
            ));
        }
    }
    for name in contents.entries.keys() {
        let listed = name == MANIFEST
            || name == MANIFEST_SIGNATURE
            || manifest.files.iter().any(|f| f.path == *name);
        if !listed {
            return Err(at(name, "in the package but not in the manifest"));
        }
    }
    Ok(manifest.files.len())
}
