//! The audit layer: the hash chain of audit records, the server's signed checkpoints, and the
//! offline verification of both, all over the [`crate::canonical`] encoding.
//!
//! Every change to a trial (and, on the system chain, to users, roles, logins and exports: a
//! [`SystemEvent`]) becomes an [`AuditRecord`] whose hash covers its predecessor's hash, so
//! removing, reordering or editing any record is detected by [`verify_chain`]; a [`Checkpoint`]
//! signed with the server's Ed25519 key pins the head of a chain at a point in time, so a chain
//! rewritten after the checkpoint and re-hashed from the edit onwards, or cut after it, is
//! detected by [`verify_checkpoints`]; every command's head is signed and the checkpoints of a
//! chain are linked, so a deleted checkpoint or an uncovered head is detected by
//! [`verify_checkpoint_sequence`], and a chain cut or rewritten since an export, by comparing it
//! with the system chain's `export` records ([`verify_exported_heads`]) or with the earlier
//! export itself ([`verify_extends`]). On the trial chains begun since record format 2, each
//! record's hash also covers a secret [`Salt`] derived from the trial's seed, so a record whose
//! payload is sealed from a blinded viewer cannot be guessed from its hash ([`verify_salts`]
//! checks the salts against the seed). The exact bytes hashed and signed are documented on
//! [`canonical_json`], [`AuditRecord`], [`Salt`] and [`Checkpoint`], and in `METHODS.md` §8 and
//! §10.
//!
//! This layer is pure so that `bayestrial audit verify` can run offline on an export, without a
//! database: it must not read the clock (times come in as [`UtcTimestamp`] arguments), own or
//! seed a random number generator (key generation takes the caller's RNG), touch files, the
//! network or a database, or import `web`, `store` or `sim`. Of the layers above it, it imports
//! only the [`crate::engine`] event types and the [`crate::canonical`] leaf.

mod chain;
mod chain_id;
mod checkpoint;
mod consistency;
mod salt;
mod system;
mod time;
mod witness;

pub use crate::canonical::{canonical, canonical_json, CanonicalError};
pub use chain::{
    verify_chain, verify_salts, Attribution, AuditRecord, BreakKind, ChainBreak, ChainHead, Hash,
    RecordFormat,
};
pub use chain_id::ChainId;
pub use checkpoint::{
    verify_checkpoints, Checkpoint, CheckpointBreak, CheckpointProblem, PublicKey, Purpose,
    ServerKey, Signature, DOCUMENT_CONTEXT,
};
pub use consistency::{
    verify_checkpoint_sequence, verify_exported_heads, verify_extends, ConsistencyProblem,
    Inconsistency,
};
pub use salt::{Salt, SALT_LABEL};
pub use system::{
    signatures_of, ElectronicSignature, NoFailure, NotASystemEvent, ResultsView, RoleChange,
    SignatureFailure, SystemEvent, UnblindingFailure,
};
pub use time::UtcTimestamp;
pub use witness::{
    check_witnessed, parse_witness_file, record_hashes, witness_line, WitnessBreak,
    WitnessLineError, WitnessedHead, MAX_WITNESS_LINE,
};

/// Everything that can go wrong in the audit layer.
///
/// Verification findings ([`ChainBreak`], [`CheckpointBreak`]) are their own types, because a
/// verifier reports them as results; they convert into this enum for callers that treat a broken
/// chain as an error of the operation at hand.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuditError {
    /// A value has no canonical JSON text (a NaN or an infinity, or no JSON form at all).
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// A value could not be turned into JSON at all.
    #[error("cannot encode as JSON: {0}")]
    Encode(String),
    /// An input is invalid.
    #[error("{field}: {problem}")]
    Invalid {
        /// Which input.
        field: &'static str,
        /// What is wrong and what would be valid.
        problem: String,
    },
    /// The previous record given belongs to another chain.
    #[error("the previous record is on chain {found}, not on {expected}")]
    ChainMismatch {
        /// The chain being appended to.
        expected: ChainId,
        /// The chain of the record given as previous.
        found: ChainId,
    },
    /// An engine event's sequence number is not the next one of the chain.
    #[error("event {found} cannot be record {expected} of the chain: on a trial chain the record's sequence number is the event's")]
    SeqMismatch {
        /// The chain's next sequence number.
        expected: u64,
        /// The event's.
        found: u64,
    },
    /// A record's payload is not the event it claims to be.
    #[error("record {seq}: {problem}")]
    Payload {
        /// The record's sequence number.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// A chain failed verification.
    #[error(transparent)]
    Chain(Box<ChainBreak>),
    /// A checkpoint failed verification.
    #[error(transparent)]
    Checkpoint(Box<CheckpointBreak>),
    /// A system-chain record does not read as a system event.
    #[error(transparent)]
    NotASystemEvent(Box<NotASystemEvent>),
}

impl From<NotASystemEvent> for AuditError {
    fn from(record: NotASystemEvent) -> Self {
        Self::NotASystemEvent(Box::new(record))
    }
}

impl From<ChainBreak> for AuditError {
    fn from(broken: ChainBreak) -> Self {
        Self::Chain(Box::new(broken))
    }
}

impl From<CheckpointBreak> for AuditError {
    fn from(broken: CheckpointBreak) -> Self {
        Self::Checkpoint(Box::new(broken))
    }
}
