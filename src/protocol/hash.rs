//! The canonical hash of a protocol document, which signatures and the audit trail bind to.
//!
//! The hash is SHA-256 of the [`crate::canonical`] encoding (the one audit records are hashed
//! over) of the parsed TOML document turned into JSON (not of the validated [`Protocol`], so that
//! every key written, including scenarios and explicit defaults, is covered):
//!
//! - tables become objects, arrays stay arrays, strings stay strings;
//! - integers stay integers and floats stay floats, so `5` and `5.0` differ;
//! - booleans stay booleans; datetimes become strings in their RFC 3339 form;
//! - a NaN or infinite float has no encoding: such a document has no hash and is refused.
//!
//! So formatting, key order, table style (`[a]` vs inline) and comments do not change the hash,
//! and any change of a value does. Nothing here validates the protocol.
//!
//! # The legacy encoding
//!
//! Trials created before the encodings were unified bound their protocol versions to a hash of
//! another encoding ([`ProtocolHash::legacy_of_toml`]): strings escaped as `serde_json` escapes
//! them (`\n`, not `\u000a`), and NaN and infinities written as the strings `"nan"`, `"inf"`
//! and `"-inf"` (so `x = nan` and `x = "nan"` had the same hash). It is kept only so that those
//! trials still verify: [`LoadedProtocol::binds`] accepts it for a document that has a hash in
//! today's encoding (no NaN or infinity), where it is as unambiguous as today's. New protocol
//! versions are always stored with today's hash.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use serde_json::{Number, Value};

use super::error::{ProtocolError, ProtocolErrors};
use super::model::Protocol;
use super::parse::{check_text, read_file, toml_error};
use crate::canonical;

/// SHA-256 of a protocol's canonical JSON encoding; shown and serialised as 64 lowercase hex
/// digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolHash(pub [u8; 32]);

impl ProtocolHash {
    /// The hash of protocol text. Only TOML syntax is checked; `origin` names the text in errors.
    pub fn of_toml(text: &str, origin: &str) -> Result<Self, ProtocolErrors> {
        let json = canonical_json(text, origin)?;
        Ok(Self(Sha256::digest(json.as_bytes()).into()))
    }

    /// The hash of protocol text in the legacy encoding (module documentation), which trials
    /// created before the encodings were unified bound their protocol versions to.
    pub fn legacy_of_toml(text: &str, origin: &str) -> Result<Self, ProtocolErrors> {
        let json = legacy_json(&parse_table(text, origin)?, text.len());
        Ok(Self(Sha256::digest(json.as_bytes()).into()))
    }

    /// The hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ProtocolHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ProtocolHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolHash({})", self.to_hex())
    }
}

impl FromStr for ProtocolHash {
    type Err = String;
    /// Parses 64 hex digits (either case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|e| format!("{text:?} is not a protocol hash (64 hex digits): {e}"))?;
        Ok(Self(bytes))
    }
}

impl Serialize for ProtocolHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ProtocolHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A validated protocol together with the exact text it came from and that text's hash: what a
/// signature or a trial record binds to.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedProtocol {
    /// The validated protocol.
    pub protocol: Protocol,
    /// [`ProtocolHash::of_toml`] of `source`.
    pub hash: ProtocolHash,
    /// The protocol text exactly as read.
    pub source: String,
}

impl LoadedProtocol {
    /// Validates and hashes protocol text.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ProtocolErrors> {
        let protocol = Protocol::from_toml(text, origin)?;
        let hash = ProtocolHash::of_toml(text, origin)?;
        Ok(Self {
            protocol,
            hash,
            source: text.to_owned(),
        })
    }

    /// Whether a stored protocol hash (64 hex digits) binds this protocol's text: it is the
    /// text's hash, or (for trials created before the encodings were unified) its legacy hash.
    pub fn binds(&self, stored: &str) -> bool {
        let Ok(stored) = stored.parse::<ProtocolHash>() else {
            return false;
        };
        stored == self.hash
            || ProtocolHash::legacy_of_toml(&self.source, "").is_ok_and(|legacy| legacy == stored)
    }

    /// Reads, validates and hashes a protocol file; errors name the path as given.
    pub fn load(path: &Path) -> Result<Self, ProtocolErrors> {
        let origin = path.display().to_string();
        let text = read_file(path, &origin)?;
        Self::from_toml(&text, &origin)
    }
}

/// The canonical JSON encoding of a TOML document (see the module documentation); `origin`
/// names the text in errors.
pub fn canonical_json(text: &str, origin: &str) -> Result<String, ProtocolErrors> {
    let table = parse_table(text, origin)?;
    let mut path = String::new();
    let json = table_to_json(&table, &mut path).map_err(|key_path| {
        ProtocolErrors::from(ProtocolError {
            origin: origin.to_owned(),
            line: 0,
            column: 0,
            key_path,
            message: "NaN and infinite numbers have no canonical encoding: write a finite number"
                .into(),
        })
    })?;
    canonical::canonical_json(&json).map_err(|e| {
        ProtocolErrors::from(ProtocolError::whole_file(
            origin,
            format!("no canonical encoding: {e}"),
        ))
    })
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ProtocolErrors> {
    check_text(text, origin)?;
    toml::from_str(text).map_err(|e| ProtocolErrors::from(toml_error(text, origin, &e)))
}

/// The JSON form of a TOML table; a non-finite float is an error naming its key path.
fn table_to_json(table: &toml::Table, path: &mut String) -> Result<Value, String> {
    let mut object = serde_json::Map::with_capacity(table.len());
    for (key, value) in table {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        object.insert(key.clone(), value_to_json(value, path)?);
        path.truncate(len);
    }
    Ok(Value::Object(object))
}

fn value_to_json(value: &toml::Value, path: &mut String) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(x) => Value::Number(Number::from_f64(*x).ok_or_else(|| path.clone())?),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                out.push(value_to_json(item, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        toml::Value::Table(table) => table_to_json(table, path)?,
    })
}

/// The legacy encoding of a parsed TOML document (module documentation, "The legacy encoding").
fn legacy_json(table: &toml::Table, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    write_table(&mut out, table);
    out
}

fn write_table(out: &mut String, table: &toml::Table) {
    let mut entries: Vec<(&String, &toml::Value)> = table.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (index, (key, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

fn write_value(out: &mut String, value: &toml::Value) {
    match value {
        toml::Value::String(s) => write_string(out, s),
        toml::Value::Integer(i) => out.push_str(&i.to_string()),
        toml::Value::Float(x) => write_float(out, *x),
        toml::Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        toml::Value::Datetime(d) => write_string(out, &d.to_string()),
        toml::Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        toml::Value::Table(table) => write_table(out, table),
    }
}

fn write_float(out: &mut String, x: f64) {
    if x.is_nan() {
        write_string(out, "nan");
    } else if x.is_infinite() {
        write_string(out, if x > 0.0 { "inf" } else { "-inf" });
    } else {
        // serde_json writes finite floats in shortest round-trip form, always with a decimal
        // point or an exponent. Its exponent spelling has changed between versions (1e16 vs
        // 1e+16), so Cargo.lock pins it; hashes of protocols with floats ≥ 1e16 depend on it.
        match serde_json::to_string(&x) {
            Ok(text) => out.push_str(&text),
            Err(_) => write_string(out, &x.to_string()),
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(text) => out.push_str(&text),
        // Serialising a &str cannot fail; keep a lossless fallback anyway.
        Err(_) => {
            out.push('"');
            for c in s.chars() {
                out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
            }
            out.push('"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"
# A comment
[trial]
id = "T-1"
max_participants = 200
rate = 0.25

[[arm]]
id = "a"
prior = { beta = [1.0, 2.0] }

[[arm]]
id = "b"
"#;

    const REFORMATTED: &str = r#"[[arm]]
id="a"   # other comment
[arm.prior]
beta=[ 1.0,
  2.0, ]
[[arm]]
  id = 'b'

[trial]
rate = 2.5e-1
max_participants = 200
id = "T-1"
"#;

    fn hash(text: &str) -> ProtocolHash {
        ProtocolHash::of_toml(text, "t.toml").unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_and_keeps_number_types() {
        let json =
            canonical_json("b = 1\na = 1.0\nc = { z = \"x\", y = [1e-7, true] }", "t").unwrap();
        assert_eq!(json, r#"{"a":1.0,"b":1,"c":{"y":[1e-7,true],"z":"x"}}"#);
    }

    #[test]
    fn formatting_order_and_comments_do_not_change_the_hash() {
        assert_eq!(hash(ORIGINAL), hash(REFORMATTED));
    }

    #[test]
    fn changing_any_value_changes_the_hash() {
        let h = hash(ORIGINAL);
        assert_ne!(h, hash(&ORIGINAL.replace("200", "201")));
        assert_ne!(h, hash(&ORIGINAL.replace("[1.0, 2.0]", "[1.0, 2.5]")));
        assert_ne!(h, hash(&ORIGINAL.replace("id = \"b\"", "id = \"c\"")));
        // an integer and a float of the same size are different values
        assert_ne!(h, hash(&ORIGINAL.replace("[1.0, 2.0]", "[1, 2.0]")));
    }

    #[test]
    fn hash_is_hex_in_display_and_serde() {
        let h = hash(ORIGINAL);
        let text = h.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<ProtocolHash>().unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<ProtocolHash>(&json).unwrap(), h);
    }

    #[test]
    fn non_finite_numbers_have_no_hash_and_are_named() {
        for text in ["x = nan", "[a]\nb = [1.0, inf]", "c = { d = -inf }"] {
            let e = ProtocolHash::of_toml(text, "t.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains("NaN and infinite"), "{e}");
        }
        let e = ProtocolHash::of_toml("[a]\nb = [1.0, inf]", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.b[1]"), "{e}");
        // The legacy encoding wrote NaN as the string "nan": the ambiguity that is gone.
        assert_eq!(
            ProtocolHash::legacy_of_toml("x = nan", "t").unwrap(),
            ProtocolHash::legacy_of_toml("x = \"nan\"", "t").unwrap()
        );
    }

    #[test]
    fn strings_are_escaped_as_the_audit_records_escape_them() {
        let json = canonical_json("s = \"a\\nb\\u0001\\\"/\"", "t").unwrap();
        assert_eq!(json, r#"{"s":"a\u000ab\u0001\"/"}"#);
    }

    #[test]
    fn a_version_binds_its_hash_and_its_legacy_hash_only() {
        let text = "[trial]\nnote = \"two\\nlines\"\n";
        let loaded = LoadedProtocol {
            protocol: Protocol::from_toml(
                &std::fs::read_to_string("protocols/three-arm-pbest.toml").unwrap(),
                "x",
            )
            .unwrap(),
            hash: ProtocolHash::of_toml(text, "t").unwrap(),
            source: text.to_owned(),
        };
        let legacy = ProtocolHash::legacy_of_toml(text, "t").unwrap();
        assert_ne!(legacy, loaded.hash);
        assert!(loaded.binds(&loaded.hash.to_hex()));
        assert!(loaded.binds(&legacy.to_hex()));
        assert!(!loaded.binds(&hash(ORIGINAL).to_hex()));
        assert!(!loaded.binds("not a hash"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = ProtocolHash::of_toml("a = \n", "t.toml").unwrap_err();
        assert!(e.to_string().starts_with("t.toml:1:"), "{e}");
    }
}
