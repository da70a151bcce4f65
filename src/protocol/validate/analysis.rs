//! `[analysis]`: when the looks happen (`{ first, every }` expanded, or an explicit list) and
//! which controls an arm is compared with.
//!
//! Participant counts only; what is decided at a look is [`super::decision`]'s.

use super::checks::keyword;
use crate::protocol::error::Collector;
use crate::protocol::model::{AnalysisSpec, ArmSpec, ControlsPolicy};
use crate::protocol::raw::{join, RawAnalysis, Value, S};

pub(super) fn analysis(
    c: &mut Collector<'_>,
    raw: Option<&S<RawAnalysis>>,
    max_participants: u32,
    arms: Option<&[ArmSpec]>,
) -> Option<AnalysisSpec> {
    let Some(raw) = raw else {
        return Some(AnalysisSpec {
            looks: vec![max_participants],
            controls: ControlsPolicy::Concurrent,
        });
    };
    let table = raw.get_ref();
    let looks = match &table.looks {
        None => Some(vec![max_participants]),
        Some(v) => looks(c, v, max_participants),
    };
    let controls = match &table.controls {
        None => Some(ControlsPolicy::Concurrent),
        Some(v) => {
            let policy = keyword(
                c,
                v,
                "analysis.controls",
                &[
                    ("concurrent", ControlsPolicy::Concurrent),
                    ("all", ControlsPolicy::All),
                ],
            );
            let has_control = arms.map(|arms| arms.iter().any(|a| a.control));
            if policy.is_some() && has_control == Some(false) {
                c.error(
                    &v.span(),
                    "analysis.controls",
                    "only applies to designs with a control arm ([[arm]] with control = true)",
                );
                None
            } else {
                policy
            }
        }
    };
    Some(AnalysisSpec {
        looks: looks?,
        controls: controls?,
    })
}

/// `{ first = N, every = M }` (expanded, ending with a look at `max_participants`) or an explicit
/// strictly increasing list.
fn looks(c: &mut Collector<'_>, value: &S<Value>, max_participants: u32) -> Option<Vec<u32>> {
    let path = "analysis.looks";
    let count = |c: &mut Collector<'_>, v: &S<Value>, path: &str| -> Option<u32> {
        match v.get_ref() {
            Value::Integer(n) if *n >= 1 && *n <= i64::from(max_participants) => {
                u32::try_from(*n).ok()
            }
            Value::Integer(n) if *n < 1 => {
                c.error(&v.span(), path, format!("{n} must be at least 1"));
                None
            }
            Value::Integer(n) => {
                c.error(
                    &v.span(),
                    path,
                    format!("{n} must not exceed trial.max_participants = {max_participants}"),
                );
                None
            }
            other => {
                c.error(
                    &v.span(),
                    path,
                    format!(
                        "must be a whole number of participants, not {}",
                        other.describe()
                    ),
                );
                None
            }
        }
    };
    match value.get_ref() {
        Value::Table(entries) => {
            let mut first = None;
            let mut every = None;
            let mut ok = true;
            for (key, v) in entries {
                let key_path = join(path, key);
                match key.as_str() {
                    "first" => first = count(c, v, &key_path),
                    "every" => every = count(c, v, &key_path),
                    other => {
                        c.error(
                            &v.span(),
                            &key_path,
                            format!("unknown key `{other}` in looks; valid keys: first, every"),
                        );
                        ok = false;
                    }
                }
                if first.is_none() && key == "first" || every.is_none() && key == "every" {
                    ok = false;
                }
            }
            for (key, given) in [("first", first), ("every", every)] {
                if given.is_none() && !entries.iter().any(|(k, _)| k == key) {
                    c.error(
                        &value.span(),
                        path,
                        format!("missing key `{key}`: write looks = {{ first = N, every = M }}"),
                    );
                    ok = false;
                }
            }
            let (Some(first), Some(every), true) = (first, every, ok) else {
                return None;
            };
            let mut out = Vec::new();
            let mut n = first;
            while n < max_participants {
                out.push(n);
                n = n.saturating_add(every);
            }
            out.push(max_participants);
            Some(out)
        }
        Value::Array(items) => {
            if items.is_empty() {
                c.error(&value.span(), path, "must list at least one look");
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match count(c, item, &item_path) {
                    Some(n) => {
                        if let Some(&previous) = out.last() {
                            if n <= previous {
                                c.error(
                                    &item.span(),
                                    &item_path,
                                    format!(
                                        "{n} must be above the previous look ({previous}): looks \
                                         are strictly increasing"
                                    ),
                                );
                                ok = false;
                            }
                        }
                        out.push(n);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        other => {
            c.error(
                &value.span(),
                path,
                format!(
                    "must be {{ first = N, every = M }} or a list of participant counts \
                     [n1, n2, …], not {}",
                    other.describe()
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::validate::testing::{parse, with};

    #[test]
    fn looks_every_expand_and_end_at_max_participants() {
        let p = parse(&with("[analysis]\nlooks = { first = 50, every = 40 }")).unwrap();
        assert_eq!(p.analysis.looks, vec![50, 90, 130, 170, 200]);
        let p = parse(&with("[analysis]\nlooks = { first = 100, every = 50 }")).unwrap();
        assert_eq!(p.analysis.looks, vec![100, 150, 200]);
        let p = parse(&with("[analysis]\nlooks = [20, 60, 180]")).unwrap();
        assert_eq!(p.analysis.looks, vec![20, 60, 180]);
    }
}
