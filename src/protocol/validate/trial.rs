//! `[trial]` and `[outcome]`: the trial's identity, design and size; the outcome's kind, name,
//! better direction and range.
//!
//! Each table on its own: what depends on the design or the outcome kind is checked by the
//! tables that depend on them.

use super::checks::{keyword, number, text, whole_within};
use crate::protocol::error::Collector;
use crate::protocol::limits::MAX_PARTICIPANTS;
use crate::protocol::model::{BinaryLabels, Design, OutcomeKind, OutcomeSpec, TrialSpec};
use crate::protocol::raw::{join, RawLabels, RawOutcome, RawTrial, S};
use crate::stats::Better;

pub(super) fn trial(c: &mut Collector<'_>, raw: &S<RawTrial>) -> Option<TrialSpec> {
    let raw = raw.get_ref();
    let id = text(c, &raw.id, "trial.id");
    let title = text(c, &raw.title, "trial.title");
    let design = keyword(
        c,
        &raw.design,
        "trial.design",
        &[("platform", Design::Platform), ("nof1", Design::Nof1)],
    );
    let max_participants = whole_within(
        c,
        &raw.max_participants,
        "trial.max_participants",
        1,
        MAX_PARTICIPANTS,
    );
    Some(TrialSpec {
        id: id?,
        title: title?,
        design: design?,
        max_participants: max_participants?,
        blinded: raw.blinded.as_ref().is_some_and(|b| *b.get_ref()),
    })
}

pub(super) fn outcome(c: &mut Collector<'_>, raw: &S<RawOutcome>) -> Option<OutcomeSpec> {
    let raw = raw.get_ref();
    let kind = keyword(
        c,
        &raw.kind,
        "outcome.kind",
        &[
            ("binary", OutcomeKind::Binary),
            ("continuous", OutcomeKind::Continuous),
            ("count", OutcomeKind::Count),
        ],
    );
    let name = text(c, &raw.name, "outcome.name");
    let better = match &raw.better {
        Some(b) => keyword(
            c,
            b,
            "outcome.better",
            &[("higher", Better::Higher), ("lower", Better::Lower)],
        ),
        None => Some(Better::Higher),
    };
    let mut range_ok = true;
    let mut bound_value = |c: &mut Collector<'_>, v: &Option<S<f64>>, key: &str| -> Option<f64> {
        let v = v.as_ref()?;
        let path = join("outcome", key);
        if kind == Some(OutcomeKind::Binary) {
            c.error(
                &v.span(),
                &path,
                "only continuous and count outcomes take a range; a binary outcome is 0 or 1",
            );
            range_ok = false;
            return None;
        }
        let checked = if kind == Some(OutcomeKind::Count) {
            number(c, v, &path, "a count ≥ 0", |x| x >= 0.0)
        } else {
            number(c, v, &path, "a finite number", |_| true)
        };
        if checked.is_none() {
            range_ok = false;
        }
        checked
    };
    let min = bound_value(c, &raw.min, "min");
    let max = bound_value(c, &raw.max, "max");
    if let (Some(lo), Some(hi), Some(span)) = (min, max, raw.max.as_ref().map(|m| m.span())) {
        if lo >= hi {
            c.error(
                &span,
                "outcome.max",
                format!("{hi} must be above outcome.min = {lo}"),
            );
            range_ok = false;
        } else if kind == Some(OutcomeKind::Count) && lo.ceil() > hi.floor() {
            c.error(
                &span,
                "outcome.max",
                format!("[{lo}, {hi}] holds no whole number of events: widen the range"),
            );
            range_ok = false;
        }
    }
    let labels = match &raw.labels {
        None => Ok(None),
        Some(raw_labels) => labels(c, raw_labels, kind).map(Some).ok_or(()),
    };
    if !range_ok {
        return None;
    }
    Some(OutcomeSpec {
        kind: kind?,
        name: name?,
        better: better?,
        min,
        max,
        labels: labels.ok()?,
    })
}

/// `outcome.labels`: binary outcomes only; each label a text of at most 200 characters, the
/// two different from each other.
fn labels(
    c: &mut Collector<'_>,
    raw: &S<RawLabels>,
    kind: Option<OutcomeKind>,
) -> Option<BinaryLabels> {
    if kind.is_some_and(|k| k != OutcomeKind::Binary) {
        c.error(
            &raw.span(),
            "outcome.labels",
            "only a binary outcome takes labels (the words for 1 and 0)",
        );
        return None;
    }
    let inner = raw.get_ref();
    let response = text(c, &inner.response, "outcome.labels.response");
    let no_response = text(c, &inner.no_response, "outcome.labels.no_response");
    let (response, no_response) = (response?, no_response?);
    if response.trim() == no_response.trim() {
        c.error(
            &inner.no_response.span(),
            "outcome.labels.no_response",
            "must differ from outcome.labels.response",
        );
        return None;
    }
    Some(BinaryLabels {
        response,
        no_response,
    })
}
