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

fn timestamp(at: OffsetDateTime) -> UtcTimestamp {
    let at = at
        .replace_nanosecond(at.millisecond() as u32 * 1_000_000)
        .unwrap_or(at);
    let text = at
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
    // RFC 3339 from `time` is already UTC with `Z`; the parse only re-checks the spelling.
    UtcTimestamp::parse(&text).unwrap_or_else(|_| UtcTimestamp::epoch())
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
        assert_eq!(clock.now().as_str(), "2025-11-24T16:00:00Z");
        assert_eq!(clock.now().as_str(), "2025-11-24T16:00:01Z");
        assert!(SystemClock.now().as_str().ends_with('Z'));
    }
}
