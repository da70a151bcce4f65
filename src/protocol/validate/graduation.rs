//! `[graduation]`: when an arm of a precision design graduates in a signature, or is dropped
//! for futility (the rule itself is in `METHODS.md`).

use super::checks::{number, open_unit, whole_within, whole_within_or};
use crate::protocol::error::Collector;
use crate::protocol::precision::Graduation;
use crate::protocol::raw::{RawGraduation, RawProtocol};
use crate::stats::predictive::MAX_PATIENTS;

/// Default one-sided significance level of the future confirmatory trial.
pub const DEFAULT_ALPHA: f64 = 0.025;

/// `[graduation]`; `Some(None)` without it (no arm graduates).
pub(super) fn graduation(
    c: &mut Collector<'_>,
    raw: &RawProtocol,
    max_participants: u32,
) -> Option<Option<Graduation>> {
    let Some(table) = &raw.graduation else {
        return Some(None);
    };
    let RawGraduation {
        future_n,
        alpha,
        threshold,
        futility,
        min_participants,
    } = table.get_ref();
    let most = u32::try_from(MAX_PATIENTS).unwrap_or(u32::MAX);
    let future_n = whole_within(c, future_n, "graduation.future_n", 1, most);
    let alpha = match alpha {
        None => Some(DEFAULT_ALPHA),
        Some(v) => number(c, v, "graduation.alpha", "a level in (0, 0.5)", |a| {
            a > 0.0 && a < 0.5
        }),
    };
    let threshold = open_unit(c, threshold, "graduation.threshold");
    let futility = match (futility, threshold) {
        (None, _) => Some(0.0),
        (Some(v), Some(t)) => number(
            c,
            v,
            "graduation.futility",
            &format!("a probability in [0, graduation.threshold = {t})"),
            |f| (0.0..t).contains(&f),
        ),
        (Some(_), None) => None,
    };
    let min_participants = whole_within_or(
        c,
        min_participants.as_ref(),
        "graduation.min_participants",
        0,
        max_participants,
        0,
    );
    Some(Some(Graduation {
        future_n: future_n?,
        alpha: alpha?,
        threshold: threshold?,
        futility: futility?,
        min_participants: min_participants?,
    }))
}
