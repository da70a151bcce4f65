//! The bayestrial command line: one binary for validating protocols, computing posteriors and,
//! as later layers land, simulating, serving, replaying and exporting trials.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let command = cli::Cli::parse();
    cli::init_tracing();
    command.run()
}
