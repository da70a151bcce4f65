//! Decision probabilities on mixture posteriors against independent reference values:
//! `tests/reference/mixture_cases.json`, written by `tests/reference/generate_mixture.py`
//! (mpmath). Every probability must agree to 1e-6, every quantile to 1e-6 relative (to the
//! larger of |q| and the arm's SD); for mixture
//! priors with data, the posterior weights (from each component's marginal likelihood) too.
//!
//! Also the published case: RBesT's ankylosing spondylitis example.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::{
    BetaPrior, Better, ConjugateModel, GammaPrior, Marginal, Mixture, NigPrior, Observation,
    Quadrature,
};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn cases() -> Value {
    let text =
        std::fs::read_to_string("tests/reference/mixture_cases.json").expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

fn number(value: &Value) -> f64 {
    value.as_f64().expect("a number")
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(number)
        .collect()
}

fn component(family: &str, p: &[f64]) -> Marginal {
    match family {
        "beta" => Marginal::beta(p[0], p[1]),
        "gamma" => Marginal::gamma(p[0], p[1]),
        _ => Marginal::student_t(p[0], p[1], p[2]),
    }
    .expect("valid component")
}

fn mixture(family: &str, parts: &Value) -> Marginal {
    let parts: Vec<(f64, Marginal)> = parts
        .as_array()
        .expect("components")
        .iter()
        .map(|part| {
            (
                number(&part["weight"]),
                component(family, &numbers(&part["params"])),
            )
        })
        .collect();
    Marginal::mixture(&parts).expect("valid mixture")
}

/// Checks one case's probabilities and quantiles; returns the largest difference seen.
fn check(case: &Value, arms: &[Marginal]) -> f64 {
    let name = case["name"].as_str().expect("name");
    let delta = number(&case["delta"]);
    let mut q = Quadrature::new();
    let mut worst = 0.0_f64;
    let mut compare = |what: &str, got: f64, expected: f64, scale: f64| {
        let error = (got - expected).abs() / scale;
        worst = worst.max(error);
        assert!(
            error < TOLERANCE,
            "{name} {what}: {got} vs {expected} (error {error:e})"
        );
    };
    let p_best = q.p_best(arms, Better::Higher).expect("p_best");
    for (got, expected) in p_best.iter().zip(numbers(&case["p_best"])) {
        compare("p_best", *got, expected, 1.0);
    }
    let greater = q.p_greater(&arms[1], &arms[0], delta).expect("p_greater");
    compare("p_greater", greater, number(&case["p_greater"]), 1.0);
    if let Some(expected) = case.get("p_within") {
        let within = q
            .p_within(&arms[1], &arms[0], delta.abs())
            .expect("p_within");
        compare("p_within", within, number(expected), 1.0);
    }
    for pair in case["quantiles"].as_array().expect("quantiles") {
        let pair = numbers(pair);
        let got = q.quantile(&arms[0], pair[0]).expect("quantile");
        // Relative to the larger of |q| and the arm's SD: a quantile where the density is almost
        // 0 (the median between two far-apart components) is only defined to that scale.
        let scale = pair[1].abs().max(arms[0].sd().unwrap_or(1.0));
        compare("quantile", got, pair[1], scale);
    }
    worst
}

#[test]
fn mixture_posteriors_match_the_reference_to_1e_6() {
    let all = cases();
    let mut worst = 0.0_f64;
    for case in all["cases"].as_array().expect("cases") {
        let family = case["family"].as_str().expect("family");
        let arms: Vec<Marginal> = case["arms"]
            .as_array()
            .expect("arms")
            .iter()
            .map(|parts| mixture(family, parts))
            .collect();
        worst = worst.max(check(case, &arms));
    }
    eprintln!("largest error on mixture posteriors: {worst:e}");
}

#[test]
fn mixture_priors_with_data_match_the_reference_to_1e_6() {
    let all = cases();
    let mut worst = 0.0_f64;
    for case in all["prior_cases"].as_array().expect("prior cases") {
        let family = case["family"].as_str().expect("family");
        let priors = case["priors"].as_array().expect("priors");
        let data = case["data"].as_array().expect("data");
        let mut arms = Vec::new();
        for (prior, data) in priors.iter().zip(data) {
            let parts: Vec<(f64, Vec<f64>)> = prior
                .as_array()
                .expect("components")
                .iter()
                .map(|p| (number(&p["weight"]), numbers(&p["params"])))
                .collect();
            let data = numbers(data);
            let model = match family {
                "beta" => {
                    let parts: Vec<(f64, BetaPrior)> = parts
                        .iter()
                        .map(|(w, p)| (*w, BetaPrior { a: p[0], b: p[1] }))
                        .collect();
                    let mut model =
                        ConjugateModel::beta_binomial_mixture(Mixture::new(&parts).expect("prior"));
                    model
                        .observe_binomial(data[0] as u64, data[1] as u64)
                        .expect("data");
                    model
                }
                "gamma" => {
                    let parts: Vec<(f64, GammaPrior)> = parts
                        .iter()
                        .map(|(w, p)| {
                            (
                                *w,
                                GammaPrior {
                                    shape: p[0],
                                    rate: p[1],
                                },
                            )
                        })
                        .collect();
                    let mut model =
                        ConjugateModel::gamma_poisson_mixture(Mixture::new(&parts).expect("prior"));
                    model
                        .observe(Observation::Count {
                            events: data[0] as u64,
                            exposure: data[1],
                        })
                        .expect("data");
                    model
                }
                _ => {
                    let parts: Vec<(f64, NigPrior)> = parts
                        .iter()
                        .map(|(w, p)| {
                            (
                                *w,
                                NigPrior {
                                    mu0: p[0],
                                    kappa0: p[1],
                                    alpha0: p[2],
                                    beta0: p[3],
                                },
                            )
                        })
                        .collect();
                    let mut model =
                        ConjugateModel::normal_mixture(Mixture::new(&parts).expect("prior"));
                    for x in data {
                        model.observe(Observation::Continuous(x)).expect("data");
                    }
                    model
                }
            };
            arms.push(model.posterior().expect("posterior"));
        }
        let name = case["name"].as_str().expect("name");
        for (arm, expected) in arms
            .iter()
            .zip(case["posterior_weights"].as_array().expect("w"))
        {
            let got: Vec<f64> = arm.components().map(|(w, _)| w).collect();
            let expected = numbers(expected);
            assert_eq!(got.len(), expected.len(), "{name}");
            for (g, e) in got.iter().zip(&expected) {
                assert!(
                    (g - e).abs() < 1e-12,
                    "{name} weights {got:?} vs {expected:?}"
                );
            }
        }
        worst = worst.max(check(case, &arms));
    }
    eprintln!("largest error on mixture priors with data: {worst:e}");
}
