//! Monte Carlo cross-checks of the quadrature: the deterministic values must lie within four
//! Monte Carlo standard errors of a simulation with statrs's samplers. (The exact reference
//! values are checked in `stats_reference.rs`; this test catches a systematic error that a
//! mistaken reference would share.)

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::stats::{Better, Marginal, Quadrature, Shape};
use rand::distributions::Distribution;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{Beta, Gamma, StudentsT};

const DRAWS: usize = 200_000;

fn sampler(m: &Marginal) -> Box<dyn Fn(&mut ChaCha8Rng) -> f64> {
    match m.shape().expect("a plain marginal") {
        Shape::Beta { a, b } => {
            let d = Beta::new(a, b).expect("valid beta");
            Box::new(move |r| d.sample(r))
        }
        Shape::Gamma { shape, rate } => {
            let d = Gamma::new(shape, rate).expect("valid gamma");
            Box::new(move |r| d.sample(r))
        }
        Shape::StudentT { df, loc, scale } => {
            let d = StudentsT::new(loc, scale, df).expect("valid t");
            Box::new(move |r| d.sample(r))
        }
    }
}

fn within_mc_error(exact: f64, hits: usize, what: &str) {
    let p = hits as f64 / DRAWS as f64;
    let se = (p * (1.0 - p) / DRAWS as f64)
        .sqrt()
        .max(1.0 / DRAWS as f64);
    assert!(
        (exact - p).abs() < 4.0 * se + 1e-9,
        "{what}: quadrature {exact} vs Monte Carlo {p} ± {se}"
    );
}

fn check(arms: &[Marginal], better: Better, delta: f64) {
    let mut quadrature = Quadrature::new();
    let p_best = quadrature.p_best(arms, better).expect("p_best");
    let p_greater = quadrature
        .p_greater(&arms[0], &arms[1], delta)
        .expect("p_greater");
    let p_within = quadrature
        .p_within(&arms[0], &arms[1], delta)
        .expect("p_within");
    let p_range = quadrature.p_range_below(arms, delta).expect("p_range");
    let samplers: Vec<_> = arms.iter().map(sampler).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut best = vec![0; arms.len()];
    let (mut greater, mut within, mut range) = (0, 0, 0);
    let mut draw = vec![0.0; arms.len()];
    for _ in 0..DRAWS {
        for (x, s) in draw.iter_mut().zip(&samplers) {
            *x = s(&mut rng);
        }
        let winner = (0..arms.len())
            .reduce(|b, i| match better {
                Better::Higher if draw[i] > draw[b] => i,
                Better::Lower if draw[i] < draw[b] => i,
                _ => b,
            })
            .expect("arms");
        best[winner] += 1;
        greater += usize::from(draw[0] - draw[1] > delta);
        within += usize::from((draw[0] - draw[1]).abs() < delta);
        let (lo, hi) = draw
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        range += usize::from(hi - lo < delta);
    }
    for (i, &hits) in best.iter().enumerate() {
        within_mc_error(p_best[i], hits, &format!("P(arm {i} best)"));
    }
    within_mc_error(p_greater, greater, "P(θ0 − θ1 > δ)");
    within_mc_error(p_within, within, "P(|θ0 − θ1| < δ)");
    within_mc_error(p_range, range, "P(max − min < δ)");
}

#[test]
fn beta_arms_agree_with_monte_carlo() {
    let arms = [
        Marginal::beta(30.0, 30.0).expect("beta"),
        Marginal::beta(41.0, 20.0).expect("beta"),
        Marginal::beta(35.0, 28.0).expect("beta"),
        Marginal::beta(0.5, 0.5).expect("beta"),
    ];
    check(&arms, Better::Higher, 0.1);
    check(&arms, Better::Lower, 0.05);
}

#[test]
fn gamma_arms_agree_with_monte_carlo() {
    let arms = [
        Marginal::gamma(12.5, 100.0).expect("gamma"),
        Marginal::gamma(5.5, 120.0).expect("gamma"),
        Marginal::gamma(0.5, 3.0).expect("gamma"),
    ];
    check(&arms, Better::Lower, 0.05);
}

#[test]
fn student_t_arms_agree_with_monte_carlo() {
    let arms = [
        Marginal::student_t(3.0, 0.0, 1.0).expect("t"),
        Marginal::student_t(30.0, 0.8, 0.3).expect("t"),
        Marginal::student_t(8.0, 0.5, 2.0).expect("t"),
    ];
    check(&arms, Better::Higher, 0.5);
}
