//! Criterion benchmarks of borrowing across strata on the Chugh et al. (2009) sarcoma strata:
//! EXNEX (Neuenschwander et al. 2016, Appendix 5.3 priors) and the hierarchical model, with the
//! decision quantities only (`fit_decisions`, what a look of a simulated trial needs) and with
//! the quantiles (`fit`).
//!
//! Run with `cargo bench --bench borrow`.

#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]

use std::hint::black_box;

use bayestrial::stats::borrow::{
    BorrowModel, BorrowWorkspace, ExchangeWeights, HalfNormalPrior, NormalPrior, StrataModel,
    Stratum,
};
use criterion::{criterion_group, criterion_main, Criterion};

fn chugh() -> Vec<Stratum> {
    [
        (2, 15),
        (0, 13),
        (1, 12),
        (6, 28),
        (7, 29),
        (3, 29),
        (5, 26),
        (1, 5),
        (0, 2),
        (3, 20),
    ]
    .iter()
    .map(|&(responders, n)| Stratum::Binary { responders, n })
    .collect()
}

fn models() -> Option<(BorrowModel, BorrowModel)> {
    let mu = NormalPrior::new("mu", -1.735, 0.146f64.powf(-0.5)).ok()?;
    let tau = HalfNormalPrior::new(1.0).ok()?;
    let nex = NormalPrior::new("nex", -1.734, 0.128f64.powf(-0.5)).ok()?;
    let exnex = BorrowModel {
        mu,
        tau,
        strata: StrataModel::Exnex {
            nex,
            weights: ExchangeWeights::Common(0.5),
        },
    };
    let bhm = BorrowModel {
        mu,
        tau,
        strata: StrataModel::Hierarchical,
    };
    Some((exnex, bhm))
}

fn borrow(c: &mut Criterion) {
    let Some((exnex, bhm)) = models() else {
        return;
    };
    let strata = chugh();
    let mut workspace = BorrowWorkspace::new();
    for (name, model) in [("exnex", &exnex), ("bhm", &bhm)] {
        c.bench_function(&format!("borrow/{name}/10 strata/decisions"), |b| {
            b.iter(|| {
                let fit = workspace.fit_decisions(black_box(model), black_box(&strata), 0.1);
                black_box(fit.map(|p| p.strata[0].p_above).ok())
            })
        });
        c.bench_function(&format!("borrow/{name}/10 strata/with quantiles"), |b| {
            b.iter(|| {
                let fit = workspace.fit(black_box(model), black_box(&strata), 0.1);
                black_box(fit.map(|p| p.strata[0].summary.median).ok())
            })
        });
    }
}

criterion_group!(benches, borrow);
criterion_main!(benches);
