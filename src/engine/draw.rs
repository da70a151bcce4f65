//! Seed-derived random draws: every draw is a pure function of (trial seed, event sequence
//! number), so any single draw can be re-derived alone, in any order, by anyone holding the seed.

use rand::{Rng, SeedableRng};
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

    /// The seed as 64 lowercase hexadecimal characters (only for the unblinded export).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The public commitment: hex SHA-256 of the 32 seed bytes.
    pub fn commitment(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// The uniform draw in [0, 1) for the event with sequence number `seq`: the first 53-bit
    /// double from ChaCha20 keyed by the seed, on stream `seq`.
    pub fn draw(&self, seq: u64) -> f64 {
        let mut rng = ChaCha20Rng::from_seed(self.0);
        rng.set_stream(seq);
        rng.gen::<f64>()
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
    fn hex_round_trip_and_commitment() -> Result<(), String> {
        let seed = TrialSeed::from_u64(1);
        assert_eq!(TrialSeed::from_hex(&seed.to_hex())?, seed);
        assert_eq!(seed.commitment().len(), 64);
        assert!(TrialSeed::from_hex("abc").is_err());
        Ok(())
    }
}
