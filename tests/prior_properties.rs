//! Invariants of the effective sample sizes (property tests): the ESS of a single conjugate
//! prior is its textbook sample size, and a robust component never raises the ESS of a prior
//! that holds at least the robust component's own ESS.

use bayestrial::stats::{
    ess_beta, ess_gamma, ess_normal, robustify, BetaPrior, EssMethod, GammaPrior, Mixture,
    NormalComponent, ROBUST_BETA,
};
use proptest::prelude::*;

fn relative(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn moment_ess_of_a_beta_is_a_plus_b(a in 0.1..500.0_f64, b in 0.1..500.0_f64) {
        let m = Mixture::single(BetaPrior { a, b }).expect("prior");
        prop_assert!(relative(ess_beta(&m, EssMethod::Moment).expect("ess"), a + b) < 1e-9);
    }

    #[test]
    fn elir_ess_of_a_beta_is_a_plus_b(a in 1.0..500.0_f64, b in 1.0..500.0_f64) {
        let m = Mixture::single(BetaPrior { a, b }).expect("prior");
        let got = ess_beta(&m, EssMethod::Elir).expect("ess");
        prop_assert!(relative(got, a + b) < 1e-8, "{} vs {}", got, a + b);
    }

    #[test]
    fn ess_of_a_gamma_is_its_rate(shape in 1.0..300.0_f64, rate in 0.01..100.0_f64) {
        let m = Mixture::single(GammaPrior { shape, rate }).expect("prior");
        prop_assert!(relative(ess_gamma(&m, EssMethod::Moment).expect("ess"), rate) < 1e-9);
        let elir = ess_gamma(&m, EssMethod::Elir).expect("ess");
        prop_assert!(relative(elir, rate) < 1e-8, "{} vs {}", elir, rate);
    }

    #[test]
    fn ess_of_a_normal_is_sigma_squared_over_its_variance(
        mean in -100.0..100.0_f64, sd in 0.01..50.0_f64, sigma in 0.1..100.0_f64,
    ) {
        let m = Mixture::single(NormalComponent { mean, sd }).expect("prior");
        let want = sigma * sigma / (sd * sd);
        for method in [EssMethod::Elir, EssMethod::Moment, EssMethod::Morita] {
            let got = ess_normal(&m, sigma, method).expect("ess");
            let want = if method == EssMethod::Morita { want * (1.0 - 1.0 / 100.0) } else { want };
            prop_assert!(relative(got, want) < 1e-8, "{:?}: {} vs {}", method, got, want);
        }
    }

    #[test]
    fn a_robust_component_never_raises_the_ess(
        parts in prop::collection::vec((0.1..1.0_f64, 2.0..200.0_f64, 2.0..200.0_f64), 1..4),
        weight in 0.05..0.95_f64,
    ) {
        let total: f64 = parts.iter().map(|p| p.0).sum();
        let parts: Vec<_> = parts.iter().map(|&(w, a, b)| (w / total, BetaPrior { a, b })).collect();
        let informative = Mixture::new(&parts).expect("mixture");
        let robust = robustify(&informative, weight, ROBUST_BETA).expect("robust");
        // The robust Beta(1, 1) has ESS 2 by every method; a prior that holds less (a bimodal
        // mixture of distant components, whose moment ESS can be below 1) is not informative,
        // and robustifying it may raise its moment ESS towards 2.
        for method in [EssMethod::Elir, EssMethod::Moment] {
            let before = ess_beta(&informative, method).expect("ess");
            prop_assume!(before >= 2.0);
            let after = ess_beta(&robust, method).expect("ess");
            prop_assert!(after <= before * (1.0 + 1e-9), "{:?}: {} > {}", method, after, before);
        }
    }
}
