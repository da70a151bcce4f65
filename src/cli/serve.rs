//! `bayestrial serve`: opens the service, prints the server's public key (announcing it when
//! this start created it), signs the heads of chains last written before checkpoint links, sets up
//! a first start (admin account, demo trials), starts the outbox sender and the daily witness, and
//! serves the web app until the process is stopped.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bayestrial::notify::{Mailer, SmtpSettings};
use bayestrial::service::{
    spawn_outbox_worker, spawn_witness_worker, Actor, ApiTokenDays, DemoPlan, NewUser, Password,
    Role, Service, ServiceError, Username,
};
use bayestrial::store::{self, DatabaseUrl};
use bayestrial::web::jobs::JobLimits;
use bayestrial::web::{self, AppState, SimulationJobs};

use super::common::{fail, DatabaseArgs};

/// `bayestrial serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "BAYESTRIAL_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Folder of protocols loaded as demo trials on first start: three-arm-pbest.toml as a
    /// running trial with simulated participants, the others as drafts (an empty folder: none).
    #[arg(long, default_value = "protocols")]
    protocols: PathBuf,
    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// SMTP server for notifications (default: `.eml` files in DATA_DIR/outbox).
    #[arg(long, env = "BAYESTRIAL_SMTP_HOST")]
    smtp_host: Option<String>,
    /// SMTP port.
    #[arg(long, env = "BAYESTRIAL_SMTP_PORT", default_value_t = 25)]
    smtp_port: u16,
    /// SMTP user name (AUTH), if the server needs one.
    #[arg(long, env = "BAYESTRIAL_SMTP_USER")]
    smtp_user: Option<String>,
    /// SMTP password (AUTH); prefer the environment variable.
    #[arg(long, env = "BAYESTRIAL_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// Sender address of notifications.
    #[arg(
        long,
        env = "BAYESTRIAL_MAIL_FROM",
        default_value = "bayestrial@bayestrial.localhost"
    )]
    mail_from: String,
    /// How many days an API token lasts (1 to 365).
    #[arg(long, env = "BAYESTRIAL_API_TOKEN_DAYS", default_value_t = 30)]
    api_token_days: u64,
    /// How often the outbox sender looks for new e-mail, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    outbox_interval_ms: u64,
    /// Folder of the append-only witness log: every signed head (looks, stops, exports, a
    /// running trial's daily one) is appended to `DIR/trial-<id>.witness` or
    /// `DIR/system.witness`, one line per head. Keep it outside the database's reach.
    #[arg(long, env = "BAYESTRIAL_WITNESS_DIR", value_name = "DIR")]
    witness_dir: Option<PathBuf>,
    /// How often the daily witness looks for running trials whose head is due, in seconds.
    #[arg(long, default_value_t = 600)]
    witness_interval_s: u64,
}

fn mailer(args: &ServeArgs, data_dir: &Path) -> Result<Mailer, String> {
    match &args.smtp_host {
        Some(host) => Mailer::smtp(
            &args.mail_from,
            SmtpSettings {
                host: host.clone(),
                port: args.smtp_port,
                credentials: args.smtp_user.clone().zip(args.smtp_password.clone()),
            },
        ),
        None => Mailer::file(&args.mail_from, data_dir.join("outbox")),
    }
    .map_err(|e| e.to_string())
}

/// The demo protocol a first start runs (the others are loaded as drafts).
const RUNNING_DEMO: &str = "three-arm-pbest.toml";

/// How the running demo is run: a scenario in which one arm is better, enough participants
/// for two looks (at 90 and 150 outcomes; a tenth of the participants drop out), the last 40
/// still waiting for their outcome, and a fixed seed for the simulated outcomes.
fn running_demo_plan() -> DemoPlan {
    DemoPlan {
        scenario: "phone-best".into(),
        participants: 220,
        lag: 40,
        seed: 2026,
    }
}

/// Creates the admin account and loads the demo protocols, on a database without users: the
/// protocol [`RUNNING_DEMO`] as a running trial with simulated participants, the others as
/// drafts. A database with users is left as it is, so a restart loads nothing twice.
fn first_start(service: &Service, protocols: &Path) -> Result<(), ServiceError> {
    if service.has_users()? {
        return Ok(());
    }
    let password = service.new_token()[..24].to_owned();
    service.add_user(
        &Actor::command_line(),
        &NewUser {
            username: Username::parse("admin")?,
            printed_name: "Administrator".into(),
            email: "admin@bayestrial.localhost".into(),
            role: Role::Admin,
            password: Password::new(&password)?,
        },
    )?;
    println!(
        "bayestrial: admin login created: user \"admin\", password \"{password}\" (printed once)"
    );
    let admin = Actor {
        username: "admin".into(),
        role: Role::Admin,
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(protocols) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(error) => {
            eprintln!(
                "bayestrial: no demo trials: cannot read {}: {error}",
                protocols.display()
            );
            return Ok(());
        }
    };
    files.sort();
    for path in files {
        let origin = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("bayestrial: demo protocol {origin} skipped: {error}");
                continue;
            }
        };
        if path.file_name().is_some_and(|name| name == RUNNING_DEMO) {
            let plan = running_demo_plan();
            match service.load_running_demo(&admin, &text, &origin, &plan) {
                Ok(Some(report)) => println!(
                    "bayestrial: demo trial {} {} from {origin}: {} participants enrolled, {} \
                     outcomes, simulated from its scenario {} (seed {}); demo accounts \
                     demo-author, demo-approver, demo-site (an admin can reset their passwords)",
                    report.trial_id,
                    if report.running {
                        "running"
                    } else {
                        "stopped by a decision rule"
                    },
                    report.enrolled,
                    report.outcomes,
                    plan.scenario,
                    plan.seed
                ),
                Ok(None) => {}
                Err(error) => eprintln!("bayestrial: running demo {origin} skipped: {error}"),
            }
            continue;
        }
        match service.load_demo_trial(&admin, &text, &origin) {
            Ok(summary) => println!(
                "bayestrial: demo trial {} loaded as a draft from {origin}",
                summary.id
            ),
            Err(error) => eprintln!("bayestrial: demo protocol {origin} skipped: {error}"),
        }
    }
    Ok(())
}

/// Runs the server.
pub fn run(args: &ServeArgs) -> ExitCode {
    let token_days = match ApiTokenDays::new(args.api_token_days) {
        Ok(days) => days,
        Err(error) => return fail(&error),
    };
    let service = match args.database.open_with(|c| {
        c.api_token_days = token_days;
        c.witness_dir.clone_from(&args.witness_dir);
    }) {
        Ok(service) => Arc::new(service),
        Err(error) => return fail(&error),
    };
    let key = service.public_key().to_hex();
    if service.created_key() {
        println!(
            "bayestrial: new server key created; its public key (the fingerprint to record and \
             pass to `bayestrial audit verify --public-key`) is {key}"
        );
    } else {
        println!("bayestrial: server public key {key}");
    }
    match service.cover_heads_of_old_chains() {
        Ok(signed) if signed.is_empty() => {}
        Ok(signed) => println!(
            "bayestrial: signed the heads of chains without linked checkpoints (written before \
             checkpoint links, or with every checkpoint deleted): {}",
            signed.join(", ")
        ),
        Err(error) => return fail(&error),
    }
    if let Err(error) = first_start(&service, &args.protocols) {
        return fail(&error);
    }
    let data_dir = match &args.database.data_dir {
        Some(dir) => dir.clone(),
        None => match DatabaseUrl::parse(&args.database.database_url) {
            Ok(url) => store::data_dir_of(&url, Path::new("./data")),
            Err(error) => return fail(&error.into()),
        },
    };
    let mailer = match mailer(args, &data_dir) {
        Ok(mailer) => mailer,
        Err(problem) => {
            eprintln!("error: e-mail: {problem}");
            return ExitCode::from(2);
        }
    };
    println!("bayestrial: e-mail goes to {}", mailer.describe());
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(error) = spawn_outbox_worker(
        Arc::clone(&service),
        mailer,
        Duration::from_millis(args.outbox_interval_ms.max(50)),
        Arc::clone(&stop),
    ) {
        eprintln!("error: cannot start the outbox sender: {error}");
        return ExitCode::from(2);
    }
    if let Some(dir) = &args.witness_dir {
        println!(
            "bayestrial: signed heads are witnessed in {}",
            dir.display()
        );
    }
    if let Err(error) = spawn_witness_worker(
        Arc::clone(&service),
        Duration::from_secs(args.witness_interval_s.max(1)),
        Arc::clone(&stop),
    ) {
        eprintln!("error: cannot start the daily witness: {error}");
        return ExitCode::from(2);
    }
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let limits = JobLimits::default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) / limits.running;
    let jobs = match SimulationJobs::open(&data_dir, limits, threads) {
        Ok(jobs) => Arc::new(jobs),
        Err(error) => {
            eprintln!("error: simulation jobs: {error}");
            return ExitCode::from(2);
        }
    };
    let state = AppState { service, jobs };
    match web::serve(state, &args.bind, workers) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot serve on {}: {error}", args.bind);
            ExitCode::from(2)
        }
    }
}
