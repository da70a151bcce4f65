//! What the validation tests share: a minimal valid protocol and a parse that reports its errors
//! as one string.

use crate::protocol::Protocol;

/// A valid platform protocol with two arms and every optional table left out.
pub(super) const MINIMAL: &str = r#"
[trial]
id = "T-1"
title = "Two arms"
design = "platform"
max_participants = 200

[outcome]
kind = "binary"
name = "Response"

[[arm]]
id = "a"

[[arm]]
id = "b"
"#;

/// The protocol, or its errors as one string.
pub(super) fn parse(text: &str) -> Result<Protocol, String> {
    Protocol::from_toml(text, "t.toml").map_err(|e| e.to_string())
}

/// [`MINIMAL`] with `extra` appended.
pub(super) fn with(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}
