//! Borrowing across strata against a published analysis.

use bayestrial::stats::borrow::{
    BorrowModel, BorrowWorkspace, ExchangeWeights, HalfNormalPrior, NormalPrior, Stratum,
    StrataModel,
};

#[test]
fn chugh_exnex() {
    let data = [(2, 15), (0, 13), (1, 12), (6, 28), (7, 29), (3, 29), (5, 26), (1, 5), (0, 2), (3, 20)];
    let strata: Vec<Stratum> = data
        .iter()
        .map(|&(responders, n)| Stratum::Binary { responders, n })
        .collect();
    let model = BorrowModel {
        mu: NormalPrior::new("mu", -1.735, 0.146f64.powf(-0.5)).unwrap(),
        tau: HalfNormalPrior::new(1.0).unwrap(),
        strata: StrataModel::Exnex {
            nex: NormalPrior::new("nex", -1.734, 0.128f64.powf(-0.5)).unwrap(),
            weights: ExchangeWeights::Common(0.5),
        },
    };
    let mut ws = BorrowWorkspace::new();
    let post = ws.fit(&model, &strata, 0.1).unwrap();
    for s in &post.strata {
        println!("{:?}", s);
    }
    println!("{:?}\n{:?}", post.mu, post.tau);
}

#[test]
fn nex_only() {
    let data = [(1, 5), (1, 12), (2, 15)];
    let strata: Vec<Stratum> = data
        .iter()
        .map(|&(responders, n)| Stratum::Binary { responders, n })
        .collect();
    let model = BorrowModel {
        mu: NormalPrior::new("mu", -1.735, 0.146f64.powf(-0.5)).unwrap(),
        tau: HalfNormalPrior::new(1.0).unwrap(),
        strata: StrataModel::Exnex {
            nex: NormalPrior::new("nex", -1.734, 0.128f64.powf(-0.5)).unwrap(),
            weights: ExchangeWeights::Common(0.0),
        },
    };
    let mut ws = BorrowWorkspace::new();
    let post = ws.fit(&model, &strata, 0.1).unwrap();
    for s in &post.strata {
        println!("{:?}", s);
    }
}
