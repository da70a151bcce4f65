//! `[[scenario]]`: the simulation scenarios, each a true value for every arm, the residual SD
//! of a continuous outcome, accrual, outcome delay and dropout.
//!
//! Checked against the arms and the outcome; running a scenario is the simulator's.

use std::collections::BTreeMap;

use super::checks::{kind_name, number, positive, text, truth_value, value_number, DisplayValue};
use super::selection::selected;
use crate::protocol::error::Collector;
use crate::protocol::limits::MAX_SCENARIOS;
use crate::protocol::model::{ArmId, ArmSpec, DelaySpec, OutcomeKind, Scenario};
use crate::protocol::precision::{Precision, ScenarioStrata};
use crate::protocol::raw::{join, RawScenario, Value, S};

pub(super) fn scenarios(
    c: &mut Collector<'_>,
    raw: Option<&S<Vec<S<RawScenario>>>>,
    arms: &[ArmSpec],
    kind: OutcomeKind,
    range: (Option<f64>, Option<f64>),
    precision: Option<&Precision>,
) -> Option<Vec<Scenario>> {
    let Some(raw) = raw else {
        return Some(Vec::new());
    };
    if raw.get_ref().len() > MAX_SCENARIOS {
        c.error(
            &raw.span(),
            "scenario",
            format!(
                "{} scenarios given; at most {MAX_SCENARIOS} are allowed",
                raw.get_ref().len()
            ),
        );
        return None;
    }
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, s) in raw.get_ref().iter().enumerate() {
        let path = format!("scenario[{i}]");
        let name_path = join(&path, "name");
        let mut name = text(c, &s.get_ref().name, &name_path);
        if let Some(n) = &name {
            if let Some(&j) = names.get(n) {
                c.error(
                    &s.get_ref().name.span(),
                    &name_path,
                    format!("scenario name \"{n}\" is already used by scenario[{j}]"),
                );
                name = None;
            } else {
                names.insert(n.clone(), i);
            }
        }
        let scenario = scenario(c, s.get_ref(), &path, arms, kind, range, precision);
        out.push(match (name, scenario) {
            (Some(name), Some(mut scenario)) => {
                scenario.name = name;
                Some(scenario)
            }
            _ => None,
        });
    }
    out.into_iter().collect()
}

/// One scenario, with an empty name (filled in by the caller).
fn scenario(
    c: &mut Collector<'_>,
    raw: &RawScenario,
    path: &str,
    arms: &[ArmSpec],
    kind: OutcomeKind,
    range: (Option<f64>, Option<f64>),
    precision: Option<&Precision>,
) -> Option<Scenario> {
    let truth_path = join(path, "truth");
    let valid_ids: Vec<&str> = arms.iter().map(|a| a.id.as_str()).collect();
    let mut truth = BTreeMap::new();
    let mut ok = true;
    for (key, value) in raw.truth.get_ref() {
        let key_path = join(&truth_path, key.get_ref());
        let Some(arm) = arms.iter().find(|a| a.id.as_str() == key.get_ref()) else {
            c.error(
                &key.span(),
                &key_path,
                format!(
                    "no arm \"{}\" in this protocol; the arms are: {}",
                    key.get_ref(),
                    valid_ids.join(", ")
                ),
            );
            ok = false;
            continue;
        };
        let checked = truth_value(c, value, &key_path, kind, range);
        match checked {
            Some(x) => {
                truth.insert(arm.id.clone(), x);
            }
            None => ok = false,
        }
    }
    let missing: Vec<&str> = valid_ids
        .iter()
        .copied()
        .filter(|id| !raw.truth.get_ref().keys().any(|k| k.get_ref() == id))
        .collect();
    if !missing.is_empty() {
        c.error(
            &raw.truth.span(),
            &truth_path,
            format!(
                "must give a value for every arm; missing: {}",
                missing.join(", ")
            ),
        );
        ok = false;
    }

    let sd_path = join(path, "sd");
    let sd = match (&raw.sd, kind) {
        (Some(v), OutcomeKind::Continuous) => positive(c, v, &sd_path).map(Some),
        (None, OutcomeKind::Continuous) => {
            c.error(
                &raw.truth.span(),
                &sd_path,
                "a continuous outcome needs the residual standard deviation: add sd = <number > 0>",
            );
            None
        }
        (Some(v), kind) => {
            c.error(
                &v.span(),
                &sd_path,
                format!(
                    "only continuous outcomes take sd; outcome.kind is \"{}\"",
                    kind_name(kind)
                ),
            );
            None
        }
        (None, _) => Some(None),
    };
    let accrual = positive(c, &raw.accrual_per_week, &join(path, "accrual_per_week"));
    let delay = match &raw.outcome_delay_weeks {
        None => Some(DelaySpec::Fixed(0.0)),
        Some(v) => delay(c, v, &join(path, "outcome_delay_weeks")),
    };
    let dropout = match &raw.dropout {
        None => Some(0.0),
        Some(v) => number(
            c,
            v,
            &join(path, "dropout"),
            "a probability in [0, 1)",
            |x| (0.0..1.0).contains(&x),
        ),
    };
    let strata = if ok {
        scenario_strata(
            c,
            raw,
            path,
            precision,
            &truth,
            arms,
            |c, value, key_path| truth_value(c, value, key_path, kind, range),
        )
    } else {
        None
    };
    if !ok {
        return None;
    }
    Some(Scenario {
        name: String::new(),
        strata: strata?,
        truth,
        sd: sd?,
        accrual_per_week: accrual?,
        outcome_delay: delay?,
        dropout: dropout?,
    })
}

/// `outcome_delay_weeks`: a number ≥ 0, `{ exponential = mean }` or `{ uniform = [lo, hi] }`.
fn delay(c: &mut Collector<'_>, value: &S<Value>, path: &str) -> Option<DelaySpec> {
    let usage = "use a number of weeks ≥ 0, { exponential = mean } or { uniform = [lo, hi] }";
    match value.get_ref() {
        Value::Integer(_) | Value::Float(_) => {
            let x = value.get_ref().as_f64()?;
            if x.is_finite() && x >= 0.0 {
                Some(DelaySpec::Fixed(x))
            } else {
                c.error(
                    &value.span(),
                    path,
                    format!("{x} must be a number of weeks ≥ 0"),
                );
                None
            }
        }
        Value::Table(entries) if entries.len() == 1 => {
            let (key, v) = &entries[0];
            let key_path = join(path, key);
            match key.as_str() {
                "exponential" => {
                    let mean = value_number(c, v, &key_path, "a mean number of weeks > 0")?;
                    if mean.is_finite() && mean > 0.0 {
                        Some(DelaySpec::Exponential(mean))
                    } else {
                        c.error(
                            &v.span(),
                            &key_path,
                            format!("{mean} must be a mean number of weeks > 0"),
                        );
                        None
                    }
                }
                "uniform" => {
                    let pair = match v.get_ref() {
                        Value::Array(items) if items.len() == 2 => Some((
                            value_number(
                                c,
                                &items[0],
                                &format!("{key_path}[0]"),
                                "a number of weeks",
                            ),
                            value_number(
                                c,
                                &items[1],
                                &format!("{key_path}[1]"),
                                "a number of weeks",
                            ),
                        )),
                        _ => {
                            c.error(
                                &v.span(),
                                &key_path,
                                "must be [lo, hi] with 0 ≤ lo < hi (weeks)",
                            );
                            None
                        }
                    };
                    let (Some(lo), Some(hi)) = pair? else {
                        return None;
                    };
                    if lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo < hi {
                        Some(DelaySpec::Uniform(lo, hi))
                    } else {
                        c.error(
                            &v.span(),
                            &key_path,
                            format!("[{lo}, {hi}] must satisfy 0 ≤ lo < hi (weeks)"),
                        );
                        None
                    }
                }
                other => {
                    c.error(
                        &v.span(),
                        &key_path,
                        format!("unknown key `{other}`; valid keys: exponential, uniform"),
                    );
                    None
                }
            }
        }
        other => {
            c.error(
                &value.span(),
                path,
                format!("{} is not allowed: {usage}", DisplayValue(other)),
            );
            None
        }
    }
}

/// A scenario's `prevalence` and `[[scenario.subgroup]]` under `precision`, with `truth` its
/// checked default truth and `value_of` the check of a true value; `Some(None)` for a protocol without biomarkers.
fn scenario_strata(
    c: &mut Collector<'_>,
    raw: &RawScenario,
    path: &str,
    precision: Option<&Precision>,
    truth: &BTreeMap<ArmId, f64>,
    arms: &[ArmSpec],
    value_of: impl Fn(&mut Collector<'_>, &S<f64>, &str) -> Option<f64>,
) -> Option<Option<ScenarioStrata>> {
    let Some(precision) = precision else {
        return Some(None);
    };
    let count = precision.strata.len();
    let prevalence_path = join(path, "prevalence");
    let Some(entries) = &raw.prevalence else {
        c.error(
            &raw.name.span(),
            &prevalence_path,
            "a precision design's scenario needs prevalence = [{ strata = \"…\", share = … }, …] \
             covering every eligible stratum once",
        );
        return None;
    };
    let mut prevalence = vec![f64::NAN; count];
    let mut ok = true;
    for (i, entry) in entries.get_ref().iter().enumerate() {
        let entry_path = format!("{prevalence_path}[{i}]");
        let entry = entry.get_ref();
        let set = selected(
            c,
            &entry.strata,
            &join(&entry_path, "strata"),
            &precision.biomarkers,
            &precision.strata,
        );
        let share = number(
            c,
            &entry.share,
            &join(&entry_path, "share"),
            "a share in (0, 1]",
            |x| x > 0.0 && x <= 1.0,
        );
        let (Some(set), Some(share)) = (set, share) else {
            ok = false;
            continue;
        };
        // A selection's share is divided equally among its strata.
        let each = share / set.len() as f64;
        for s in set.iter() {
            if prevalence[s].is_nan() {
                prevalence[s] = each;
            } else {
                c.error(
                    &entry.strata.span(),
                    &join(&entry_path, "strata"),
                    format!(
                        "stratum {} already has a prevalence from an earlier entry",
                        precision.strata[s].label
                    ),
                );
                ok = false;
            }
        }
    }
    if ok {
        let missing: Vec<&str> = prevalence
            .iter()
            .zip(&precision.strata)
            .filter(|(p, _)| p.is_nan())
            .map(|(_, s)| s.label.as_str())
            .collect();
        let total: f64 = prevalence.iter().sum();
        if !missing.is_empty() {
            c.error(
                &entries.span(),
                &prevalence_path,
                format!("gives no share to {}", missing.join(", ")),
            );
            ok = false;
        } else if (total - 1.0).abs() > 1e-9 {
            c.error(
                &entries.span(),
                &prevalence_path,
                format!("the shares sum to {total}, not 1"),
            );
            ok = false;
        }
    }

    let mut per_stratum: Vec<Vec<f64>> = arms
        .iter()
        .map(|arm| vec![truth.get(&arm.id).copied().unwrap_or(f64::NAN); count])
        .collect();
    for (i, subgroup) in raw.subgroup.iter().flat_map(|s| s.get_ref()).enumerate() {
        let subgroup_path = format!("{}[{i}]", join(path, "subgroup"));
        let subgroup = subgroup.get_ref();
        let set = selected(
            c,
            &subgroup.strata,
            &join(&subgroup_path, "strata"),
            &precision.biomarkers,
            &precision.strata,
        );
        for (key, value) in subgroup.truth.get_ref() {
            let key_path = join(&join(&subgroup_path, "truth"), key.get_ref());
            let Some(arm) = arms.iter().position(|a| a.id.as_str() == key.get_ref()) else {
                c.error(
                    &key.span(),
                    &key_path,
                    format!("no arm \"{}\" in this protocol", key.get_ref()),
                );
                ok = false;
                continue;
            };
            match (value_of(c, value, &key_path), set) {
                (Some(x), Some(set)) => {
                    for s in set.iter() {
                        per_stratum[arm][s] = x;
                    }
                }
                _ => ok = false,
            }
        }
        ok &= set.is_some();
    }
    ok.then_some(Some(ScenarioStrata {
        prevalence,
        truth: per_stratum,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::validate::testing::{parse, with};

    #[test]
    fn scenario_delay_forms() {
        let text = with(
            "[[scenario]]\nname = \"null\"\ntruth = { a = 0.3, b = 0.3 }\naccrual_per_week = 10\n\
             outcome_delay_weeks = { uniform = [2, 6] }\n\
             [[scenario]]\nname = \"alt\"\ntruth = { a = 0.3, b = 0.5 }\naccrual_per_week = 10\n\
             outcome_delay_weeks = { exponential = 4 }\ndropout = 0.1\n",
        );
        let p = parse(&text).unwrap();
        assert_eq!(p.scenarios[0].outcome_delay, DelaySpec::Uniform(2.0, 6.0));
        assert_eq!(p.scenarios[1].outcome_delay, DelaySpec::Exponential(4.0));
        assert_eq!(p.scenarios[1].dropout, 0.1);
    }
}
