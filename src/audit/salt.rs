//! Record salts (record format 2): a secret per-record value, derived from the trial's seed,
//! that the record's hash covers, so that a record whose payload is hidden from a blinded
//! viewer cannot be recovered by hashing its few possible payloads (METHODS.md §10).
//!
//! # Derivation, byte by byte
//!
//! ```text
//! salt = HMAC-SHA256( key = the trial's 32 seed bytes,
//!                     message = "bayestrial-record-salt" ‖ 0x00 ‖ chain ‖ 0x00 ‖ seq )
//! ```
//!
//! - `"bayestrial-record-salt"`: those 22 ASCII bytes ([`SALT_LABEL`]);
//! - `chain`: the UTF-8 bytes of the chain id as written, `trial:<trial id>`;
//! - `seq`: the record's sequence number as 8 bytes, big-endian.
//!
//! HMAC is RFC 2104 over SHA-256 (block size 64 bytes; the 32-byte key is zero-padded). The salt
//! is written as 64 lowercase hex digits. The test `salts_match_the_documented_derivation` pins
//! two values computed with Python's `hmac` module.
//!
//! This module derives and compares salts only; it decides nothing about which chains carry
//! them (that is [`super::RecordFormat`]) and must not log, store or display a seed.

use std::fmt;
use std::str::FromStr;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

use super::chain_id::ChainId;
use super::AuditError;
use crate::engine::TrialSeed;

/// The domain-separation label that starts every salt's HMAC message.
pub const SALT_LABEL: &[u8] = b"bayestrial-record-salt";

/// A record's salt: 32 bytes; shown, parsed and serialised as 64 lowercase hex digits.
///
/// The salt of a sealed record is as secret as its payload until the seed is revealed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Salt([u8; 32]);

impl Salt {
    /// The salt of record `seq` of `chain`, derived from `seed` (module docs).
    pub fn derive(seed: &TrialSeed, chain: &ChainId, seq: u64) -> Self {
        Self(hmac_of(seed, chain, seq).finalize().into_bytes().into())
    }

    /// Whether this is the salt of record `seq` of `chain` derived from `seed` (compared in
    /// constant time).
    pub fn is_derived_from(&self, seed: &TrialSeed, chain: &ChainId, seq: u64) -> bool {
        hmac_of(seed, chain, seq).verify_slice(&self.0).is_ok()
    }

    /// A salt from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The salt as 64 lowercase hex digits (as it is hashed).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// The HMAC of the salt's message, keyed by the seed, before finalisation.
fn hmac_of(seed: &TrialSeed, chain: &ChainId, seq: u64) -> Hmac<Sha256> {
    // RFC 2104 zero-pads a key shorter than the hash's 64-byte block; padding it here gives
    // the same MAC through the infallible fixed-size constructor.
    let mut key = [0_u8; 64];
    key[..32].copy_from_slice(seed.secret_bytes());
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&key.into());
    mac.update(SALT_LABEL);
    mac.update(&[0]);
    mac.update(chain.to_string().as_bytes());
    mac.update(&[0]);
    mac.update(&seq.to_be_bytes());
    mac
}

impl fmt::Display for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Salt({})", self.to_hex())
    }
}

impl FromStr for Salt {
    type Err = AuditError;
    /// Parses 64 hex digits (either case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| AuditError::Invalid {
            field: "salt",
            problem: format!("{text:?} is not a record salt (64 hex digits): {e}"),
        })?;
        Ok(Self(bytes))
    }
}

impl Serialize for Salt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Salt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> TrialSeed {
        let mut bytes = [0_u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        TrialSeed::from_bytes(bytes)
    }

    #[test]
    fn salts_match_the_documented_derivation() {
        // Python: hmac.new(bytes(range(32)), b"bayestrial-record-salt\0" + b"trial:T-1" +
        //         b"\0" + seq.to_bytes(8, "big"), hashlib.sha256).hexdigest()
        let chain = ChainId::trial("T-1").unwrap();
        assert_eq!(
            Salt::derive(&seed(), &chain, 1).to_hex(),
            "b2b49cf1646e31b4a30b861bd4ca4bf4f7f7a7b87ecc79b604e91fd79da12da9"
        );
        assert_eq!(
            Salt::derive(&seed(), &chain, 2).to_hex(),
            "51cbbb9aa72c900721f6307513f5bb9ed9731db6ed6c4bec569f252e2daa5eb0"
        );
    }

    #[test]
    fn a_salt_depends_on_seed_chain_and_seq_and_checks_as_derived() {
        let chain = ChainId::trial("T-1").unwrap();
        let salt = Salt::derive(&seed(), &chain, 7);
        assert!(salt.is_derived_from(&seed(), &chain, 7));
        assert!(!salt.is_derived_from(&seed(), &chain, 8));
        assert!(!salt.is_derived_from(&TrialSeed::from_u64(1), &chain, 7));
        let other = ChainId::trial("T-10").unwrap();
        assert!(!salt.is_derived_from(&seed(), &other, 7));
        assert_eq!(salt.to_hex().parse::<Salt>().unwrap(), salt);
        assert_eq!(salt.to_hex().to_uppercase().parse::<Salt>().unwrap(), salt);
        assert!("abc".parse::<Salt>().is_err());
        assert_eq!(
            serde_json::to_string(&salt).unwrap(),
            format!("\"{}\"", salt.to_hex())
        );
    }
}
