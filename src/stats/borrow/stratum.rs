//! A stratum as the rows of a borrowing fit see it: a binary stratum's data with the reach and
//! narrowest width of its likelihood ([`BinaryStratum`]), and its values at one (μ, τ) node
//! ([`NodeValues`]).
//!
//! Numbers in, numbers out.

use super::inner::softplus_and_expit;

/// Nats below its supremum where a stratum's tabulated likelihood stops.
pub(super) const SUPPORT_DROP: f64 = 60.0;

/// Exponents beyond which [`NodeValues::scaled`] keeps a factor and its logarithm apart (e^600
/// is inside the range of `f64`; the node weights multiply such values through a product that
/// moves into a logarithm when it leaves its range, `crate::stats::log_sum`).
const LINEAR_RANGE: f64 = 600.0;

/// A stratum's values at one node.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NodeValues {
    /// Lⱼ(μ, τ) = `marginal`·e^`ln_scale` (binary: relative to the likelihood's supremum, no
    /// binomial coefficient). The grid's sums give Lⱼ itself (`ln_scale` 0) and the node's
    /// weight multiplies them, so that no logarithm is taken per stratum and node; a closed
    /// form or the inner quadrature whose exponent is beyond ±600 keeps it in `ln_scale` (and
    /// its prefactor, or 1, in `marginal`).
    pub(super) marginal: f64,
    pub(super) ln_scale: f64,
    /// E[p], E[p²] given (μ, τ, yⱼ) (E[θ], E[θ²] for normal strata).
    pub(super) first: f64,
    pub(super) second: f64,
    /// P(θ ≤ cut | μ, τ, yⱼ).
    pub(super) below: f64,
}

impl NodeValues {
    /// (`marginal`, `ln_scale`) for Lⱼ = `factor`·e^`ln_factor`: folded into `marginal` when
    /// e^`ln_factor` is well inside the range of `f64`, else kept apart.
    pub(super) fn scaled(factor: f64, ln_factor: f64) -> (f64, f64) {
        if ln_factor.abs() < LINEAR_RANGE {
            (factor * ln_factor.exp(), 0.0)
        } else {
            (factor, ln_factor)
        }
    }

    /// Values whose Lⱼ is given by its logarithm.
    pub(super) fn with_ln(ln_marginal: f64, first: f64, second: f64, below: f64) -> Self {
        let (marginal, ln_scale) = Self::scaled(1.0, ln_marginal);
        Self {
            marginal,
            ln_scale,
            first,
            second,
            below,
        }
    }

    /// ln Lⱼ(μ, τ).
    pub(super) fn ln_marginal(&self) -> f64 {
        self.marginal.ln() + self.ln_scale
    }
}

/// A binary stratum as the rows use it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BinaryStratum {
    pub(super) y: f64,
    pub(super) n: f64,
    /// ℓ̂, the supremum of y·θ − n·ln(1 + e^θ).
    pub(super) top: f64,
    /// The mean and SD of the likelihood's normal approximation.
    pub(super) estimate: f64,
    pub(super) sigma: f64,
    /// Where ℓ − ℓ̂ > −[`SUPPORT_DROP`] (infinite on the side where y = 0 or y = n leaves it flat).
    pub(super) support: (f64, f64),
}

impl BinaryStratum {
    /// y of n, with its approximate likelihood SD.
    pub(super) fn new(y: f64, n: f64, top: f64, estimate: f64, sigma: f64) -> Self {
        let drop = SUPPORT_DROP;
        let relative = |theta: f64| {
            let (softplus, _) = softplus_and_expit(theta);
            y * theta - n * softplus - top
        };
        // Step out from the maximum until the log-likelihood has dropped, then bisect.
        let bound = |from: f64, direction: f64| -> f64 {
            let mut inner = from;
            let mut reach = sigma.max(1e-6);
            let mut outer = from + direction * reach;
            let mut guard = 0;
            while relative(outer) > -drop && guard < 200 {
                inner = outer;
                reach *= 2.0;
                outer = from + direction * reach;
                guard += 1;
            }
            for _ in 0..60 {
                let mid = 0.5 * (inner + outer);
                if relative(mid) > -drop {
                    inner = mid;
                } else {
                    outer = mid;
                }
            }
            outer
        };
        let support = if y <= 0.0 {
            // −n·softplus(θ) > −drop ⇔ θ < ln(e^(drop/n) − 1).
            (f64::NEG_INFINITY, (drop / n).exp_m1().ln())
        } else if y >= n {
            (-(drop / n).exp_m1().ln(), f64::INFINITY)
        } else {
            let mode = (y / (n - y)).ln();
            (bound(mode, -1.0), bound(mode, 1.0))
        };
        Self {
            y,
            n,
            top,
            estimate,
            sigma,
            support,
        }
    }

    /// The narrowest width in θ that the likelihood gives L(θ)·N(θ; μ, τ²) for μ in
    /// [lo, hi]: the SD 1/√(n·p(1 − p)) of ℓ's curvature at its largest where the
    /// integrand's mode can be, between the stratum's estimate and μ (ℓ is concave), and at most
    /// σ. The normal approximation's σ alone, taken at the estimate, is wider than ℓ where
    /// p is nearer ½: a stratum with 0 of 60 has σ = 1.4 but an SD of 0.26 at θ = 0, where a
    /// conflicting μ pulls the integrand.
    pub(super) fn narrowest(&self, lo: f64, hi: f64) -> f64 {
        let (a, b) = (lo.min(self.estimate), hi.max(self.estimate));
        let theta = if b < 0.0 {
            b
        } else if a > 0.0 {
            a
        } else {
            0.0
        };
        let (_, p) = softplus_and_expit(theta);
        let curvature = self.n * p * (1.0 - p);
        if curvature > 0.0 {
            self.sigma.min(curvature.sqrt().recip())
        } else {
            self.sigma
        }
    }
}
