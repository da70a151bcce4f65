//! The meaning of a protocol: raw TOML values → the validated model, collecting every error.
//!
//! Each table is checked by one function that returns `None` when it could not be built; checks
//! that depend on an earlier table run only when that table was valid, so one mistake does not
//! produce a cascade of follow-on errors. Defaults are applied here and documented, key by key, in
//! `protocols/README.md`; keep the two in step.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::stats::Better;

use super::error::Collector;
use super::model::{
    AllocationRule, AllocationSpec, AnalysisSpec, ArmId, ArmSpec, ControlShare, ControlsPolicy,
    DecisionSpec, DelaySpec, Design, MarginRule, Nof1Sequence, Nof1Spec, OutcomeKind, OutcomeSpec,
    Power, Prior, Protocol, Scenario, Threshold, TrialSpec,
};
use super::raw::{
    join, RawAllocation, RawAnalysis, RawArm, RawDecision, RawNof1, RawOutcome, RawPrior,
    RawProtocol, RawScenario, RawTrial, Value, S,
};

/// Default prior for binary outcomes: Beta(1, 1), uniform on the response rate.
pub const DEFAULT_BETA: Prior = Prior::Beta { a: 1.0, b: 1.0 };
/// Default prior for count outcomes: Gamma(shape 0.5, rate 0.001), a proper approximation of
/// Jeffreys' prior for a Poisson rate (0.001 units of prior exposure).
pub const DEFAULT_GAMMA: Prior = Prior::Gamma {
    shape: 0.5,
    rate: 0.001,
};
/// Default exponent on P(best): 1, i.e. no softening.
pub const DEFAULT_POWER: f64 = 1.0;

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
        .filter(|&n| n >= 1);

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
    // The outcome range is only used when it is valid (else its error is already reported).
    let range = outcome.as_ref().map_or((None, None), |o| (o.min, o.max));
    let scenarios = match (&arms, kind) {
        (Some(arms), Some(kind)) => scenarios(c, raw.scenario.as_ref(), arms, kind, range),
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
    })
}

// ---------------------------------------------------------------------------------------------
// Small checks shared by the tables.

/// An optional key's checked value: `Some(None)` when absent, `None` when given but invalid.
fn optional<T>(checked: Option<Option<T>>) -> Option<Option<T>> {
    match checked {
        None => Some(None),
        Some(inner) => inner.map(Some),
    }
}

/// A computed bound for a message: at most 3 decimals, trailing zeros dropped.
fn bound(x: f64) -> String {
    let text = format!("{x:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// A non-blank string.
fn text(c: &mut Collector<'_>, value: &S<String>, path: &str) -> Option<String> {
    if value.get_ref().trim().is_empty() {
        c.error(&value.span(), path, "must not be empty");
        None
    } else {
        Some(value.get_ref().clone())
    }
}

/// A whole number `≥ min` that fits in a `u32`.
fn whole(c: &mut Collector<'_>, value: &S<i64>, path: &str, min: i64) -> Option<u32> {
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

/// An optional whole number with a default.
fn whole_or(
    c: &mut Collector<'_>,
    value: Option<&S<i64>>,
    path: &str,
    min: i64,
    default: u32,
) -> Option<u32> {
    value.map_or(Some(default), |v| whole(c, v, path, min))
}

/// A finite number; `rule` says what else is required and `ok` checks it.
fn number(
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

fn positive(c: &mut Collector<'_>, value: &S<f64>, path: &str) -> Option<f64> {
    number(c, value, path, "a number > 0", |v| v > 0.0)
}

fn non_negative(c: &mut Collector<'_>, value: &S<f64>, path: &str) -> Option<f64> {
    number(c, value, path, "a number ≥ 0", |v| v >= 0.0)
}

fn open_unit(c: &mut Collector<'_>, value: &S<f64>, path: &str) -> Option<f64> {
    number(
        c,
        value,
        path,
        "a probability strictly between 0 and 1",
        |v| v > 0.0 && v < 1.0,
    )
}

/// A keyword from a fixed list.
fn keyword<T: Copy>(
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
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A `Value` that is a number (integer or float).
fn value_number(c: &mut Collector<'_>, value: &S<Value>, path: &str, what: &str) -> Option<f64> {
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

// ---------------------------------------------------------------------------------------------
// [trial] and [outcome]

fn trial(c: &mut Collector<'_>, raw: &S<RawTrial>) -> Option<TrialSpec> {
    let raw = raw.get_ref();
    let id = text(c, &raw.id, "trial.id");
    let title = text(c, &raw.title, "trial.title");
    let design = keyword(
        c,
        &raw.design,
        "trial.design",
        &[("platform", Design::Platform), ("nof1", Design::Nof1)],
    );
    let max_participants = whole(c, &raw.max_participants, "trial.max_participants", 1);
    Some(TrialSpec {
        id: id?,
        title: title?,
        design: design?,
        max_participants: max_participants?,
        blinded: raw.blinded.as_ref().is_some_and(|b| *b.get_ref()),
    })
}

fn outcome(c: &mut Collector<'_>, raw: &S<RawOutcome>) -> Option<OutcomeSpec> {
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
        }
    }
    if !range_ok {
        return None;
    }
    Some(OutcomeSpec {
        kind: kind?,
        name: name?,
        better: better?,
        min,
        max,
    })
}

// ---------------------------------------------------------------------------------------------
// [prior]

/// The prior used when `[prior]` is absent; none for continuous outcomes (no safe scale).
pub fn default_prior(kind: OutcomeKind) -> Option<Prior> {
    match kind {
        OutcomeKind::Binary => Some(DEFAULT_BETA),
        OutcomeKind::Count => Some(DEFAULT_GAMMA),
        OutcomeKind::Continuous => None,
    }
}

/// What `[prior]` must look like for an outcome kind.
fn family_hint(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Binary => "beta = [a, b]",
        OutcomeKind::Continuous => "normal_inverse_gamma = { mu0, kappa0, alpha0, beta0 }",
        OutcomeKind::Count => "gamma = [shape, rate]",
    }
}

fn kind_name(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Binary => "binary",
        OutcomeKind::Continuous => "continuous",
        OutcomeKind::Count => "count",
    }
}

/// A prior table: exactly one family, matching the outcome kind, with valid parameters.
fn prior(
    c: &mut Collector<'_>,
    raw: &S<RawPrior>,
    path: &str,
    kind: Option<OutcomeKind>,
) -> Option<Prior> {
    let table = raw.get_ref();
    let mut given: Vec<(&str, OutcomeKind, Range<usize>)> = Vec::new();
    if let Some(v) = &table.beta {
        given.push(("beta", OutcomeKind::Binary, v.span()));
    }
    if let Some(v) = &table.normal_inverse_gamma {
        given.push(("normal_inverse_gamma", OutcomeKind::Continuous, v.span()));
    }
    if let Some(v) = &table.gamma {
        given.push(("gamma", OutcomeKind::Count, v.span()));
    }
    let (family, family_kind, span) = match given.as_slice() {
        [] => {
            c.error(
                &raw.span(),
                path,
                "give one prior: beta = [a, b] (binary), normal_inverse_gamma = { mu0, kappa0, \
                 alpha0, beta0 } (continuous) or gamma = [shape, rate] (count)",
            );
            return None;
        }
        [one] => one.clone(),
        [first, second, ..] => {
            c.error(
                &second.2,
                &join(path, second.0),
                format!("give only one prior family; {} is already given", first.0),
            );
            return None;
        }
    };
    let family_path = join(path, family);
    if let Some(kind) = kind {
        if kind != family_kind {
            c.error(
                &span,
                &family_path,
                format!(
                    "a {family} prior is for {} outcomes; outcome.kind = \"{}\" needs {}",
                    kind_name(family_kind),
                    kind_name(kind),
                    family_hint(kind)
                ),
            );
            return None;
        }
    }
    let pair = |c: &mut Collector<'_>, v: &S<Vec<S<f64>>>, names: [&str; 2]| {
        let values = v.get_ref();
        if values.len() != 2 {
            c.error(
                &v.span(),
                &family_path,
                format!(
                    "must have exactly 2 numbers [{}, {}], not {}",
                    names[0],
                    names[1],
                    values.len()
                ),
            );
            return None;
        }
        let a = positive(c, &values[0], &format!("{family_path}[0]"));
        let b = positive(c, &values[1], &format!("{family_path}[1]"));
        Some((a?, b?))
    };
    match (&table.beta, &table.normal_inverse_gamma, &table.gamma) {
        (Some(v), _, _) => pair(c, v, ["a", "b"]).map(|(a, b)| Prior::Beta { a, b }),
        (_, Some(v), _) => {
            let v = v.get_ref();
            let mu0 = number(
                c,
                &v.mu0,
                &join(&family_path, "mu0"),
                "a finite number",
                |_| true,
            );
            let kappa0 = positive(c, &v.kappa0, &join(&family_path, "kappa0"));
            let alpha0 = positive(c, &v.alpha0, &join(&family_path, "alpha0"));
            let beta0 = positive(c, &v.beta0, &join(&family_path, "beta0"));
            Some(Prior::NormalInverseGamma {
                mu0: mu0?,
                kappa0: kappa0?,
                alpha0: alpha0?,
                beta0: beta0?,
            })
        }
        (_, _, Some(v)) => {
            pair(c, v, ["shape", "rate"]).map(|(shape, rate)| Prior::Gamma { shape, rate })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// [[arm]]

/// The protocol-wide default prior, as far as the arms are concerned.
#[derive(Debug, Clone, Copy)]
enum DefaultPrior {
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
fn arms(
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
                let (line, col) = super::error::line_column(c.text(), first.span().start);
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
        let ratio = whole_or(c, arm.ratio.as_ref(), &join(&path, "ratio"), 1, 1).unwrap_or(1);
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

// ---------------------------------------------------------------------------------------------
// [allocation]

fn allocation(
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
        let block_multiple = whole_or(
            c,
            table.block_multiple.as_ref(),
            "allocation.block_multiple",
            1,
            1,
        );
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
    let block_multiple = whole_or(
        c,
        table.block_multiple.as_ref(),
        "allocation.block_multiple",
        1,
        1,
    );

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

/// A `Value` shown as it would be written in TOML (scalars) or described (arrays, tables).
struct DisplayValue<'a>(&'a Value);

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

// ---------------------------------------------------------------------------------------------
// [analysis]

fn analysis(
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

// ---------------------------------------------------------------------------------------------
// [decision]

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

fn decision(
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

// ---------------------------------------------------------------------------------------------
// [nof1]

/// `[nof1]`: present exactly when `design = "nof1"`. Returns the treatments when they are valid
/// (the arms are built from them) and the whole spec when everything is.
fn nof1_table(
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
    let cycles = whole(c, &raw.cycles, "nof1.cycles", 1);
    let period_days = whole(c, &raw.period_days, "nof1.period_days", 1);
    let washout_days = whole_or(c, raw.washout_days.as_ref(), "nof1.washout_days", 0, 0);
    let run_in_days = whole_or(c, raw.run_in_days.as_ref(), "nof1.run_in_days", 0, 0);
    let measurements_per_period = whole_or(
        c,
        raw.measurements_per_period.as_ref(),
        "nof1.measurements_per_period",
        1,
        1,
    );
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

// ---------------------------------------------------------------------------------------------
// [[scenario]]

fn scenarios(
    c: &mut Collector<'_>,
    raw: Option<&S<Vec<S<RawScenario>>>>,
    arms: &[ArmSpec],
    kind: OutcomeKind,
    range: (Option<f64>, Option<f64>),
) -> Option<Vec<Scenario>> {
    let Some(raw) = raw else {
        return Some(Vec::new());
    };
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
        let scenario = scenario(c, s.get_ref(), &path, arms, kind, range);
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
        let checked = match kind {
            OutcomeKind::Binary => number(
                c,
                value,
                &key_path,
                "a response probability strictly between 0 and 1",
                |x| x > 0.0 && x < 1.0,
            ),
            OutcomeKind::Count => number(c, value, &key_path, "an event rate > 0", |x| x > 0.0),
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
                number(c, value, &key_path, &rule, |x| {
                    lo.is_none_or(|lo| x >= lo) && hi.is_none_or(|hi| x <= hi)
                })
            }
        };
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
    if !ok {
        return None;
    }
    Some(Scenario {
        name: String::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[trial]
id = "T-1"
title = "Two arms"
design = "platform"
max_participants = 200

[outcome]
kind = "binary"
name = "Response"

[[arm]]
id = "a"

[[arm]]
id = "b"
"#;

    fn parse(text: &str) -> Result<Protocol, String> {
        Protocol::from_toml(text, "t.toml").map_err(|e| e.to_string())
    }

    fn with(extra: &str) -> String {
        format!("{MINIMAL}\n{extra}")
    }

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

    #[test]
    fn looks_every_expand_and_end_at_max_participants() {
        let p = parse(&with("[analysis]\nlooks = { first = 50, every = 40 }")).unwrap();
        assert_eq!(p.analysis.looks, vec![50, 90, 130, 170, 200]);
        let p = parse(&with("[analysis]\nlooks = { first = 100, every = 50 }")).unwrap();
        assert_eq!(p.analysis.looks, vec![100, 150, 200]);
        let p = parse(&with("[analysis]\nlooks = [20, 60, 180]")).unwrap();
        assert_eq!(p.analysis.looks, vec![20, 60, 180]);
    }

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
