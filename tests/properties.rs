//! Property tests of the invariants the engine relies on: allocation probabilities sum to 1 and
//! respect their bounds, P(best) sums to 1, conjugate posteriors do not depend on the order of
//! outcomes, and folding the same events twice gives the same state.

use std::path::Path;

use bayestrial::engine::{adaptive_probabilities, Engine, OutcomeValue, TrialSeed, TrialState};
use bayestrial::protocol::{ControlShare, Protocol};
use bayestrial::stats::{
    BetaPrior, Better, ConjugateModel, GammaPrior, Marginal, NigPrior, Observation, Quadrature,
};
use proptest::prelude::*;

fn control_share() -> impl Strategy<Value = Option<ControlShare>> {
    prop_oneof![
        Just(None),
        Just(Some(ControlShare::SqrtK)),
        Just(Some(ControlShare::MatchBest)),
        (0.05..0.5_f64).prop_map(|s| Some(ControlShare::Fixed(s))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn allocation_sums_to_one_and_respects_bounds(
        raw in prop::collection::vec(0.0..1.0_f64, 2..10),
        power in 0.0..2.0_f64,
        share in control_share(),
        min_frac in 0.0..0.9_f64,
        max_frac in 0.0..1.0_f64,
    ) {
        let k = raw.len() as f64;
        let total: f64 = raw.iter().sum();
        let p_best: Vec<f64> = raw.iter().map(|r| if total > 0.0 { r / total } else { 1.0 / k }).collect();
        // Bounds that can hold: min ≤ rest/k ≤ max, expressed on the competing arms' mass.
        let min = min_frac * 0.5 / k;
        let max = (1.0 / k + max_frac * (1.0 - 1.0 / k)).min(1.0);
        let mut out = vec![0.0; raw.len()];
        let control = adaptive_probabilities(&p_best, power, share, min, max, &mut out);
        let sum: f64 = out.iter().sum::<f64>() + control;
        prop_assert!((sum - 1.0).abs() < 1e-9, "sum {sum}");
        let rest = 1.0 - control;
        let feasible = k * min <= rest + 1e-12 && k * max >= rest - 1e-12;
        for &p in &out {
            prop_assert!(p >= 0.0);
            if feasible {
                prop_assert!(p >= min - 1e-9 && p <= max + 1e-9, "{p} outside [{min}, {max}]");
            }
        }
    }

    #[test]
    fn p_best_sums_to_one(
        shapes in prop::collection::vec((0.5..3000.0_f64, 0.5..3000.0_f64), 2..8),
        lower in any::<bool>(),
    ) {
        let arms: Vec<Marginal> = shapes.iter().map(|&(a, b)| Marginal::beta(a, b).expect("valid")).collect();
        let better = if lower { Better::Lower } else { Better::Higher };
        let mut quadrature = Quadrature::new();
        let best = quadrature.p_best(&arms, better).expect("p_best");
        let worst = quadrature.p_worst(&arms, better).expect("p_worst");
        prop_assert!((best.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        prop_assert!((worst.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        prop_assert!(best.iter().chain(&worst).all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn conjugate_posteriors_ignore_the_order_of_outcomes(
        values in prop::collection::vec(-50.0..50.0_f64, 1..60),
        counts in prop::collection::vec((0_u64..20, 0.1..5.0_f64), 1..60),
        responses in prop::collection::vec(any::<bool>(), 1..200),
        rotation in 0_usize..1000,
    ) {
        let rotate = |n: usize| (rotation % n.max(1), n);
        // Normal model: same posterior up to rounding.
        let prior = NigPrior { mu0: 0.0, kappa0: 0.5, alpha0: 2.0, beta0: 3.0 };
        let mut forward = ConjugateModel::normal(prior).expect("prior");
        let mut shuffled = forward;
        for &x in &values { forward.observe(Observation::Continuous(x)).expect("observe"); }
        let (r, n) = rotate(values.len());
        for i in (0..n).rev() { shuffled.observe(Observation::Continuous(values[(i + r) % n])).expect("observe"); }
        let (a, b) = (forward.nig_posterior().expect("nig"), shuffled.nig_posterior().expect("nig"));
        prop_assert!((a.mu - b.mu).abs() <= 1e-9 * (1.0 + a.mu.abs()));
        prop_assert!((a.beta - b.beta).abs() <= 1e-9 * a.beta);
        prop_assert_eq!(a.kappa, b.kappa);
        prop_assert_eq!(a.alpha, b.alpha);
        // Beta-Binomial: exactly the same.
        let mut forward = ConjugateModel::beta_binomial(BetaPrior { a: 1.0, b: 1.0 }).expect("prior");
        let mut backward = forward;
        for &y in &responses { forward.observe(Observation::Binary(y)).expect("observe"); }
        for &y in responses.iter().rev() { backward.observe(Observation::Binary(y)).expect("observe"); }
        prop_assert_eq!(forward.posterior().ok(), backward.posterior().ok());
        // Gamma-Poisson: same up to rounding of the exposure sum.
        let mut forward = ConjugateModel::gamma_poisson(GammaPrior { shape: 0.5, rate: 0.1 }).expect("prior");
        let mut backward = forward;
        for &(e, t) in &counts { forward.observe(Observation::Count { events: e, exposure: t }).expect("observe"); }
        for &(e, t) in counts.iter().rev() { backward.observe(Observation::Count { events: e, exposure: t }).expect("observe"); }
        let (Some(x), Some(y)) = (forward.posterior().ok().and_then(|m| m.mean()), backward.posterior().ok().and_then(|m| m.mean())) else {
            return Err(TestCaseError::fail("gamma mean exists"));
        };
        prop_assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn folding_the_same_events_twice_gives_the_same_state(seed in any::<u64>(), delay in 0_usize..40) {
        let protocol = Protocol::load(Path::new("protocols/three-arm-pbest.toml")).expect("protocol");
        let mut engine = Engine::new(&protocol, TrialSeed::from_u64(seed));
        let mut state = TrialState::new(&protocol).expect("state");
        let mut events = engine.start(&mut state, "hash").expect("start");
        let mut pending = std::collections::VecDeque::new();
        for i in 0..200 {
            if !state.is_running() { break; }
            let subject = format!("P{i}");
            events.extend(engine.enrol(&mut state, &subject).expect("enrol"));
            pending.push_back(subject);
            if pending.len() > delay {
                let s = pending.pop_front().expect("pending");
                let response = TrialSeed::from_u64(seed ^ i).draw(1) < 0.3;
                events.extend(engine.record_outcome(&mut state, &s, OutcomeValue::Binary { response }).expect("outcome"));
            }
        }
        let first = TrialState::fold(&protocol, &events).expect("fold");
        let second = TrialState::fold(&protocol, &events).expect("fold");
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(&first, &state);
    }
}
