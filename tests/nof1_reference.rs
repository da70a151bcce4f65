//! The n-of-1 numerics against independent reference values, `tests/reference/nof1_cases.json`
//! (written by `tests/reference/generate_nof1.py` with scipy and statsmodels), and property tests
//! of their invariants. Run with `--nocapture` to see the worst error of each group.
//!
//! Tolerances: the independent-error posteriors are exact Student-t's, so they must agree to
//! 1e-9; the AR(1) posterior (quadrature over ρ) and the hierarchical model (quadrature over τ)
//! to 1e-6, the accuracy the quadratures are built for (`METHODS.md`, "n-of-1 analysis").

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::nof1::{
    analyse_patient, pool_series, EffectOptions, EffectPosterior, Nof1Observation, Nof1Prior,
    PatientEffect, SeriesOptions,
};
use bayestrial::stats::{Better, NigPrior};
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    flat: Vec<IidCase>,
    nig: Vec<IidCase>,
    ar1: Vec<ArCase>,
    series: Vec<SeriesCase>,
}

#[derive(Deserialize, Clone, Copy)]
struct Prior {
    mu0: f64,
    kappa0: f64,
    alpha0: f64,
    beta0: f64,
}

#[derive(Deserialize)]
struct Effect {
    mean: f64,
    sd: Option<f64>,
    ci95: [f64; 2],
    p_positive: f64,
    p_beyond_mcid_higher: f64,
    p_beyond_mcid_lower: f64,
    p_within_mcid: f64,
}

#[derive(Deserialize)]
struct IidCase {
    name: String,
    treatments: usize,
    mcid: f64,
    #[serde(default)]
    prior: Option<Prior>,
    obs: Vec<(usize, u32, f64)>,
    #[serde(default)]
    effect: Option<Effect>,
    #[serde(default)]
    effects: Vec<Effect>,
}

#[derive(Deserialize)]
struct Exact {
    rho_mean: f64,
    effects: Vec<Effect>,
}

#[derive(Deserialize)]
struct Iid {
    mean: f64,
}

#[derive(Deserialize)]
struct Statsmodels {
    effect: f64,
    se: f64,
    rho: f64,
}

#[derive(Deserialize)]
struct ArCase {
    name: String,
    treatments: usize,
    mcid: f64,
    prior: Option<Prior>,
    obs: Vec<(usize, u32, f64)>,
    exact: Exact,
    #[serde(default)]
    iid: Option<Iid>,
    #[serde(default)]
    statsmodels: Option<Statsmodels>,
}

#[derive(Deserialize)]
struct Population {
    mean: f64,
    sd: Option<f64>,
    ci95: [f64; 2],
    p_positive: f64,
    p_beyond_mcid: f64,
}

#[derive(Deserialize)]
struct Tau {
    mean: Option<f64>,
    median: f64,
    ci95: [f64; 2],
}

#[derive(Deserialize)]
struct Shrunken {
    mean: f64,
    sd: f64,
    ci95: [f64; 2],
    p_positive: f64,
    p_beyond_mcid: f64,
}

#[derive(Deserialize)]
struct EmpiricalBayes {
    mu_hat: f64,
    mu_sd: f64,
    tau_hat: f64,
    log_likelihood: f64,
    at_boundary: bool,
}

#[derive(Deserialize)]
struct SeriesCase {
    name: String,
    tau_scale: f64,
    mcid: f64,
    better: Better,
    patients: Vec<PatientEffect>,
    population: Population,
    tau: Tau,
    shrunken: Vec<Shrunken>,
    empirical_bayes: EmpiricalBayes,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string("tests/reference/nof1_cases.json").expect("reference file");
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
    /// |got − want| ≤ tolerance · max(1, |want|).
    fn check(&mut self, what: String, got: f64, want: f64, tolerance: f64) {
        let error = (got - want).abs() / want.abs().max(1.0);
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
            "{label}: worst error {:e} (absolute, relative above 1) at {}",
            self.error, self.at
        );
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n"));
    }
}

fn observations(rows: &[(usize, u32, f64)]) -> Vec<Nof1Observation> {
    rows.iter()
        .map(|&(treatment, day, value)| Nof1Observation {
            treatment,
            day,
            value,
        })
        .collect()
}

fn prior(p: Option<Prior>) -> Nof1Prior {
    match p {
        None => Nof1Prior::Flat,
        Some(p) => Nof1Prior::NormalInverseGamma(NigPrior {
            mu0: p.mu0,
            kappa0: p.kappa0,
            alpha0: p.alpha0,
            beta0: p.beta0,
        }),
    }
}

/// Compares one effect posterior, analysed with higher and with lower better, to the reference.
fn check_effect(
    worst: &mut Worst,
    label: &str,
    higher: &EffectPosterior,
    lower: &EffectPosterior,
    want: &Effect,
    tolerance: f64,
) {
    worst.check(format!("{label} mean"), higher.mean, want.mean, tolerance);
    if let Some(sd) = want.sd {
        worst.check(format!("{label} sd"), higher.sd, sd, tolerance);
    } else {
        assert!(higher.sd.is_infinite(), "{label}: sd should be infinite");
    }
    worst.check(
        format!("{label} ci95.0"),
        higher.ci95.0,
        want.ci95[0],
        tolerance,
    );
    worst.check(
        format!("{label} ci95.1"),
        higher.ci95.1,
        want.ci95[1],
        tolerance,
    );
    worst.check(
        format!("{label} p_positive"),
        higher.p_positive,
        want.p_positive,
        tolerance,
    );
    worst.check(
        format!("{label} p_beyond_mcid (higher)"),
        higher.p_beyond_mcid,
        want.p_beyond_mcid_higher,
        tolerance,
    );
    worst.check(
        format!("{label} p_beyond_mcid (lower)"),
        lower.p_beyond_mcid,
        want.p_beyond_mcid_lower,
        tolerance,
    );
    worst.check(
        format!("{label} p_within_mcid"),
        higher.p_within_mcid,
        want.p_within_mcid,
        tolerance,
    );
}

fn analyse_both(
    obs: &[Nof1Observation],
    treatments: usize,
    prior: &Nof1Prior,
    mcid: f64,
    ar1: bool,
) -> (Vec<EffectPosterior>, Vec<EffectPosterior>) {
    let run = |better| {
        analyse_patient(obs, treatments, prior, &EffectOptions { mcid, better, ar1 })
            .expect("the reference data can be analysed")
    };
    (run(Better::Higher), run(Better::Lower))
}

#[test]
fn independent_errors_match_the_textbook_t() {
    let reference = reference();
    assert!(reference.flat.len() >= 4 && reference.nig.len() >= 3);
    let mut worst = Worst::default();
    for case in reference.flat.iter().chain(&reference.nig) {
        let obs = observations(&case.obs);
        let (higher, lower) =
            analyse_both(&obs, case.treatments, &prior(case.prior), case.mcid, false);
        let wanted: Vec<&Effect> = case.effect.iter().chain(&case.effects).collect();
        assert_eq!(wanted.len(), case.treatments - 1, "{}", case.name);
        for (i, want) in wanted.iter().enumerate() {
            let label = format!("{} contrast {}", case.name, i + 1);
            check_effect(&mut worst, &label, &higher[i], &lower[i], want, 1e-9);
        }
    }
    worst.finish("independent errors (flat and NIG)");
}

#[test]
fn ar1_posterior_matches_the_independent_integration() {
    let reference = reference();
    assert!(reference.ar1.len() >= 3);
    let mut worst = Worst::default();
    for case in &reference.ar1 {
        let obs = observations(&case.obs);
        let (higher, lower) =
            analyse_both(&obs, case.treatments, &prior(case.prior), case.mcid, true);
        for (i, want) in case.exact.effects.iter().enumerate() {
            let label = format!("{} contrast {}", case.name, i + 1);
            check_effect(&mut worst, &label, &higher[i], &lower[i], want, 1e-6);
        }
        worst.check(
            format!("{} rho", case.name),
            higher[0].rho.expect("rho with AR(1)"),
            case.exact.rho_mean,
            1e-6,
        );
    }
    worst.finish("AR(1) errors");
}

/// The AR(1) estimate moves away from the iid one in the direction of statsmodels' maximum
/// likelihood fit of the same model, and lands close to it. "Close" is 0.4 standard errors of
/// the statsmodels fit: the posterior mean averages over ρ and σ (ρ's posterior is skewed
/// towards 1, where the effect is least determined), while the maximum-likelihood estimate
/// conditions on ρ̂, so the two differ by a fraction of a standard error, not by rounding
/// (0.25 SE here; up to 0.35 SE in 30 simulated data sets of this design). ρ's posterior
/// mean and ρ̂ must agree within 0.1 for the same reason.
#[test]
fn ar1_moves_towards_the_statsmodels_fit() {
    let reference = reference();
    let case = reference
        .ar1
        .iter()
        .find(|c| c.statsmodels.is_some())
        .expect("a case with a statsmodels fit");
    let fit = case.statsmodels.as_ref().expect("statsmodels");
    let iid_reference = case.iid.as_ref().expect("iid estimate").mean;
    let obs = observations(&case.obs);
    let (iid, _) = analyse_both(&obs, 2, &Nof1Prior::Flat, case.mcid, false);
    let (ar, _) = analyse_both(&obs, 2, &Nof1Prior::Flat, case.mcid, true);
    assert!((iid[0].mean - iid_reference).abs() < 1e-9);
    let (iid, ar, rho) = (iid[0].mean, ar[0].mean, ar[0].rho.expect("rho"));
    eprintln!(
        "effect: iid {iid:.4}, AR(1) posterior {ar:.4}, statsmodels {:.4} (se {:.4}); \
         rho: posterior mean {rho:.4}, statsmodels {:.4}",
        fit.effect, fit.se, fit.rho
    );
    assert!(
        (fit.effect - iid).abs() > fit.se,
        "the case should separate the two"
    );
    assert_eq!(
        (ar - iid).signum(),
        (fit.effect - iid).signum(),
        "AR(1) moves away from iid in the statsmodels direction"
    );
    assert!(
        (ar - fit.effect).abs() < 0.4 * fit.se,
        "{ar} vs {}",
        fit.effect
    );
    assert!((ar - fit.effect).abs() < 0.5 * (iid - fit.effect).abs());
    assert!((rho - fit.rho).abs() < 0.1);
}

#[test]
fn series_matches_the_two_dimensional_integration() {
    let reference = reference();
    assert!(reference.series.len() >= 3);
    let mut worst = Worst::default();
    for case in &reference.series {
        let got = pool_series(
            &case.patients,
            &SeriesOptions {
                mcid: case.mcid,
                better: case.better,
                tau_scale: case.tau_scale,
            },
        )
        .expect("the reference series can be pooled");
        let name = &case.name;
        let (p, want) = (&got.population, &case.population);
        worst.check(format!("{name} population mean"), p.mean, want.mean, 1e-6);
        match want.sd {
            Some(sd) => worst.check(format!("{name} population sd"), p.sd, sd, 1e-6),
            None => assert!(
                p.sd.is_infinite(),
                "{name}: population sd should be infinite"
            ),
        }
        worst.check(
            format!("{name} population ci95.0"),
            p.ci95.0,
            want.ci95[0],
            1e-6,
        );
        worst.check(
            format!("{name} population ci95.1"),
            p.ci95.1,
            want.ci95[1],
            1e-6,
        );
        worst.check(
            format!("{name} population p_positive"),
            p.p_positive,
            want.p_positive,
            1e-6,
        );
        worst.check(
            format!("{name} population p_beyond_mcid"),
            p.p_beyond_mcid,
            want.p_beyond_mcid,
            1e-6,
        );
        let (t, want) = (&got.tau, &case.tau);
        match want.mean {
            Some(mean) => worst.check(format!("{name} tau mean"), t.mean, mean, 1e-6),
            None => assert!(t.mean.is_infinite()),
        }
        worst.check(format!("{name} tau median"), t.median, want.median, 1e-6);
        worst.check(format!("{name} tau ci95.0"), t.ci95.0, want.ci95[0], 1e-6);
        worst.check(format!("{name} tau ci95.1"), t.ci95.1, want.ci95[1], 1e-6);
        assert_eq!(got.shrunken.len(), case.shrunken.len());
        for (i, (s, want)) in got.shrunken.iter().zip(&case.shrunken).enumerate() {
            let label = format!("{name} patient {i}");
            worst.check(format!("{label} mean"), s.mean, want.mean, 1e-6);
            worst.check(format!("{label} sd"), s.sd, want.sd, 1e-6);
            worst.check(format!("{label} ci95.0"), s.ci95.0, want.ci95[0], 1e-6);
            worst.check(format!("{label} ci95.1"), s.ci95.1, want.ci95[1], 1e-6);
            worst.check(
                format!("{label} p_positive"),
                s.p_positive,
                want.p_positive,
                1e-6,
            );
            worst.check(
                format!("{label} p_beyond_mcid"),
                s.p_beyond_mcid,
                want.p_beyond_mcid,
                1e-6,
            );
        }
        let (eb, want) = (&got.empirical_bayes, &case.empirical_bayes);
        assert_eq!(eb.at_boundary, want.at_boundary, "{name}: EB boundary");
        assert!(eb.converged, "{name}: EB converged");
        worst.check(format!("{name} EB tau_hat"), eb.tau_hat, want.tau_hat, 1e-6);
        worst.check(format!("{name} EB mu_hat"), eb.mu_hat, want.mu_hat, 1e-6);
        worst.check(format!("{name} EB mu_sd"), eb.mu_sd, want.mu_sd, 1e-6);
        worst.check(
            format!("{name} EB log-likelihood"),
            eb.log_likelihood,
            want.log_likelihood,
            1e-9,
        );
    }
    worst.finish("hierarchical series");
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// A patient's data: 2–4 treatments, each with 2–8 measurements, on distinct days.
fn patient_data() -> impl Strategy<Value = (usize, Vec<Nof1Observation>)> {
    (2usize..=4)
        .prop_flat_map(|k| {
            (
                Just(k),
                prop::collection::vec((0..k, -50.0..50.0_f64), 2 * k..(8 * k)),
                prop::collection::vec(-3.0..3.0_f64, k),
            )
        })
        .prop_map(|(k, raw, means)| {
            let mut obs: Vec<Nof1Observation> = raw
                .iter()
                .enumerate()
                .map(|(i, &(t, noise))| Nof1Observation {
                    treatment: t,
                    day: 1 + 2 * i as u32,
                    value: means[t] + noise / 10.0,
                })
                .collect();
            // Every treatment at least twice.
            for (t, mean) in means.iter().enumerate() {
                for j in 0..2 {
                    let day = 1000 + 10 * t as u32 + j;
                    obs.push(Nof1Observation {
                        treatment: t,
                        day,
                        value: mean + 0.1 * f64::from(j),
                    });
                }
            }
            (k, obs)
        })
}

fn any_prior() -> impl Strategy<Value = Nof1Prior> {
    prop_oneof![
        Just(Nof1Prior::Flat),
        (-5.0..5.0_f64, 1e-6..5.0_f64, 1e-3..5.0_f64, 1e-3..5.0_f64).prop_map(
            |(mu0, kappa0, alpha0, beta0)| Nof1Prior::NormalInverseGamma(NigPrior {
                mu0,
                kappa0,
                alpha0,
                beta0
            })
        ),
    ]
}

fn better() -> impl Strategy<Value = Better> {
    prop_oneof![Just(Better::Higher), Just(Better::Lower)]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs())) || (a.is_infinite() && a == b)
}

fn check_invariants(e: &EffectPosterior, better: Better) -> Result<(), TestCaseError> {
    for p in [e.p_positive, e.p_beyond_mcid, e.p_within_mcid] {
        prop_assert!((0.0..=1.0).contains(&p), "probability {p}");
    }
    match better {
        Better::Higher => prop_assert!(e.p_beyond_mcid <= e.p_positive + 1e-12),
        Better::Lower => prop_assert!(e.p_beyond_mcid <= 1.0 - e.p_positive + 1e-12),
    }
    prop_assert!(e.p_within_mcid + e.p_beyond_mcid <= 1.0 + 1e-12);
    prop_assert!(
        e.ci95.0 < e.mean && e.mean < e.ci95.1,
        "{:?} {}",
        e.ci95,
        e.mean
    );
    prop_assert!(e.sd > 0.0);
    let total: f64 = e.components.iter().map(|c| c.weight).sum();
    prop_assert!((total - 1.0).abs() < 1e-12);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn iid_posterior_does_not_depend_on_the_order_of_observations(
        (k, obs) in patient_data(),
        prior in any_prior(),
        mcid in 0.0..1.0_f64,
        better in better(),
        seed in any::<u64>(),
    ) {
        let opts = EffectOptions { mcid, better, ar1: false };
        let a = analyse_patient(&obs, k, &prior, &opts).expect("valid data");
        let mut shuffled = obs.clone();
        // A deterministic shuffle from the seed (Fisher–Yates with a xorshift stream).
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let b = analyse_patient(&shuffled, k, &prior, &opts).expect("valid data");
        for (a, b) in a.iter().zip(&b) {
            prop_assert!(close(a.mean, b.mean), "{} vs {}", a.mean, b.mean);
            prop_assert!(close(a.sd, b.sd));
            prop_assert!(close(a.ci95.0, b.ci95.0) && close(a.ci95.1, b.ci95.1));
            prop_assert!(close(a.p_positive, b.p_positive));
            prop_assert!(close(a.p_beyond_mcid, b.p_beyond_mcid));
            prop_assert!(close(a.p_within_mcid, b.p_within_mcid));
            prop_assert_eq!(&a.n, &b.n);
        }
    }

    #[test]
    fn iid_probabilities_and_intervals_are_coherent(
        (k, obs) in patient_data(),
        prior in any_prior(),
        mcid in 0.0..1.0_f64,
        better in better(),
    ) {
        let opts = EffectOptions { mcid, better, ar1: false };
        for e in analyse_patient(&obs, k, &prior, &opts).expect("valid data") {
            check_invariants(&e, better)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn ar1_probabilities_and_intervals_are_coherent(
        (k, obs) in patient_data(),
        prior in any_prior(),
        mcid in 0.0..1.0_f64,
        better in better(),
    ) {
        let opts = EffectOptions { mcid, better, ar1: true };
        for e in analyse_patient(&obs, k, &prior, &opts).expect("valid data") {
            check_invariants(&e, better)?;
            let rho = e.rho.expect("rho with AR(1)");
            prop_assert!(rho > -1.0 && rho < 1.0);
        }
    }

    #[test]
    fn series_probabilities_and_intervals_are_coherent(
        patients in prop::collection::vec((-3.0..3.0_f64, 0.05..2.0_f64), 1..12),
        tau_scale in 0.05..5.0_f64,
        mcid in 0.0..1.0_f64,
        better in better(),
    ) {
        let patients: Vec<PatientEffect> =
            patients.iter().map(|&(mean, sd)| PatientEffect { mean, sd }).collect();
        let s = pool_series(&patients, &SeriesOptions { mcid, better, tau_scale })
            .expect("valid series");
        let p = &s.population;
        for q in [p.p_positive, p.p_beyond_mcid] {
            prop_assert!((0.0..=1.0).contains(&q));
        }
        prop_assert!(p.ci95.0 < p.mean && p.mean < p.ci95.1);
        prop_assert!(s.tau.ci95.0 >= 0.0 && s.tau.ci95.0 < s.tau.median && s.tau.median < s.tau.ci95.1);
        for e in &s.shrunken {
            prop_assert!(e.ci95.0 < e.mean && e.mean < e.ci95.1);
            prop_assert!((0.0..=1.0).contains(&e.p_beyond_mcid));
            match better {
                Better::Higher => prop_assert!(e.p_beyond_mcid <= e.p_positive + 1e-12),
                Better::Lower => prop_assert!(e.p_beyond_mcid <= 1.0 - e.p_positive + 1e-12),
            }
            prop_assert!(e.sd > 0.0 && e.sd.is_finite());
        }
        let eb = &s.empirical_bayes;
        prop_assert!(eb.tau_hat >= 0.0 && eb.log_likelihood.is_finite());
    }
}
