//! The 16-point Gauss–Legendre rule on panels whose edges follow the scales of a mixture, for the
//! one-dimensional integrals of the effective sample sizes and the meta-analytic-predictive
//! priors: a panel edge every standard deviation of every component (so a narrow component
//! inside a broad one is resolved on its own scale), and tail panels added outward until they
//! stop contributing.
//!
//! Integrates a given function; knows no distribution. Its own rule (16 points, symmetric
//! tables) so that the decision numerics' 8-point rules stay untouched.

use std::sync::OnceLock;

/// The non-negative Gauss–Legendre nodes on [−1, 1] (16 points: ± each).
const NODES: [f64; 8] = [
    0.095_012_509_837_637_44,
    0.281_603_550_779_258_9,
    0.458_016_777_657_227_37,
    0.617_876_244_402_643_8,
    0.755_404_408_355_003,
    0.865_631_202_387_831_8,
    0.944_575_023_073_232_6,
    0.989_400_934_991_649_9,
];
/// The weights of [`NODES`] (each for both signs).
const WEIGHTS: [f64; 8] = [
    0.189_450_610_455_068_64,
    0.182_603_415_044_923_64,
    0.169_156_519_395_002_65,
    0.149_595_988_816_576_7,
    0.124_628_971_255_534_07,
    0.095_158_511_682_492_6,
    0.062_253_523_938_647_456,
    0.027_152_459_411_754_176,
];

/// Panel edges per side of a component's centre (one per standard deviation).
const CORE_SDS: usize = 12;
/// Tail panels stop once two in a row add less than this, relative to the running total.
const TAIL_NEGLIGIBLE: f64 = 1e-17;
/// Most tail panels per side.
const MAX_TAIL_PANELS: usize = 400;
/// Each tail panel is this much wider than the previous one (up to [`MAX_TAIL_GROWTH`] times the
/// first).
const TAIL_GROWTH: f64 = 1.25;
/// The widest tail panel, in multiples of the first.
const MAX_TAIL_GROWTH: f64 = 16.0;

/// Calls `visit(node, weight)` for the 16 nodes of the panel [lo, hi].
pub(crate) fn panel_nodes(lo: f64, hi: f64, mut visit: impl FnMut(f64, f64)) {
    let half = 0.5 * (hi - lo);
    let mid = 0.5 * (hi + lo);
    for (node, weight) in NODES.iter().zip(WEIGHTS) {
        visit(mid - half * node, half * weight);
        visit(mid + half * node, half * weight);
    }
}

/// ∫ f over one panel.
pub(crate) fn panel(lo: f64, hi: f64, f: &mut impl FnMut(f64) -> f64) -> f64 {
    let mut sum = 0.0;
    panel_nodes(lo, hi, |x, w| sum += w * f(x));
    sum
}

/// ∫ f over the real line (or the stated range of the variable), for an `f` whose mass lies
/// around the `(centre, sd)` scales given: panels of one SD of each scale within
/// ±[`CORE_SDS`] SDs of its centre (the edges of all scales merged), then tail panels outward,
/// each [`TAIL_GROWTH`] times wider, until two in a row are negligible.
pub(crate) fn integrate(scales: &[(f64, f64)], mut f: impl FnMut(f64) -> f64) -> f64 {
    let mut edges: Vec<f64> = Vec::with_capacity(scales.len() * (2 * CORE_SDS + 1));
    for &(centre, sd) in scales {
        for j in 0..=2 * CORE_SDS {
            edges.push(centre + (j as f64 - CORE_SDS as f64) * sd);
        }
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup_by(|a, b| (*a - *b).abs() <= 1e-12 * (1.0 + b.abs()));
    let (Some(&first), Some(&last)) = (edges.first(), edges.last()) else {
        return 0.0;
    };
    let mut total: f64 = edges.windows(2).map(|w| panel(w[0], w[1], &mut f)).sum();
    let smallest = scales
        .iter()
        .map(|s| s.1)
        .fold(f64::INFINITY, f64::min)
        .max(1e-300);
    for direction in [-1.0, 1.0] {
        let mut at = if direction < 0.0 { first } else { last };
        let mut width = smallest;
        let mut quiet = 0;
        for _ in 0..MAX_TAIL_PANELS {
            let next = at + direction * width;
            let part = panel(at.min(next), at.max(next), &mut f);
            total += part;
            if part.abs() <= TAIL_NEGLIGIBLE * total.abs() {
                quiet += 1;
                if quiet == 2 {
                    break;
                }
            } else {
                quiet = 0;
            }
            at = next;
            width = (width * TAIL_GROWTH).min(MAX_TAIL_GROWTH * smallest.max(scale_of(scales)));
        }
    }
    total
}

/// The largest SD among the scales (the tail panels grow towards it).
fn scale_of(scales: &[(f64, f64)]) -> f64 {
    scales.iter().map(|s| s.1).fold(0.0, f64::max)
}

/// Barycentric weights of the 16 nodes in the order [`panel_nodes`] visits them (−n₀, +n₀,
/// −n₁, …), for interpolation on [−1, 1].
fn barycentric_weights() -> &'static [(f64, f64); 16] {
    static TABLE: OnceLock<[(f64, f64); 16]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut nodes = [0.0; 16];
        for (i, n) in NODES.iter().enumerate() {
            nodes[2 * i] = -n;
            nodes[2 * i + 1] = *n;
        }
        let mut table = [(0.0, 0.0); 16];
        for (j, slot) in table.iter_mut().enumerate() {
            let product: f64 = (0..16)
                .filter(|&k| k != j)
                .map(|k| nodes[j] - nodes[k])
                .product();
            *slot = (nodes[j], 1.0 / product);
        }
        table
    })
}

/// The polynomial through `values` at the panel's 16 nodes, at s ∈ [−1, 1] (barycentric form).
fn interpolate(values: &[f64], s: f64) -> f64 {
    let mut numerator = 0.0;
    let mut denominator = 0.0;
    for (&(node, weight), &value) in barycentric_weights().iter().zip(values) {
        let d = s - node;
        if d == 0.0 {
            return value;
        }
        let t = weight / d;
        numerator += t * value;
        denominator += t;
    }
    numerator / denominator
}

/// A function known at the 16 nodes of each of a row of adjacent panels: evaluated anywhere
/// between the first and last edge by the panel's interpolating polynomial, integrated, and (for
/// a density) its distribution function and quantiles.
#[derive(Debug, Clone)]
pub(crate) struct Tabulated {
    edges: Vec<f64>,
    values: Vec<f64>,
    cumulative: Vec<f64>,
}

impl Tabulated {
    /// Tabulates `f` on the panels between consecutive `edges` (at least two, increasing).
    pub(crate) fn new(edges: Vec<f64>, mut f: impl FnMut(f64) -> f64) -> Self {
        let mut values = Vec::with_capacity(16 * edges.len());
        let mut cumulative = Vec::with_capacity(edges.len());
        cumulative.push(0.0);
        let mut total = 0.0;
        for w in edges.windows(2) {
            panel_nodes(w[0], w[1], |x, weight| {
                let v = f(x);
                values.push(v);
                total += weight * v;
            });
            cumulative.push(total);
        }
        Self {
            edges,
            values,
            cumulative,
        }
    }

    /// Calls `visit(x, quadrature weight, value)` for every node.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(f64, f64, f64)) {
        for (p, w) in self.edges.windows(2).enumerate() {
            let mut i = 0;
            panel_nodes(w[0], w[1], |x, weight| {
                visit(x, weight, self.values[16 * p + i]);
                i += 1;
            });
        }
    }

    /// ∫ f over all panels.
    pub(crate) fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// The first and last edge.
    pub(crate) fn range(&self) -> (f64, f64) {
        (
            self.edges.first().copied().unwrap_or(0.0),
            self.edges.last().copied().unwrap_or(0.0),
        )
    }

    fn panel_of(&self, x: f64) -> usize {
        let last = self.edges.len().saturating_sub(2);
        self.edges
            .partition_point(|&e| e <= x)
            .saturating_sub(1)
            .min(last)
    }

    /// f(x) by interpolation (0 outside the panels).
    pub(crate) fn value(&self, x: f64) -> f64 {
        let (lo, hi) = self.range();
        if !(lo..=hi).contains(&x) || self.edges.len() < 2 {
            return 0.0;
        }
        let p = self.panel_of(x);
        let (a, b) = (self.edges[p], self.edges[p + 1]);
        interpolate(
            &self.values[16 * p..16 * p + 16],
            (2.0 * x - a - b) / (b - a),
        )
    }

    /// ∫ f from the first edge to x.
    pub(crate) fn integral_to(&self, x: f64) -> f64 {
        let (lo, hi) = self.range();
        if x <= lo || self.edges.len() < 2 {
            return 0.0;
        }
        if x >= hi {
            return self.total();
        }
        let p = self.panel_of(x);
        let (a, b) = (self.edges[p], self.edges[p + 1]);
        let values = &self.values[16 * p..16 * p + 16];
        let mut part = 0.0;
        panel_nodes(a, x, |t, w| {
            part += w * interpolate(values, (2.0 * t - a - b) / (b - a));
        });
        self.cumulative[p] + part
    }

    /// The x where ∫ f up to x is `p` × the total, by bisection within its panel.
    pub(crate) fn quantile(&self, p: f64) -> f64 {
        let target = p * self.total();
        let index = self
            .cumulative
            .partition_point(|&c| c < target)
            .clamp(1, self.edges.len().saturating_sub(1).max(1));
        let (mut lo, mut hi) = (
            self.edges[index - 1],
            self.edges[index.min(self.edges.len() - 1)],
        );
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if self.integral_to(mid) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

/// Panel edges for functions whose mass lies around the `(centre, sd)` scales: one every
/// `step` SDs within ±`sds` SDs of each centre, merged, leaving out an edge closer than half its
/// own spacing to the previous one (so broad scales add no edges among a narrow one's).
pub(crate) fn edges(scales: &[(f64, f64)], sds: f64, step: f64) -> Vec<f64> {
    let per = (sds / step).ceil() as usize;
    let mut all: Vec<(f64, f64)> = Vec::with_capacity(scales.len() * (2 * per + 1));
    for &(centre, sd) in scales {
        for j in 0..=2 * per {
            all.push((centre + (j as f64 - per as f64) * step * sd, step * sd));
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut kept: Vec<f64> = Vec::with_capacity(all.len());
    for (x, spacing) in all {
        match kept.last() {
            Some(&last) if x - last < 0.5 * spacing => {}
            _ => kept.push(x),
        }
    }
    let max = all_max(scales, per as f64 * step);
    if kept.last().is_some_and(|&last| last < max) {
        kept.push(max);
    }
    kept
}

fn all_max(scales: &[(f64, f64)], sds: f64) -> f64 {
    scales
        .iter()
        .map(|s| s.0 + sds * s.1)
        .fold(f64::NEG_INFINITY, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_a_normal_density_and_its_moments() {
        let density = |x: f64| {
            (-0.5 * (x - 1.0) * (x - 1.0) / 4.0).exp() / (2.0 * (2.0 * std::f64::consts::PI).sqrt())
        };
        let mass = integrate(&[(1.0, 2.0)], density);
        let mean = integrate(&[(1.0, 2.0)], |x| x * density(x));
        assert!((mass - 1.0).abs() < 1e-14, "{mass}");
        assert!((mean - 1.0).abs() < 1e-13, "{mean}");
    }

    #[test]
    fn slow_exponential_tails_are_followed() {
        // The logistic density, whose tails decay like e^{−|x|}, around a narrow scale.
        let density = |x: f64| {
            let e = (-x.abs()).exp();
            e / ((1.0 + e) * (1.0 + e))
        };
        let mass = integrate(&[(0.0, 0.1)], density);
        assert!((mass - 1.0).abs() < 1e-13, "{mass}");
    }
}
