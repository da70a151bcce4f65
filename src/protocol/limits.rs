//! The bounds of the protocol language: how large a protocol may be, key by key.
//!
//! Hostile or careless input is normal input: every count a protocol gives is bounded here, so
//! that validating, simulating or running a protocol that validates takes bounded time and
//! memory. Each bound is documented with its key in `protocols/README.md`; keep the two in step.
//! The bounds are generous for real trials and far below what would exhaust the server.
//!
//! Nothing here reads a protocol; `validate` checks the keys against these values.

/// The largest protocol file, in bytes, that the command line and the web accept: larger files
/// are refused before they are parsed.
pub const MAX_PROTOCOL_BYTES: usize = 1 << 20;

/// The most keys, values and tables a protocol may write, counted as the bytes `=`, `,`, `[` and
/// `{` in its text (wherever they stand, so an over-estimate): checked before the TOML reader
/// builds anything, so that a file within [`MAX_PROTOCOL_BYTES`] made of tiny tables or long
/// arrays cannot make the reader build half a million nodes. The largest protocol the other
/// bounds allow (64 arms, 100 scenarios giving a truth for each) writes under 10,000.
pub const MAX_PROTOCOL_ITEMS: usize = 20_000;

/// The largest `trial.max_participants` (and the largest amended maximum).
pub const MAX_PARTICIPANTS: u32 = 1_000_000;

/// The most interim and final looks a schedule may have (`analysis.looks`, counted before any
/// list is built).
pub const MAX_LOOKS: u32 = 1_000;

/// The most arms (or n-of-1 treatments): the numerics evaluate at most this many arms at once
/// (`stats::MAX_ARMS`).
pub const MAX_ARMS: usize = crate::stats::MAX_ARMS;

/// The most `[[scenario]]` tables.
pub const MAX_SCENARIOS: usize = 100;

/// The most strata (biomarker-level combinations, eligible or not) of a precision design: the
/// numerics borrow across at most this many strata at once (`stats::borrow::MAX_STRATA`), and
/// a set of strata is one `u64` (`precision::StrataSet`).
pub const MAX_STRATA: usize = crate::stats::borrow::MAX_STRATA;
const _: () = assert!(MAX_STRATA <= 64);

/// The most `[[biomarker]]` tables of a precision design.
pub const MAX_BIOMARKERS: usize = 6;

/// The most levels of one biomarker.
pub const MAX_LEVELS: usize = 16;

/// The most `[[signature]]` tables.
pub const MAX_SIGNATURES: usize = 64;

/// The longest selection of strata (`"HR = neg and HER2 = neg"`), in characters.
pub const MAX_SELECTION_CHARS: usize = 400;

/// The longest free text (`trial.title`, `outcome.name`, an arm's `name`, a scenario's
/// `name`), in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// The largest `ratio` of an arm and the largest `allocation.block_multiple`.
pub const MAX_RATIO: u32 = 100;

/// The largest permuted block (the sum of the ratios times `block_multiple`).
pub const MAX_BLOCK: u64 = 10_000;

/// The most cycles of an n-of-1 schedule (`nof1.cycles`).
pub const MAX_CYCLES: u32 = 100;

/// The longest period, washout or run-in of an n-of-1 schedule, in days.
pub const MAX_PHASE_DAYS: u32 = 365;

/// The longest n-of-1 schedule, run-in to the end of the last period, in days (ten years).
pub const MAX_SCHEDULE_DAYS: u64 = 3_653;

/// The most characters of an arm, biomarker or level id (as the protocol language checks them).
pub const MAX_ID_CHARS: usize = 64;

/// The most trial ids characters; new trials' ids use [`is_url_safe_id`]'s set.
pub const MAX_TRIAL_ID_CHARS: usize = 64;

/// Whether `id` is a trial id a new trial may take: 1 to [`MAX_TRIAL_ID_CHARS`] characters of
/// ASCII letters, digits, `.`, `_` and `-`, not `.` or `..` (so it is one URL path segment as
/// written). Trials created before this rule keep their ids: only new input is refused.
pub fn is_url_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TRIAL_ID_CHARS
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_safe_ids_are_one_plain_path_segment() {
        for ok in ["PLAT-2026-01", "a", "x.y_z", &"a".repeat(64)] {
            assert!(is_url_safe_id(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a?b",
            "a#b",
            "a b",
            "a\u{7}",
            "é",
            "a%2F",
            &"a".repeat(65),
        ] {
            assert!(!is_url_safe_id(bad), "{bad:?}");
        }
    }
}
