//! `[allocation]`: fixed (permuted blocks) or Thompson allocation, its power, control share,
//! bounds, burn-in and block multiple, checked against the arms and the design.
//!
//! The table's meaning only; the probabilities themselves are the engine's.

use std::ops::Range;

use super::checks::{bound, keyword, number, whole, whole_within_or, DisplayValue};
use crate::protocol::error::Collector;
use crate::protocol::limits::{MAX_BLOCK, MAX_RATIO};
use crate::protocol::model::{
    AllocationRule, AllocationSpec, ArmSpec, ControlShare, Design, Power,
};
use crate::protocol::raw::{join, RawAllocation, Value, S};

/// Default exponent on P(best): 1, i.e. no softening.
pub const DEFAULT_POWER: f64 = 1.0;

pub(super) fn allocation(
    c: &mut Collector<'_>,
    raw: Option<&S<RawAllocation>>,
    arms: Option<&[ArmSpec]>,
    design: Design,
    max_participants: Option<u32>,
) -> Option<AllocationSpec> {
    let empty = RawAllocation {
        rule: None,
        power: None,
        control: None,
        min: None,
        max: None,
        burn_in: None,
        block_multiple: None,
        max_per_arm: None,
    };
    let table = raw.map_or(&empty, |r| r.get_ref());
    // Unknown (None) when the arms are invalid; the checks that need them are then skipped.
    let has_control = arms.map(|arms| arms.iter().any(|a| a.control));

    let thompson = match &table.rule {
        None => Some(design == Design::Platform),
        Some(rule) => match keyword(
            c,
            rule,
            "allocation.rule",
            &[("fixed", false), ("thompson", true)],
        ) {
            Some(true) if design == Design::Nof1 => {
                c.error(
                    &rule.span(),
                    "allocation.rule",
                    "an n-of-1 design chooses treatment orders with nof1.sequence \
                     (\"adaptive\" for Thompson sampling); use rule = \"fixed\" or leave it out",
                );
                None
            }
            other => other,
        },
    }?;

    if !thompson {
        let adaptive_only: [(&str, Option<Range<usize>>); 5] = [
            ("power", table.power.as_ref().map(|v| v.span())),
            ("control", table.control.as_ref().map(|v| v.span())),
            ("min", table.min.as_ref().map(|v| v.span())),
            ("max", table.max.as_ref().map(|v| v.span())),
            ("burn_in", table.burn_in.as_ref().map(|v| v.span())),
        ];
        let mut ok = true;
        for (key, span) in adaptive_only {
            if let Some(span) = span {
                c.error(
                    &span,
                    &join("allocation", key),
                    "has no effect with rule = \"fixed\"; remove it or use rule = \"thompson\"",
                );
                ok = false;
            }
        }
        let block_multiple = block_multiple(c, table, arms);
        if !ok {
            return None;
        }
        return Some(AllocationSpec {
            rule: AllocationRule::Fixed,
            min: 0.0,
            max: 1.0,
            burn_in: 0,
            block_multiple: block_multiple?,
        });
    }

    let power = match &table.power {
        None => Some(Power::Constant(DEFAULT_POWER)),
        Some(v) => match v.get_ref() {
            Value::String(s) if s == "n/2N" => Some(Power::HalfInformation),
            other => match other.as_f64() {
                Some(p) if p.is_finite() && p > 0.0 => Some(Power::Constant(p)),
                _ => {
                    let shown = match other {
                        Value::Integer(_) | Value::Float(_) | Value::String(_) => {
                            format!("{}", DisplayValue(other))
                        }
                        _ => other.describe().to_owned(),
                    };
                    c.error(
                        &v.span(),
                        "allocation.power",
                        format!("{shown} is not allowed: use a number > 0 or \"n/2N\""),
                    );
                    None
                }
            },
        },
    };

    let control = match &table.control {
        None if has_control == Some(true) => Some(ControlShare::SqrtK),
        None => Some(ControlShare::None),
        Some(v) => {
            let share = match v.get_ref() {
                Value::String(s) if s == "none" => Some(ControlShare::None),
                Value::String(s) if s == "sqrt-k" => Some(ControlShare::SqrtK),
                Value::String(s) if s == "match-best" => Some(ControlShare::MatchBest),
                other => match other.as_f64() {
                    Some(x) if x > 0.0 && x < 1.0 => Some(ControlShare::Fixed(x)),
                    _ => {
                        c.error(
                            &v.span(),
                            "allocation.control",
                            format!(
                                "{} is not allowed: use \"none\", a share strictly between 0 and 1, \
                                 \"sqrt-k\" or \"match-best\"",
                                DisplayValue(other)
                            ),
                        );
                        None
                    }
                },
            };
            match share {
                Some(share) if share != ControlShare::None && has_control == Some(false) => {
                    c.error(
                        &v.span(),
                        "allocation.control",
                        format!(
                            "{} needs a control arm ([[arm]] with control = true); without one \
                             use \"none\" or leave it out",
                            DisplayValue(v.get_ref())
                        ),
                    );
                    None
                }
                other => other,
            }
        }
    };

    let all = arms.map_or(1, <[ArmSpec]>::len);
    let at_start = arms.map_or(1, |arms| {
        arms.iter().filter(|a| a.opens_at.is_none()).count()
    });
    let min = match &table.min {
        None => Some(0.0),
        Some(v) => number(c, v, "allocation.min", "a number in [0, 1)", |x| {
            (0.0..1.0).contains(&x)
        }),
    };
    let max = match &table.max {
        None => Some(1.0),
        Some(v) => number(c, v, "allocation.max", "a number in (0, 1]", |x| {
            x > 0.0 && x <= 1.0
        }),
    };
    let mut bounds_ok = min.is_some() && max.is_some();
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            if let Some(v) = &table.min {
                c.error(
                    &v.span(),
                    "allocation.min",
                    format!("{lo} must not exceed allocation.max = {hi}"),
                );
            }
            bounds_ok = false;
        } else {
            if let Some(v) = table.min.as_ref().filter(|_| lo >= 1.0 / all as f64) {
                c.error(
                    &v.span(),
                    "allocation.min",
                    format!(
                        "{lo} must be below 1/number of arms = {} ({all} arms can be open at \
                         once, and their probabilities must sum to 1)",
                        bound(1.0 / all as f64)
                    ),
                );
                bounds_ok = false;
            }
            if let Some(v) = table.max.as_ref().filter(|_| hi < 1.0 / at_start as f64) {
                c.error(
                    &v.span(),
                    "allocation.max",
                    format!(
                        "{hi} must be at least 1/number of arms open at the start = {} \
                         ({at_start} arms, whose probabilities must sum to 1)",
                        bound(1.0 / at_start as f64)
                    ),
                );
                bounds_ok = false;
            }
        }
    }

    let burn_in = match &table.burn_in {
        None => Some(0),
        Some(v) => match whole(c, v, "allocation.burn_in", 0) {
            Some(n) if max_participants.is_some_and(|max| n > max) => {
                c.error(
                    &v.span(),
                    "allocation.burn_in",
                    format!(
                        "{n} must not exceed trial.max_participants = {}",
                        max_participants.unwrap_or(0)
                    ),
                );
                None
            }
            other => other,
        },
    };
    let block_multiple = block_multiple(c, table, arms);

    if !bounds_ok {
        return None;
    }
    Some(AllocationSpec {
        rule: AllocationRule::Thompson {
            power: power?,
            control: control?,
        },
        min: min?,
        max: max?,
        burn_in: burn_in?,
        block_multiple: block_multiple?,
    })
}

/// `allocation.block_multiple`: 1 to [`MAX_RATIO`], and a permuted block (the sum of the
/// arms' ratios times the multiple) of at most [`MAX_BLOCK`] participants.
fn block_multiple(
    c: &mut Collector<'_>,
    table: &RawAllocation,
    arms: Option<&[ArmSpec]>,
) -> Option<u32> {
    let path = "allocation.block_multiple";
    let multiple = whole_within_or(c, table.block_multiple.as_ref(), path, 1, MAX_RATIO, 1)?;
    let ratios: u64 = arms.map_or(0, |arms| arms.iter().map(|a| u64::from(a.ratio)).sum());
    let block = ratios * u64::from(multiple);
    if block > MAX_BLOCK {
        let span = table.block_multiple.as_ref().map_or(0..0, |v| v.span());
        c.error(
            &span,
            path,
            format!(
                "a block of {block} participants (the arms' ratios sum to {ratios}, times \
                 {multiple}); at most {MAX_BLOCK} are allowed"
            ),
        );
        return None;
    }
    Some(multiple)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::validate::testing::{parse, MINIMAL};

    #[test]
    fn control_share_defaults_to_sqrt_k_with_a_control() {
        let text = MINIMAL.replace("id = \"a\"", "id = \"a\"\ncontrol = true");
        let p = parse(&text).unwrap();
        assert_eq!(p.control().map(|a| a.id.as_str()), Some("a"));
        assert!(matches!(
            p.allocation.rule,
            AllocationRule::Thompson {
                control: ControlShare::SqrtK,
                ..
            }
        ));
    }
}
