//! `bayestrial calibrate`: the symmetric superiority/inferiority threshold that holds
//! P(superiority) in one scenario at a target (for a precision design with graduation, the
//! graduation threshold that holds P(any graduation) there), and optionally a copy of the
//! protocol with it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bayestrial::protocol::LoadedProtocol;
use bayestrial::sim::{calibrate, Calibration, Selection, SimulationPlan};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::simulate::{write_json, RunArgs};

/// Arguments of `calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// Protocol, scenario (usually the null scenario) and replicates per evaluated threshold.
    #[command(flatten)]
    pub run: RunArgs,
    /// Largest acceptable P(superiority) in the scenario (type I error in a null scenario); for
    /// a precision design with graduation, the largest acceptable P(any arm graduates anywhere).
    #[arg(long, default_value_t = 0.05)]
    pub target: f64,
    /// Write a copy of the protocol with the calibrated thresholds to this file (comments and
    /// formatting kept; validated before it is written).
    #[arg(long)]
    pub write: Option<PathBuf>,
    /// Write the result as JSON to this file (`-` for standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Loads the protocol and builds the plan; errors are messages for the user.
fn plan(args: &CalibrateArgs) -> Result<(LoadedProtocol, SimulationPlan), String> {
    if !(0.0..1.0).contains(&args.target) {
        return Err(format!(
            "--target {} must be a probability in [0, 1)",
            args.target
        ));
    }
    super::simulate::plan(&args.run, Selection::BestRemaining)
}

/// A counter of simulated trials on stderr when it is a terminal; hidden otherwise.
fn progress_counter() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} trials simulated ({elapsed})")
    {
        bar.set_style(style);
    }
    bar
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path`, so `path` is never left half-written.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let shown = path.display();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("{shown}: not a file name"))?
        .to_string_lossy();
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    written.map_err(|e| {
        // Best effort: the temporary file may not exist if creating it failed.
        let _ = std::fs::remove_file(&temporary);
        format!("{shown}: {e}")
    })
}

fn print_summary(protocol_id: &str, c: &Calibration) {
    let (threshold, probability) = (
        c.calibrated.threshold_name(),
        c.calibrated.probability_name(),
    );
    println!(
        "{protocol_id} — scenario {:?}, target {probability} ≤ {}, {} trials, seed {}",
        c.scenario, c.target, c.reps, c.seed
    );
    match c.inferiority {
        Some(inferiority) => println!(
            "  {threshold:<28} {:>8}  (inferiority {inferiority})",
            c.threshold
        ),
        None => println!("  {threshold:<28} {:>8}", c.threshold),
    }
    println!(
        "  {probability:<28} {:>8.4}  (MCSE {:.4})",
        c.achieved, c.mcse
    );
    match &c.below {
        Some(below) => println!(
            "  just below: threshold {} gives {probability} {:.4} > {}",
            below.threshold, below.achieved, c.target
        ),
        None => println!(
            "  the smallest admissible threshold ({}) already meets the target",
            c.lower
        ),
    }
    println!(
        "  {} thresholds evaluated in [{}, {}]",
        c.evaluations, c.lower, c.upper
    );
}

/// Runs the calibration: exit 0, 1 when it fails (including a target no threshold reaches), 2
/// on bad input.
pub fn run(args: &CalibrateArgs) -> ExitCode {
    let (loaded, plan) = match plan(args) {
        Ok(x) => x,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let bar = progress_counter();
    let result = calibrate(&loaded.protocol, &plan, args.target, &|| bar.inc(1));
    bar.finish_and_clear();
    let calibration = match result {
        Ok(c) => c,
        Err(error) => {
            eprintln!("error: {}: {error}", args.run.file.display());
            return ExitCode::from(1);
        }
    };
    if let Some(out) = &args.write {
        let written = calibration
            .rewrite_toml(&loaded.source, &out.display().to_string())
            .map_err(|e| e.to_string())
            .and_then(|text| write_atomically(out, &text));
        if let Err(message) = written {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
    }
    if let Some(path) = &args.json {
        if let Err(message) = write_json(path, &calibration) {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
        if path.as_os_str() == "-" {
            return ExitCode::SUCCESS;
        }
    }
    print_summary(&loaded.protocol.trial.id, &calibration);
    if let Some(out) = &args.write {
        println!("  wrote {}", out.display());
    }
    ExitCode::SUCCESS
}
