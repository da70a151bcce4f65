//! The clock and the source of secret randomness, injected so that tests and replays are exact.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::audit::UtcTimestamp;

/// Where the service reads the time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> UtcTimestamp;
}

/// The system clock, to the millisecond.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UtcTimestamp {
        timestamp(OffsetDateTime::now_utc())
    }
}

/// A clock for tests: starts at a given Unix time and advances one second per reading.
#[derive(Debug)]
pub struct SteppingClock {
    next: AtomicI64,
}

impl SteppingClock {
    /// Starts at `unix_seconds`.
    pub fn starting_at(unix_seconds: i64) -> Self {
        Self {
            next: AtomicI64::new(unix_seconds),
        }
    }
}

impl SteppingClock {
    /// Moves the clock `seconds` ahead at once (tests of backoffs and daily tasks, without
    /// waiting).
    pub fn advance(&self, seconds: i64) {
        self.next.fetch_add(seconds, Ordering::Relaxed);
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> UtcTimestamp {
        let seconds = self.next.fetch_add(1, Ordering::Relaxed);
        timestamp(
            OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    }
}

/// `at` moved by `seconds` (session expiry, throttling windows), as UTC RFC 3339 text.
pub fn shifted(at: &UtcTimestamp, seconds: i64) -> UtcTimestamp {
    let parsed = OffsetDateTime::parse(at.as_str(), &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    timestamp(parsed + time::Duration::seconds(seconds))
}

/// `at` as UTC RFC 3339 text with exactly three fraction digits (`…T09:30:05.000Z`), so that
/// times compare as text in the order they happened (session expiry, login throttling, the
/// audit trail's sort).
fn timestamp(at: OffsetDateTime) -> UtcTimestamp {
    let at = at.to_offset(time::UtcOffset::UTC);
    let text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    );
    UtcTimestamp::parse(&text).unwrap_or_else(|_| UtcTimestamp::epoch())
}

#[cfg(test)]
mod timestamp_tests {
    use super::*;

    #[test]
    fn times_have_three_fraction_digits_and_sort_as_text() {
        let whole = timestamp(
            OffsetDateTime::from_unix_timestamp(1_780_000_005)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        );
        let half = timestamp(
            OffsetDateTime::from_unix_timestamp_nanos(1_780_000_005_500_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        );
        assert!(whole.as_str().ends_with(":45.000Z"), "{whole}");
        assert!(half.as_str().ends_with(":45.500Z"), "{half}");
        assert!(whole.as_str() < half.as_str());
        assert_eq!(whole.as_str().len(), half.as_str().len());
        let later = shifted(&whole, 1);
        assert!(later.as_str().ends_with(":46.000Z") && later.as_str() > half.as_str());
    }
}

/// Where secret seeds, keys and tokens come from: the operating system, or (tests, benches) a
/// seeded generator so that a run can be repeated.
#[derive(Debug)]
pub enum Randomness {
    /// The operating system's generator.
    Os,
    /// A deterministic ChaCha20 stream.
    Seeded(Box<Mutex<ChaCha20Rng>>),
}

impl Randomness {
    /// A deterministic source seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self::Seeded(Box::new(Mutex::new(ChaCha20Rng::seed_from_u64(seed))))
    }

    /// 32 fresh bytes.
    pub fn bytes32(&self) -> [u8; 32] {
        let mut bytes = [0_u8; 32];
        match self {
            Self::Os => rand::rngs::OsRng.fill_bytes(&mut bytes),
            Self::Seeded(rng) => match rng.lock() {
                Ok(mut rng) => rng.fill_bytes(&mut bytes),
                Err(poisoned) => poisoned.into_inner().fill_bytes(&mut bytes),
            },
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_write_utc_rfc3339() {
        let clock = SteppingClock::starting_at(1_764_000_000);
        assert_eq!(clock.now().as_str(), "2025-11-24T16:00:00.000Z");
        assert_eq!(clock.now().as_str(), "2025-11-24T16:00:01.000Z");
        clock.advance(60);
        assert_eq!(clock.now().as_str(), "2025-11-24T16:01:02.000Z");
        assert!(SystemClock.now().as_str().ends_with('Z'));
    }
}
