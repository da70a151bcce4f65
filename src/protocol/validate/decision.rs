//! `[decision]`: superiority, inferiority, futility and equivalence thresholds (one value or one
//! per look), checked against the number of arms, the control and the looks.
//!
//! Thresholds and margins only; applying them at a look is the engine's.

use std::ops::Range;

use super::checks::{bound, number, optional, value_number};
use crate::protocol::error::Collector;
use crate::protocol::model::{ArmSpec, DecisionSpec, MarginRule, OutcomeKind, Threshold};
use crate::protocol::raw::{RawDecision, Value, S};

/// A probability threshold: one number in (0, 1) or one per look.
fn threshold(
    c: &mut Collector<'_>,
    value: &S<Value>,
    path: &str,
    looks: Option<usize>,
) -> Option<Threshold> {
    let in_unit = |c: &mut Collector<'_>, v: &S<Value>, path: &str| -> Option<f64> {
        let x = value_number(c, v, path, "a probability strictly between 0 and 1")?;
        if x > 0.0 && x < 1.0 {
            Some(x)
        } else {
            c.error(
                &v.span(),
                path,
                format!("{x} must be a probability strictly between 0 and 1"),
            );
            None
        }
    };
    match value.get_ref() {
        Value::Array(items) => {
            if items.is_empty() {
                c.error(&value.span(), path, "must give at least one value");
                return None;
            }
            if let Some(looks) = looks.filter(|&n| items.len() > n) {
                c.error(
                    &value.span(),
                    path,
                    format!(
                        "gives {} values but analysis.looks has only {looks} look{}; give at most \
                         one value per look",
                        items.len(),
                        if looks == 1 { "" } else { "s" }
                    ),
                );
                return None;
            }
            let values: Vec<Option<f64>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| in_unit(c, item, &format!("{path}[{i}]")))
                .collect();
            values
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(Threshold::PerLook)
        }
        _ => in_unit(c, value, path).map(Threshold::Constant),
    }
}

/// The path of one value of a threshold (`x` for a constant, `x[i]` per look).
fn threshold_value_path(path: &str, t: &Threshold, i: usize) -> String {
    match t {
        Threshold::Constant(_) => path.to_owned(),
        Threshold::PerLook(_) => format!("{path}[{i}]"),
    }
}

fn threshold_value_span(value: &S<Value>, i: usize) -> Range<usize> {
    match value.get_ref() {
        Value::Array(items) => items.get(i).map_or(value.span(), |v| v.span()),
        _ => value.span(),
    }
}

pub(super) fn decision(
    c: &mut Collector<'_>,
    raw: Option<&S<RawDecision>>,
    arms: Option<&[ArmSpec]>,
    kind: Option<OutcomeKind>,
    looks: Option<usize>,
) -> Option<DecisionSpec> {
    let Some(raw) = raw else {
        return Some(DecisionSpec {
            superiority: None,
            inferiority: None,
            futility: None,
            equivalence: None,
        });
    };
    let table = raw.get_ref();
    let has_control = arms.map(|arms| arms.iter().any(|a| a.control));
    let superiority = table
        .superiority
        .as_ref()
        .map(|v| threshold(c, v, "decision.superiority", looks));
    let inferiority = table
        .inferiority
        .as_ref()
        .map(|v| threshold(c, v, "decision.inferiority", looks));

    let mut ok = true;
    if let (Some(arms), Some(false)) = (arms, has_control) {
        let k = arms.len();
        if let (Some(Some(t)), Some(v)) = (&inferiority, &table.inferiority) {
            for (i, &x) in t.values().iter().enumerate() {
                if x >= 1.0 / k as f64 {
                    c.error(
                        &threshold_value_span(v, i),
                        &threshold_value_path("decision.inferiority", t, i),
                        format!(
                            "{x} must be below 1/number of arms = {}: without a control an arm is \
                             dropped when P(best) < threshold, and with {k} arms one of them \
                             always has P(best) ≤ 1/{k}",
                            bound(1.0 / k as f64)
                        ),
                    );
                    ok = false;
                }
            }
        }
        if let (Some(Some(t)), Some(v)) = (&superiority, &table.superiority) {
            for (i, &x) in t.values().iter().enumerate() {
                if x <= 0.5 {
                    c.error(
                        &threshold_value_span(v, i),
                        &threshold_value_path("decision.superiority", t, i),
                        format!(
                            "{x} must be above 1/2: without a control the trial stops when an \
                             arm has P(best) > threshold, and once two arms are left one of them \
                             always has P(best) ≥ 1/2"
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    if let (Some(Some(sup)), Some(Some(inf)), Some(v)) =
        (&superiority, &inferiority, &table.superiority)
    {
        let n = sup.values().len().max(inf.values().len());
        for i in 0..n {
            let (s, f) = (sup.at(i), inf.at(i));
            if s <= f {
                c.error(
                    &threshold_value_span(v, i),
                    &threshold_value_path("decision.superiority", sup, i),
                    format!(
                        "{s} at look {} must be above decision.inferiority = {f} at that look",
                        i + 1
                    ),
                );
                ok = false;
                break;
            }
        }
    }

    let delta_limit = |c: &mut Collector<'_>, v: &S<f64>, path: &str, strict: bool| {
        let rule = if strict {
            "a number > 0"
        } else {
            "a number ≥ 0"
        };
        let x = number(
            c,
            v,
            path,
            rule,
            |x| if strict { x > 0.0 } else { x >= 0.0 },
        )?;
        if kind == Some(OutcomeKind::Binary) && x >= 1.0 {
            c.error(
                &v.span(),
                path,
                format!("{x} must be below 1: for a binary outcome delta is a difference of rates"),
            );
            return None;
        }
        Some(x)
    };

    let futility = match &table.futility {
        None => Some(None),
        Some(raw) => {
            let f = raw.get_ref();
            if has_control == Some(false) {
                c.error(
                    &raw.span(),
                    "decision.futility",
                    "compares each arm with the control, so it needs a control arm ([[arm]] with \
                     control = true); without a control use inferiority",
                );
                None
            } else {
                let delta = match &f.delta {
                    None => Some(0.0),
                    Some(d) => delta_limit(c, d, "decision.futility.delta", false),
                };
                let t = threshold(c, &f.below, "decision.futility.below", looks);
                match (delta, t) {
                    (Some(delta), Some(threshold)) => Some(Some(MarginRule { delta, threshold })),
                    _ => None,
                }
            }
        }
    };
    let equivalence = match &table.equivalence {
        None => Some(None),
        Some(raw) => {
            let e = raw.get_ref();
            let delta = delta_limit(c, &e.delta, "decision.equivalence.delta", true);
            let t = threshold(c, &e.above, "decision.equivalence.above", looks);
            match (delta, t) {
                (Some(delta), Some(threshold)) => Some(Some(MarginRule { delta, threshold })),
                _ => None,
            }
        }
    };

    if !ok {
        return None;
    }
    Some(DecisionSpec {
        superiority: optional(superiority)?,
        inferiority: optional(inferiority)?,
        futility: futility?,
        equivalence: equivalence?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::validate::testing::{parse, with, MINIMAL};

    #[test]
    fn inferiority_without_control_is_checked_against_one_over_arms() {
        let text = with("[[arm]]\nid = \"c\"\n[decision]\ninferiority = 0.4\n");
        let e = parse(&text).unwrap_err();
        assert!(
            e.contains("decision.inferiority: 0.4 must be below 1/number of arms = 0.333"),
            "{e}"
        );
    }

    #[test]
    fn per_look_thresholds_and_margin_rules() {
        let text = MINIMAL.replace("id = \"a\"", "id = \"a\"\ncontrol = true")
            + "[analysis]\nlooks = [100, 200]\n[decision]\nsuperiority = [0.995, 0.98]\n\
               inferiority = 0.02\nfutility = { below = 0.1 }\n\
               equivalence = { delta = 0.05, above = 0.9 }\n";
        let p = parse(&text).unwrap();
        assert_eq!(
            p.decision.superiority,
            Some(Threshold::PerLook(vec![0.995, 0.98]))
        );
        assert_eq!(
            p.decision.futility,
            Some(MarginRule {
                delta: 0.0,
                threshold: Threshold::Constant(0.1)
            })
        );
        let e = parse(&text.replace("[0.995, 0.98]", "[0.995, 0.98, 0.97]")).unwrap_err();
        assert!(e.contains("has only 2 looks"), "{e}");
    }
}
