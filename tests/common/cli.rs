//! Running the built `bayestrial` binary as a user does, for the command-line tests: one copy of
//! the runner, the JSON reader and the scratch CSV file. Included by path
//! (`#[path = "common/cli.rs"] mod cli;`) so that a command-line test does not compile the web
//! and database helpers of [`super`].

#![allow(dead_code, reason = "each test binary uses part of the helpers")]

use std::io::Write;
use std::process::{Command, Output};

/// Runs the binary with `args` and returns what it printed and its exit status.
pub fn bayestrial(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the binary runs: {e}"))
}

/// The JSON printed on stdout by a run that must have exited 0 (else the test fails with its
/// stderr).
pub fn json(output: &Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("valid JSON on stdout: {e}"))
}

/// What a run printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A scratch `.csv` file holding `text`, deleted when dropped.
pub fn csv_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".csv")
        .tempfile()
        .unwrap_or_else(|e| panic!("a scratch file: {e}"));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write the CSV: {e}"));
    file
}

/// A scratch file's path as a command-line argument.
pub fn path(file: &tempfile::NamedTempFile) -> &str {
    file.path()
        .to_str()
        .unwrap_or_else(|| panic!("a UTF-8 path"))
}
