//! `bayestrial export` (from the database), the offline modes `audit verify --export FILE` and
//! `replay FILE` (no database), and `bench export`. Exit codes: 0 success; 1 a verification or
//! replay failure; 2 a usage error, an unreadable file, or a blinded export given to replay.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bayestrial::audit::PublicKey;
use bayestrial::export::{
    replay_export, verify_export_against, EarlierExport, ExportFormat, OfflineReport, ReplayOutcome,
};
use bayestrial::service::{bench_export, Exporter, Service, ServiceConfig, ServiceError};
use bayestrial::store::DatabaseUrl;

use super::common::{fail, DatabaseArgs};

/// `bayestrial export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The trial.
    #[arg(long)]
    trial: String,
    /// odm (CDISC ODM 1.3.2 XML), jsonl (JSON Lines), csv (a zip of CSV tables) or package (a
    /// zip of everything with a signed manifest).
    #[arg(long, value_parser = parse_format)]
    format: ExportFormat,
    /// Where to write the file (`-` for standard output).
    #[arg(long)]
    out: PathBuf,
    /// Include the seed and every allocation probability (so the export can be replayed).
    #[arg(long)]
    unblinded: bool,
}

fn parse_format(text: &str) -> Result<ExportFormat, String> {
    text.parse()
}

/// Writes `bytes` to `path` through a temporary file in the same directory, then renames it,
/// so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        return out.flush();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Exports a trial from the database.
pub fn export(args: &ExportArgs) -> ExitCode {
    let file = args.database.open().and_then(|service| {
        service.export(
            &Exporter::CommandLine,
            &args.trial,
            args.format,
            args.unblinded,
        )
    });
    let file = match file {
        Ok(file) => file,
        Err(e) => return fail(&e),
    };
    if let Err(e) = write_atomically(&args.out, &file.bytes) {
        eprintln!("error: writing {}: {e}", args.out.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "exported trial {} as {} ({}): {}, {} bytes, SHA-256 {}; recorded on the system chain \
         as record {}",
        args.trial,
        args.format,
        if args.unblinded {
            "unblinded"
        } else {
            "blinded"
        },
        args.out.display(),
        file.bytes.len(),
        file.sha256,
        file.system_seq
    );
    ExitCode::SUCCESS
}

fn read_file(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        ExitCode::from(2)
    })
}

fn print_report(path: &Path, report: &OfflineReport) {
    let mut parts = Vec::new();
    if report.kind == "package" {
        parts.push(format!(
            "manifest signature and {} file hash(es)",
            report.files
        ));
    }
    for chain in &report.chains {
        parts.push(format!(
            "{}: {} record(s){}, {} checkpoint(s), head seq {}",
            chain.chain,
            chain.records,
            if chain.sealed > 0 {
                format!(" ({} sealed)", chain.sealed)
            } else {
                String::new()
            },
            chain.checkpoints,
            chain.head_seq
        ));
    }
    parts.push(format!("{} protocol version(s)", report.protocols));
    println!(
        "ok: {} {} of trial {} ({}): {} verified against public key {}",
        report.kind,
        path.display(),
        report.trial,
        if report.unblinded {
            "unblinded"
        } else {
            "blinded"
        },
        parts.join("; "),
        report.public_key.as_deref().unwrap_or("?")
    );
    if report.chains.iter().any(|c| c.sealed > 0) {
        println!(
            "note: sealed records (assignments and comparative results) are held in place by \
             the next record's hash and the signed checkpoints; their payloads and salts are \
             not in this blinded export, so their content cannot be checked or replayed"
        );
    }
    if report
        .chains
        .iter()
        .any(|c| c.record_format == 1 && c.sealed > 0)
    {
        println!(
            "note: the trial's chain has no record salts (record format 1, begun before \
             salts): a sealed record's payload could be guessed by hashing candidates"
        );
    }
}

/// Reads the earlier exports of `audit verify --against FILE`, each verified (with the pinned
/// key, if any) before it may vouch for anything; exit code 2 naming the file otherwise.
pub fn read_earlier(
    paths: &[PathBuf],
    pinned: Option<&PublicKey>,
) -> Result<Vec<EarlierExport>, ExitCode> {
    let mut earlier = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = read_file(path)?;
        let name = path.display().to_string();
        match EarlierExport::read(&bytes, &name, pinned) {
            Ok(export) => earlier.push(export),
            Err(e) => {
                eprintln!("error: --against {name}: {e}");
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(earlier)
}

/// `audit verify --export FILE [--public-key HEX] [--against EARLIER]…`: verifies an export
/// without a database, and that it extends each earlier export.
pub fn verify_offline(
    path: &Path,
    pinned: Option<&PublicKey>,
    against: &[EarlierExport],
) -> ExitCode {
    let bytes = match read_file(path) {
        Ok(bytes) => bytes,
        Err(code) => return code,
    };
    match verify_export_against(&bytes, pinned, against) {
        Ok(report) => match &report.problem {
            None => {
                print_report(path, &report);
                ExitCode::SUCCESS
            }
            Some(problem) => {
                println!("FAILED: {problem}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            ExitCode::from(2)
        }
    }
}

/// `replay FILE`: replays an unblinded export without a database.
pub fn replay_offline(path: &Path) -> ExitCode {
    let bytes = match read_file(path) {
        Ok(bytes) => bytes,
        Err(code) => return code,
    };
    match replay_export(&bytes) {
        Ok(ReplayOutcome::Replayed { trial, events }) => {
            println!(
                "{trial}: {events} events replayed from {}, every allocation, draw and decision \
                 matches",
                path.display()
            );
            println!("ok: 1 trial replayed");
            ExitCode::SUCCESS
        }
        Ok(ReplayOutcome::Blinded { trial }) => {
            eprintln!(
                "error: {} is a blinded export of trial {trial}: it holds no seed and its \
                 assignment and decision records are sealed, so it cannot be replayed; replay needs an \
                 unblinded export (statisticians, the DMC, or `bayestrial export --unblinded` \
                 on the server)",
                path.display()
            );
            ExitCode::from(2)
        }
        Ok(ReplayOutcome::Failed(problem)) => {
            println!("FAILED: {problem}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            ExitCode::from(2)
        }
    }
}

/// `bayestrial bench export`.
#[derive(Debug, clap::Args)]
pub struct BenchExportArgs {
    /// The database (default: a throw-away SQLite file in the temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Participants to enrol (each randomised and given an outcome).
    #[arg(long, default_value_t = 10_000)]
    participants: u32,
}

/// Builds a trial and times its exports and their offline verification.
pub fn bench(args: &BenchExportArgs) -> ExitCode {
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let scratch = std::env::temp_dir().join(format!("bayestrial-bench-export-{tag}"));
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| scratch.join("bench.db").display().to_string());
    let report = match DatabaseUrl::parse(&url) {
        Ok(url) => {
            let mut config = ServiceConfig::new(url);
            config.data_dir = scratch.clone();
            Service::open(config)
                .and_then(|service| bench_export(&service, args.participants, &tag))
        }
        Err(e) => Err(ServiceError::Store(e)),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    match report {
        Ok(report) => {
            println!(
                "{}: trial of {} participants ({} records on its chain) built through the \
                 service in {:.1} s",
                report.backend, report.participants, report.records, report.build_seconds
            );
            for e in &report.exports {
                println!(
                    "export {:<8} {:>8.3} s  {:>12} bytes",
                    e.format, e.seconds, e.bytes
                );
            }
            println!(
                "offline verify: jsonl {:.3} s, package {:.3} s; offline replay (jsonl) {:.3} s: {}",
                report.verify_jsonl_seconds,
                report.verify_package_seconds,
                report.replay_seconds,
                if report.ok { "ok" } else { "FAILED" }
            );
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fail(&e),
    }
}
