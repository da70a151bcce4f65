//! The live-trial commands: `migrate`, `user add`, `audit verify`, `audit public-key`,
//! `replay` and `bench randomise` / `bench export`. Each opens the service on the database URL,
//! makes one call and prints the answer; `audit verify --export FILE` and `replay FILE` check an
//! export file instead, with no database (see `export.rs`). Exit codes: 0 success, 1 a
//! verification or replay failure, 2 an error (bad input, no database, an unreadable file).

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use bayestrial::audit::PublicKey;
use bayestrial::service::{
    bench_randomise, Actor, NewUser, Password, Role, Service, ServiceConfig, ServiceError,
    Username, VerifyOptions,
};
use bayestrial::store::{self, DatabaseUrl};

use super::common::{fail, DatabaseArgs};

/// `bayestrial migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Creates the database if needed and runs pending migrations.
pub fn migrate(args: &MigrateArgs) -> ExitCode {
    let result = DatabaseUrl::parse(&args.database.database_url).and_then(|url| {
        let mut conn = store::connect(&url)?;
        store::migrate(&mut conn, &url).map(|ran| (url, ran))
    });
    match result {
        Ok((url, ran)) => {
            println!(
                "{} database {}: {ran} migration(s) applied, schema up to date",
                url.backend(),
                url.display_target()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&ServiceError::Store(e)),
    }
}

/// `bayestrial user …`.
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Adds a user; the password is read from standard input.
    Add(UserAddArgs),
    /// Resets a user's password to a new random one, printed once; the user must choose a new
    /// password at their next login (also how to recover a lost admin password).
    ResetPassword(UserResetArgs),
}

/// `bayestrial user reset-password`.
#[derive(Debug, clap::Args)]
pub struct UserResetArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Whose password.
    username: String,
}

/// `bayestrial user add`.
#[derive(Debug, clap::Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Login name.
    #[arg(long)]
    username: String,
    /// admin, statistician, coordinator, pharmacist, dmc or regulator.
    #[arg(long)]
    role: String,
    /// The name printed on electronic signatures.
    #[arg(long)]
    name: String,
    /// E-mail address for notifications.
    #[arg(long)]
    email: String,
    /// Read the password from standard input (one line).
    #[arg(long, required = true)]
    password_stdin: bool,
}

/// Adds a user, or resets a user's password.
pub fn user(command: &UserCommand) -> ExitCode {
    match command {
        UserCommand::Add(args) => add_user(args),
        UserCommand::ResetPassword(args) => reset_password(args),
    }
}

/// Resets the password and prints the temporary one (once: it is stored only as a hash).
fn reset_password(args: &UserResetArgs) -> ExitCode {
    let result = args
        .database
        .open()
        .and_then(|service| service.reset_password(&Actor::command_line(), &args.username, None));
    match result {
        Ok(password) => {
            println!(
                "password of {} reset: temporary password \"{password}\" (printed once); \
                 they must choose a new one at their next login",
                args.username
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn add_user(args: &UserAddArgs) -> ExitCode {
    let mut password = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut password) {
        eprintln!("error: reading the password from standard input: {e}");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\n', '\r']);
    let result = (|| {
        let user = NewUser {
            username: Username::parse(&args.username)?,
            role: args.role.parse::<Role>()?,
            printed_name: args.name.clone(),
            email: args.email.clone(),
            password: Password::new(password)?,
        };
        let service = args.database.open()?;
        service.add_user(&Actor::command_line(), &user)
    })();
    match result {
        Ok(()) => {
            println!("user {} added as {}", args.username, args.role);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// `bayestrial audit …`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verifies every hash chain and signed checkpoint: exit 0, or 1 naming the first bad record.
    Verify(AuditVerifyArgs),
    /// Prints the server's public key (hex), which verifies its checkpoints.
    PublicKey(AuditKeyArgs),
}

/// `bayestrial audit verify`.
#[derive(Debug, clap::Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Only this trial's chain.
    #[arg(long, conflicts_with = "export")]
    trial: Option<String>,
    /// Verify this export file (JSON Lines or package) instead of the database, offline.
    #[arg(long, value_name = "FILE")]
    export: Option<std::path::PathBuf>,
    /// The server public key (64 hex digits, as `serve` printed at first start) the
    /// checkpoints must be signed with: of the database, instead of the key file next to it;
    /// of an export, instead of the key the file names.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// An earlier export (JSON Lines or package) that the database, or the export verified,
    /// must extend: every record and checkpoint it holds still there, unchanged. Repeatable.
    #[arg(long, value_name = "EARLIER_EXPORT")]
    against: Vec<std::path::PathBuf>,
    /// A witness file (repeatable): every signed head in it must be on its chain with the same
    /// hash and signed by the server's key (the pinned key with --public-key).
    #[arg(long, value_name = "FILE")]
    witness: Vec<std::path::PathBuf>,
}

/// `bayestrial audit public-key`.
#[derive(Debug, clap::Args)]
pub struct AuditKeyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Runs an audit subcommand.
pub fn audit(command: &AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify(args) => {
            let pinned = match args.public_key.as_deref().map(str::parse::<PublicKey>) {
                None => None,
                Some(Ok(key)) => Some(key),
                Some(Err(e)) => {
                    eprintln!("error: --public-key: {e}");
                    return ExitCode::from(2);
                }
            };
            let against = match super::export::read_earlier(&args.against, pinned.as_ref()) {
                Ok(against) => against,
                Err(code) => return code,
            };
            if let Some(file) = &args.export {
                let code = super::export::verify_offline(file, pinned.as_ref(), &against);
                if code != ExitCode::SUCCESS || args.witness.is_empty() {
                    return code;
                }
                return super::witness::verify_export_witnesses(
                    file,
                    args.public_key.as_deref(),
                    &args.witness,
                );
            }
            let service = match args.database.open() {
                Ok(service) => service,
                Err(e) => return fail(&e),
            };
            let options = VerifyOptions {
                trial: args.trial.clone(),
                public_key: pinned,
                against,
            };
            match service.verify_with(&options) {
                Ok(report) => match &report.problem {
                    None => {
                        println!(
                            "ok: {} chain(s), {} record(s), {} checkpoint(s) verified",
                            report.chains, report.records, report.checkpoints
                        );
                        match super::witness::verify_witnesses(
                            &service,
                            &args.witness,
                            pinned.as_ref(),
                        ) {
                            code if code == ExitCode::SUCCESS => {
                                projections(&service, args.trial.as_deref())
                            }
                            code => code,
                        }
                    }
                    Some(problem) => {
                        println!("FAILED: {problem}");
                        ExitCode::from(1)
                    }
                },
                Err(e) => fail(&e),
            }
        }
        AuditCommand::PublicKey(args) => match args.database.open() {
            Ok(service) => {
                println!("{}", service.public_key().to_hex());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

/// The second half of `audit verify` on a database: the projection tables the pages show,
/// re-derived from the verified chains; every row that differs is printed.
fn projections(service: &Service, trial: Option<&str>) -> ExitCode {
    match service.check_projections(trial) {
        Ok(report) if report.differences.is_empty() => {
            println!(
                "ok: {} projection row(s) of {} trial(s) re-derived from the chains",
                report.rows, report.trials
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for difference in &report.differences {
                println!("FAILED: {difference}");
            }
            println!(
                "FAILED: {} of {} projection row(s) differ from the chains",
                report.differences.len(),
                report.rows
            );
            ExitCode::from(1)
        }
        Err(e) => fail(&e),
    }
}

/// `bayestrial replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Only this trial.
    #[arg(long, conflicts_with = "file")]
    trial: Option<String>,
    /// Replay this unblinded export file (JSON Lines or package) instead of the database,
    /// offline.
    #[arg(value_name = "FILE")]
    file: Option<std::path::PathBuf>,
}

/// Replays every trial through the engine.
pub fn replay(args: &ReplayArgs) -> ExitCode {
    if let Some(file) = &args.file {
        return super::export::replay_offline(file);
    }
    match args
        .database
        .open()
        .and_then(|service| service.replay(args.trial.as_deref()))
    {
        Ok(Ok(trials)) => {
            for (trial, events) in &trials {
                println!("{trial}: {events} events replayed, every allocation, draw and decision matches");
            }
            println!("ok: {} trial(s) replayed", trials.len());
            ExitCode::SUCCESS
        }
        Ok(Err(problem)) => {
            println!("FAILED: {problem}");
            ExitCode::from(1)
        }
        Err(e) => fail(&e),
    }
}

/// `bayestrial bench …`.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Durable enrol-and-randomise throughput and latency on a throw-away trial.
    Randomise(BenchRandomiseArgs),
    /// Export and offline-verification times on a throw-away trial (default 10,000
    /// participants).
    Export(super::export::BenchExportArgs),
}

/// `bayestrial bench randomise`.
#[derive(Debug, clap::Args)]
pub struct BenchRandomiseArgs {
    /// The database (default: a throw-away SQLite file in the temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Participants to enrol.
    #[arg(long, default_value_t = 2000)]
    participants: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
}

/// Runs the benchmark and prints its figures.
pub fn bench(command: &BenchCommand) -> ExitCode {
    let args = match command {
        BenchCommand::Randomise(args) => args,
        BenchCommand::Export(args) => return super::export::bench(args),
    };
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let scratch = std::env::temp_dir().join(format!("bayestrial-bench-{tag}"));
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| scratch.join("bench.db").display().to_string());
    let result = DatabaseUrl::parse(&url).map(|url| {
        let mut config = ServiceConfig::new(url);
        config.data_dir = scratch.clone();
        config.pool_size = args.concurrency.clamp(1, 64) + 1;
        config
    });
    let report = match result {
        Ok(config) => Service::open(config).map(Arc::new).and_then(|service| {
            bench_randomise(&service, args.participants, args.concurrency, &tag)
        }),
        Err(e) => Err(ServiceError::Store(e)),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    match report {
        Ok(report) => {
            println!(
                "{} randomise: {} participants, {} client(s): {:.0} participants/s, p50 {:.2} ms, p99 {:.2} ms",
                report.backend,
                report.participants,
                report.concurrency,
                report.per_second,
                report.p50_ms,
                report.p99_ms
            );
            println!(
                "chain: {} records, {}",
                report.chain_records,
                if report.verified {
                    "verified"
                } else {
                    "VERIFICATION FAILED"
                }
            );
            println!(
                "baseline: {:.0} durable single-row commits/s; randomisation at {:.0}% of it",
                report.raw_commits_per_second,
                100.0 * report.share_of_raw()
            );
            if report.verified {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fail(&e),
    }
}
