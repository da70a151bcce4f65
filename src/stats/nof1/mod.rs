//! n-of-1 numerics: one patient's treatment effects, and the hierarchical model that pools a
//! series of n-of-1 trials.
//!
//! [`analyse_patient`] gives the posterior of every contrast "treatment k minus treatment 0" from
//! one patient's measurements, with independent errors (exact Student-t) or with AR(1) errors in
//! study time (the autocorrelation integrated out by deterministic quadrature, so the posterior is
//! a finite mixture of Student-t's). [`pool_series`] combines the patients' effect estimates in
//! the normal-normal hierarchical model with a half-Cauchy prior on the between-patient SD, by
//! deterministic quadrature over that SD, and also reports the empirical-Bayes fit.
//!
//! Numerics only: nothing here knows protocols, schedules, periods, files or the engine; callers
//! pass measurements already selected (washout days left out, for example). Every formula is in
//! `METHODS.md`, "n-of-1 analysis". Nothing here draws random numbers.
//!
//! Layout: `types` holds the inputs and results; `patient` the one-patient analysis, with the
//! regression at one ρ in `regression`; `series` the hierarchical model; `mixture` the Student-t
//! and normal mixtures both summarise; `panels` the quadrature grids. The special functions and
//! root finders they use are `stats`' own (`stats::special`, `stats::roots`).

mod mixture;
pub(crate) mod panels;
mod patient;
mod regression;
mod series;
mod types;

pub use patient::analyse_patient;
pub use series::pool_series;
pub use types::{
    EffectOptions, EffectPosterior, EmpiricalBayes, Nof1Observation, Nof1Prior, PatientEffect,
    PopulationEffect, SeriesOptions, SeriesPosterior, ShrunkenEffect, TComponent, TauSummary,
};
