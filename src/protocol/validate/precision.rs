//! The precision tables: `[[biomarker]]`, `[strata]`, an arm's `strata`, `[[signature]]` and
//! `allocation.max_per_arm`, assembled with `[borrowing]` (`borrowing`) and `[graduation]`
//! (`graduation`) into the protocol's precision layer. Strata are written as selections
//! (`selection`); a scenario's strata are checked with the scenario (`scenario`).

use super::borrowing::borrowing;
use super::checks::{optional, text, whole_within};
use super::graduation::graduation;
use super::selection::{matches, pattern, union};
use crate::protocol::error::Collector;
use crate::protocol::limits::{MAX_BIOMARKERS, MAX_LEVELS, MAX_SIGNATURES, MAX_STRATA};
use crate::protocol::model::{
    AllocationRule, AllocationSpec, ArmId, ArmSpec, ControlShare, OutcomeKind,
};
use crate::protocol::precision::{label_of, Biomarker, Precision, Signature, StrataSet, Stratum};
use crate::protocol::raw::{join, RawProtocol, RawSignature, S};

/// The precision tables, when the protocol has `[[biomarker]]` tables; `Some(None)` when it has
/// none (the caller then refuses every precision key, [`refuse_without_biomarkers`]); `None`
/// when something is wrong.
pub(super) fn precision(
    c: &mut Collector<'_>,
    raw: &RawProtocol,
    arms: &[ArmSpec],
    kind: OutcomeKind,
    allocation: &AllocationSpec,
    max_participants: u32,
) -> Option<Option<Precision>> {
    let Some(raw_biomarkers) = &raw.biomarker else {
        return Some(None);
    };
    if kind != OutcomeKind::Binary {
        c.error(
            &raw_biomarkers.span(),
            "biomarker",
            "a precision design needs a binary outcome (graduation is by the predictive \
             probability of a binary confirmatory trial)",
        );
        return None;
    }
    let biomarkers = biomarkers(c, raw_biomarkers)?;
    let combinations = combinations(&biomarkers);
    let strata = eligible_strata(c, raw, &biomarkers, &combinations)?;
    let eligible = StrataSet::first(strata.len());
    let patterns_of = |c: &mut Collector<'_>, list: &S<Vec<S<String>>>, path: &str| {
        union(c, list, path, &biomarkers, &strata)
    };

    // The strata each arm may enrol: every eligible stratum unless the arm says otherwise; the
    // control serves them all.
    let mut arm_strata = Vec::with_capacity(arms.len());
    let mut ok = true;
    for (i, (spec, raw_arm)) in arms
        .iter()
        .zip(raw.arm.iter().flat_map(|a| a.get_ref()))
        .enumerate()
    {
        // Enrolment opens an arm that opens late (`opens_at` counts participants), and a
        // subtype with no experimental arm open enrols nobody: a precision design whose arms
        // opened late could wait for ever. Its arms open at the start.
        if let (Some(opens_at), Some(n)) = (&raw_arm.get_ref().opens_at, spec.opens_at) {
            c.error(
                &opens_at.span(),
                &format!("arm[{i}].opens_at"),
                format!("the arms of a precision design open at the start; remove opens_at = {n}"),
            );
            ok = false;
        }
        let path = format!("arm[{i}].strata");
        let set = match &raw_arm.get_ref().strata {
            None => Some(eligible),
            Some(list) if spec.control => {
                c.error(
                    &list.span(),
                    &path,
                    "the control arm serves every stratum: remove strata",
                );
                None
            }
            Some(list) => patterns_of(c, list, &path),
        };
        ok &= set.is_some();
        arm_strata.push(set.unwrap_or(eligible));
    }
    if ok {
        for (s, stratum) in strata.iter().enumerate() {
            let open = arm_strata.iter().filter(|set| set.contains(s)).count();
            if open < 2 {
                c.error(
                    &raw.arm
                        .as_ref()
                        .map_or_else(|| raw_biomarkers.span(), S::span),
                    "arm",
                    format!(
                        "stratum {} has {open} arm(s) that may enrol it; every eligible \
                         stratum needs at least 2 (or declare it ineligible in [strata])",
                        stratum.label
                    ),
                );
                ok = false;
            }
        }
    }

    let signatures = signatures(c, raw, &biomarkers, &strata, eligible);
    let borrowing = borrowing(c, raw.borrowing.as_ref());
    let graduation = graduation(c, raw, max_participants);
    if let (Some(Some(_)), false, Some(table)) = (
        &graduation,
        arms.iter().any(|a| a.control),
        raw.graduation.as_ref(),
    ) {
        c.error(
            &table.span(),
            "graduation",
            "graduation compares each arm with the control in a confirmatory trial: the \
             protocol needs a control arm",
        );
        ok = false;
    }
    let max_per_arm = optional(
        raw.allocation
            .as_ref()
            .and_then(|a| a.get_ref().max_per_arm.as_ref())
            .map(|v| whole_within(c, v, "allocation.max_per_arm", 1, max_participants)),
    );
    ok &= control_share_is_fixed(c, raw, arms, allocation);
    if !ok {
        return None;
    }
    Some(Some(Precision {
        biomarkers,
        strata,
        arm_strata,
        signatures: signatures?,
        borrowing: borrowing?,
        graduation: graduation?,
        max_per_arm: max_per_arm?,
    }))
}

/// Allocation within a stratum against a control compares each arm with the control there, at a
/// fixed control share (I-SPY 2's 20 %): any other share is refused.
fn control_share_is_fixed(
    c: &mut Collector<'_>,
    raw: &RawProtocol,
    arms: &[ArmSpec],
    allocation: &AllocationSpec,
) -> bool {
    let has_control = arms.iter().any(|a| a.control);
    match allocation.rule {
        AllocationRule::Thompson { control, .. } if has_control => match control {
            ControlShare::Fixed(_) => true,
            ControlShare::None | ControlShare::SqrtK | ControlShare::MatchBest => {
                let span = raw
                    .allocation
                    .as_ref()
                    .map_or_else(|| raw.trial.span(), |a| a.span());
                c.error(
                    &span,
                    "allocation.control",
                    "a precision design with a control allocates within each stratum by \
                     P(better than control) with a fixed control share: set control = <share \
                     in (0, 1)>, e.g. 0.2",
                );
                false
            }
        },
        AllocationRule::Thompson { .. } | AllocationRule::Fixed => true,
    }
}

/// Every precision key is an error without `[[biomarker]]` tables (in any design). Whether none
/// was given.
pub(super) fn refuse_without_biomarkers(c: &mut Collector<'_>, raw: &RawProtocol) -> bool {
    let message = "is a key of precision designs: add [[biomarker]] tables or remove it";
    let mut spans = Vec::new();
    if let Some(v) = &raw.strata {
        spans.push((v.span(), "strata".to_owned()));
    }
    if let Some(v) = &raw.signature {
        spans.push((v.span(), "signature".to_owned()));
    }
    if let Some(v) = &raw.borrowing {
        spans.push((v.span(), "borrowing".to_owned()));
    }
    if let Some(v) = &raw.graduation {
        spans.push((v.span(), "graduation".to_owned()));
    }
    if let Some(v) = raw
        .allocation
        .as_ref()
        .and_then(|a| a.get_ref().max_per_arm.as_ref())
    {
        spans.push((v.span(), "allocation.max_per_arm".to_owned()));
    }
    for (i, arm) in raw.arm.iter().flat_map(|a| a.get_ref()).enumerate() {
        if let Some(v) = &arm.get_ref().strata {
            spans.push((v.span(), format!("arm[{i}].strata")));
        }
    }
    for (i, s) in raw.scenario.iter().flat_map(|s| s.get_ref()).enumerate() {
        if let Some(v) = &s.get_ref().prevalence {
            spans.push((v.span(), format!("scenario[{i}].prevalence")));
        }
        if let Some(v) = &s.get_ref().subgroup {
            spans.push((v.span(), format!("scenario[{i}].subgroup")));
        }
    }
    let none = spans.is_empty();
    for (span, path) in spans {
        c.error(&span, &path, message);
    }
    none
}

/// An id of a biomarker, level or signature: as an arm id.
fn checked_id(c: &mut Collector<'_>, value: &S<String>, path: &str, what: &str) -> Option<String> {
    match ArmId::parse(value.get_ref()) {
        Ok(_) => Some(value.get_ref().clone()),
        Err(e) => {
            c.error(&value.span(), path, e.replacen("arm id", what, 1));
            None
        }
    }
}

fn biomarkers(
    c: &mut Collector<'_>,
    raw: &S<Vec<S<crate::protocol::raw::RawBiomarker>>>,
) -> Option<Vec<Biomarker>> {
    let list = raw.get_ref();
    if list.is_empty() || list.len() > MAX_BIOMARKERS {
        c.error(
            &raw.span(),
            "biomarker",
            format!(
                "{} biomarkers given; 1 to {MAX_BIOMARKERS} are allowed",
                list.len()
            ),
        );
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, b) in list.iter().enumerate() {
        let b = b.get_ref();
        let path = format!("biomarker[{i}]");
        let id_path = join(&path, "id");
        let id = checked_id(c, &b.id, &id_path, "biomarker id").filter(|id| {
            let taken = out.iter().any(|o: &Biomarker| &o.id == id);
            if taken {
                c.error(
                    &b.id.span(),
                    &id_path,
                    format!("biomarker id {id:?} is used twice"),
                );
            }
            !taken
        });
        let name = match &b.name {
            Some(n) => text(c, n, &join(&path, "name")),
            None => id.clone(),
        };
        let levels_path = join(&path, "levels");
        let raw_levels = b.levels.get_ref();
        let mut levels: Vec<String> = Vec::new();
        if raw_levels.is_empty() || raw_levels.len() > MAX_LEVELS {
            c.error(
                &b.levels.span(),
                &levels_path,
                format!(
                    "{} levels given; 1 to {MAX_LEVELS} are allowed",
                    raw_levels.len()
                ),
            );
            ok = false;
        } else {
            for (k, level) in raw_levels.iter().enumerate() {
                let level_path = format!("{levels_path}[{k}]");
                match checked_id(c, level, &level_path, "level") {
                    Some(l) if levels.contains(&l) => {
                        c.error(
                            &level.span(),
                            &level_path,
                            format!("level {l:?} is given twice"),
                        );
                        ok = false;
                    }
                    Some(l) => levels.push(l),
                    None => ok = false,
                }
            }
        }
        match (id, name) {
            (Some(id), Some(name)) => out.push(Biomarker { id, name, levels }),
            _ => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let product = out
        .iter()
        .try_fold(1usize, |n, b| n.checked_mul(b.levels.len()))
        .unwrap_or(usize::MAX);
    if product > MAX_STRATA {
        c.error(
            &raw.span(),
            "biomarker",
            format!(
                "the biomarkers' levels make {product} combinations; at most {MAX_STRATA} \
                 strata are allowed"
            ),
        );
        return None;
    }
    Some(out)
}

/// Every combination of levels, the first biomarker's varying slowest (at most
/// [`MAX_STRATA`], checked by [`biomarkers`]).
fn combinations(biomarkers: &[Biomarker]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    for b in biomarkers {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..b.levels.len()).map(move |l| {
                    let mut next = prefix.clone();
                    next.push(l);
                    next
                })
            })
            .collect();
    }
    out
}

/// The eligible strata: every combination but those `[strata] ineligible` selects.
fn eligible_strata(
    c: &mut Collector<'_>,
    raw: &RawProtocol,
    biomarkers: &[Biomarker],
    combinations: &[Vec<usize>],
) -> Option<Vec<Stratum>> {
    let mut excluded = vec![false; combinations.len()];
    if let Some(list) = raw
        .strata
        .as_ref()
        .and_then(|s| s.get_ref().ineligible.as_ref())
    {
        let mut ok = true;
        for (i, written) in list.get_ref().iter().enumerate() {
            let path = format!("strata.ineligible[{i}]");
            let Some(pattern) = pattern(c, written, &path, biomarkers) else {
                ok = false;
                continue;
            };
            let mut any = false;
            for (k, combination) in combinations.iter().enumerate() {
                if matches(&pattern, combination) {
                    excluded[k] = true;
                    any = true;
                }
            }
            if !any {
                c.error(&written.span(), &path, "selects no combination");
                ok = false;
            }
        }
        if !ok {
            return None;
        }
    }
    let strata: Vec<Stratum> = combinations
        .iter()
        .zip(&excluded)
        .filter(|(_, &out)| !out)
        .map(|(levels, _)| Stratum {
            label: label_of(biomarkers, levels),
            levels: levels.clone(),
        })
        .collect();
    if strata.is_empty() {
        let span = raw.strata.as_ref().map_or(0..0, |s| s.span());
        c.error(&span, "strata.ineligible", "leaves no eligible stratum");
        return None;
    }
    Some(strata)
}

/// `[[signature]]`; without any, one signature `all` of every eligible stratum.
fn signatures(
    c: &mut Collector<'_>,
    raw: &RawProtocol,
    biomarkers: &[Biomarker],
    strata: &[Stratum],
    eligible: StrataSet,
) -> Option<Vec<Signature>> {
    let Some(list) = &raw.signature else {
        return Some(vec![Signature {
            id: "all".into(),
            name: "All eligible participants".into(),
            written: "all".into(),
            strata: eligible,
        }]);
    };
    if list.get_ref().is_empty() || list.get_ref().len() > MAX_SIGNATURES {
        c.error(
            &list.span(),
            "signature",
            format!(
                "{} signatures given; 1 to {MAX_SIGNATURES} are allowed",
                list.get_ref().len()
            ),
        );
        return None;
    }
    let mut out: Vec<Signature> = Vec::new();
    let mut ok = true;
    for (i, s) in list.get_ref().iter().enumerate() {
        let RawSignature {
            id: raw_id,
            name,
            strata: written,
        } = s.get_ref();
        let path = format!("signature[{i}]");
        let id_path = join(&path, "id");
        let id = checked_id(c, raw_id, &id_path, "signature id").filter(|id| {
            let taken = out.iter().any(|o| &o.id == id);
            if taken {
                c.error(
                    &raw_id.span(),
                    &id_path,
                    format!("signature id {id:?} is used twice"),
                );
            }
            !taken
        });
        let name = match name {
            Some(n) => text(c, n, &join(&path, "name")),
            None => id.clone(),
        };
        let set = union(c, written, &join(&path, "strata"), biomarkers, strata);
        match (id, name, set) {
            (Some(id), Some(name), Some(set)) => out.push(Signature {
                id,
                name,
                written: written
                    .get_ref()
                    .iter()
                    .map(|w| w.get_ref().trim().to_owned())
                    .collect::<Vec<_>>()
                    .join(" or "),
                strata: set,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::parse;
    use crate::protocol::precision::{Borrowing, StratumRefusal};

    /// Two biomarkers (4 combinations, one ineligible), a control and two arms, one of them
    /// for HER2-positive participants only.
    const BASE: &str = r#"
[trial]
id = "P-1"
title = "Precision"
design = "platform"
max_participants = 400

[outcome]
kind = "binary"
name = "pCR"

[[biomarker]]
id = "HR"
name = "Hormone receptor"
levels = ["pos", "neg"]

[[biomarker]]
id = "HER2"
levels = ["pos", "neg"]

[strata]
ineligible = ["HR = pos and HER2 = pos"]

[[arm]]
id = "ctl"
control = true

[[arm]]
id = "a"

[[arm]]
id = "b"
strata = ["HER2 = pos"]

[allocation]
rule = "thompson"
control = 0.2
max_per_arm = 120

[[signature]]
id = "her2pos"
name = "HER2-positive"
strata = ["HER2 = pos"]

[[signature]]
id = "tn"
strata = ["HR = neg and HER2 = neg"]

[[signature]]
id = "everyone"
strata = ["all"]

[borrowing]
model = "exnex"
mu_prior = [-1.0, 2.0]
tau_prior = 1.0
nex_prior = [-1.0, 2.0]

[graduation]
future_n = 150
threshold = 0.85
futility = 0.1
min_participants = 20

[[scenario]]
name = "b-in-her2"
truth = { ctl = 0.2, a = 0.2, b = 0.2 }
accrual_per_week = 5
prevalence = [{ strata = "HER2 = pos", share = 0.2 }, { strata = "HER2 = neg", share = 0.8 }]
[[scenario.subgroup]]
strata = "HER2 = pos"
truth = { b = 0.5 }
"#;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn strata_signatures_and_eligibility_are_built_from_selections() {
        let p = parse(BASE).unwrap();
        let precision = p.precision.as_ref().unwrap();
        let labels: Vec<&str> = precision.strata.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["HR=pos HER2=neg", "HR=neg HER2=pos", "HR=neg HER2=neg"]
        );
        let arms: Vec<Vec<usize>> = precision
            .arm_strata
            .iter()
            .map(|s| s.iter().collect())
            .collect();
        assert_eq!(arms, [vec![0, 1, 2], vec![0, 1, 2], vec![1]]);
        let signatures: Vec<(&str, Vec<usize>)> = precision
            .signatures
            .iter()
            .map(|s| (s.id.as_str(), s.strata.iter().collect()))
            .collect();
        assert_eq!(
            signatures,
            [
                ("her2pos", vec![1]),
                ("tn", vec![2]),
                ("everyone", vec![0, 1, 2])
            ]
        );
        assert!(matches!(
            precision.borrowing,
            Borrowing::Exnex { ex_weight, .. } if ex_weight == 0.5
        ));
        assert_eq!(precision.max_per_arm, Some(120));
        assert_eq!(precision.graduation.map(|g| g.alpha), Some(0.025));
        let strata = p.scenarios[0].strata.as_ref().unwrap();
        // HER2 = pos is one eligible stratum; HER2 = neg two, sharing 0.8.
        assert_eq!(strata.prevalence, [0.4, 0.2, 0.4]);
        assert_eq!(strata.truth[2], [0.2, 0.5, 0.2]);
        assert_eq!(strata.truth[0], [0.2, 0.2, 0.2]);
    }

    /// Selections are read as tokens: `=` may touch its neighbours, a level may be called
    /// "and", and an uppercase AND is named.
    #[test]
    fn selections_are_read_token_by_token() {
        let compact = BASE.replacen(
            "strata = [\"HR = neg and HER2 = neg\"]",
            "strata = [\"HR=neg  and\tHER2 =neg\"]",
            1,
        );
        let p = parse(&compact).unwrap();
        let tn = &p.precision.as_ref().unwrap().signatures[1];
        assert_eq!(tn.strata.iter().collect::<Vec<_>>(), [2]);
        let and_level = BASE
            .replacen(
                "levels = [\"pos\", \"neg\"]",
                "levels = [\"pos\", \"and\"]",
                1,
            )
            .replace("HR = neg", "HR = and");
        let p = parse(&and_level).unwrap();
        assert_eq!(
            p.precision.as_ref().unwrap().strata[2].label,
            "HR=and HER2=neg"
        );
        let upper = BASE.replacen("HR = neg and HER2 = neg", "HR = neg AND HER2 = neg", 1);
        let e = parse(&upper).unwrap_err();
        assert!(
            e.contains("signature[1].strata[0]: write \"and\" in lowercase, not \"AND\""),
            "{e}"
        );
    }

    #[test]
    fn a_participant_gets_the_stratum_of_their_levels_or_a_reason() {
        let p = parse(BASE).unwrap();
        let precision = p.precision.as_ref().unwrap();
        assert_eq!(
            precision.stratum_of(&values(&[("HR", "neg"), ("HER2", "pos")])),
            Ok(1)
        );
        assert_eq!(precision.arms_in(0).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(precision.arms_in(1).collect::<Vec<_>>(), [0, 1, 2]);
        let refused = |pairs: &[(&str, &str)]| {
            precision
                .stratum_of(&values(pairs))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(refused(&[("HR", "neg")]), "biomarker \"HER2\" has no value");
        assert_eq!(
            refused(&[("HR", "neg"), ("HER2", "pos"), ("ER", "x")]),
            "\"ER\" is not a biomarker of this protocol"
        );
        assert_eq!(
            refused(&[("HR", "neg"), ("HER2", "low")]),
            "\"low\" is not a level of biomarker \"HER2\" (its levels: pos, neg)"
        );
        assert_eq!(
            precision.stratum_of(&values(&[("HR", "pos"), ("HER2", "pos")])),
            Err(StratumRefusal::Ineligible("HR=pos HER2=pos".into()))
        );
    }

    #[test]
    fn a_protocol_without_biomarkers_has_no_precision_layer_and_refuses_its_keys() {
        let p = parse(super::super::testing::MINIMAL).unwrap();
        assert!(p.precision.is_none());
        let e = parse(&super::super::testing::with(
            "[graduation]\nfuture_n = 150\nthreshold = 0.85\n",
        ))
        .unwrap_err();
        assert!(
            e.contains("graduation: is a key of precision designs"),
            "{e}"
        );
    }

    /// An arm of a precision design that would open late is refused where it says so.
    #[test]
    fn a_precision_arm_that_opens_late_is_refused() {
        let text = BASE.replacen("id = \"a\"\n", "id = \"a\"\nopens_at = 50\n", 1);
        let e = parse(&text).unwrap_err();
        assert!(e.contains("arm[1].opens_at"), "{e}");
        assert!(e.contains("open at the start"), "{e}");
    }

    /// An n-of-1 design has no precision layer either: its precision keys are refused.
    #[test]
    fn an_nof1_design_refuses_precision_keys() {
        let pain = std::fs::read_to_string("protocols/nof1-pain.toml").unwrap();
        let e = parse(&format!(
            "{pain}\n[graduation]\nfuture_n = 0\nthreshold = 7\n\n[borrowing]\nmodel = \"x\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("graduation: is a key of precision designs"),
            "{e}"
        );
        assert!(
            e.contains("borrowing: is a key of precision designs"),
            "{e}"
        );
    }

    /// Without biomarkers a scenario's errors are reported with the other tables' errors.
    #[test]
    fn scenario_errors_are_reported_beside_an_allocation_error() {
        let e = parse(&super::super::testing::with(
            "[allocation]\nmin = 0.4\nmax = 0.3\n\n[[scenario]]\nname = \"s\"\n\
             truth = { a = 0.2, b = 7 }\naccrual_per_week = 1\n",
        ))
        .unwrap_err();
        assert!(e.contains("allocation.min"), "{e}");
        assert!(e.contains("scenario[0].truth.b"), "{e}");
    }

    /// Each bad input is an error at its key, with what is wrong.
    #[test]
    fn bad_selections_and_tables_are_refused_where_they_stand() {
        let cases: [(&str, &str, &str); 14] = [
            (
                "strata = [\"HER2 = pos\"]",
                "strata = [\"HER3 = pos\"]",
                "arm[2].strata[0]: \"HER3\" is not a biomarker; the biomarkers are: HR, HER2",
            ),
            (
                "strata = [\"HER2 = pos\"]",
                "strata = [\"HER2 = low\"]",
                "arm[2].strata[0]: \"low\" is not a level of HER2; its levels are: pos, neg",
            ),
            (
                "strata = [\"HER2 = pos\"]",
                "strata = [\"HER2 = pos and HER2 = neg\"]",
                "arm[2].strata[0]: HER2 appears twice in one selection",
            ),
            (
                "strata = [\"HER2 = pos\"]",
                "strata = [\"HR = pos and HER2 = pos\"]",
                "arm[2].strata[0]: selects no eligible stratum",
            ),
            (
                "strata = [\"HER2 = pos\"]",
                "strata = [\"HER2 pos\"]",
                "arm[2].strata[0]: \"HER2 pos\" is not a selection: write \"all\" or",
            ),
            (
                "id = \"a\"",
                "id = \"a\"\nstrata = [\"HER2 = pos\"]",
                "arm: stratum HR=pos HER2=neg has 1 arm(s) that may enrol it",
            ),
            (
                "levels = [\"pos\", \"neg\"]\n\n[[biomarker]]\nid = \"HER2\"",
                "levels = [\"pos\", \"pos\"]\n\n[[biomarker]]\nid = \"HER2\"",
                "biomarker[0].levels[1]: level \"pos\" is given twice",
            ),
            (
                "id = \"HER2\"",
                "id = \"HR\"",
                "biomarker[1].id: biomarker id \"HR\" is used twice",
            ),
            (
                "control = 0.2",
                "control = \"sqrt-k\"",
                "allocation.control: a precision design with a control",
            ),
            (
                "tau_prior = 1.0\nnex_prior = [-1.0, 2.0]",
                "tau_prior = 1.0",
                "borrowing.nex_prior: model = \"exnex\" needs nex_prior",
            ),
            (
                "model = \"exnex\"",
                "model = \"bhm\"",
                "borrowing.nex_prior: has no effect with model = \"bhm\"",
            ),
            (
                "futility = 0.1",
                "futility = 0.9",
                "graduation.futility: 0.9 must be a probability in [0, graduation.threshold = 0.85)",
            ),
            (
                "{ strata = \"HER2 = neg\", share = 0.8 }",
                "{ strata = \"HER2 = neg\", share = 0.7 }",
                "scenario[0].prevalence: the shares sum to",
            ),
            (
                "{ strata = \"HER2 = neg\", share = 0.8 }",
                "{ strata = \"all\", share = 0.8 }",
                "scenario[0].prevalence[1].strata: stratum HR=neg HER2=pos already has a prevalence",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(BASE.contains(from), "{from}");
            let e = parse(&BASE.replacen(from, to, 1)).unwrap_err();
            assert!(e.contains(expected), "{to}: expected {expected:?} in\n{e}");
        }
    }

    #[test]
    fn too_many_combinations_a_non_binary_outcome_and_graduation_without_control_are_refused() {
        let mut text = BASE.replace(
            "levels = [\"pos\", \"neg\"]",
            "levels = [\"pos\", \"neg\", \"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\"]",
        );
        let e = parse(&text).unwrap_err();
        assert!(e.contains("make 81 combinations; at most 64"), "{e}");
        text = BASE.replace("kind = \"binary\"", "kind = \"count\"");
        let e = parse(&text).unwrap_err();
        assert!(
            e.contains("biomarker: a precision design needs a binary outcome"),
            "{e}"
        );
    }
}
