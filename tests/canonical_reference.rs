//! The canonical JSON encoding and the protocol hash against the independent reference
//! (`tests/reference/generate_canonical.py`, which writes `canonical_cases.json` from the rules in
//! `METHODS.md` §8 with Python's own JSON and TOML parsers).

#![expect(clippy::expect_used, reason = "tests fail loudly")]

use bayestrial::canonical::canonical_json;
use bayestrial::protocol::{canonical_json as protocol_json, ProtocolHash};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn cases() -> Value {
    let text = std::fs::read_to_string("tests/reference/canonical_cases.json")
        .expect("tests/reference/canonical_cases.json");
    serde_json::from_str(&text).expect("reference JSON")
}

fn field<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {case}"))
}

#[test]
fn json_values_have_the_reference_canonical_text_and_hash() {
    let cases = cases();
    let json = cases["json"].as_array().expect("json cases");
    assert!(json.len() >= 6);
    for case in json {
        let value: Value = serde_json::from_str(field(case, "input")).expect("input parses");
        let text = canonical_json(&value).expect("encodable");
        assert_eq!(text, field(case, "canonical"), "{}", field(case, "input"));
        assert_eq!(
            hex::encode(Sha256::digest(text.as_bytes())),
            field(case, "sha256")
        );
        // Canonical text parsed and encoded again is the same text.
        let again: Value = serde_json::from_str(&text).expect("canonical text parses");
        assert_eq!(canonical_json(&again).expect("encodable"), text);
    }
}

#[test]
fn protocols_have_the_reference_canonical_text_hash_and_legacy_hash() {
    let cases = cases();
    let protocols = cases["protocols"].as_array().expect("protocol cases");
    assert!(protocols.len() >= 3);
    let mut differ = 0;
    for case in protocols {
        let toml = field(case, "toml");
        assert_eq!(
            protocol_json(toml, "case.toml").expect("hashable"),
            field(case, "canonical")
        );
        let hash = ProtocolHash::of_toml(toml, "case.toml").expect("hashable");
        assert_eq!(hash.to_hex(), field(case, "hash"), "{toml}");
        let legacy = ProtocolHash::legacy_of_toml(toml, "case.toml").expect("hashable");
        assert_eq!(legacy.to_hex(), field(case, "legacy_hash"), "{toml}");
        differ += usize::from(hash != legacy);
    }
    // At least one case (a string with a line break) tells the two encodings apart.
    assert!(differ >= 1);
}
