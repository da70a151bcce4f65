//! `bayestrial nof1 analyse FILE.csv`: the Bayesian analysis of n-of-1 data from a CSV file.
//!
//! Reads measurements (`patient,treatment,period,day,value`), leaves out the first days of every
//! period when asked, and prints each patient's treatment effect (second treatment minus first)
//! and, with several patients, the hierarchical model's population effect. The numerics are in
//! `bayestrial::stats::nof1`; this file parses, calls and prints.
//!
//! Exit codes: 0 done; 1 the data cannot be analysed under the model (the message names the
//! patient); 2 usage errors and unreadable or invalid CSV (`FILE:LINE: column ...`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::output::answer;

use bayestrial::stats::nof1::{
    analyse_patient, pool_series, EffectOptions, EffectPosterior, Nof1Observation, Nof1Prior,
    PatientEffect, SeriesOptions, SeriesPosterior,
};
use bayestrial::stats::{Better, NigPrior, StatsError};
use serde::Serialize;

use super::posterior::DEFAULT_NIG;

/// The CSV header, exactly.
const HEADER: [&str; 5] = ["patient", "treatment", "period", "day", "value"];

/// `nof1` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Nof1Command {
    /// Analyse n-of-1 data from a CSV file with the header `patient,treatment,period,day,value`:
    /// each patient's effect (second treatment in the file minus the first) and, with several
    /// patients, the population effect of the hierarchical model.
    Analyse(AnalyseArgs),
}

/// Arguments of `nof1 analyse`.
#[derive(Debug, clap::Args)]
pub struct AnalyseArgs {
    /// CSV file: header `patient,treatment,period,day,value`; `day` counts from 1 within the
    /// patient's trial, `period` from 1; one treatment per period.
    file: PathBuf,
    /// Minimal clinically important difference (≥ 0) for P(beyond MCID).
    #[arg(long, default_value_t = 0.0)]
    mcid: f64,
    /// Which direction of the outcome is better.
    #[arg(long, default_value = "higher")]
    better: Better,
    /// Leave out the first K days of every period (the earliest K distinct days with a
    /// measurement in each patient's period), e.g. to discard carry-over.
    #[arg(long, default_value_t = 0)]
    skip_days: u32,
    /// Model the errors as AR(1) in study days (at most one measurement per patient and day).
    #[arg(long)]
    ar1: bool,
    /// Prior: `vague` = Normal-Inverse-Gamma 0,1e-6,1e-3,1e-3 on each treatment mean and the
    /// variance; `flat` = p(means, σ) ∝ 1/σ; or `nig:MU0,KAPPA0,ALPHA0,BETA0`.
    #[arg(long, default_value = "vague")]
    prior: String,
    /// Scale of the half-Cauchy prior on the between-patient SD τ (several patients only;
    /// default: the SD of all analysed measurements).
    #[arg(long)]
    tau_scale: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Why the command failed, with its exit code.
#[derive(Debug, thiserror::Error)]
enum Nof1Error {
    /// A bad argument (exit 2).
    #[error("--{flag} {value:?}: {why}")]
    Argument {
        flag: &'static str,
        value: String,
        why: String,
    },
    /// The file cannot be read or is not valid input (exit 2); the message starts with
    /// `FILE:LINE:` when a line is at fault.
    #[error("{0}")]
    Input(String),
    /// A patient's data cannot be analysed under the model (exit 1).
    #[error("patient {patient:?}: {source}")]
    Patient {
        patient: String,
        #[source]
        source: StatsError,
    },
    /// The series cannot be pooled (exit 1).
    #[error("population: {0}")]
    Series(StatsError),
}

impl Nof1Error {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Argument { .. } | Self::Input(_) => 2,
            Self::Patient { .. } | Self::Series(_) => 1,
        }
    }
}

/// One valid CSV row.
#[derive(Debug, Clone)]
struct Row {
    patient: String,
    treatment: String,
    period: u32,
    day: u32,
    value: f64,
}

/// The prior as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum PriorChoice {
    Vague {
        mu0: f64,
        kappa0: f64,
        alpha0: f64,
        beta0: f64,
    },
    Flat,
    Nig {
        mu0: f64,
        kappa0: f64,
        alpha0: f64,
        beta0: f64,
    },
}

impl PriorChoice {
    fn parse(text: &str) -> Result<Self, Nof1Error> {
        let bad = |why: &str| Nof1Error::Argument {
            flag: "prior",
            value: text.to_owned(),
            why: why.to_owned(),
        };
        match text {
            "flat" => Ok(Self::Flat),
            "vague" => {
                let [mu0, kappa0, alpha0, beta0] = DEFAULT_NIG;
                Ok(Self::Vague {
                    mu0,
                    kappa0,
                    alpha0,
                    beta0,
                })
            }
            _ => {
                let Some(numbers) = text.strip_prefix("nig:") else {
                    return Err(bad("use flat, vague or nig:MU0,KAPPA0,ALPHA0,BETA0"));
                };
                let values: Result<Vec<f64>, _> = numbers
                    .split(',')
                    .map(|p| p.trim().parse::<f64>())
                    .collect();
                match values.as_deref() {
                    Ok(&[mu0, kappa0, alpha0, beta0])
                        if mu0.is_finite()
                            && [kappa0, alpha0, beta0]
                                .iter()
                                .all(|v| v.is_finite() && *v > 0.0) =>
                    {
                        Ok(Self::Nig {
                            mu0,
                            kappa0,
                            alpha0,
                            beta0,
                        })
                    }
                    _ => Err(bad(
                        "nig: needs 4 numbers MU0,KAPPA0,ALPHA0,BETA0, the last three > 0",
                    )),
                }
            }
        }
    }

    fn prior(self) -> Nof1Prior {
        match self {
            Self::Flat => Nof1Prior::Flat,
            Self::Vague {
                mu0,
                kappa0,
                alpha0,
                beta0,
            }
            | Self::Nig {
                mu0,
                kappa0,
                alpha0,
                beta0,
            } => Nof1Prior::NormalInverseGamma(NigPrior {
                mu0,
                kappa0,
                alpha0,
                beta0,
            }),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Flat => "flat, p(means, σ) ∝ 1/σ".to_owned(),
            Self::Vague {
                mu0,
                kappa0,
                alpha0,
                beta0,
            } => format!("vague, Normal-Inverse-Gamma({mu0}, {kappa0:e}, {alpha0:e}, {beta0:e})"),
            Self::Nig {
                mu0,
                kappa0,
                alpha0,
                beta0,
            } => format!("Normal-Inverse-Gamma({mu0}, {kappa0}, {alpha0}, {beta0})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the file
// ---------------------------------------------------------------------------------------------

fn input(file: &Path, line: Option<u64>, message: impl std::fmt::Display) -> Nof1Error {
    match line {
        Some(line) => Nof1Error::Input(format!("{}:{line}: {message}", file.display())),
        None => Nof1Error::Input(format!("{}: {message}", file.display())),
    }
}

fn whole_from_one(file: &Path, line: u64, column: &str, text: &str) -> Result<u32, Nof1Error> {
    match text.parse::<u32>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(input(
            file,
            Some(line),
            format!("column {column}: {text:?} is not a whole number ≥ 1"),
        )),
    }
}

/// Reads and checks every row: the exact header, five columns, a patient and a treatment,
/// period and day whole numbers ≥ 1, a finite value, and one treatment per patient's period.
fn read_rows(file: &Path) -> Result<Vec<Row>, Nof1Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| input(file, None, format!("cannot read: {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| input(file, Some(1), format!("cannot read the header: {e}")))?
        .clone();
    let found: Vec<&str> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}'))
        .collect();
    if found != HEADER {
        return Err(input(
            file,
            Some(1),
            format!(
                "the header must be `{}`, found `{}`",
                HEADER.join(","),
                found.join(",")
            ),
        ));
    }
    let mut rows = Vec::new();
    let mut period_treatment: HashMap<(String, u32), (String, u64)> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line());
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths { len, .. } => {
                    format!("expected 5 columns ({}), found {len}", HEADER.join(","))
                }
                _ => e.to_string(),
            };
            input(file, line, message)
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("");
        let patient = field(0);
        if patient.is_empty() {
            return Err(input(file, Some(line), "column patient: empty"));
        }
        let treatment = field(1);
        if treatment.is_empty() {
            return Err(input(file, Some(line), "column treatment: empty"));
        }
        let period = whole_from_one(file, line, "period", field(2))?;
        let day = whole_from_one(file, line, "day", field(3))?;
        let value = match field(4).parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                return Err(input(
                    file,
                    Some(line),
                    format!("column value: {:?} is not a finite number", field(4)),
                ))
            }
        };
        let key = (patient.to_owned(), period);
        match period_treatment.get(&key) {
            Some((first, first_line)) if first != treatment => {
                return Err(input(
                    file,
                    Some(line),
                    format!(
                        "column treatment: period {period} of patient {patient:?} has treatment \
                         {first:?} on line {first_line}; a period holds one treatment"
                    ),
                ));
            }
            Some(_) => {}
            None => {
                period_treatment.insert(key, (treatment.to_owned(), line));
            }
        }
        rows.push(Row {
            patient: patient.to_owned(),
            treatment: treatment.to_owned(),
            period,
            day,
            value,
        });
    }
    if rows.is_empty() {
        return Err(input(file, None, "no measurements after the header"));
    }
    Ok(rows)
}

/// Leaves out, in every (patient, period), the rows on its earliest `skip` distinct days.
fn skip_first_days(rows: Vec<Row>, skip: u32) -> Vec<Row> {
    if skip == 0 {
        return rows;
    }
    let mut days: HashMap<(&str, u32), BTreeSet<u32>> = HashMap::new();
    for row in &rows {
        days.entry((row.patient.as_str(), row.period))
            .or_default()
            .insert(row.day);
    }
    let skipped: HashMap<(String, u32), BTreeSet<u32>> = days
        .into_iter()
        .map(|((patient, period), set)| {
            let first: BTreeSet<u32> = set.into_iter().take(skip as usize).collect();
            ((patient.to_owned(), period), first)
        })
        .collect();
    rows.into_iter()
        .filter(|row| {
            skipped
                .get(&(row.patient.clone(), row.period))
                .is_none_or(|first| !first.contains(&row.day))
        })
        .collect()
}

/// Names in order of first appearance.
fn first_appearance<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct EffectSummary {
    mean: f64,
    sd: f64,
    ci95: [f64; 2],
}

#[derive(Debug, Serialize)]
struct PatientReport {
    patient: String,
    /// Measurements per treatment, by name.
    n: serde_json::Map<String, serde_json::Value>,
    effect: EffectSummary,
    p_effect_positive: f64,
    p_beyond_mcid: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rho: Option<f64>,
}

#[derive(Debug, Serialize)]
struct TauReport {
    mean: f64,
    median: f64,
    ci95: [f64; 2],
}

#[derive(Debug, Serialize)]
struct ShrunkenReport {
    patient: String,
    mean: f64,
    sd: f64,
    ci95: [f64; 2],
    p_effect_positive: f64,
    p_beyond_mcid: f64,
}

#[derive(Debug, Serialize)]
struct EmpiricalBayesReport {
    mu_hat: f64,
    mu_sd: f64,
    tau_hat: f64,
    at_boundary: bool,
    log_likelihood: f64,
    iterations: u64,
    converged: bool,
}

#[derive(Debug, Serialize)]
struct PopulationReport {
    patients: usize,
    mean: f64,
    sd: f64,
    ci95: [f64; 2],
    p_effect_positive: f64,
    p_beyond_mcid: f64,
    tau_scale: f64,
    tau: TauReport,
    shrunken: Vec<ShrunkenReport>,
    empirical_bayes: EmpiricalBayesReport,
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    treatments: [String; 2],
    model: &'static str,
    prior: PriorChoice,
    mcid: f64,
    better: Better,
    skip_days: u32,
    patients: Vec<PatientReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    population: Option<PopulationReport>,
}

/// The SD of the analysed measurements (divisor n − 1): the default half-Cauchy scale of τ.
fn measurement_sd(rows: &[Row]) -> Option<f64> {
    let n = rows.len() as f64;
    if rows.len() < 2 {
        return None;
    }
    let mean = rows.iter().map(|r| r.value).sum::<f64>() / n;
    let sd = (rows.iter().map(|r| (r.value - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (sd > 0.0 && sd.is_finite()).then_some(sd)
}

fn report(args: &AnalyseArgs) -> Result<Report, Nof1Error> {
    if !(args.mcid.is_finite() && args.mcid >= 0.0) {
        return Err(Nof1Error::Argument {
            flag: "mcid",
            value: args.mcid.to_string(),
            why: "must be a number ≥ 0".to_owned(),
        });
    }
    if let Some(scale) = args.tau_scale {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Nof1Error::Argument {
                flag: "tau-scale",
                value: scale.to_string(),
                why: "must be a number > 0".to_owned(),
            });
        }
    }
    let prior = PriorChoice::parse(&args.prior)?;
    let file = &args.file;
    let rows = read_rows(file)?;
    let treatments = first_appearance(rows.iter().map(|r| r.treatment.as_str()));
    let [first, second] = treatments.as_slice() else {
        return Err(input(
            file,
            None,
            format!(
                "{} treatments found ({}); the analysis compares two",
                treatments.len(),
                treatments.join(", ")
            ),
        ));
    };
    let treatments = [first.clone(), second.clone()];
    let patients = first_appearance(rows.iter().map(|r| r.patient.as_str()));
    let rows = skip_first_days(rows, args.skip_days);
    let options = EffectOptions {
        mcid: args.mcid,
        better: args.better,
        ar1: args.ar1,
    };
    let mut reports = Vec::with_capacity(patients.len());
    let mut effects = Vec::with_capacity(patients.len());
    for patient in &patients {
        let observations: Vec<Nof1Observation> = rows
            .iter()
            .filter(|r| &r.patient == patient)
            .map(|r| Nof1Observation {
                treatment: usize::from(r.treatment == treatments[1]),
                day: r.day,
                value: r.value,
            })
            .collect();
        let fail = |source| Nof1Error::Patient {
            patient: patient.clone(),
            source,
        };
        if observations.is_empty() {
            return Err(fail(StatsError::Observation(
                "no measurements left after --skip-days",
            )));
        }
        let posteriors =
            analyse_patient(&observations, 2, &prior.prior(), &options).map_err(fail)?;
        let Some(effect) = posteriors.into_iter().next() else {
            return Err(fail(StatsError::NoArms));
        };
        reports.push(patient_report(patient, &treatments, &effect));
        effects.push(effect);
    }
    let population = if patients.len() >= 2 {
        let tau_scale = match args.tau_scale {
            Some(scale) => scale,
            None => measurement_sd(&rows).ok_or_else(|| {
                input(
                    file,
                    None,
                    "the measurements do not vary, so --tau-scale has no default; give one",
                )
            })?,
        };
        let summaries: Vec<PatientEffect> = effects
            .iter()
            .map(|e| PatientEffect {
                mean: e.mean,
                sd: e.sd,
            })
            .collect();
        let series = pool_series(
            &summaries,
            &SeriesOptions {
                mcid: args.mcid,
                better: args.better,
                tau_scale,
            },
        )
        .map_err(Nof1Error::Series)?;
        Some(population_report(&patients, tau_scale, &series))
    } else {
        None
    };
    Ok(Report {
        file: file.display().to_string(),
        treatments,
        model: if args.ar1 { "ar1" } else { "iid" },
        prior,
        mcid: args.mcid,
        better: args.better,
        skip_days: args.skip_days,
        patients: reports,
        population,
    })
}

fn patient_report(patient: &str, treatments: &[String; 2], e: &EffectPosterior) -> PatientReport {
    let mut n = serde_json::Map::new();
    for (name, count) in treatments.iter().zip(&e.n) {
        n.insert(name.clone(), serde_json::Value::from(*count));
    }
    PatientReport {
        patient: patient.to_owned(),
        n,
        effect: EffectSummary {
            mean: e.mean,
            sd: e.sd,
            ci95: [e.ci95.0, e.ci95.1],
        },
        p_effect_positive: e.p_positive,
        p_beyond_mcid: e.p_beyond_mcid,
        rho: e.rho,
    }
}

fn population_report(
    patients: &[String],
    tau_scale: f64,
    series: &SeriesPosterior,
) -> PopulationReport {
    let p = &series.population;
    let eb = &series.empirical_bayes;
    PopulationReport {
        patients: patients.len(),
        mean: p.mean,
        sd: p.sd,
        ci95: [p.ci95.0, p.ci95.1],
        p_effect_positive: p.p_positive,
        p_beyond_mcid: p.p_beyond_mcid,
        tau_scale,
        tau: TauReport {
            mean: series.tau.mean,
            median: series.tau.median,
            ci95: [series.tau.ci95.0, series.tau.ci95.1],
        },
        shrunken: patients
            .iter()
            .zip(&series.shrunken)
            .map(|(patient, s)| ShrunkenReport {
                patient: patient.clone(),
                mean: s.mean,
                sd: s.sd,
                ci95: [s.ci95.0, s.ci95.1],
                p_effect_positive: s.p_positive,
                p_beyond_mcid: s.p_beyond_mcid,
            })
            .collect(),
        empirical_bayes: EmpiricalBayesReport {
            mu_hat: eb.mu_hat,
            mu_sd: eb.mu_sd,
            tau_hat: eb.tau_hat,
            at_boundary: eb.at_boundary,
            log_likelihood: eb.log_likelihood,
            iterations: eb.iterations,
            converged: eb.converged,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "—".to_owned()
    }
}

fn interval(ci: [f64; 2]) -> String {
    format!("[{}, {}]", number(ci[0]), number(ci[1]))
}

fn print_table(report: &Report) {
    let [a, b] = &report.treatments;
    let direction = match report.better {
        Better::Higher => "higher",
        Better::Lower => "lower",
    };
    println!("n-of-1 analysis of {}", report.file);
    println!(
        "effect = {b} − {a}; {direction} is better; MCID {}",
        report.mcid
    );
    println!(
        "model: {} errors; prior: {}{}",
        if report.model == "ar1" {
            "AR(1)"
        } else {
            "independent"
        },
        report.prior.describe(),
        if report.skip_days > 0 {
            format!("; first {} days of each period left out", report.skip_days)
        } else {
            String::new()
        }
    );
    println!();
    let with_rho = report.model == "ar1";
    let mut header = format!(
        "{:<14} {:>6} {:>6} {:>9} {:>21} {:>8} {:>12}",
        "patient",
        format!("n({a})"),
        format!("n({b})"),
        "effect",
        "95% interval",
        "P(>0)",
        "P(>MCID)"
    );
    if with_rho {
        header.push_str(&format!(" {:>7}", "rho"));
    }
    println!("{header}");
    for p in &report.patients {
        let count = |name: &str| p.n.get(name).and_then(|v| v.as_u64()).unwrap_or(0);
        let mut line = format!(
            "{:<14} {:>6} {:>6} {:>9} {:>21} {:>8.4} {:>12.4}",
            p.patient,
            count(a),
            count(b),
            number(p.effect.mean),
            interval(p.effect.ci95),
            p.p_effect_positive,
            p.p_beyond_mcid
        );
        if let Some(rho) = p.rho {
            line.push_str(&format!(" {rho:>7.3}"));
        }
        println!("{line}");
    }
    let Some(pop) = &report.population else {
        return;
    };
    println!();
    println!(
        "population ({} patients; half-Cauchy(0, {}) prior on the between-patient SD τ)",
        pop.patients,
        number(pop.tau_scale)
    );
    println!(
        "  mean effect {}  95% interval {}  P(>0) {:.4}  P(>MCID) {:.4}",
        number(pop.mean),
        interval(pop.ci95),
        pop.p_effect_positive,
        pop.p_beyond_mcid
    );
    println!(
        "  τ: mean {}  median {}  95% interval {}",
        number(pop.tau.mean),
        number(pop.tau.median),
        interval(pop.tau.ci95)
    );
    println!(
        "  {:<12} {:>9} {:>21} {:>8} {:>12}",
        "shrunken", "effect", "95% interval", "P(>0)", "P(>MCID)"
    );
    for s in &pop.shrunken {
        println!(
            "  {:<12} {:>9} {:>21} {:>8.4} {:>12.4}",
            s.patient,
            number(s.mean),
            interval(s.ci95),
            s.p_effect_positive,
            s.p_beyond_mcid
        );
    }
    let eb = &pop.empirical_bayes;
    println!(
        "  empirical Bayes: μ̂ {} (SD {}), τ̂ {}{}, restricted log-likelihood {}{}",
        number(eb.mu_hat),
        number(eb.mu_sd),
        number(eb.tau_hat),
        if eb.at_boundary { " (boundary)" } else { "" },
        number(eb.log_likelihood),
        if eb.converged { "" } else { ", not converged" }
    );
    println!(
        "\nP(>MCID) is P(effect > MCID) when higher is better, P(effect < −MCID) when lower is."
    );
}

/// Runs `nof1` subcommands.
pub fn run(command: &Nof1Command) -> ExitCode {
    match command {
        Nof1Command::Analyse(args) => analyse(args),
    }
}

fn analyse(args: &AnalyseArgs) -> ExitCode {
    answer(report(args), args.json, print_table, |e| e.exit_code())
}
