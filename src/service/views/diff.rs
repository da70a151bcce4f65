//! The line diff between two protocol texts, as hunks with a few lines of context: what a
//! reviewer reads before signing a new version. The diff itself is the `similar` crate's
//! (Myers' algorithm); this module only shapes it for the pages.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

/// Lines of unchanged text shown around each change.
const CONTEXT: usize = 3;

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineChange {
    /// In both texts.
    Same,
    /// Only in the new text.
    Added,
    /// Only in the old text.
    Removed,
}

impl LineChange {
    /// The word for the line's class and its screen-reader prefix (`same`, `added`, `removed`).
    pub fn word(self) -> &'static str {
        match self {
            Self::Same => "same",
            Self::Added => "added",
            Self::Removed => "removed",
        }
    }
}

/// One line of a diff, with its 1-based number in the old and the new text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// What happened to it.
    pub change: LineChange,
    /// Its number in the old text (absent for an added line).
    pub old: Option<usize>,
    /// Its number in the new text (absent for a removed line).
    pub new: Option<usize>,
    /// The text, without its line break.
    pub text: String,
}

/// A run of changes with their context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffHunk {
    /// The lines, in order.
    pub lines: Vec<DiffLine>,
}

/// The diff of `old` to `new`, line by line, in hunks with [`CONTEXT`] lines around each
/// change; empty when the texts are the same.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffHunk> {
    // A line break is a line break, CR LF or LF (texts pasted in a browser arrive with CR LF).
    let (old, new) = (old.replace("\r\n", "\n"), new.replace("\r\n", "\n"));
    let diff = TextDiff::from_lines(&old, &new);
    diff.grouped_ops(CONTEXT)
        .iter()
        .map(|group| DiffHunk {
            lines: group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| DiffLine {
                    change: match change.tag() {
                        ChangeTag::Equal => LineChange::Same,
                        ChangeTag::Insert => LineChange::Added,
                        ChangeTag::Delete => LineChange::Removed,
                    },
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_removed_and_added_with_its_numbers_and_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let hunks = line_diff(old, new);
        assert_eq!(hunks.len(), 1, "changes within twice the context join");
        let lines = &hunks[0].lines;
        let removed: Vec<_> = lines
            .iter()
            .filter(|l| l.change == LineChange::Removed)
            .collect();
        assert_eq!(removed.len(), 1);
        assert_eq!((removed[0].old, removed[0].new), (Some(5), None));
        assert_eq!(removed[0].text, "e");
        let added: Vec<_> = lines
            .iter()
            .filter(|l| l.change == LineChange::Added)
            .map(|l| (l.new, l.text.as_str()))
            .collect();
        assert_eq!(added, vec![(Some(5), "E"), (Some(10), "j")]);
        assert_eq!(
            lines.first().map(|l| l.old),
            Some(Some(2)),
            "three lines of context"
        );
    }

    #[test]
    fn the_same_text_has_no_hunks_whatever_its_line_breaks() {
        assert!(line_diff("x = 1\n", "x = 1\n").is_empty());
        assert!(line_diff("x = 1\r\ny = 2\r\n", "x = 1\ny = 2\n").is_empty());
    }
}
