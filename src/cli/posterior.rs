//! `bayestrial posterior`: a posterior calculator for statisticians.
//!
//! Arms are given as summary data; the prior is conjugate to the outcome kind, the same for every
//! arm unless `--arm-prior` gives an arm its own (a plain prior or a mixture). The output is a
//! readable table, or JSON with `--json`.

use std::process::ExitCode;

use super::output::answer;

use bayestrial::protocol::Prior;
use bayestrial::stats::{
    BetaPrior, Better, ConjugateModel, GammaPrior, Marginal, Mixture, NigPrior, PosteriorSummary,
    Quadrature, Shape, StatsError,
};
use clap::ValueEnum;
use serde::Serialize;

/// The default Normal-Inverse-Gamma prior: μ0 = 0, κ0 = 1e-6, α0 = 1e-3, β0 = 1e-3.
pub const DEFAULT_NIG: [f64; 4] = [0.0, 1e-6, 1e-3, 1e-3];

/// Outcome kinds accepted by the calculator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    /// `--arm NAME=successes/trials`, Beta prior.
    Binary,
    /// `--arm NAME=mean,sd,n` (sample SD), Normal-Inverse-Gamma prior.
    Continuous,
    /// `--arm NAME=events/exposure`, Gamma prior.
    Count,
}

/// Arguments of `posterior`.
#[derive(Debug, clap::Args)]
pub struct PosteriorArgs {
    /// Outcome kind.
    #[arg(long, value_enum)]
    outcome: OutcomeArg,
    /// One arm: binary `NAME=s/n`, continuous `NAME=mean,sd,n`, count `NAME=events/exposure`.
    #[arg(long = "arm", required = true)]
    arms: Vec<String>,
    /// Beta prior `a,b` for binary outcomes.
    #[arg(long, default_value = "1,1")]
    prior_beta: String,
    /// Normal-Inverse-Gamma prior `mu0,kappa0,alpha0,beta0` (default 0,1e-6,1e-3,1e-3).
    #[arg(long)]
    prior_nig: Option<String>,
    /// Gamma prior `shape,rate` for counts (default: the protocol default, 0.5,0.001).
    #[arg(long)]
    prior_gamma: Option<String>,
    /// One arm's own prior, replacing the global one for that arm (repeat for several arms):
    /// `ARM=beta:a,b`, `ARM=gamma:shape,rate`, `ARM=nig:mu0,kappa0,alpha0,beta0`, or a mixture
    /// `ARM=mixture:w:a:b,w:a:b,…` (Beta components), `ARM=mixture-gamma:w:shape:rate,…`,
    /// `ARM=mixture-nig:w:mu0:kappa0:alpha0:beta0,…`; weights sum to 1, and the family must be
    /// the outcome's.
    #[arg(long = "arm-prior", value_name = "ARM=PRIOR")]
    arm_priors: Vec<String>,
    /// The control arm's name: adds P(better than control) and, with --delta, P(equivalent).
    #[arg(long)]
    control: Option<String>,
    /// Margin δ for the comparisons with the control.
    #[arg(long, default_value_t = 0.0)]
    delta: f64,
    /// Which direction of the parameter is better.
    #[arg(long, default_value = "higher")]
    better: Better,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One arm's results.
#[derive(Debug, Serialize)]
struct ArmReport {
    id: String,
    posterior: Marginal,
    mean: Option<f64>,
    median: f64,
    sd: Option<f64>,
    ci95: [f64; 2],
    p_best: f64,
    p_worst: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    p_better_than_control: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p_equivalent_to_control: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    outcome: &'static str,
    better: Better,
    #[serde(skip_serializing_if = "Option::is_none")]
    control: Option<String>,
    delta: f64,
    arms: Vec<ArmReport>,
}

/// A usage error: what was wrong with which argument.
#[derive(Debug, thiserror::Error)]
enum ArgError {
    #[error("--{flag} {value:?}: {why}")]
    Bad {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error(transparent)]
    Stats(#[from] StatsError),
}

fn numbers(flag: &'static str, text: &str, count: usize, sep: char) -> Result<Vec<f64>, ArgError> {
    let parts: Result<Vec<f64>, _> = text.split(sep).map(|p| p.trim().parse::<f64>()).collect();
    match parts {
        Ok(values) if values.len() == count && values.iter().all(|v| v.is_finite()) => Ok(values),
        _ => Err(ArgError::Bad {
            flag,
            value: text.to_owned(),
            why: format!("expected {count} finite numbers separated by '{sep}'"),
        }),
    }
}

fn bad(flag: &'static str, value: &str, why: impl Into<String>) -> ArgError {
    ArgError::Bad {
        flag,
        value: value.to_owned(),
        why: why.into(),
    }
}

fn prior_model(args: &PosteriorArgs) -> Result<ConjugateModel, ArgError> {
    Ok(match args.outcome {
        OutcomeArg::Binary => {
            let v = numbers("prior-beta", &args.prior_beta, 2, ',')?;
            ConjugateModel::beta_binomial(BetaPrior { a: v[0], b: v[1] })?
        }
        OutcomeArg::Continuous => {
            let v = match &args.prior_nig {
                Some(text) => numbers("prior-nig", text, 4, ',')?,
                None => DEFAULT_NIG.to_vec(),
            };
            ConjugateModel::normal(NigPrior {
                mu0: v[0],
                kappa0: v[1],
                alpha0: v[2],
                beta0: v[3],
            })?
        }
        OutcomeArg::Count => {
            let v = match (&args.prior_gamma, bayestrial::protocol::DEFAULT_GAMMA) {
                (Some(text), _) => numbers("prior-gamma", text, 2, ',')?,
                (None, Prior::Gamma { shape, rate }) => vec![shape, rate],
                (None, _) => vec![0.5, 0.001],
            };
            ConjugateModel::gamma_poisson(GammaPrior {
                shape: v[0],
                rate: v[1],
            })?
        }
    })
}

/// The family a prior's text names, with the outcome it belongs to.
fn family_outcome(family: &str) -> Option<OutcomeArg> {
    match family {
        "beta" | "mixture" => Some(OutcomeArg::Binary),
        "gamma" | "mixture-gamma" => Some(OutcomeArg::Count),
        "nig" | "mixture-nig" => Some(OutcomeArg::Continuous),
        _ => None,
    }
}

/// `(weight, parameters…)` of each component of a mixture's text `w:p1:p2,…`.
fn mixture_parts(spec: &str, text: &str, count: usize) -> Result<Vec<(f64, Vec<f64>)>, ArgError> {
    text.split(',')
        .enumerate()
        .map(|(index, part)| {
            let values = numbers("arm-prior", part, count + 1, ':').map_err(|_| {
                bad(
                    "arm-prior",
                    spec,
                    format!(
                        "component {}: expected {} numbers w:… separated by ':'",
                        index + 1,
                        count + 1
                    ),
                )
            })?;
            Ok((values[0], values[1..].to_vec()))
        })
        .collect()
}

/// One `--arm-prior ARM=PRIOR`: the arm's name and its model with no data.
fn arm_prior(outcome: OutcomeArg, spec: &str) -> Result<(String, ConjugateModel), ArgError> {
    let (arm, prior) = spec
        .split_once('=')
        .ok_or_else(|| bad("arm-prior", spec, "expected ARM=PRIOR"))?;
    let (family, values) = prior.split_once(':').ok_or_else(|| {
        bad(
            "arm-prior",
            spec,
            "expected beta:a,b, gamma:shape,rate, nig:mu0,kappa0,alpha0,beta0 or mixture:w:a:b,…",
        )
    })?;
    let expected = family_outcome(family).ok_or_else(|| {
        bad(
            "arm-prior",
            spec,
            format!(
                "unknown prior {family:?}: use beta, gamma, nig, mixture, mixture-gamma or                  mixture-nig"
            ),
        )
    })?;
    if expected != outcome {
        return Err(bad(
            "arm-prior",
            spec,
            format!("a {family} prior does not fit a {outcome:?} outcome").to_lowercase(),
        ));
    }
    let in_mixture = |e: StatsError| bad("arm-prior", spec, e.to_string());
    let model = match family {
        "beta" => {
            let v = numbers("arm-prior", values, 2, ',')?;
            ConjugateModel::beta_binomial(BetaPrior { a: v[0], b: v[1] })?
        }
        "gamma" => {
            let v = numbers("arm-prior", values, 2, ',')?;
            ConjugateModel::gamma_poisson(GammaPrior {
                shape: v[0],
                rate: v[1],
            })?
        }
        "nig" => {
            let v = numbers("arm-prior", values, 4, ',')?;
            ConjugateModel::normal(NigPrior {
                mu0: v[0],
                kappa0: v[1],
                alpha0: v[2],
                beta0: v[3],
            })?
        }
        "mixture" => {
            let parts: Vec<(f64, BetaPrior)> = mixture_parts(spec, values, 2)?
                .into_iter()
                .map(|(w, v)| (w, BetaPrior { a: v[0], b: v[1] }))
                .collect();
            ConjugateModel::beta_binomial_mixture(Mixture::new(&parts).map_err(in_mixture)?)
        }
        "mixture-gamma" => {
            let parts: Vec<(f64, GammaPrior)> = mixture_parts(spec, values, 2)?
                .into_iter()
                .map(|(w, v)| {
                    (
                        w,
                        GammaPrior {
                            shape: v[0],
                            rate: v[1],
                        },
                    )
                })
                .collect();
            ConjugateModel::gamma_poisson_mixture(Mixture::new(&parts).map_err(in_mixture)?)
        }
        _ => {
            let parts: Vec<(f64, NigPrior)> = mixture_parts(spec, values, 4)?
                .into_iter()
                .map(|(w, v)| {
                    (
                        w,
                        NigPrior {
                            mu0: v[0],
                            kappa0: v[1],
                            alpha0: v[2],
                            beta0: v[3],
                        },
                    )
                })
                .collect();
            ConjugateModel::normal_mixture(Mixture::new(&parts).map_err(in_mixture)?)
        }
    };
    Ok((arm.to_owned(), model))
}

fn arm_posterior(
    outcome: OutcomeArg,
    prior: ConjugateModel,
    spec: &str,
) -> Result<(String, Marginal), ArgError> {
    let (name, data) = spec
        .split_once('=')
        .ok_or_else(|| bad("arm", spec, "expected NAME=DATA"))?;
    if name.is_empty() {
        return Err(bad("arm", spec, "the arm needs a name before '='"));
    }
    let mut model = prior;
    match outcome {
        OutcomeArg::Binary => {
            let (s, n) = data
                .split_once('/')
                .ok_or_else(|| bad("arm", spec, "binary arms are NAME=successes/trials"))?;
            let s: u64 = s
                .trim()
                .parse()
                .map_err(|_| bad("arm", spec, "successes must be a whole number ≥ 0"))?;
            let n: u64 = n
                .trim()
                .parse()
                .map_err(|_| bad("arm", spec, "trials must be a whole number ≥ 0"))?;
            if s > n {
                return Err(bad("arm", spec, "successes cannot exceed trials"));
            }
            model.observe_binomial(s, n)?;
        }
        OutcomeArg::Continuous => {
            let v = numbers("arm", data, 3, ',')
                .map_err(|_| bad("arm", spec, "continuous arms are NAME=mean,sd,n"))?;
            if v[1] < 0.0 || v[2] < 0.0 || v[2].fract() != 0.0 {
                return Err(bad("arm", spec, "sd must be ≥ 0 and n a whole number ≥ 0"));
            }
            model.observe_summary(v[2] as u64, v[0], v[1])?;
        }
        OutcomeArg::Count => {
            let (e, t) = data
                .split_once('/')
                .ok_or_else(|| bad("arm", spec, "count arms are NAME=events/exposure"))?;
            let e: u64 = e
                .trim()
                .parse()
                .map_err(|_| bad("arm", spec, "events must be a whole number ≥ 0"))?;
            let t: f64 = t
                .trim()
                .parse()
                .map_err(|_| bad("arm", spec, "exposure must be a number ≥ 0"))?;
            if !(t.is_finite() && t >= 0.0) {
                return Err(bad("arm", spec, "exposure must be a number ≥ 0"));
            }
            if t > 0.0 {
                model.observe(bayestrial::stats::Observation::Count {
                    events: e,
                    exposure: t,
                })?;
            } else if e > 0 {
                return Err(bad("arm", spec, "events need a positive exposure"));
            }
        }
    }
    Ok((name.to_owned(), model.posterior()?))
}

fn report(args: &PosteriorArgs) -> Result<Report, ArgError> {
    let prior = prior_model(args)?;
    let mut own_priors: Vec<(String, ConjugateModel)> = Vec::new();
    for spec in &args.arm_priors {
        let (arm, model) = arm_prior(args.outcome, spec)?;
        if own_priors.iter().any(|(a, _)| *a == arm) {
            return Err(bad(
                "arm-prior",
                spec,
                format!("arm {arm:?} is given twice"),
            ));
        }
        own_priors.push((arm, model));
    }
    let mut names = Vec::new();
    let mut marginals = Vec::new();
    for spec in &args.arms {
        let name = spec.split_once('=').map_or(spec.as_str(), |(name, _)| name);
        let prior = own_priors
            .iter()
            .find(|(arm, _)| arm == name)
            .map_or(prior, |(_, model)| *model);
        let (name, marginal) = arm_posterior(args.outcome, prior, spec)?;
        if names.contains(&name) {
            return Err(bad("arm", spec, format!("arm {name:?} is given twice")));
        }
        names.push(name);
        marginals.push(marginal);
    }
    if let Some((arm, _)) = own_priors.iter().find(|(arm, _)| !names.contains(arm)) {
        return Err(bad(
            "arm-prior",
            arm,
            format!("not one of the arms: {}", names.join(", ")),
        ));
    }
    if !args.delta.is_finite() || args.delta < 0.0 {
        return Err(bad(
            "delta",
            &args.delta.to_string(),
            "must be a number ≥ 0",
        ));
    }
    let control = match &args.control {
        Some(c) => Some(names.iter().position(|n| n == c).ok_or_else(|| {
            bad(
                "control",
                c,
                format!("not one of the arms: {}", names.join(", ")),
            )
        })?),
        None => None,
    };
    let mut quadrature = Quadrature::new();
    let p_best = quadrature.p_best(&marginals, args.better)?;
    let p_worst = quadrature.p_worst(&marginals, args.better)?;
    let mut arms = Vec::new();
    for (i, (name, marginal)) in names.iter().zip(&marginals).enumerate() {
        let PosteriorSummary {
            mean,
            median,
            sd,
            ci95,
        } = quadrature.summary(marginal)?;
        let (mut better_than, mut equivalent) = (None, None);
        if let Some(c) = control.filter(|&c| c != i) {
            let ctrl = &marginals[c];
            better_than = Some(match args.better {
                Better::Higher => quadrature.p_greater(marginal, ctrl, args.delta)?,
                Better::Lower => quadrature.p_greater(ctrl, marginal, args.delta)?,
            });
            if args.delta > 0.0 {
                equivalent = Some(quadrature.p_within(marginal, ctrl, args.delta)?);
            }
        }
        arms.push(ArmReport {
            id: name.clone(),
            posterior: *marginal,
            mean,
            median,
            sd,
            ci95,
            p_best: p_best[i],
            p_worst: p_worst[i],
            p_better_than_control: better_than,
            p_equivalent_to_control: equivalent,
        });
    }
    Ok(Report {
        outcome: match args.outcome {
            OutcomeArg::Binary => "binary",
            OutcomeArg::Continuous => "continuous",
            OutcomeArg::Count => "count",
        },
        better: args.better,
        control: args.control.clone(),
        delta: args.delta,
        arms,
    })
}

fn describe_shape(shape: Shape) -> String {
    match shape {
        Shape::Beta { a, b } => format!("Beta({a}, {b})"),
        Shape::Gamma { shape, rate } => format!("Gamma({shape}, {rate})"),
        Shape::StudentT { df, loc, scale } => format!("t{df:.4}({loc:.6}, {scale:.6})"),
    }
}

/// A plain posterior as its shape; a mixture as `w·Shape + …` (weights to 4 decimals).
fn describe(marginal: Marginal) -> String {
    match marginal.shape() {
        Some(shape) => describe_shape(shape),
        None => marginal
            .components()
            .map(|(w, shape)| format!("{w:.4}·{}", describe_shape(shape)))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.4}"))
}

fn print_table(report: &Report) {
    let has_control = report.control.is_some();
    let mut header = format!(
        "{:<12} {:<28} {:>8} {:>8} {:>8} {:>19} {:>8} {:>8}",
        "arm", "posterior", "mean", "median", "sd", "95% interval", "P(best)", "P(worst)"
    );
    if has_control {
        header.push_str(&format!(" {:>10}", "P(>ctrl)"));
        if report.delta > 0.0 {
            header.push_str(&format!(" {:>10}", "P(equiv)"));
        }
    }
    println!("{header}");
    for arm in &report.arms {
        let mut line = format!(
            "{:<12} {:<28} {:>8} {:>8.4} {:>8} {:>19} {:>8.4} {:>8.4}",
            arm.id,
            describe(arm.posterior),
            optional(arm.mean),
            arm.median,
            optional(arm.sd),
            format!("[{:.4}, {:.4}]", arm.ci95[0], arm.ci95[1]),
            arm.p_best,
            arm.p_worst
        );
        if has_control {
            line.push_str(&format!(" {:>10}", optional(arm.p_better_than_control)));
            if report.delta > 0.0 {
                line.push_str(&format!(" {:>10}", optional(arm.p_equivalent_to_control)));
            }
        }
        println!("{line}");
    }
    let direction = match report.better {
        Better::Higher => "higher",
        Better::Lower => "lower",
    };
    println!(
        "\n{direction} is better; P(>ctrl) is P(arm better than control by more than δ = {})",
        report.delta
    );
}

/// Runs the calculator: exit 0, or 2 with a message on bad arguments.
pub fn run(args: &PosteriorArgs) -> ExitCode {
    answer(report(args), args.json, print_table, |_| 2)
}
