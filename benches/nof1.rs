//! Criterion benchmarks of the n-of-1 numerics: the hierarchical series model, which the trial
//! engine refits after every patient of a series, and one patient's independent-error analysis.
//!
//! Run with `cargo bench --bench nof1`.

#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]

use std::hint::black_box;

use bayestrial::stats::nof1::{
    analyse_patient, pool_series, EffectOptions, Nof1Observation, Nof1Prior, PatientEffect,
    SeriesOptions,
};
use bayestrial::stats::Better;
use criterion::{criterion_group, criterion_main, Criterion};

/// `count` patients with varied effect means and SDs (a deterministic spread, no randomness).
fn patients(count: usize) -> Vec<PatientEffect> {
    (0..count)
        .map(|i| {
            let x = i as f64;
            PatientEffect {
                mean: 0.8 + 0.9 * (1.7 * x).sin() + 0.3 * (0.45 * x).cos(),
                sd: 0.35 + 0.25 * (0.5 + 0.5 * (2.3 * x + 0.4).sin()),
            }
        })
        .collect()
}

fn series(c: &mut Criterion) {
    let opts = SeriesOptions {
        mcid: 0.5,
        better: Better::Higher,
        tau_scale: 1.0,
    };
    for count in [5, 20, 30] {
        let data = patients(count);
        c.bench_function(&format!("pool_series/{count} patients"), |b| {
            b.iter(|| black_box(pool_series(black_box(&data), &opts).ok()))
        });
    }
}

fn patient(c: &mut Criterion) {
    // 56 daily measurements, treatments alternating in blocks of 7 days.
    let obs: Vec<Nof1Observation> = (0..56_u32)
        .map(|day| {
            let treatment = usize::from((day / 7) % 2 == 1);
            let t = f64::from(day);
            Nof1Observation {
                treatment,
                day: day + 1,
                value: 5.0 + 1.2 * treatment as f64 + 0.8 * (0.9 * t).sin() + 0.3 * (2.1 * t).cos(),
            }
        })
        .collect();
    let opts = EffectOptions {
        mcid: 0.5,
        better: Better::Higher,
        ar1: false,
    };
    c.bench_function("analyse_patient/iid/56 observations", |b| {
        b.iter(|| black_box(analyse_patient(black_box(&obs), 2, &Nof1Prior::Flat, &opts).ok()))
    });
}

criterion_group!(benches, series, patient);
criterion_main!(benches);
