//! `bayestrial posterior --arm-prior`: an arm's own prior, plain or a mixture, through the binary.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use std::process::{Command, Output};

use bayestrial::stats::{BetaPrior, ConjugateModel, Mixture, Quadrature};

fn bayestrial(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn an_arm_prior_mixture_gives_a_mixture_posterior_in_the_json() {
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "binary",
        "--arm",
        "placebo=1/6",
        "--arm",
        "treatment=14/24",
        "--arm-prior",
        "placebo=mixture:0.8:12.3:55.9,0.2:1:1",
        "--arm-prior",
        "treatment=beta:0.5,1",
        "--control",
        "placebo",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let placebo = &report["arms"][0]["posterior"];
    assert_eq!(placebo["family"], "mixture");
    let components = placebo["components"].as_array().expect("components");
    assert_eq!(components.len(), 2);
    assert_eq!(components[0]["family"], "beta");
    assert_eq!(components[0]["a"], 13.3);
    assert_eq!(components[1]["b"], 6.0);
    let weights: f64 = components
        .iter()
        .map(|c| c["weight"].as_f64().expect("weight"))
        .sum();
    assert!((weights - 1.0).abs() < 1e-12);
    let treatment = &report["arms"][1]["posterior"];
    assert_eq!(treatment["family"], "beta");
    assert_eq!(treatment["a"], 14.5);
    assert_eq!(treatment["b"], 11.0);
    // The same probability as the library's.
    let mut control = ConjugateModel::beta_binomial_mixture(
        Mixture::new(&[
            (0.8, BetaPrior { a: 12.3, b: 55.9 }),
            (0.2, BetaPrior { a: 1.0, b: 1.0 }),
        ])
        .expect("mixture"),
    );
    control.observe_binomial(1, 6).expect("data");
    let mut active = ConjugateModel::beta_binomial(BetaPrior { a: 0.5, b: 1.0 }).expect("prior");
    active.observe_binomial(14, 24).expect("data");
    let expected = Quadrature::new()
        .p_greater(
            &active.posterior().expect("posterior"),
            &control.posterior().expect("posterior"),
            0.0,
        )
        .expect("p");
    let got = report["arms"][1]["p_better_than_control"]
        .as_f64()
        .expect("p_better_than_control");
    assert!((got - expected).abs() < 1e-15, "{got} vs {expected}");
}

#[test]
fn bad_arm_priors_are_refused_with_the_reason() {
    let cases: [(&str, &str); 4] = [
        ("placebo=mixture:0.5:12.3:55.9,0.4:1:1", "sum to 0.9"),
        ("placebo=mixture:0.8:12.3:55.9,0.2:0:1", "component 2"),
        ("placebo=gamma:1,1", "does not fit"),
        ("nobody=beta:1,1", "not one of the arms"),
    ];
    for (prior, expected) in cases {
        let out = bayestrial(&[
            "posterior",
            "--outcome",
            "binary",
            "--arm",
            "placebo=1/6",
            "--arm-prior",
            prior,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{prior}: {stderr}");
        assert!(stderr.contains(expected), "{prior}: {stderr}");
    }
}
