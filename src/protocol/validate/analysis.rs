//! `[analysis]`: when the looks happen (`{ first, every }` expanded, or an explicit list) and
//! which controls an arm is compared with.
//!
//! Participant counts only; what is decided at a look is [`super::decision`]'s.

use super::checks::keyword;
use crate::protocol::error::Collector;
use crate::protocol::limits::MAX_LOOKS;
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
            // Counted before anything is built: looks at first, first + every, … below the
            // maximum, then one at the maximum.
            let below = if first < max_participants {
                u64::from(max_participants - first).div_ceil(u64::from(every))
            } else {
                0
            };
            let count = below + 1;
            if count > u64::from(MAX_LOOKS) {
                c.error(
                    &value.span(),
                    path,
                    format!(
                        "{{ first = {first}, every = {every} }} gives {count} looks up to \
                         trial.max_participants = {max_participants}; at most {MAX_LOOKS} are \
                         allowed (make `every` larger)"
                    ),
                );
                return None;
            }
            Some(
                (0..below)
                    .map(|k| first + (k as u32) * every)
                    .chain(std::iter::once(max_participants))
                    .collect(),
            )
        }
        Value::Array(items) => {
            if items.is_empty() {
                c.error(&value.span(), path, "must list at least one look");
                return None;
            }
            if items.len() > MAX_LOOKS as usize {
                c.error(
                    &value.span(),
                    path,
                    format!(
                        "lists {} looks; at most {MAX_LOOKS} are allowed",
                        items.len()
                    ),
                );
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
    use crate::protocol::validate::testing::{parse, with, MINIMAL};

    #[test]
    fn looks_every_expand_and_end_at_max_participants() {
        let p = parse(&with("[analysis]\nlooks = { first = 50, every = 40 }")).unwrap();
        assert_eq!(p.analysis.looks, vec![50, 90, 130, 170, 200]);
        let p = parse(&with("[analysis]\nlooks = { first = 100, every = 50 }")).unwrap();
        assert_eq!(p.analysis.looks, vec![100, 150, 200]);
        let p = parse(&with("[analysis]\nlooks = [20, 60, 180]")).unwrap();
        assert_eq!(p.analysis.looks, vec![20, 60, 180]);
        let p = parse(&with("[analysis]\nlooks = { first = 200, every = 7 }")).unwrap();
        assert_eq!(p.analysis.looks, vec![200]);
        let p = parse(&with("[analysis]\nlooks = { first = 1, every = 1 }")).unwrap();
        assert_eq!(p.analysis.looks.len(), 200);
    }

    #[test]
    fn a_look_schedule_is_counted_before_it_is_built() {
        let text = with("[analysis]\nlooks = { first = 1, every = 1 }")
            .replace("max_participants = 200", "max_participants = 1000000");
        let started = std::time::Instant::now();
        let e = parse(&text).unwrap_err();
        assert!(started.elapsed().as_secs_f64() < 1.0);
        assert!(
            e.contains("analysis.looks: { first = 1, every = 1 } gives 1000000 looks")
                && e.contains("at most 1000 are allowed"),
            "{e}"
        );
        let e = parse(&MINIMAL.replace("max_participants = 200", "max_participants = 2147483647"))
            .unwrap_err();
        assert!(
            e.contains("trial.max_participants: 2147483647 is too large (at most 1000000)"),
            "{e}"
        );
    }
}
