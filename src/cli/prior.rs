//! `bayestrial prior map` (a meta-analytic-predictive prior from historical studies) and
//! `bayestrial prior ess` (the effective sample size of a mixture prior). The numerics are in
//! `bayestrial::stats::{map, map_fit, ess}`; this file reads the CSV, parses the arguments,
//! calls and prints.
//!
//! Exit codes: 0 done; 1 the numerics refuse the input (the message names the study or the
//! mixture component); 2 usage errors and unreadable or invalid CSV (`FILE:LINE: column …`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bayestrial::stats::{
    beta_moments, ess_beta, ess_gamma, ess_normal, normal_moments, robust_normal, robustify,
    BetaPrior, BinaryStudy, Component, EssMethod, GammaPrior, HierarchicalPriors, MapPredictive,
    Mixture, NormalComponent, NormalStudy, StatsError, Summary, MAX_HISTORICAL, ROBUST_BETA,
};
use serde::Serialize;

/// `prior` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PriorCommand {
    /// A meta-analytic-predictive (MAP) prior from historical studies: the hierarchical model's
    /// predictive for a new study, computed exactly and approximated by a mixture; printed as a
    /// protocol `prior = …` line with its summary.
    Map(MapArgs),
    /// The effective sample size of a mixture prior.
    Ess(EssArgs),
}

/// Arguments of `prior map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    /// CSV file with the header `study,responders,n` (binary), `study,mean,se` or
    /// `study,mean,sd,n` (normal); at most 10,000 rows.
    #[arg(long)]
    historical: PathBuf,
    /// Number of mixture components (1–7); default: the number AIC prefers.
    #[arg(long)]
    components: Option<usize>,
    /// Add a robust component with this weight (0 < W < 1): Beta(1, 1) for binary data,
    /// N(mean, σ²) (unit information) for normal data.
    #[arg(long)]
    robust: Option<f64>,
    /// Mean of the normal robust component (default: the MAP prior's mean).
    #[arg(long)]
    robust_mean: Option<f64>,
    /// Prior of the population mean μ, `normal:M,S` (default normal:0,2 for binary data on the
    /// logit scale; normal:0,σ for normal data).
    #[arg(long)]
    mu_prior: Option<String>,
    /// Prior of the between-study SD τ, `halfnormal:S` (default halfnormal:1 for binary data;
    /// halfnormal:σ/2 for normal data).
    #[arg(long)]
    tau_prior: Option<String>,
    /// Normal data: the reference sampling SD σ (default for `study,mean,sd,n`: the
    /// n-weighted root mean square of the SDs; required for `study,mean,se`).
    #[arg(long)]
    sigma: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The family of a mixture given to `prior ess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Family {
    /// Beta components `w:a:b` (binomial likelihood).
    Beta,
    /// Gamma components `w:shape:rate` (Poisson likelihood).
    Gamma,
    /// Normal components `w:mean:sd` (normal likelihood with sampling SD --sigma).
    Normal,
}

/// Arguments of `prior ess`.
#[derive(Debug, clap::Args)]
pub struct EssArgs {
    /// The mixture, `w:p:q,w:p:q,…` (weights summing to 1).
    #[arg(long)]
    mixture: String,
    /// The components' family.
    #[arg(long, value_enum, default_value = "beta")]
    family: Family,
    /// Normal mixtures: the reference sampling SD σ.
    #[arg(long)]
    sigma: Option<f64>,
    /// `elir`, `moment` or `morita`.
    #[arg(long, default_value = "elir")]
    method: EssMethod,
    /// Print JSON (`{"ess": X, "method": M}`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Why the command failed, with its exit code.
#[derive(Debug, thiserror::Error)]
enum PriorError {
    /// A bad argument (exit 2).
    #[error("--{flag} {value:?}: {why}")]
    Argument {
        flag: &'static str,
        value: String,
        why: String,
    },
    /// The file cannot be read or is not valid input (exit 2).
    #[error("{0}")]
    Input(String),
    /// The numerics refuse the input (exit 1).
    #[error("{0}")]
    Stats(#[from] StatsError),
    /// The report cannot be encoded as JSON (exit 1).
    #[error("cannot encode the report: {0}")]
    Encode(#[from] serde_json::Error),
}

impl PriorError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Argument { .. } | Self::Input(_) => 2,
            Self::Stats(_) | Self::Encode(_) => 1,
        }
    }
}

fn argument(flag: &'static str, value: &str, why: impl Into<String>) -> PriorError {
    PriorError::Argument {
        flag,
        value: value.to_owned(),
        why: why.into(),
    }
}

fn input(file: &Path, line: Option<u64>, message: impl std::fmt::Display) -> PriorError {
    match line {
        Some(line) => PriorError::Input(format!("{}:{line}: {message}", file.display())),
        None => PriorError::Input(format!("{}: {message}", file.display())),
    }
}

/// Runs a `prior` subcommand.
pub fn run(command: &PriorCommand) -> ExitCode {
    let outcome = match command {
        PriorCommand::Map(args) => map(args).and_then(|report| {
            if args.json {
                Ok(serde_json::to_string_pretty(&report)?)
            } else {
                Ok(report.table())
            }
        }),
        PriorCommand::Ess(args) => ess(args).and_then(|report| {
            if args.json {
                Ok(serde_json::to_string(&report)?)
            } else {
                Ok(format!("ESS ({}): {:.2}", report.method, report.ess))
            }
        }),
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// The answer of `prior ess --json`.
#[derive(Debug, Serialize)]
struct EssReport {
    ess: f64,
    method: &'static str,
}

fn ess(args: &EssArgs) -> Result<EssReport, PriorError> {
    let parts = parse_parts(&args.mixture)?;
    let ess = match args.family {
        Family::Beta => ess_beta(&mixture(&parts, |a, b| BetaPrior { a, b })?, args.method)?,
        Family::Gamma => ess_gamma(
            &mixture(&parts, |shape, rate| GammaPrior { shape, rate })?,
            args.method,
        )?,
        Family::Normal => {
            let sigma = args.sigma.ok_or_else(|| {
                argument(
                    "sigma",
                    "",
                    "normal mixtures need the reference sampling SD --sigma",
                )
            })?;
            ess_normal(
                &mixture(&parts, |mean, sd| NormalComponent { mean, sd })?,
                sigma,
                args.method,
            )?
        }
    };
    Ok(EssReport {
        ess,
        method: args.method.name(),
    })
}

/// `w:p:q,…` as numbers, the message naming the component.
fn parse_parts(text: &str) -> Result<Vec<[f64; 3]>, PriorError> {
    text.split(',')
        .enumerate()
        .map(|(index, part)| {
            let fields: Vec<&str> = part.split(':').map(str::trim).collect();
            if fields.len() != 3 {
                return Err(argument(
                    "mixture",
                    text,
                    format!("component {}: {part:?} is not w:p:q", index + 1),
                ));
            }
            let mut numbers = [0.0; 3];
            for (slot, field) in numbers.iter_mut().zip(&fields) {
                *slot = field.parse::<f64>().map_err(|_| {
                    argument(
                        "mixture",
                        text,
                        format!("component {}: {field:?} is not a number", index + 1),
                    )
                })?;
            }
            Ok(numbers)
        })
        .collect()
}

fn mixture<C: Component>(
    parts: &[[f64; 3]],
    make: impl Fn(f64, f64) -> C,
) -> Result<Mixture<C>, PriorError> {
    let parts: Vec<(f64, C)> = parts.iter().map(|p| (p[0], make(p[1], p[2]))).collect();
    Ok(Mixture::new(&parts)?)
}

/// The historical data as read.
enum Historical {
    Binary(Vec<BinaryStudy>),
    /// Studies, and the reference scale when the file gives SDs and sizes.
    Normal(Vec<NormalStudy>, Option<f64>),
}

fn number(file: &Path, line: u64, column: &str, text: &str) -> Result<f64, PriorError> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(input(
            file,
            Some(line),
            format!("column {column}: {text:?} is not a finite number"),
        )),
    }
}

fn count(file: &Path, line: u64, column: &str, text: &str) -> Result<u64, PriorError> {
    text.parse::<u64>().map_err(|_| {
        input(
            file,
            Some(line),
            format!("column {column}: {text:?} is not a whole number ≥ 0"),
        )
    })
}

/// Reads the historical CSV; the header decides the kind of data.
fn read_historical(file: &Path) -> Result<Historical, PriorError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| input(file, None, format!("cannot read: {e}")))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| input(file, Some(1), format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let kind = match header
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["study", "responders", "n"] => 0,
        ["study", "mean", "se"] => 1,
        ["study", "mean", "sd", "n"] => 2,
        found => {
            return Err(input(
                file,
                Some(1),
                format!(
                    "the header must be `study,responders,n`, `study,mean,se` or \
                     `study,mean,sd,n`, found `{}`",
                    found.join(",")
                ),
            ))
        }
    };
    let (mut binary, mut normal) = (Vec::new(), Vec::new());
    let (mut weighted_variance, mut total_n) = (0.0, 0.0);
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line());
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths { len, .. } => {
                    format!(
                        "expected {} columns ({}), found {len}",
                        header.len(),
                        header.join(",")
                    )
                }
                _ => e.to_string(),
            };
            input(file, line, message)
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if binary.len() + normal.len() >= MAX_HISTORICAL {
            return Err(input(
                file,
                Some(line),
                format!("more than {MAX_HISTORICAL} historical studies"),
            ));
        }
        let field = |i: usize| record.get(i).unwrap_or("");
        if field(0).is_empty() {
            return Err(input(file, Some(line), "column study: empty"));
        }
        match kind {
            0 => {
                let responders = count(file, line, "responders", field(1))?;
                let n = count(file, line, "n", field(2))?;
                if n == 0 {
                    return Err(input(
                        file,
                        Some(line),
                        "column n: 0; a study needs participants",
                    ));
                }
                if responders > n {
                    return Err(input(
                        file,
                        Some(line),
                        format!("column responders: {responders} exceeds n = {n}"),
                    ));
                }
                binary.push(BinaryStudy { responders, n });
            }
            1 => {
                let mean = number(file, line, "mean", field(1))?;
                let se = number(file, line, "se", field(2))?;
                if se <= 0.0 {
                    return Err(input(
                        file,
                        Some(line),
                        format!("column se: {se} must be positive"),
                    ));
                }
                normal.push(NormalStudy { mean, se });
            }
            _ => {
                let mean = number(file, line, "mean", field(1))?;
                let sd = number(file, line, "sd", field(2))?;
                if sd <= 0.0 {
                    return Err(input(
                        file,
                        Some(line),
                        format!("column sd: {sd} must be positive"),
                    ));
                }
                let n = count(file, line, "n", field(3))?;
                if n == 0 {
                    return Err(input(
                        file,
                        Some(line),
                        "column n: 0; a study needs participants",
                    ));
                }
                let n = n as f64;
                weighted_variance += n * sd * sd;
                total_n += n;
                normal.push(NormalStudy {
                    mean,
                    se: sd / n.sqrt(),
                });
            }
        }
    }
    if binary.is_empty() && normal.is_empty() {
        return Err(input(
            file,
            None,
            "no historical studies (the file has a header only)",
        ));
    }
    Ok(match kind {
        0 => Historical::Binary(binary),
        1 => Historical::Normal(normal, None),
        _ => Historical::Normal(normal, Some((weighted_variance / total_n).sqrt())),
    })
}

/// `normal:M,S`.
fn parse_mu_prior(text: &str) -> Result<(f64, f64), PriorError> {
    let why = "expected normal:M,S with S > 0";
    let rest = text
        .strip_prefix("normal:")
        .ok_or_else(|| argument("mu-prior", text, why))?;
    let numbers: Vec<f64> = rest
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| argument("mu-prior", text, why))?;
    match numbers.as_slice() {
        [m, s] if m.is_finite() && s.is_finite() && *s > 0.0 => Ok((*m, *s)),
        _ => Err(argument("mu-prior", text, why)),
    }
}

/// `halfnormal:S`.
fn parse_tau_prior(text: &str) -> Result<f64, PriorError> {
    let why = "expected halfnormal:S with S > 0";
    text.strip_prefix("halfnormal:")
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| argument("tau-prior", text, why))
}

/// A fitted component as the report shows it.
#[derive(Debug, Serialize)]
struct ReportComponent {
    weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sd: Option<f64>,
}

/// Mean and SD of the fitted mixture.
#[derive(Debug, Serialize)]
struct Moments {
    mean: f64,
    sd: f64,
}

/// The answer of `prior map`.
#[derive(Debug, Serialize)]
struct MapReport {
    family: &'static str,
    studies: usize,
    mu_prior: [f64; 2],
    tau_prior: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sigma: Option<f64>,
    components: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    robust_weight: Option<f64>,
    mixture: Vec<ReportComponent>,
    protocol: String,
    predictive: Summary,
    mixture_moments: Moments,
    tau: Summary,
    ess_elir: f64,
    aic: Vec<(usize, f64)>,
}

/// A number for the protocol line: up to 10 significant digits, no trailing zeros.
fn short(x: f64) -> String {
    let digits = (9 - x.abs().log10().floor().max(-20.0) as i32).clamp(0, 20) as usize;
    let text = format!("{x:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn map(args: &MapArgs) -> Result<MapReport, PriorError> {
    let historical = read_historical(&args.historical)?;
    let mu = args.mu_prior.as_deref().map(parse_mu_prior).transpose()?;
    let tau = args.tau_prior.as_deref().map(parse_tau_prior).transpose()?;
    if let Some(w) = args.robust {
        if !(w > 0.0 && w < 1.0) {
            return Err(argument(
                "robust",
                &w.to_string(),
                "the weight must lie strictly between 0 and 1",
            ));
        }
    }
    match historical {
        Historical::Binary(studies) => {
            let defaults = HierarchicalPriors::BINARY_DEFAULT;
            let priors = HierarchicalPriors {
                mu_mean: mu.map_or(defaults.mu_mean, |m| m.0),
                mu_sd: mu.map_or(defaults.mu_sd, |m| m.1),
                tau_scale: tau.unwrap_or(defaults.tau_scale),
            };
            let predictive = MapPredictive::binary(&studies, priors)?;
            let fit = predictive.fit_beta(args.components)?;
            let fitted = fit.mixture.len();
            let mixture = match args.robust {
                Some(w) => robustify(&fit.mixture, w, ROBUST_BETA)?,
                None => fit.mixture,
            };
            let (mean, variance) = beta_moments(&mixture);
            let parts: Vec<String> = mixture
                .iter()
                .map(|(w, c)| {
                    format!(
                        "{{ weight = {}, beta = [{}, {}] }}",
                        short(w),
                        short(c.a),
                        short(c.b)
                    )
                })
                .collect();
            Ok(MapReport {
                family: "beta",
                studies: studies.len(),
                mu_prior: [priors.mu_mean, priors.mu_sd],
                tau_prior: priors.tau_scale,
                sigma: None,
                components: fitted,
                robust_weight: args.robust,
                mixture: mixture
                    .iter()
                    .map(|(weight, c)| ReportComponent {
                        weight,
                        a: Some(c.a),
                        b: Some(c.b),
                        mean: None,
                        sd: None,
                    })
                    .collect(),
                protocol: format!("prior = {{ mixture = [ {} ] }}", parts.join(", ")),
                predictive: predictive.summary(),
                mixture_moments: Moments {
                    mean,
                    sd: variance.max(0.0).sqrt(),
                },
                tau: predictive.tau(),
                ess_elir: ess_beta(&mixture, EssMethod::Elir)?,
                aic: fit.aic,
            })
        }
        Historical::Normal(studies, estimated) => {
            let sigma = match (args.sigma, estimated) {
                (Some(s), _) if s.is_finite() && s > 0.0 => s,
                (Some(s), _) => {
                    return Err(argument(
                        "sigma",
                        &s.to_string(),
                        "must be finite and positive",
                    ))
                }
                (None, Some(s)) => s,
                (None, None) => return Err(argument(
                    "sigma",
                    "",
                    "study,mean,se data need the reference sampling SD --sigma (for the priors' \
                         defaults, the robust component and the ESS)",
                )),
            };
            let defaults = HierarchicalPriors::normal_default(sigma);
            let priors = HierarchicalPriors {
                mu_mean: mu.map_or(defaults.mu_mean, |m| m.0),
                mu_sd: mu.map_or(defaults.mu_sd, |m| m.1),
                tau_scale: tau.unwrap_or(defaults.tau_scale),
            };
            let predictive = MapPredictive::normal(&studies, priors)?;
            let fit = predictive.fit_normal(args.components)?;
            let fitted = fit.mixture.len();
            let fitted_mean: f64 = fit.mixture.iter().map(|(w, c)| w * c.mean).sum();
            let mixture = match args.robust {
                Some(w) => robustify(
                    &fit.mixture,
                    w,
                    robust_normal(args.robust_mean.unwrap_or(fitted_mean), sigma),
                )?,
                None => fit.mixture,
            };
            let (mean, variance) = normal_moments(&mixture);
            let parts: Vec<String> = mixture
                .iter()
                .map(|(w, c)| {
                    format!(
                        "{{ weight = {}, normal = [{}, {}] }}",
                        short(w),
                        short(c.mean),
                        short(c.sd)
                    )
                })
                .collect();
            Ok(MapReport {
                family: "normal",
                studies: studies.len(),
                mu_prior: [priors.mu_mean, priors.mu_sd],
                tau_prior: priors.tau_scale,
                sigma: Some(sigma),
                components: fitted,
                robust_weight: args.robust,
                mixture: mixture
                    .iter()
                    .map(|(weight, c)| ReportComponent {
                        weight,
                        a: None,
                        b: None,
                        mean: Some(c.mean),
                        sd: Some(c.sd),
                    })
                    .collect(),
                protocol: format!("prior = {{ mixture = [ {} ] }}", parts.join(", ")),
                predictive: predictive.summary(),
                mixture_moments: Moments {
                    mean,
                    sd: variance.max(0.0).sqrt(),
                },
                tau: predictive.tau(),
                ess_elir: ess_normal(&mixture, sigma, EssMethod::Elir)?,
                aic: fit.aic,
            })
        }
    }
}

impl MapReport {
    fn table(&self) -> String {
        let mut out =
            format!(
            "MAP prior from {} historical studies ({}; mu ~ N({}, {}^2), tau ~ HalfNormal({}){})\n",
            self.studies,
            if self.family == "beta" { "binary, logit scale" } else { "normal" },
            self.mu_prior[0],
            self.mu_prior[1],
            self.tau_prior,
            self.sigma.map_or(String::new(), |s| format!(", sigma = {s}")),
        );
        out.push_str(&format!(
            "{} fitted component(s){}\n{}\n\n",
            self.components,
            self.robust_weight.map_or(String::new(), |w| format!(
                " + robust component (weight {w})"
            )),
            self.protocol
        ));
        let parameter = if self.family == "beta" {
            "p_new"
        } else {
            "theta_new"
        };
        out.push_str(&format!(
            "{:<22}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
            "", "mean", "sd", "2.5%", "50%", "97.5%"
        ));
        for (name, s) in [
            (format!("{parameter} (exact)"), &self.predictive),
            ("tau".to_owned(), &self.tau),
        ] {
            out.push_str(&format!(
                "{name:<22}{:>10.4}{:>10.4}{:>10.4}{:>10.4}{:>10.4}\n",
                s.mean, s.sd, s.q025, s.median, s.q975
            ));
        }
        out.push_str(&format!(
            "{:<22}{:>10.4}{:>10.4}\n\nESS (ELIR) of the prior: {:.1}",
            "mixture", self.mixture_moments.mean, self.mixture_moments.sd, self.ess_elir
        ));
        out
    }
}
