//! `[prior]` (and an arm's own `prior`): exactly one family, matching the outcome kind, with
//! valid parameters, or a `mixture` of such priors with weights summing to 1; and the defaults
//! used when the protocol gives none.
//!
//! Only the prior table itself: which arms take which prior is [`super::arms`]'.

use std::ops::Range;

use super::checks::{kind_name, number, positive};
use crate::protocol::error::Collector;
use crate::protocol::model::{OutcomeKind, Prior, PriorMixture};
use crate::protocol::raw::{join, RawPrior, S};
use crate::stats::mixture::WEIGHT_TOLERANCE;
use crate::stats::{BetaPrior, GammaPrior, Mixture, NigPrior, MAX_COMPONENTS};

/// Default prior for binary outcomes: Beta(1, 1), uniform on the response rate.
pub const DEFAULT_BETA: Prior = Prior::Beta { a: 1.0, b: 1.0 };
/// Default prior for count outcomes: Gamma(shape 0.5, rate 0.001), a proper approximation of
/// Jeffreys' prior for a Poisson rate (0.001 units of prior exposure).
pub const DEFAULT_GAMMA: Prior = Prior::Gamma {
    shape: 0.5,
    rate: 0.001,
};

/// The prior used when `[prior]` is absent; none for continuous outcomes (no safe scale).
pub fn default_prior(kind: OutcomeKind) -> Option<Prior> {
    match kind {
        OutcomeKind::Binary => Some(DEFAULT_BETA),
        OutcomeKind::Count => Some(DEFAULT_GAMMA),
        OutcomeKind::Continuous => None,
    }
}

/// What `[prior]` must look like for an outcome kind.
fn family_hint(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Binary => "beta = [a, b]",
        OutcomeKind::Continuous => "normal_inverse_gamma = { mu0, kappa0, alpha0, beta0 }",
        OutcomeKind::Count => "gamma = [shape, rate]",
    }
}

/// A prior table: exactly one family, matching the outcome kind, with valid parameters; or
/// `mixture = [ { weight = w, beta = [a, b] }, … ]`.
pub(super) fn prior(
    c: &mut Collector<'_>,
    raw: &S<RawPrior>,
    path: &str,
    kind: Option<OutcomeKind>,
) -> Option<Prior> {
    let table = raw.get_ref();
    if let Some(weight) = &table.weight {
        c.error(
            &weight.span(),
            &join(path, "weight"),
            "a weight belongs to a mixture component: mixture = [ { weight = 0.8, beta = [a, b] }, … ]",
        );
        return None;
    }
    let Some(list) = &table.mixture else {
        return plain(c, raw, path, kind);
    };
    let mixture_path = join(path, "mixture");
    if table.beta.is_some() || table.normal_inverse_gamma.is_some() || table.gamma.is_some() {
        c.error(
            &raw.span(),
            path,
            "give either a mixture = [ … ] or one family, not both",
        );
        return None;
    }
    mixture(c, list, &mixture_path, kind)
}

/// The family a prior table names first, with its key's span.
fn family_of(table: &RawPrior) -> Option<(&'static str, OutcomeKind, Range<usize>)> {
    if let Some(v) = &table.beta {
        Some(("beta", OutcomeKind::Binary, v.span()))
    } else if let Some(v) = &table.normal_inverse_gamma {
        Some(("normal_inverse_gamma", OutcomeKind::Continuous, v.span()))
    } else {
        table
            .gamma
            .as_ref()
            .map(|v| ("gamma", OutcomeKind::Count, v.span()))
    }
}

/// `mixture = [ … ]`: 1 to [`MAX_COMPONENTS`] components of one family (the outcome's), each
/// with a weight > 0, the weights summing to 1.
fn mixture(
    c: &mut Collector<'_>,
    list: &S<Vec<S<RawPrior>>>,
    path: &str,
    kind: Option<OutcomeKind>,
) -> Option<Prior> {
    let components = list.get_ref();
    if components.is_empty() {
        c.error(
            &list.span(),
            path,
            "a mixture needs at least one component: [ { weight = 1, beta = [a, b] } ]",
        );
        return None;
    }
    if components.len() > MAX_COMPONENTS {
        c.error(
            &list.span(),
            path,
            format!(
                "{} components given; a mixture holds at most {MAX_COMPONENTS}",
                components.len()
            ),
        );
        return None;
    }
    // Every component must be of the outcome's family (or, when the outcome is invalid, of the
    // first component's).
    let expected = kind.or_else(|| family_of(components[0].get_ref()).map(|f| f.1));
    let mut parts: Vec<(f64, Prior)> = Vec::new();
    let mut valid = true;
    for (i, component) in components.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let table = component.get_ref();
        if let Some(nested) = &table.mixture {
            c.error(
                &nested.span(),
                &join(&item_path, "mixture"),
                "a mixture component cannot itself be a mixture: list its components here",
            );
            valid = false;
            continue;
        }
        let weight = match &table.weight {
            Some(w) => positive(c, w, &join(&item_path, "weight")),
            None => {
                c.error(
                    &component.span(),
                    &item_path,
                    "give the component's weight: { weight = 0.8, beta = [a, b] }",
                );
                None
            }
        };
        let plain_component = if table.weight.is_some() {
            plain(c, component, &item_path, expected)
        } else {
            None
        };
        match (weight, plain_component) {
            (Some(w), Some(p)) => parts.push((w, p)),
            _ => valid = false,
        }
    }
    if !valid {
        return None;
    }
    let sum: f64 = parts.iter().map(|(w, _)| w).sum();
    if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
        c.error(
            &list.span(),
            path,
            format!("the weights sum to {sum}; they must sum to 1"),
        );
        return None;
    }
    let built = match parts[0].1 {
        Prior::Beta { .. } => Mixture::new(
            &parts
                .iter()
                .filter_map(|&(w, p)| match p {
                    Prior::Beta { a, b } => Some((w, BetaPrior { a, b })),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
        .map(PriorMixture::Beta),
        Prior::Gamma { .. } => Mixture::new(
            &parts
                .iter()
                .filter_map(|&(w, p)| match p {
                    Prior::Gamma { shape, rate } => Some((w, GammaPrior { shape, rate })),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
        .map(PriorMixture::Gamma),
        _ => Mixture::new(
            &parts
                .iter()
                .filter_map(|&(w, p)| match p {
                    Prior::NormalInverseGamma {
                        mu0,
                        kappa0,
                        alpha0,
                        beta0,
                    } => Some((
                        w,
                        NigPrior {
                            mu0,
                            kappa0,
                            alpha0,
                            beta0,
                        },
                    )),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
        .map(PriorMixture::NormalInverseGamma),
    };
    match built {
        Ok(m) => Some(Prior::Mixture(m)),
        Err(error) => {
            c.error(&list.span(), path, error.to_string());
            None
        }
    }
}

/// One family's table: exactly one family, matching `kind`, with valid parameters.
fn plain(
    c: &mut Collector<'_>,
    raw: &S<RawPrior>,
    path: &str,
    kind: Option<OutcomeKind>,
) -> Option<Prior> {
    let table = raw.get_ref();
    let mut given: Vec<(&str, OutcomeKind, Range<usize>)> = Vec::new();
    if let Some(v) = &table.beta {
        given.push(("beta", OutcomeKind::Binary, v.span()));
    }
    if let Some(v) = &table.normal_inverse_gamma {
        given.push(("normal_inverse_gamma", OutcomeKind::Continuous, v.span()));
    }
    if let Some(v) = &table.gamma {
        given.push(("gamma", OutcomeKind::Count, v.span()));
    }
    let (family, family_kind, span) = match given.as_slice() {
        [] => {
            c.error(
                &raw.span(),
                path,
                "give one prior: beta = [a, b] (binary), normal_inverse_gamma = { mu0, kappa0, \
                 alpha0, beta0 } (continuous) or gamma = [shape, rate] (count)",
            );
            return None;
        }
        [one] => one.clone(),
        [first, second, ..] => {
            c.error(
                &second.2,
                &join(path, second.0),
                format!("give only one prior family; {} is already given", first.0),
            );
            return None;
        }
    };
    let family_path = join(path, family);
    if let Some(kind) = kind {
        if kind != family_kind {
            c.error(
                &span,
                &family_path,
                format!(
                    "a {family} prior is for {} outcomes; outcome.kind = \"{}\" needs {}",
                    kind_name(family_kind),
                    kind_name(kind),
                    family_hint(kind)
                ),
            );
            return None;
        }
    }
    let pair = |c: &mut Collector<'_>, v: &S<Vec<S<f64>>>, names: [&str; 2]| {
        let values = v.get_ref();
        if values.len() != 2 {
            c.error(
                &v.span(),
                &family_path,
                format!(
                    "must have exactly 2 numbers [{}, {}], not {}",
                    names[0],
                    names[1],
                    values.len()
                ),
            );
            return None;
        }
        let a = positive(c, &values[0], &format!("{family_path}[0]"));
        let b = positive(c, &values[1], &format!("{family_path}[1]"));
        Some((a?, b?))
    };
    match (&table.beta, &table.normal_inverse_gamma, &table.gamma) {
        (Some(v), _, _) => pair(c, v, ["a", "b"]).map(|(a, b)| Prior::Beta { a, b }),
        (_, Some(v), _) => {
            let v = v.get_ref();
            let mu0 = number(
                c,
                &v.mu0,
                &join(&family_path, "mu0"),
                "a finite number",
                |_| true,
            );
            let kappa0 = positive(c, &v.kappa0, &join(&family_path, "kappa0"));
            let alpha0 = positive(c, &v.alpha0, &join(&family_path, "alpha0"));
            let beta0 = positive(c, &v.beta0, &join(&family_path, "beta0"));
            Some(Prior::NormalInverseGamma {
                mu0: mu0?,
                kappa0: kappa0?,
                alpha0: alpha0?,
                beta0: beta0?,
            })
        }
        (_, _, Some(v)) => {
            pair(c, v, ["shape", "rate"]).map(|(shape, rate)| Prior::Gamma { shape, rate })
        }
        _ => None,
    }
}
