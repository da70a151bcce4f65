//! Errors of the protocol layer: every one points at a place in the protocol file.
//!
//! Error policy: a protocol error is for the statistician who wrote the file, so each one names
//! the file (`origin`), the 1-based line and column, the key path (`arm[2].id`,
//! `scenario[0].truth.drug-a`) and says what would be valid. Validation collects every semantic
//! error it can find instead of stopping at the first; syntax errors, unknown keys and wrong value
//! types come from the TOML reader and stop reading, so they arrive alone.
//!
//! Nothing here knows about the engine, the database or the web.

use std::fmt;
use std::ops::Range;

/// One problem in a protocol file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProtocolError {
    /// Where the text came from: the path as given, or a label such as `<amendment>`.
    pub origin: String,
    /// 1-based line; 0 when the error concerns the file as a whole (it could not be read).
    pub line: usize,
    /// 1-based column in characters; 0 together with `line == 0`.
    pub column: usize,
    /// Dotted key path with 0-based array indices, e.g. `arm[2].id`; empty when unknown
    /// (syntax errors).
    pub key_path: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for ProtocolError {
    /// `{origin}:{line}:{column}: {key_path}: {message}`; the location is left out when the error
    /// concerns the whole file and the key path when it is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.origin)?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        if !self.key_path.is_empty() {
            write!(f, " {}:", self.key_path)?;
        }
        write!(f, " {}", self.message)
    }
}

impl ProtocolError {
    /// An error at a byte offset of `text`; line and column are computed from it.
    pub fn at(
        text: &str,
        origin: &str,
        offset: usize,
        key_path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(text, offset);
        Self {
            origin: origin.to_owned(),
            line,
            column,
            key_path: key_path.into(),
            message: message.into(),
        }
    }

    /// An error about the whole file (for example: it could not be read).
    pub fn whole_file(origin: &str, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            line: 0,
            column: 0,
            key_path: String::new(),
            message: message.into(),
        }
    }
}

/// Every error found in one protocol, sorted by position; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProtocolErrors {
    errors: Vec<ProtocolError>,
}

impl ProtocolErrors {
    /// Collects errors, sorting them by line and column (stable, so equal positions keep the
    /// order in which they were found).
    pub fn new(mut errors: Vec<ProtocolError>) -> Self {
        errors.sort_by_key(|e| (e.line, e.column));
        Self { errors }
    }

    /// The errors, by position in the file.
    pub fn errors(&self) -> &[ProtocolError] {
        &self.errors
    }

    /// The number of errors.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether there are no errors (never true for a value returned by this layer).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl From<ProtocolError> for ProtocolErrors {
    fn from(error: ProtocolError) -> Self {
        Self::new(vec![error])
    }
}

impl IntoIterator for ProtocolErrors {
    type Item = ProtocolError;
    type IntoIter = std::vec::IntoIter<ProtocolError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl fmt::Display for ProtocolErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end or inside a
/// character are clamped to the nearest preceding character boundary.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Collects errors during validation, converting byte spans to positions.
pub(crate) struct Collector<'a> {
    text: &'a str,
    origin: &'a str,
    errors: Vec<ProtocolError>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(text: &'a str, origin: &'a str) -> Self {
        Self {
            text,
            origin,
            errors: Vec::new(),
        }
    }

    /// Records an error at the start of `span`.
    pub(crate) fn error(
        &mut self,
        span: &Range<usize>,
        key_path: &str,
        message: impl Into<String>,
    ) {
        self.errors.push(ProtocolError::at(
            self.text,
            self.origin,
            span.start,
            key_path,
            message,
        ));
    }

    /// The text being validated.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// Whether any error has been recorded.
    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The recorded errors.
    pub(crate) fn finish(self) -> ProtocolErrors {
        ProtocolErrors::new(self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes: the '=' after "bé " (byte 10) is the 4th character.
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn display_has_origin_position_key_and_message() {
        let e = ProtocolError::at("x\ny = 2", "p.toml", 2, "y", "must be 1");
        assert_eq!(e.to_string(), "p.toml:2:1: y: must be 1");
        let e = ProtocolError::whole_file("p.toml", "cannot read");
        assert_eq!(e.to_string(), "p.toml: cannot read");
    }
}
