//! Calibration of the three-arm P(best) protocol in its null scenario, through the library and
//! through `bayestrial calibrate`. Every assertion holds by construction of the search (common
//! random numbers make each evaluation a deterministic function of the threshold), not by luck
//! of the seed.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use std::path::Path;
use std::process::{Command, Output};

use bayestrial::protocol::{LoadedProtocol, Protocol, Threshold};
use bayestrial::sim::{calibrate, simulate, Selection, SimScenario, SimulationPlan};

const PROTOCOL: &str = "protocols/three-arm-pbest.toml";
const TARGET: f64 = 0.05;
const REPS: u64 = 200;

fn plan(protocol: &Protocol, seed: u64) -> SimulationPlan {
    SimulationPlan {
        scenario: SimScenario::from_protocol(protocol, "null", &[]).expect("scenario null"),
        reps: REPS,
        seed,
        threads: 1,
        selection: Selection::BestRemaining,
    }
}

/// P(superiority) from the ordinary simulator.
fn prob_superiority(protocol: &Protocol, plan: &SimulationPlan) -> f64 {
    simulate(protocol, "", plan, &|| {})
        .expect("simulation runs")
        .metrics
        .prob_superiority
}

fn bayestrial(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn calibrated_threshold_meets_the_target_and_the_step_below_misses_it() {
    let loaded = LoadedProtocol::load(Path::new(PROTOCOL)).expect("protocol loads");
    let protocol = &loaded.protocol;
    let plan = plan(protocol, 1);
    let c = calibrate(protocol, &plan, TARGET, &|| {}).expect("calibrates");

    assert!(c.achieved <= TARGET, "{c:?}");
    assert!(c.lower < c.threshold && c.threshold <= c.upper);
    assert_eq!(
        c.mcse,
        (c.achieved * (1.0 - c.achieved) / REPS as f64).sqrt()
    );
    assert_eq!(c.evaluations, c.probes.len());

    // Common random numbers: the simulator, run on the calibrated protocol with the same plan,
    // gives exactly the calibrated value.
    assert_eq!(prob_superiority(&c.apply(protocol), &plan), c.achieved);

    // The evaluated threshold just below (at most 1e-4 lower) misses the target, and so does the
    // simulator there; so does every other evaluated threshold below the answer.
    let below = c
        .below
        .expect("the lower end (2/3) misses the target in this design");
    assert!(below.threshold < c.threshold && c.threshold - below.threshold <= 1e-4 + 1e-12);
    assert!(below.achieved > TARGET, "{below:?}");
    assert_eq!(
        prob_superiority(&below.apply(protocol), &plan),
        below.achieved
    );
    for probe in c.probes.iter().filter(|p| p.threshold < c.threshold) {
        assert!(probe.achieved > TARGET, "{probe:?}");
    }

    // The rewritten protocol text carries exactly the simulated thresholds.
    let text = c
        .rewrite_toml(&loaded.source, "calibrated.toml")
        .expect("rewrites");
    let rewritten = Protocol::from_toml(&text, "calibrated.toml").expect("validates");
    assert_eq!(rewritten, c.apply(protocol));
}

#[test]
fn cli_writes_a_valid_protocol_with_the_calibrated_thresholds() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("calibrated.toml");
    let json = dir.path().join("calibration.json");
    let output = bayestrial(&[
        "calibrate",
        PROTOCOL,
        "--scenario",
        "null",
        "--target",
        "0.05",
        "--reps",
        "200",
        "--seed",
        "2",
        "--threads",
        "1",
        "--write",
        out.to_str().expect("UTF-8 path"),
        "--json",
        json.to_str().expect("UTF-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("superiority threshold"), "{stdout}");
    assert!(stdout.contains("MCSE"), "{stdout}");

    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
            .expect("valid JSON");
    let number = |key: &str| result[key].as_f64().expect("a number");
    let (threshold, inferiority, achieved) = (
        number("threshold"),
        number("inferiority"),
        number("achieved"),
    );
    assert!(achieved <= TARGET, "{result}");

    // The written file validates, keeps the original's comments and carries the thresholds.
    let written = LoadedProtocol::load(&out).expect("the written protocol validates");
    let original = std::fs::read_to_string(PROTOCOL).expect("original");
    assert!(written.source.starts_with(
        original
            .lines()
            .next()
            .expect("the protocol starts with a comment")
    ));
    assert_eq!(written.source.lines().count(), original.lines().count());
    let decision = &written.protocol.decision;
    assert_eq!(decision.superiority, Some(Threshold::Constant(threshold)));
    assert_eq!(decision.inferiority, Some(Threshold::Constant(inferiority)));
    // Only the temporary-free result is left in the directory.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["calibrated.toml", "calibration.json"]);

    // Simulating the written file reproduces the calibrated P(superiority).
    assert_eq!(
        prob_superiority(&written.protocol, &plan(&written.protocol, 2)),
        achieved
    );
}

#[test]
fn cli_reports_an_unreachable_target_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("calibrated.toml");
    let out_arg = out.to_str().expect("UTF-8 path");
    // One arm far better than the others: even 0.99999 declares it superior every time.
    let output = bayestrial(&[
        "calibrate",
        PROTOCOL,
        "--scenario",
        "null",
        "--truth",
        "brief=0.05",
        "--truth",
        "phone=0.95",
        "--truth",
        "app=0.05",
        "--reps",
        "10",
        "--threads",
        "1",
        "--write",
        out_arg,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no symmetric threshold meets the target"),
        "{stderr}"
    );
    assert!(stderr.contains("0.99999"), "{stderr}");
    assert!(!out.exists());

    let output = bayestrial(&[
        "calibrate",
        PROTOCOL,
        "--scenario",
        "null",
        "--target",
        "1.5",
        "--write",
        out_arg,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "nothing is left behind"
    );
}

/// A precision design calibrates its graduation threshold against P(any arm graduates in any
/// signature) in its null scenario: the calibrated threshold meets the target, the step below
/// misses it, the ordinary simulator gives the same probability with it, and `--write` writes
/// it to `[graduation] threshold`.
#[test]
fn a_precision_design_calibrates_its_graduation_threshold() {
    let path = "protocols/precision-ispy2.toml";
    let loaded = LoadedProtocol::load(Path::new(path)).expect("protocol loads");
    let protocol = &loaded.protocol;
    let mut plan = plan(protocol, 3);
    plan.reps = 60;
    let target = 0.10;
    let c = calibrate(protocol, &plan, target, &|| {}).expect("calibrates");
    assert_eq!(c.calibrated, bayestrial::sim::Calibrated::Graduation);
    assert!(c.achieved <= target, "{c:?}");
    assert_eq!(c.inferiority, None);
    let below = c.below.expect("a step below");
    assert!(below.achieved > target && c.threshold - below.threshold <= 1e-4 + 1e-12);
    let again = simulate(&c.apply(protocol), "", &plan, &|| {}).expect("simulates");
    assert_eq!(again.metrics.prob_graduate_any, Some(c.achieved));
    let original = simulate(protocol, "", &plan, &|| {}).expect("simulates");
    assert!(original.metrics.prob_graduate_any.expect("graduation") > target);

    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("calibrated.toml");
    let output = bayestrial(&[
        "calibrate",
        path,
        "--scenario",
        "null",
        "--target",
        "0.1",
        "--reps",
        "60",
        "--seed",
        "3",
        "--threads",
        "1",
        "--write",
        out.to_str().expect("a UTF-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("graduation threshold"), "{stdout}");
    assert!(stdout.contains("P(any graduation)"), "{stdout}");
    let written = LoadedProtocol::load(&out).expect("the written protocol loads");
    let graduation = written
        .protocol
        .precision
        .as_ref()
        .and_then(|p| p.graduation)
        .expect("graduation");
    assert_eq!(graduation.threshold, c.threshold);
}
