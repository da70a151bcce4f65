//! How a calculator answers: its report as JSON with `--json`, else as its table; an error on
//! stderr with the calculator's exit code. One copy for `posterior`, `nof1 analyse`, `borrow`
//! and `predictive`.
//!
//! A leaf: it imports no subcommand.

use std::fmt::Display;
use std::process::ExitCode;

use serde::Serialize;

/// Prints `result`: the report as pretty JSON (when `json`) or through `table`, exit 0; or the
/// error on stderr with `exit_code(error)`. A report that cannot be encoded is exit 1.
pub(super) fn answer<R: Serialize, E: Display>(
    result: Result<R, E>,
    json: bool,
    table: impl FnOnce(&R),
    exit_code: impl FnOnce(&E) -> u8,
) -> ExitCode {
    match result {
        Ok(report) if json => match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: could not encode the report: {error}");
                ExitCode::from(1)
            }
        },
        Ok(report) => {
            table(&report);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(exit_code(&error))
        }
    }
}
