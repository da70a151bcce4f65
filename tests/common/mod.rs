//! Helpers shared by the integration tests, in one place: [`trials`] runs trials through the
//! service and exports them (a fresh SQLite database per test, users in every role, demo trials
//! run a little, exports and their lines); [`backend`] gives a test its own SQLite or
//! PostgreSQL database and lets it tamper with it; [`app`] drives the real web app in process over a
//! seeded service (the same seed and clock give the same answers, byte for byte).

#![allow(dead_code, reason = "each test binary uses part of the helpers")]

pub mod app;
pub mod backend;
pub mod trials;

#[allow(unused_imports, reason = "each test binary uses part of the helpers")]
pub use app::*;
#[allow(unused_imports, reason = "each test binary uses part of the helpers")]
pub use backend::Backend;
#[allow(unused_imports, reason = "each test binary uses part of the helpers")]
pub use trials::*;

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery staple";
