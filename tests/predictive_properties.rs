//! Invariants of the predictive probabilities (issue: "predictive probabilities lie in [0, 1] and
//! move the right way with the data"), by property tests.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::predictive::{
    ArmData, ConfirmatoryTrial, FutureTrialQuadrature, SingleArmDesign,
};
use bayestrial::stats::{BetaPrior, Marginal};
use proptest::prelude::*;

/// Rounding allowance for the monotonicity checks.
const SLACK: f64 = 1e-12;

fn single(a: f64, b: f64, n_max: u64, p0: f64, threshold: f64, x: u64, n: u64) -> f64 {
    SingleArmDesign::new(BetaPrior { a, b }, n_max, p0, threshold)
        .expect("a valid design")
        .predictive_probability(ArmData::new(x, n).expect("valid data"))
        .expect("PP")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn single_arm_pp_is_a_probability_rising_with_successes(
        a in 0.2..5.0f64, b in 0.2..5.0f64, n_max in 5u64..120, p0 in 0.05..0.95f64,
        threshold in 0.5..0.99f64, n_frac in 0.0..1.0f64, x_frac in 0.0..1.0f64,
    ) {
        let n = ((n_max as f64) * n_frac) as u64;
        let x = ((n as f64) * x_frac) as u64;
        let pp = single(a, b, n_max, p0, threshold, x, n);
        prop_assert!((0.0..=1.0).contains(&pp));
        if x < n {
            let more = single(a, b, n_max, p0, threshold, x + 1, n);
            prop_assert!(more >= pp - SLACK, "{x}/{n}: {pp}, {}/{n}: {more}", x + 1);
        }
        let stricter = single(a, b, n_max, p0, (threshold + 0.5 * (1.0 - threshold)).min(0.999), x, n);
        prop_assert!(stricter <= pp + SLACK, "threshold raised: {pp} → {stricter}");
    }

    #[test]
    fn future_trial_pp_rises_with_treatment_successes_and_size(
        extra in 1.0..20.0f64, a in 2.0..30.0f64, b in 2.0..30.0f64,
        n in 20u64..400,
    ) {
        let trial = ConfirmatoryTrial::new(n, 0.025).expect("trial");
        let mut quadrature = FutureTrialQuadrature::new();
        let control = Marginal::beta(a, b + extra).expect("control");
        let treatment = Marginal::beta(a, b).expect("treatment");
        let better = Marginal::beta(a + extra, b).expect("better treatment");
        let pp = quadrature.predictive_probability(&trial, &treatment, &control).expect("PP");
        let pp_better = quadrature.predictive_probability(&trial, &better, &control).expect("PP");
        prop_assert!((0.0..=1.0).contains(&pp) && (0.0..=1.0).contains(&pp_better));
        prop_assert!(pp_better >= pp - 1e-9, "{pp} → {pp_better}");
        // With the treatment clearly better, a larger future trial is more likely to succeed.
        let strong = Marginal::beta(a + 4.0 * extra + 20.0, b).expect("strong treatment");
        let bigger = ConfirmatoryTrial::new(2 * n, 0.025).expect("bigger trial");
        let small = quadrature.predictive_probability(&trial, &strong, &control).expect("PP");
        let large = quadrature.predictive_probability(&bigger, &strong, &control).expect("PP");
        prop_assert!(large >= small - 1e-6, "N {n}: {small}, N {}: {large}", 2 * n);
    }
}
