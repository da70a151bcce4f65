//! The command line as a user runs it: exit codes, messages and the posterior calculator's JSON.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

#[path = "common/cli.rs"]
mod cli;

use cli::bayestrial;
use std::process::Output;

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("valid JSON on stdout")
}

#[test]
fn validate_accepts_the_shipped_protocols() {
    let mut files: Vec<String> = std::fs::read_dir("protocols")
        .expect("protocols/")
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    let args: Vec<&str> = std::iter::once("validate")
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = bayestrial(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_reports_file_line_and_column_and_exits_1() {
    let broken = "tests/protocols/broken/inferiority-above-one-over-arms.toml";
    let out = bayestrial(&["validate", "protocols/three-arm-pbest.toml", broken]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{broken}:")), "{stderr}");
    assert!(stderr.contains("decision.inferiority"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(bayestrial(&["validate"]).status.code(), Some(2));
    assert_eq!(
        bayestrial(&["posterior", "--outcome", "binary"])
            .status
            .code(),
        Some(2)
    );
    let out = bayestrial(&["posterior", "--outcome", "binary", "--arm", "A=60/58"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("successes cannot exceed trials"));
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "binary",
        "--arm",
        "A=1/5",
        "--control",
        "Z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not one of the arms"));
}

#[test]
fn posterior_json_has_the_documented_fields() {
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "binary",
        "--prior-beta",
        "1,1",
        "--arm",
        "A=29/58",
        "--arm",
        "B=40/59",
        "--arm",
        "C=34/61",
        "--control",
        "A",
        "--delta",
        "0.1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    let arms = report["arms"].as_array().expect("arms");
    assert_eq!(arms.len(), 3);
    assert_eq!(arms[1]["id"], "B");
    assert_eq!(arms[1]["posterior"]["a"], 41.0);
    assert_eq!(arms[1]["posterior"]["b"], 20.0);
    let sum: f64 = arms
        .iter()
        .map(|a| a["p_best"].as_f64().expect("p_best"))
        .sum();
    assert!((sum - 1.0).abs() < 1e-9);
    assert!(
        arms[0].get("p_better_than_control").is_none(),
        "not on the control's own row"
    );
    for arm in &arms[1..] {
        let p = arm["p_better_than_control"]
            .as_f64()
            .expect("p_better_than_control");
        assert!((0.0..=1.0).contains(&p));
        assert!(arm["p_equivalent_to_control"].as_f64().is_some());
        let ci = arm["ci95"].as_array().expect("ci95");
        assert!(ci[0].as_f64() < arm["mean"].as_f64() && arm["mean"].as_f64() < ci[1].as_f64());
    }
    // Without --delta there is no equivalence probability.
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "binary",
        "--arm",
        "A=1/4",
        "--arm",
        "B=3/4",
        "--control",
        "A",
        "--json",
    ]);
    let report = json(&out);
    assert!(report["arms"][1].get("p_equivalent_to_control").is_none());
    assert!(report["arms"][1]["p_better_than_control"]
        .as_f64()
        .is_some());
}

#[test]
fn posterior_handles_continuous_and_count_arms_and_lower_is_better() {
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "continuous",
        "--arm",
        "X=1.2,0.8,30",
        "--arm",
        "Y=1.5,0.9,28",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["arms"][0]["posterior"]["family"], "student_t");
    let higher = report["arms"][1]["p_best"].as_f64().expect("p_best");
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "continuous",
        "--arm",
        "X=1.2,0.8,30",
        "--arm",
        "Y=1.5,0.9,28",
        "--better",
        "lower",
        "--json",
    ]);
    let lower = json(&out)["arms"][1]["p_best"].as_f64().expect("p_best");
    assert!(
        (higher + lower - 1.0).abs() < 1e-9,
        "two arms: P(best) flips with the direction"
    );
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "count",
        "--arm",
        "X=12/100",
        "--arm",
        "Y=5/120",
        "--better",
        "lower",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("Gamma(12.5"), "{table}");
}

/// `validate --strata` lists a precision design's strata with their arms and signatures, and
/// each signature's strata, as the selections expand.
#[test]
fn validate_lists_the_strata_of_a_precision_design() {
    let out = bayestrial(&[
        "validate",
        "--strata",
        "tests/protocols/precision-two-biomarkers.toml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "ok (precision platform design, 3 arms, 3 strata, 1 signature)",
        "    HR=pos HER2=neg: ctl, b; all",
        "    HR=neg HER2=pos: ctl, a, b; all",
        "    all = all: HR=pos HER2=neg; HR=neg HER2=pos; HR=neg HER2=neg",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
}
