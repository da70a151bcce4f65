//! The canonical JSON encoding that every hash and signature of this program is computed over:
//! audit records, checkpoints and system events (`crate::audit`), and protocol documents
//! (`crate::protocol::ProtocolHash`, whose TOML is turned into JSON first).
//!
//! One JSON value has exactly one canonical text, so two parties who hold the same value compute
//! the same hash. The text is UTF-8 and is built by these rules:
//!
//! - **objects**: members sorted by the UTF-8 bytes of their keys (keys are unique in a value),
//!   written `{"key":value,…}`;
//! - **arrays**: elements in their order, `[a,b,…]`;
//! - **no insignificant whitespace** anywhere;
//! - **strings**: `"` then every character literally as UTF-8, except `"` → `\"`, `\` → `\\`
//!   and the control characters U+0000–U+001F → `\u00xx` (four lowercase hex digits; no short
//!   forms such as `\n`), then `"`. Nothing else is escaped (not `/`, not U+007F, not non-ASCII);
//! - **integers** (JSON numbers held as `u64`/`i64`) in decimal, without sign for ≥ 0 and without
//!   leading zeros: `0`, `42`, `-7`;
//! - **floats** (numbers held as `f64`) finite only — NaN and ±∞ are rejected with
//!   [`CanonicalError::NonFinite`]. A float is written from decimal digits d₁d₂…dₙ (d₁ ≠ 0, no
//!   trailing zeros) and an exponent E with d₁.d₂…dₙ × 10^E parsing back to exactly |x|: the
//!   fewest such digits; among candidates with that many, the one closest to |x|; between two
//!   equally close, the one whose last digit is even (as Ryū, Python's `repr` and ECMAScript
//!   choose; Rust's own `{:e}` breaks such ties upwards, so it is corrected here). Preceded by
//!   `-` when negative, it is laid out:
//!   - when −5 ≤ E ≤ 15, positionally, always with a decimal point and at least one digit after
//!     it: `0.25`, `123.456`, `5.0`, `0.00001`, `1000000000000000.0`;
//!   - otherwise in exponent form, `d₁[.d₂…dₙ]e±E` with an explicit sign: `1e-6`, `1.5e-7`,
//!     `1e+16`, `1.7976931348623157e+308`;
//!   - zero as `0.0` and negative zero as `-0.0`.
//!
//!   So `5` (integer) and `5.0` (float) are different texts. This is, character for character,
//!   what `serde_json` 1.0.154 prints for an `f64` (checked by a test over random bit patterns),
//!   but it is written here, not borrowed, so a change in a dependency's float formatting cannot
//!   change a hash: older `serde_json` releases printed `1e16` where this encoding, like the
//!   current release, prints `1e+16`. `f32` values are widened to `f64` first;
//! - `null`, `true`, `false` as themselves.
//!
//! This is not RFC 8785 (JCS): JCS sorts keys by UTF-16 code units and writes numbers as
//! ECMAScript does (`5` for 5.0). Parsing a canonical text with `serde_json` (feature
//! `float_roundtrip`, as this crate enables) and encoding it again gives the same text.
//!
//! This module is a leaf: it must not depend on anything but `serde`, `serde_json` and
//! `thiserror`, and nothing of this crate, because it defines bytes that verifiers outside this
//! program reproduce and both the audit layer and the protocol layer build on it. Test vectors
//! are in `METHODS.md` §8.

use std::fmt::Write as _;

use serde::ser::{self, Serialize};
use serde_json::{Number, Value};

/// Why a value has no canonical text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A value holds a NaN or an infinity, which JSON cannot represent.
    #[error("{path}: NaN and infinite numbers have no canonical JSON encoding")]
    NonFinite {
        /// Where in the value, as `$.field[index]…`.
        path: String,
    },
    /// A value could not be turned into JSON at all.
    #[error("cannot encode as JSON: {0}")]
    Encode(String),
}

/// The canonical text of a JSON value (see the module documentation for the rules).
///
/// Fails only for a number that is neither an integer nor a finite float (which `serde_json`
/// values cannot hold unless its `arbitrary_precision` feature is on).
pub fn canonical_json(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(&mut out, value, &mut String::from("$"))?;
    Ok(out)
}

/// The canonical text of any serialisable value: as [`canonical_json`] of its `serde_json`
/// form, except that a NaN or infinite float anywhere in it is an error (`serde_json` would
/// silently turn it into `null`).
pub fn canonical<T: Serialize + ?Sized>(value: &T) -> Result<String, CanonicalError> {
    value
        .serialize(&mut FiniteCheck::default())
        .map_err(|e| match e {
            CheckError::NonFinite(path) => CanonicalError::NonFinite { path },
            CheckError::Custom(message) => CanonicalError::Encode(message),
        })?;
    let json = serde_json::to_value(value).map_err(|e| CanonicalError::Encode(e.to_string()))?;
    canonical_json(&json)
}

fn write_value(out: &mut String, value: &Value, path: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n, path)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                let len = path.len();
                let _ = write!(path, "[{index}]");
                write_value(out, item, path)?;
                path.truncate(len);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (index, (key, item)) in members.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                let len = path.len();
                path.push('.');
                path.push_str(key);
                write_value(out, item, path)?;
                path.truncate(len);
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_number(out: &mut String, n: &Number, path: &str) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else {
        match n.as_f64() {
            Some(x) if x.is_finite() => write_float(out, x),
            _ => {
                return Err(CanonicalError::NonFinite {
                    path: path.to_owned(),
                })
            }
        }
    }
    Ok(())
}

/// Writes a finite float by the rules in the module documentation.
fn write_float(out: &mut String, x: f64) {
    if x.is_sign_negative() {
        out.push('-');
    }
    let x = x.abs();
    if x == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (digits, exponent) = shortest_digits(x);
    if (-5..=15).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            for _ in 0..(-exponent - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let whole = exponent as usize + 1;
            if digits.len() <= whole {
                out.push_str(&digits);
                for _ in digits.len()..whole {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..whole]);
                out.push('.');
                out.push_str(&digits[whole..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
}

/// The digits d₁…dₙ (no trailing zeros) and exponent E of |x| = d₁.d₂…dₙ × 10^E for a finite
/// x > 0: the fewest digits that parse back to x; among those, the closest to x; on a tie, the
/// one whose last digit is even.
fn shortest_digits(x: f64) -> (String, i32) {
    // `{:e}` gives the fewest digits that round-trip, but breaks ties between two equally
    // close candidates upwards; `{:.p$e}` rounds the exact value to p + 1 digits, ties to even.
    let shortest = split_scientific(&format!("{x:e}"));
    let closest = split_scientific(&format!("{x:.*e}", shortest.0.len().saturating_sub(1)));
    let text = format!("{}.{}e{}", &closest.0[..1], &closest.0[1..], closest.1);
    if closest.0.len() <= shortest.0.len() && text.parse::<f64>() == Ok(x) {
        closest
    } else {
        shortest
    }
}

/// Splits Rust's `d[.ddd]e[-]E` into its digits without trailing zeros (at least one) and E.
fn split_scientific(text: &str) -> (String, i32) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    if digits.is_empty() {
        digits.push('0');
    }
    (digits, exponent.parse().unwrap_or(0))
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// -------------------------------------------------------------------------------------------
// A serializer that only looks for NaN and infinities, remembering where it is.

#[derive(Debug)]
enum CheckError {
    NonFinite(String),
    Custom(String),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NonFinite(path) => write!(f, "{path}: not a finite number"),
            Self::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CheckError {}

impl ser::Error for CheckError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Self::Custom(message.to_string())
    }
}

/// Walks a value as a serializer; the path names the field being visited.
struct FiniteCheck {
    path: String,
    /// Start of the current segment in `path` and the next index, one per open sequence.
    indices: Vec<(usize, usize)>,
    /// Length of `path` before the current map key's segment, one per open map entry.
    keys: Vec<usize>,
}

impl Default for FiniteCheck {
    fn default() -> Self {
        Self {
            path: String::from("$"),
            indices: Vec::new(),
            keys: Vec::new(),
        }
    }
}

impl FiniteCheck {
    fn float(&self, x: f64) -> Result<(), CheckError> {
        if x.is_finite() {
            Ok(())
        } else {
            Err(CheckError::NonFinite(self.path.clone()))
        }
    }

    fn open_sequence(&mut self) {
        self.indices.push((self.path.len(), 0));
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CheckError> {
        let (len, index) = match self.indices.last_mut() {
            Some((len, index)) => {
                let current = *index;
                *index += 1;
                (*len, current)
            }
            None => (self.path.len(), 0),
        };
        let _ = write!(self.path, "[{index}]");
        let result = value.serialize(&mut *self);
        self.path.truncate(len);
        result
    }

    fn close_sequence(&mut self) {
        self.indices.pop();
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), CheckError> {
        let len = self.path.len();
        self.path.push('.');
        self.path.push_str(name);
        let result = value.serialize(&mut *self);
        self.path.truncate(len);
        result
    }
}

impl ser::Serializer for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, _: bool) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), CheckError> {
        self.float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), CheckError> {
        self.float(v)
    }
    fn serialize_char(self, _: char) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CheckError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), CheckError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CheckError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CheckError> {
        self.field(variant, value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, CheckError> {
        self.open_sequence();
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, CheckError> {
        self.open_sequence();
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, CheckError> {
        self.open_sequence();
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CheckError> {
        self.open_sequence();
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, CheckError> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, CheckError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CheckError> {
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CheckError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CheckError> {
        self.close_sequence();
        Ok(())
    }
}

impl ser::SerializeTuple for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CheckError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CheckError> {
        self.close_sequence();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CheckError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CheckError> {
        self.close_sequence();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CheckError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CheckError> {
        self.close_sequence();
        Ok(())
    }
}

impl ser::SerializeMap for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CheckError> {
        // Remember the key's text (when it has one) to name the value that follows.
        let name = match serde_json::to_value(key) {
            Ok(Value::String(s)) => s,
            _ => String::from("<key>"),
        };
        self.keys.push(self.path.len());
        self.path.push('.');
        self.path.push_str(&name);
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CheckError> {
        let result = value.serialize(&mut **self);
        if let Some(len) = self.keys.pop() {
            self.path.truncate(len);
        }
        result
    }
    fn end(self) -> Result<(), CheckError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CheckError> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), CheckError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut FiniteCheck {
    type Ok = ();
    type Error = CheckError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CheckError> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), CheckError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::json;

    fn text(value: &Value) -> String {
        canonical_json(value).unwrap()
    }

    #[test]
    fn key_order_and_whitespace_do_not_change_the_output() {
        let a: Value = serde_json::from_str(r#"{ "b" : 1, "a" : [true, null, "x"] }"#).unwrap();
        let b: Value = serde_json::from_str("{\"a\":[true,null,\"x\"],\n\t\"b\":1}").unwrap();
        assert_eq!(text(&a), r#"{"a":[true,null,"x"],"b":1}"#);
        assert_eq!(text(&a), text(&b));
    }

    #[test]
    fn nested_objects_are_sorted_at_every_level() {
        let value = json!({"z": {"y": {"b": 2, "a": 1}, "x": []}, "_": {}, "A": 0});
        assert_eq!(
            text(&value),
            r#"{"A":0,"_":{},"z":{"x":[],"y":{"a":1,"b":2}}}"#
        );
    }

    #[test]
    fn keys_sort_by_utf8_bytes_not_utf16_units() {
        // U+FF61 (EF BD A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16.
        let value = json!({"\u{1F600}": 1, "\u{FF61}": 2, "é": 3, "z": 4});
        assert_eq!(
            text(&value),
            "{\"z\":4,\"é\":3,\"\u{FF61}\":2,\"\u{1F600}\":1}"
        );
    }

    #[test]
    fn strings_use_minimal_escapes_and_literal_unicode() {
        let value = json!(
            "quote \" backslash \\ slash / tab \t newline \n nul \u{0} del \u{7f} é ✓ 😀 \u{2028}"
        );
        assert_eq!(
            text(&value),
            "\"quote \\\" backslash \\\\ slash / tab \\u0009 newline \\u000a nul \\u0000 del \u{7f} é ✓ 😀 \u{2028}\""
        );
        let back: Value = serde_json::from_str(&text(&value)).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn integers_and_floats_are_distinct_and_fixed() {
        let cases: [(Value, &str); 16] = [
            (json!(0), "0"),
            (json!(-7), "-7"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(i64::MIN), "-9223372036854775808"),
            (json!(5.0), "5.0"),
            (json!(0.0), "0.0"),
            (json!(-0.0), "-0.0"),
            (json!(0.25), "0.25"),
            (json!(0.1 + 0.2), "0.30000000000000004"),
            (json!(1e-5), "0.00001"),
            (json!(2.5e-6), "2.5e-6"),
            (json!(1e15), "1000000000000000.0"),
            (json!(1e16), "1e+16"),
            (json!(-1.25e300), "-1.25e+300"),
            (json!(5e-324), "5e-324"),
            (json!(f64::MAX), "1.7976931348623157e+308"),
        ];
        for (value, expected) in cases {
            assert_eq!(text(&value), expected, "{value:?}");
        }
    }

    #[test]
    fn ties_between_shortest_candidates_go_to_the_even_digit() {
        // Exactly 1334391750902227.25: both …227.2 and …227.3 parse back to it.
        let x = f64::from_bits(4_833_196_367_544_780_621);
        assert_eq!(canonical(&x).unwrap(), "1334391750902227.2");
        assert_eq!(canonical(&-x).unwrap(), "-1334391750902227.2");
    }

    #[test]
    fn a_float_round_trips_exactly() {
        for x in [
            0.1_f64,
            1.0 / 3.0,
            0.123_456_789_012_345_68,
            6.02214076e23,
            4.9e-300,
        ] {
            let encoded = canonical(&x).unwrap();
            let back: f64 = serde_json::from_str(&encoded).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{encoded}");
        }
    }

    #[test]
    fn nan_and_infinities_are_rejected_with_their_path() {
        #[derive(Serialize)]
        struct Share {
            arm: &'static str,
            probability: f64,
        }
        #[derive(Serialize)]
        struct Update {
            probabilities: Vec<Share>,
        }
        let update = Update {
            probabilities: vec![
                Share {
                    arm: "a",
                    probability: 0.5,
                },
                Share {
                    arm: "b",
                    probability: f64::NAN,
                },
            ],
        };
        assert_eq!(
            canonical(&update),
            Err(CanonicalError::NonFinite {
                path: "$.probabilities[1].probability".into()
            })
        );
        assert!(matches!(
            canonical(&vec![1.0, f64::INFINITY]),
            Err(CanonicalError::NonFinite { .. })
        ));
        let mut map = std::collections::BTreeMap::new();
        map.insert("x", f64::NEG_INFINITY);
        assert_eq!(
            canonical(&map),
            Err(CanonicalError::NonFinite { path: "$.x".into() })
        );
        assert_eq!(canonical(&Some(1.5_f32)).unwrap(), "1.5");
    }

    #[test]
    fn canonical_of_a_struct_equals_canonical_of_its_value() {
        #[derive(Serialize)]
        struct Record {
            zeta: u32,
            alpha: Option<String>,
            mid: Vec<f64>,
        }
        let record = Record {
            zeta: 3,
            alpha: None,
            mid: vec![1.0, 0.5],
        };
        assert_eq!(
            canonical(&record).unwrap(),
            r#"{"alpha":null,"mid":[1.0,0.5],"zeta":3}"#
        );
    }

    #[test]
    fn floats_at_the_layout_boundaries_match_serde_json() {
        for edge in [1e-5, 1e16, 1e15, 1e-4, 1e-6, 9.5, 0.5, 1.0, 2.0] {
            let mut x: f64 = edge;
            for _ in 0..3 {
                x = f64::from_bits(x.to_bits() - 1);
            }
            for _ in 0..7 {
                for y in [x, -x] {
                    assert_eq!(canonical(&y).unwrap(), serde_json::to_string(&y).unwrap());
                }
                x = f64::from_bits(x.to_bits() + 1);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Every finite double: our text is what serde_json 1.0.154 prints, parses back to the
        /// same bits, and is stable under parse-and-encode.
        #[test]
        fn floats_match_serde_json_and_round_trip(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            if !x.is_finite() {
                return Ok(());
            }
            let ours = canonical(&x).unwrap();
            prop_assert_eq!(&ours, &serde_json::to_string(&x).unwrap());
            let back: f64 = serde_json::from_str(&ours).unwrap();
            prop_assert_eq!(back.to_bits(), x.to_bits());
            let reparsed: Value = serde_json::from_str(&ours).unwrap();
            prop_assert_eq!(canonical_json(&reparsed).unwrap(), ours);
        }

        #[test]
        fn strings_round_trip(s in any::<String>()) {
            let encoded = canonical(&s).unwrap();
            let back: String = serde_json::from_str(&encoded).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
