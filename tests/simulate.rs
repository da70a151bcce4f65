//! The simulator against known answers: exact type I error of a single-look design,
//! determinism across thread counts, the direction of tempering, and every scenario of every
//! shipped protocol (platform and n-of-1).

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use std::path::Path;

use bayestrial::protocol::{LoadedProtocol, Protocol};
use bayestrial::sim::{
    simulate, simulate_scenario, ScenarioReport, Selection, SimScenario, SimulationPlan,
    SimulationReport,
};
use bayestrial::stats::{Marginal, Quadrature};

const TWO_ARM_FINAL_LOOK: &str = r#"
[trial]
id = "TWO-ARM-ONE-LOOK"
title = "Two arms, one final look"
design = "platform"
max_participants = 100

[outcome]
kind = "binary"
name = "Response"

[[arm]]
id = "a"

[[arm]]
id = "b"

[allocation]
rule = "fixed"

[analysis]
looks = [100]

[decision]
superiority = 0.95

[[scenario]]
name = "null"
truth = { a = 0.3, b = 0.3 }
accrual_per_week = 10
"#;

fn run(
    protocol: &Protocol,
    scenario: &str,
    reps: u64,
    seed: u64,
    threads: usize,
) -> SimulationReport {
    let plan = SimulationPlan {
        scenario: SimScenario::from_protocol(protocol, scenario, &[]).expect("scenario"),
        reps,
        seed,
        threads,
        selection: Selection::BestRemaining,
    };
    simulate(protocol, "hash", &plan, &|| {}).expect("simulation")
}

fn binomial_pmf(n: u64, p: f64) -> Vec<f64> {
    let mut pmf = vec![0.0; n as usize + 1];
    let mut coefficient = 1.0;
    for k in 0..=n {
        pmf[k as usize] = coefficient * p.powi(k as i32) * (1.0 - p).powi((n - k) as i32);
        coefficient = coefficient * (n - k) as f64 / (k + 1) as f64;
    }
    pmf
}

#[test]
fn single_look_type_one_error_matches_the_exact_value() {
    let protocol = Protocol::from_toml(TWO_ARM_FINAL_LOOK, "two-arm").expect("valid protocol");
    // Permuted blocks of 2 give exactly 50 per arm; enumerate every (successes A, successes B).
    let pmf = binomial_pmf(50, 0.3);
    let mut quadrature = Quadrature::new();
    let mut exact = 0.0;
    for (sa, pa) in pmf.iter().enumerate() {
        for (sb, pb) in pmf.iter().enumerate() {
            let a = Marginal::beta(1.0 + sa as f64, 51.0 - sa as f64).expect("beta");
            let b = Marginal::beta(1.0 + sb as f64, 51.0 - sb as f64).expect("beta");
            let p = quadrature.p_greater(&a, &b, 0.0).expect("p");
            if p > 0.95 || 1.0 - p > 0.95 {
                exact += pa * pb;
            }
        }
    }
    let reps = 4000;
    let report = run(&protocol, "null", reps, 7, 2);
    let mcse = (exact * (1.0 - exact) / reps as f64).sqrt();
    let simulated = report.metrics.prob_superiority;
    eprintln!("exact {exact:.5}, simulated {simulated:.5} ± {mcse:.5}");
    assert!(
        (simulated - exact).abs() < 3.0 * mcse,
        "exact {exact}, simulated {simulated} ± {mcse}"
    );
    assert_eq!(report.metrics.sample_size.min, 100.0);
    assert_eq!(report.metrics.sample_size.max, 100.0);
}

#[test]
fn the_same_seed_gives_the_same_json_with_any_thread_count() {
    let loaded =
        LoadedProtocol::load(Path::new("protocols/platform-binary-4arm.toml")).expect("protocol");
    let one = run(&loaded.protocol, "drug-b-works", 60, 42, 1);
    let two = run(&loaded.protocol, "drug-b-works", 60, 42, 2);
    let four = run(&loaded.protocol, "drug-b-works", 60, 42, 4);
    let text = |r: &SimulationReport| serde_json::to_string(r).expect("json");
    assert_eq!(text(&one), text(&two));
    assert_eq!(text(&one), text(&four));
    let other = run(&loaded.protocol, "drug-b-works", 60, 43, 2);
    assert_ne!(text(&one), text(&other));
}

#[test]
fn full_thompson_power_allocates_more_to_the_best_arm_than_tempered() {
    // The shipped scenario's 26-week delay leaves little room for adaptation; use 2 weeks.
    let text = std::fs::read_to_string("protocols/three-arm-pbest.toml")
        .expect("read")
        .replace("outcome_delay_weeks = 26", "outcome_delay_weeks = 2");
    let tempered = Protocol::from_toml(&text, "tempered").expect("valid");
    let full =
        Protocol::from_toml(&text.replace("power = 0.5", "power = 1.0"), "full").expect("valid");
    let a = run(&tempered, "phone-best", 300, 5, 2);
    let b = run(&full, "phone-best", 300, 5, 2);
    let (share_tempered, share_full) =
        (a.metrics.allocation["phone"], b.metrics.allocation["phone"]);
    eprintln!("share to the best arm: power 0.5 {share_tempered:.4}, power 1 {share_full:.4}");
    assert!(share_full > share_tempered);
    // Less tempering also gives the inferior arms fewer participants.
    assert!(b.metrics.allocation["brief"] < a.metrics.allocation["brief"]);
}

#[test]
fn every_shipped_protocol_simulates_every_scenario() {
    let (mut platform, mut nof1) = (0, 0);
    for entry in std::fs::read_dir("protocols").expect("protocols/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let protocol = Protocol::load(&path).expect("valid");
        assert!(
            !protocol.scenarios.is_empty(),
            "{} has scenarios",
            path.display()
        );
        for scenario in &protocol.scenarios {
            let plan = SimulationPlan {
                scenario: SimScenario::from_protocol(&protocol, &scenario.name, &[])
                    .expect("scenario"),
                reps: 10,
                seed: 1,
                threads: 1,
                selection: Selection::BestRemaining,
            };
            let what = format!("{} scenario {}", path.display(), scenario.name);
            match simulate_scenario(&protocol, "hash", &plan, &|| {}).expect(&what) {
                ScenarioReport::Platform(report) => {
                    let m = &report.metrics;
                    let total =
                        m.prob_superiority + m.prob_equivalence + m.prob_futility + m.prob_max;
                    assert!((total - 1.0).abs() < 1e-12, "{what}");
                    let select: f64 = m.prob_select.values().sum();
                    assert!((select - 1.0).abs() < 1e-12, "{what}");
                    platform += 1;
                }
                ScenarioReport::Nof1(report) => {
                    let m = &report.nof1;
                    let total =
                        m.prob_benefit + m.prob_equivalence + m.prob_completed + m.prob_withdrawn;
                    assert!((total - 1.0).abs() < 1e-12, "{what}");
                    assert_eq!(
                        m.patients,
                        10 * u64::from(protocol.trial.max_participants),
                        "{what}"
                    );
                    nof1 += 1;
                }
            }
        }
    }
    assert!(platform >= 8, "{platform} platform scenarios ran");
    assert!(nof1 >= 2, "{nof1} n-of-1 scenarios ran");
}
