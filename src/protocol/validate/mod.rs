//! The meaning of a protocol: raw TOML values → the validated model, collecting every error.
//!
//! Each table is checked by one function that returns `None` when it could not be built; checks
//! that depend on an earlier table run only when that table was valid, so one mistake does not
//! produce a cascade of follow-on errors. Defaults are applied here and documented, key by key, in
//! `protocols/README.md`; keep the two in step.
//!
//! One file per table (`trial` holds `[trial]` and `[outcome]`), the shared small checks in
//! `checks`; this file only runs the tables in order and assembles the [`Protocol`]. The
//! imports point one way: this file uses the tables, the tables use `checks` (and `arms` uses
//! `prior`, `precision` uses `borrowing` and `graduation`; `precision` and `scenario` read
//! strata through `selection`), and no table imports this file.

mod allocation;
mod analysis;
mod arms;
mod borrowing;
mod checks;
mod decision;
mod graduation;
mod nof1;
mod precision;
mod prior;
mod scenario;
mod selection;
#[cfg(test)]
mod testing;
mod trial;

pub use allocation::DEFAULT_POWER;
pub use prior::{default_prior, DEFAULT_BETA, DEFAULT_GAMMA};

use allocation::allocation;
use analysis::analysis;
use arms::{arms, DefaultPrior};
use decision::decision;
use nof1::nof1_table;
use precision::{precision, refuse_without_biomarkers};
use prior::prior;
use scenario::scenarios;
use trial::{outcome, trial};

use super::error::Collector;
use super::limits::MAX_PARTICIPANTS;
use super::model::{Design, OutcomeKind, Protocol};
use super::raw::RawProtocol;

/// Checks every table of `raw`; `None` when anything is wrong (the errors are in `c`).
pub(crate) fn validate(raw: RawProtocol, c: &mut Collector<'_>) -> Option<Protocol> {
    let trial = trial(c, &raw.trial);
    let outcome = outcome(c, &raw.outcome);
    // The values later tables depend on, read quietly even when something else in their table
    // is wrong (the error is already reported), so that the other tables are still checked.
    let design = match raw.trial.get_ref().design.get_ref().as_str() {
        "platform" => Some(Design::Platform),
        "nof1" => Some(Design::Nof1),
        _ => None,
    };
    let kind = match raw.outcome.get_ref().kind.get_ref().as_str() {
        "binary" => Some(OutcomeKind::Binary),
        "continuous" => Some(OutcomeKind::Continuous),
        "count" => Some(OutcomeKind::Count),
        _ => None,
    };
    let max_participants = u32::try_from(*raw.trial.get_ref().max_participants.get_ref())
        .ok()
        .filter(|&n| (1..=MAX_PARTICIPANTS).contains(&n));

    let (treatments, nof1) = nof1_table(c, &raw, design, kind);
    let default_prior = match (&raw.prior, kind) {
        (Some(p), _) => {
            prior(c, p, "prior", kind).map_or(DefaultPrior::Invalid, DefaultPrior::Given)
        }
        (None, Some(kind)) => {
            default_prior(kind).map_or(DefaultPrior::Missing, DefaultPrior::Given)
        }
        (None, None) => DefaultPrior::Invalid,
    };
    let arms = design.and_then(|design| {
        arms(
            c,
            &raw,
            design,
            max_participants,
            kind,
            default_prior,
            treatments.as_deref(),
        )
    });
    let allocation = design.and_then(|design| {
        allocation(
            c,
            raw.allocation.as_ref(),
            arms.as_deref(),
            design,
            max_participants,
        )
    });
    let analysis =
        max_participants.and_then(|max| analysis(c, raw.analysis.as_ref(), max, arms.as_deref()));
    let decision = decision(
        c,
        raw.decision.as_ref(),
        arms.as_deref(),
        kind,
        analysis.as_ref().map(|a| a.looks.len()),
    );
    // The precision tables need the arms, the outcome kind, the allocation and the size; a
    // precision design is a platform design. Without `[[biomarker]]` tables every precision key
    // is refused, whatever the design.
    let precision = match (design, &arms, kind, &allocation, max_participants) {
        _ if raw.biomarker.is_none() => refuse_without_biomarkers(c, &raw).then_some(None),
        (Some(Design::Nof1), _, _, _, _) => {
            if let Some(b) = &raw.biomarker {
                c.error(
                    &b.span(),
                    "biomarker",
                    "biomarkers belong to platform designs, not n-of-1 designs",
                );
            }
            None
        }
        (Some(Design::Platform), Some(arms), Some(kind), Some(allocation), Some(max)) => {
            precision(c, &raw, arms, kind, allocation, max)
        }
        _ => None,
    };
    // The scenarios of a protocol without biomarkers are checked whatever else is wrong; those
    // of a precision design need its valid precision layer.
    let scenario_precision = if raw.biomarker.is_none() {
        Some(None)
    } else {
        precision.as_ref().map(Option::as_ref)
    };
    // The outcome range is only used when it is valid (else its error is already reported).
    let range = outcome.as_ref().map_or((None, None), |o| (o.min, o.max));
    let scenarios = match (&arms, kind, scenario_precision) {
        (Some(arms), Some(kind), Some(precision)) => {
            scenarios(c, raw.scenario.as_ref(), arms, kind, range, precision)
        }
        _ => None,
    };

    Some(Protocol {
        trial: trial?,
        outcome: outcome?,
        arms: arms?,
        allocation: allocation?,
        analysis: analysis?,
        decision: decision?,
        nof1: match (design?, nof1) {
            (Design::Nof1, Some(n)) => Some(n),
            (Design::Nof1, None) => return None,
            (Design::Platform, _) => None,
        },
        scenarios: scenarios?,
        precision: precision?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::model::{
        AllocationRule, AllocationSpec, ControlShare, ControlsPolicy, Power,
    };
    use crate::stats::Better;
    use testing::{parse, MINIMAL};

    #[test]
    fn minimal_protocol_gets_the_documented_defaults() {
        let p = parse(MINIMAL).unwrap();
        assert_eq!(p.trial.max_participants, 200);
        assert_eq!(p.outcome.better, Better::Higher);
        assert_eq!(p.arms.len(), 2);
        assert_eq!(p.arms[0].name, "a");
        assert_eq!(p.arms[0].prior, DEFAULT_BETA);
        assert!(!p.arms[0].control && p.arms[0].opens_at.is_none() && p.arms[0].ratio == 1);
        assert_eq!(
            p.allocation,
            AllocationSpec {
                rule: AllocationRule::Thompson {
                    power: Power::Constant(1.0),
                    control: ControlShare::None
                },
                min: 0.0,
                max: 1.0,
                burn_in: 0,
                block_multiple: 1,
            }
        );
        assert_eq!(p.analysis.looks, vec![200]);
        assert_eq!(p.analysis.controls, ControlsPolicy::Concurrent);
        assert!(p.decision.superiority.is_none() && p.decision.futility.is_none());
        assert!(p.nof1.is_none() && p.scenarios.is_empty());
    }

    #[test]
    fn several_errors_are_reported_together_in_file_order() {
        let text = r#"
[trial]
id = ""
title = "t"
design = "platform"
max_participants = 0
[outcome]
kind = "binary"
name = "r"
better = "up"
[[arm]]
id = "a b"
[[arm]]
id = "b"
"#;
        let e = Protocol::from_toml(text, "t.toml").unwrap_err();
        let paths: Vec<&str> = e.errors().iter().map(|e| e.key_path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "trial.id",
                "trial.max_participants",
                "outcome.better",
                "arm[0].id"
            ]
        );
    }
}
