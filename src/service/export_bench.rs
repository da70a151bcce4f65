//! `bench export`: how long exports and their offline verification take on a large trial. It
//! runs a throw-away trial of N participants, each enrolled, randomised and given an outcome
//! through the service, then times the JSON Lines, ODM, CSV and package exports (from the
//! command line, unblinded) and the offline verification and replay of the files.

use std::time::Instant;

use serde::Serialize;

use super::{Actor, Exporter, Meaning, NewUser, Password, Role, Service, ServiceError, Username};
use crate::engine::OutcomeValue;
use crate::export::{replay_export, verify_export, ExportFormat, ReplayOutcome};

/// One export's size and time.
#[derive(Debug, Clone, Serialize)]
pub struct ExportTiming {
    /// The format.
    pub format: &'static str,
    /// Seconds to export (read, verify, sign, render, record).
    pub seconds: f64,
    /// Size of the file.
    pub bytes: usize,
}

/// What `bench export` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExportBenchReport {
    /// Backend.
    pub backend: &'static str,
    /// Participants enrolled (each with an outcome).
    pub participants: u32,
    /// Records on the trial's chain.
    pub records: u64,
    /// Seconds to build the trial through the service.
    pub build_seconds: f64,
    /// Each export.
    pub exports: Vec<ExportTiming>,
    /// Seconds to verify the JSON Lines export offline.
    pub verify_jsonl_seconds: f64,
    /// Seconds to verify the package offline (manifest, then the chains inside).
    pub verify_package_seconds: f64,
    /// Seconds to replay the JSON Lines export offline.
    pub replay_seconds: f64,
    /// Whether both verifications and the replay succeeded.
    pub ok: bool,
}

fn protocol_text(id: &str, participants: u32) -> String {
    let every = (participants / 10).max(10);
    format!(
        r#"[trial]
id = "{id}"
title = "Throw-away trial for the export benchmark"
design = "platform"
max_participants = {participants}

[outcome]
kind = "binary"
name = "Response"
better = "higher"

[[arm]]
id = "control"
control = true
[[arm]]
id = "a"
[[arm]]
id = "b"

[allocation]
rule = "thompson"
power = 0.5
control = "sqrt-k"
min = 0.05

[analysis]
looks = {{ first = {every}, every = {every} }}

[decision]
superiority = 0.999999
inferiority = 0.000001
"#
    )
}

/// Runs the benchmark on `service` (a scratch database) with `participants` participants.
pub fn bench_export(
    service: &Service,
    participants: u32,
    tag: &str,
) -> Result<ExportBenchReport, ServiceError> {
    let participants = participants.max(10);
    let password = hex::encode(service.randomness.bytes32());
    let stat = Username::parse(&format!("bench-stat-{tag}"))?;
    let coord = Username::parse(&format!("bench-coord-{tag}"))?;
    let approver = Username::parse(&format!("bench-approver-{tag}"))?;
    for (name, role) in [
        (&stat, Role::Statistician),
        (&coord, Role::Coordinator),
        (&approver, Role::Statistician),
    ] {
        service.add_user(
            &Actor::command_line(),
            &NewUser {
                username: name.clone(),
                role,
                printed_name: format!("Benchmark {role}"),
                email: format!("{}@bench.invalid", name.as_str()),
                password: Password::new(&password)?,
            },
        )?;
    }
    let stat = Actor {
        username: stat.as_str().to_owned(),
        role: Role::Statistician,
    };
    let coord = Actor {
        username: coord.as_str().to_owned(),
        role: Role::Coordinator,
    };
    let trial = format!("EXPORT-{tag}");
    let started = Instant::now();
    service.create_trial(&stat, &protocol_text(&trial, participants), "bench export")?;
    // Four eyes: another statistician approves.
    let approver = Actor {
        username: approver.as_str().to_owned(),
        role: Role::Statistician,
    };
    service.sign(&approver, &trial, Meaning::Approval, &password)?;
    service.start(&stat, &trial)?;
    for i in 0..participants {
        let subject = format!("S{i:06}");
        service.enrol(&coord, &trial, &subject, None)?;
        // A fixed pseudo-random response (about 30 %), the same in every run.
        let response = (u64::from(i).wrapping_mul(2_654_435_761) >> 7) % 10 < 3;
        let receipt = service.record_outcome(
            &coord,
            &trial,
            &subject,
            OutcomeValue::Binary { response },
            None,
        )?;
        if receipt.stopped {
            break;
        }
    }
    let build_seconds = started.elapsed().as_secs_f64();
    let records = service.verify(Some(&trial))?.records as u64;

    let mut exports = Vec::new();
    let mut files = Vec::new();
    for format in ExportFormat::ALL {
        let begin = Instant::now();
        let file = service.export(&Exporter::CommandLine, &trial, format, true)?;
        exports.push(ExportTiming {
            format: format.as_str(),
            seconds: begin.elapsed().as_secs_f64(),
            bytes: file.bytes.len(),
        });
        files.push((format, file.bytes));
    }
    let bytes_of = |wanted: ExportFormat| {
        files
            .iter()
            .find(|(f, _)| *f == wanted)
            .map(|(_, b)| b.as_slice())
            .unwrap_or_default()
    };
    let unreadable = |e: crate::export::ReadError| ServiceError::Integrity(e.to_string());
    let begin = Instant::now();
    let jsonl = verify_export(bytes_of(ExportFormat::Jsonl), None).map_err(unreadable)?;
    let verify_jsonl_seconds = begin.elapsed().as_secs_f64();
    let begin = Instant::now();
    let package = verify_export(bytes_of(ExportFormat::Package), None).map_err(unreadable)?;
    let verify_package_seconds = begin.elapsed().as_secs_f64();
    let begin = Instant::now();
    let replayed = replay_export(bytes_of(ExportFormat::Jsonl)).map_err(unreadable)?;
    let replay_seconds = begin.elapsed().as_secs_f64();
    Ok(ExportBenchReport {
        backend: service.database().backend(),
        participants,
        records,
        build_seconds,
        exports,
        verify_jsonl_seconds,
        verify_package_seconds,
        replay_seconds,
        ok: jsonl.problem.is_none()
            && package.problem.is_none()
            && matches!(replayed, ReplayOutcome::Replayed { .. }),
    })
}
