//! `bayestrial predictive`: predictive probabilities of success for statisticians, in three
//! modes chosen by the flags given: a single-arm trial (`--successes`), a two-arm trial
//! (`--arm NAME=x/n --control NAME=x/n`) and a future confirmatory trial (`--future-n`).
//!
//! Arguments become the library's validated types here; the numbers come from
//! `bayestrial::stats::predictive`. A table by default, JSON with `--json` (always with the key
//! `predictive_probability`).

use std::process::ExitCode;

use super::output::answer;

use bayestrial::stats::predictive::{
    ArmData, ConfirmatoryTrial, EffectScale, FutureTrialQuadrature, NormalEffect, SingleArmDesign,
    SingleArmPrediction, TwoArmDesign, TwoArmPrediction, TwoArmWorkspace, MAX_PATIENTS,
};
use bayestrial::stats::{BetaPrior, Marginal, StatsError};
use clap::ValueEnum;
use serde::Serialize;

/// Arguments of `predictive`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Modes (chosen by the flags given):
  single arm (Lee & Liu 2008):
    --prior-beta a,b --successes x --n n --n-max N --p0 P --threshold T
  two arms, success when P(θ_T > θ_C + δ | final data) > T:
    --arm NAME=x/n --control NAME=x/n --n-max-per-arm N --threshold T [--delta D]
    [--prior-beta a,b] [--control-prior-beta a,b]
  future confirmatory trial (posterior expected power, N per arm, one-sided α):
    --future-n N --alpha A --arm NAME=a,b --control NAME=a,b   (posterior Beta shapes)
    --future-n N --alpha A --effect-normal MEAN,SD --effect-scale probability|logit
    --control-rate P                                           (normal effect posterior)")]
pub struct PredictiveArgs {
    /// Beta prior `a,b` (single arm; both arms of a two-arm trial unless
    /// --control-prior-beta is given).
    #[arg(long, default_value = "1,1")]
    prior_beta: String,
    /// Beta prior `a,b` of the control arm (two arms).
    #[arg(long)]
    control_prior_beta: Option<String>,
    /// Responses so far (single arm).
    #[arg(long)]
    successes: Option<u64>,
    /// Patients so far (single arm).
    #[arg(long)]
    n: Option<u64>,
    /// Maximum number of patients (single arm).
    #[arg(long)]
    n_max: Option<u64>,
    /// Null response rate p0: success when P(p > p0 | final data) > threshold (single arm).
    #[arg(long)]
    p0: Option<f64>,
    /// Posterior probability the final analysis must exceed (single and two arms).
    #[arg(long)]
    threshold: Option<f64>,
    /// Two arms: the treatment `NAME=x/n`; future trial: its posterior `NAME=a,b`.
    #[arg(long)]
    arm: Option<String>,
    /// Two arms: the control `NAME=x/n`; future trial: its posterior `NAME=a,b`.
    #[arg(long)]
    control: Option<String>,
    /// Maximum number of patients in each arm (two arms).
    #[arg(long)]
    n_max_per_arm: Option<u64>,
    /// Margin δ in P(θ_T > θ_C + δ) (two arms), in (−1, 1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    delta: f64,
    /// Patients per arm of the future confirmatory trial.
    #[arg(long)]
    future_n: Option<u64>,
    /// One-sided level α of the future trial's z-test.
    #[arg(long)]
    alpha: Option<f64>,
    /// Normal posterior `MEAN,SD` of the treatment effect (future trial).
    #[arg(long, allow_hyphen_values = true)]
    effect_normal: Option<String>,
    /// The scale of --effect-normal.
    #[arg(long, value_enum, default_value = "probability")]
    effect_scale: ScaleArg,
    /// Control response rate at which the future trial's standard error is evaluated
    /// (with --effect-normal).
    #[arg(long)]
    control_rate: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The scale of a normal effect posterior.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScaleArg {
    /// The difference of response rates.
    Probability,
    /// The log odds ratio.
    Logit,
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
    #[error("--{flag} is needed {context}")]
    Missing {
        flag: &'static str,
        context: &'static str,
    },
    #[error("--{flag} does not belong to {mode}")]
    Conflict {
        flag: &'static str,
        mode: &'static str,
    },
    #[error(
        "choose a mode: --successes (single arm), --arm with --control (two arms) or --future-n (future trial)"
    )]
    NoMode,
    #[error(transparent)]
    Stats(#[from] StatsError),
}

fn bad(flag: &'static str, value: impl ToString, why: impl Into<String>) -> ArgError {
    ArgError::Bad {
        flag,
        value: value.to_string(),
        why: why.into(),
    }
}

fn need<T: Copy>(
    value: Option<T>,
    flag: &'static str,
    context: &'static str,
) -> Result<T, ArgError> {
    value.ok_or(ArgError::Missing { flag, context })
}

fn beta_pair(flag: &'static str, text: &str) -> Result<BetaPrior, ArgError> {
    let parts: Vec<Option<f64>> = text.split(',').map(|p| p.trim().parse().ok()).collect();
    match parts.as_slice() {
        [Some(a), Some(b)] if a.is_finite() && *a > 0.0 && b.is_finite() && *b > 0.0 => {
            Ok(BetaPrior { a: *a, b: *b })
        }
        _ => Err(bad(flag, text, "expected two positive numbers a,b")),
    }
}

fn probability(flag: &'static str, value: f64) -> Result<f64, ArgError> {
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(bad(flag, value, "must lie strictly between 0 and 1"))
    }
}

fn size(flag: &'static str, value: u64) -> Result<u64, ArgError> {
    if value > MAX_PATIENTS {
        Err(bad(flag, value, format!("at most {MAX_PATIENTS} patients")))
    } else {
        Ok(value)
    }
}

/// `NAME=x/n` (two arms).
fn arm_data(flag: &'static str, spec: &str) -> Result<(String, ArmData), ArgError> {
    let (name, data) = spec
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| bad(flag, spec, "expected NAME=successes/patients"))?;
    let (x, n) = data
        .split_once('/')
        .ok_or_else(|| bad(flag, spec, "expected NAME=successes/patients"))?;
    let x: u64 = x
        .trim()
        .parse()
        .map_err(|_| bad(flag, spec, "successes must be a whole number ≥ 0"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| bad(flag, spec, "patients must be a whole number ≥ 0"))?;
    if x > n {
        return Err(bad(flag, spec, "successes cannot exceed patients"));
    }
    Ok((name.to_owned(), ArmData::new(x, size(flag, n)?)?))
}

/// `NAME=a,b` (future trial).
fn arm_posterior(flag: &'static str, spec: &str) -> Result<(String, BetaPrior), ArgError> {
    let (name, shapes) = spec
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| bad(flag, spec, "expected NAME=a,b (the posterior Beta shapes)"))?;
    let shapes =
        beta_pair(flag, shapes).map_err(|_| bad(flag, spec, "expected NAME=a,b with a, b > 0"))?;
    Ok((name.to_owned(), shapes))
}

#[derive(Debug, Serialize)]
struct SingleReport {
    mode: &'static str,
    predictive_probability: f64,
    prior: BetaPrior,
    successes: u64,
    patients: u64,
    max_patients: u64,
    p0: f64,
    threshold: f64,
    future_patients: u64,
    smallest_success: Option<u64>,
    table: Vec<bayestrial::stats::predictive::FutureResponses>,
}

#[derive(Debug, Serialize)]
struct ArmSummary {
    name: String,
    successes: u64,
    patients: u64,
    prior: BetaPrior,
}

#[derive(Debug, Serialize)]
struct TwoArmReport {
    mode: &'static str,
    predictive_probability: f64,
    treatment: ArmSummary,
    control: ArmSummary,
    max_per_arm: u64,
    delta: f64,
    threshold: f64,
    future_treatment: u64,
    future_control: u64,
    posterior_evaluations: usize,
    boundary: Vec<bayestrial::stats::predictive::TreatmentOutcome>,
}

#[derive(Debug, Serialize)]
struct Posterior {
    name: String,
    a: f64,
    b: f64,
}

#[derive(Debug, Serialize)]
struct FutureReport {
    mode: &'static str,
    predictive_probability: f64,
    per_arm: u64,
    alpha: f64,
    critical_value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    treatment: Option<Posterior>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control: Option<Posterior>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effect: Option<NormalEffect>,
    power_at_posterior_means: f64,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Report {
    Single(SingleReport),
    TwoArm(TwoArmReport),
    Future(FutureReport),
}

/// Flags that belong to one mode only, with the mode's name, refused in the others.
fn refuse(
    args: &PredictiveArgs,
    mode: &'static str,
    flags: &[&'static str],
) -> Result<(), ArgError> {
    for &flag in flags {
        let given = match flag {
            "successes" => args.successes.is_some(),
            "n" => args.n.is_some(),
            "n-max" => args.n_max.is_some(),
            "p0" => args.p0.is_some(),
            "threshold" => args.threshold.is_some(),
            "arm" => args.arm.is_some(),
            "control" => args.control.is_some(),
            "n-max-per-arm" => args.n_max_per_arm.is_some(),
            "delta" => args.delta != 0.0,
            "future-n" => args.future_n.is_some(),
            "alpha" => args.alpha.is_some(),
            "effect-normal" => args.effect_normal.is_some(),
            "control-rate" => args.control_rate.is_some(),
            "control-prior-beta" => args.control_prior_beta.is_some(),
            _ => false,
        };
        if given {
            return Err(ArgError::Conflict { flag, mode });
        }
    }
    Ok(())
}

fn single(args: &PredictiveArgs) -> Result<Report, ArgError> {
    const MODE: &str = "the single-arm mode (--successes)";
    refuse(
        args,
        MODE,
        &[
            "arm",
            "control",
            "n-max-per-arm",
            "delta",
            "future-n",
            "alpha",
            "effect-normal",
            "control-rate",
            "control-prior-beta",
        ],
    )?;
    const CONTEXT: &str = "for a single-arm predictive probability";
    let successes = need(args.successes, "successes", CONTEXT)?;
    let n = size("n", need(args.n, "n", CONTEXT)?)?;
    let n_max = size("n-max", need(args.n_max, "n-max", CONTEXT)?)?;
    let p0 = probability("p0", need(args.p0, "p0", CONTEXT)?)?;
    let threshold = probability("threshold", need(args.threshold, "threshold", CONTEXT)?)?;
    let prior = beta_pair("prior-beta", &args.prior_beta)?;
    if successes > n {
        return Err(bad(
            "successes",
            successes,
            format!("cannot exceed --n {n}"),
        ));
    }
    if n > n_max {
        return Err(bad("n", n, format!("cannot exceed --n-max {n_max}")));
    }
    let design = SingleArmDesign::new(prior, n_max, p0, threshold)?;
    let SingleArmPrediction {
        predictive_probability,
        future_patients,
        smallest_success,
        rows,
    } = design.prediction(ArmData::new(successes, n)?)?;
    Ok(Report::Single(SingleReport {
        mode: "single_arm",
        predictive_probability,
        prior,
        successes,
        patients: n,
        max_patients: n_max,
        p0,
        threshold,
        future_patients,
        smallest_success,
        table: rows,
    }))
}

fn two_arm(args: &PredictiveArgs, arm: &str, control: &str) -> Result<Report, ArgError> {
    const MODE: &str = "the two-arm mode (--arm NAME=x/n)";
    refuse(
        args,
        MODE,
        &[
            "successes",
            "n",
            "n-max",
            "p0",
            "alpha",
            "effect-normal",
            "control-rate",
        ],
    )?;
    const CONTEXT: &str = "for a two-arm predictive probability";
    let n_max = size(
        "n-max-per-arm",
        need(args.n_max_per_arm, "n-max-per-arm", CONTEXT)?,
    )?;
    let threshold = probability("threshold", need(args.threshold, "threshold", CONTEXT)?)?;
    if !(args.delta.is_finite() && args.delta.abs() < 1.0) {
        return Err(bad(
            "delta",
            args.delta,
            "must lie strictly between −1 and 1",
        ));
    }
    let (t_name, t_data) = arm_data("arm", arm)?;
    let (c_name, c_data) = arm_data("control", control)?;
    if t_name == c_name {
        return Err(bad("control", control, "the control needs its own name"));
    }
    for (flag, data) in [("arm", t_data), ("control", c_data)] {
        if data.patients() > n_max {
            return Err(bad(
                flag,
                if flag == "arm" { arm } else { control },
                format!("more patients than --n-max-per-arm {n_max}"),
            ));
        }
    }
    let t_prior = beta_pair("prior-beta", &args.prior_beta)?;
    let c_prior = match &args.control_prior_beta {
        Some(text) => beta_pair("control-prior-beta", text)?,
        None => t_prior,
    };
    let design = TwoArmDesign::new(t_prior, c_prior, n_max, n_max, args.delta, threshold)?;
    let TwoArmPrediction {
        predictive_probability,
        future_treatment,
        future_control,
        evaluations,
        rows,
    } = TwoArmWorkspace::new().prediction(&design, t_data, c_data)?;
    let summary = |name: String, data: ArmData, prior| ArmSummary {
        name,
        successes: data.successes(),
        patients: data.patients(),
        prior,
    };
    Ok(Report::TwoArm(TwoArmReport {
        mode: "two_arm",
        predictive_probability,
        treatment: summary(t_name, t_data, t_prior),
        control: summary(c_name, c_data, c_prior),
        max_per_arm: n_max,
        delta: args.delta,
        threshold,
        future_treatment,
        future_control,
        posterior_evaluations: evaluations,
        boundary: rows,
    }))
}

fn future(args: &PredictiveArgs, per_arm: u64) -> Result<Report, ArgError> {
    const MODE: &str = "the future-trial mode (--future-n)";
    refuse(
        args,
        MODE,
        &[
            "successes",
            "n",
            "n-max",
            "p0",
            "threshold",
            "n-max-per-arm",
            "delta",
            "control-prior-beta",
        ],
    )?;
    const CONTEXT: &str = "for a future trial's predictive probability";
    let per_arm = size("future-n", per_arm)?;
    if per_arm == 0 {
        return Err(bad("future-n", per_arm, "the future trial needs patients"));
    }
    let alpha = probability("alpha", need(args.alpha, "alpha", CONTEXT)?)?;
    let trial = ConfirmatoryTrial::new(per_arm, alpha)?;
    let report = |pp, treatment, control, effect, power| FutureReport {
        mode: "future_trial",
        predictive_probability: pp,
        per_arm,
        alpha,
        critical_value: trial.critical_value(),
        treatment,
        control,
        effect,
        power_at_posterior_means: power,
    };
    if let Some(text) = &args.effect_normal {
        for flag in ["arm", "control"] {
            if (flag == "arm" && args.arm.is_some())
                || (flag == "control" && args.control.is_some())
            {
                return Err(ArgError::Conflict {
                    flag,
                    mode: "a normal effect posterior (--effect-normal)",
                });
            }
        }
        let parts: Vec<Option<f64>> = text.split(',').map(|p| p.trim().parse().ok()).collect();
        let (mean, sd) = match parts.as_slice() {
            [Some(m), Some(s)] if m.is_finite() && s.is_finite() && *s >= 0.0 => (*m, *s),
            _ => return Err(bad("effect-normal", text, "expected MEAN,SD with SD ≥ 0")),
        };
        let control_rate = probability(
            "control-rate",
            need(args.control_rate, "control-rate", "with --effect-normal")?,
        )?;
        let scale = match args.effect_scale {
            ScaleArg::Probability => EffectScale::Probability,
            ScaleArg::Logit => EffectScale::Logit,
        };
        let effect = NormalEffect {
            mean,
            sd,
            scale,
            control_rate,
        };
        let pp = trial.predictive_probability_normal(effect)?;
        let power = trial.predictive_probability_normal(NormalEffect { sd: 0.0, ..effect })?;
        return Ok(Report::Future(report(pp, None, None, Some(effect), power)));
    }
    if args.control_rate.is_some() {
        return Err(ArgError::Conflict {
            flag: "control-rate",
            mode: "Beta posteriors (use it with --effect-normal)",
        });
    }
    let arm = need(
        args.arm.as_deref(),
        "arm",
        "(NAME=a,b) for the future trial",
    )?;
    let control = need(
        args.control.as_deref(),
        "control",
        "(NAME=a,b) for the future trial",
    )?;
    let (t_name, t) = arm_posterior("arm", arm)?;
    let (c_name, c) = arm_posterior("control", control)?;
    let pp = FutureTrialQuadrature::new().predictive_probability(
        &trial,
        &Marginal::beta(t.a, t.b)?,
        &Marginal::beta(c.a, c.b)?,
    )?;
    let power = trial.power(t.a / (t.a + t.b), c.a / (c.a + c.b));
    let posterior = |name, shapes: BetaPrior| Posterior {
        name,
        a: shapes.a,
        b: shapes.b,
    };
    Ok(Report::Future(report(
        pp,
        Some(posterior(t_name, t)),
        Some(posterior(c_name, c)),
        None,
        power,
    )))
}

fn report(args: &PredictiveArgs) -> Result<Report, ArgError> {
    if let Some(per_arm) = args.future_n {
        return future(args, per_arm);
    }
    if args.successes.is_some() {
        return single(args);
    }
    match (&args.arm, &args.control) {
        (Some(arm), Some(control)) => two_arm(args, arm, control),
        (Some(_), None) => Err(ArgError::Missing {
            flag: "control",
            context: "(NAME=x/n) for a two-arm predictive probability",
        }),
        _ => Err(ArgError::NoMode),
    }
}

fn print_single(report: &SingleReport) {
    println!(
        "single arm: Beta({}, {}) prior, {} successes of {}, maximum {}; success when P(p > {}) > {}",
        report.prior.a,
        report.prior.b,
        report.successes,
        report.patients,
        report.max_patients,
        report.p0,
        report.threshold
    );
    println!(
        "{:>10} {:>12} {:>14} {:>8}",
        "future Y", "P(Y = i)", "P(p > p0 | ·)", "success"
    );
    for row in &report.table {
        println!(
            "{:>10} {:>12.6} {:>14.6} {:>8}",
            row.responses,
            row.probability,
            row.posterior,
            if row.success { "yes" } else { "no" }
        );
    }
    match report.smallest_success {
        Some(i) => println!(
            "\nsuccess with at least {i} responses among the {} future patients",
            report.future_patients
        ),
        None => println!("\nno number of future responses leads to success"),
    }
    println!(
        "predictive probability = {:.6}",
        report.predictive_probability
    );
}

fn print_two_arm(report: &TwoArmReport) {
    println!(
        "two arms: {} {}/{} vs control {} {}/{}, maximum {} per arm; success when P(θ_T > θ_C + {}) > {}",
        report.treatment.name,
        report.treatment.successes,
        report.treatment.patients,
        report.control.name,
        report.control.successes,
        report.control.patients,
        report.max_per_arm,
        report.delta,
        report.threshold
    );
    println!(
        "{:>12} {:>12} {:>22} {:>14}",
        "future Y_T", "P(Y_T = i)", "success if Y_C ≤", "P(success | i)"
    );
    for row in &report.boundary {
        let largest = row
            .largest_control_success
            .map_or_else(|| "never".to_owned(), |j| j.to_string());
        println!(
            "{:>12} {:>12.6} {:>22} {:>14.6}",
            row.responses, row.probability, largest, row.success_probability
        );
    }
    println!(
        "\nfuture patients: {} treatment, {} control ({} posterior probabilities computed)",
        report.future_treatment, report.future_control, report.posterior_evaluations
    );
    println!(
        "predictive probability = {:.6}",
        report.predictive_probability
    );
}

fn print_future(report: &FutureReport) {
    println!(
        "future trial: {} patients per arm, one-sided α = {} (z = {:.4}), unpooled two-proportion z-test",
        report.per_arm, report.alpha, report.critical_value
    );
    if let (Some(t), Some(c)) = (&report.treatment, &report.control) {
        println!(
            "posteriors: {} Beta({}, {}), control {} Beta({}, {})",
            t.name, t.a, t.b, c.name, c.a, c.b
        );
    }
    if let Some(effect) = &report.effect {
        let scale = match effect.scale {
            EffectScale::Probability => "rate difference",
            EffectScale::Logit => "log odds ratio",
        };
        println!(
            "effect posterior: N({}, {}²) on the {scale} scale, control rate {}",
            effect.mean, effect.sd, effect.control_rate
        );
    }
    println!(
        "power at the posterior means = {:.6}",
        report.power_at_posterior_means
    );
    println!(
        "predictive probability = {:.6}",
        report.predictive_probability
    );
}

/// Runs the calculator: exit 0, or 2 with a message on bad arguments.
pub fn run(args: &PredictiveArgs) -> ExitCode {
    let table = |report: &Report| match report {
        Report::Single(r) => print_single(r),
        Report::TwoArm(r) => print_two_arm(r),
        Report::Future(r) => print_future(r),
    };
    answer(report(args), args.json, table, |_| 2)
}
