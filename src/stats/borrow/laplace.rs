//! Laplace's method with its next terms for a binary stratum at (μ, τ) when τ is far below
//! the likelihood's width: the rows ([`super::rows`]) take it instead of the θ grid there.
//!
//! Numbers in, numbers out.

use super::inner::softplus_and_expit;
use super::stratum::{BinaryStratum, NodeValues};
use crate::stats::special::NormalTable;

/// τ well below the likelihood's width (τ below a tenth of σ, where [`super::rows`] takes it): Laplace's method with its
/// next terms. With ψ(θ) = ℓ(θ) − (θ − μ)²/(2τ²) expanded at a point a (μ, or one Newton step
/// towards ψ's mode when that step exceeds the conditional SD),
/// ψ(a + δ) = ψ(a) + ψ′δ + ψ″δ²/2 + R(δ), R(δ) = ℓ‴δ³/6 + ℓ⁗δ⁴/24,
/// the integral is e^ψ(a)·√(v/τ²)·e^(m²/(2v))·E[e^R] over δ ~ N(m, v), v = −1/ψ″, m = vψ′, with
/// E[e^R] ≈ 1 + ℓ‴E[δ³]/6 + ℓ⁗E[δ⁴]/24 + ℓ‴²E[δ⁶]/72; E[p], E[p²] and P(θ ≤ cut) are
/// E[g(δ)e^R]/E[e^R] with g's Taylor expansion through δ⁴ (for the CDF, the truncated normal
/// moments). The terms left out are O(τ⁶/σ⁴) relative. `at`: ln(1 + e^μ) and logit⁻¹ μ.
pub(super) fn expansion(
    s: &BinaryStratum,
    tau: f64,
    mu: f64,
    cut: f64,
    (softplus_mu, p_mu): (f64, f64),
) -> NodeValues {
    let t2 = tau * tau;
    let info_mu = s.n * p_mu * (1.0 - p_mu);
    let newton = t2 * (s.y - s.n * p_mu) / (1.0 + t2 * info_mu);
    let (a, softplus, p) = if newton.abs() * newton.abs() * (1.0 + t2 * info_mu) > t2 {
        let a = mu + newton;
        let (softplus, p) = softplus_and_expit(a);
        (a, softplus, p)
    } else {
        (mu, softplus_mu, p_mu)
    };
    let pq = p * (1.0 - p);
    let l3 = -s.n * pq * (1.0 - 2.0 * p);
    let l4 = -s.n * pq * (1.0 - 6.0 * pq);
    let off = a - mu;
    let psi0 = s.y * a - s.n * softplus - s.top - 0.5 * off * off / t2;
    let psi1 = (s.y - s.n * p) - off / t2;
    let v = t2 / (1.0 + t2 * s.n * pq);
    let m = v * psi1;
    // E[δᵏ] for δ ~ N(m, v), k = 0 … 10.
    let mut e = [0.0; 11];
    e[0] = 1.0;
    e[1] = m;
    for k in 2..11 {
        e[k] = m * e[k - 1] + (k - 1) as f64 * v * e[k - 2];
    }
    let (c3, c4, c33) = (l3 / 6.0, l4 / 24.0, l3 * l3 / 72.0);
    // E[δᵏ·(1 + R + R²/2)], to the order kept.
    let tilted = |k: usize| e[k] + c3 * e[k + 3] + c4 * e[k + 4] + c33 * e[k + 6];
    let z = tilted(0);
    if !(z > 0.0 && v > 0.0 && z.is_finite()) {
        return NodeValues::default();
    }
    // L = e^(ψ₀ + m²/(2v))·√(v/τ²)·z.
    let (marginal, ln_scale) = NodeValues::scaled((v / t2).sqrt() * z, psi0 + 0.5 * m * m / v);
    // Taylor coefficients (divided by k!) of p and p² at a.
    let p1 = pq;
    let p2 = pq * (1.0 - 2.0 * p);
    let p3 = pq * (1.0 - 6.0 * pq);
    let p4 = pq * (1.0 - 2.0 * p) * (1.0 - 12.0 * pq);
    let of_p = [p, p1, p2 / 2.0, p3 / 6.0, p4 / 24.0];
    let of_square = [
        p * p,
        2.0 * p * p1,
        (p1 * p1 + p * p2),
        (3.0 * p1 * p2 + p * p3) / 3.0,
        (3.0 * p2 * p2 + 4.0 * p1 * p3 + p * p4) / 12.0,
    ];
    let (mut first, mut second) = (0.0, 0.0);
    for k in 0..5 {
        let t = tilted(k);
        first += of_p[k] * t;
        second += of_square[k] * t;
    }
    // P(θ ≤ cut): E[δᵏ; δ ≤ cut − a] from the standard truncated moments Mᵢ = E[xⁱ; x ≤ t],
    // M₀ = Φ(t), M₁ = −φ(t), Mᵢ = −tⁱ⁻¹φ(t) + (i − 1)Mᵢ₋₂.
    let sd = v.sqrt();
    let t = (cut - a - m) / sd;
    let mut below_moments = [0.0; 7];
    if t.is_finite() {
        let (cdf, phi) = NormalTable::get().cdf(t);
        let mut truncated = [0.0; 7];
        truncated[0] = cdf;
        truncated[1] = -phi;
        let mut power = 1.0;
        for i in 2..7 {
            power *= t;
            truncated[i] = -power * phi + (i - 1) as f64 * truncated[i - 2];
        }
        // E[(m + sd·x)ᵏ; x ≤ t] = Σᵢ C(k, i)·m^(k−i)·sdⁱ·Mᵢ, for k = 0, 3, 4, 6.
        let mut scaled = truncated;
        let mut m_power = [1.0; 7];
        let mut sd_power = 1.0;
        for i in 1..7 {
            sd_power *= sd;
            scaled[i] *= sd_power;
            m_power[i] = m_power[i - 1] * m;
        }
        for k in [0, 3, 4, 6] {
            let mut binomial = 1.0;
            let mut sum = 0.0;
            for i in 0..=k {
                sum += binomial * m_power[k - i] * scaled[i];
                binomial = binomial * (k - i) as f64 / (i + 1) as f64;
            }
            below_moments[k] = sum;
        }
    } else if t > 0.0 {
        below_moments[..].copy_from_slice(&e[..7]);
    }
    let below =
        below_moments[0] + c3 * below_moments[3] + c4 * below_moments[4] + c33 * below_moments[6];
    NodeValues {
        marginal,
        ln_scale,
        first: (first / z).clamp(0.0, 1.0),
        second: (second / z).clamp(0.0, 1.0),
        below: (below / z).clamp(0.0, 1.0),
    }
}
