//! `[nof1]`: present exactly when the design is n-of-1; the treatments, cycles, periods,
//! washout and run-in, the sequence, the MCID and stopping rules, and the adaptive sequence's
//! settings.
//!
//! The table only: the arms built from the treatments are [`super::arms`]'.

use super::checks::{
    keyword, non_negative, number, open_unit, optional, positive, whole, whole_within,
    whole_within_or,
};
use crate::protocol::error::Collector;
use crate::protocol::limits::{MAX_ARMS, MAX_CYCLES, MAX_PHASE_DAYS, MAX_SCHEDULE_DAYS};
use crate::protocol::model::{ArmId, Design, Nof1Sequence, Nof1Spec, OutcomeKind};
use crate::protocol::raw::{RawNof1, RawProtocol, S};

/// `[nof1]`: present exactly when `design = "nof1"`. Returns the treatments when they are valid
/// (the arms are built from them) and the whole spec when everything is.
pub(super) fn nof1_table(
    c: &mut Collector<'_>,
    raw: &RawProtocol,
    design: Option<Design>,
    kind: Option<OutcomeKind>,
) -> (Option<Vec<String>>, Option<Nof1Spec>) {
    match (design, &raw.nof1) {
        (Some(Design::Nof1), None) => {
            c.error(
                &raw.trial.get_ref().design.span(),
                "trial.design",
                "design = \"nof1\" needs a [nof1] table (treatments, cycles, period_days, …)",
            );
            (None, None)
        }
        (Some(Design::Platform), Some(table)) => {
            c.error(
                &table.span(),
                "nof1",
                "[nof1] is only allowed with trial.design = \"nof1\"",
            );
            (None, None)
        }
        (Some(Design::Nof1), Some(table)) => {
            if kind == Some(OutcomeKind::Count) {
                c.error(
                    &raw.outcome.get_ref().kind.span(),
                    "outcome.kind",
                    "an n-of-1 design needs a continuous or binary outcome, not count",
                );
            }
            let treatments = treatments(c, table.get_ref());
            let spec = nof1(c, table.get_ref(), kind, treatments.clone());
            (treatments, spec)
        }
        (Some(Design::Platform), None) | (None, _) => (None, None),
    }
}

/// `nof1.treatments`: at least 2 distinct labels, each a valid arm id.
fn treatments(c: &mut Collector<'_>, raw: &RawNof1) -> Option<Vec<String>> {
    let mut ok = true;
    let mut treatments: Vec<String> = Vec::new();
    for (i, t) in raw.treatments.get_ref().iter().enumerate() {
        let path = format!("nof1.treatments[{i}]");
        if let Err(message) = ArmId::parse(t.get_ref()) {
            c.error(&t.span(), &path, message);
            ok = false;
        } else if treatments.contains(t.get_ref()) {
            c.error(
                &t.span(),
                &path,
                format!("treatment \"{}\" is listed twice", t.get_ref()),
            );
            ok = false;
        } else {
            treatments.push(t.get_ref().clone());
        }
    }
    if raw.treatments.get_ref().len() > MAX_ARMS {
        c.error(
            &raw.treatments.span(),
            "nof1.treatments",
            format!(
                "{} treatments given; at most {MAX_ARMS} are allowed",
                raw.treatments.get_ref().len()
            ),
        );
        return None;
    }
    if raw.treatments.get_ref().len() < 2 {
        c.error(
            &raw.treatments.span(),
            "nof1.treatments",
            format!(
                "an n-of-1 trial compares at least 2 treatments; {} given",
                raw.treatments.get_ref().len()
            ),
        );
        ok = false;
    }
    ok.then_some(treatments)
}

/// The rest of `[nof1]`, given the checked treatments.
fn nof1(
    c: &mut Collector<'_>,
    raw: &RawNof1,
    kind: Option<OutcomeKind>,
    treatments: Option<Vec<String>>,
) -> Option<Nof1Spec> {
    let mut ok = true;
    let cycles = whole_within(c, &raw.cycles, "nof1.cycles", 1, MAX_CYCLES);
    let period_days = whole_within(c, &raw.period_days, "nof1.period_days", 1, MAX_PHASE_DAYS);
    let washout_days = whole_within_or(
        c,
        raw.washout_days.as_ref(),
        "nof1.washout_days",
        0,
        MAX_PHASE_DAYS,
        0,
    );
    let run_in_days = whole_within_or(
        c,
        raw.run_in_days.as_ref(),
        "nof1.run_in_days",
        0,
        MAX_PHASE_DAYS,
        0,
    );
    // At most one measurement a day: the calendar spreads a period's measurements over
    // distinct days, so more than period_days could never complete a period.
    let measurements_per_period = match (&raw.measurements_per_period, period_days) {
        (None, _) => Some(1),
        (Some(v), period) => {
            match whole_within(c, v, "nof1.measurements_per_period", 1, MAX_PHASE_DAYS) {
                Some(m) if period.is_some_and(|p| m > p) => {
                    c.error(
                        &v.span(),
                        "nof1.measurements_per_period",
                        format!(
                        "{m} must not exceed nof1.period_days = {}: at most one measurement a day",
                        period.unwrap_or(0)
                    ),
                    );
                    None
                }
                other => other,
            }
        }
    };
    if let (Some(cycles), Some(period), Some(washout), Some(run_in), Some(treatments)) =
        (cycles, period_days, washout_days, run_in_days, &treatments)
    {
        let periods = u64::from(cycles) * treatments.len() as u64;
        let days = u64::from(run_in) + periods * u64::from(period + washout);
        if days > MAX_SCHEDULE_DAYS {
            c.error(
                &raw.cycles.span(),
                "nof1.cycles",
                format!(
                    "the schedule (run_in_days + cycles × treatments × (period_days + \
                     washout_days)) lasts {days} days; at most {MAX_SCHEDULE_DAYS} are allowed"
                ),
            );
            ok = false;
        }
    }
    let sequence = match &raw.sequence {
        None => Some(Nof1Sequence::Pairs),
        Some(v) => keyword(
            c,
            v,
            "nof1.sequence",
            &[
                ("pairs", Nof1Sequence::Pairs),
                ("counterbalanced", Nof1Sequence::Counterbalanced),
                ("adaptive", Nof1Sequence::Adaptive),
            ],
        ),
    };
    let mcid = match &raw.mcid {
        None => Some(0.0),
        Some(v) => match non_negative(c, v, "nof1.mcid") {
            Some(x) if kind == Some(OutcomeKind::Binary) && x >= 1.0 => {
                c.error(
                    &v.span(),
                    "nof1.mcid",
                    format!(
                        "{x} must be below 1: for a binary outcome it is a difference of rates"
                    ),
                );
                None
            }
            other => other,
        },
    };
    let stop_benefit = raw
        .stop_benefit
        .as_ref()
        .map(|v| open_unit(c, v, "nof1.stop_benefit"));
    let stop_equivalence = raw
        .stop_equivalence
        .as_ref()
        .map(|v| open_unit(c, v, "nof1.stop_equivalence"));
    if let (Some(Some(_)), Some(0.0), Some(v)) = (stop_equivalence, mcid, &raw.stop_equivalence) {
        c.error(
            &v.span(),
            "nof1.stop_equivalence",
            "needs nof1.mcid > 0: equivalence means |effect| < mcid",
        );
        ok = false;
    }
    let min_cycles = match (&raw.min_cycles, cycles) {
        (None, Some(cycles)) => Some(cycles),
        (None, None) => None,
        (Some(v), cycles) => match whole(c, v, "nof1.min_cycles", 1) {
            Some(n) if cycles.is_some_and(|cycles| n > cycles) => {
                c.error(
                    &v.span(),
                    "nof1.min_cycles",
                    format!("{n} must not exceed nof1.cycles = {}", cycles.unwrap_or(0)),
                );
                None
            }
            Some(_) if raw.stop_benefit.is_none() && raw.stop_equivalence.is_none() => {
                c.error(
                    &v.span(),
                    "nof1.min_cycles",
                    "has no effect without a stopping rule (stop_benefit or stop_equivalence)",
                );
                None
            }
            other => other,
        },
    };
    let adaptive_only = |c: &mut Collector<'_>, v: &S<f64>, path: &str| {
        if sequence != Some(Nof1Sequence::Adaptive) {
            c.error(&v.span(), path, "only applies to sequence = \"adaptive\"");
        }
    };
    let power = match &raw.power {
        None => Some(0.5),
        Some(v) => {
            adaptive_only(c, v, "nof1.power");
            number(c, v, "nof1.power", "a number in (0, 1]", |x| {
                x > 0.0 && x <= 1.0
            })
        }
    };
    let min_probability = match &raw.min_probability {
        None => Some(0.1),
        Some(v) => {
            adaptive_only(c, v, "nof1.min_probability");
            number(c, v, "nof1.min_probability", "a number in [0, 0.5)", |x| {
                (0.0..0.5).contains(&x)
            })
        }
    };
    if sequence == Some(Nof1Sequence::Adaptive) && treatments.as_ref().is_some_and(|t| t.len() != 2)
    {
        if let Some(v) = &raw.sequence {
            c.error(
                &v.span(),
                "nof1.sequence",
                "\"adaptive\" sequences compare exactly 2 treatments",
            );
        }
        ok = false;
    }
    let tau_scale = match &raw.tau_scale {
        None => mcid.map(|m| if m > 0.0 { m } else { 1.0 }),
        Some(v) => positive(c, v, "nof1.tau_scale"),
    };
    if !ok {
        return None;
    }
    Some(Nof1Spec {
        ar1: raw.ar1.as_ref().is_some_and(|b| *b.get_ref()),
        power: power?,
        min_probability: min_probability?,
        tau_scale: tau_scale?,
        treatments: treatments?,
        cycles: cycles?,
        period_days: period_days?,
        washout_days: washout_days?,
        run_in_days: run_in_days?,
        measurements_per_period: measurements_per_period?,
        sequence: sequence?,
        mcid: mcid?,
        stop_benefit: optional(stop_benefit)?,
        stop_equivalence: optional(stop_equivalence)?,
        min_cycles: min_cycles?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::model::AllocationRule;
    use crate::protocol::validate::testing::parse;

    #[test]
    fn nof1_arms_come_from_the_treatments() {
        let text = r#"
[trial]
id = "N-1"
title = "n-of-1"
design = "nof1"
max_participants = 1
[outcome]
kind = "binary"
name = "Good day"
[nof1]
treatments = ["drug", "placebo"]
cycles = 4
period_days = 7
"#;
        let p = parse(text).unwrap();
        let ids: Vec<&str> = p.arms.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["drug", "placebo"]);
        assert_eq!(p.allocation.rule, AllocationRule::Fixed);
        let n = p.nof1.unwrap();
        assert_eq!(
            (n.min_cycles, n.sequence, n.mcid),
            (4, Nof1Sequence::Pairs, 0.0)
        );
    }
}
