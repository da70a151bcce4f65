//! Selections of strata: `"all"`, or one or more `BIOMARKER = LEVEL` clauses joined by a
//! lowercase `and` (`"HR = neg and HER2 = neg"`); a list of selections is their union. A
//! selection that names an unknown biomarker or level, repeats a biomarker, or selects no
//! eligible stratum is an error at its position.
//!
//! Used by the precision tables and by a scenario's prevalence and subgroups; knows no table.

use crate::protocol::error::Collector;
use crate::protocol::limits::MAX_SELECTION_CHARS;
use crate::protocol::precision::{Biomarker, StrataSet, Stratum};
use crate::protocol::raw::S;

/// A selection: per biomarker, the level it requires (`None`: any level).
pub(super) type Pattern = Vec<Option<usize>>;

/// Whether `levels` satisfies every clause of `pattern`.
pub(super) fn matches(pattern: &[Option<usize>], levels: &[usize]) -> bool {
    pattern
        .iter()
        .zip(levels)
        .all(|(want, &have)| want.is_none_or(|w| w == have))
}

/// Parses one selection: `all`, or `ID = LEVEL` clauses joined by `and`.
pub(super) fn pattern(
    c: &mut Collector<'_>,
    written: &S<String>,
    path: &str,
    biomarkers: &[Biomarker],
) -> Option<Pattern> {
    let textual = written.get_ref();
    if textual.chars().count() > MAX_SELECTION_CHARS {
        c.error(
            &written.span(),
            path,
            format!("a selection has at most {MAX_SELECTION_CHARS} characters"),
        );
        return None;
    }
    let known = biomarkers
        .iter()
        .map(|b| b.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut fail = |message: String| {
        c.error(&written.span(), path, message);
        None
    };
    // Tokens: `=` stands alone wherever it is written; otherwise whitespace separates them.
    let spaced = textual.replace('=', " = ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pattern: Pattern = vec![None; biomarkers.len()];
    if tokens == ["all"] {
        return Some(pattern);
    }
    let usage = format!(
        "write \"all\" or BIOMARKER = LEVEL clauses joined by \"and\" (biomarkers: {known})"
    );
    let mut rest = tokens.as_slice();
    loop {
        let [key, "=", level, after @ ..] = rest else {
            return fail(format!("{textual:?} is not a selection: {usage}"));
        };
        let Some(b) = biomarkers.iter().position(|b| b.id == *key) else {
            return fail(format!(
                "{key:?} is not a biomarker; the biomarkers are: {known}"
            ));
        };
        let levels = &biomarkers[b].levels;
        let Some(l) = levels.iter().position(|x| x == level) else {
            return fail(format!(
                "{level:?} is not a level of {key}; its levels are: {}",
                levels.join(", ")
            ));
        };
        if pattern[b].is_some() {
            return fail(format!("{key} appears twice in one selection"));
        }
        pattern[b] = Some(l);
        match after {
            [] => return Some(pattern),
            ["and", more @ ..] => rest = more,
            [joiner, ..] if joiner.eq_ignore_ascii_case("and") => {
                return fail(format!("write \"and\" in lowercase, not {joiner:?}"));
            }
            _ => return fail(format!("{textual:?} is not a selection: {usage}")),
        }
    }
}

/// The eligible strata a list of selections covers; each selection must cover at least one.
pub(super) fn union(
    c: &mut Collector<'_>,
    list: &S<Vec<S<String>>>,
    path: &str,
    biomarkers: &[Biomarker],
    strata: &[Stratum],
) -> Option<StrataSet> {
    if list.get_ref().is_empty() {
        c.error(&list.span(), path, "must list at least one selection");
        return None;
    }
    let mut set = StrataSet::EMPTY;
    let mut ok = true;
    for (i, written) in list.get_ref().iter().enumerate() {
        match selected(c, written, &format!("{path}[{i}]"), biomarkers, strata) {
            Some(s) => set = set.union(s),
            None => ok = false,
        }
    }
    ok.then_some(set)
}

/// The eligible strata one selection covers (at least one).
pub(super) fn selected(
    c: &mut Collector<'_>,
    written: &S<String>,
    path: &str,
    biomarkers: &[Biomarker],
    strata: &[Stratum],
) -> Option<StrataSet> {
    let pattern = pattern(c, written, path, biomarkers)?;
    let set = strata
        .iter()
        .enumerate()
        .filter(|(_, s)| matches(&pattern, &s.levels))
        .fold(StrataSet::EMPTY, |set, (i, _)| {
            set.union(StrataSet::single(i))
        });
    if set.is_empty() {
        c.error(&written.span(), path, "selects no eligible stratum");
        return None;
    }
    Some(set)
}
