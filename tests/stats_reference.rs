//! The numerics against independent reference values: `tests/reference/stats_cases.json`,
//! computed with mpmath at 30 significant digits by `tests/reference/generate_stats.py`.
//! Every decision quantity must agree to 1e-6 absolute; summaries to 1e-6 relative.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::{Better, Marginal, Quadrature};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    family: String,
    better: Better,
    arms: Vec<serde_json::Map<String, serde_json::Value>>,
    summaries: Vec<Summary>,
    p_best: Vec<f64>,
    p_worst: Vec<f64>,
    pairs: Vec<Pair>,
    ranges: Vec<Range>,
}

#[derive(Deserialize)]
struct Summary {
    mean: Option<f64>,
    sd: Option<f64>,
    median: f64,
    q025: f64,
    q975: f64,
}

#[derive(Deserialize)]
struct Pair {
    a: usize,
    b: usize,
    delta: f64,
    p_greater: f64,
    p_within: Option<f64>,
}

#[derive(Deserialize)]
struct Range {
    delta: f64,
    p_range_below: f64,
}

const TOLERANCE: f64 = 1e-6;

fn number(arm: &serde_json::Map<String, serde_json::Value>, key: &str) -> f64 {
    arm.get(key).and_then(serde_json::Value::as_f64).expect(key)
}

fn marginal(family: &str, arm: &serde_json::Map<String, serde_json::Value>) -> Marginal {
    match family {
        "beta" => Marginal::beta(number(arm, "a"), number(arm, "b")),
        "gamma" => Marginal::gamma(number(arm, "shape"), number(arm, "rate")),
        "student_t" => {
            Marginal::student_t(number(arm, "df"), number(arm, "loc"), number(arm, "scale"))
        }
        other => panic!("unknown family {other}"),
    }
    .expect("valid reference parameters")
}

fn reference() -> Reference {
    let text = std::fs::read_to_string("tests/reference/stats_cases.json").expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

/// Tracks the worst error so that the test reports it even when it passes.
#[derive(Default)]
struct Worst {
    error: f64,
    at: String,
    failures: Vec<String>,
}

impl Worst {
    fn check(&mut self, what: String, got: f64, want: f64, tolerance: f64) {
        let error = (got - want).abs();
        if error > self.error {
            self.error = error;
            self.at = what.clone();
        }
        if error.is_nan() || error > tolerance {
            self.failures.push(format!(
                "{what}: got {got:e}, reference {want:e}, error {error:e}"
            ));
        }
    }

    fn finish(self, label: &str) {
        eprintln!(
            "{label}: worst absolute error {:e} at {}",
            self.error, self.at
        );
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n"));
    }
}

#[test]
fn decision_probabilities_match_the_reference() {
    let reference = reference();
    assert!(reference.cases.len() >= 10);
    let mut quadrature = Quadrature::new();
    let mut worst = Worst::default();
    for case in &reference.cases {
        let arms: Vec<Marginal> = case
            .arms
            .iter()
            .map(|a| marginal(&case.family, a))
            .collect();
        let best = quadrature.p_best(&arms, case.better).expect("p_best");
        let worst_p = quadrature.p_worst(&arms, case.better).expect("p_worst");
        for i in 0..arms.len() {
            worst.check(
                format!("{} p_best[{i}]", case.name),
                best[i],
                case.p_best[i],
                TOLERANCE,
            );
            worst.check(
                format!("{} p_worst[{i}]", case.name),
                worst_p[i],
                case.p_worst[i],
                TOLERANCE,
            );
        }
        for pair in &case.pairs {
            let got = quadrature
                .p_greater(&arms[pair.a], &arms[pair.b], pair.delta)
                .expect("p_greater");
            worst.check(
                format!(
                    "{} P(θ{} − θ{} > {})",
                    case.name, pair.a, pair.b, pair.delta
                ),
                got,
                pair.p_greater,
                TOLERANCE,
            );
            if let Some(want) = pair.p_within {
                let got = quadrature
                    .p_within(&arms[pair.a], &arms[pair.b], pair.delta)
                    .expect("p_within");
                worst.check(
                    format!(
                        "{} P(|θ{} − θ{}| < {})",
                        case.name, pair.a, pair.b, pair.delta
                    ),
                    got,
                    want,
                    TOLERANCE,
                );
            }
        }
        for range in &case.ranges {
            let got = quadrature.p_range_below(&arms, range.delta).expect("range");
            worst.check(
                format!("{} P(max − min < {})", case.name, range.delta),
                got,
                range.p_range_below,
                TOLERANCE,
            );
        }
    }
    worst.finish("decision probabilities");
}

#[test]
fn summaries_match_the_reference() {
    let reference = reference();
    let mut quadrature = Quadrature::new();
    let mut worst = Worst::default();
    for case in &reference.cases {
        for (i, (arm, want)) in case.arms.iter().zip(&case.summaries).enumerate() {
            let m = marginal(&case.family, arm);
            let got = quadrature.summary(&m).expect("summary");
            let scale = want.sd.unwrap_or((want.q975 - want.q025) / 4.0).max(1e-300);
            // Relative to the posterior's spread: 1e-6 of an SD.
            let mut relative = |what: &str, g: f64, w: f64| {
                worst.check(
                    format!("{} arm {i} {what}", case.name),
                    g / scale,
                    w / scale,
                    TOLERANCE,
                )
            };
            relative("median", got.median, want.median);
            relative("q025", got.ci95[0], want.q025);
            relative("q975", got.ci95[1], want.q975);
            if let (Some(g), Some(w)) = (got.mean, want.mean) {
                relative("mean", g, w);
            }
            if let (Some(g), Some(w)) = (got.sd, want.sd) {
                relative("sd", g, w);
            }
            assert_eq!(
                got.mean.is_some(),
                want.mean.is_some(),
                "{} arm {i}: mean defined",
                case.name
            );
        }
    }
    worst.finish("summaries (in posterior SDs)");
}

#[test]
fn conjugate_updates_match_the_reference() {
    use bayestrial::stats::{BetaPrior, ConjugateModel, GammaPrior, NigPrior, Observation, Shape};
    let text =
        std::fs::read_to_string("tests/reference/conjugate_cases.json").expect("reference file");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference JSON");
    let cases = reference["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    let close = |got: f64, want: &serde_json::Value, what: &str| {
        let want = want.as_f64().expect(what);
        assert!(
            (got - want).abs() <= 1e-10 * want.abs().max(1.0),
            "{what}: got {got}, reference {want}"
        );
    };
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let prior: Vec<f64> = case["prior"]
            .as_array()
            .expect("prior")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        let data = case["data"].as_array().expect("data");
        let want = &case["posterior"];
        match case["model"].as_str().expect("model") {
            "normal" => {
                let mut model = ConjugateModel::normal(NigPrior {
                    mu0: prior[0],
                    kappa0: prior[1],
                    alpha0: prior[2],
                    beta0: prior[3],
                })
                .expect("prior");
                for x in data {
                    model
                        .observe(Observation::Continuous(x.as_f64().expect("x")))
                        .expect("observe");
                }
                let p = model.nig_posterior().expect("normal model");
                close(p.mu, &want["mu"], &format!("{name} mu"));
                close(p.kappa, &want["kappa"], &format!("{name} kappa"));
                close(p.alpha, &want["alpha"], &format!("{name} alpha"));
                close(p.beta, &want["beta"], &format!("{name} beta"));
                let Some(Shape::StudentT { df, loc, scale }) =
                    model.posterior().expect("posterior").shape()
                else {
                    panic!("{name}: the marginal of the mean is Student-t");
                };
                close(df, &want["t_df"], &format!("{name} df"));
                close(loc, &want["t_loc"], &format!("{name} loc"));
                close(scale, &want["t_scale"], &format!("{name} scale"));
            }
            "beta_binomial" => {
                let mut model = ConjugateModel::beta_binomial(BetaPrior {
                    a: prior[0],
                    b: prior[1],
                })
                .expect("prior");
                for y in data {
                    model
                        .observe(Observation::Binary(y.as_bool().expect("y")))
                        .expect("observe");
                }
                let Some(Shape::Beta { a, b }) = model.posterior().expect("posterior").shape()
                else {
                    panic!("{name}: Beta posterior");
                };
                close(a, &want["a"], &format!("{name} a"));
                close(b, &want["b"], &format!("{name} b"));
            }
            "gamma_poisson" => {
                let mut model = ConjugateModel::gamma_poisson(GammaPrior {
                    shape: prior[0],
                    rate: prior[1],
                })
                .expect("prior");
                for pair in data {
                    let events = pair[0].as_u64().expect("events");
                    let exposure = pair[1].as_f64().expect("exposure");
                    model
                        .observe(Observation::Count { events, exposure })
                        .expect("observe");
                }
                let Some(Shape::Gamma { shape, rate }) =
                    model.posterior().expect("posterior").shape()
                else {
                    panic!("{name}: Gamma posterior");
                };
                close(shape, &want["shape"], &format!("{name} shape"));
                close(rate, &want["rate"], &format!("{name} rate"));
            }
            other => panic!("unknown model {other}"),
        }
    }
}

#[test]
fn densities_match_the_reference() {
    let text =
        std::fs::read_to_string("tests/reference/density_cases.json").expect("reference file");
    let cases: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&text).expect("reference JSON");
    assert!(cases.len() >= 20);
    for case in &cases {
        let family = case["family"].as_str().expect("family");
        let m = marginal(family, case);
        let x = number(case, "x");
        let want = number(case, "density");
        let got = m.density(x);
        // Relative error: densities span many orders of magnitude.
        assert!(
            ((got - want) / want).abs() < 1e-11,
            "{family} {case:?}: density {got} vs reference {want}"
        );
    }
}
