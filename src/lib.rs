//! bayestrial: Bayesian adaptive clinical trials with one engine for simulation, live running and
//! replay.
//!
//! Layers, each importing only the ones above it in this list:
//! - [`stats`]: numerics only (conjugate models, decision probabilities by quadrature);
//! - [`protocol`]: TOML protocols into a validated [`protocol::Protocol`];
//! - [`engine`]: events, the trial state as a fold over events, allocation and decision rules;
//! - [`audit`]: canonical JSON, the hash chain of audit records, signed checkpoints and their
//!   offline verification (imports [`engine`] event types only).

pub mod audit;
pub mod engine;
pub mod protocol;
pub mod service;
pub mod sim;
pub mod stats;
pub mod store;
