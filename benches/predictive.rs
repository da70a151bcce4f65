//! Criterion benchmarks of the predictive probabilities computed at every look of a simulated
//! trial: a single arm (Lee & Liu's example), two arms, and a future confirmatory trial.
//!
//! Run with `cargo bench --bench predictive`.

#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]

use std::hint::black_box;

use bayestrial::stats::predictive::{
    ArmData, ConfirmatoryTrial, EffectScale, FutureTrialQuadrature, NormalEffect, SingleArmDesign,
    TwoArmDesign, TwoArmWorkspace,
};
use bayestrial::stats::{BetaPrior, Marginal};
use criterion::{criterion_group, criterion_main, Criterion};

fn single_arm(c: &mut Criterion) {
    // Lee & Liu (2008): Beta(0.6, 0.4), 16/23, N_max 40, p0 0.6, θ_T 0.9.
    let Ok(lee_liu) = SingleArmDesign::new(BetaPrior { a: 0.6, b: 0.4 }, 40, 0.6, 0.9) else {
        return;
    };
    let Ok(data) = ArmData::new(16, 23) else {
        return;
    };
    c.bench_function("predictive/single arm/Lee & Liu 16 of 23, N 40", |b| {
        b.iter(|| lee_liu.predictive_probability(black_box(data)).ok())
    });
    let Ok(larger) = SingleArmDesign::new(BetaPrior { a: 1.0, b: 1.0 }, 100, 0.3, 0.95) else {
        return;
    };
    let Ok(early) = ArmData::new(8, 20) else {
        return;
    };
    c.bench_function("predictive/single arm/8 of 20, N 100", |b| {
        b.iter(|| larger.predictive_probability(black_box(early)).ok())
    });
}

fn two_arm(c: &mut Criterion) {
    let uniform = BetaPrior { a: 1.0, b: 1.0 };
    let Ok(design) = TwoArmDesign::new(uniform, uniform, 40, 40, 0.0, 0.95) else {
        return;
    };
    let (Ok(t), Ok(ctl)) = (ArmData::new(12, 20), ArmData::new(8, 20)) else {
        return;
    };
    let mut workspace = TwoArmWorkspace::new();
    c.bench_function(
        "predictive/two arms/12 of 20 vs 8 of 20, N 40 per arm",
        |b| {
            b.iter(|| {
                workspace
                    .predictive_probability(&design, black_box(t), black_box(ctl))
                    .ok()
            })
        },
    );
}

fn future_trial(c: &mut Criterion) {
    let Ok(trial) = ConfirmatoryTrial::new(150, 0.025) else {
        return;
    };
    let (Ok(t), Ok(ctl)) = (Marginal::beta(13.0, 9.0), Marginal::beta(6.0, 16.0)) else {
        return;
    };
    let mut quadrature = FutureTrialQuadrature::new();
    c.bench_function(
        "predictive/future trial/Beta(13, 9) vs Beta(6, 16), N 150",
        |b| {
            b.iter(|| {
                quadrature
                    .predictive_probability(&trial, black_box(&t), black_box(&ctl))
                    .ok()
            })
        },
    );
    let (Ok(t), Ok(ctl)) = (Marginal::beta(45.0, 55.0), Marginal::beta(35.0, 65.0)) else {
        return;
    };
    c.bench_function(
        "predictive/future trial/Beta(45, 55) vs Beta(35, 65), N 150",
        |b| {
            b.iter(|| {
                quadrature
                    .predictive_probability(&trial, black_box(&t), black_box(&ctl))
                    .ok()
            })
        },
    );
    let effect = NormalEffect {
        mean: 0.8,
        sd: 0.4,
        scale: EffectScale::Logit,
        control_rate: 0.2,
    };
    c.bench_function("predictive/future trial/normal effect", |b| {
        b.iter(|| trial.predictive_probability_normal(black_box(effect)).ok())
    });
}

criterion_group!(benches, single_arm, two_arm, future_trial);
criterion_main!(benches);
