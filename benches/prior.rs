//! Criterion benchmarks of the prior calculators: the ELIR effective sample size of a
//! 5-component Beta mixture (RBesT's robustified AS MAP prior), and the MAP prior from RBesT's
//! AS data (exact predictive, and predictive plus the AIC-chosen Beta mixture fit).
//!
//! Run with `cargo bench --bench prior`.

#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]

use std::hint::black_box;

use bayestrial::stats::{
    ess_beta, BetaPrior, BinaryStudy, EssMethod, HierarchicalPriors, MapPredictive, Mixture,
};
use criterion::{criterion_group, criterion_main, Criterion};

fn ess(c: &mut Criterion) {
    let parts: Vec<(f64, BetaPrior)> = [
        (0.3690331, 33.9513487, 103.0146367),
        (0.1534249, 19.4400089, 41.5205219),
        (0.1515117, 12.2692310, 55.9202833),
        (0.1260303, 2.2521243, 5.4812202),
        (0.2, 1.0, 1.0),
    ]
    .iter()
    .map(|&(w, a, b)| (w, BetaPrior { a, b }))
    .collect();
    let Ok(mixture) = Mixture::new(&parts) else {
        return;
    };
    c.bench_function("ess elir, 5-component beta mixture", |b| {
        b.iter(|| ess_beta(black_box(&mixture), EssMethod::Elir))
    });
}

fn map(c: &mut Criterion) {
    let studies: Vec<BinaryStudy> = [
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
    .collect();
    let priors = HierarchicalPriors::BINARY_DEFAULT;
    let mut group = c.benchmark_group("map AS");
    group.sample_size(10);
    group.bench_function("exact predictive", |b| {
        b.iter(|| MapPredictive::binary(black_box(&studies), priors))
    });
    group.bench_function("predictive and mixture fit (AIC, K = 1..7)", |b| {
        b.iter(|| MapPredictive::binary(black_box(&studies), priors).and_then(|m| m.fit_beta(None)))
    });
    group.finish();
}

criterion_group!(benches, ess, map);
criterion_main!(benches);
