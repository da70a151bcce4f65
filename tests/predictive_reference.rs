//! The predictive probabilities against independent reference values:
//! `tests/reference/predictive_cases.json`, computed with scipy by
//! `tests/reference/generate_predictive.py` (every future outcome enumerated, the inner
//! probabilities by scipy's incomplete beta and adaptive quadrature). Sums over future data must
//! agree to 1e-9, quadratures to 1e-6.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::predictive::{
    ArmData, ConfirmatoryTrial, EffectScale, FutureTrialQuadrature, NormalEffect, SingleArmDesign,
    TwoArmDesign, TwoArmWorkspace,
};
use bayestrial::stats::{BetaPrior, Marginal};
use serde::Deserialize;

const SUM_TOLERANCE: f64 = 1e-9;
const QUADRATURE_TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
struct Reference {
    single_arm: Vec<SingleCase>,
    two_arm: Vec<TwoCase>,
    future_trial: Vec<FutureCase>,
    normal_effect: Vec<NormalCase>,
}

#[derive(Deserialize)]
struct SingleCase {
    prior: [f64; 2],
    successes: u64,
    patients: u64,
    max_patients: u64,
    p0: f64,
    threshold: f64,
    predictive_probability: f64,
    #[serde(default)]
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    responses: u64,
    probability: f64,
    posterior: f64,
    success: bool,
}

#[derive(Deserialize)]
struct TwoCase {
    treatment_prior: [f64; 2],
    control_prior: [f64; 2],
    treatment: [u64; 2],
    control: [u64; 2],
    max_treatment: u64,
    max_control: u64,
    delta: f64,
    threshold: f64,
    predictive_probability: f64,
    smallest_gap: f64,
}

#[derive(Deserialize)]
struct FutureCase {
    treatment: [f64; 2],
    control: [f64; 2],
    per_arm: u64,
    alpha: f64,
    critical_value: f64,
    predictive_probability: f64,
}

#[derive(Deserialize)]
struct NormalCase {
    mean: f64,
    sd: f64,
    scale: String,
    control_rate: f64,
    per_arm: u64,
    alpha: f64,
    predictive_probability: f64,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("reference/predictive_cases.json"))
        .expect("predictive_cases.json parses")
}

fn prior([a, b]: [f64; 2]) -> BetaPrior {
    BetaPrior { a, b }
}

#[test]
fn single_arm_sums_match_scipy() {
    let cases = reference().single_arm;
    assert!(cases.len() >= 8);
    for case in cases {
        let design = SingleArmDesign::new(
            prior(case.prior),
            case.max_patients,
            case.p0,
            case.threshold,
        )
        .expect("a valid design");
        let data = ArmData::new(case.successes, case.patients).expect("valid data");
        let pp = design.predictive_probability(data).expect("PP");
        assert!(
            (pp - case.predictive_probability).abs() <= SUM_TOLERANCE,
            "{:?} {}/{}: PP {pp}, want {}",
            case.prior,
            case.successes,
            case.patients,
            case.predictive_probability
        );
        if case.rows.is_empty() {
            continue;
        }
        let prediction = design.prediction(data).expect("table");
        assert_eq!(prediction.rows.len(), case.rows.len());
        for (got, want) in prediction.rows.iter().zip(&case.rows) {
            assert_eq!(got.responses, want.responses);
            assert_eq!(got.success, want.success, "row {}", want.responses);
            assert!((got.probability - want.probability).abs() <= SUM_TOLERANCE);
            assert!((got.posterior - want.posterior).abs() <= SUM_TOLERANCE);
        }
    }
}

#[test]
fn two_arm_sums_match_scipy() {
    let cases = reference().two_arm;
    assert!(cases.len() >= 3);
    let mut workspace = TwoArmWorkspace::new();
    for case in cases {
        // No posterior probability lies within the quadrature's accuracy of the threshold, so
        // every indicator is decided and the sums must agree to rounding.
        assert!(case.smallest_gap > 10.0 * QUADRATURE_TOLERANCE);
        let design = TwoArmDesign::new(
            prior(case.treatment_prior),
            prior(case.control_prior),
            case.max_treatment,
            case.max_control,
            case.delta,
            case.threshold,
        )
        .expect("a valid design");
        let treatment = ArmData::new(case.treatment[0], case.treatment[1]).expect("data");
        let control = ArmData::new(case.control[0], case.control[1]).expect("data");
        let pp = workspace
            .predictive_probability(&design, treatment, control)
            .expect("PP");
        assert!(
            (pp - case.predictive_probability).abs() <= SUM_TOLERANCE,
            "{:?} vs {:?}: PP {pp}, want {}",
            case.treatment,
            case.control,
            case.predictive_probability
        );
    }
}

#[test]
fn future_trial_quadrature_matches_scipy() {
    let cases = reference().future_trial;
    assert!(cases.len() >= 5);
    let mut quadrature = FutureTrialQuadrature::new();
    for case in cases {
        let trial = ConfirmatoryTrial::new(case.per_arm, case.alpha).expect("a valid trial");
        assert!((trial.critical_value() - case.critical_value).abs() < 1e-12);
        let t = Marginal::beta(case.treatment[0], case.treatment[1]).expect("Beta");
        let c = Marginal::beta(case.control[0], case.control[1]).expect("Beta");
        let pp = quadrature
            .predictive_probability(&trial, &t, &c)
            .expect("PP");
        assert!(
            (pp - case.predictive_probability).abs() <= QUADRATURE_TOLERANCE,
            "{:?} vs {:?}, N = {}: PP {pp}, want {}",
            case.treatment,
            case.control,
            case.per_arm,
            case.predictive_probability
        );
    }
}

#[test]
fn normal_effect_closed_form_matches_scipy_quadrature() {
    let cases = reference().normal_effect;
    assert!(cases.len() >= 3);
    for case in cases {
        let trial = ConfirmatoryTrial::new(case.per_arm, case.alpha).expect("a valid trial");
        let scale = match case.scale.as_str() {
            "logit" => EffectScale::Logit,
            _ => EffectScale::Probability,
        };
        let pp = trial
            .predictive_probability_normal(NormalEffect {
                mean: case.mean,
                sd: case.sd,
                scale,
                control_rate: case.control_rate,
            })
            .expect("PP");
        assert!(
            (pp - case.predictive_probability).abs() <= SUM_TOLERANCE,
            "{} ± {} on the {} scale: PP {pp}, want {}",
            case.mean,
            case.sd,
            case.scale,
            case.predictive_probability
        );
    }
}
