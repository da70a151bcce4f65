//! The small checks every table uses: non-blank text, whole numbers, finite numbers with a
//! rule, keywords from a list, numbers inside a TOML value; and how values and outcome kinds are
//! shown in messages.
//!
//! Each check reports its error to the collector and returns `None`; it knows no table and no
//! other check of the protocol.

use crate::protocol::error::Collector;
use crate::protocol::limits::MAX_TEXT_CHARS;
use crate::protocol::model::OutcomeKind;
use crate::protocol::raw::{Value, S};

/// An optional key's checked value: `Some(None)` when absent, `None` when given but invalid.
pub(super) fn optional<T>(checked: Option<Option<T>>) -> Option<Option<T>> {
    match checked {
        None => Some(None),
        Some(inner) => inner.map(Some),
    }
}

/// A computed bound for a message: at most 3 decimals, trailing zeros dropped.
pub(super) fn bound(x: f64) -> String {
    let text = format!("{x:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// A non-blank string of at most [`MAX_TEXT_CHARS`] characters.
pub(super) fn text(c: &mut Collector<'_>, value: &S<String>, path: &str) -> Option<String> {
    let chars = value.get_ref().chars().count();
    if value.get_ref().trim().is_empty() {
        c.error(&value.span(), path, "must not be empty");
        None
    } else if chars > MAX_TEXT_CHARS {
        c.error(
            &value.span(),
            path,
            format!("has {chars} characters; at most {MAX_TEXT_CHARS} are allowed"),
        );
        None
    } else {
        Some(value.get_ref().clone())
    }
}

/// A whole number `≥ min` that fits in a `u32`.
pub(super) fn whole(c: &mut Collector<'_>, value: &S<i64>, path: &str, min: i64) -> Option<u32> {
    let v = *value.get_ref();
    if v < min {
        c.error(&value.span(), path, format!("{v} must be at least {min}"));
        return None;
    }
    match u32::try_from(v) {
        Ok(v) => Some(v),
        Err(_) => {
            c.error(
                &value.span(),
                path,
                format!("{v} is too large (at most {})", u32::MAX),
            );
            None
        }
    }
}

/// A whole number in `min..=max`.
pub(super) fn whole_within(
    c: &mut Collector<'_>,
    value: &S<i64>,
    path: &str,
    min: i64,
    max: u32,
) -> Option<u32> {
    let v = whole(c, value, path, min)?;
    if v > max {
        c.error(
            &value.span(),
            path,
            format!("{v} is too large (at most {max})"),
        );
        return None;
    }
    Some(v)
}

/// An optional whole number in `min..=max` with a default.
pub(super) fn whole_within_or(
    c: &mut Collector<'_>,
    value: Option<&S<i64>>,
    path: &str,
    min: i64,
    max: u32,
    default: u32,
) -> Option<u32> {
    value.map_or(Some(default), |v| whole_within(c, v, path, min, max))
}

/// A finite number; `rule` says what else is required and `ok` checks it.
pub(super) fn number(
    c: &mut Collector<'_>,
    value: &S<f64>,
    path: &str,
    rule: &str,
    ok: impl Fn(f64) -> bool,
) -> Option<f64> {
    let v = *value.get_ref();
    if v.is_finite() && ok(v) {
        Some(v)
    } else {
        c.error(&value.span(), path, format!("{v} must be {rule}"));
        None
    }
}

pub(super) fn positive(c: &mut Collector<'_>, value: &S<f64>, path: &str) -> Option<f64> {
    number(c, value, path, "a number > 0", |v| v > 0.0)
}

pub(super) fn non_negative(c: &mut Collector<'_>, value: &S<f64>, path: &str) -> Option<f64> {
    number(c, value, path, "a number ≥ 0", |v| v >= 0.0)
}

pub(super) fn open_unit(c: &mut Collector<'_>, value: &S<f64>, path: &str) -> Option<f64> {
    number(
        c,
        value,
        path,
        "a probability strictly between 0 and 1",
        |v| v > 0.0 && v < 1.0,
    )
}

/// A keyword from a fixed list.
pub(super) fn keyword<T: Copy>(
    c: &mut Collector<'_>,
    value: &S<String>,
    path: &str,
    choices: &[(&str, T)],
) -> Option<T> {
    if let Some((_, v)) = choices.iter().find(|(name, _)| *name == value.get_ref()) {
        return Some(*v);
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    c.error(
        &value.span(),
        path,
        format!(
            "{:?} is not allowed: use {}",
            value.get_ref(),
            or_list(&names)
        ),
    );
    None
}

/// `a`, `a or b`, `a, b or c`.
pub(super) fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A `Value` that is a number (integer or float).
pub(super) fn value_number(
    c: &mut Collector<'_>,
    value: &S<Value>,
    path: &str,
    what: &str,
) -> Option<f64> {
    match value.get_ref().as_f64() {
        Some(v) => Some(v),
        None => {
            c.error(
                &value.span(),
                path,
                format!("must be {what}, not {}", value.get_ref().describe()),
            );
            None
        }
    }
}

/// A `Value` shown as it would be written in TOML (scalars) or described (arrays, tables).
pub(super) struct DisplayValue<'a>(pub(super) &'a Value);

impl std::fmt::Display for DisplayValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s:?}"),
            other => f.write_str(other.describe()),
        }
    }
}

/// An outcome kind as written in the protocol.
pub(super) fn kind_name(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Binary => "binary",
        OutcomeKind::Continuous => "continuous",
        OutcomeKind::Count => "count",
    }
}

/// One arm's true parameter: a response probability in (0, 1), an event rate > 0, or a mean
/// within the outcome's range.
pub(super) fn truth_value(
    c: &mut Collector<'_>,
    value: &S<f64>,
    key_path: &str,
    kind: OutcomeKind,
    range: (Option<f64>, Option<f64>),
) -> Option<f64> {
    match kind {
        OutcomeKind::Binary => number(
            c,
            value,
            key_path,
            "a response probability strictly between 0 and 1",
            |x| x > 0.0 && x < 1.0,
        ),
        OutcomeKind::Count => number(c, value, key_path, "an event rate > 0", |x| x > 0.0),
        OutcomeKind::Continuous => {
            let (lo, hi) = range;
            let rule = match (lo, hi) {
                (Some(lo), Some(hi)) => {
                    format!("a mean within outcome.min..max = [{lo}, {hi}]")
                }
                (Some(lo), None) => format!("a mean ≥ outcome.min = {lo}"),
                (None, Some(hi)) => format!("a mean ≤ outcome.max = {hi}"),
                (None, None) => String::from("a finite mean"),
            };
            number(c, value, key_path, &rule, |x| {
                lo.is_none_or(|lo| x >= lo) && hi.is_none_or(|hi| x <= hi)
            })
        }
    }
}
