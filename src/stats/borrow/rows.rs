//! One row of a borrowing fit: at one τ node, every stratum's values at each of the row's μ
//! nodes ([`super::mu_nodes`]): its marginal likelihood Lⱼ(μ, τ), the conditional moments E[p],
//! E[p²] (E[θ], E[θ²] for normal strata) and the conditional probability P(θ ≤ cut | μ, τ, yⱼ).
//!
//! Binary strata are computed from the stratum's likelihood tabulated on a θ grid aligned with
//! the threshold (spacing h a power of two, at most half of τ and of the likelihood's narrowest
//! width where the integrand can be, so that strata and rows share grids and a stratum's
//! likelihood is computed once per spacing and fit, [`super::tables`]): Lⱼ(μ, τ) is the
//! discrete convolution Σᵢ Lⱼ(θᵢ)·h·N(θᵢ − μ; 0, τ²), whose kernel along the grid costs two
//! exponentials per node and spacing, so one fit costs a few thousand exponentials, not one
//! inner quadrature per node. The trapezoidal rule on the line
//! converges geometrically for these analytic integrands once h is below both widths; the
//! one-sided sum up to the threshold, which is a grid point, carries the Euler–Maclaurin
//! corrections through h⁶. When τ is below a tenth of the likelihood's width, Laplace's method
//! with its next terms ([`super::laplace`]) replaces the grid (error O(τ⁶/σ⁴)).
//!
//! Numbers in, numbers out; the tables live in [`RowTables`] and are reused.

use super::inner::{logit_normal, softplus_and_expit, InnerRule};
use super::laplace::expansion;
use super::stratum::{BinaryStratum, NodeValues};
use super::tables::{TableCache, MAX_POINTS};
use crate::stats::special::NormalTable;

/// The kernel's reach in τ: e^(−50), so that a node whose integral is above e^[`FALLBACK`]
/// loses at most e^(−20) of it to the truncation.
const KERNEL_REACH: f64 = 10.0;
/// The θ grid's spacing as a fraction of the narrowest width it must resolve: the trapezoidal
/// rule's relative error on a normal factor of SD w with spacing w is 2·e^(−2π²) ≈ 5·10⁻⁹.
const ETA: f64 = 0.5;
/// A binary stratum whose likelihood SD exceeds τ by this factor takes [`expansion`].
const EXPAND: f64 = 10.0;
/// Kernels reaching at most this many grid points on each side are computed once per node and
/// spacing, for every stratum of that spacing.
const SHARED_REACH: f64 = 64.0;
/// Below this ln Lⱼ(μ, τ) (relative to the likelihood's supremum) a node's value may need the
/// inner quadrature ([`exact`]): the tabulated likelihood stops where it has dropped
/// [`super::stratum::SUPPORT_DROP`] nats, and the kernel at [`KERNEL_REACH`] SDs, which lose at most e^(−20) of
/// an integral above e^(−30).
pub(super) const FALLBACK: f64 = -30.0;
/// e^[`FALLBACK`].
pub(super) const FALLBACK_LINEAR: f64 = 9.357_622_968_840_175e-14;
/// e^(−40): below this fraction of a node's sum, the Euler–Maclaurin terms at the threshold are
/// left out.
const NEGLIGIBLE_END: f64 = 4.248_354_255_291_589e-18;
/// Nats below its supremum beyond which a y = 0 or y = n likelihood counts as flat.
const FLAT: f64 = 40.0;
/// 1/√(2π).
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// ln √(2π).
pub(super) const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Reusable tables: per spacing h (a power of two) and fit, ln(1 + e^θ) and logit⁻¹ θ on the θ
/// grid θᵢ = cut + i·h, and each stratum's likelihood and logit⁻¹ θ there ([`TableCache`]);
/// per row, one node's kernel and the kernels shared by the strata of one spacing, and
/// ln(1 + e^μ), logit⁻¹ μ at the row's nodes.
#[derive(Debug, Clone, Default)]
pub(super) struct RowTables {
    cache: TableCache,
    /// A node's likelihood and logit⁻¹ θ where the window is too wide for the cache.
    likelihood: Vec<f64>,
    expit: Vec<f64>,
    kernel: Vec<f64>,
    /// Per node, the kernel over the node's whole window for the spacing `kernels_for` (bits):
    /// (first index, offset into `kernel_all`, length). Shared by the strata of that spacing.
    kernels_for: Option<u64>,
    kernel_all: Vec<f64>,
    kernel_at: Vec<(i64, usize, usize)>,
    nodes: Vec<(f64, f64)>,
    nodes_ready: bool,
}

impl RowTables {
    /// Forgets the row's tables: the next stratum starts a new row (or new nodes of a row).
    pub(super) fn start_row(&mut self) {
        self.kernels_for = None;
        self.nodes_ready = false;
    }

    /// Forgets every table: the next row starts a new fit.
    pub(super) fn start_fit(&mut self) {
        self.start_row();
        self.cache.clear();
    }

    /// The kernels of every node for spacing `h` (see `kernel_at`).
    fn share_kernels(&mut self, h: f64, tau: f64, cut: f64, mus: &[f64]) {
        if self.kernels_for == Some(h.to_bits()) {
            return;
        }
        let reach = KERNEL_REACH * tau / h;
        let norm = h * INV_SQRT_2PI / tau;
        let delta = h / tau;
        let step = (-delta * delta).exp();
        self.kernel_all.clear();
        self.kernel_at.clear();
        for &mu in mus {
            let x = (mu - cut) / h;
            let from = (x - reach).ceil();
            let length = ((x + reach).floor() - from + 1.0).max(0.0) as usize;
            kernel_along(
                &mut self.kernel,
                length,
                (from - x) * delta,
                delta,
                norm,
                step,
            );
            self.kernel_at
                .push((from as i64, self.kernel_all.len(), length));
            self.kernel_all.extend_from_slice(&self.kernel);
        }
        self.kernels_for = Some(h.to_bits());
    }

    /// Binary stratum `s` at every node `mus` (increasing) of the row at `tau`, written to
    /// `out[k]`: [`expansion`] where τ < w/[`EXPAND`], otherwise the discrete convolution, at
    /// each node, of the stratum's likelihood tabulated on the θ grid (spacing h the largest
    /// power of two ≤ [`ETA`]·min(τ, w), w from [`BinaryStratum::narrowest`] over the nodes;
    /// aligned with the threshold) with the normal kernel centred on the node.
    /// The kernel along the grid is a Gaussian whose successive ratios change by the constant
    /// factor e^(−h²/τ²): two exponentials per node. The tabulated sums err by at most
    /// e^(−[`super::stratum::SUPPORT_DROP`]) of the likelihood's supremum absolutely; a caller for whom that
    /// matters (Lⱼ below e^[`FALLBACK`]) has [`exact`].
    pub(super) fn binary(
        &mut self,
        s: &BinaryStratum,
        tau: f64,
        cut: f64,
        mus: &[f64],
        out: &mut [NodeValues],
    ) {
        let (Some(&lowest), Some(&highest)) = (mus.first(), mus.last()) else {
            return;
        };
        let sigma = s.narrowest(lowest, highest);
        if tau < sigma / EXPAND {
            if !self.nodes_ready {
                self.nodes.clear();
                self.nodes
                    .extend(mus.iter().map(|&mu| softplus_and_expit(mu)));
                self.nodes_ready = true;
            }
            for ((value, &at), &mu) in out.iter_mut().zip(&self.nodes).zip(mus) {
                *value = expansion(s, tau, mu, cut, at);
            }
            return;
        }
        let nodes = mus.len().min(out.len());
        if nodes == 0 {
            return;
        }
        // h = 2ᵏ, the largest such at most ETA·min(τ, w): strata and rows share spacings, so
        // that tables are computed once per fit and kernels once per row.
        let h = power_of_two_below(ETA * tau.min(sigma));
        if !(h > 0.0 && h.is_finite()) {
            return;
        }
        let reach = KERNEL_REACH * tau / h;
        let shared_kernels = reach <= SHARED_REACH && mus.len() == out.len();
        if shared_kernels {
            self.share_kernels(h, tau, cut, mus);
        }
        let index = |theta: f64| (theta - cut) / h;
        // A stratum with y = 0 (y = n) has a likelihood within e^(−FLAT) of its supremum below
        // θ = −FLAT − ln n (above FLAT + ln n): the grid stops there, with its Euler–Maclaurin
        // end, and the kernel's mass beyond is a normal tail ([`flat_end`]).
        let flat_lo = (!s.support.0.is_finite())
            .then(|| index(-FLAT - s.n.ln()).floor())
            .filter(|&i| i < 0.0 && i > -1e15)
            .map(|i| i as i64);
        let flat_hi = (!s.support.1.is_finite())
            .then(|| index(FLAT + s.n.ln()).ceil())
            .filter(|&i| i > 0.0 && i < 1e15)
            .map(|i| i as i64);
        let support_lo = if s.support.0.is_finite() {
            index(s.support.0).ceil().max(-1e15) as i64
        } else {
            flat_lo.unwrap_or(i64::MIN / 4)
        };
        let support_hi = if s.support.1.is_finite() {
            index(s.support.1).floor().min(1e15) as i64
        } else {
            flat_hi.unwrap_or(i64::MAX / 4)
        };
        let window = |mu: f64| -> (i64, i64) {
            let x = index(mu);
            let from = (x - reach).ceil().clamp(-1e15, 1e15) as i64;
            let to = (x + reach).floor().clamp(-1e15, 1e15) as i64;
            let (from, to) = (from.max(support_lo), to.min(support_hi));
            // Only hostile inputs reach this bound: keep the points nearest the node.
            if to - from >= MAX_POINTS {
                let centre = x.clamp(-1e15, 1e15) as i64;
                let from = from.max(centre - MAX_POINTS / 2);
                (from, to.min(from + MAX_POINTS - 1))
            } else {
                (from, to)
            }
        };
        // The cached tables span every index the row's nodes need, when that range is
        // bounded; otherwise each node gets its own.
        let (all_lo, _) = window(mus[0]);
        let (_, all_hi) = window(mus[nodes - 1]);
        let tabulated = all_lo <= all_hi && all_hi - all_lo < MAX_POINTS;
        // The likelihood (first) and logit⁻¹ θ (second) over the row's indices, from the
        // grid's ln(1 + e^θ) and logit⁻¹ θ (first, second).
        let cached = tabulated.then(|| {
            self.cache.make_room(2 * (all_hi - all_lo + 1) as usize);
            let nan = f64::NAN.to_bits();
            let grid_key = (cut.to_bits(), h.to_bits(), nan, nan);
            let grid = self.cache.get(grid_key, all_lo, all_hi, |_, i| {
                let (softplus, p) = softplus_and_expit(cut + i as f64 * h);
                [softplus, p]
            });
            let key = (cut.to_bits(), h.to_bits(), s.y.to_bits(), s.n.to_bits());
            self.cache.get(key, all_lo, all_hi, |tables, i| {
                let [softplus, p] = &tables[grid].columns;
                let slot = (i - tables[grid].lo) as usize;
                let theta = cut + i as f64 * h;
                [(s.y * theta - s.n * softplus[slot] - s.top).exp(), p[slot]]
            })
        });
        let norm = h * INV_SQRT_2PI / tau;
        let delta = h / tau;
        let ratio_step = (-delta * delta).exp();
        // L and p at the threshold, for the end corrections.
        let at_cut = (support_lo..=support_hi).contains(&0).then(|| {
            let (softplus, p) = softplus_and_expit(cut);
            ((s.y * cut - s.n * softplus - s.top).exp(), p)
        });
        for k in 0..nodes {
            let mu = mus[k];
            let (from, to) = window(mu);
            let (mut f, mut e1, mut e2, mut below) = (0.0, 0.0, 0.0, 0.0);
            // The flat ends the kernel reaches: (index, left?).
            let reaches = |end: Option<i64>, left: bool| {
                end.filter(|&i| {
                    if left {
                        index(mu) - reach < i as f64
                    } else {
                        index(mu) + reach > i as f64
                    }
                })
            };
            for (end, left) in [
                (reaches(flat_lo, true), true),
                (reaches(flat_hi, false), false),
            ] {
                let Some(i) = end else {
                    continue;
                };
                let in_sum = from <= i && i <= to;
                let mass = flat_end(cut + i as f64 * h, mu, tau, h, left, in_sum);
                f += mass;
                if left {
                    below += mass;
                } else {
                    // logit⁻¹ θ is within e^(−FLAT) of 1 there.
                    e1 += mass;
                    e2 += mass;
                }
            }
            if from > to {
                out[k] = finish(s, tau, mu - cut, h, at_cut, 0.0, [f, e1, e2, below]);
                continue;
            }
            let (table_lo, likelihood, expit) = match cached {
                Some(table) => {
                    let table = &self.cache.tables[table];
                    (table.lo, &table.columns[0][..], &table.columns[1][..])
                }
                None => {
                    // A window too wide for the cache: this node's own tables.
                    self.likelihood.clear();
                    self.expit.clear();
                    for i in from..=to {
                        let theta = cut + i as f64 * h;
                        let (softplus, p) = softplus_and_expit(theta);
                        self.likelihood
                            .push((s.y * theta - s.n * softplus - s.top).exp());
                        self.expit.push(p);
                    }
                    (from, &self.likelihood[..], &self.expit[..])
                }
            };
            // κᵢ = h·N(θᵢ − μ; 0, τ²) along the window, by its ratios.
            let kernel: &[f64] = if shared_kernels {
                let (start, offset, length) = self.kernel_at[k];
                let skip = (from - start) as usize;
                let end = (offset + length).min(offset + skip + (to - from + 1) as usize);
                &self.kernel_all[offset + skip..end]
            } else {
                let length = (to - from + 1) as usize;
                let z0 = (from as f64 - index(mu)) * delta;
                kernel_along(&mut self.kernel, length, z0, delta, norm, ratio_step);
                &self.kernel
            };
            // Below, at and above the threshold (index 0).
            for (a, b) in [
                (from, to.min(-1)),
                (from.max(0), to.min(0)),
                (from.max(1), to),
            ] {
                if a > b {
                    continue;
                }
                let (i, j) = ((a - table_lo) as usize, (b - table_lo) as usize);
                let (u, v) = ((a - from) as usize, (b - from) as usize);
                let sums = dot3(&likelihood[i..=j], &expit[i..=j], &kernel[u..=v]);
                f += sums.0;
                e1 += sums.1;
                e2 += sums.2;
                below += cut_share(a) * sums.0;
            }
            // κ at the threshold, for its end corrections (none when it is outside the window).
            let kappa_cut = if from <= 0 && 0 <= to {
                kernel.get((-from) as usize).copied().unwrap_or(0.0)
            } else {
                0.0
            };
            out[k] = finish(s, tau, mu - cut, h, at_cut, kappa_cut, [f, e1, e2, below]);
        }
    }
}

/// Where the likelihood of a stratum with y = 0 or y = n is flat (within e^(−FLAT) of its
/// supremum) beyond a grid point θₑ: the kernel's mass N(·; μ, τ²) beyond θₑ (to the left when
/// `left`), plus the Euler–Maclaurin end corrections of the grid's sum, which stops at θₑ, and
/// minus half its term there when the sum holds it (`in_sum`): with f = N(θ; μ, τ²) near θₑ,
/// ∫ from θₑ = T + h²f′/12 − h⁴f‴/720 + h⁶f⁽⁵⁾/30240 (to θₑ: the opposite signs). Returns the
/// amount to add to the sums.
fn flat_end(end: f64, mu: f64, tau: f64, h: f64, left: bool, in_sum: bool) -> f64 {
    let z = (end - mu) / tau;
    let (cdf, phi) = NormalTable::get().cdf(if left { z } else { -z });
    let density = phi / tau;
    // ψ = −(θ − μ)²/(2τ²): ψ′ = −z/τ, ψ″ = −1/τ², higher derivatives 0.
    let d1 = -z / tau;
    let d2 = -1.0 / (tau * tau);
    let correction = density * end_correction(h, [d1, d2, 0.0, 0.0, 0.0]);
    let sign = if left { 1.0 } else { -1.0 };
    let half = if in_sum { 0.5 * h * density } else { 0.0 };
    cdf + sign * correction - half
}

/// The Euler–Maclaurin end terms of the trapezoidal rule, divided by f at the end:
/// (h²f′/12 − h⁴f‴/720 + h⁶f⁽⁵⁾/30240)/f for f = exp(ψ), from ψ′ … ψ⁽⁵⁾ (`d`) by Faà di
/// Bruno's formula. A sum that stops at its right end subtracts them, one that starts at its left
/// end adds them.
fn end_correction(h: f64, [d1, d2, d3, d4, d5]: [f64; 5]) -> f64 {
    let third = d3 + 3.0 * d1 * d2 + d1 * d1 * d1;
    let d1s = d1 * d1;
    let fifth = d5
        + 5.0 * d1 * d4
        + 10.0 * d2 * d3
        + 10.0 * d1s * d3
        + 15.0 * d1 * d2 * d2
        + 10.0 * d1s * d1 * d2
        + d1s * d1s * d1;
    let h2 = h * h;
    h2 * (d1 * (1.0 / 12.0) - h2 * (third * (1.0 / 720.0) - h2 * fifth * (1.0 / 30_240.0)))
}

/// Binary stratum `s` at (μ, τ) by the inner quadrature, centred on the integrand's mode: for
/// nodes far from the stratum's data, where the tabulated likelihood has run out.
pub(super) fn exact(
    rule: &InnerRule,
    s: &BinaryStratum,
    tau: f64,
    mu: f64,
    cut: f64,
) -> NodeValues {
    let variance = s.sigma * s.sigma;
    let guess = tau * (s.estimate - mu) / (variance + tau * tau);
    let exact = logit_normal(s.y, s.n, s.top, mu, tau, guess);
    let (below, _) = exact.cdf(rule, cut);
    NodeValues::with_ln(exact.ln_marginal, exact.mean, exact.second, below)
}

/// `length` values κᵢ = `norm`·e^(−zᵢ²/2), zᵢ = `z0` + i·`delta`, into `kernel`, by the ratios:
/// κᵢ₊₁ = κᵢ·qᵢ with q₀ = e^(−z₀δ − δ²/2) and qᵢ₊₁ = qᵢ·`step` (`step` = e^(−δ²)). Four
/// interleaved chains (each value four steps from its lane's last, the four-step ratio changing
/// by step¹⁶), so that the multiplications do not wait on each other; the order is fixed, so the
/// values are deterministic.
fn kernel_along(kernel: &mut Vec<f64>, length: usize, z0: f64, delta: f64, norm: f64, step: f64) {
    let start = norm * (-0.5 * z0 * z0).exp();
    let ratio = (-z0 * delta - 0.5 * delta * delta).exp();
    kernel.clear();
    kernel.resize(length.next_multiple_of(4), 0.0);
    let mut value = [0.0; 4];
    let mut q = [0.0; 7];
    let (mut v, mut r) = (start, ratio);
    for lane in 0..7 {
        if lane < 4 {
            value[lane] = v;
            v *= r;
        }
        q[lane] = r;
        r *= step;
    }
    let mut four = [0.0; 4];
    for lane in 0..4 {
        four[lane] = (q[lane] * q[lane + 1]) * (q[lane + 2] * q[lane + 3]);
    }
    let step2 = step * step;
    let step4 = step2 * step2;
    let step16 = (step4 * step4) * (step4 * step4);
    for chunk in kernel.chunks_exact_mut(4) {
        chunk.copy_from_slice(&value);
        for lane in 0..4 {
            value[lane] *= four[lane];
            four[lane] *= step16;
        }
    }
    kernel.truncate(length);
}

/// A node's values from its sums [Σ, Σp, Σp², Σ below the threshold], with the Euler–Maclaurin
/// corrections of the one-sided sum: ∫_{−∞}^{cut} f = T − h²f′/12 + h⁴f‴/720 − h⁶f⁽⁵⁾/30240 at
/// the threshold, with
/// f = L·N(·; μ, τ²) = exp(ψ) and h·f(cut) = L(cut)·κ (`at_cut`: L and p at the threshold;
/// `kappa_cut` the kernel's term there, 0 outside the node's window; `offset` = μ − cut).
/// Lⱼ is the sum itself: no logarithm is taken here.
fn finish(
    s: &BinaryStratum,
    tau: f64,
    offset: f64,
    h: f64,
    at_cut: Option<(f64, f64)>,
    kappa_cut: f64,
    [f, e1, e2, mut below]: [f64; 4],
) -> NodeValues {
    if !(f > 0.0 && f.is_finite()) {
        return NodeValues::default();
    }
    if let Some((l0, p0)) = at_cut {
        // h·f(cut); the corrections are below h·f(cut) (h ≤ τ/2 and the derivatives' terms
        // are of order 1/τ), so beneath e^(−40) of the sum they are left out.
        let hf = l0 * kappa_cut;
        if hf > f * NEGLIGIBLE_END {
            let inv_t2 = 1.0 / (tau * tau);
            let d1 = (s.y - s.n * p0) + offset * inv_t2;
            let pq = p0 * (1.0 - p0);
            let info = s.n * pq;
            let d2 = -info - inv_t2;
            let d3 = -info * (1.0 - 2.0 * p0);
            let d4 = -info * (1.0 - 6.0 * pq);
            let d5 = -info * (1.0 - 2.0 * p0) * (1.0 - 12.0 * pq);
            // h·f(cut) = hf.
            below -= hf / h * end_correction(h, [d1, d2, d3, d4, d5]);
        }
    }
    let inverse = 1.0 / f;
    NodeValues {
        marginal: f,
        ln_scale: 0.0,
        first: e1 * inverse,
        second: e2 * inverse,
        below: (below * inverse).clamp(0.0, 1.0),
    }
}

/// The largest power of two at most `x` (0 for x ≤ 0 or not finite, and below the smallest
/// normal number).
fn power_of_two_below(x: f64) -> f64 {
    if x.is_finite() && x >= f64::MIN_POSITIVE {
        f64::from_bits(x.to_bits() & 0xFFF0_0000_0000_0000)
    } else {
        0.0
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
    NodeValues::with_ln(ln_marginal, mean, mean * mean + variance, below)
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

    /// The convolution and the expansion agree with the inner quadrature (an
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
            for tau in [1e-4f64, 0.003, 0.02, 0.1, 0.4, 1.0, 3.0] {
                let cut = (0.2f64 / 0.8).ln();
                let mus: Vec<f64> = (-4..=4)
                    .map(|k: i32| cut + f64::from(k) * 0.7 * tau.min(0.3))
                    .collect();
                let mut out = [NodeValues::default(); 9];
                tables.start_row();
                tables.binary(&s, tau, cut, &mus, &mut out);
                for (got, &mu) in out.iter_mut().zip(&mus) {
                    if got.ln_marginal() < FALLBACK {
                        *got = exact(&rule, &s, tau, mu, cut);
                    }
                    let guess = tau * (s.estimate - mu) / (s.sigma * s.sigma + tau * tau);
                    let want = logit_normal(y, n, s.top, mu, tau, guess);
                    let (below, _) = want.cdf(&rule, cut);
                    // The inner rule itself errs by up to 1.1e-6 at τ = 3 (3/20 and 0/13; mpmath
                    // agrees with the convolution there to 1e-15).
                    let tolerance = 2e-6;
                    assert!(
                        (got.ln_marginal() - want.ln_marginal).abs() < tolerance,
                        "{y}/{n} τ {tau} μ {mu}: ln L {} vs {}",
                        got.ln_marginal(),
                        want.ln_marginal
                    );
                    assert!(
                        (got.first - want.mean).abs() < tolerance,
                        "{y}/{n} τ {tau} μ {mu}: E p {} vs {}",
                        got.first,
                        want.mean
                    );
                    // Here the inner rule's CDF is the less accurate (by up to 1.8e-5, for 0/2 at
                    // τ = 3): `rows_match_mpmath` holds the rows to 1e-7.
                    let cdf_tolerance = 5e-5;
                    assert!(
                        (got.below - below).abs() < cdf_tolerance,
                        "{y}/{n} τ {tau} μ {mu}: below {} vs {below}",
                        got.below
                    );
                }
            }
        }
    }

    /// The four-lane kernel equals the single chain it replaces.
    #[test]
    fn lanes_match_the_chain() {
        let mut k = Vec::new();
        let (z0, delta, norm) = (-9.5f64, 0.6f64, 0.3);
        let step = (-delta * delta).exp();
        kernel_along(&mut k, 23, z0, delta, norm, step);
        let (mut v, mut r) = (
            norm * (-0.5 * z0 * z0).exp(),
            (-z0 * delta - 0.5 * delta * delta).exp(),
        );
        for (i, got) in k.iter().enumerate() {
            assert!((got / v - 1.0).abs() < 1e-13, "{i}: {got} vs {v}");
            v *= r;
            r *= step;
        }
    }

    /// Stratum y of n at one node (μ, τ), alone in its row.
    fn one_node(tables: &mut RowTables, y: f64, n: f64, tau: f64, cut: f64, mu: f64) -> NodeValues {
        let mut out = [NodeValues::default(); 1];
        tables.start_row();
        tables.binary(&stratum(y, n), tau, cut, &[mu], &mut out);
        out[0]
    }

    /// A stratum far from μ (0 or 2 of 60, or 60 of 60, with μ on the other side of ½): the
    /// integrand sits where p is near ½ and the likelihood is much narrower than its normal
    /// approximation at the estimate says (SD 0.26 against 1.4 for 0 of 60). A grid spaced for
    /// the approximation's width erred by up to 3·10⁻⁶ in P(θ ≤ cut); against mpmath (30
    /// digits, `mp.quad`), ln L relative to the supremum, E[p] and P(θ ≤ cut).
    #[test]
    fn narrow_likelihoods_match_mpmath() {
        let cut = (0.2f64 / 0.8).ln();
        for (y, n, tau, mu, ln_l, mean, below) in [
            (
                0.0,
                60.0,
                0.6,
                0.8,
                -19.090_281_237_713_142,
                0.127_783_627_733_869_05,
                0.964_926_323_812_561_2,
            ),
            (
                0.0,
                60.0,
                1.0,
                0.5,
                -9.689_209_459_361_035,
                0.056_897_351_808_110_12,
                0.999_849_152_512_761_5,
            ),
            (
                2.0,
                60.0,
                0.8,
                1.5,
                -13.225_941_799_214_693,
                0.124_425_094_453_255_96,
                0.963_423_132_806_485_1,
            ),
            (
                60.0,
                60.0,
                0.7,
                -1.0,
                -17.397_274_857_590_6,
                0.892_336_125_279_170_4,
                4.107_638_618_747_178e-37,
            ),
        ] {
            let mut tables = RowTables::default();
            let got = one_node(&mut tables, y, n, tau, cut, mu);
            assert!(
                (got.ln_marginal() - ln_l).abs() < 1e-9,
                "{y}/{n} τ {tau} μ {mu}: ln L {} vs {ln_l}",
                got.ln_marginal()
            );
            assert!(
                (got.first - mean).abs() < 1e-9,
                "{y}/{n} τ {tau} μ {mu}: E[p] {} vs {mean}",
                got.first
            );
            assert!(
                (got.below - below).abs() < 1e-8,
                "{y}/{n} τ {tau} μ {mu}: P(θ ≤ cut) {} vs {below}",
                got.below
            );
        }
    }

    /// P(θ ≤ cut | μ, τ, y) from the rows against mpmath (30 digits, `mp.quad` of the binomial
    /// likelihood times the normal density on both sides of the cut), where the inner rule is
    /// least accurate.
    #[test]
    fn rows_match_mpmath() {
        let cut = (0.2f64 / 0.8).ln();
        let cases = [
            (
                3.0,
                20.0,
                0.1,
                -1.596_294_361_119_890_5,
                0.984_907_392_457_073_5,
            ),
            (
                3.0,
                20.0,
                0.1,
                -1.526_294_361_119_890_5,
                0.930_273_416_581_430_9,
            ),
            (
                3.0,
                20.0,
                3.0,
                -2.016_294_361_119_890_7,
                0.769_790_968_621_542_3,
            ),
            (
                0.0,
                2.0,
                0.4,
                -0.546_294_361_119_890_6,
                0.029_893_945_713_153_23,
            ),
            (
                0.0,
                2.0,
                3.0,
                -2.226_294_361_119_890_7,
                0.862_394_944_374_374_7,
            ),
            // Kernels that reach the flat ends of y = 0 and y = n likelihoods.
            (0.0, 13.0, 9.0, -2.0, 0.998_338_372_920_357_2),
            (0.0, 2.0, 6.0, -1.5, 0.901_278_715_239_387_4),
            (13.0, 13.0, 9.0, 1.0, 8.081_596_900_953_823e-12),
        ];
        let mut tables = RowTables::default();
        for (y, n, tau, mu, want) in cases {
            let out = [one_node(&mut tables, y, n, tau, cut, mu)];
            assert!(
                (out[0].below - want).abs() < 1e-7,
                "{y}/{n} τ {tau} μ {mu}: {} vs {want}",
                out[0].below
            );
        }
        // ln L and E[p] there (mpmath, the likelihood relative to its supremum).
        for (y, n, tau, mu, ln_l, mean) in [
            (
                0.0,
                13.0,
                9.0,
                -2.0,
                -0.794_234_071_136_992_2,
                0.007_413_340_650_731_65,
            ),
            (
                0.0,
                2.0,
                6.0,
                -1.5,
                -0.629_700_262_558_558_9,
                0.060_324_089_506_928_9,
            ),
            (
                13.0,
                13.0,
                9.0,
                1.0,
                -0.894_661_571_877_143,
                0.991_959_549_976_087_9,
            ),
        ] {
            let out = [one_node(&mut tables, y, n, tau, cut, mu)];
            assert!(
                (out[0].ln_marginal() - ln_l).abs() < 1e-8,
                "{y}/{n}: ln L {}",
                out[0].ln_marginal()
            );
            assert!(
                (out[0].first - mean).abs() < 1e-8,
                "{y}/{n}: E p {}",
                out[0].first
            );
        }
    }
}
