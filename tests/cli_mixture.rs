//! `bayestrial posterior --arm-prior`: an arm's own prior, plain or a mixture, through the binary.

#[path = "common/cli.rs"]
mod cli;

use cli::bayestrial;

use bayestrial::stats::{BetaPrior, ConjugateModel, Mixture, Quadrature};

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

/// RBesT's printed 4-component MAP prior for the placebo response in ankylosing spondylitis,
/// robustified with weight 0.2 of Beta(1, 1) (`robustify(map, weight = 0.2, mean = 1/2)`):
/// RBesT vignette "Getting started with RBesT (binary)", sections "Parametric Approximation"
/// (`print(map)`) and "Robustification of the MAP Prior".
const AS_ROBUST_MAP: &str = "placebo=mixture:0.36903312:33.9513487:103.0146367,\
     0.15342496:19.4400089:41.5205219,0.15151168:12.2692310:55.9202833,\
     0.12603024:2.2521243:5.4812202,0.2:1:1";

#[test]
fn rbest_ankylosing_spondylitis_difference_through_the_command_line_and_the_library() {
    // RBesT vignette "Getting started with RBesT (binary)", section "Decision Analysis": with
    // the robust MAP prior for placebo (1 responder of 6) and Beta(0.5, 1) for the treatment
    // (14 of 24), pmixdiff(post_treat, post_placebo, 0, lower.tail = FALSE) = 0.9917197.
    let out = bayestrial(&[
        "posterior",
        "--outcome",
        "binary",
        "--arm",
        "placebo=1/6",
        "--arm",
        "treatment=14/24",
        "--arm-prior",
        AS_ROBUST_MAP,
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
    let p = report["arms"][1]["p_better_than_control"]
        .as_f64()
        .expect("P(better than control)");
    assert!((p - 0.9917197).abs() < 5e-8, "command line: {p}");

    let map = [
        (0.4612914, 33.9513487, 103.0146367),
        (0.1917812, 19.4400089, 41.5205219),
        (0.1893896, 12.2692310, 55.9202833),
        (0.1575378, 2.2521243, 5.4812202),
    ];
    let mut parts: Vec<(f64, BetaPrior)> = map
        .iter()
        .map(|&(w, a, b)| (0.8 * w, BetaPrior { a, b }))
        .collect();
    parts.push((0.2, BetaPrior { a: 1.0, b: 1.0 }));
    let placebo = Mixture::new(&parts)
        .expect("valid mixture")
        .update(1, 6)
        .expect("update")
        .marginal()
        .expect("marginal");
    let treatment = Mixture::single(BetaPrior { a: 0.5, b: 1.0 })
        .expect("valid prior")
        .update(14, 24)
        .expect("update")
        .marginal()
        .expect("marginal");
    let p = Quadrature::new()
        .p_greater(&treatment, &placebo, 0.0)
        .expect("quadrature");
    assert!((p - 0.9917197).abs() < 5e-8, "library: {p}");
}
