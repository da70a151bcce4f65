//! Reading a protocol: TOML text → [`Protocol`], or every error found, each with file:line:col.
//!
//! Two stages. The TOML reader fills the raw structs of [`super::raw`]; it stops at the first
//! syntax error, unknown key or wrong value type, and that error is turned into a
//! [`ProtocolError`] with its position and key path. Then [`super::validate`] checks the meaning
//! of every value and collects all the errors it finds.
//!
//! This module does file I/O in [`Protocol::load`] only; it knows nothing about the engine.

use std::io::Read;
use std::path::Path;

use super::error::{Collector, ProtocolError, ProtocolErrors};
use super::limits::{MAX_PROTOCOL_BYTES, MAX_PROTOCOL_ITEMS};
use super::model::Protocol;
use super::raw::{key_path_at, Node, RawProtocol};
use super::validate::validate;

impl Protocol {
    /// Parses and validates protocol text. `origin` names the text in error messages (usually
    /// the file path as given).
    ///
    /// Text longer than [`MAX_PROTOCOL_BYTES`] is refused before it is parsed.
    pub fn from_toml(text: &str, origin: &str) -> Result<Protocol, ProtocolErrors> {
        check_text(text, origin)?;
        let raw = read_raw(text, origin)?;
        let mut collector = Collector::new(text, origin);
        match validate(raw, &mut collector) {
            Some(protocol) if !collector.has_errors() => Ok(protocol),
            _ => Err(collector.finish()),
        }
    }

    /// Reads, parses and validates a protocol file; errors name the path as given.
    pub fn load(path: &Path) -> Result<Protocol, ProtocolErrors> {
        let origin = path.display().to_string();
        let text = read_file(path, &origin)?;
        Self::from_toml(&text, &origin)
    }
}

/// Reads a protocol file as UTF-8 text, refusing one larger than [`MAX_PROTOCOL_BYTES`] without
/// reading past the limit.
pub(crate) fn read_file(path: &Path, origin: &str) -> Result<String, ProtocolErrors> {
    let cannot = |e: std::io::Error| -> ProtocolErrors {
        ProtocolError::whole_file(origin, format!("cannot read the protocol: {e}")).into()
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_PROTOCOL_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    check_size(bytes.len(), origin)?;
    String::from_utf8(bytes).map_err(|e| {
        ProtocolError::whole_file(
            origin,
            format!("cannot read the protocol: it is not UTF-8 text ({e})"),
        )
        .into()
    })
}

/// Refuses a protocol text of more than [`MAX_PROTOCOL_BYTES`] bytes.
fn check_size(len: usize, origin: &str) -> Result<(), ProtocolErrors> {
    if len > MAX_PROTOCOL_BYTES {
        return Err(ProtocolError::whole_file(
            origin,
            format!(
                "the protocol is larger than {MAX_PROTOCOL_BYTES} bytes; a protocol file may \
                 have at most {MAX_PROTOCOL_BYTES} bytes"
            ),
        )
        .into());
    }
    Ok(())
}

/// Refuses text that is too large, or that writes more keys, values and tables than
/// [`MAX_PROTOCOL_ITEMS`], before the TOML reader sees it.
pub(crate) fn check_text(text: &str, origin: &str) -> Result<(), ProtocolErrors> {
    check_size(text.len(), origin)?;
    let items = text
        .bytes()
        .filter(|b| matches!(b, b'=' | b',' | b'[' | b'{'))
        .count();
    if items > MAX_PROTOCOL_ITEMS {
        return Err(ProtocolError::whole_file(
            origin,
            format!(
                "the protocol writes {items} keys, values and tables (counted as the characters `=`, \
                 `,`, `[` and `{{`); a protocol may write at most {MAX_PROTOCOL_ITEMS}"
            ),
        )
        .into());
    }
    Ok(())
}

/// Runs the TOML reader into the raw structs.
fn read_raw(text: &str, origin: &str) -> Result<RawProtocol, ProtocolErrors> {
    toml::from_str::<RawProtocol>(text).map_err(|e| toml_error(text, origin, &e).into())
}

/// Turns an error of the TOML reader into a [`ProtocolError`]: position from its span (the start
/// of the file when it has none), key path from the document's shape when the document is
/// syntactically valid, and the reader's message with serde's "field" called "key".
pub(crate) fn toml_error(text: &str, origin: &str, error: &toml::de::Error) -> ProtocolError {
    let span = error.span().unwrap_or(0..0);
    // The reader gives an empty span only for a key missing from the top level.
    let top_level = span.is_empty();
    let key_path = match toml::from_str::<Node>(text) {
        Ok(root) if !top_level => key_path_at(&root, span.start),
        _ => String::new(),
    };
    let mut message = error.message().trim_end().to_owned();
    for (serde_word, toml_word) in [
        ("unknown field", "unknown key"),
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
    ] {
        message = message.replace(serde_word, toml_word);
    }
    message = match message.strip_prefix("missing field ") {
        Some(key) if top_level => format!("missing table [{}]", key.trim_matches('`')),
        Some(key) => format!("missing key {key}"),
        None => message,
    };
    ProtocolError::at(text, origin, span.start, key_path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match Protocol::from_toml(text, "t.toml") {
            Ok(_) => String::from("<valid>"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_file_of_too_many_items_is_refused_before_it_is_read() {
        let text = format!("[trial]\nid = \"x\"\nlist = [{}1]\n", "1,".repeat(20_000));
        let e = err(&text);
        assert!(e.contains("at most 20000"), "{e}");
        assert!(e.starts_with("t.toml: the protocol writes 20004"), "{e}");
    }

    #[test]
    fn unknown_key_names_the_key_path_and_the_valid_keys() {
        let text = "[trial]\nid = \"x\"\ntitel = \"y\"\n";
        let message = err(text);
        assert!(
            message.starts_with("t.toml:3:1: trial.titel: unknown key `titel`"),
            "{message}"
        );
        assert!(message.contains("`title`"), "{message}");
    }

    #[test]
    fn syntax_error_has_a_position() {
        let message = err("[trial]\nid = \"x\n");
        assert!(message.starts_with("t.toml:2:"), "{message}");
    }

    #[test]
    fn unknown_key_in_an_array_of_tables_has_the_index() {
        let text = r#"
[trial]
id = "x"
title = "t"
design = "platform"
max_participants = 10
[outcome]
kind = "binary"
name = "r"
[[arm]]
id = "a"
[[arm]]
id = "b"
colour = "red"
"#;
        let message = err(text);
        assert!(
            message.starts_with("t.toml:14:1: arm[1].colour: unknown key"),
            "{message}"
        );
    }

    #[test]
    fn missing_table_and_wrong_types_say_what_is_expected() {
        let message = err("# only a comment\n[trial]\nid = \"x\"\n");
        assert!(
            message.starts_with("t.toml:2:1: trial: missing key `title`"),
            "{message}"
        );
        let message =
            err("[trial]\nid = \"x\"\ntitle = \"t\"\ndesign = \"nof1\"\nmax_participants = 5\n");
        assert_eq!(message, "t.toml:1:1: missing table [outcome]");
        let message = err("trial = 5\n");
        assert!(
            message.contains("trial: invalid type: integer `5`, expected a [trial] table"),
            "{message}"
        );
    }

    #[test]
    fn a_protocol_over_the_size_limit_is_refused_before_it_is_parsed() {
        let big = format!("# {}\n", "x".repeat(MAX_PROTOCOL_BYTES));
        let message = err(&big);
        assert!(
            message.starts_with("t.toml: the protocol is larger than 1048576 bytes"),
            "{message}"
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("big.toml");
        std::fs::write(&path, &big).unwrap_or_else(|e| panic!("{e}"));
        let e = Protocol::load(&path).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            matches!(&e, Err(m) if m.contains("at most 1048576 bytes")),
            "{e:?}"
        );
    }

    #[test]
    fn missing_file_is_reported_with_its_path() {
        let e = Protocol::load(Path::new("no/such/file.toml"));
        let message = e.map(|_| ()).map_err(|e| e.to_string());
        assert!(
            matches!(&message, Err(m) if m.starts_with("no/such/file.toml: cannot read")),
            "{message:?}"
        );
    }
}
