//! `bayestrial simulate --report`: the HTML report is written, has its charts, and does not
//! depend on the number of threads.

use std::path::Path;
use std::process::Command;

fn simulate_with_report(threads: &str, out: &Path) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .current_dir(root)
        .args([
            "simulate",
            "protocols/three-arm-pbest.toml",
            "--scenario",
            "null",
            "--reps",
            "50",
            "--seed",
            "3",
            "--threads",
            threads,
            "--report",
        ])
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("running bayestrial: {e}"));
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()))
}

#[test]
fn report_is_html_with_charts_and_independent_of_threads() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let one = simulate_with_report("1", &dir.path().join("one.html"));
    let two = simulate_with_report("2", &dir.path().join("two.html"));
    assert!(one.starts_with("<!DOCTYPE html>"));
    assert!(one.contains("<svg"));
    assert_eq!(one.matches("<svg").count(), 3);
    assert!(one.contains("PBEST-3ARM"));
    assert!(one == two, "the report differs between 1 and 2 threads");
}

#[test]
fn unwritable_report_path_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("missing-dir").join("report.html");
    let output = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "simulate",
            "protocols/three-arm-pbest.toml",
            "--scenario",
            "null",
            "--reps",
            "5",
            "--threads",
            "1",
            "--report",
        ])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("running bayestrial: {e}"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing-dir"),
        "stderr does not name the path: {stderr}"
    );
}
