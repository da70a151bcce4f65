//! Helpers shared by the integration tests that run trials through the service and export
//! them (`tests/export.rs`, `tests/sealing.rs`): a fresh SQLite database per test, users in
//! every role, demo trials run a little, exports and their lines.

// Each test binary that includes this module uses a different part of it.
#![allow(
    dead_code,
    reason = "each test binary uses its own subset of these helpers"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bayestrial::audit::AuditRecord;
use bayestrial::engine::{Calendar, OutcomeValue};
use bayestrial::export::{verify_export, ExportFormat, ExportLine, OfflineReport};
use bayestrial::protocol::{Design, LoadedProtocol, OutcomeKind};
use bayestrial::service::{
    Actor, Exporter, Meaning, NewUser, Password, Randomness, Role, Service, ServiceConfig,
    SteppingClock, Username,
};
use bayestrial::store::DatabaseUrl;
use serde_json::Value;

pub use super::PASSWORD;

/// A fresh SQLite database and data directory.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn url(&self) -> String {
        self.dir.path().join("bayestrial.db").display().to_string()
    }

    pub fn service(&self) -> Service {
        let mut config = ServiceConfig::new(DatabaseUrl::parse(&self.url()).expect("URL"));
        config.data_dir = self.dir.path().to_path_buf();
        config.clock = Arc::new(SteppingClock::starting_at(1_780_000_000));
        config.randomness = Randomness::seeded(7);
        config.pool_size = 4;
        Service::open(config).expect("service opens")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn user(service: &Service, name: &str, role: Role) -> Actor {
    service
        .add_user(
            &Actor::command_line(),
            &NewUser {
                username: Username::parse(name).expect("user name"),
                role,
                printed_name: format!("Test {name}"),
                email: format!("{name}@example.org"),
                password: Password::new(PASSWORD).expect("password"),
            },
        )
        .expect("user added");
    Actor {
        username: name.to_owned(),
        role,
    }
}

pub struct People {
    pub stat: Actor,
    /// A second statistician, who approves what `stat` writes (four eyes).
    pub approver: Actor,
    pub coord: Actor,
    pub dmc: Actor,
    pub regulator: Actor,
    pub admin: Actor,
}

pub fn people(service: &Service) -> People {
    People {
        stat: user(service, "stat", Role::Statistician),
        approver: user(service, "approver", Role::Statistician),
        coord: user(service, "coord", Role::Coordinator),
        dmc: user(service, "dmc", Role::Dmc),
        regulator: user(service, "regulator", Role::Regulator),
        admin: user(service, "auditadmin", Role::Admin),
    }
}

/// An outcome value of the protocol's kind, inside its range, varying with `i`.
pub fn value(loaded: &LoadedProtocol, i: u32) -> OutcomeValue {
    let o = &loaded.protocol.outcome;
    match o.kind {
        OutcomeKind::Binary => OutcomeValue::Binary {
            response: (i * 7 + 3) % 10 < 4,
        },
        OutcomeKind::Continuous => {
            let (low, high) = (o.min.unwrap_or(-100.0), o.max.unwrap_or(100.0));
            let x = low + (high - low) * f64::from((i * 37 + 11) % 100) / 100.0;
            OutcomeValue::Continuous {
                value: (x * 4.0).round() / 4.0,
            }
        }
        OutcomeKind::Count => OutcomeValue::Count {
            events: u64::from((i * 13 + 5) % 6),
            exposure: 1.0 + f64::from(i % 3) * 0.5,
        },
    }
}

/// Creates, approves and starts the demo protocol `file`, then runs it a little: platform
/// trials enrol past their first look (each participant with an outcome, one corrected);
/// n-of-1 trials enrol patients with a start date and record two cycles of measurements (and a
/// run-in day, and a correction). Returns the trial id.
pub fn run_demo(service: &Service, p: &People, file: &Path) -> String {
    let source = std::fs::read_to_string(file).expect("protocol");
    let loaded = LoadedProtocol::from_toml(&source, &file.display().to_string()).expect("valid");
    let id = service
        .create_trial(&p.stat, &source, &file.display().to_string())
        .expect("created")
        .id;
    service
        .sign(&p.stat, &id, Meaning::Authorship, PASSWORD)
        .expect("authorship");
    service
        .sign(&p.approver, &id, Meaning::Approval, PASSWORD)
        .expect("approval");
    service.start(&p.stat, &id).expect("started");
    if loaded.protocol.trial.design == Design::Nof1 {
        let spec = loaded.protocol.nof1.as_ref().expect("n-of-1 table");
        let calendar = Calendar::of(spec);
        for k in 0..3_u32 {
            let subject = format!("N-{k:03}");
            service
                .enrol_starting(
                    &p.coord,
                    &id,
                    &subject,
                    Some(&format!("key-{subject}")),
                    Some(&format!("2026-01-{:02}", 5 + k)),
                )
                .expect("patient enrolled");
            service
                .record_measurement(&p.coord, &id, &subject, 3, value(&loaded, k), None, None)
                .expect("run-in measurement");
            let mut first = None;
            for period in 1..=2 * calendar.periods_per_cycle() {
                for (j, day) in calendar.measurement_days(period).enumerate() {
                    let receipt = service
                        .record_measurement(
                            &p.coord,
                            &id,
                            &subject,
                            day,
                            value(&loaded, period * 10 + j as u32 + k),
                            None,
                            None,
                        )
                        .expect("measurement");
                    first.get_or_insert(receipt.seq);
                }
            }
            if k == 0 {
                service
                    .record_measurement(
                        &p.coord,
                        &id,
                        &subject,
                        0,
                        value(&loaded, 99),
                        first,
                        Some("transcription error on the diary card"),
                    )
                    .expect("correction");
            }
        }
    } else {
        let looks = &loaded.protocol.analysis.looks;
        let n = looks.first().copied().unwrap_or(50).min(200) + 10;
        let strata = loaded
            .protocol
            .precision
            .as_ref()
            .map(|precision| {
                precision
                    .strata
                    .iter()
                    .map(|stratum| {
                        precision
                            .biomarkers
                            .iter()
                            .zip(&stratum.levels)
                            .map(|(b, &l)| (b.id.clone(), b.levels[l].clone()))
                            .collect::<std::collections::BTreeMap<_, _>>()
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for i in 0..n {
            let subject = format!("S-{i:04}");
            let key = format!("key-{subject}");
            if strata.is_empty() {
                service
                    .enrol(&p.coord, &id, &subject, Some(&key))
                    .expect("enrolled");
            } else {
                // A precision design: the participants cycle through its strata.
                let values = strata[i as usize % strata.len()].clone();
                service
                    .enrol_with_biomarkers(&p.coord, &id, &subject, Some(&key), values)
                    .expect("enrolled with biomarkers");
            }
            let receipt = service
                .record_outcome(&p.coord, &id, &subject, value(&loaded, i), None)
                .expect("outcome");
            if receipt.stopped {
                break;
            }
        }
        service
            .record_outcome(
                &p.coord,
                &id,
                "S-0001",
                value(&loaded, 1000),
                Some("the value was entered for the wrong visit"),
            )
            .expect("correction");
    }
    id
}

/// The text of a three-arm platform protocol with id `id`: Thompson allocation after a
/// burn-in of 15 (permuted blocks), looks at 25, 50, …
pub fn platform_protocol(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Export test trial"
design = "platform"
max_participants = 500

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
burn_in = 15

[analysis]
looks = {{ first = 25, every = 25 }}

[decision]
superiority = 0.999
inferiority = 0.001
"#
    )
}

/// A started platform trial with 60 participants and outcomes (look at 50), one correction.
pub fn small_trial(service: &Service, p: &People, id: &str) {
    let source = platform_protocol(id);
    service
        .create_trial(&p.stat, &source, "test")
        .expect("created");
    service
        .sign(&p.approver, id, Meaning::Approval, PASSWORD)
        .expect("approved");
    service.start(&p.stat, id).expect("started");
    for i in 0..60_u32 {
        let subject = format!("S-{i:03}");
        service
            .enrol(&p.coord, id, &subject, None)
            .expect("enrolled");
        service
            .record_outcome(
                &p.coord,
                id,
                &subject,
                OutcomeValue::Binary {
                    response: (i * 7 + 3) % 10 < 4,
                },
                None,
            )
            .expect("outcome");
    }
    service
        .record_outcome(
            &p.coord,
            id,
            "S-003",
            OutcomeValue::Binary { response: true },
            Some("source document verification"),
        )
        .expect("corrected");
}

pub fn export(service: &Service, id: &str, format: ExportFormat, unblinded: bool) -> Vec<u8> {
    service
        .export(&Exporter::CommandLine, id, format, unblinded)
        .expect("exported")
        .bytes
}

pub fn verified(bytes: &[u8]) -> OfflineReport {
    verify_export(bytes, None).expect("readable export")
}

pub fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn join(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

pub fn parsed(line: &str) -> ExportLine {
    serde_json::from_str(line).expect("an export line")
}

pub fn run_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args(args)
        // The offline modes must not need a database: point at one that does not exist.
        .env(
            "BAYESTRIAL_DATABASE_URL",
            "/nonexistent/no-database-here.db",
        )
        .output()
        .expect("runs")
}

pub fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The record lines of `chain`, as audit records, with their line numbers (unblinded exports:
/// every record has its payload).
pub fn chain_records(lines: &[String], chain: &str) -> Vec<(usize, AuditRecord)> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match parsed(l) {
            ExportLine::Record(r) if r.chain.to_string() == chain => {
                Some((i, r.to_record().expect("encodes").expect("not sealed")))
            }
            _ => None,
        })
        .collect()
}

/// Changes record `seq` of `chain` with `edit`, then re-hashes it and every later record of its
/// chain and writes them back into their lines (a forger with the file but without the
/// server's key). Returns the chain's records as rewritten.
pub fn rewrite_records(
    lines: &mut [String],
    chain: &str,
    seq: u64,
    edit: impl FnOnce(&mut AuditRecord),
) -> Vec<(usize, AuditRecord)> {
    let mut records = chain_records(lines, chain);
    let start = records
        .iter()
        .position(|(_, r)| r.seq == seq)
        .expect("record present");
    edit(&mut records[start].1);
    for k in start..records.len() {
        if k > 0 {
            records[k].1.prev_hash = records[k - 1].1.hash;
        }
        records[k].1.hash = records[k].1.compute_hash().expect("hash");
        let (line, record) = &records[k];
        let mut value: Value = serde_json::from_str(&lines[*line]).expect("JSON");
        value["payload"] = serde_json::from_str(&record.payload).expect("JSON");
        match &record.salt {
            Some(salt) => value["salt"] = Value::String(salt.to_hex()),
            None => {
                if let Some(map) = value.as_object_mut() {
                    map.remove("salt");
                }
            }
        }
        value["prev_hash"] = Value::String(record.prev_hash.to_hex());
        value["hash"] = Value::String(record.hash.to_hex());
        lines[*line] = value.to_string();
    }
    records
}

/// Simulates protocol `version` of a trial (its first scenario, 4 replicates, seed 1) and
/// stores the report through the service, as a finished simulation job does; returns the
/// report's number. An amendment's approval needs one.
pub fn store_simulation(service: &Service, stat: &Actor, trial_id: &str, version: i32) -> i64 {
    let (loaded, version) = service
        .protocol_to_simulate(stat, trial_id, Some(version))
        .expect("the version to simulate");
    let scenario = loaded
        .protocol
        .scenarios
        .first()
        .expect("the protocol has a scenario")
        .name
        .clone();
    let plan = bayestrial::sim::SimulationPlan {
        scenario: bayestrial::sim::SimScenario::from_protocol(&loaded.protocol, &scenario, &[])
            .expect("scenario"),
        reps: 4,
        seed: 1,
        threads: 1,
        selection: bayestrial::sim::Selection::BestRemaining,
    };
    let hash = loaded.hash.to_hex();
    let report = bayestrial::sim::simulate_scenario(&loaded.protocol, &hash, &plan, &|| {})
        .expect("simulated");
    let html = bayestrial::sim::render_scenario_html(&loaded.protocol, &report).expect("report");
    service
        .store_simulation_report(
            stat,
            &bayestrial::service::NewSimulationReport {
                trial_id: trial_id.to_owned(),
                version,
                protocol_hash: hash,
                scenario,
                seed: 1,
                reps: 4,
                summary: "test simulation".into(),
                result_json: serde_json::to_string(&report).expect("JSON"),
                report_html: html,
            },
        )
        .expect("stored")
}
