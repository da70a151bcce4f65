//! The n-of-1 simulator: determinism across thread counts, a small per-patient false benefit
//! rate when the treatments are equal, power when one is better, and the command line's JSON,
//! text and HTML output.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use std::path::Path;
use std::process::Command;

use bayestrial::protocol::{LoadedProtocol, Protocol};
use bayestrial::sim::{
    simulate, simulate_nof1, Nof1SimulationReport, Selection, SimError, SimScenario, SimulationPlan,
};

const PAIN: &str = "protocols/nof1-pain.toml";

fn pain() -> Protocol {
    LoadedProtocol::load(Path::new(PAIN))
        .expect("protocol")
        .protocol
}

/// The shipped protocol with series of `patients` patients (the per-patient operating
/// characteristics do not depend on it; the series look's cost grows with its square).
fn pain_with(patients: u32) -> Protocol {
    let text = std::fs::read_to_string(PAIN).expect("read").replace(
        "max_participants = 30",
        &format!("max_participants = {patients}"),
    );
    Protocol::from_toml(&text, PAIN).expect("valid")
}

fn plan(
    protocol: &Protocol,
    scenario: &str,
    reps: u64,
    seed: u64,
    threads: usize,
) -> SimulationPlan {
    SimulationPlan {
        scenario: SimScenario::from_protocol(protocol, scenario, &[]).expect("scenario"),
        reps,
        seed,
        threads,
        selection: Selection::BestRemaining,
    }
}

fn run(
    protocol: &Protocol,
    scenario: &str,
    reps: u64,
    seed: u64,
    threads: usize,
) -> Nof1SimulationReport {
    simulate_nof1(
        protocol,
        "hash",
        &plan(protocol, scenario, reps, seed, threads),
        &|| {},
    )
    .expect("simulation")
}

#[test]
fn the_same_seed_gives_the_same_json_with_any_thread_count() {
    let protocol = pain_with(8);
    let text = |r: &Nof1SimulationReport| serde_json::to_string(r).expect("json");
    let one = run(&protocol, "ibuprofen-better", 16, 42, 1);
    let two = run(&protocol, "ibuprofen-better", 16, 42, 2);
    assert_eq!(text(&one), text(&two));
    let other = run(&protocol, "ibuprofen-better", 16, 43, 2);
    assert_ne!(text(&one), text(&other));
    assert_eq!(one.nof1.patients, 16 * 8);
}

#[test]
fn patient_ends_are_a_partition_and_cycles_are_in_range() {
    let protocol = pain_with(10);
    let report = run(&protocol, "ibuprofen-better", 20, 5, 2);
    let m = &report.nof1;
    let total = m.prob_benefit + m.prob_equivalence + m.prob_completed + m.prob_withdrawn;
    assert!((total - 1.0).abs() < 1e-12, "{total}");
    let by_treatment: f64 = m.prob_benefit_by_treatment.values().sum();
    assert!((by_treatment - m.prob_benefit).abs() < 1e-12);
    let correct = m.prob_correct_benefit.expect("ibuprofen is better");
    assert!((correct + m.prob_wrong_benefit - m.prob_benefit).abs() < 1e-12);
    assert_eq!(m.better_treatment.as_deref(), Some("ibuprofen"));
    assert!(m.cycles.min >= 0.0 && m.cycles.max <= 4.0);
    let shares: f64 = m.cycles_distribution.values().sum();
    assert!((shares - 1.0).abs() < 1e-9);
    // Stopping rules apply from cycle 2: a patient who is not withdrawn has 2 to 4 cycles.
    let early: f64 = m
        .cycles_distribution
        .iter()
        .filter(|(&k, _)| k < 2)
        .map(|(_, &p)| p)
        .sum();
    assert!(early <= m.prob_withdrawn + 1e-12);
    assert_eq!(m.benefit_at_final_look, None);
    assert_eq!(m.series.treatment, "ibuprofen");
    assert_eq!(m.series.versus, "paracetamol");
}

#[test]
fn equal_treatments_rarely_give_a_benefit_and_a_better_one_often_does() {
    let protocol = pain_with(10);
    let null = run(&protocol, "no-difference", 100, 11, 2);
    let m = &null.nof1;
    eprintln!(
        "no-difference: false benefit {:.4} ± {:.4}, equivalence {:.4} ± {:.4}, cycles {:.2}, \
         series detect {:.4} ± {:.4}",
        m.prob_wrong_benefit,
        m.mcse.prob_wrong_benefit,
        m.prob_equivalence,
        m.mcse.prob_equivalence,
        m.cycles.mean,
        m.series.prob_detect,
        m.series.mcse.prob_detect
    );
    assert_eq!(m.better_treatment, None);
    assert_eq!(m.prob_correct_benefit, None);
    assert_eq!(m.prob_wrong_benefit, m.prob_benefit);
    // A benefit beyond the 1-point MCID needs an estimate near 2 points when the truth is 0.
    assert!(
        m.prob_wrong_benefit < 0.02 + 3.0 * m.mcse.prob_wrong_benefit,
        "false benefit rate {} ± {}",
        m.prob_wrong_benefit,
        m.mcse.prob_wrong_benefit
    );
    // Equal treatments mostly end for equivalence (within the MCID).
    assert!(m.prob_equivalence > 0.5, "{}", m.prob_equivalence);
    assert!(m.series.prob_beyond_mcid < 0.1);
    let e = m.series.estimate.expect("series estimate");
    assert_eq!(e.truth, 0.0);
    assert!(e.bias.abs() < 0.25, "population bias {}", e.bias);

    let better = run(&protocol, "ibuprofen-better", 100, 12, 2);
    let m = &better.nof1;
    let power = m.prob_correct_benefit.expect("ibuprofen is better");
    let se = m.mcse.prob_correct_benefit.expect("MCSE");
    eprintln!(
        "ibuprofen-better: power {power:.4} ± {se:.4}, wrong {:.4}, equivalence {:.4}, \
         withdrawn {:.4}, cycles {:.2}, series detect {:.4}, beyond MCID {:.4}, tau {:?}",
        m.prob_wrong_benefit,
        m.prob_equivalence,
        m.prob_withdrawn,
        m.cycles.mean,
        m.series.prob_detect,
        m.series.prob_beyond_mcid,
        m.series.tau_mean
    );
    // A 1.5-point effect against a 1-point MCID: with 7 measurements per period and SD 1.5 the
    // final look alone (28 per treatment, posterior SD ≈ 0.4) concludes benefit with
    // probability ≈ Φ(−0.4) ≈ 0.35, and the looks after cycles 2 and 3 add to it.
    assert!(
        power - 3.0 * se > 0.3 && power + 3.0 * se < 0.6,
        "per-patient power {power} ± {se}"
    );
    assert!(m.prob_wrong_benefit < 0.01 + 3.0 * m.mcse.prob_wrong_benefit);
    // Early stopping (mostly for equivalence when the treatments are equal) shortens the
    // patients' trials below the 4 planned cycles.
    assert!(
        null.nof1.cycles.mean + 3.0 * null.nof1.mcse.cycles_mean < 3.5,
        "{}",
        null.nof1.cycles.mean
    );
    assert!(m.cycles.mean + 3.0 * m.mcse.cycles_mean < 4.0);
    // 10 patients with a 1.5-point effect: the series finds it nearly every time.
    assert!(m.series.prob_detect_correct.expect("direction") > 0.95);
    let e = m.series.estimate.expect("series estimate");
    assert_eq!(e.truth, -1.5);
    assert!(e.bias.abs() < 0.3, "population bias {}", e.bias);
    // 5% dropout, at a period drawn uniformly.
    assert!(m.prob_withdrawn > 0.0 && m.prob_withdrawn < 0.05 + 3.0 * m.mcse.prob_withdrawn);
}

#[test]
fn the_platform_simulator_refuses_an_n_of_1_protocol_and_the_other_way_round() {
    let protocol = pain();
    let error = simulate(
        &protocol,
        "hash",
        &plan(&protocol, "no-difference", 1, 1, 1),
        &|| {},
    )
    .expect_err("not a platform protocol");
    assert!(matches!(error, SimError::Design(_)), "{error}");
    let platform = LoadedProtocol::load(Path::new("protocols/three-arm-pbest.toml"))
        .expect("protocol")
        .protocol;
    let error = simulate_nof1(&platform, "hash", &plan(&platform, "null", 1, 1, 1), &|| {})
        .expect_err("not an n-of-1 protocol");
    assert!(matches!(error, SimError::Design(_)), "{error}");
}

fn bayestrial(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running bayestrial: {e}"))
}

#[test]
fn the_command_line_prints_writes_json_and_an_html_report() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut pages = Vec::new();
    let mut jsons = Vec::new();
    for threads in ["1", "2"] {
        let html = dir.path().join(format!("report-{threads}.html"));
        let json = dir.path().join(format!("report-{threads}.json"));
        let output = bayestrial(&[
            "simulate",
            PAIN,
            "--scenario",
            "ibuprofen-better",
            "--reps",
            "6",
            "--seed",
            "9",
            "--threads",
            threads,
            "--report",
            html.to_str().expect("path"),
            "--json",
            json.to_str().expect("path"),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "simulate failed: {stderr}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        for needle in [
            "NOF1-PAIN",
            "6 series (180 patients)",
            "P(benefit of the better): power",
            "P(stop for equivalence)",
            "cycles per patient: mean",
            "P(population effect detected)",
        ] {
            assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
        }
        let text = std::fs::read_to_string(&json).expect("json");
        let value: serde_json::Value = serde_json::from_str(&text).expect("parse");
        jsons.push(text);
        assert!(value.get("metrics").is_none(), "no platform metrics");
        let nof1 = &value["nof1"];
        for key in [
            "prob_correct_benefit",
            "prob_wrong_benefit",
            "prob_equivalence",
            "cycles",
            "series",
            "mcse",
        ] {
            assert!(nof1.get(key).is_some(), "missing nof1.{key}");
        }
        assert!(nof1["series"]["estimate"]["bias"].is_number());
        assert_eq!(value["truth"]["ibuprofen"], 3.5);
        let page = std::fs::read_to_string(&html).expect("html");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg").count(), 2);
        for needle in [
            "NOF1-PAIN",
            "n-of-1 schedule",
            "per-patient power",
            "Operating characteristics of the series",
        ] {
            assert!(page.contains(needle), "missing {needle:?}");
        }
        assert!(!page.contains("Selection rule"));
        pages.push(page);
    }
    assert!(
        pages[0] == pages[1],
        "the report differs between 1 and 2 threads"
    );
}
