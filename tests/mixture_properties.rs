//! Property tests of mixture priors: a one-component mixture is exactly the plain prior (bit for
//! bit, through the model, the posterior and every decision probability), posterior weights sum
//! to 1, and a mixture of two identical components is that component.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::{
    BetaPrior, Better, ConjugateModel, GammaPrior, Marginal, Mixture, NigPrior, Observation,
    Quadrature,
};
use proptest::prelude::*;

/// Every decision probability the engine asks for, on a pair of arms (bit-comparable).
fn decisions(q: &mut Quadrature, a: &Marginal, b: &Marginal, delta: f64) -> Vec<f64> {
    let mut out = q.p_best(&[*a, *b], Better::Higher).expect("p_best");
    out.push(q.p_greater(a, b, delta).expect("p_greater"));
    out.push(q.p_within(a, b, delta.abs() + 0.01).expect("p_within"));
    out.push(
        q.p_range_below(&[*a, *b], delta.abs() + 0.01)
            .expect("range"),
    );
    out.push(q.quantile(a, 0.3).expect("quantile"));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_one_component_mixture_is_the_plain_prior_bit_for_bit(
        a in 0.2..50.0_f64, b in 0.2..50.0_f64,
        s in 0u64..40, extra in 0u64..40,
        delta in -0.2..0.2_f64,
    ) {
        let prior = BetaPrior { a, b };
        let mut plain = ConjugateModel::beta_binomial(prior).expect("prior");
        let mut mixed = ConjugateModel::beta_binomial_mixture(Mixture::single(prior).expect("single"));
        plain.observe_binomial(s, s + extra).expect("data");
        mixed.observe_binomial(s, s + extra).expect("data");
        prop_assert_eq!(serde_json::to_string(&plain).expect("json"), serde_json::to_string(&mixed).expect("json"));
        let (p, m) = (plain.posterior().expect("posterior"), mixed.posterior().expect("posterior"));
        prop_assert_eq!(p, m);
        prop_assert!(!m.is_mixture());
        let other = Marginal::beta(3.0, 5.0).expect("beta");
        let mut q = Quadrature::new();
        let x = decisions(&mut q, &p, &other, delta);
        let y = decisions(&mut q, &m, &other, delta);
        prop_assert_eq!(x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), y.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn a_one_component_gamma_or_normal_mixture_is_the_plain_prior(
        shape in 0.2..20.0_f64, rate in 0.01..10.0_f64, events in 0u64..50, exposure in 0.1..30.0_f64,
        mu0 in -5.0..5.0_f64, kappa0 in 0.01..10.0_f64, alpha0 in 0.5..10.0_f64, beta0 in 0.1..10.0_f64,
        values in prop::collection::vec(-10.0..10.0_f64, 0..12),
    ) {
        let gamma = GammaPrior { shape, rate };
        let mut plain = ConjugateModel::gamma_poisson(gamma).expect("prior");
        let mut mixed = ConjugateModel::gamma_poisson_mixture(Mixture::single(gamma).expect("single"));
        for model in [&mut plain, &mut mixed] {
            model.observe(Observation::Count { events, exposure }).expect("data");
        }
        prop_assert_eq!(plain.posterior().expect("posterior"), mixed.posterior().expect("posterior"));
        let nig = NigPrior { mu0, kappa0, alpha0, beta0 };
        let mut plain = ConjugateModel::normal(nig).expect("prior");
        let mut mixed = ConjugateModel::normal_mixture(Mixture::single(nig).expect("single"));
        for &x in &values {
            plain.observe(Observation::Continuous(x)).expect("data");
            mixed.observe(Observation::Continuous(x)).expect("data");
        }
        prop_assert_eq!(serde_json::to_string(&plain).expect("json"), serde_json::to_string(&mixed).expect("json"));
        prop_assert_eq!(plain.posterior().expect("posterior"), mixed.posterior().expect("posterior"));
    }

    #[test]
    fn posterior_weights_sum_to_one(
        parts in prop::collection::vec((0.05..1.0_f64, 0.2..80.0_f64, 0.2..80.0_f64), 1..6),
        s in 0u64..200, extra in 0u64..200,
    ) {
        let total: f64 = parts.iter().map(|p| p.0).sum();
        let parts: Vec<(f64, BetaPrior)> = parts.iter().map(|&(w, a, b)| (w / total, BetaPrior { a, b })).collect();
        let prior = Mixture::new(&parts).expect("mixture");
        let posterior = prior.update(s, s + extra).expect("update");
        let sum: f64 = posterior.weights().iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-12, "{sum}");
        let mut model = ConjugateModel::beta_binomial_mixture(prior);
        model.observe_binomial(s, s + extra).expect("data");
        let marginal = model.posterior().expect("posterior");
        let sum: f64 = marginal.components().map(|(w, _)| w).sum();
        prop_assert!((sum - 1.0).abs() < 1e-12, "{sum}");
    }

    #[test]
    fn two_identical_components_are_the_one_component(
        a in 0.3..200.0_f64, b in 0.3..200.0_f64, w in 0.05..0.95_f64,
        s in 0u64..30, extra in 0u64..30,
    ) {
        let prior = BetaPrior { a, b };
        let mut single = ConjugateModel::beta_binomial(prior).expect("prior");
        let mut double = ConjugateModel::beta_binomial_mixture(
            Mixture::new(&[(w, prior), (1.0 - w, prior)]).expect("mixture"),
        );
        single.observe_binomial(s, s + extra).expect("data");
        double.observe_binomial(s, s + extra).expect("data");
        let (x, y) = (single.posterior().expect("posterior"), double.posterior().expect("posterior"));
        let other = Marginal::beta(4.0, 6.0).expect("beta");
        let mut q = Quadrature::new();
        let (dx, dy) = (decisions(&mut q, &x, &other, 0.05), decisions(&mut q, &y, &other, 0.05));
        for (u, v) in dx.iter().zip(&dy) {
            prop_assert!((u - v).abs() < 1e-10, "{dx:?} vs {dy:?}");
        }
        for t in [0.01, 0.2, 0.5, 0.8, 0.99] {
            let (f, g) = (x.density(t), y.density(t));
            prop_assert!((f - g).abs() <= 1e-12 * f.abs().max(1.0), "{f} vs {g}");
        }
        let (mx, my) = (x.mean().expect("mean"), y.mean().expect("mean"));
        prop_assert!((mx - my).abs() < 1e-14);
        let (sx, sy) = (x.sd().expect("sd"), y.sd().expect("sd"));
        prop_assert!((sx - sy).abs() < 1e-10 * sx.max(1e-6), "{sx} vs {sy}");
    }
}

#[test]
fn a_mixture_marginal_serialises_with_its_components_and_reads_back(
) -> Result<(), Box<dyn std::error::Error>> {
    let plain = Marginal::beta(2.0, 3.0)?;
    assert_eq!(
        serde_json::to_string(&plain)?,
        r#"{"family":"beta","a":2.0,"b":3.0}"#
    );
    let mixture = Marginal::mixture(&[(0.25, Marginal::beta(1.0, 3.0)?), (0.75, plain)])?;
    let text = serde_json::to_string(&mixture)?;
    assert_eq!(
        text,
        r#"{"family":"mixture","components":[{"weight":0.25,"family":"beta","a":1.0,"b":3.0},{"weight":0.75,"family":"beta","a":2.0,"b":3.0}]}"#
    );
    let back: Marginal = serde_json::from_str(&text)?;
    assert_eq!(back, mixture);
    Ok(())
}
