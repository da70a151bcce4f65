//! One row of a borrowing fit: at one τ node, the μ nodes on an equally spaced grid aligned with
//! the decision threshold, and every stratum's values at each of them — its marginal likelihood
//! Lⱼ(μ, τ), the conditional moments E[p], E[p²] (E[θ], E[θ²] for normal strata) and the
//! conditional probability P(θ ≤ cut | μ, τ, yⱼ).
//!
//! Binary strata are computed from the stratum's likelihood tabulated on a θ grid that holds the
//! μ nodes (spacing h = H/m, H the μ spacing): Lⱼ(μ_g, τ) is the discrete convolution
//! Σᵢ Lⱼ(θᵢ)·h·N(θᵢ − μ_g; 0, τ²), whose kernel is tabulated once per row, so one fit costs a
//! few thousand exponentials, not one inner quadrature per node. The trapezoidal rule on the
//! line converges geometrically for these analytic integrands once h is below both widths (τ and
//! the likelihood's); the one-sided sum up to the threshold, which is a grid point, carries the
//! Euler–Maclaurin corrections through h⁴. When τ is far below the likelihood's width the kernel
//! is narrower than any affordable grid: the integral is then the exact Gaussian integral of the
//! log-likelihood's quadratic expansion at μ (error O(τ⁴)).
//!
//! Numbers in, numbers out; the tables live in [`RowTables`] and are reused.

use super::inner::{logit_normal, softplus_and_expit, InnerRule};
use crate::stats::special::NormalTable;

/// Standard deviations beyond which a normal factor is below e^(−38.7): the μ range of a row.
pub(super) const REACH: f64 = 8.8;
/// The kernel's reach in τ: e^(−50), so that a node whose integral is above e^[`FALLBACK`]
/// loses at most e^(−20) of it to the truncation.
const KERNEL_REACH: f64 = 10.0;
/// The grid spacing as a fraction of the narrowest width it must resolve: the trapezoidal rule's
/// relative error on a normal factor of SD w with spacing w is 2·e^(−2π²) ≈ 5·10⁻⁹.
pub(super) const ETA: f64 = 1.0;
/// A binary stratum whose likelihood SD exceeds τ by this factor takes the quadratic expansion.
const TINY: f64 = 100.0;
/// Kernel tables longer than this are not built: the pairs are evaluated directly.
const MAX_KERNEL: i64 = 8192;
/// θ points of one stratum in one row at most (a bound for hostile inputs; the likelihood's
/// support is narrower in every case a row can reach).
const MAX_POINTS: i64 = 1 << 16;
/// Below this ln Lⱼ(μ, τ) (relative to the likelihood's supremum) the node is recomputed by the
/// inner quadrature: the tabulated likelihood stops where it has dropped [`SUPPORT_DROP`] nats,
/// and the kernel at [`KERNEL_REACH`] SDs, which lose at most e^(−20) of an integral above
/// e^(−30).
pub(super) const FALLBACK: f64 = -30.0;
/// Nats below its supremum where a stratum's tabulated likelihood stops.
const SUPPORT_DROP: f64 = 60.0;
/// 1/√(2π).
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// ln √(2π).
pub(super) const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// A stratum's values at one node.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NodeValues {
    /// ln Lⱼ(μ, τ) (binary: relative to the likelihood's supremum, no binomial coefficient).
    pub(super) ln_marginal: f64,
    /// E[p], E[p²] given (μ, τ, yⱼ) (E[θ], E[θ²] for normal strata).
    pub(super) first: f64,
    pub(super) second: f64,
    /// P(θ ≤ cut | μ, τ, yⱼ).
    pub(super) below: f64,
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
}

/// The μ nodes of a row: μ_k = cut + (origin + k)·spacing, k = 0 … count − 1.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RowGrid {
    pub(super) tau: f64,
    pub(super) cut: f64,
    pub(super) spacing: f64,
    pub(super) origin: i64,
    pub(super) count: usize,
}

impl RowGrid {
    /// μ at node k.
    pub(super) fn mu(&self, k: usize) -> f64 {
        self.cut + (self.origin + k as i64) as f64 * self.spacing
    }
}

/// Reusable tables of one row: θ, ln(1 + e^θ) and logit⁻¹ θ on the row's θ grid and the normal
/// kernel (shared by the strata that use the same grid), and one stratum's likelihood.
#[derive(Debug, Clone, Default)]
pub(super) struct RowTables {
    /// The grid the shared tables hold: h, τ and the threshold (bits), first and last index.
    key: Option<(u64, u64, u64, i64, i64)>,
    softplus: Vec<f64>,
    expit: Vec<f64>,
    /// κ_d for d = −reach … reach, at `kernel[d + reach]`.
    kernel: Vec<f64>,
    likelihood: Vec<f64>,
    /// ln(1 + e^μ) and logit⁻¹ μ at the nodes of the row `at_nodes` names (spacing, threshold,
    /// origin, count).
    nodes: Vec<(f64, f64)>,
    at_nodes: Option<(u64, u64, i64, usize)>,
}

impl RowTables {
    /// Forgets the shared tables: the next stratum starts a new row.
    pub(super) fn start_row(&mut self) {
        self.key = None;
        self.at_nodes = None;
    }

    /// The shared tables for spacing `h` over indices `lo..=hi` of the row's grid, and the kernel
    /// out to `reach`.
    fn ensure(&mut self, row: &RowGrid, h: f64, lo: i64, hi: i64, reach: i64) {
        if let Some((bits, tau, cut, from, to)) = self.key {
            let same = (bits, tau, cut) == (h.to_bits(), row.tau.to_bits(), row.cut.to_bits());
            if same && from <= lo && hi <= to {
                return;
            }
        }
        self.softplus.clear();
        self.expit.clear();
        for i in lo..=hi {
            let (softplus, p) = softplus_and_expit(row.cut + i as f64 * h);
            self.softplus.push(softplus);
            self.expit.push(p);
        }
        self.kernel.clear();
        let norm = h * INV_SQRT_2PI / row.tau;
        for d in -reach..=reach {
            let z = d as f64 * h / row.tau;
            self.kernel.push(norm * (-0.5 * z * z).exp());
        }
        self.key = Some((h.to_bits(), row.tau.to_bits(), row.cut.to_bits(), lo, hi));
    }

    /// Binary stratum `s` at every node of `row`, written to `out[k]`.
    ///
    /// Nodes whose ln Lⱼ falls below `recompute` are recomputed by the inner quadrature (the
    /// tabulated sum errs by at most e^(−[`SUPPORT_DROP`]) absolutely): [`FALLBACK`] when the
    /// node's weight is proportional to Lⱼ, −∞ when an EXNEX stratum's non-exchangeable term
    /// dwarfs that error.
    pub(super) fn binary(
        &mut self,
        rule: &InnerRule,
        s: &BinaryStratum,
        row: &RowGrid,
        recompute: f64,
        out: &mut [NodeValues],
    ) {
        if row.tau < s.sigma / TINY {
            let key = (
                row.spacing.to_bits(),
                row.cut.to_bits(),
                row.origin,
                row.count,
            );
            if self.at_nodes != Some(key) {
                self.nodes.clear();
                self.nodes
                    .extend((0..row.count).map(|k| softplus_and_expit(row.mu(k))));
                self.at_nodes = Some(key);
            }
            for ((k, value), &at) in out.iter_mut().enumerate().zip(&self.nodes) {
                *value = quadratic(s, row.tau, row.mu(k), row.cut, at);
            }
            return;
        }
        self.convolve(s, row, out);
        for (k, value) in out.iter_mut().enumerate().take(row.count) {
            if value.ln_marginal >= recompute {
                continue;
            }
            // Far from the stratum's data: the inner quadrature, centred on the integrand's mode.
            let mu = row.mu(k);
            let tau = row.tau;
            let variance = s.sigma * s.sigma;
            let guess = tau * (s.estimate - mu) / (variance + tau * tau);
            let exact = logit_normal(s.y, s.n, s.top, mu, tau, guess);
            let (below, _) = exact.cdf(rule, row.cut);
            *value = NodeValues {
                ln_marginal: exact.ln_marginal,
                first: exact.mean,
                second: exact.second,
                below,
            };
        }
    }

    /// The discrete convolution of the tabulated likelihood with the normal kernel.
    fn convolve(&mut self, s: &BinaryStratum, row: &RowGrid, out: &mut [NodeValues]) {
        let tau = row.tau;
        let m = ((row.spacing / (ETA * tau.min(s.sigma))).ceil() as i64).max(1);
        let h = row.spacing / m as f64;
        let reach = (KERNEL_REACH * tau / h).ceil() as i64;
        let first_centre = row.origin * m;
        let last_centre = (row.origin + row.count as i64 - 1) * m;
        let support_lo = if s.support.0.is_finite() {
            ((s.support.0 - row.cut) / h).ceil().max(-1e15) as i64
        } else {
            i64::MIN / 4
        };
        let support_hi = if s.support.1.is_finite() {
            ((s.support.1 - row.cut) / h).floor().min(1e15) as i64
        } else {
            i64::MAX / 4
        };
        let mut lo = (first_centre - reach).max(support_lo);
        let mut hi = (last_centre + reach).min(support_hi);
        if hi - lo >= MAX_POINTS {
            // Only hostile inputs get here: keep the points nearest the nodes.
            let centre = (first_centre + last_centre) / 2;
            lo = lo.max(centre - MAX_POINTS / 2);
            hi = hi.min(lo + MAX_POINTS - 1);
        }
        if lo > hi {
            out.iter_mut().take(row.count).for_each(|v| {
                *v = NodeValues {
                    ln_marginal: f64::NEG_INFINITY,
                    ..NodeValues::default()
                }
            });
            return;
        }
        let norm = h * INV_SQRT_2PI / tau;
        if reach > MAX_KERNEL {
            self.convolve_direct(s, row, (m, h, reach), (lo, hi), out);
            return;
        }
        // The shared tables span every index a stratum of this spacing can need (when that is a
        // bounded range), so the strata of a row compute them once.
        let (full_lo, full_hi) = (first_centre - reach, last_centre + reach);
        if full_hi - full_lo < MAX_POINTS {
            self.ensure(row, h, full_lo, full_hi, reach);
        } else {
            self.ensure(row, h, lo, hi, reach);
        }
        let Some((_, _, _, table_lo, _)) = self.key else {
            return;
        };
        let offset = (lo - table_lo) as usize;
        let points = (hi - lo + 1) as usize;
        self.likelihood.clear();
        for (k, softplus) in self.softplus[offset..offset + points].iter().enumerate() {
            let theta = row.cut + (lo + k as i64) as f64 * h;
            self.likelihood
                .push((s.y * theta - s.n * softplus - s.top).exp());
        }
        let expit = &self.expit[offset..offset + points];
        let pq_cut = if (lo..=hi).contains(&0) {
            Some((self.likelihood[(-lo) as usize], expit[(-lo) as usize]))
        } else {
            None
        };
        for (k, value) in out.iter_mut().enumerate().take(row.count) {
            let centre = (row.origin + k as i64) * m;
            let from = (centre - reach).max(lo);
            let to = (centre + reach).min(hi);
            let (mut f, mut e1, mut e2, mut below) = (0.0, 0.0, 0.0, 0.0);
            // Below, at and above the threshold (index 0).
            for (a, b) in [
                (from, to.min(-1)),
                (from.max(0), to.min(0)),
                (from.max(1), to),
            ] {
                if a > b {
                    continue;
                }
                let (i, j) = ((a - lo) as usize, (b - lo) as usize);
                let (u, v) = ((a - centre + reach) as usize, (b - centre + reach) as usize);
                let sums = dot3(&self.likelihood[i..=j], &expit[i..=j], &self.kernel[u..=v]);
                f += sums.0;
                e1 += sums.1;
                e2 += sums.2;
                below += cut_share(a) * sums.0;
            }
            *value = finish(s, row, (h, norm), centre, pq_cut, [f, e1, e2, below]);
        }
    }

    /// [`Self::convolve`] with a kernel too long to tabulate (a likelihood far narrower than τ,
    /// as n → 10⁷): each pair's kernel value is computed where the likelihood is.
    fn convolve_direct(
        &mut self,
        s: &BinaryStratum,
        row: &RowGrid,
        (m, h, reach): (i64, f64, i64),
        (lo, hi): (i64, i64),
        out: &mut [NodeValues],
    ) {
        let norm = h * INV_SQRT_2PI / row.tau;
        self.likelihood.clear();
        self.expit.clear();
        for i in lo..=hi {
            let theta = row.cut + i as f64 * h;
            let (softplus, p) = softplus_and_expit(theta);
            self.likelihood
                .push((s.y * theta - s.n * softplus - s.top).exp());
            self.expit.push(p);
        }
        self.key = None;
        let pq_cut = if (lo..=hi).contains(&0) {
            Some((self.likelihood[(-lo) as usize], self.expit[(-lo) as usize]))
        } else {
            None
        };
        for (k, value) in out.iter_mut().enumerate().take(row.count) {
            let centre = (row.origin + k as i64) * m;
            let (mut f, mut e1, mut e2, mut below) = (0.0, 0.0, 0.0, 0.0);
            for i in (centre - reach).max(lo)..=(centre + reach).min(hi) {
                let at = (i - lo) as usize;
                let z = (i - centre) as f64 * h / row.tau;
                let w = self.likelihood[at] * norm * (-0.5 * z * z).exp();
                let p = self.expit[at];
                f += w;
                e1 += w * p;
                e2 += w * p * p;
                below += w * cut_share(i);
            }
            *value = finish(s, row, (h, norm), centre, pq_cut, [f, e1, e2, below]);
        }
    }
}

/// A node's values from its sums [Σ, Σp, Σp², Σ below the threshold], with the Euler–Maclaurin
/// corrections of the one-sided sum: ∫_{−∞}^{cut} f = T − h²f′(cut)/12 + h⁴f‴(cut)/720, with
/// f = L·N(·; μ, τ²) = exp(ψ) and h·f(cut) = L(cut)·κ (`pq_cut`: L and p at the threshold).
fn finish(
    s: &BinaryStratum,
    row: &RowGrid,
    (h, norm): (f64, f64),
    centre: i64,
    pq_cut: Option<(f64, f64)>,
    [f, e1, e2, mut below]: [f64; 4],
) -> NodeValues {
    let tau = row.tau;
    if let Some((l0, p0)) = pq_cut {
        let z = centre as f64 * h / tau;
        if z.abs() <= KERNEL_REACH {
            let hf = l0 * norm * (-0.5 * z * z).exp();
            // μ − cut = centre·h.
            let d1 = (s.y - s.n * p0) + centre as f64 * h / (tau * tau);
            let info = s.n * p0 * (1.0 - p0);
            let d2 = -info - 1.0 / (tau * tau);
            let d3 = -info * (1.0 - 2.0 * p0);
            let third = d3 + 3.0 * d1 * d2 + d1 * d1 * d1;
            below += hf * (-h * d1 / 12.0 + h * h * h * third / 720.0);
        }
    }
    if f > 0.0 && f.is_finite() {
        NodeValues {
            ln_marginal: f.ln(),
            first: e1 / f,
            second: e2 / f,
            below: (below / f).clamp(0.0, 1.0),
        }
    } else {
        NodeValues {
            ln_marginal: f64::NEG_INFINITY,
            ..NodeValues::default()
        }
    }
}

/// The share of a grid point's term that lies below the threshold (index 0): 1, ½ or 0.
fn cut_share(i: i64) -> f64 {
    match i.cmp(&0) {
        std::cmp::Ordering::Less => 1.0,
        std::cmp::Ordering::Equal => 0.5,
        std::cmp::Ordering::Greater => 0.0,
    }
}

/// Σ Lᵢκᵢ, Σ Lᵢκᵢpᵢ, Σ Lᵢκᵢpᵢ², in four independent lanes (so that the compiler may use
/// vector instructions; the order of the additions is fixed, so the result is deterministic).
#[inline(always)]
fn dot3(l: &[f64], p: &[f64], kernel: &[f64]) -> (f64, f64, f64) {
    let n = l.len().min(p.len()).min(kernel.len());
    let (l, p, kernel) = (&l[..n], &p[..n], &kernel[..n]);
    let mut f = [0.0; 4];
    let mut e1 = [0.0; 4];
    let mut e2 = [0.0; 4];
    let (lc, pc, kc) = (l.chunks_exact(4), p.chunks_exact(4), kernel.chunks_exact(4));
    let (lr, pr, kr) = (lc.remainder(), pc.remainder(), kc.remainder());
    for ((l, p), k) in lc.zip(pc).zip(kc) {
        for lane in 0..4 {
            let w = l[lane] * k[lane];
            let wp = w * p[lane];
            f[lane] += w;
            e1[lane] += wp;
            e2[lane] += wp * p[lane];
        }
    }
    for ((l, p), k) in lr.iter().zip(pr).zip(kr) {
        let w = l * k;
        let wp = w * p;
        f[0] += w;
        e1[0] += wp;
        e2[0] += wp * p;
    }
    (
        (f[0] + f[1]) + (f[2] + f[3]),
        (e1[0] + e1[1]) + (e1[2] + e1[3]),
        (e2[0] + e2[1]) + (e2[2] + e2[3]),
    )
}

/// τ far below the likelihood's width: the Gaussian integral of ℓ's quadratic expansion at μ,
/// ∫ exp(ℓ(μ + τz) − ℓ̂) φ(z) dz ≈ exp(ℓ(μ) − ℓ̂ + τ²ℓ′²/(2c))/√c with c = 1 − τ²ℓ″, and
/// θ | μ, τ, y ≈ N(μ + τ²ℓ′/c, τ²/c); E[p] and E[p²] by the second-order expansion of p there.
/// `at`: ln(1 + e^μ) and logit⁻¹ μ.
fn quadratic(
    s: &BinaryStratum,
    tau: f64,
    mu: f64,
    cut: f64,
    (softplus, p): (f64, f64),
) -> NodeValues {
    let slope = s.y - s.n * p;
    let pq = p * (1.0 - p);
    let c = 1.0 + tau * tau * s.n * pq;
    let shift = tau * tau * slope / c;
    let variance = tau * tau / c;
    let ln_marginal =
        s.y * mu - s.n * softplus - s.top - 0.5 * c.ln() + 0.5 * tau * tau * slope * slope / c;
    // p(μ + δ) ≈ p + p′δ + p″δ²/2, with δ ~ N(shift, variance).
    let p1 = pq;
    let p2 = pq * (1.0 - 2.0 * p);
    let square = variance + shift * shift;
    let first = p + p1 * shift + 0.5 * p2 * square;
    let second = p * p + 2.0 * p * p1 * shift + (p1 * p1 + p * p2) * square;
    let (below, _) = NormalTable::get().cdf((cut - mu - shift) / variance.sqrt());
    NodeValues {
        ln_marginal,
        first: first.clamp(0.0, 1.0),
        second: second.clamp(0.0, 1.0),
        below,
    }
}

/// The posterior of θ for a normal stratum (estimate `x`, squared SE `v`) under θ ~ N(m, s²):
/// (ln of the marginal likelihood, mean, variance), written so that s → 0 needs no special case.
pub(super) fn normal_posterior(x: f64, v: f64, m: f64, s2: f64) -> (f64, f64, f64) {
    let total = v + s2;
    let d = x - m;
    (
        -0.5 * total.ln() - LN_SQRT_2PI - 0.5 * d * d / total,
        (s2 * x + v * m) / total,
        s2 * v / total,
    )
}

/// A normal stratum (estimate x, squared SE v) at μ with θ ~ N(μ, τ²): closed forms.
pub(super) fn normal(x: f64, v: f64, mu: f64, tau: f64, cut: f64) -> NodeValues {
    let (ln_marginal, mean, variance) = normal_posterior(x, v, mu, tau * tau);
    let below = if variance > 0.0 {
        NormalTable::get().cdf((cut - mean) / variance.sqrt()).0
    } else if mean <= cut {
        1.0
    } else {
        0.0
    };
    NodeValues {
        ln_marginal,
        first: mean,
        second: mean * mean + variance,
        below,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::borrow::inner::{binomial_top, logit_normal, InnerRule};

    fn stratum(y: f64, n: f64) -> BinaryStratum {
        let p = (y + 0.5) / (n + 1.0);
        let sigma = (1.0 / ((n + 1.0) * p * (1.0 - p))).sqrt();
        BinaryStratum::new(y, n, binomial_top(y, n), (p / (1.0 - p)).ln(), sigma)
    }

    /// The convolution and the quadratic expansion agree with the inner quadrature (an
    /// independent rule: sinh-mapped Gauss–Legendre around the mode in the standardised
    /// variable) across τ from far below to far above the likelihood's width.
    #[test]
    fn rows_agree_with_the_inner_quadrature() {
        let mut tables = RowTables::default();
        let rule = InnerRule::new();
        for (y, n) in [
            (3.0, 20.0),
            (0.0, 2.0),
            (0.0, 13.0),
            (29.0, 29.0),
            (400.0, 1000.0),
        ] {
            let s = stratum(y, n);
            for tau in [1e-4, 0.003, 0.02, 0.1, 0.4, 1.0, 3.0] {
                let cut = (0.2f64 / 0.8).ln();
                let row = RowGrid {
                    tau,
                    cut,
                    spacing: ETA * tau.min(0.3),
                    origin: -4,
                    count: 9,
                };
                let mut out = [NodeValues::default(); 9];
                tables.binary(&rule, &s, &row, FALLBACK, &mut out);
                for (k, got) in out.iter().enumerate() {
                    let mu = row.mu(k);
                    let guess = tau * (s.estimate - mu) / (s.sigma * s.sigma + tau * tau);
                    let want = logit_normal(y, n, s.top, mu, tau, guess);
                    let (below, _) = want.cdf(&rule, cut);
                    // The inner rule itself errs by up to 1.1e-6 at τ = 3 (3/20 and 0/13; mpmath
                    // agrees with the convolution there to 1e-15).
                    let tolerance = if tau < s.sigma / TINY { 1e-5 } else { 2e-6 };
                    assert!(
                        (got.ln_marginal - want.ln_marginal).abs() < tolerance,
                        "{y}/{n} τ {tau} μ {mu}: ln L {} vs {}",
                        got.ln_marginal,
                        want.ln_marginal
                    );
                    assert!(
                        (got.first - want.mean).abs() < tolerance,
                        "{y}/{n} τ {tau} μ {mu}: E p {} vs {}",
                        got.first,
                        want.mean
                    );
                    assert!(
                        (got.below - below).abs() < 1e-4,
                        "{y}/{n} τ {tau} μ {mu}: below {} vs {below}",
                        got.below
                    );
                }
            }
        }
    }
}
