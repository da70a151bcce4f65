//! Signed checkpoints: the server's Ed25519 key signs the head of a chain (its sequence number
//! and hash) after every committed command (trial chains and the system chain, in the command's
//! own transaction), so that a chain edited and re-hashed, or cut short, after a checkpoint no
//! longer matches it. Each checkpoint also names the sequence number of the chain's previous
//! checkpoint, so the checkpoints of a chain form a signed chain of their own: deleting one in
//! the middle breaks the next one's link ([`verify_checkpoint_sequence`]).
//!
//! # Byte layout of a checkpoint signature
//!
//! ```text
//! signature = Ed25519-Sign(secret key, M)        (RFC 8032 pure Ed25519: no pre-hash, no context)
//! M = UTF-8 bytes of the canonical JSON of
//!     {"chain":C,"head_hash":H,"previous":V,"public_key":K,"purpose":P,"seq":N,"signed_at":T}
//! ```
//!
//! that is, every field of the [`Checkpoint`] but `signature`, encoded by
//! [`super::canonical_json`]: `C` is `"system"` or `"trial:<trial id>"`, `H` the head record's
//! hash and `K` the 32-byte Ed25519 public key, each as lowercase hex; `V` the sequence number
//! of the head signed by the chain's previous checkpoint (0 for its first); `P` is `"command"`,
//! `"look"`, `"export"` or `"manual"`; `N` the head record's sequence number; `T` the UTC
//! RFC 3339 time of signing. The signature is stored as 128 lowercase hex digits (the 64 bytes
//! R ‖ S) and is checked with strict verification (`verify_strict`: no small-order keys,
//! canonical S).
//!
//! Checkpoints signed before the link existed (checkpoint format 1) have no `previous` key in
//! their signed text: `M` is the canonical JSON of
//! `{"chain":C,"head_hash":H,"public_key":K,"purpose":P,"seq":N,"signed_at":T}`. They still
//! verify ([`Checkpoint::previous`] is `None`), and count as a predecessor for the linked ones
//! that follow them.
//!
//! # Key file format
//!
//! [`ServerKey::to_hex`] writes the 32-byte Ed25519 secret key (the RFC 8032 seed) as 64
//! lowercase hex digits followed by a newline; [`ServerKey::from_hex`] reads it back, ignoring
//! surrounding whitespace. Writing the file, with permissions that only the server's user can
//! read, is the caller's job.
//!
//! This module must not generate randomness of its own (the caller passes the RNG: `OsRng` in
//! production, a seeded ChaCha20 in tests), read the clock, or read or write files.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::chain::{AuditRecord, ChainHead, Hash};
use super::chain_id::ChainId;
use super::time::UtcTimestamp;
use super::AuditError;
use crate::canonical::canonical;

/// The server's Ed25519 signing key. Its `Debug` shows only the public key; the secret is wiped
/// from memory when the key is dropped.
pub struct ServerKey(SigningKey);

impl ServerKey {
    /// A new key from the caller's cryptographically secure RNG.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// The key from its 32 secret bytes (the RFC 8032 seed).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(bytes))
    }

    /// The 32 secret bytes. Handle with care: whoever holds them can sign checkpoints.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key file's text: 64 lowercase hex digits and a newline (module docs).
    pub fn to_hex(&self) -> String {
        let mut text = hex::encode(self.0.to_bytes());
        text.push('\n');
        text
    }

    /// Reads the key file's text (64 hex digits, surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, AuditError> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|e| AuditError::Invalid {
            field: "server key",
            problem: format!("the key file must hold 64 hex digits (32 bytes): {e}"),
        })?;
        let key = Self::from_bytes(&bytes);
        bytes.fill(0);
        Ok(key)
    }

    /// The public key that verifies this key's signatures.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs a document other than a checkpoint (the export package's manifest): pure Ed25519
    /// over `DOCUMENT_CONTEXT ‖ message`. The prefix keeps such a signature from ever being
    /// taken for a checkpoint's, whose signed text starts with `{`.
    pub fn sign_document(&self, message: &[u8]) -> Signature {
        let mut signed = Vec::with_capacity(DOCUMENT_CONTEXT.len() + message.len());
        signed.extend_from_slice(DOCUMENT_CONTEXT);
        signed.extend_from_slice(message);
        Signature(ed25519_dalek::Signer::sign(&self.0, &signed).to_bytes())
    }
}

/// The bytes that precede a document signed with [`ServerKey::sign_document`]:
/// `bayestrial-document-v1` and a zero byte.
pub const DOCUMENT_CONTEXT: &[u8] = b"bayestrial-document-v1\0";

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret by accident.
        write!(f, "ServerKey(public {})", self.public_key())
    }
}

/// An Ed25519 public key; shown, parsed and serialised as 64 lowercase hex digits. Parsing
/// checks that the bytes are a point on the curve.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The 32 bytes (compressed Edwards point).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }

    /// Whether `signature` is this key's [`ServerKey::sign_document`] signature of `message`
    /// (strict verification, as for checkpoints).
    pub fn verify_document(&self, message: &[u8], signature: &Signature) -> bool {
        let mut signed = Vec::with_capacity(DOCUMENT_CONTEXT.len() + message.len());
        signed.extend_from_slice(DOCUMENT_CONTEXT);
        signed.extend_from_slice(message);
        self.verifying_key().is_some_and(|key| {
            key.verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(&signature.0))
                .is_ok()
        })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl FromStr for PublicKey {
    type Err = AuditError;
    /// Parses 64 hex digits (either case) holding a valid Ed25519 public key.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |problem: String| AuditError::Invalid {
            field: "public key",
            problem,
        };
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| {
            invalid(format!(
                "{text:?} is not an Ed25519 public key (64 hex digits): {e}"
            ))
        })?;
        VerifyingKey::from_bytes(&bytes)
            .map(|_| Self(bytes))
            .map_err(|_| invalid(format!("{text:?} is not a point on the Ed25519 curve")))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signature (64 bytes, R ‖ S); shown, parsed and serialised as 128 lowercase hex
/// digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// The 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// The signature as 128 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl FromStr for Signature {
    type Err = AuditError;
    /// Parses 128 hex digits (either case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0_u8; 64];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| AuditError::Invalid {
            field: "signature",
            problem: format!("{text:?} is not an Ed25519 signature (128 hex digits): {e}"),
        })?;
        Ok(Self(bytes))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a checkpoint was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// After a committed command that is not a look (every command is covered).
    Command,
    /// An interim or final look.
    Look,
    /// An export.
    Export,
    /// On request.
    Manual,
}

impl FromStr for Purpose {
    type Err = AuditError;
    /// Parses `command`, `look`, `export` or `manual`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "command" => Ok(Self::Command),
            "look" => Ok(Self::Look),
            "export" => Ok(Self::Export),
            "manual" => Ok(Self::Manual),
            other => Err(AuditError::Invalid {
                field: "checkpoint purpose",
                problem: format!("{other:?} is not command, look, export or manual"),
            }),
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Command => "command",
            Self::Look => "look",
            Self::Export => "export",
            Self::Manual => "manual",
        })
    }
}

/// The server's signature over the head of a chain at a point in time (byte layout in the
/// module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The chain.
    pub chain: ChainId,
    /// The head record's sequence number.
    pub seq: u64,
    /// The head record's hash.
    pub head_hash: Hash,
    /// When it was signed (UTC).
    pub signed_at: UtcTimestamp,
    /// Why.
    pub purpose: Purpose,
    /// The key that signed it.
    pub public_key: PublicKey,
    /// The seq of the head signed by the chain's previous checkpoint (0 for the first); `None`
    /// for a checkpoint signed before the link existed (format 1, module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<u64>,
    /// Ed25519 signature over the canonical JSON of the other fields.
    pub signature: Signature,
}

/// The fields a checkpoint's signature covers.
#[derive(Serialize)]
struct Signed<'a> {
    chain: &'a ChainId,
    head_hash: &'a Hash,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<u64>,
    public_key: &'a PublicKey,
    purpose: Purpose,
    seq: u64,
    signed_at: &'a UtcTimestamp,
}

impl Checkpoint {
    /// Signs `head` (from [`super::verify_chain`] or the last record appended) with `key`, as a
    /// format-1 checkpoint without a link to its predecessor. The server signs with
    /// [`Checkpoint::sign_after`]; this stays for reading and testing the old layout.
    pub fn sign(
        key: &ServerKey,
        head: &ChainHead,
        purpose: Purpose,
        signed_at: UtcTimestamp,
    ) -> Result<Self, AuditError> {
        Self::sign_linked(key, head, purpose, signed_at, None)
    }

    /// Signs `head` with `key`, linked to the chain's previous checkpoint: `previous` is the
    /// seq that checkpoint signed (0 when this is the chain's first).
    pub fn sign_after(
        key: &ServerKey,
        head: &ChainHead,
        purpose: Purpose,
        signed_at: UtcTimestamp,
        previous: u64,
    ) -> Result<Self, AuditError> {
        if previous > head.seq {
            return Err(AuditError::Invalid {
                field: "previous checkpoint",
                problem: format!(
                    "seq {previous} comes after the head signed now (seq {})",
                    head.seq
                ),
            });
        }
        Self::sign_linked(key, head, purpose, signed_at, Some(previous))
    }

    fn sign_linked(
        key: &ServerKey,
        head: &ChainHead,
        purpose: Purpose,
        signed_at: UtcTimestamp,
        previous: Option<u64>,
    ) -> Result<Self, AuditError> {
        let public_key = key.public_key();
        let message = canonical(&Signed {
            chain: &head.chain,
            head_hash: &head.hash,
            previous,
            public_key: &public_key,
            purpose,
            seq: head.seq,
            signed_at: &signed_at,
        })?;
        let signature = ed25519_dalek::Signer::sign(&key.0, message.as_bytes());
        Ok(Self {
            chain: head.chain.clone(),
            seq: head.seq,
            head_hash: head.hash,
            signed_at,
            purpose,
            public_key,
            previous,
            signature: Signature(signature.to_bytes()),
        })
    }

    /// The exact text signed: the canonical JSON of every field but `signature`.
    pub fn signed_text(&self) -> Result<String, AuditError> {
        Ok(canonical(&Signed {
            chain: &self.chain,
            head_hash: &self.head_hash,
            previous: self.previous,
            public_key: &self.public_key,
            purpose: self.purpose,
            seq: self.seq,
            signed_at: &self.signed_at,
        })?)
    }

    /// Checks that the checkpoint names `trusted` as its key and that its signature verifies
    /// with it. (It does not look at any record: see [`verify_checkpoints`].)
    pub fn verify_signature(&self, trusted: &PublicKey) -> Result<(), CheckpointProblem> {
        if self.public_key != *trusted {
            return Err(CheckpointProblem::UntrustedKey {
                found: self.public_key,
            });
        }
        let message = self
            .signed_text()
            .map_err(|_| CheckpointProblem::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature.0);
        trusted
            .verifying_key()
            .ok_or(CheckpointProblem::BadSignature)?
            .verify_strict(message.as_bytes(), &signature)
            .map_err(|_| CheckpointProblem::BadSignature)
    }
}

/// What is wrong with a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointProblem {
    /// It names another key than the trusted one.
    #[error("signed by key {found}, which is not the trusted key")]
    UntrustedKey {
        /// The key it names.
        found: PublicKey,
    },
    /// Its signature does not verify with the trusted key: the checkpoint was altered or forged.
    #[error("the signature does not verify: the checkpoint was altered or forged")]
    BadSignature,
    /// It belongs to another chain than the records.
    #[error("the records are of chain {records}")]
    WrongChain {
        /// The records' chain.
        records: ChainId,
    },
    /// The chain ends before the checkpoint's record: records were cut off after it.
    #[error("the chain was cut: it ends at record {last_seq}")]
    ChainCut {
        /// The last record present (0 for none).
        last_seq: u64,
    },
    /// No record has the checkpoint's sequence number, although later ones exist.
    #[error("the record it signed is missing from the chain")]
    RecordMissing,
    /// The record at the checkpoint's sequence number has another hash: the chain was altered
    /// (and re-hashed) at or before it.
    #[error("the record there now has hash {record_hash}: the chain was altered at or before it")]
    HeadMismatch {
        /// The hash of the record now at that sequence number.
        record_hash: Hash,
    },
}

/// A checkpoint that fails verification, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint of chain {chain} at record {seq}, signed {signed_at}: {problem}")]
pub struct CheckpointBreak {
    /// The checkpoint's chain.
    pub chain: ChainId,
    /// The checkpoint's sequence number.
    pub seq: u64,
    /// When it was signed.
    pub signed_at: UtcTimestamp,
    /// What is wrong.
    pub problem: CheckpointProblem,
}

/// Checks every checkpoint against one chain's records: it must name the trusted key, its
/// signature must verify, it must be of the records' chain, and the record at its sequence
/// number must exist and have its head hash. Reports the failing checkpoint with the lowest
/// sequence number (then the earliest signed).
///
/// The records should have passed [`super::verify_chain`] first; together the two catch a
/// chain altered and re-hashed before a checkpoint (head mismatch) and a chain cut after one.
pub fn verify_checkpoints(
    records: &[AuditRecord],
    checkpoints: &[Checkpoint],
    trusted: &PublicKey,
) -> Result<(), CheckpointBreak> {
    let mut order: Vec<&Checkpoint> = checkpoints.iter().collect();
    order.sort_by(|a, b| (a.seq, &a.signed_at).cmp(&(b.seq, &b.signed_at)));
    let last_seq = records.last().map_or(0, |r| r.seq);
    for checkpoint in order {
        let fail = |problem| CheckpointBreak {
            chain: checkpoint.chain.clone(),
            seq: checkpoint.seq,
            signed_at: checkpoint.signed_at.clone(),
            problem,
        };
        checkpoint.verify_signature(trusted).map_err(fail)?;
        if let Some(first) = records.first() {
            if first.chain != checkpoint.chain {
                return Err(fail(CheckpointProblem::WrongChain {
                    records: first.chain.clone(),
                }));
            }
        }
        // In a verified chain the record with sequence number s is at index s − 1.
        let record = usize::try_from(checkpoint.seq.wrapping_sub(1))
            .ok()
            .and_then(|i| records.get(i))
            .filter(|r| r.seq == checkpoint.seq)
            .or_else(|| records.iter().find(|r| r.seq == checkpoint.seq));
        match record {
            Some(record) if record.hash == checkpoint.head_hash => {}
            Some(record) => {
                return Err(fail(CheckpointProblem::HeadMismatch {
                    record_hash: record.hash,
                }))
            }
            None if checkpoint.seq > last_seq => {
                return Err(fail(CheckpointProblem::ChainCut { last_seq }))
            }
            None => return Err(fail(CheckpointProblem::RecordMissing)),
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::audit::{verify_chain, Attribution};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use serde_json::json;

    pub(in crate::audit) fn at(minute: u32) -> UtcTimestamp {
        UtcTimestamp::parse(&format!("2026-03-01T10:{minute:02}:00Z")).unwrap()
    }

    fn key(seed: u64) -> ServerKey {
        ServerKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    pub(in crate::audit) fn chain(n: u32) -> Vec<AuditRecord> {
        let by = Attribution {
            actor: "system".into(),
            role: "server".into(),
            recorded_at: at(0),
            reason: None,
        };
        let mut records: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let next = AuditRecord::append(
                records.last(),
                ChainId::system(),
                "login",
                &json!({"user": format!("u{i}")}),
                &by,
            )
            .unwrap();
            records.push(next);
        }
        records
    }

    fn head(records: &[AuditRecord], seq: usize) -> ChainHead {
        verify_chain(&records[..seq]).unwrap().unwrap()
    }

    #[test]
    fn signature_layout_matches_an_independent_implementation() {
        let key = ServerKey::from_bytes(&[7; 32]);
        let head = ChainHead {
            chain: ChainId::trial("T-1").unwrap(),
            seq: 3,
            hash: Hash::from_bytes([0xab; 32]),
        };
        let checkpoint = Checkpoint::sign(&key, &head, Purpose::Look, at(5)).unwrap();
        let text = checkpoint.signed_text().unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"chain\":\"trial:T-1\",\"head_hash\":\"{}\",\"public_key\":\"{}\",\"purpose\":\"look\",\"seq\":3,\"signed_at\":\"2026-03-01T10:05:00Z\"}}",
                "ab".repeat(32),
                key.public_key()
            )
        );
        // Values computed from the documented layout with Python's `cryptography` package.
        assert_eq!(
            key.public_key().to_hex(),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        assert_eq!(checkpoint.signature.to_hex(), "a3adda5868dec8f649d3c920a941fbfcc0e6f0bcfe1f95ed838216ba18fec0e83ebc2d941943bd51fc55b36822a0e32186da938e4d06cbc7951409d219d13a09");
        assert_eq!(checkpoint.verify_signature(&key.public_key()), Ok(()));

        // A linked checkpoint signs one more key, `previous`, in its sorted place.
        let linked = Checkpoint::sign_after(&key, &head, Purpose::Command, at(6), 2).unwrap();
        assert_eq!(
            linked.signed_text().unwrap(),
            format!(
                "{{\"chain\":\"trial:T-1\",\"head_hash\":\"{}\",\"previous\":2,\"public_key\":\"{}\",\"purpose\":\"command\",\"seq\":3,\"signed_at\":\"2026-03-01T10:06:00Z\"}}",
                "ab".repeat(32),
                key.public_key()
            )
        );
        assert_eq!(linked.verify_signature(&key.public_key()), Ok(()));
        // The link is signed: changing or dropping it breaks the signature.
        for previous in [Some(1), None] {
            let mut edited = linked.clone();
            edited.previous = previous;
            assert_eq!(
                edited.verify_signature(&key.public_key()),
                Err(CheckpointProblem::BadSignature)
            );
        }
    }

    #[test]
    fn keys_round_trip_and_keep_their_secret() {
        let server = key(1);
        let again = ServerKey::from_hex(&server.to_hex()).unwrap();
        assert_eq!(again.to_bytes(), server.to_bytes());
        assert_eq!(
            ServerKey::from_bytes(&server.to_bytes()).public_key(),
            server.public_key()
        );
        assert!(server.to_hex().ends_with('\n'));
        assert!(ServerKey::from_hex("00").is_err());
        assert!(!format!("{server:?}").contains(&hex::encode(server.to_bytes())));
        let public = server.public_key();
        assert_eq!(public.to_hex().parse::<PublicKey>().unwrap(), public);
        assert_eq!(
            serde_json::from_str::<PublicKey>(&serde_json::to_string(&public).unwrap()).unwrap(),
            public
        );
        assert_ne!(key(2).public_key(), public);
        // Same seed, same key: generation uses only the RNG it is given.
        assert_eq!(key(1).to_bytes(), server.to_bytes());
    }

    #[test]
    fn checkpoints_verify_and_catch_cuts_and_rewrites() {
        let server = key(1);
        let records = chain(10);
        let early = Checkpoint::sign(&server, &head(&records, 4), Purpose::Look, at(1)).unwrap();
        let late = Checkpoint::sign(&server, &head(&records, 8), Purpose::Export, at(2)).unwrap();
        let all = [late.clone(), early.clone()];
        assert_eq!(
            verify_checkpoints(&records, &all, &server.public_key()),
            Ok(())
        );

        // Cut after the late checkpoint.
        let cut = verify_checkpoints(&records[..7], &all, &server.public_key()).unwrap_err();
        assert_eq!(cut.seq, 8);
        assert_eq!(cut.problem, CheckpointProblem::ChainCut { last_seq: 7 });

        // Rewrite record 6 and re-hash from there: the chain verifies, the late checkpoint not.
        let mut rewritten = records.clone();
        rewritten[5].payload = canonical(&json!({"user": "mallory"})).unwrap();
        for i in 5..rewritten.len() {
            if i > 0 {
                rewritten[i].prev_hash = rewritten[i - 1].hash;
            }
            rewritten[i].hash = rewritten[i].compute_hash().unwrap();
        }
        assert!(verify_chain(&rewritten).is_ok());
        let caught = verify_checkpoints(&rewritten, &all, &server.public_key()).unwrap_err();
        assert_eq!(caught.seq, 8);
        assert!(matches!(
            caught.problem,
            CheckpointProblem::HeadMismatch { .. }
        ));

        // A checkpoint edited after signing, or from another key, is rejected.
        let mut edited = early.clone();
        edited.seq = 5;
        edited.head_hash = records[4].hash;
        assert_eq!(
            verify_checkpoints(&records, &[edited], &server.public_key())
                .unwrap_err()
                .problem,
            CheckpointProblem::BadSignature
        );
        let other = key(2);
        let foreign = Checkpoint::sign(&other, &head(&records, 4), Purpose::Manual, at(3)).unwrap();
        assert_eq!(
            verify_checkpoints(
                &records,
                std::slice::from_ref(&foreign),
                &server.public_key()
            )
            .unwrap_err()
            .problem,
            CheckpointProblem::UntrustedKey {
                found: other.public_key()
            }
        );
        let mut disguised = foreign;
        disguised.public_key = server.public_key();
        assert_eq!(
            verify_checkpoints(&records, &[disguised], &server.public_key())
                .unwrap_err()
                .problem,
            CheckpointProblem::BadSignature
        );

        // A checkpoint of another chain.
        let trial = Checkpoint::sign(
            &server,
            &ChainHead {
                chain: ChainId::trial("T-1").unwrap(),
                seq: 1,
                hash: records[0].hash,
            },
            Purpose::Look,
            at(4),
        )
        .unwrap();
        assert!(matches!(
            verify_checkpoints(&records, &[trial], &server.public_key())
                .unwrap_err()
                .problem,
            CheckpointProblem::WrongChain { .. }
        ));
    }

    #[test]
    fn documents_are_signed_apart_from_checkpoints() {
        let server = key(4);
        let document = b"{\"files\":[]}\n";
        let signature = server.sign_document(document);
        assert!(server.public_key().verify_document(document, &signature));
        assert!(!server
            .public_key()
            .verify_document(b"{\"files\":[1]}\n", &signature));
        assert!(!key(5).public_key().verify_document(document, &signature));
        // A document signature is not a signature of the same bytes without the context.
        let records = chain(1);
        let checkpoint =
            Checkpoint::sign(&server, &head(&records, 1), Purpose::Export, at(1)).unwrap();
        let text = checkpoint.signed_text().unwrap();
        let mut forged = checkpoint.clone();
        forged.signature = server.sign_document(text.as_bytes());
        assert_eq!(
            forged.verify_signature(&server.public_key()),
            Err(CheckpointProblem::BadSignature)
        );
    }

    #[test]
    fn checkpoints_serialise_and_read_back() {
        let server = key(3);
        let records = chain(2);
        let checkpoint =
            Checkpoint::sign(&server, &head(&records, 2), Purpose::Export, at(9)).unwrap();
        let json = serde_json::to_string(&checkpoint).unwrap();
        let back: Checkpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, checkpoint);
        assert_eq!(back.verify_signature(&server.public_key()), Ok(()));
        assert!(json.contains("\"purpose\":\"export\""));
    }
}
