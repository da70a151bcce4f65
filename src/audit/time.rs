//! UTC timestamps as audit records and checkpoints carry them: RFC 3339 text in UTC.
//!
//! The audit layer never reads the clock; the caller passes the time in, and this type only
//! checks that the text is a real UTC instant in the one spelling the audit trail accepts, so
//! that the text that is hashed is unambiguous. It must not convert between time zones or parse
//! anything looser than that spelling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::AuditError;

/// An instant in UTC written as RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fraction]Z`: upper-case `T` and
/// `Z`, no offset other than `Z`, 1 to 9 fraction digits when present, a valid calendar date
/// (years 0000–9999, leap years by the Gregorian rule), hours 00–23, minutes 00–59 and seconds
/// 00–60 (60 for a leap second). The text is kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, std::hash::Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UtcTimestamp(String);

impl UtcTimestamp {
    /// Checks and wraps a UTC RFC 3339 timestamp such as `2026-03-01T09:30:00Z`.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        check(text).map_err(|problem| AuditError::Invalid {
            field: "timestamp",
            problem: format!(
                "{text:?} is not a UTC RFC 3339 time such as 2026-03-01T09:30:00Z: {problem}"
            ),
        })?;
        Ok(Self(text.to_owned()))
    }

    /// 1970-01-01T00:00:00Z.
    pub fn epoch() -> Self {
        Self("1970-01-01T00:00:00Z".to_owned())
    }

    /// The timestamp's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check(text: &str) -> Result<(), &'static str> {
    let b = text.as_bytes();
    if !text.ends_with('Z') {
        return Err("it must end with Z (UTC)");
    }
    if b.len() < 20 {
        return Err("it is too short");
    }
    let digits = |range: std::ops::Range<usize>| -> Result<u32, &'static str> {
        let part = &b[range];
        if part.iter().all(u8::is_ascii_digit) {
            Ok(part.iter().fold(0_u32, |n, d| n * 10 + u32::from(d - b'0')))
        } else {
            Err("a date or time field is not all digits")
        }
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return Err("the separators must be YYYY-MM-DDTHH:MM:SS");
    }
    let year = digits(0..4)?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) {
        return Err("the month must be 01 to 12");
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days {
        return Err("the day does not exist in that month");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("the time of day is out of range");
    }
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        let fraction = rest
            .strip_prefix(b".")
            .ok_or("only a fraction may follow the seconds")?;
        if fraction.is_empty() || fraction.len() > 9 || !fraction.iter().all(u8::is_ascii_digit) {
            return Err("the fraction of a second must have 1 to 9 digits");
        }
    }
    Ok(())
}

impl fmt::Display for UtcTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UtcTimestamp {
    type Err = AuditError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for UtcTimestamp {
    type Error = AuditError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<UtcTimestamp> for String {
    fn from(time: UtcTimestamp) -> Self {
        time.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_utc_rfc3339() {
        for ok in [
            "2026-03-01T09:30:00Z",
            "2024-02-29T23:59:60Z",
            "2026-12-31T00:00:00.5Z",
            "2026-01-01T00:00:00.123456789Z",
            "0000-01-01T00:00:00Z",
        ] {
            assert_eq!(UtcTimestamp::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "2026-03-01T09:30:00",
            "2026-03-01T09:30:00+00:00",
            "2026-03-01T09:30:00z",
            "2026-03-01t09:30:00Z",
            "2026-03-01 09:30:00Z",
            "2026-3-01T09:30:00Z",
            "2026-13-01T09:30:00Z",
            "2025-02-29T09:30:00Z",
            "1900-02-29T09:30:00Z",
            "2026-04-31T09:30:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T09:60:00Z",
            "2026-03-01T09:30:00.Z",
            "2026-03-01T09:30:00.1234567890Z",
            "2026-03-01T09:30:00,5Z",
            "２026-03-01T09:30:00Z",
        ] {
            assert!(UtcTimestamp::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_validates() {
        let ok: UtcTimestamp = serde_json::from_str("\"2026-03-01T09:30:00Z\"").unwrap();
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            "\"2026-03-01T09:30:00Z\""
        );
        assert!(serde_json::from_str::<UtcTimestamp>("\"2026-03-01T09:30:00+01:00\"").is_err());
    }
}
