//! What an offline check reports: a file that cannot be read at all, or the place where an
//! export first fails verification or replay. Shared by the package reader and the verifier.

use std::fmt;

use serde::Serialize;

/// Why a file could not be checked at all, or where it first fails to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not an export (or a package) at all: usage error, exit code 2.
    #[error("{0}")]
    Unreadable(String),
}

/// Where and how an export fails verification (or replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineProblem {
    /// The chain (`trial:<id>` or `system`), or the file (`MANIFEST.json`, a file name) when
    /// the problem is not in a chain.
    pub place: String,
    /// The record's seq, when the problem is at a record.
    pub seq: Option<u64>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for OfflineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{} seq {seq}: {}", self.place, self.problem),
            None => write!(f, "{}: {}", self.place, self.problem),
        }
    }
}
