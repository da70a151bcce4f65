//! bayestrial: Bayesian adaptive clinical trials with one engine for simulation, live running and
//! replay.
//!
//! Layers, each importing only the ones above it in this list:
//! - [`canonical`]: the canonical JSON encoding that every hash and signature is computed over (a
//!   leaf: imports nothing of ours);
//! - [`stats`]: numerics only (conjugate models, decision probabilities by quadrature);
//! - [`protocol`]: TOML protocols into a validated [`protocol::Protocol`];
//! - [`engine`]: events, the trial state as a fold over events, allocation and decision rules;
//! - [`sim`]: Monte Carlo of the engine, metrics, calibration, reports;
//! - [`audit`]: the hash chain of audit records, signed checkpoints and their
//!   offline verification (imports [`engine`] event types only);
//! - [`export`]: CDISC ODM, JSON Lines, CSV and the regulatory package of one trial, and their
//!   offline verification and replay (imports [`audit`], [`engine`], [`protocol`]);
//! - [`store`]: diesel rows and queries over SQLite and PostgreSQL (knows rows, not rules; imports
//!   nothing of ours);
//! - [`service`]: the live trial, joining [`engine`], [`store`] and [`audit`]: one transaction
//!   per command.

pub mod audit;
pub mod canonical;
pub mod engine;
pub mod export;
pub mod html;
pub mod notify;
pub mod protocol;
pub mod service;
pub mod sim;
pub mod stats;
pub mod store;
pub mod web;
