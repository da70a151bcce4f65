//! The integral of one binary stratum given (μ, τ): its binomial likelihood over θ ~ N(μ, τ²),
//! with the conditional moments of p = logit⁻¹(θ) and θ and the conditional CDF of θ at any
//! point ([`logit_normal`], [`InnerValues::cdf`]).
//!
//! Shared by every hierarchical model over logits (strata here; historical studies for a
//! meta-analytic prior): nothing here knows how μ and τ are integrated.

use crate::stats::nof1::panels::{GL_NODES, GL_WEIGHTS};

/// Gauss–Legendre panels of the inner rule.
pub(crate) const INNER_PANELS: usize = 5;
/// Points of the inner rule.
pub(crate) const INNER_POINTS: usize = INNER_PANELS * 8;
/// Nats below the mode that bound the inner range.
const INNER_DROP: f64 = 38.0;
/// Newton steps at most towards the mode.
const MODE_STEPS: usize = 30;

/// `LEGENDRE[m][k]` = (2m + 1)/2 · P_m(xₖ) at the 8 Gauss–Legendre nodes: the Legendre
/// coefficients of a panel's density are Σₖ LEGENDRE[m][k]·(weighted node value)ₖ.
fn legendre_table() -> [[f64; 8]; 8] {
    let mut table = [[0.0; 8]; 8];
    for (k, &x) in GL_NODES.iter().enumerate() {
        let p = legendre_all(x);
        for (m, row) in table.iter_mut().enumerate() {
            row[k] = (2.0 * m as f64 + 1.0) / 2.0 * p[m];
        }
    }
    table
}

/// P₀ … P₈ at v.
pub(crate) fn legendre_all(v: f64) -> [f64; 9] {
    let mut p = [0.0; 9];
    p[0] = 1.0;
    p[1] = v;
    for m in 1..8 {
        let mf = m as f64;
        p[m + 1] = ((2.0 * mf + 1.0) * v * p[m] - mf * p[m - 1]) / (mf + 1.0);
    }
    p
}

/// The inner rule's tables (built once per workspace).
#[derive(Debug, Clone)]
pub(crate) struct InnerRule {
    legendre: [[f64; 8]; 8],
}

impl InnerRule {
    pub(crate) fn new() -> Self {
        Self {
            legendre: legendre_table(),
        }
    }
}

/// A stratum's conditional posterior of θ given (μ, τ) on the inner rule: θ = centre +
/// spread·sinh(v), v on [v_lo, v_lo + 2·half·INNER_PANELS], and the normalised node masses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InnerValues {
    /// ln ∫ exp(ℓ(θ) − ℓ̂) N(θ; μ, τ²) dθ.
    pub(crate) ln_marginal: f64,
    /// E[p], E[p²].
    pub(crate) mean: f64,
    pub(crate) second: f64,
    centre: f64,
    spread: f64,
    v_lo: f64,
    half: f64,
    /// Node masses (summing to 1).
    masses: [f64; INNER_POINTS],
}

impl InnerValues {
    /// P(θ ≤ t) and the density there.
    pub(crate) fn cdf(&self, rule: &InnerRule, t: f64) -> (f64, f64) {
        let x = (t - self.centre) / self.spread;
        let v = x.asinh();
        let position = (v - self.v_lo) / (2.0 * self.half);
        if position.is_nan() || position <= 0.0 {
            return (0.0, 0.0);
        }
        if position >= INNER_PANELS as f64 {
            return (1.0, 0.0);
        }
        let panel = (position as usize).min(INNER_PANELS - 1);
        let before: f64 = self.masses[..panel * 8].iter().sum();
        let u = 2.0 * (position - panel as f64) - 1.0;
        let p = legendre_all(u);
        let local = &self.masses[panel * 8..(panel + 1) * 8];
        let mut partial = 0.0;
        let mut density = 0.0;
        for m in 0..8 {
            let a: f64 = rule.legendre[m].iter().zip(local).map(|(l, w)| l * w).sum();
            // ∫₋₁ᵘ P₀ = u + 1; ∫₋₁ᵘ P_m = (P_{m+1} − P_{m−1})/(2m + 1).
            partial += if m == 0 {
                a * (u + 1.0)
            } else {
                a * (p[m + 1] - p[m - 1]) / (2.0 * m as f64 + 1.0)
            };
            density += a * p[m];
        }
        // density is per unit u; per unit θ: du/dv = 1/half, dv/dθ = 1/(spread·cosh v).
        let density = density / (self.half * self.spread * v.cosh());
        ((before + partial).clamp(0.0, 1.0), density.max(0.0))
    }
}

/// ln(1 + e^θ) and logit⁻¹(θ), from one exponential.
#[inline(always)]
pub(crate) fn softplus_and_expit(theta: f64) -> (f64, f64) {
    let e = (-theta.abs()).exp();
    let softplus = theta.max(0.0) + e.ln_1p();
    let p = if theta >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (softplus, p)
}

/// ℓ(θ) − ℓ̂ for y responders of n, with p = logit⁻¹(θ).
#[inline(always)]
fn relative_log_likelihood(y: f64, n: f64, top: f64, theta: f64) -> (f64, f64) {
    let (softplus, p) = softplus_and_expit(theta);
    (y * theta - n * softplus - top, p)
}

/// The supremum ℓ̂ of y·θ − n·ln(1 + e^θ) over θ: y ln(y/n) + (n − y) ln(1 − y/n), 0 when y is
/// 0 or n.
pub(crate) fn binomial_top(y: f64, n: f64) -> f64 {
    let mut top = 0.0;
    if y > 0.0 {
        top += y * (y / n).ln();
    }
    if n - y > 0.0 {
        top += (n - y) * ((n - y) / n).ln();
    }
    top
}

/// The integral of y responders of n over θ ~ N(μ, τ²) (binomial coefficient left out):
///
/// ∫ exp(ℓ(θ) − ℓ̂) N(θ; μ, τ²) dθ = (2π)^(−½) ∫ exp(g(z)) dz, g(z) = ℓ(μ + τz) − ℓ̂ − z²/2,
///
/// in the standardised variable z, so that τ → 0 needs no special case. g is concave
/// (g″ = −τ²·n·p(1 − p) − 1 ≤ −1): its mode ẑ is found by Newton's method from `guess`, and
/// s = (−g″(ẑ))^(−½) is the Laplace scale. The rule maps z = ẑ + s·sinh(v): near the mode the
/// map is the Laplace standardisation (a likelihood much narrower than the prior, large n, is
/// resolved), and the sinh stretches the tails, which g″ ≤ −1 bounds by a unit normal in z
/// however narrow the mode is. The range of v ends on each side where g has dropped
/// [`INNER_DROP`] nats below its mode (stepping out from |z − ẑ| = √76·s), and is cut into
/// [`INNER_PANELS`] equal Gauss–Legendre panels of 8 points. The node masses also give the
/// conditional CDF at any θ (Legendre expansion on the panel, integrated in closed form).
#[allow(clippy::too_many_arguments)]
pub(crate) fn logit_normal(y: f64, n: f64, top: f64, mu: f64, tau: f64, guess: f64) -> InnerValues {
    let g = |z: f64| -> (f64, f64) {
        let theta = mu + tau * z;
        let (l, p) = relative_log_likelihood(y, n, top, theta);
        (l - 0.5 * z * z, p)
    };
    let mut z = guess;
    for _ in 0..MODE_STEPS {
        let (_, p) = relative_log_likelihood(y, n, top, mu + tau * z);
        let slope = tau * (y - n * p) - z;
        let curvature = tau * tau * n * p * (1.0 - p) + 1.0;
        let step = slope / curvature;
        z += step;
        if step.abs() * curvature.sqrt() < 1e-9 {
            break;
        }
    }
    if !z.is_finite() {
        z = if guess.is_finite() { guess } else { 0.0 };
    }
    let (g_top, p_top) = g(z);
    let s = 1.0 / (tau * tau * n * p_top * (1.0 - p_top) + 1.0).sqrt();
    let edge = |direction: f64| -> f64 {
        let mut reach = (2.0 * INNER_DROP).sqrt();
        for _ in 0..60 {
            let (value, _) = g(z + direction * s * reach);
            if value - g_top < -INNER_DROP {
                break;
            }
            reach *= 1.6;
        }
        reach.asinh()
    };
    let (v_lo, v_hi) = (-edge(-1.0), edge(1.0));
    let half = 0.5 * (v_hi - v_lo) / INNER_PANELS as f64;
    let mut masses = [0.0; INNER_POINTS];
    let (mut total, mut first, mut second) = (0.0, 0.0, 0.0);
    for panel in 0..INNER_PANELS {
        let mid = v_lo + half * (2 * panel + 1) as f64;
        for k in 0..8 {
            let v = mid + half * GL_NODES[k];
            let x = v.sinh();
            let (gk, pk) = g(z + s * x);
            let mass = half * GL_WEIGHTS[k] * s * v.cosh() * (gk - g_top).exp();
            masses[panel * 8 + k] = mass;
            total += mass;
            first += mass * pk;
            second += mass * pk * pk;
        }
    }
    if !(total > 0.0 && total.is_finite() && g_top.is_finite()) {
        // Nothing representable: the stratum's likelihood vanishes under this prior.
        return InnerValues {
            ln_marginal: f64::NEG_INFINITY,
            mean: 0.0,
            second: 0.0,
            centre: mu,
            spread: tau.max(f64::MIN_POSITIVE),
            v_lo: -1.0,
            half: 1.0 / INNER_PANELS as f64,
            masses: [1.0 / INNER_POINTS as f64; INNER_POINTS],
        };
    }
    let scale = 1.0 / total;
    masses.iter_mut().for_each(|m| *m *= scale);
    let spread = tau * s;
    InnerValues {
        ln_marginal: g_top + total.ln() - LN_SQRT_2PI,
        mean: first * scale,
        second: second * scale,
        centre: mu + tau * z,
        spread,
        v_lo,
        half,
        masses,
    }
}

/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
