//! Effective sample sizes and the MAP predictive against independent reference values:
//! `tests/reference/ess_map_cases.json`, computed with mpmath (ESS, 30 digits) and scipy (the AS
//! MAP predictive on a fine grid) by `tests/reference/generate_ess_map.py`. ESS agree to 1e-7
//! relative; the predictive's moments to 1e-6 and its quantiles to 1e-5 (the reference's own
//! grid error), the posterior of τ to 1e-5 (its midpoint rule in τ).

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::{
    ess_beta, ess_gamma, ess_normal, BetaPrior, BinaryStudy, EssMethod, GammaPrior,
    HierarchicalPriors, MapPredictive, Mixture, NormalComponent, Summary,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    ess: Vec<EssCase>,
    map_as: MapCase,
}

#[derive(Deserialize)]
struct EssCase {
    name: String,
    family: String,
    parts: Vec<[f64; 3]>,
    sigma: Option<f64>,
    elir: Option<f64>,
    moment: f64,
    morita: f64,
}

#[derive(Deserialize)]
struct Quantities {
    mean: f64,
    sd: f64,
    q025: f64,
    median: f64,
    q975: f64,
}

#[derive(Deserialize)]
struct MapCase {
    predictive: Quantities,
    tau: Quantities,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/ess_map_cases.json"
    );
    let text = std::fs::read_to_string(path).expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

fn ess(case: &EssCase, method: EssMethod) -> f64 {
    match case.family.as_str() {
        "beta" => {
            let parts: Vec<_> = case
                .parts
                .iter()
                .map(|p| (p[0], BetaPrior { a: p[1], b: p[2] }))
                .collect();
            ess_beta(&Mixture::new(&parts).expect("mixture"), method).expect("ess")
        }
        "gamma" => {
            let parts: Vec<_> = case
                .parts
                .iter()
                .map(|p| {
                    (
                        p[0],
                        GammaPrior {
                            shape: p[1],
                            rate: p[2],
                        },
                    )
                })
                .collect();
            ess_gamma(&Mixture::new(&parts).expect("mixture"), method).expect("ess")
        }
        _ => {
            let parts: Vec<_> = case
                .parts
                .iter()
                .map(|p| {
                    (
                        p[0],
                        NormalComponent {
                            mean: p[1],
                            sd: p[2],
                        },
                    )
                })
                .collect();
            ess_normal(
                &Mixture::new(&parts).expect("mixture"),
                case.sigma.expect("sigma"),
                method,
            )
            .expect("ess")
        }
    }
}

#[test]
fn effective_sample_sizes_match_the_reference() {
    for case in reference().ess {
        let mut checks = vec![
            (EssMethod::Moment, case.moment),
            (EssMethod::Morita, case.morita),
        ];
        if let Some(elir) = case.elir {
            checks.push((EssMethod::Elir, elir));
        }
        for (method, want) in checks {
            let got = ess(&case, method);
            assert!(
                (got - want).abs() <= 1e-7 * want.abs().max(1.0),
                "{} {}: got {got}, want {want}",
                case.name,
                method.name()
            );
        }
    }
}

fn close(name: &str, got: &Summary, want: &Quantities, moments: f64, quantiles: f64) {
    for (what, g, w, tolerance) in [
        ("mean", got.mean, want.mean, moments),
        ("sd", got.sd, want.sd, moments),
        ("q025", got.q025, want.q025, quantiles),
        ("median", got.median, want.median, quantiles),
        ("q975", got.q975, want.q975, quantiles),
    ] {
        assert!(
            (g - w).abs() <= tolerance,
            "{name} {what}: got {g}, want {w}"
        );
    }
}

/// RBesT's `AS` data (eight placebo arms, Baeten et al. 2013), with RBesT's example priors
/// μ ~ N(0, 2²) and τ ~ HalfNormal(1).
fn as_studies() -> Vec<BinaryStudy> {
    [
        (23, 107),
        (12, 44),
        (19, 51),
        (9, 39),
        (39, 139),
        (6, 20),
        (9, 78),
        (10, 35),
    ]
    .iter()
    .map(|&(responders, n)| BinaryStudy { responders, n })
    .collect()
}

#[test]
fn as_map_predictive_matches_the_reference() {
    let want = reference().map_as;
    let map =
        MapPredictive::binary(&as_studies(), HierarchicalPriors::BINARY_DEFAULT).expect("map");
    close("p_new", &map.summary(), &want.predictive, 1e-6, 1e-5);
    close("tau", &map.tau(), &want.tau, 1e-5, 1e-5);
}

#[test]
fn as_map_predictive_agrees_with_rbest_mcmc() {
    // RBesT vignette "Getting started with RBesT (binary)", `print(map_mcmc)` (gMAP with
    // tau.prior = 1, beta.prior = 2, Stan MCMC): MAP prior mean 0.255, sd 0.0864, 2.5 % 0.106,
    // median 0.247, 97.5 % 0.461; τ mean 0.387, sd 0.215, median 0.359. Those are Monte Carlo
    // estimates (a few thousand draws; their MC error on the mean is about 0.002 and larger on
    // the tail quantiles), so the exact values here agree to 0.005 (moments), 0.015 (quantiles).
    let map =
        MapPredictive::binary(&as_studies(), HierarchicalPriors::BINARY_DEFAULT).expect("map");
    let p = map.summary();
    assert!((p.mean - 0.255).abs() < 0.005, "{p:?}");
    assert!((p.sd - 0.0864).abs() < 0.005, "{p:?}");
    assert!(
        (p.q025 - 0.106).abs() < 0.015 && (p.median - 0.247).abs() < 0.015,
        "{p:?}"
    );
    assert!((p.q975 - 0.461).abs() < 0.015, "{p:?}");
    let tau = map.tau();
    assert!(
        (tau.mean - 0.387).abs() < 0.015 && (tau.median - 0.359).abs() < 0.015,
        "{tau:?}"
    );
    assert!((tau.sd - 0.215).abs() < 0.015, "{tau:?}");
}
