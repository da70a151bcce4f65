//! The quadrature grids of the n-of-1 models: Gauss–Legendre panels over a bounded interval
//! (ρ = sin θ for AR(1) errors, φ = atan(τ/scale) for the series), the end panels graded
//! geometrically, a finer window added around the posterior mass when it is narrow, and the
//! cut-off below which a node's weight is dropped.
//!
//! Only where the nodes go and what they weigh: the integrands are the callers'.

use crate::stats::StatsError;

/// Gauss–Legendre nodes on [−1, 1] (8 points).
///
/// Not the rule of [`crate::stats::Quadrature`], which computes its nodes by Newton's method
/// on P₈: the two differ in the last bits (nodes by up to 1 ulp, weights by up to 9 × 10⁻¹⁶),
/// so one rule for both would move every n-of-1 (or every decision) number in its last digits.
pub(crate) const GL_NODES: [f64; 8] = [
    -0.960_289_856_497_536_2,
    -0.796_666_477_413_626_7,
    -0.525_532_409_916_329,
    -0.183_434_642_495_649_78,
    0.183_434_642_495_649_78,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_2,
];
/// Gauss–Legendre weights matching [`GL_NODES`].
pub(crate) const GL_WEIGHTS: [f64; 8] = [
    0.101_228_536_290_377_06,
    0.222_381_034_453_374_43,
    0.313_706_645_877_886_9,
    0.362_683_783_378_361_66,
    0.362_683_783_378_361_66,
    0.313_706_645_877_886_9,
    0.222_381_034_453_374_43,
    0.101_228_536_290_377_06,
];

/// Uniform panels over the whole quadrature domain (before grading and refinement).
const BASE_PANELS: usize = 32;
/// The smallest components are dropped while their weights add up to at most this.
const NEGLIGIBLE_MASS: f64 = 1e-13;
/// A posterior SD (on the quadrature scale) below this many base panel widths triggers a finer
/// window of panels around the posterior mass.
const REFINE_BELOW: f64 = 1.5;
/// Half-width of the refined window, in posterior SDs.
const WINDOW_SDS: f64 = 10.0;
/// Panels per posterior SD inside the refined window.
const PANELS_PER_SD: f64 = 1.0;

/// Panel edges over (lo, hi): `BASE_PANELS` equal panels, the two end panels halved `grading`
/// times towards the ends.
pub(super) fn base_edges(lo: f64, hi: f64, grading: usize) -> Vec<f64> {
    let h = (hi - lo) / BASE_PANELS as f64;
    let mut edges = Vec::with_capacity(BASE_PANELS + 2 * grading + 1);
    for i in 0..=BASE_PANELS {
        edges.push(lo + h * i as f64);
    }
    let mut step = h;
    for _ in 0..grading {
        step *= 0.5;
        edges.push(lo + step);
        edges.push(hi - step);
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    edges
}

/// Adds a window of panels `PANELS_PER_SD` per SD over centre ± `WINDOW_SDS` SDs, clipped to
/// (lo, hi), to `edges`; returns whether anything was added.
pub(super) fn refine_edges(edges: &mut Vec<f64>, lo: f64, hi: f64, centre: f64, sd: f64) -> bool {
    let h = (hi - lo) / BASE_PANELS as f64;
    if !(sd.is_finite() && sd > 0.0 && sd < REFINE_BELOW * h) {
        return false;
    }
    let width = sd / PANELS_PER_SD;
    let from = (centre - WINDOW_SDS * sd).max(lo);
    let to = (centre + WINDOW_SDS * sd).min(hi);
    let count = ((to - from) / width).ceil() as usize;
    for i in 0..=count {
        let x = from + width * i as f64;
        if x > lo && x < hi {
            edges.push(x);
        }
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    true
}

/// `f(node, weight)` at every Gauss–Legendre node of every panel of `edges`, 8 results per
/// panel in order; a panel that an earlier pass over `old_edges` also had is copied from its
/// results `old` instead of evaluated again.
pub(super) fn evaluate_panels<T: Copy>(
    edges: &[f64],
    old_edges: &[f64],
    old: &[T],
    mut f: impl FnMut(f64, f64) -> Result<T, StatsError>,
) -> Result<Vec<T>, StatsError> {
    let per = GL_NODES.len();
    let mut out = Vec::with_capacity(per * edges.len());
    for pair in edges.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let reuse = old_edges
            .binary_search_by(|e| e.total_cmp(&a))
            .ok()
            .filter(|&i| old_edges.get(i + 1) == Some(&b) && old.len() >= per * (i + 1));
        if let Some(i) = reuse {
            out.extend_from_slice(&old[per * i..per * (i + 1)]);
            continue;
        }
        let half = 0.5 * (b - a);
        let mid = 0.5 * (a + b);
        for (x, w) in GL_NODES.iter().zip(GL_WEIGHTS) {
            out.push(f(mid + half * x, half * w)?);
        }
    }
    Ok(out)
}

/// The weight below which components are dropped: the smallest weights, adding up to at most
/// [`NEGLIGIBLE_MASS`].
pub(super) fn negligible_below(weights: &[f64]) -> f64 {
    // Only weights up to NEGLIGIBLE_MASS can be among the dropped: sort just those.
    let mut small: Vec<f64> = weights
        .iter()
        .copied()
        .filter(|&w| w <= NEGLIGIBLE_MASS)
        .collect();
    small.sort_unstable_by(f64::total_cmp);
    let mut dropped = 0.0;
    for &w in &small {
        if dropped + w > NEGLIGIBLE_MASS {
            return w;
        }
        dropped += w;
    }
    weights
        .iter()
        .copied()
        .filter(|&w| w > NEGLIGIBLE_MASS)
        .fold(f64::INFINITY, f64::min)
}
