//! TOML protocols: parsing, validation with file:line:col errors, and the canonical hash.
//!
//! Entry points: [`Protocol::from_toml`] and [`Protocol::load`] give a validated [`Protocol`] or
//! every error found ([`ProtocolErrors`]); [`LoadedProtocol`] adds the source text and its
//! [`ProtocolHash`], which is what signatures and trial records bind to. The keys, defaults and
//! constraints are documented in `protocols/README.md`.
//!
//! This layer imports `stats` types at most; it must not know about the engine, the database or
//! the web, and it does no I/O except reading the file in `load`.

mod error;
mod hash;
pub mod limits;
pub mod model;
mod parse;
pub mod precision;
mod raw;
mod validate;

pub use error::{line_column, ProtocolError, ProtocolErrors};
pub use hash::{canonical_json, LoadedProtocol, ProtocolHash};
pub use model::*;
pub use validate::{default_prior, DEFAULT_BETA, DEFAULT_GAMMA, DEFAULT_POWER};
