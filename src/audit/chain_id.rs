//! Which chain a record belongs to: `system` or `trial:<trial id>`, parsed and checked once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AuditError;

/// Which chain a record belongs to: one per trial, and the system chain (users, roles, logins
/// and exports). Written `trial:<trial id>` or `system`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, std::hash::Hash)]
pub struct ChainId(Option<String>);

impl ChainId {
    /// The system chain.
    pub fn system() -> Self {
        Self(None)
    }

    /// A trial's chain. The id must be 1 to 128 characters without control characters or
    /// surrounding spaces.
    pub fn trial(id: &str) -> Result<Self, AuditError> {
        if id.is_empty()
            || id.chars().count() > 128
            || id.trim() != id
            || id.chars().any(char::is_control)
        {
            return Err(AuditError::Invalid {
                field: "chain",
                problem: format!(
                    "{id:?} is not a trial id: 1 to 128 characters, no control characters or surrounding spaces"
                ),
            });
        }
        Ok(Self(Some(id.to_owned())))
    }

    /// The trial's id, or `None` for the system chain.
    pub fn trial_id(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// Whether this is the system chain.
    pub fn is_system(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("system"),
            Some(id) => write!(f, "trial:{id}"),
        }
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({self})")
    }
}

impl FromStr for ChainId {
    type Err = AuditError;
    /// Parses `system` or `trial:<trial id>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "system" {
            return Ok(Self::system());
        }
        match text.strip_prefix("trial:") {
            Some(id) => Self::trial(id),
            None => Err(AuditError::Invalid {
                field: "chain",
                problem: format!("{text:?} is neither \"system\" nor \"trial:<trial id>\""),
            }),
        }
    }
}

impl Serialize for ChainId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChainId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
