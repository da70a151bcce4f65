//! `bayestrial predictive` as a user runs it: the published single-arm example, the JSON key
//! `predictive_probability` in every mode, and clear errors on bad input.

#[path = "common/cli.rs"]
mod cli;

use std::process::Output;

/// `bayestrial predictive ARGS…`.
fn predictive(args: &[&str]) -> Output {
    let mut all = vec!["predictive"];
    all.extend_from_slice(args);
    cli::bayestrial(&all)
}

fn json(args: &[&str]) -> serde_json::Value {
    cli::json(&predictive(args))
}

fn refused(args: &[&str], needle: &str) {
    let output = predictive(args);
    assert_eq!(output.status.code(), Some(2), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

const LEE_LIU: [&str; 12] = [
    "--prior-beta",
    "0.6,0.4",
    "--successes",
    "16",
    "--n",
    "23",
    "--n-max",
    "40",
    "--p0",
    "0.6",
    "--threshold",
    "0.9",
];

#[test]
fn lee_and_liu_2008_through_the_command_line() {
    // Lee & Liu (2008), Clinical Trials 5:93–106: PP = 0.5656.
    let mut args = LEE_LIU.to_vec();
    args.push("--json");
    let report = json(&args);
    let pp = report["predictive_probability"].as_f64().expect("a number");
    assert!((pp - 0.5656).abs() < 5e-5, "{pp}");
    let table = report["table"].as_array().expect("the table");
    assert_eq!(table.len(), 18);
    assert_eq!(report["smallest_success"], 12);
    let output = predictive(&LEE_LIU);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("predictive probability = 0.565559"), "{text}");
}

#[test]
fn two_arm_and_future_modes_answer_predictive_probability() {
    let two = json(&[
        "--arm",
        "T=12/20",
        "--control",
        "C=8/20",
        "--n-max-per-arm",
        "40",
        "--threshold",
        "0.95",
        "--prior-beta",
        "0.5,0.5",
        "--control-prior-beta",
        "1,1",
        "--json",
    ]);
    let pp = two["predictive_probability"].as_f64().expect("a number");
    assert!((pp - 0.529_609_160_521_883_7).abs() < 1e-9, "{pp}");
    let future = json(&[
        "--future-n",
        "150",
        "--alpha",
        "0.025",
        "--arm",
        "T=13,9",
        "--control",
        "C=6,16",
        "--json",
    ]);
    let pp = future["predictive_probability"].as_f64().expect("a number");
    assert!((pp - 0.915_642_246_831_951_4).abs() < 1e-6, "{pp}");
    let normal = json(&[
        "--future-n",
        "150",
        "--alpha",
        "0.025",
        "--effect-normal",
        "0.8,0.4",
        "--effect-scale",
        "logit",
        "--control-rate",
        "0.2",
        "--json",
    ]);
    assert!(normal["predictive_probability"].as_f64().is_some());
}

#[test]
fn bad_input_is_refused_with_the_flag_named() {
    let mut more_successes = LEE_LIU.to_vec();
    more_successes[3] = "24";
    refused(&more_successes, "--successes");
    let mut beyond = LEE_LIU.to_vec();
    beyond[7] = "20";
    refused(&beyond, "cannot exceed --n-max 20");
    let mut p0 = LEE_LIU.to_vec();
    p0[9] = "1.2";
    refused(&p0, "--p0");
    let mut huge = LEE_LIU.to_vec();
    huge[7] = "200000";
    refused(&huge, "at most 100000");
    let mut mixed = LEE_LIU.to_vec();
    mixed.extend(["--future-n", "100"]);
    refused(&mixed, "does not belong");
    refused(
        &[
            "--arm",
            "T=5/4",
            "--control",
            "C=1/4",
            "--n-max-per-arm",
            "10",
            "--threshold",
            "0.9",
        ],
        "--arm",
    );
    refused(
        &[
            "--future-n",
            "100",
            "--alpha",
            "1.5",
            "--arm",
            "T=1,1",
            "--control",
            "C=1,1",
        ],
        "--alpha",
    );
    refused(&[], "choose a mode");
}
