//! The trial engine: events, the state as a fold over events, and the commands that read the
//! state and return new events (enrol and randomise, record or correct an outcome, run the look
//! that is due, amend, close, the committee's recommendation).
//!
//! The engine does no I/O, reads no clock and owns no global RNG: every random draw comes from the
//! trial seed and the event's sequence number ([`TrialSeed::draw`]). The simulator, the live
//! service and replay all drive this one engine; no rule of the trial exists anywhere else.

mod allocation;
mod analysis;
mod commands;
mod decision;
mod dmc;
mod draw;
pub mod events;
pub mod history;
pub mod nof1;
mod precision;
mod replay;
mod schedule;
mod state;
pub mod strata;

pub use allocation::{adaptive_probabilities, block_probabilities, choose, clamp_probabilities};
pub use commands::{Engine, NewArm};
pub use dmc::{MAX_RATIONALE, MAX_SIGNER};
pub use draw::{DrawCache, TrialSeed};
pub use events::{
    AllocationBasis, ArmAnalysis, ArmShare, Conclusion, Disclosure, DropReason, Event, EventBody,
    Origin, OutcomeValue, RandomisationPhase, Recommendation, RevealCause, StopReason,
};
pub use history::{Change, Decision, History};
pub use nof1::{Calendar, DayPhase, Nof1Effect, Nof1Patient, PatientEnd, SeriesSummary};
pub use precision::{Graduated, StrataState};
pub use replay::replay;
pub use schedule::{extend_looks, extended_look_count};
pub use state::{
    ArmState, ArmStatus, EnrolmentClosed, Participant, TrialState, TrialStatus, Verdict,
};

use crate::stats::StatsError;

/// Why a command was refused or a log could not be folded. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The command does not fit the trial's state (wrong phase, unknown participant, …).
    #[error("{0}")]
    Refused(String),
    /// An input value is invalid.
    #[error("{field}: {problem}")]
    Invalid {
        /// Which input.
        field: &'static str,
        /// What is wrong and what would be valid.
        problem: String,
    },
    /// An event does not fit the state it is applied to.
    #[error("event {seq}: {problem}")]
    Log {
        /// The event's sequence number.
        seq: u64,
        /// What does not fit.
        problem: String,
    },
    /// A numerical routine refused its arguments (a bug if it happens).
    #[error("numerics: {0}")]
    Stats(#[from] StatsError),
}

/// A replayed log differs from what the engine derives.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("event {seq}: {problem}")]
pub struct ReplayMismatch {
    /// The first event that differs.
    pub seq: u64,
    /// How it differs.
    pub problem: String,
}
