//! Subcommands. Each one parses its arguments into domain types, makes one call into the library
//! and prints the result; none of them holds a rule of the trial.

mod borrow;
mod calibrate;
mod common;
mod export;
mod live;
mod nof1;
mod output;
mod posterior;
mod predictive;
mod prior;
mod serve;
mod simulate;
mod validate;
mod witness;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Bayesian adaptive clinical trials: platform and n-of-1 designs.
#[derive(Debug, Parser)]
#[command(name = "bayestrial", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web app: pages, JSON API and the e-mail sender. On first start it creates the
    /// database, an admin account (its password printed once) and the demo trials (one of them
    /// already running, with simulated participants).
    Serve(serve::ServeArgs),
    /// Check protocol files; exit 0 when all are valid, 1 with the messages when any is not.
    Validate(validate::ValidateArgs),
    /// Posterior calculator: summaries, P(best), P(worst) and comparisons with a control.
    Posterior(posterior::PosteriorArgs),
    /// Priors from historical data: MAP priors and effective sample sizes.
    #[command(subcommand)]
    Prior(prior::PriorCommand),
    /// Predictive probability of success: a single-arm or two-arm trial at its maximum size,
    /// or a future confirmatory trial (posterior expected power).
    Predictive(predictive::PredictiveArgs),
    /// n-of-1 analyses of measurement files.
    #[command(subcommand)]
    Nof1(nof1::Nof1Command),
    /// Borrowing across strata: the hierarchical model or EXNEX, exactly by quadrature.
    Borrow(borrow::BorrowArgs),
    /// Simulate a protocol in one scenario: operating characteristics with MC standard errors.
    Simulate(simulate::SimulateArgs),
    /// Calibrate the symmetric superiority/inferiority threshold to a target P(superiority).
    Calibrate(calibrate::CalibrateArgs),
    /// Create the database if needed and apply pending migrations.
    Migrate(live::MigrateArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(live::UserCommand),
    /// Verify the audit trail (or an export file, offline).
    #[command(subcommand)]
    Audit(live::AuditCommand),
    /// Replay stored trials (or an unblinded export file, offline) through the engine and
    /// compare every derived event.
    Replay(live::ReplayArgs),
    /// Export a trial: CDISC ODM 1.3.2, JSON Lines, CSV or the regulatory package.
    Export(export::ExportArgs),
    /// Benchmarks of the live service.
    #[command(subcommand)]
    Bench(live::BenchCommand),
}

impl Cli {
    /// Runs the chosen subcommand and returns the process exit code.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Serve(args) => serve::run(&args),
            Command::Validate(args) => validate::run(&args),
            Command::Posterior(args) => posterior::run(&args),
            Command::Prior(command) => prior::run(&command),
            Command::Predictive(args) => predictive::run(&args),
            Command::Nof1(command) => nof1::run(&command),
            Command::Borrow(args) => borrow::run(&args),
            Command::Simulate(args) => simulate::run(&args),
            Command::Calibrate(args) => calibrate::run(&args),
            Command::Migrate(args) => live::migrate(&args),
            Command::User(command) => live::user(&command),
            Command::Audit(command) => live::audit(&command),
            Command::Replay(args) => live::replay(&args),
            Command::Export(args) => export::export(&args),
            Command::Bench(command) => live::bench(&command),
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
