//! Posterior summaries of one arm: mean, median, SD and the equal-tailed 95% interval.

use serde::Serialize;

use super::{Marginal, Quadrature, StatsError};

/// Point and interval summaries of a posterior marginal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PosteriorSummary {
    /// Posterior mean (absent for a Student-t with df ≤ 1).
    pub mean: Option<f64>,
    /// Posterior median.
    pub median: f64,
    /// Posterior SD (absent for a Student-t with df ≤ 2).
    pub sd: Option<f64>,
    /// Equal-tailed 95% credible interval: the 2.5% and 97.5% quantiles.
    pub ci95: [f64; 2],
}

impl Quadrature {
    /// Mean, median, SD and equal-tailed 95% interval of `marginal`.
    pub fn summary(&mut self, marginal: &Marginal) -> Result<PosteriorSummary, StatsError> {
        Ok(PosteriorSummary {
            mean: marginal.mean(),
            median: self.quantile(marginal, 0.5)?,
            sd: marginal.sd(),
            ci95: [
                self.quantile(marginal, 0.025)?,
                self.quantile(marginal, 0.975)?,
            ],
        })
    }
}
