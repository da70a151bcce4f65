//! Precision designs in the engine: enrolment by biomarkers into a stratum, randomisation
//! within the stratum, and at each look the per-stratum posteriors, each arm's predictive
//! probability of success per signature, graduation and futility (`METHODS.md`, "Precision
//! designs"). The state they fold into is [`StrataState`].

mod allocate;
mod look;
mod state;

pub use state::{Graduated, StrataState};

#[cfg(test)]
mod tests;
