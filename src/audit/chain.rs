//! The hash chain: audit records, each bound to its predecessor by a SHA-256 hash, and the
//! verification that finds the first record where a chain was altered.
//!
//! # Byte layout of a record's hash
//!
//! ```text
//! hash = SHA-256( prev_hash ‖ M )
//! ```
//!
//! - `prev_hash`: the 32 raw bytes of the previous record's `hash`; for the first record of a
//!   chain (`seq` = 1), 32 zero bytes ([`Hash::GENESIS`]).
//! - `M`: the UTF-8 bytes of the canonical JSON ([`super::canonical_json`]) of an object holding
//!   every field of the record except `hash`. With its keys in canonical (byte) order:
//!
//!   ```text
//!   {"actor":A,"chain":C,"kind":K,"payload":P,"prev_hash":H,"reason":R,"recorded_at":T,"role":O,"seq":N}
//!   ```
//!
//!   `A`, `K`, `O` and `T` are JSON strings; `C` is the string `"system"` or `"trial:<trial id>"`;
//!   `P` is a JSON *string* whose content is the payload's canonical JSON text (so the stored
//!   text is hashed exactly, without re-parsing); `H` is `prev_hash` as 64 lowercase hex digits
//!   (so `prev_hash` is covered twice, raw and in `M`); `R` is a string or `null`; `N` is the
//!   sequence number as a decimal integer.
//!
//! For example the first record of a chain, with payload `{"kind":"data_collection_closed"}`,
//! hashes the 32 zero bytes followed by
//! `{"actor":"alice","chain":"trial:T-1","kind":"data_collection_closed","payload":"{\"kind\":\"data_collection_closed\"}","prev_hash":"0000…0000","reason":null,"recorded_at":"2026-03-01T09:30:00Z","role":"coordinator","seq":1}`
//! (the test `hash_layout_matches_the_documented_bytes` pins the result).
//!
//! # Record formats: salted records
//!
//! That layout is **record format 1**. In **record format 2** the object has one more key,
//! `salt`, whose value `S` is the record's secret salt as 64 lowercase hex digits; in canonical
//! key order it sits between `role` and `seq`:
//!
//! ```text
//! {"actor":A,"chain":C,"kind":K,"payload":P,"prev_hash":H,"reason":R,"recorded_at":T,"role":O,"salt":S,"seq":N}
//! ```
//!
//! The salt is HMAC-SHA256 keyed by the trial's 32-byte seed over
//! `"bayestrial-record-salt" ‖ 0x00 ‖ C ‖ 0x00 ‖ N as 8 bytes big-endian` ([`Salt::derive`]).
//! Because the hash covers a secret, a viewer who sees a record's hash but not its payload (a
//! blinded viewer of a sealed record) cannot test candidate payloads against it. With the
//! seed of the example above set to the bytes 0, 1, …, 31, the same record in format 2 has the
//! salt `b2b49cf1…2da9` and hashes to `bd72e59f…2baa` (pinned by
//! `a_salted_hash_layout_matches_the_documented_bytes`).
//!
//! A chain's format is fixed by its first record ([`RecordFormat`]): every trial chain begun
//! since format 2 carries a salt on every record; trial chains begun before, and the system
//! chain, carry none, so they hash exactly as they always did. [`verify_chain`] refuses a
//! record without a salt on a chain whose first record has one (a downgrade) and a salt on a
//! format-1 chain or the system chain; [`verify_salts`] checks, for a verifier that holds the
//! seed, that each salt is the one the seed derives, so that no salt was chosen.
//!
//! On a trial chain, a record's `seq` is the engine event's sequence number and its payload is
//! the canonical JSON of the event body (which carries its own `kind`), so the events can be
//! read back from the records ([`AuditRecord::to_event`]) and replayed.
//!
//! This module computes and checks hashes only; it must not store, fetch, sort or repair
//! records, it must not read a clock (the time comes in with the [`Attribution`]), and it must
//! not keep, print or log a trial's seed: it only derives salts from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::chain_id::ChainId;
use super::salt::Salt;
use super::time::UtcTimestamp;
use super::AuditError;
use crate::canonical::{canonical, canonical_json};
use crate::engine::{Event, EventBody, Origin, TrialSeed};

/// A SHA-256 hash; shown, parsed and serialised as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, std::hash::Hash)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The `prev_hash` of the first record of every chain: 32 zero bytes.
    pub const GENESIS: Self = Self([0; 32]);

    /// A hash from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = AuditError;
    /// Parses 64 hex digits (either case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| AuditError::Invalid {
            field: "hash",
            problem: format!("{text:?} is not a SHA-256 hash (64 hex digits): {e}"),
        })?;
        Ok(Self(bytes))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Who made a change, when, and why: the same for every record one command appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// The user name (or `system` for the server's own actions).
    pub actor: String,
    /// The role the actor acted in (`coordinator`, `statistician`, …).
    pub role: String,
    /// When, from the caller's clock.
    pub recorded_at: UtcTimestamp,
    /// Why, when the action needs a reason (corrections, amendments, closures).
    pub reason: Option<String>,
}

impl Attribution {
    /// The actor of the engine's own decisions.
    pub const SYSTEM: &'static str = "system";

    /// The attribution of a decision the engine took at `recorded_at` because of the input
    /// recorded as `due_after` (its seq on the same chain): actor and role `system`, reason
    /// `due after record <seq>`.
    pub fn system(recorded_at: UtcTimestamp, due_after: u64) -> Self {
        Self {
            actor: Self::SYSTEM.to_owned(),
            role: Self::SYSTEM.to_owned(),
            recorded_at,
            reason: Some(format!("due after record {due_after}")),
        }
    }
}

/// One row of the audit trail (ARCHITECTURE §6).
///
/// The fields are public because records are read back from storage and exports, where they
/// are untrusted data: a record is trustworthy only once [`verify_chain`] has accepted the
/// chain it is in. New records are made with [`AuditRecord::append`] or
/// [`AuditRecord::from_event`], which compute `seq`, `prev_hash` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The chain.
    pub chain: ChainId,
    /// Position in the chain, 1-based and gap-free.
    pub seq: u64,
    /// What happened, as a snake_case word (an engine event's kind on trial chains).
    pub kind: String,
    /// The details, as canonical JSON text.
    pub payload: String,
    /// Who.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// When (UTC).
    pub recorded_at: UtcTimestamp,
    /// Why, when a reason was required.
    pub reason: Option<String>,
    /// The record's secret salt (record format 2, trial chains begun since: module docs), or
    /// `None` (record format 1: the system chain and older trial chains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<Salt>,
    /// The previous record's hash ([`Hash::GENESIS`] for `seq` = 1).
    pub prev_hash: Hash,
    /// SHA-256 of `prev_hash` and the canonical JSON of the other fields (module docs).
    pub hash: Hash,
}

/// The fields a record's hash covers, in the form that is encoded.
#[derive(Serialize)]
struct Hashed<'a> {
    actor: &'a str,
    chain: &'a ChainId,
    kind: &'a str,
    payload: &'a str,
    prev_hash: &'a Hash,
    reason: Option<&'a str>,
    recorded_at: &'a UtcTimestamp,
    role: &'a str,
    /// Absent, not `null`, in record format 1, so those records hash exactly as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    salt: Option<&'a Salt>,
    seq: u64,
}

/// A chain's record format, fixed by its first record (METHODS.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordFormat {
    /// Format 1: no record carries a salt. The system chain, and the trial chains begun before
    /// format 2.
    Unsalted,
    /// Format 2: every record carries the salt derived from the trial's seed ([`Salt`]). Every
    /// trial chain begun since.
    Salted,
}

impl RecordFormat {
    /// The format's number: 1 or 2.
    pub fn number(self) -> u32 {
        match self {
            Self::Unsalted => 1,
            Self::Salted => 2,
        }
    }

    /// The format of a chain whose first record has (or has not) a salt.
    pub fn of_first(has_salt: bool) -> Self {
        if has_salt {
            Self::Salted
        } else {
            Self::Unsalted
        }
    }

    /// The format of the record that follows `prev` on `chain`: the system chain is never
    /// salted, a trial chain's first record is, and a chain keeps the format it began with.
    pub fn for_next(chain: &ChainId, prev: Option<&AuditRecord>) -> Self {
        match prev {
            _ if chain.is_system() => Self::Unsalted,
            None => Self::Salted,
            Some(prev) => Self::of_first(prev.salt.is_some()),
        }
    }

    /// Checks that a record with (or without) a salt belongs on `chain` in this format: a
    /// format-2 record without a salt is a downgrade ([`BreakKind::SaltMissing`]), and a salt
    /// on the system chain or on a format-1 chain is refused ([`BreakKind::UnexpectedSalt`]).
    pub fn check(self, chain: &ChainId, has_salt: bool) -> Result<(), BreakKind> {
        match (self, has_salt) {
            (_, true) if chain.is_system() => Err(BreakKind::UnexpectedSalt),
            (Self::Salted, false) => Err(BreakKind::SaltMissing),
            (Self::Unsalted, true) => Err(BreakKind::UnexpectedSalt),
            (Self::Salted, true) | (Self::Unsalted, false) => Ok(()),
        }
    }
}

impl AuditRecord {
    /// The unsalted (record format 1) record that follows `prev` (`None` for the first record
    /// of `chain`), with `payload` in canonical JSON: the system chain's records. Fails when
    /// `prev` is on another chain or carries a salt (a format-2 chain continues with salts only:
    /// [`AuditRecord::from_event`]), when `kind` is not a snake_case word, when the actor, role
    /// or reason is blank, or when the payload holds a NaN or an infinity.
    pub fn append<P: Serialize + ?Sized>(
        prev: Option<&AuditRecord>,
        chain: ChainId,
        kind: &str,
        payload: &P,
        by: &Attribution,
    ) -> Result<Self, AuditError> {
        if prev.is_some_and(|p| p.salt.is_some()) {
            return Err(AuditError::Invalid {
                field: "salt",
                problem: format!(
                    "chain {chain} is in record format 2: every record carries a salt"
                ),
            });
        }
        Self::build(prev, chain, kind, payload, by, None)
    }

    /// The record that follows `prev`, with `salt` (checked by the callers).
    fn build<P: Serialize + ?Sized>(
        prev: Option<&AuditRecord>,
        chain: ChainId,
        kind: &str,
        payload: &P,
        by: &Attribution,
        salt: Option<Salt>,
    ) -> Result<Self, AuditError> {
        let (seq, prev_hash) = match prev {
            None => (1, Hash::GENESIS),
            Some(prev) => {
                if prev.chain != chain {
                    return Err(AuditError::ChainMismatch {
                        expected: chain,
                        found: prev.chain.clone(),
                    });
                }
                let seq = prev.seq.checked_add(1).ok_or(AuditError::Invalid {
                    field: "seq",
                    problem: "the chain has reached the largest sequence number".into(),
                })?;
                (seq, prev.hash)
            }
        };
        check_kind(kind)?;
        check_name("actor", &by.actor)?;
        check_name("role", &by.role)?;
        if let Some(reason) = &by.reason {
            if reason.trim().is_empty() {
                return Err(AuditError::Invalid {
                    field: "reason",
                    problem: "a reason, when given, must not be blank".into(),
                });
            }
        }
        let mut record = Self {
            chain,
            seq,
            kind: kind.to_owned(),
            payload: canonical(payload)?,
            actor: by.actor.clone(),
            role: by.role.clone(),
            recorded_at: by.recorded_at.clone(),
            reason: by.reason.clone(),
            salt,
            prev_hash,
            hash: Hash::GENESIS,
        };
        record.hash = record.compute_hash()?;
        Ok(record)
    }

    /// The record of an engine event on a trial chain: its kind is the event's kind, its
    /// payload the canonical JSON of the event body, and its `seq` must be the event's (so the
    /// first event of a trial is the first record of its chain).
    ///
    /// Its format is [`RecordFormat::for_next`]: the first record of a trial chain, and every
    /// record after a salted one, carries the salt that `seed` (the trial's) derives for it; a
    /// chain begun unsalted (format 1) goes on unsalted, so it verifies as it always did.
    pub fn from_event(
        prev: Option<&AuditRecord>,
        chain: ChainId,
        event: &Event,
        by: &Attribution,
        seed: &TrialSeed,
    ) -> Result<Self, AuditError> {
        if chain.is_system() {
            return Err(AuditError::Invalid {
                field: "chain",
                problem: "engine events belong on a trial chain, not the system chain".into(),
            });
        }
        let expected = prev.map_or(Some(1), |p| p.seq.checked_add(1));
        if expected != Some(event.seq) {
            return Err(AuditError::SeqMismatch {
                expected: expected.unwrap_or(u64::MAX),
                found: event.seq,
            });
        }
        let salt = match RecordFormat::for_next(&chain, prev) {
            RecordFormat::Salted => Some(Salt::derive(seed, &chain, event.seq)),
            RecordFormat::Unsalted => None,
        };
        Self::build(prev, chain, event.body.kind(), &event.body, by, salt)
    }

    /// The records of consecutive engine events (one command's output), following `prev`.
    ///
    /// Inputs (and the engine's immediate answers to them) carry `by`; the engine's decisions
    /// ([`Origin::Decision`]: looks, drops, control changes, stops, allocation updates) carry
    /// [`Attribution::system`], whose reason names the seq of the input that made them due.
    /// `seed` is the trial's: it derives the records' salts ([`AuditRecord::from_event`]).
    pub fn from_events(
        prev: Option<&AuditRecord>,
        chain: &ChainId,
        events: &[Event],
        by: &Attribution,
        seed: &TrialSeed,
    ) -> Result<Vec<Self>, AuditError> {
        let mut records: Vec<Self> = Vec::with_capacity(events.len());
        let mut due_after = prev.map_or(0, |p| p.seq);
        for event in events {
            let previous = records.last().or(prev);
            let record = match event.body.origin() {
                Origin::Input => {
                    due_after = event.seq;
                    Self::from_event(previous, chain.clone(), event, by, seed)?
                }
                Origin::Answer => Self::from_event(previous, chain.clone(), event, by, seed)?,
                Origin::Decision => {
                    let system = Attribution::system(by.recorded_at.clone(), due_after);
                    Self::from_event(previous, chain.clone(), event, &system, seed)?
                }
            };
            records.push(record);
        }
        Ok(records)
    }

    /// The exact text hashed after `prev_hash`: the canonical JSON of every field but `hash`.
    pub fn hashed_text(&self) -> Result<String, AuditError> {
        Ok(canonical(&Hashed {
            actor: &self.actor,
            chain: &self.chain,
            kind: &self.kind,
            payload: &self.payload,
            prev_hash: &self.prev_hash,
            reason: self.reason.as_deref(),
            recorded_at: &self.recorded_at,
            role: &self.role,
            salt: self.salt.as_ref(),
            seq: self.seq,
        })?)
    }

    /// SHA-256(`prev_hash` ‖ [`AuditRecord::hashed_text`]): what `hash` must be.
    pub fn compute_hash(&self) -> Result<Hash, AuditError> {
        let text = self.hashed_text()?;
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.0);
        hasher.update(text.as_bytes());
        Ok(Hash(hasher.finalize().into()))
    }

    /// The engine event this record holds (trial chains): the payload parsed as an event
    /// body, with the record's `seq`. Fails when the payload is not an event body or is one of
    /// another kind than the record says.
    pub fn to_event(&self) -> Result<Event, AuditError> {
        let body: EventBody =
            serde_json::from_str(&self.payload).map_err(|e| AuditError::Payload {
                seq: self.seq,
                problem: format!("not an engine event: {e}"),
            })?;
        if body.kind() != self.kind {
            return Err(AuditError::Payload {
                seq: self.seq,
                problem: format!(
                    "the record's kind is {} but its payload is a {} event",
                    self.kind,
                    body.kind()
                ),
            });
        }
        Ok(Event {
            seq: self.seq,
            body,
        })
    }
}

fn check_kind(kind: &str) -> Result<(), AuditError> {
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AuditError::Invalid {
            field: "kind",
            problem: format!(
                "{kind:?} must be a snake_case word: 1 to 64 of a-z, 0-9 and _, starting with a letter"
            ),
        })
    }
}

fn check_name(field: &'static str, text: &str) -> Result<(), AuditError> {
    if text.trim().is_empty() || text.trim() != text || text.chars().any(char::is_control) {
        return Err(AuditError::Invalid {
            field,
            problem: format!(
                "{text:?} must be non-blank, without control characters or surrounding spaces"
            ),
        });
    }
    Ok(())
}

/// The last record of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The chain.
    pub chain: ChainId,
    /// The last record's sequence number.
    pub seq: u64,
    /// The last record's hash.
    pub hash: Hash,
}

/// What is wrong at the place where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakKind {
    /// A record of another chain is mixed in.
    #[error("a record of chain {found} is mixed in")]
    WrongChain {
        /// The foreign record's chain.
        found: ChainId,
    },
    /// Records are missing: the next record present has a later sequence number.
    #[error("missing: the next record is {found}")]
    SequenceGap {
        /// The sequence number found in this place.
        found: u64,
    },
    /// Records are out of order or duplicated: the record in this place has another sequence
    /// number, and the one that belongs here comes later (or not at all, for a duplicate).
    #[error("out of order: record {found} is in its place")]
    OutOfOrder {
        /// The sequence number found in this place.
        found: u64,
    },
    /// The record does not name its predecessor's hash (the predecessor or this link was
    /// altered).
    #[error("prev_hash is {found}, but the previous record's hash is {expected}")]
    PrevHashMismatch {
        /// The previous record's hash (genesis for the first record).
        expected: Hash,
        /// The record's `prev_hash`.
        found: Hash,
    },
    /// The record's content or hash was altered: its stored hash is not the hash of its fields.
    #[error("altered: the stored hash is {stored}, the hash of its fields is {computed}")]
    HashMismatch {
        /// The record's `hash`.
        stored: Hash,
        /// The hash of its fields.
        computed: Hash,
    },
    /// The chain's first record carries a salt (record format 2) but this one does not: a
    /// downgrade, which would make its payload guessable from its hash again.
    #[error("downgraded: the chain's first record carries a salt (record format 2), this one carries none")]
    SaltMissing,
    /// The record carries a salt on a chain that has none: the system chain, or a trial chain
    /// whose first record has no salt (record format 1).
    #[error("carries a salt, but its chain has none (the system chain, or a trial chain whose first record has no salt)")]
    UnexpectedSalt,
    /// The record's salt is not the one the trial's seed derives for it ([`Salt::derive`]), so
    /// it may have been chosen.
    #[error("the salt is not the one the trial's seed derives for this record")]
    SaltNotDerived,
    /// The hash is consistent but the payload is not canonical JSON (a writer that bypassed
    /// [`AuditRecord::append`]).
    #[error("the payload is not canonical JSON")]
    PayloadNotCanonical,
    /// The record's fields cannot be encoded (cannot happen for records that deserialised).
    #[error("cannot be encoded: {0}")]
    Unencodable(String),
}

/// Where and how a chain is broken: the first record (by position) that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain {chain}, record {seq}: {problem}")]
pub struct ChainBreak {
    /// The chain being verified (the first record's).
    pub chain: ChainId,
    /// The sequence number at which the chain breaks: the record expected there is missing,
    /// misplaced or altered.
    pub seq: u64,
    /// What is wrong.
    pub problem: BreakKind,
}

/// Verifies a whole chain, given in order from its first record: one chain id throughout,
/// sequence numbers 1, 2, 3, … without gaps, each `prev_hash` equal to the previous record's
/// hash (genesis for the first), the chain's record format kept (a salt on every record when
/// the first has one, on none otherwise, never on the system chain: [`RecordFormat::check`]),
/// each `hash` equal to the hash of the record's fields, and each payload canonical JSON.
/// Returns the head (`None` for no records), or the first break.
///
/// Whether each salt is the one the trial's seed derives is checked by [`verify_salts`], for a
/// verifier that holds the seed.
///
/// A chain that was edited and then re-hashed from the edit onwards, or cut short, verifies:
/// only signed checkpoints ([`super::verify_checkpoints`]) catch those.
pub fn verify_chain(records: &[AuditRecord]) -> Result<Option<ChainHead>, ChainBreak> {
    let Some(first) = records.first() else {
        return Ok(None);
    };
    let chain = &first.chain;
    let format = RecordFormat::of_first(first.salt.is_some());
    let mut prev = Hash::GENESIS;
    for (index, record) in records.iter().enumerate() {
        let seq = index as u64 + 1;
        let fail = |problem| ChainBreak {
            chain: chain.clone(),
            seq,
            problem,
        };
        if record.chain != *chain {
            return Err(fail(BreakKind::WrongChain {
                found: record.chain.clone(),
            }));
        }
        if record.seq != seq {
            let found = record.seq;
            let later = records[index + 1..].iter().any(|r| r.seq == seq);
            return Err(fail(if found < seq || later {
                BreakKind::OutOfOrder { found }
            } else {
                BreakKind::SequenceGap { found }
            }));
        }
        if record.prev_hash != prev {
            return Err(fail(BreakKind::PrevHashMismatch {
                expected: prev,
                found: record.prev_hash,
            }));
        }
        format.check(chain, record.salt.is_some()).map_err(fail)?;
        let computed = record
            .compute_hash()
            .map_err(|e| fail(BreakKind::Unencodable(e.to_string())))?;
        if computed != record.hash {
            return Err(fail(BreakKind::HashMismatch {
                stored: record.hash,
                computed,
            }));
        }
        let canonical_payload = serde_json::from_str(&record.payload)
            .ok()
            .and_then(|value| canonical_json(&value).ok());
        if canonical_payload.as_deref() != Some(record.payload.as_str()) {
            return Err(fail(BreakKind::PayloadNotCanonical));
        }
        prev = record.hash;
    }
    Ok(records.last().map(|last| ChainHead {
        chain: chain.clone(),
        seq: last.seq,
        hash: last.hash,
    }))
}

/// Checks, for a verifier that holds the trial's seed (the server, or anyone with an unblinded
/// export), that every salt in `records` is the one `seed` derives for its chain and seq
/// ([`Salt::derive`]), so that no salt was chosen. Records without a salt are left to
/// [`verify_chain`], which checks where salts must be. Returns the first record that fails.
pub fn verify_salts(records: &[AuditRecord], seed: &TrialSeed) -> Result<(), ChainBreak> {
    for record in records {
        if let Some(salt) = &record.salt {
            if !salt.is_derived_from(seed, &record.chain, record.seq) {
                return Err(ChainBreak {
                    chain: record.chain.clone(),
                    seq: record.seq,
                    problem: BreakKind::SaltNotDerived,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::CanonicalError;
    use serde_json::json;

    fn by(minute: u32) -> Attribution {
        Attribution {
            actor: "alice".into(),
            role: "coordinator".into(),
            recorded_at: UtcTimestamp::parse(&format!("2026-03-01T09:{minute:02}:00Z")).unwrap(),
            reason: None,
        }
    }

    fn trial() -> ChainId {
        ChainId::trial("T-1").unwrap()
    }

    fn chain_of(n: u32) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let record = AuditRecord::append(
                records.last(),
                trial(),
                "note",
                &json!({"i": i, "text": "é\n"}),
                &by(i),
            )
            .unwrap();
            records.push(record);
        }
        records
    }

    fn broken(records: &[AuditRecord]) -> (u64, BreakKind) {
        let e = verify_chain(records).unwrap_err();
        (e.seq, e.problem)
    }

    #[test]
    fn hash_layout_matches_the_documented_bytes() {
        let record = AuditRecord::append(
            None,
            trial(),
            "data_collection_closed",
            &EventBody::DataCollectionClosed,
            &by(30),
        )
        .unwrap();
        let text = format!(
            "{{\"actor\":\"alice\",\"chain\":\"trial:T-1\",\"kind\":\"data_collection_closed\",\"payload\":\"{{\\\"kind\\\":\\\"data_collection_closed\\\"}}\",\"prev_hash\":\"{}\",\"reason\":null,\"recorded_at\":\"2026-03-01T09:30:00Z\",\"role\":\"coordinator\",\"seq\":1}}",
            "0".repeat(64)
        );
        assert_eq!(record.hashed_text().unwrap(), text);
        let mut bytes = vec![0_u8; 32];
        bytes.extend_from_slice(text.as_bytes());
        assert_eq!(record.hash, Hash(Sha256::digest(&bytes).into()));
        // The same value computed with Python's hashlib from the documented layout.
        assert_eq!(
            record.hash.to_hex(),
            "86941901e472e2eafec9f6edefc4e702f057e4ebb9fc99d78b03d31f3948f56c"
        );
    }

    fn test_seed() -> TrialSeed {
        let mut bytes = [0_u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        TrialSeed::from_bytes(bytes)
    }

    /// A salted (record format 2) trial chain of `n` events.
    fn salted_chain_of(n: u64) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for seq in 1..=n {
            let event = Event {
                seq,
                body: EventBody::EnrolmentPaused {
                    reason: format!("pause {seq}"),
                },
            };
            let record =
                AuditRecord::from_event(records.last(), trial(), &event, &by(0), &test_seed())
                    .unwrap();
            records.push(record);
        }
        records
    }

    #[test]
    fn a_salted_hash_layout_matches_the_documented_bytes() {
        let event = Event {
            seq: 1,
            body: EventBody::DataCollectionClosed,
        };
        let record = AuditRecord::from_event(None, trial(), &event, &by(30), &test_seed()).unwrap();
        let salt = "b2b49cf1646e31b4a30b861bd4ca4bf4f7f7a7b87ecc79b604e91fd79da12da9";
        assert_eq!(record.salt.map(|s| s.to_hex()).as_deref(), Some(salt));
        let text = format!(
            "{{\"actor\":\"alice\",\"chain\":\"trial:T-1\",\"kind\":\"data_collection_closed\",\"payload\":\"{{\\\"kind\\\":\\\"data_collection_closed\\\"}}\",\"prev_hash\":\"{}\",\"reason\":null,\"recorded_at\":\"2026-03-01T09:30:00Z\",\"role\":\"coordinator\",\"salt\":\"{salt}\",\"seq\":1}}",
            "0".repeat(64)
        );
        assert_eq!(record.hashed_text().unwrap(), text);
        // The same value computed with Python's hashlib and hmac from the documented layout.
        assert_eq!(
            record.hash.to_hex(),
            "bd72e59f4aa4d84d3776ecf166c6b1a8d6d1c8b3a66ed0e99a8b61d5ff662baa"
        );
        // Without the salt the record hashes as record format 1 (the pinned value above).
        let mut unsalted = record.clone();
        unsalted.salt = None;
        assert_eq!(
            unsalted.compute_hash().unwrap().to_hex(),
            "86941901e472e2eafec9f6edefc4e702f057e4ebb9fc99d78b03d31f3948f56c"
        );
    }

    #[test]
    fn a_salted_chain_keeps_its_salts_and_they_are_the_seeds() {
        let records = salted_chain_of(5);
        assert!(records.iter().all(|r| r.salt.is_some()));
        assert_eq!(verify_chain(&records).unwrap().unwrap().seq, 5);
        assert_eq!(verify_salts(&records, &test_seed()), Ok(()));
        // Every salt differs, and another seed did not derive them.
        let salts: std::collections::BTreeSet<String> = records
            .iter()
            .filter_map(|r| r.salt.map(|s| s.to_hex()))
            .collect();
        assert_eq!(salts.len(), 5);
        let other = verify_salts(&records, &TrialSeed::from_u64(3)).unwrap_err();
        assert_eq!((other.seq, other.problem), (1, BreakKind::SaltNotDerived));
        // A chosen salt, re-hashed from there on, passes the chain but not the seed's check.
        let mut chosen = records.clone();
        chosen[2].salt = Some(Salt::from_bytes([7; 32]));
        for i in 2..chosen.len() {
            if i > 2 {
                chosen[i].prev_hash = chosen[i - 1].hash;
            }
            chosen[i].hash = chosen[i].compute_hash().unwrap();
        }
        assert!(verify_chain(&chosen).is_ok());
        let caught = verify_salts(&chosen, &test_seed()).unwrap_err();
        assert_eq!((caught.seq, caught.problem), (3, BreakKind::SaltNotDerived));
        // An unsalted record cannot be appended to a salted chain.
        assert!(matches!(
            AuditRecord::append(records.last(), trial(), "note", &1, &by(0)),
            Err(AuditError::Invalid { field: "salt", .. })
        ));
    }

    #[test]
    fn a_removed_salt_is_a_downgrade_even_when_re_hashed() {
        let records = salted_chain_of(5);
        let mut stripped = records.clone();
        stripped[3].salt = None;
        assert_eq!(broken(&stripped), (4, BreakKind::SaltMissing));
        for i in 3..stripped.len() {
            if i > 3 {
                stripped[i].prev_hash = stripped[i - 1].hash;
            }
            stripped[i].hash = stripped[i].compute_hash().unwrap();
        }
        assert_eq!(broken(&stripped), (4, BreakKind::SaltMissing));
        // The first record's salt removed: the chain reads as format 1, so the next salt is
        // the one out of place.
        let mut first = records.clone();
        first[0].salt = None;
        first[0].hash = first[0].compute_hash().unwrap();
        first[1].prev_hash = first[0].hash;
        first[1].hash = first[1].compute_hash().unwrap();
        assert_eq!(broken(&first), (2, BreakKind::UnexpectedSalt));
    }

    #[test]
    fn salts_have_no_place_on_format_1_chains_or_the_system_chain() {
        let mut records = chain_of(3);
        assert!(records.iter().all(|r| r.salt.is_none()));
        // A format-1 chain goes on unsalted, also through from_event.
        let next = AuditRecord::from_event(
            records.last(),
            trial(),
            &Event {
                seq: 4,
                body: EventBody::DataCollectionClosed,
            },
            &by(4),
            &test_seed(),
        )
        .unwrap();
        assert_eq!(next.salt, None);
        records.push(next);
        assert!(verify_chain(&records).is_ok());
        let mut salted = records.clone();
        salted[2].salt = Some(Salt::derive(&test_seed(), &trial(), 3));
        salted[2].hash = salted[2].compute_hash().unwrap();
        salted[3].prev_hash = salted[2].hash;
        salted[3].hash = salted[3].compute_hash().unwrap();
        assert_eq!(broken(&salted), (3, BreakKind::UnexpectedSalt));

        let mut system =
            vec![AuditRecord::append(None, ChainId::system(), "x", &1, &by(0)).unwrap()];
        assert_eq!(
            RecordFormat::for_next(&ChainId::system(), None),
            RecordFormat::Unsalted
        );
        system[0].salt = Some(Salt::from_bytes([1; 32]));
        system[0].hash = system[0].compute_hash().unwrap();
        assert_eq!(broken(&system), (1, BreakKind::UnexpectedSalt));
    }

    #[test]
    fn a_fresh_chain_verifies_and_names_its_head() {
        let records = chain_of(5);
        let head = verify_chain(&records).unwrap().unwrap();
        assert_eq!(head.seq, 5);
        assert_eq!(head.hash, records[4].hash);
        assert_eq!(head.chain, trial());
        assert_eq!(records[0].prev_hash, Hash::GENESIS);
        assert_eq!(verify_chain(&[]), Ok(None));
    }

    #[test]
    fn every_kind_of_tampering_is_found_at_its_record() {
        let records = chain_of(6);

        let mut edited = records.clone();
        edited[2].payload = edited[2].payload.replace("\"i\":2", "\"i\":7");
        assert!(matches!(
            broken(&edited),
            (3, BreakKind::HashMismatch { .. })
        ));

        let mut edited = records.clone();
        edited[3].actor = "mallory".into();
        assert!(matches!(
            broken(&edited),
            (4, BreakKind::HashMismatch { .. })
        ));

        let mut edited = records.clone();
        edited[1].hash = edited[0].hash;
        assert!(matches!(
            broken(&edited),
            (2, BreakKind::HashMismatch { .. })
        ));

        let mut edited = records.clone();
        edited[4].prev_hash = Hash::GENESIS;
        assert!(matches!(
            broken(&edited),
            (5, BreakKind::PrevHashMismatch { .. })
        ));

        let mut edited = records.clone();
        edited.remove(3);
        assert_eq!(broken(&edited), (4, BreakKind::SequenceGap { found: 5 }));

        let mut edited = records.clone();
        edited.swap(1, 2);
        assert_eq!(broken(&edited), (2, BreakKind::OutOfOrder { found: 3 }));

        let mut edited = records.clone();
        edited.insert(3, records[2].clone());
        assert_eq!(broken(&edited), (4, BreakKind::OutOfOrder { found: 3 }));

        let mut edited = records.clone();
        edited[2].chain = ChainId::system();
        assert_eq!(
            broken(&edited),
            (
                3,
                BreakKind::WrongChain {
                    found: ChainId::system()
                }
            )
        );

        let mut edited = records.clone();
        edited.remove(0);
        assert_eq!(broken(&edited), (1, BreakKind::SequenceGap { found: 2 }));
    }

    #[test]
    fn a_rehashed_non_canonical_payload_is_found() {
        let mut records = chain_of(2);
        records[1].payload = "{ \"i\": 1 }".into();
        records[1].hash = records[1].compute_hash().unwrap();
        assert_eq!(broken(&records), (2, BreakKind::PayloadNotCanonical));
    }

    #[test]
    fn append_checks_its_inputs() {
        let records = chain_of(1);
        let system = AuditRecord::append(records.last(), ChainId::system(), "x", &1, &by(0));
        assert!(matches!(system, Err(AuditError::ChainMismatch { .. })));
        for kind in ["", "Note", "1note", "note-x", "note x"] {
            assert!(
                AuditRecord::append(None, trial(), kind, &1, &by(0)).is_err(),
                "{kind}"
            );
        }
        let mut blank = by(0);
        blank.actor = " ".into();
        assert!(AuditRecord::append(None, trial(), "note", &1, &blank).is_err());
        let mut blank = by(0);
        blank.reason = Some("\n".into());
        assert!(AuditRecord::append(None, trial(), "note", &1, &blank).is_err());
        assert!(matches!(
            AuditRecord::append(None, trial(), "note", &[f64::NAN], &by(0)),
            Err(AuditError::Canonical(CanonicalError::NonFinite { .. }))
        ));
    }

    #[test]
    fn events_keep_their_sequence_numbers_and_read_back() {
        let events = [
            Event {
                seq: 1,
                body: EventBody::TrialStarted {
                    protocol_hash: "ab".into(),
                    seed_commitment: "cd".into(),
                },
            },
            Event {
                seq: 2,
                body: EventBody::DataCollectionClosed,
            },
        ];
        let seed = TrialSeed::from_u64(1);
        let records = AuditRecord::from_events(None, &trial(), &events, &by(1), &seed).unwrap();
        assert_eq!(records[1].kind, "data_collection_closed");
        assert_eq!(records[0].to_event().unwrap(), events[0]);
        assert_eq!(records[1].to_event().unwrap(), events[1]);
        assert!(verify_chain(&records).is_ok());
        // An event whose seq is not the chain's next is refused, as is the system chain.
        let skipped =
            AuditRecord::from_event(Some(&records[1]), trial(), &events[1], &by(2), &seed);
        assert_eq!(
            skipped,
            Err(AuditError::SeqMismatch {
                expected: 3,
                found: 2
            })
        );
        assert!(
            AuditRecord::from_event(None, ChainId::system(), &events[0], &by(2), &seed).is_err()
        );
        let mut relabelled = records[1].clone();
        relabelled.kind = "trial_started".into();
        assert!(relabelled.to_event().is_err());
    }

    #[test]
    fn ids_and_hashes_parse_and_print() {
        assert_eq!("system".parse::<ChainId>().unwrap(), ChainId::system());
        let id: ChainId = "trial:PLAT-2026-01".parse().unwrap();
        assert_eq!(id.trial_id(), Some("PLAT-2026-01"));
        assert_eq!(id.to_string(), "trial:PLAT-2026-01");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"trial:PLAT-2026-01\""
        );
        assert_eq!(
            ChainId::trial("system").unwrap().to_string(),
            "trial:system"
        );
        for bad in ["", "trial:", "trial: x", "Trial:x", "sys"] {
            assert!(bad.parse::<ChainId>().is_err(), "{bad:?}");
        }
        let hash = chain_of(1)[0].hash;
        assert_eq!(hash.to_hex().parse::<Hash>().unwrap(), hash);
        assert_eq!(hash.to_hex().to_uppercase().parse::<Hash>().unwrap(), hash);
        assert!("abc".parse::<Hash>().is_err());
        let record = &chain_of(1)[0];
        let json = serde_json::to_string(record).unwrap();
        assert_eq!(&serde_json::from_str::<AuditRecord>(&json).unwrap(), record);
    }
}
