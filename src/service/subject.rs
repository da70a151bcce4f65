//! Subject ids at the edge: the one form in which a participant's id is stored and looked up,
//! and the rule a new participant's id must pass.
//!
//! No storage and no engine here: the service calls these before a command reaches either.

use unicode_normalization::UnicodeNormalization;

use super::ServiceError;

/// The longest subject id, in bytes of UTF-8 after normalisation (the engine's bound).
const MAX_SUBJECT_BYTES: usize = 64;

/// Whether `c` is invisible or reorders text: a control character, a zero-width or joining
/// character, a bidirectional control, a variation selector, a tag, the byte-order mark or a
/// filler. Two subject ids that differ only by such characters look the same to a person.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}')
}

/// A subject id as stored and looked up: trimmed and in Unicode normalisation form C, so that
/// the same text typed with composed or decomposed accents names one participant.
pub(crate) fn subject_key(text: &str) -> String {
    text.trim().nfc().collect()
}

/// A new participant's subject id ([`subject_key`]), refused when it is empty, longer than
/// [`MAX_SUBJECT_BYTES`] or holds an invisible character ([`is_invisible`]): `S\u{200b}001`
/// and `S001` must not be two participants. Ids enrolled before the rule are still found.
pub(crate) fn new_subject_id(text: &str) -> Result<String, ServiceError> {
    let id = subject_key(text);
    let problem = if id.is_empty() {
        "must not be empty".to_owned()
    } else if id.len() > MAX_SUBJECT_BYTES {
        format!(
            "has {} bytes of UTF-8; at most {MAX_SUBJECT_BYTES} are allowed",
            id.len()
        )
    } else if let Some(c) = id.chars().find(|&c| is_invisible(c)) {
        format!(
            "contains the invisible or control character U+{:04X}; subject ids may hold only \
             visible characters and spaces",
            u32::from(c)
        )
    } else {
        return Ok(id);
    };
    Err(ServiceError::Invalid {
        field: "subject_id",
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_and_decomposed_accents_are_one_subject() {
        assert_eq!(subject_key(" Ame\u{301}lie "), "Am\u{e9}lie");
        assert_eq!(
            new_subject_id("Ame\u{301}lie").ok(),
            Some("Am\u{e9}lie".to_owned())
        );
    }

    #[test]
    fn invisible_characters_and_overlong_ids_are_refused_naming_the_field() {
        for bad in [
            "S\u{200b}001",
            "\u{202e}S001",
            "S\u{7}1",
            "S\u{feff}1",
            "",
            "   ",
        ] {
            match new_subject_id(bad) {
                Err(ServiceError::Invalid { field, .. }) => assert_eq!(field, "subject_id"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let long = "é".repeat(33);
        assert!(
            matches!(new_subject_id(&long), Err(ServiceError::Invalid { problem, .. }) if problem.contains("at most 64")),
        );
        assert!(new_subject_id("S-001 (site 2)").is_ok());
    }
}
