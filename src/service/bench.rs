//! `bench randomise`: durable enrol-and-randomise throughput and latency on a throw-away trial,
//! with the raw durable single-row commit rate of the same database as the baseline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Actor, Meaning, NewUser, Password, Role, Service, ServiceError, Username};
use crate::store::{self, connect};

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Backend.
    pub backend: &'static str,
    /// Participants enrolled.
    pub participants: u32,
    /// Concurrent clients.
    pub concurrency: u32,
    /// Wall time of the enrolments.
    pub seconds: f64,
    /// Enrolments per second.
    pub per_second: f64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 99th percentile latency (ms).
    pub p99_ms: f64,
    /// Records on the trial's chain after the run.
    pub chain_records: usize,
    /// Whether the chain and its checkpoints verified.
    pub verified: bool,
    /// Durable single-row commits per second on the same database.
    pub raw_commits_per_second: f64,
}

impl BenchReport {
    /// Enrolment rate as a share of the raw commit rate.
    pub fn share_of_raw(&self) -> f64 {
        self.per_second / self.raw_commits_per_second
    }
}

fn protocol_text(id: &str, participants: u32) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Throw-away trial for the randomisation benchmark"
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

[analysis]
looks = {{ first = {participants}, every = {participants} }}

[decision]
superiority = 0.99
inferiority = 0.01
"#
    )
}

/// Runs the benchmark on `service`: `participants` enrolments from `concurrency` threads.
pub fn bench_randomise(
    service: &Arc<Service>,
    participants: u32,
    concurrency: u32,
    tag: &str,
) -> Result<BenchReport, ServiceError> {
    let concurrency = concurrency.clamp(1, 256);
    let participants = participants.max(concurrency);
    let password = hex::encode(service.randomness.bytes32());
    let statistician = Username::parse(&format!("bench-stat-{tag}"))?;
    let coordinator = Username::parse(&format!("bench-coord-{tag}"))?;
    let approver = Username::parse(&format!("bench-approver-{tag}"))?;
    for (name, role) in [
        (&statistician, Role::Statistician),
        (&coordinator, Role::Coordinator),
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
        username: statistician.as_str().to_owned(),
        role: Role::Statistician,
    };
    let trial_id = format!("BENCH-{tag}");
    service.create_trial(
        &stat,
        &protocol_text(&trial_id, participants),
        "bench randomise",
    )?;
    // Four eyes: another statistician approves.
    let approver = Actor {
        username: approver.as_str().to_owned(),
        role: Role::Statistician,
    };
    service.sign(&approver, &trial_id, Meaning::Approval, &password)?;
    service.start(&stat, &trial_id)?;
    let coord = Actor {
        username: coordinator.as_str().to_owned(),
        role: Role::Coordinator,
    };
    let started = Instant::now();
    let per_thread = participants / concurrency;
    let extra = participants % concurrency;
    let latencies: Result<Vec<Vec<Duration>>, ServiceError> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|t| {
                let (service, coord, trial_id) =
                    (Arc::clone(service), coord.clone(), trial_id.clone());
                let count = per_thread + u32::from(t < extra);
                scope.spawn(move || -> Result<Vec<Duration>, ServiceError> {
                    let mut times = Vec::with_capacity(count as usize);
                    for i in 0..count {
                        let subject = format!("S{t}-{i}");
                        let begin = Instant::now();
                        service.enrol(&coord, &trial_id, &subject, Some(&subject))?;
                        times.push(begin.elapsed());
                    }
                    Ok(times)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ServiceError::Integrity("a client thread panicked".into()))
                })
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut all: Vec<Duration> = latencies?.into_iter().flatten().collect();
    all.sort();
    let quantile = |q: f64| {
        let index = ((all.len() as f64 - 1.0) * q).round() as usize;
        all.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let report = service.verify(Some(&trial_id))?;
    let mut conn = connect(service.database())?;
    let raw_n = participants.clamp(200, 20_000);
    let raw = store::raw_commit_baseline(&mut conn, raw_n)?;
    Ok(BenchReport {
        backend: service.database().backend(),
        participants,
        concurrency,
        seconds,
        per_second: f64::from(participants) / seconds,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        chain_records: report.records,
        verified: report.problem.is_none(),
        raw_commits_per_second: f64::from(raw_n) / raw.as_secs_f64(),
    })
}
