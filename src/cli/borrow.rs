//! `bayestrial borrow`: borrowing across strata, by the hierarchical model (Berry et al. 2013)
//! or EXNEX (Neuenschwander et al. 2016), for statisticians to use and check.
//!
//! Reads one CSV of strata (`stratum,responders,n` for binary strata, `stratum,mean,se` for
//! normal ones; the header decides), parses the priors, makes one call to
//! `stats::borrow::BorrowWorkspace::fit` and prints a table, or JSON with `--json`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::output::answer;

use bayestrial::stats::borrow::{
    BorrowModel, BorrowPosterior, BorrowWorkspace, ExchangeWeights, HalfNormalPrior, NormalPrior,
    ScalarSummary, StrataModel, Stratum, MAX_STRATA,
};
use bayestrial::stats::StatsError;
use clap::ValueEnum;
use serde::Serialize;

/// The models of `borrow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// Berry et al. (2013): every stratum exchangeable.
    Bhm,
    /// Neuenschwander et al. (2016): exchangeable with probability W, else its own prior.
    Exnex,
}

/// Arguments of `borrow`.
#[derive(Debug, clap::Args)]
pub struct BorrowArgs {
    /// The model.
    #[arg(long, value_enum)]
    model: ModelArg,
    /// CSV with header `stratum,responders,n` (binary) or `stratum,mean,se` (normal).
    #[arg(long)]
    data: PathBuf,
    /// Prior of the population mean μ (logit scale for binary strata): `normal:M,S`.
    #[arg(long)]
    mu_prior: String,
    /// Prior of the between-strata SD τ: `halfnormal:S`.
    #[arg(long)]
    tau_prior: String,
    /// EXNEX only: the non-exchangeable prior of each stratum's θ: `normal:M,S`.
    #[arg(long)]
    nex_prior: Option<String>,
    /// EXNEX only: the prior probability W that a stratum is exchangeable (default 0.5).
    #[arg(long)]
    ex_weight: Option<f64>,
    /// The threshold of P(p > p0) (binary, in (0, 1); default 0.5) or P(θ > p0) (normal;
    /// default 0).
    #[arg(long)]
    p0: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Why the command failed; every variant exits with code 2 except a model that cannot be fitted
/// (exit 1).
#[derive(Debug, thiserror::Error)]
enum BorrowError {
    #[error("--{flag} {value:?}: {why}")]
    Argument {
        flag: &'static str,
        value: String,
        why: String,
    },
    /// `FILE:LINE: column FIELD: what is wrong`.
    #[error("{file}:{line}: {message}")]
    Input {
        file: String,
        line: u64,
        message: String,
    },
    #[error("cannot fit the model: {0}")]
    Fit(#[from] StatsError),
}

impl BorrowError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Argument { .. } | Self::Input { .. } => 2,
            Self::Fit(_) => 1,
        }
    }
}

fn argument(flag: &'static str, value: &str, why: impl Into<String>) -> BorrowError {
    BorrowError::Argument {
        flag,
        value: value.to_owned(),
        why: why.into(),
    }
}

fn input(file: &Path, line: u64, message: impl Into<String>) -> BorrowError {
    BorrowError::Input {
        file: file.display().to_string(),
        line,
        message: message.into(),
    }
}

/// `KIND:a,b,…` with the expected kind and count of finite numbers.
fn prior_numbers(
    flag: &'static str,
    text: &str,
    kind: &str,
    count: usize,
) -> Result<Vec<f64>, BorrowError> {
    let usage = if count == 2 {
        format!("expected {kind}:M,S (two finite numbers)")
    } else {
        format!("expected {kind}:S (one finite number)")
    };
    let Some(rest) = text.strip_prefix(kind).and_then(|r| r.strip_prefix(':')) else {
        return Err(argument(flag, text, usage));
    };
    let values: Result<Vec<f64>, _> = rest.split(',').map(|p| p.trim().parse::<f64>()).collect();
    match values {
        Ok(v) if v.len() == count && v.iter().all(|x| x.is_finite()) => Ok(v),
        _ => Err(argument(flag, text, usage)),
    }
}

fn normal_prior(
    flag: &'static str,
    name: &'static str,
    text: &str,
) -> Result<NormalPrior, BorrowError> {
    let v = prior_numbers(flag, text, "normal", 2)?;
    NormalPrior::new(name, v[0], v[1]).map_err(|e| argument(flag, text, e.to_string()))
}

/// One stratum of the file.
#[derive(Debug)]
struct Row {
    name: String,
    stratum: Stratum,
}

/// The kinds of file `borrow` reads, by their header.
const BINARY_HEADER: [&str; 3] = ["stratum", "responders", "n"];
const NORMAL_HEADER: [&str; 3] = ["stratum", "mean", "se"];

fn read_strata(file: &Path) -> Result<Vec<Row>, BorrowError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| input(file, 0, format!("cannot read: {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| input(file, 1, format!("cannot read the header: {e}")))?
        .clone();
    let found: Vec<&str> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}'))
        .collect();
    if found.iter().all(|h| h.is_empty()) {
        return Err(input(
            file,
            1,
            "the file is empty: expected a header and one row per stratum",
        ));
    }
    let binary = if found == BINARY_HEADER {
        true
    } else if found == NORMAL_HEADER {
        false
    } else {
        return Err(input(
            file,
            1,
            format!(
                "the header must be `{}` (binary) or `{}` (normal), found `{}`",
                BINARY_HEADER.join(","),
                NORMAL_HEADER.join(","),
                found.join(",")
            ),
        ));
    };
    let mut rows = Vec::new();
    let mut names = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths { len, .. } => {
                    format!("expected 3 columns ({}), found {len}", found.join(","))
                }
                _ => e.to_string(),
            };
            input(file, line, message)
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("");
        let name = field(0).to_owned();
        if name.is_empty() {
            return Err(input(file, line, "column stratum: empty"));
        }
        if !names.insert(name.clone()) {
            return Err(input(
                file,
                line,
                format!("column stratum: {name:?} appears twice"),
            ));
        }
        if rows.len() == MAX_STRATA {
            return Err(input(
                file,
                line,
                format!("too many strata: at most {MAX_STRATA} are supported"),
            ));
        }
        let stratum = if binary {
            let count = |column: &str, text: &str| -> Result<u64, BorrowError> {
                text.parse::<u64>().map_err(|_| {
                    input(
                        file,
                        line,
                        format!("column {column}: {text:?} is not a whole number ≥ 0"),
                    )
                })
            };
            let responders = count("responders", field(1))?;
            let n = count("n", field(2))?;
            if n == 0 {
                return Err(input(file, line, "column n: must be at least 1"));
            }
            if responders > n {
                return Err(input(
                    file,
                    line,
                    format!("column responders: {responders} is more than n = {n}"),
                ));
            }
            Stratum::Binary { responders, n }
        } else {
            let mean = field(1).parse::<f64>().ok().filter(|v| v.is_finite());
            let Some(mean) = mean else {
                return Err(input(
                    file,
                    line,
                    format!("column mean: {:?} is not a finite number", field(1)),
                ));
            };
            let se = field(2)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0);
            let Some(se) = se else {
                return Err(input(
                    file,
                    line,
                    format!("column se: {:?} is not a finite positive number", field(2)),
                ));
            };
            Stratum::Normal { mean, se }
        };
        rows.push(Row { name, stratum });
    }
    if rows.is_empty() {
        return Err(input(
            file,
            1,
            "no strata: expected one row per stratum after the header",
        ));
    }
    Ok(rows)
}

/// A stratum's line of the report.
#[derive(Debug, Serialize)]
struct StratumReport {
    stratum: String,
    mean: f64,
    sd: f64,
    median: f64,
    ci95: [f64; 2],
    p_above_p0: f64,
    p_exchangeable: f64,
}

/// The report: the model, its inputs and the posterior.
#[derive(Debug, Serialize)]
struct Report {
    model: &'static str,
    outcome: &'static str,
    /// The scale of `mean`, `sd`, `median`, `ci95`: p (binary) or θ (normal).
    scale: &'static str,
    p0: f64,
    strata: Vec<StratumReport>,
    mu: ScalarSummary,
    tau: ScalarSummary,
}

fn report(args: &BorrowArgs) -> Result<Report, BorrowError> {
    let mu = normal_prior("mu-prior", "mu sd", &args.mu_prior)?;
    let tau_scale = prior_numbers("tau-prior", &args.tau_prior, "halfnormal", 1)?;
    let tau = HalfNormalPrior::new(tau_scale[0])
        .map_err(|e| argument("tau-prior", &args.tau_prior, e.to_string()))?;
    let strata_model = match args.model {
        ModelArg::Bhm => {
            if let Some(text) = &args.nex_prior {
                return Err(argument("nex-prior", text, "is for --model exnex only"));
            }
            if let Some(w) = args.ex_weight {
                return Err(argument(
                    "ex-weight",
                    &w.to_string(),
                    "is for --model exnex only",
                ));
            }
            StrataModel::Hierarchical
        }
        ModelArg::Exnex => {
            let Some(text) = &args.nex_prior else {
                return Err(argument(
                    "nex-prior",
                    "",
                    "--model exnex needs --nex-prior normal:M,S",
                ));
            };
            let nex = normal_prior("nex-prior", "nex sd", text)?;
            let w = args.ex_weight.unwrap_or(0.5);
            if !(0.0..=1.0).contains(&w) {
                return Err(argument("ex-weight", &w.to_string(), "must lie in [0, 1]"));
            }
            StrataModel::Exnex {
                nex,
                weights: ExchangeWeights::Common(w),
            }
        }
    };
    let rows = read_strata(&args.data)?;
    let binary = matches!(rows[0].stratum, Stratum::Binary { .. });
    let p0 = args.p0.unwrap_or(if binary { 0.5 } else { 0.0 });
    if binary && !(p0 > 0.0 && p0 < 1.0) {
        return Err(argument(
            "p0",
            &p0.to_string(),
            "must lie strictly between 0 and 1",
        ));
    }
    if !p0.is_finite() {
        return Err(argument("p0", &p0.to_string(), "must be finite"));
    }
    let model = BorrowModel {
        mu,
        tau,
        strata: strata_model,
    };
    let strata: Vec<Stratum> = rows.iter().map(|r| r.stratum).collect();
    let mut workspace = BorrowWorkspace::new();
    let posterior: &BorrowPosterior = workspace.fit(&model, &strata, p0)?;
    Ok(Report {
        model: match args.model {
            ModelArg::Bhm => "bhm",
            ModelArg::Exnex => "exnex",
        },
        outcome: if binary { "binary" } else { "normal" },
        scale: if binary { "p" } else { "theta" },
        p0,
        strata: rows
            .iter()
            .zip(&posterior.strata)
            .map(|(row, s)| StratumReport {
                stratum: row.name.clone(),
                mean: s.summary.mean,
                sd: s.summary.sd,
                median: s.summary.median,
                ci95: s.summary.ci95,
                p_above_p0: s.p_above,
                p_exchangeable: s.p_exchangeable,
            })
            .collect(),
        mu: posterior.mu,
        tau: posterior.tau,
    })
}

fn print_table(report: &Report) {
    let scale = report.scale;
    println!(
        "{} model, {} strata; posterior of {scale} per stratum",
        report.model, report.outcome
    );
    let width = report
        .strata
        .iter()
        .map(|s| s.stratum.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    println!(
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>19}  {:>9}  {:>8}",
        "stratum",
        "mean",
        "sd",
        "median",
        "95% interval",
        format!("P(>{})", report.p0),
        "P(EX)"
    );
    for s in &report.strata {
        println!(
            "{:<width$}  {:>8.4}  {:>8.4}  {:>8.4}  [{:>8.4}, {:>8.4}]  {:>9.4}  {:>8.4}",
            s.stratum, s.mean, s.sd, s.median, s.ci95[0], s.ci95[1], s.p_above_p0, s.p_exchangeable
        );
    }
    for (name, p) in [("mu", &report.mu), ("tau", &report.tau)] {
        println!(
            "{:<width$}  {:>8.4}  {:>8.4}  {:>8.4}  [{:>8.4}, {:>8.4}]",
            name, p.mean, p.sd, p.median, p.ci95[0], p.ci95[1]
        );
    }
}

/// Runs `borrow`.
pub fn run(args: &BorrowArgs) -> ExitCode {
    answer(report(args), args.json, print_table, |e| e.exit_code())
}
