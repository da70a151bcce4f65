//! `[[arm]]`: the arms' ids, names, control flag, prior, opening and ratio; for n-of-1 designs
//! the arms built from `nof1.treatments` (or matched to them).
//!
//! The arms only: how they are allocated, analysed and compared is checked by the tables that
//! receive the arms built here.

use std::collections::BTreeMap;

use super::checks::{text, whole, whole_within_or};
use super::prior::{prior, DEFAULT_BETA};
use crate::protocol::error::{line_column, Collector};
use crate::protocol::limits::{MAX_ARMS, MAX_RATIO};
use crate::protocol::model::{ArmId, ArmSpec, Design, OutcomeKind, Prior};
use crate::protocol::raw::{join, RawArm, RawProtocol, S};

/// The protocol-wide default prior, as far as the arms are concerned.
#[derive(Debug, Clone, Copy)]
#[expect(
    clippy::large_enum_variant,
    reason = "a prior is Copy and inline (a mixture prior included); one value per protocol"
)]
pub(super) enum DefaultPrior {
    /// From `[prior]` or the default for the outcome kind.
    Given(Prior),
    /// No `[prior]` and no default (continuous outcomes): every arm needs its own.
    Missing,
    /// `[prior]` is invalid (already reported).
    Invalid,
}

/// Stands in for a value whose error is already reported, so that the other checks still run.
/// A protocol containing it is never returned.
const PLACEHOLDER_PRIOR: Prior = DEFAULT_BETA;

const CONTINUOUS_PRIOR_HINT: &str = "a continuous outcome has no default prior (there is no safe \
                                     scale): add [prior] normal_inverse_gamma = { mu0, kappa0, \
                                     alpha0, beta0 }";

/// The arms: from `[[arm]]`, or for n-of-1 designs without `[[arm]]` one per treatment. `None`
/// when the arm identifiers themselves are unusable; other invalid fields are reported and
/// replaced by placeholders so that allocation, decisions and scenarios are still checked.
pub(super) fn arms(
    c: &mut Collector<'_>,
    raw: &RawProtocol,
    design: Design,
    max_participants: Option<u32>,
    kind: Option<OutcomeKind>,
    default_prior: DefaultPrior,
    treatments: Option<&[String]>,
) -> Option<Vec<ArmSpec>> {
    let kind_span = raw.outcome.get_ref().kind.span();
    let Some(raw_arms) = &raw.arm else {
        return match (design, treatments) {
            (Design::Platform, _) => {
                c.error(
                    &raw.trial.get_ref().design.span(),
                    "arm",
                    "a platform design needs [[arm]] tables: at least 2 arms open from the start",
                );
                None
            }
            (Design::Nof1, None) => None,
            (Design::Nof1, Some(treatments)) => {
                let prior = match default_prior {
                    DefaultPrior::Given(p) => p,
                    DefaultPrior::Missing => {
                        c.error(&kind_span, "outcome.kind", CONTINUOUS_PRIOR_HINT);
                        PLACEHOLDER_PRIOR
                    }
                    DefaultPrior::Invalid => PLACEHOLDER_PRIOR,
                };
                treatments
                    .iter()
                    .map(|t| {
                        ArmId::parse(t).ok().map(|id| ArmSpec {
                            id,
                            name: t.clone(),
                            control: false,
                            prior,
                            opens_at: None,
                            ratio: 1,
                        })
                    })
                    .collect()
            }
        };
    };

    if raw_arms.get_ref().len() > MAX_ARMS {
        c.error(
            &raw_arms.span(),
            "arm",
            format!(
                "{} arms given; at most {MAX_ARMS} are allowed (the numerics compare at most \
                 {MAX_ARMS} arms at once)",
                raw_arms.get_ref().len()
            ),
        );
        return None;
    }
    let mut arms: Vec<ArmSpec> = Vec::new();
    let mut ids_ok = true;
    let mut first_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut control_index: Option<usize> = None;
    let mut lacking_prior: Vec<String> = Vec::new();
    for (i, raw_arm) in raw_arms.get_ref().iter().enumerate() {
        let path = format!("arm[{i}]");
        let arm: &RawArm = raw_arm.get_ref();
        let id = match ArmId::parse(arm.id.get_ref()) {
            Ok(id) => Some(id),
            Err(message) => {
                c.error(&arm.id.span(), &join(&path, "id"), message);
                None
            }
        };
        if let Some(id) = &id {
            if let Some(&j) = first_index.get(id.as_str()) {
                let first = &raw_arms.get_ref()[j].get_ref().id;
                let (line, col) = line_column(c.text(), first.span().start);
                c.error(
                    &arm.id.span(),
                    &join(&path, "id"),
                    format!(
                        "duplicate arm id \"{id}\": arm[{j}].id at line {line}:{col} already has it"
                    ),
                );
                ids_ok = false;
            } else {
                first_index.insert(id.as_str().to_owned(), i);
            }
        }
        let name = match &arm.name {
            Some(n) => text(c, n, &join(&path, "name")),
            None => None,
        }
        .unwrap_or_else(|| arm.id.get_ref().clone());
        let control = arm.control.as_ref().is_some_and(|v| *v.get_ref());
        if control {
            if let (Some(j), Some(span)) = (control_index, arm.control.as_ref().map(|v| v.span())) {
                c.error(
                    &span,
                    &join(&path, "control"),
                    format!(
                        "only one arm may be the control, and arm[{j}] (\"{}\") already is",
                        raw_arms.get_ref()[j].get_ref().id.get_ref()
                    ),
                );
            } else {
                control_index = Some(i);
            }
        }
        let prior = match (&arm.prior, default_prior) {
            (Some(p), _) => prior(c, p, &join(&path, "prior"), kind).unwrap_or(PLACEHOLDER_PRIOR),
            (None, DefaultPrior::Given(p)) => p,
            (None, DefaultPrior::Missing) => {
                lacking_prior.push(arm.id.get_ref().clone());
                PLACEHOLDER_PRIOR
            }
            (None, DefaultPrior::Invalid) => PLACEHOLDER_PRIOR,
        };
        let opens_at = arm.opens_at.as_ref().and_then(|v| {
            opens_at(
                c,
                v,
                &join(&path, "opens_at"),
                design,
                control,
                max_participants,
            )
        });
        let ratio = whole_within_or(
            c,
            arm.ratio.as_ref(),
            &join(&path, "ratio"),
            1,
            MAX_RATIO,
            1,
        )
        .unwrap_or(1);
        match id {
            Some(id) => arms.push(ArmSpec {
                id,
                name,
                control,
                prior,
                opens_at,
                ratio,
            }),
            None => ids_ok = false,
        }
    }
    if !lacking_prior.is_empty() {
        c.error(
            &kind_span,
            "outcome.kind",
            format!(
                "{CONTINUOUS_PRIOR_HINT}, or a prior to every [[arm]] (missing for: {})",
                lacking_prior.join(", ")
            ),
        );
    }
    if !ids_ok {
        return None;
    }

    match (design, treatments) {
        (Design::Platform, _) => {
            let open = arms.iter().filter(|a| a.opens_at.is_none()).count();
            if open < 2 {
                c.error(
                    &raw_arms.span(),
                    "arm",
                    format!(
                        "a platform trial needs at least 2 arms open from the start; found {open}"
                    ),
                );
                return None;
            }
            Some(arms)
        }
        (Design::Nof1, None) => None,
        (Design::Nof1, Some(treatments)) => {
            // With [[arm]] given, there must be one arm per treatment; arms follow treatment order.
            let mut ok = true;
            for (i, arm) in arms.iter().enumerate() {
                if !treatments.iter().any(|t| t == arm.id.as_str()) {
                    c.error(
                        &raw_arms.get_ref()[i].get_ref().id.span(),
                        &format!("arm[{i}].id"),
                        format!(
                            "\"{}\" is not one of nof1.treatments: {}",
                            arm.id,
                            treatments.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
            let missing: Vec<&str> = treatments
                .iter()
                .filter(|t| !arms.iter().any(|a| a.id.as_str() == t.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                c.error(
                    &raw_arms.span(),
                    "arm",
                    format!(
                        "with [[arm]] tables in an n-of-1 design, every treatment needs one; \
                         missing: {}",
                        missing.join(", ")
                    ),
                );
                ok = false;
            }
            if !ok {
                return None;
            }
            arms.sort_by_key(|a| treatments.iter().position(|t| t == a.id.as_str()));
            Some(arms)
        }
    }
}

/// `opens_at`: 0 means open from the start; otherwise below `max_participants`, platform designs
/// only, never the control. Invalid values are reported and read as "open from the start".
fn opens_at(
    c: &mut Collector<'_>,
    value: &S<i64>,
    path: &str,
    design: Design,
    control: bool,
    max_participants: Option<u32>,
) -> Option<u32> {
    let n = whole(c, value, path, 0)?;
    if n == 0 {
        return None;
    }
    let problem = if design == Design::Nof1 {
        format!("arms of an n-of-1 design cannot open late; remove opens_at = {n}")
    } else if control {
        format!("the control arm must be open from the start; remove opens_at = {n}")
    } else if let Some(max) = max_participants.filter(|&max| n >= max) {
        format!("{n} must be below trial.max_participants = {max}, or the arm never opens")
    } else {
        return Some(n);
    };
    c.error(&value.span(), path, problem);
    None
}

#[cfg(test)]
mod tests {
    use crate::protocol::validate::testing::{parse, MINIMAL};
    use crate::protocol::DEFAULT_GAMMA;

    #[test]
    fn count_outcome_gets_the_gamma_default_and_continuous_requires_a_prior() {
        let p = parse(&MINIMAL.replace("binary", "count")).unwrap();
        assert_eq!(p.arms[1].prior, DEFAULT_GAMMA);
        let e = parse(&MINIMAL.replace("binary", "continuous")).unwrap_err();
        assert!(
            e.contains("t.toml:9:8: outcome.kind: a continuous outcome has no default prior"),
            "{e}"
        );
    }
}
