//! `[borrowing]`: how an arm's strata share information in a precision design (none, the
//! hierarchical model or EXNEX) and the priors of the model, on the logit scale.

use super::checks::{keyword, number, positive};
use crate::protocol::error::Collector;
use crate::protocol::precision::{Borrowing, LogitNormal};
use crate::protocol::raw::{join, RawBorrowing, S};

/// Default prior probability that a stratum is exchangeable (EXNEX).
pub const DEFAULT_EX_WEIGHT: f64 = 0.5;

/// A `[m, s]` normal prior on the logit scale.
fn logit_normal(c: &mut Collector<'_>, value: &S<Vec<S<f64>>>, path: &str) -> Option<LogitNormal> {
    match value.get_ref().as_slice() {
        [m, s] => {
            let mean = number(c, m, path, "a finite mean", |_| true);
            let sd = positive(c, s, path);
            Some(LogitNormal {
                mean: mean?,
                sd: sd?,
            })
        }
        other => {
            c.error(
                &value.span(),
                path,
                format!(
                    "{} numbers given; write [mean, sd] on the logit scale",
                    other.len()
                ),
            );
            None
        }
    }
}

/// `[borrowing]`; none when absent.
pub(super) fn borrowing(c: &mut Collector<'_>, raw: Option<&S<RawBorrowing>>) -> Option<Borrowing> {
    #[derive(Clone, Copy, PartialEq)]
    enum Model {
        None,
        Bhm,
        Exnex,
    }
    let Some(raw) = raw else {
        return Some(Borrowing::None);
    };
    let raw = raw.get_ref();
    let model = keyword(
        c,
        &raw.model,
        "borrowing.model",
        &[
            ("none", Model::None),
            ("bhm", Model::Bhm),
            ("exnex", Model::Exnex),
        ],
    )?;
    let keys = [
        (
            "mu_prior",
            raw.mu_prior.as_ref().map(S::span),
            model != Model::None,
        ),
        (
            "tau_prior",
            raw.tau_prior.as_ref().map(S::span),
            model != Model::None,
        ),
        (
            "nex_prior",
            raw.nex_prior.as_ref().map(S::span),
            model == Model::Exnex,
        ),
        (
            "ex_weight",
            raw.ex_weight.as_ref().map(S::span),
            model == Model::Exnex,
        ),
    ];
    let mut ok = true;
    for (key, span, allowed) in keys {
        if let (Some(span), false) = (span, allowed) {
            c.error(
                &span,
                &join("borrowing", key),
                format!("has no effect with model = {:?}", raw.model.get_ref()),
            );
            ok = false;
        }
    }
    let required = |c: &mut Collector<'_>, key: &str, present: bool| {
        if !present {
            c.error(
                &raw.model.span(),
                &join("borrowing", key),
                format!("model = {:?} needs {key}", raw.model.get_ref()),
            );
        }
        present
    };
    if model == Model::None {
        return ok.then_some(Borrowing::None);
    }
    ok &= required(c, "mu_prior", raw.mu_prior.is_some());
    ok &= required(c, "tau_prior", raw.tau_prior.is_some());
    let mu = raw
        .mu_prior
        .as_ref()
        .and_then(|v| logit_normal(c, v, "borrowing.mu_prior"));
    let tau_scale = raw
        .tau_prior
        .as_ref()
        .and_then(|v| positive(c, v, "borrowing.tau_prior"));
    if model == Model::Bhm {
        return match (ok, mu, tau_scale) {
            (true, Some(mu), Some(tau_scale)) => Some(Borrowing::Hierarchical { mu, tau_scale }),
            _ => None,
        };
    }
    ok &= required(c, "nex_prior", raw.nex_prior.is_some());
    let nex = raw
        .nex_prior
        .as_ref()
        .and_then(|v| logit_normal(c, v, "borrowing.nex_prior"));
    let ex_weight = match &raw.ex_weight {
        None => Some(DEFAULT_EX_WEIGHT),
        Some(v) => number(
            c,
            v,
            "borrowing.ex_weight",
            "a probability in (0, 1]",
            |w| w > 0.0 && w <= 1.0,
        ),
    };
    match (ok, mu, tau_scale, nex, ex_weight) {
        (true, Some(mu), Some(tau_scale), Some(nex), Some(ex_weight)) => Some(Borrowing::Exnex {
            mu,
            tau_scale,
            nex,
            ex_weight,
        }),
        _ => None,
    }
}
