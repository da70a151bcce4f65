//! Criterion benchmarks of the decision quantities on the hot path of allocation and looks.
//!
//! Run with `cargo bench --bench stats`.

#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]

use std::hint::black_box;

use bayestrial::stats::{BetaPrior, Better, ConjugateModel, Marginal, Mixture, Quadrature};
use criterion::{criterion_group, criterion_main, Criterion};

fn arms(params: &[(f64, f64)]) -> Vec<Marginal> {
    params
        .iter()
        .filter_map(|&(a, b)| Marginal::beta(a, b).ok())
        .collect()
}

fn p_best(c: &mut Criterion) {
    let mut quadrature = Quadrature::new();
    // Four Beta arms with about 1,000 observations each (1 + successes, 1 + failures).
    let four = arms(&[
        (201.0, 801.0),
        (251.0, 751.0),
        (231.0, 771.0),
        (301.0, 701.0),
    ]);
    let mut out = [0.0; 4];
    c.bench_function("p_best/beta/4 arms x 1000 obs", |b| {
        b.iter(|| {
            quadrature
                .p_best_into(black_box(&four), Better::Higher, &mut out)
                .ok();
            black_box(out[0])
        })
    });
    let overlapping = arms(&[
        (251.0, 751.0),
        (256.0, 746.0),
        (246.0, 756.0),
        (261.0, 741.0),
    ]);
    c.bench_function("p_best/beta/4 overlapping arms x 1000 obs", |b| {
        b.iter(|| {
            quadrature
                .p_best_into(black_box(&overlapping), Better::Higher, &mut out)
                .ok();
            black_box(out[0])
        })
    });
    let ten = arms(&[
        (11.0, 41.0),
        (21.0, 31.0),
        (101.0, 301.0),
        (1.0, 1.0),
        (31.0, 71.0),
        (61.0, 141.0),
        (201.0, 801.0),
        (5.0, 15.0),
        (151.0, 251.0),
        (41.0, 61.0),
    ]);
    let mut out10 = [0.0; 10];
    c.bench_function("p_best/beta/10 mixed arms", |b| {
        b.iter(|| {
            quadrature
                .p_best_into(black_box(&ten), Better::Higher, &mut out10)
                .ok();
            black_box(out10[0])
        })
    });
}

fn pairwise(c: &mut Criterion) {
    let mut quadrature = Quadrature::new();
    let pair = arms(&[(201.0, 801.0), (251.0, 751.0)]);
    c.bench_function("p_greater/beta/delta 0.05", |b| {
        b.iter(|| {
            black_box(
                quadrature
                    .p_greater(&pair[1], &pair[0], black_box(0.05))
                    .ok(),
            )
        })
    });
}

/// P(best) of 4 arms whose posteriors are 3-component mixtures: a robust MAP prior (two
/// informative Beta components and a vague one) updated with 50 outcomes per arm.
fn mixture(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixture");
    let prior = Mixture::new(&[
        (0.5, BetaPrior { a: 12.0, b: 48.0 }),
        (0.3, BetaPrior { a: 30.0, b: 90.0 }),
        (0.2, BetaPrior { a: 1.0, b: 1.0 }),
    ]);
    let four: Vec<Marginal> = [12, 15, 10, 20]
        .iter()
        .filter_map(|&successes| {
            let mut model = ConjugateModel::beta_binomial_mixture(prior.clone().ok()?);
            model.observe_binomial(successes, 50).ok()?;
            model.posterior().ok()
        })
        .collect();
    let mut quadrature = Quadrature::new();
    let mut out = [0.0; 4];
    group.bench_function("p_best/beta/4 arms x 3-component mixtures", |b| {
        b.iter(|| {
            quadrature
                .p_best_into(black_box(&four), Better::Higher, &mut out)
                .ok();
            black_box(out[0])
        })
    });
    group.finish();
}

criterion_group!(benches, p_best, pairwise, mixture);
criterion_main!(benches);
