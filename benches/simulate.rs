//! Simulation speed on the reference design of the simulation issue: 4 binary arms without a
//! control, true rates 0.25 / 0.25 / 0.25 / 0.35, looks every 100 outcomes from 100 to 2,000,
//! allocation P(best)^0.5, superiority 0.99, inferiority 0.01, no outcome delay.
//!
//! Run with `cargo bench --bench simulate`. Target: 1,000 trials single-threaded in ≤ 0.3 s.
//!
//! Also the shipped precision design `protocols/precision-ispy2.toml` (7 subtypes, 10
//! signatures, 4 arms and a control, graduation), in its HER2-positive scenario. Target: 1,000
//! trials single-threaded in ≤ 10 s.

#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]

use std::time::Duration;

use bayestrial::protocol::Protocol;
use bayestrial::sim::{run_replicates, Selection, SimScenario, SimulationPlan};
use criterion::{criterion_group, criterion_main, Criterion};

const DESIGN: &str = r#"
[trial]
id = "BENCH-4ARM"
title = "Four binary arms, no control"
design = "platform"
max_participants = 2000

[outcome]
kind = "binary"
name = "Response"
better = "higher"

[[arm]]
id = "a"
[[arm]]
id = "b"
[[arm]]
id = "c"
[[arm]]
id = "d"

[allocation]
rule = "thompson"
power = 0.5

[analysis]
looks = { first = 100, every = 100 }

[decision]
superiority = 0.99
inferiority = 0.01

[[scenario]]
name = "one-better"
truth = { a = 0.25, b = 0.25, c = 0.25, d = 0.35 }
accrual_per_week = 20
outcome_delay_weeks = 0
"#;

fn plan(protocol: &Protocol, reps: u64, threads: usize) -> Option<SimulationPlan> {
    Some(SimulationPlan {
        scenario: SimScenario::from_protocol(protocol, "one-better", &[]).ok()?,
        reps,
        seed: 2026,
        threads,
        selection: Selection::BestRemaining,
    })
}

fn simulate(c: &mut Criterion) {
    let Ok(protocol) = Protocol::from_toml(DESIGN, "bench") else {
        panic!("the benchmark design must be valid");
    };
    let mut group = c.benchmark_group("simulate/4-arm binary, 2000 max, 20 looks");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for threads in [1, 2] {
        let Some(plan) = plan(&protocol, 1000, threads) else {
            panic!("scenario");
        };
        group.bench_function(format!("1000 trials, {threads} thread(s)"), |b| {
            b.iter(|| {
                run_replicates(&protocol, &plan, &|| {})
                    .map(|t| t.len())
                    .ok()
            })
        });
    }
    group.finish();
}

fn precision(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/protocols/precision-ispy2.toml"
    );
    let Ok(protocol) = Protocol::load(std::path::Path::new(path)) else {
        panic!("the shipped precision design must be valid");
    };
    let Ok(scenario) = SimScenario::from_protocol(&protocol, "neratinib-in-her2-pos", &[]) else {
        panic!("scenario");
    };
    let plan = SimulationPlan {
        scenario,
        reps: 1000,
        seed: 2026,
        threads: 1,
        selection: Selection::None,
    };
    let mut group = c.benchmark_group("simulate/precision-ispy2, HER2-positive scenario");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(40));
    group.bench_function("1000 trials, 1 thread(s)", |b| {
        b.iter(|| {
            run_replicates(&protocol, &plan, &|| {})
                .map(|t| t.len())
                .ok()
        })
    });
    group.finish();
}

criterion_group!(benches, simulate, precision);
criterion_main!(benches);
