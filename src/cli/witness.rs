//! `audit verify --witness FILE`: checks witness files (signed heads kept outside the database)
//! against the database's chains, or against an export file's, after the chains themselves
//! verified.
//!
//! Imports only `common`; `live` calls it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bayestrial::audit::PublicKey;
use bayestrial::export::{export_record_hashes, verify_export};
use bayestrial::service::{check_witness_text, read_witness_file, Service, WitnessReport};

use super::common::fail;

/// Checks every witness file in turn against the database: exit 0 when every head is on its
/// chain, 1 naming the first file, line, chain and seq that is not, 2 when a file cannot be
/// read.
pub(super) fn verify_witnesses(
    service: &Service,
    files: &[PathBuf],
    pinned: Option<&PublicKey>,
) -> ExitCode {
    check_files(files, |file, text| {
        service.verify_witness(text, &file.display().to_string(), pinned)
    })
}

/// Checks every witness file against an export file that [`verify_export`] passed, trusting the
/// pinned key, or else the key the export names.
pub(super) fn verify_export_witnesses(
    export: &Path,
    public_key: Option<&str>,
    files: &[PathBuf],
) -> ExitCode {
    let failed = |problem: String| {
        eprintln!("error: {}: {problem}", export.display());
        ExitCode::from(2)
    };
    let bytes = match std::fs::read(export) {
        Ok(bytes) => bytes,
        Err(e) => return failed(e.to_string()),
    };
    let pinned = match public_key.map(str::parse::<PublicKey>).transpose() {
        Ok(key) => key,
        Err(e) => return failed(format!("--public-key: {e}")),
    };
    let named = match verify_export(&bytes, pinned.as_ref()) {
        Ok(report) => report.public_key,
        Err(e) => return failed(e.to_string()),
    };
    let trusted = match pinned.or_else(|| named.and_then(|k| k.parse().ok())) {
        Some(key) => key,
        None => return failed("the export names no public key to check the heads with".into()),
    };
    let records = match export_record_hashes(&bytes) {
        Ok(records) => records,
        Err(e) => return failed(e.to_string()),
    };
    check_files(files, |file, text| {
        let mut report = check_witness_text(text, &trusted, |chain| {
            Ok(Ok(records
                .iter()
                .filter(|(c, _, _)| c == chain)
                .map(|&(_, seq, hash)| (seq, hash))
                .collect()))
        })?;
        if let Some(problem) = &mut report.problem {
            *problem = format!("{}: {problem}", file.display());
        }
        Ok(report)
    })
}

/// Reads each file and checks it with `check`.
fn check_files(
    files: &[PathBuf],
    mut check: impl FnMut(&Path, &str) -> Result<WitnessReport, bayestrial::service::ServiceError>,
) -> ExitCode {
    for file in files {
        let text = match read_witness_file(file) {
            Ok(text) => text,
            Err(e) => return fail(&e),
        };
        match check(file, &text) {
            Ok(report) => match report.problem {
                None => println!(
                    "ok: {}: {} witnessed head(s) on their chains",
                    file.display(),
                    report.heads
                ),
                Some(problem) => {
                    println!("FAILED: {problem}");
                    return ExitCode::from(1);
                }
            },
            Err(e) => return fail(&e),
        }
    }
    ExitCode::SUCCESS
}
