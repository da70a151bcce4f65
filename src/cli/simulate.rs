//! `bayestrial simulate`: operating characteristics of a protocol in one scenario (platform
//! designs: per trial; n-of-1 designs: per patient and per series).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bayestrial::protocol::{ArmId, LoadedProtocol, Protocol};
use bayestrial::sim::{
    render_scenario_html, simulate_scenario, Nof1SimulationReport, ScenarioReport, Selection,
    SimScenario, SimulationPlan, SimulationReport,
};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Selection rules on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SelectionArg {
    /// The remaining arm with the best posterior mean.
    BestRemaining,
    /// The control if it is still active.
    ControlIfAvailable,
    /// No arm unless one was declared superior.
    None,
}

impl From<SelectionArg> for Selection {
    fn from(value: SelectionArg) -> Self {
        match value {
            SelectionArg::BestRemaining => Self::BestRemaining,
            SelectionArg::ControlIfAvailable => Self::ControlIfAvailable,
            SelectionArg::None => Self::None,
        }
    }
}

/// What to simulate: the arguments `simulate` and `calibrate` share.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Protocol file (TOML).
    pub file: PathBuf,
    /// Scenario name from the protocol's `[[scenario]]` tables.
    #[arg(long)]
    pub scenario: String,
    /// Number of simulated trials (n-of-1: series of `max_participants` patients; for
    /// calibrate: per evaluated threshold, the same every time).
    #[arg(long, default_value_t = 1000)]
    pub reps: u64,
    /// Simulation seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Override a true value: `ARM=VALUE` (repeatable).
    #[arg(long = "truth", value_parser = parse_truth)]
    pub truth: Vec<(ArmId, f64)>,
}

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Protocol, scenario and replicates.
    #[command(flatten)]
    pub run: RunArgs,
    /// Selection rule when no arm is declared superior (platform designs).
    #[arg(long, value_enum, default_value = "best-remaining")]
    pub selection: SelectionArg,
    /// Write the report as JSON to this file (`-` for standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (tables and SVG charts) to this file.
    #[arg(long, value_name = "OUT.html")]
    pub report: Option<PathBuf>,
}

/// Parses `ARM=VALUE`.
pub fn parse_truth(text: &str) -> Result<(ArmId, f64), String> {
    let (arm, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected ARM=VALUE"))?;
    let arm = ArmId::parse(arm.trim())?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: the value must be a number"))?;
    Ok((arm, value))
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} trials ({eta} left)") {
        bar.set_style(style);
    }
    bar
}

/// `--threads`, defaulting to every core; 0 is refused.
pub fn worker_threads(requested: Option<usize>) -> Result<usize, String> {
    let threads =
        requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(threads)
}

/// Loads the protocol and builds the plan; errors are messages for the user.
pub fn plan(
    run: &RunArgs,
    selection: Selection,
) -> Result<(LoadedProtocol, SimulationPlan), String> {
    let loaded = LoadedProtocol::load(&run.file).map_err(|e| e.to_string())?;
    let scenario = SimScenario::from_protocol(&loaded.protocol, &run.scenario, &run.truth)
        .map_err(|e| format!("{}: {e}", run.file.display()))?;
    if run.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    let threads = worker_threads(run.threads)?;
    Ok((
        loaded,
        SimulationPlan {
            scenario,
            reps: run.reps,
            seed: run.seed,
            threads,
            selection,
        },
    ))
}

fn print_summary(report: &ScenarioReport) {
    match report {
        ScenarioReport::Platform(report) => print_platform_summary(report),
        ScenarioReport::Nof1(report) => print_nof1_summary(report),
    }
}

fn print_platform_summary(report: &SimulationReport) {
    let m = &report.metrics;
    println!(
        "{} — scenario {:?}, {} trials, seed {}",
        report.protocol_id, report.scenario, report.reps, report.seed
    );
    let row = |name: &str, p: f64, se: f64| println!("  {name:<28} {p:>8.4}  (MCSE {se:.4})");
    row("P(conclusive)", m.prob_conclusive, m.mcse.prob_conclusive);
    row(
        "P(superiority)",
        m.prob_superiority,
        m.mcse.prob_superiority,
    );
    row(
        "P(equivalence)",
        m.prob_equivalence,
        m.mcse.prob_equivalence,
    );
    row("P(futility)", m.prob_futility, m.mcse.prob_futility);
    row("P(max sample size)", m.prob_max, m.mcse.prob_max);
    println!(
        "  sample size: mean {:.1} (MCSE {:.1}), SD {:.1}, quartiles {:.0} / {:.0} / {:.0}",
        m.sample_size.mean,
        m.mcse.sample_size_mean,
        m.sample_size.sd,
        m.sample_size.p25,
        m.sample_size.p50,
        m.sample_size.p75
    );
    println!(
        "  {:<12} {:>8} {:>10} {:>10} {:>10} {:>8}",
        "arm", "truth", "P(super.)", "P(select)", "allocated", "RMSE"
    );
    for (arm, truth) in &report.truth {
        println!(
            "  {:<12} {:>8.4} {:>10.4} {:>10.4} {:>10.4} {:>8.4}",
            arm,
            truth,
            m.prob_superior_arm.get(arm).copied().unwrap_or(0.0),
            m.prob_select.get(arm).copied().unwrap_or(0.0),
            m.allocation.get(arm).copied().unwrap_or(0.0),
            m.rmse.get(arm).copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "  {:<12} {:>8} {:>10} {:>10.4}",
        "none",
        "",
        "",
        m.prob_select.get("none").copied().unwrap_or(0.0)
    );
    if let Some(idp) = m.ideal_design_percentage {
        println!("  ideal design percentage: {idp:.1}");
    }
}

fn print_nof1_summary(report: &Nof1SimulationReport) {
    let m = &report.nof1;
    println!(
        "{} — scenario {:?}, {} series ({} patients), seed {}",
        report.protocol_id, report.scenario, report.reps, m.patients, report.seed
    );
    let row = |name: &str, p: f64, se: f64| println!("  {name:<34} {p:>8.4}  (MCSE {se:.4})");
    println!(
        "  per patient (truly better treatment: {})",
        m.better_treatment.as_deref().unwrap_or("none")
    );
    if let (Some(p), Some(se)) = (m.prob_correct_benefit, m.mcse.prob_correct_benefit) {
        row("P(benefit of the better): power", p, se);
    }
    let wrong = if m.better_treatment.is_some() {
        "P(benefit, wrong direction)"
    } else {
        "P(benefit): false benefit"
    };
    row(wrong, m.prob_wrong_benefit, m.mcse.prob_wrong_benefit);
    row(
        "P(stop for equivalence)",
        m.prob_equivalence,
        m.mcse.prob_equivalence,
    );
    row(
        "P(completed, no conclusion)",
        m.prob_completed,
        m.mcse.prob_completed,
    );
    row("P(dropped out)", m.prob_withdrawn, m.mcse.prob_withdrawn);
    println!(
        "  cycles per patient: mean {:.2} (MCSE {:.2}), SD {:.2}, quartiles {:.0} / {:.0} / {:.0}",
        m.cycles.mean, m.mcse.cycles_mean, m.cycles.sd, m.cycles.p25, m.cycles.p50, m.cycles.p75
    );
    if let Some(threshold) = m.benefit_at_final_look {
        println!("  (no benefit rule: a final look with P(beyond MCID) > {threshold} counts)");
    }
    let s = &m.series;
    println!(
        "  series ({} − {}, detection at posterior probability > {})",
        s.treatment, s.versus, s.threshold
    );
    row(
        "P(population effect detected)",
        s.prob_detect,
        s.mcse.prob_detect,
    );
    if let (Some(p), Some(se)) = (s.prob_detect_correct, s.mcse.prob_detect_correct) {
        row("P(the better one detected)", p, se);
    }
    row(
        "P(benefit beyond MCID detected)",
        s.prob_beyond_mcid,
        s.mcse.prob_beyond_mcid,
    );
    if let Some(e) = &s.estimate {
        println!(
            "  population effect: truth {:.4}, mean estimate {:.4} (MCSE {:.4}), bias {:.4}, RMSE {:.4}",
            e.truth,
            e.mean,
            s.mcse.estimate_mean.unwrap_or(f64::NAN),
            e.bias,
            e.rmse
        );
    }
    if let (Some(coverage), Some(se)) = (s.coverage, s.mcse.coverage) {
        row("95% interval coverage", coverage, se);
    }
    if let Some(tau) = s.tau_mean {
        println!(
            "  mean posterior mean of tau: {tau:.4} (MCSE {:.4}; true tau 0)",
            s.mcse.tau_mean.unwrap_or(f64::NAN)
        );
    }
}

/// Writes JSON to a file, or to standard output for `-`.
pub fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("encoding JSON: {e}"))?;
    if path.as_os_str() == "-" {
        println!("{text}");
        Ok(())
    } else {
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Renders the HTML report and writes it to `path`.
fn write_report(path: &Path, protocol: &Protocol, report: &ScenarioReport) -> Result<(), String> {
    let html =
        render_scenario_html(protocol, report).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(path, html).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs the simulation: exit 0, 1 on a failed run, 2 on bad input.
pub fn run(args: &SimulateArgs) -> ExitCode {
    let (loaded, plan) = match plan(&args.run, args.selection.into()) {
        Ok(x) => x,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let bar = progress_bar(plan.reps);
    let result = simulate_scenario(&loaded.protocol, &loaded.hash.to_hex(), &plan, &|| {
        bar.inc(1)
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = &args.report {
        if let Err(message) = write_report(path, &loaded.protocol, &report) {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
    }
    if let Some(path) = &args.json {
        if let Err(message) = write_json(path, &report) {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
        if path.as_os_str() == "-" {
            return ExitCode::SUCCESS;
        }
    }
    print_summary(&report);
    ExitCode::SUCCESS
}
