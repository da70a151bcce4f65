//! Seed-derived random draws: every draw is a pure function of (trial seed, event sequence
//! number), so any single draw can be re-derived alone, in any order, by anyone holding the seed.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A trial's secret randomisation seed (256 bits).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrialSeed([u8; 32]);

impl std::fmt::Debug for TrialSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret by accident.
        f.write_str("TrialSeed(…)")
    }
}

impl TrialSeed {
    /// A seed from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A seed derived from a 64-bit number (simulation, tests): SHA-256 of its little-endian
    /// bytes.
    pub fn from_u64(value: u64) -> Self {
        Self(Sha256::digest(value.to_le_bytes()).into())
    }

    /// Parses 64 hexadecimal characters.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text).map_err(|e| format!("seed is not hexadecimal: {e}"))?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "seed must be 64 hexadecimal characters (32 bytes)".to_owned())?;
        Ok(Self(array))
    }

    /// The 32 secret bytes, for keyed derivations from the seed (the audit trail's record
    /// salts, `crate::audit::Salt::derive`). Never log or display them.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The seed as 64 lowercase hexadecimal characters (only for the unblinded export).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The public commitment: hex SHA-256 of the 32 seed bytes.
    pub fn commitment(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// The uniform draw in [0, 1) for the event with sequence number `seq`: the 64-bit word at
    /// word position 2·seq (32-bit words) of the ChaCha20 keystream keyed by the seed (stream 0),
    /// reduced to its top 53 bits: (x >> 11) · 2⁻⁵³.
    pub fn draw(&self, seq: u64) -> f64 {
        let mut rng = ChaCha20Rng::from_seed(self.0);
        rng.set_word_pos(2 * u128::from(seq));
        unit(rng.next_u64())
    }
}

/// The top 53 bits of `x` as a double in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
}

/// 64-bit keystream words per refill: one 256-byte ChaCha20 buffer.
const WORDS: usize = 32;

/// The same draws as [`TrialSeed::draw`], computed 32 keystream words at a time: consecutive
/// sequence numbers share a ChaCha20 buffer instead of computing one each.
#[derive(Clone)]
pub struct DrawCache {
    rng: ChaCha20Rng,
    base: Option<u64>,
    words: [u64; WORDS],
}

impl std::fmt::Debug for DrawCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DrawCache(…)")
    }
}

impl DrawCache {
    /// A cache for `seed`.
    pub fn new(seed: &TrialSeed) -> Self {
        Self {
            rng: ChaCha20Rng::from_seed(seed.0),
            base: None,
            words: [0; WORDS],
        }
    }

    /// [`TrialSeed::draw`] of `seq`.
    pub fn draw(&mut self, seq: u64) -> f64 {
        let word = 2 * seq;
        let base = word - word % (2 * WORDS as u64);
        if self.base != Some(base) {
            self.rng.set_word_pos(u128::from(base));
            for slot in &mut self.words {
                *slot = self.rng.next_u64();
            }
            self.base = Some(base);
        }
        unit(self.words[((word - base) / 2) as usize])
    }
}

impl TryFrom<String> for TrialSeed {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_hex(&value)
    }
}

impl From<TrialSeed> for String {
    fn from(value: TrialSeed) -> Self {
        value.to_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_depend_only_on_seed_and_seq() {
        let seed = TrialSeed::from_u64(7);
        let forward: Vec<f64> = (1..=50).map(|s| seed.draw(s)).collect();
        let backward: Vec<f64> = (1..=50).rev().map(|s| seed.draw(s)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        assert!(forward.iter().all(|u| (0.0..1.0).contains(u)));
        assert_ne!(forward[0], forward[1]);
        assert_ne!(seed.draw(1), TrialSeed::from_u64(8).draw(1));
    }

    #[test]
    fn the_cache_gives_the_same_draws_as_a_lone_derivation() {
        let seed = TrialSeed::from_u64(99);
        let mut cache = DrawCache::new(&seed);
        for seq in [5, 1, 2, 3, 40, 33, 31, 32, 1000, 7, 64, 63] {
            assert_eq!(
                cache.draw(seq).to_bits(),
                seed.draw(seq).to_bits(),
                "seq {seq}"
            );
        }
    }

    #[test]
    fn hex_round_trip_and_commitment() -> Result<(), String> {
        let seed = TrialSeed::from_u64(1);
        assert_eq!(TrialSeed::from_hex(&seed.to_hex())?, seed);
        assert_eq!(seed.commitment().len(), 64);
        assert!(TrialSeed::from_hex("abc").is_err());
        Ok(())
    }
}
