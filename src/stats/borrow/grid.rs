//! Where the τ nodes of a borrowing fit go, from the normal approximation of each stratum's
//! likelihood: the range of τ that holds the posterior mass, cut into Gauss–Legendre panels; and
//! for each τ the approximate centre and SD of μ, from which [`super::mu_nodes`] places the μ
//! nodes.
//!
//! Only node placement: the exact integrand is evaluated at the nodes by [`super::fit`], which
//! also corrects a μ rule whose scale or reach the exact weights contradict, and places τ's
//! panels again ([`edges_again`]) where the exact rows' masses contradict the approximation.

use super::NormalPrior;
use crate::stats::nof1::panels::{GL_NODES, GL_WEIGHTS};

/// Gauss–Legendre panels over τ.
pub(super) const TAU_PANELS: usize = 7;
/// Gauss–Legendre points per τ panel at most (the slots of each panel; [`panel_points`] may
/// use fewer).
pub(super) const PANEL_POINTS: [usize; TAU_PANELS] = [8, 8, 8, 8, 8, 8, 8];
/// The points a panel may take instead of eight, fewest first, where [`panel_points`] finds
/// them enough.
const REDUCED_POINTS: [usize; 2] = [4, 6];
/// A panel takes fewer points when, on the approximate posterior of τ, they integrate the panel
/// to this fraction of the whole mass of what eight points give.
const REDUCED_TOLERANCE: [f64; 2] = [1e-10, 1e-12];
/// τ nodes in all.
pub(super) const TAU_POINTS: usize = 56;
/// The first τ node of each panel (and, last, [`TAU_POINTS`]).
pub(super) const PANEL_FIRST: [usize; TAU_PANELS + 1] = {
    let mut first = [0; TAU_PANELS + 1];
    let mut p = 0;
    while p < TAU_PANELS {
        first[p + 1] = first[p] + PANEL_POINTS[p];
        p += 1;
    }
    first
};
const _: () = assert!(PANEL_FIRST[TAU_PANELS] == TAU_POINTS);
/// Nats below the approximate peak that bound the τ range.
const TAU_DROP: f64 = 30.0;
/// Inner panel edges at these quantiles of the approximate posterior of τ.
const TAU_QUANTILES: [f64; TAU_PANELS - 1] = [0.1, 0.3, 0.6, 0.9, 0.995, 0.999_99];
/// A panel meant to hold at least [`CHECKED_SHARE`] of the mass that holds more than
/// [`SHARE_RATIO`] times its share is placed again ([`edges_again`]).
const CHECKED_SHARE: f64 = 0.09;
const SHARE_RATIO: f64 = 2.0;
/// Margin applied to the ends of the τ range found by the scan.
const TAU_MARGIN: f64 = 1.5;
/// The scan's τ values: s_τ·10^((i − SCAN_LOW)/10), i = 0 … SCAN_POINTS − 1.
const SCAN_POINTS: usize = 73;
const SCAN_LOW: f64 = 60.0;

/// The Gauss–Legendre rule of a panel with `n` points on [−1, 1]: nodes, increasing, and
/// weights. 8 points is [`PANEL_POINTS`]' size (fewer in every panel lost 4·10⁻⁵ of a stratum's
/// mean where strongly conflicting strata mislead the panels' placement); 4 and 6 where
/// [`panel_points`] finds them enough.
pub(super) fn legendre_rule(n: usize) -> (&'static [f64], &'static [f64]) {
    match n {
        4 => (&GL4_NODES, &GL4_WEIGHTS),
        6 => (&GL6_NODES, &GL6_WEIGHTS),
        _ => {
            debug_assert_eq!(n, GL_NODES.len());
            (&GL_NODES, &GL_WEIGHTS)
        }
    }
}

/// The 6-point Gauss–Legendre rule on [−1, 1] (mpmath at 50 digits, rounded to the nearest
/// `f64`): nodes, increasing, and
/// weights. [Abramowitz & Stegun 1964, Table 25.4]
const GL6_NODES: [f64; 6] = [
    -0.932_469_514_203_152,
    -0.661_209_386_466_264_5,
    -0.238_619_186_083_196_9,
    0.238_619_186_083_196_9,
    0.661_209_386_466_264_5,
    0.932_469_514_203_152,
];
const GL6_WEIGHTS: [f64; 6] = [
    0.171_324_492_379_170_36,
    0.360_761_573_048_138_6,
    0.467_913_934_572_691_04,
    0.467_913_934_572_691_04,
    0.360_761_573_048_138_6,
    0.171_324_492_379_170_36,
];

/// The 4-point Gauss–Legendre rule on [−1, 1] (mpmath, 20 digits): nodes, increasing, and
/// weights. [Abramowitz & Stegun 1964, Table 25.4]
const GL4_NODES: [f64; 4] = [
    -0.861_136_311_594_052_6,
    -0.339_981_043_584_856_3,
    0.339_981_043_584_856_3,
    0.861_136_311_594_052_6,
];
const GL4_WEIGHTS: [f64; 4] = [
    0.347_854_845_137_453_9,
    0.652_145_154_862_546_1,
    0.652_145_154_862_546_1,
    0.347_854_845_137_453_9,
];

/// The points each τ panel of `edges` takes: the fewest of [`REDUCED_POINTS`] that integrate
/// the approximate posterior of τ over the panel as eight points do, to [`REDUCED_TOLERANCE`]
/// of the whole (four typically in the panels near τ = 0 when the mass reaches it, where the
/// marginal posterior is analytic in τ² and nearly flat; six where it is smooth on the panel's
/// scale), eight elsewhere and always in the last panel. The
/// fit checks the exact rows against the approximation ([`edges_again`]) and evaluates again
/// with eight points everywhere where they disagree.
pub(super) fn panel_points(
    approx: &[Approx],
    mu: &NormalPrior,
    tau_scale: f64,
    edges: &[f64; TAU_PANELS + 1],
) -> [usize; TAU_PANELS] {
    let mut points = PANEL_POINTS;
    // The log density at each panel's 8, 4 and 6 nodes, computed once.
    let mut logs = [[0.0; GL_NODES.len() + GL4_NODES.len() + GL6_NODES.len()]; TAU_PANELS];
    for (p, row) in logs.iter_mut().enumerate() {
        let (half, mid) = (
            0.5 * (edges[p + 1] - edges[p]),
            0.5 * (edges[p + 1] + edges[p]),
        );
        for (value, x) in row
            .iter_mut()
            .zip(GL_NODES.iter().chain(&GL4_NODES).chain(&GL6_NODES))
        {
            *value = approx_log_posterior(approx, mu, tau_scale, mid + half * x);
        }
    }
    let peak = logs
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if !peak.is_finite() {
        return points;
    }
    let (mut full, mut reduced) = ([0.0; TAU_PANELS], [[0.0; 2]; TAU_PANELS]);
    for p in 0..TAU_PANELS {
        let half = 0.5 * (edges[p + 1] - edges[p]);
        let integral = |values: &[f64], weights: &[f64]| -> f64 {
            half * values
                .iter()
                .zip(weights)
                .map(|(v, w)| (v - peak).exp() * w)
                .sum::<f64>()
        };
        let (eight, rest) = logs[p].split_at(GL_NODES.len());
        let (four, six) = rest.split_at(GL4_NODES.len());
        full[p] = integral(eight, &GL_WEIGHTS);
        reduced[p] = [integral(four, &GL4_WEIGHTS), integral(six, &GL6_WEIGHTS)];
    }
    let total: f64 = full.iter().sum();
    for p in 0..TAU_PANELS - 1 {
        if let Some(k) = (0..REDUCED_POINTS.len())
            .find(|&k| (full[p] - reduced[p][k]).abs() <= REDUCED_TOLERANCE[k] * total)
        {
            points[p] = REDUCED_POINTS[k];
        }
    }
    points
}

/// The approximate log posterior density of τ (up to a constant): the normal approximation's
/// marginal likelihood ([`conditional`]) times the half-normal prior of scale `tau_scale`.
fn approx_log_posterior(approx: &[Approx], mu: &NormalPrior, tau_scale: f64, tau: f64) -> f64 {
    let (log_marginal, _, _) = conditional(approx, mu, tau);
    log_marginal - 0.5 * (tau / tau_scale) * (tau / tau_scale)
}

/// The normal approximation N(estimate, variance) to a stratum's likelihood in θ, and the
/// stratum's prior probability of exchangeability.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Approx {
    pub(super) estimate: f64,
    pub(super) variance: f64,
    pub(super) weight: f64,
}

impl Approx {
    /// y of n: the logit and the inverse information of (y + ½)/(n + 1) (finite also for y = 0
    /// and y = n).
    pub(super) fn binary(y: f64, n: f64, weight: f64) -> Self {
        let p = (y + 0.5) / (n + 1.0);
        Self {
            estimate: (p / (1.0 - p)).ln(),
            variance: 1.0 / ((n + 1.0) * p * (1.0 - p)),
            weight,
        }
    }
}

/// Under the normal approximation, with every stratum of positive weight exchangeable: the log
/// marginal density of τ (up to a constant, prior included) and the mean and variance of μ
/// given τ.
pub(super) fn conditional(approx: &[Approx], mu: &NormalPrior, tau: f64) -> (f64, f64, f64) {
    let prior_precision = 1.0 / (mu.sd() * mu.sd());
    let mut precision = prior_precision;
    let mut linear = mu.mean() * prior_precision;
    let mut quadratic = mu.mean() * mu.mean() * prior_precision;
    let mut ln_det = 0.0;
    for a in approx.iter().filter(|a| a.weight > 0.0) {
        let v = a.variance + tau * tau;
        let u = 1.0 / v;
        precision += u;
        linear += a.estimate * u;
        quadratic += a.estimate * a.estimate * u;
        ln_det += v.ln();
    }
    let mean = linear / precision;
    let log_marginal = -0.5 * (ln_det + precision.ln() + quadratic - linear * mean);
    (log_marginal, mean, 1.0 / precision)
}

/// The edges of the τ panels: a scan of the approximate log posterior of τ (over 13 decades
/// below and above s_τ) finds where it lies within [`TAU_DROP`] nats of its peak; the range is
/// widened by [`TAU_MARGIN`], and starts at 0 when the mass reaches τ = 0 (or `from_zero` is
/// set, as for EXNEX, whose non-exchangeable strata the approximation cannot see). The inner
/// edges are the approximate posterior's quantiles [`TAU_QUANTILES`], so each panel holds a
/// share of the mass.
pub(super) fn tau_edges(
    approx: &[Approx],
    mu: &NormalPrior,
    tau_scale: f64,
    from_zero: bool,
) -> [f64; TAU_PANELS + 1] {
    let log_posterior = |tau: f64| approx_log_posterior(approx, mu, tau_scale, tau);
    let at = |i: usize| tau_scale * 10f64.powf((i as f64 - SCAN_LOW) / 10.0);
    let mut values = [0.0; SCAN_POINTS];
    let mut peak = log_posterior(0.0);
    for (i, v) in values.iter_mut().enumerate() {
        *v = log_posterior(at(i));
        peak = peak.max(*v);
    }
    if !peak.is_finite() {
        // No stratum informs τ (every weight 0): the prior's range, cut evenly.
        let hi = 8.5 * tau_scale;
        let mut edges = [0.0; TAU_PANELS + 1];
        for (k, edge) in edges.iter_mut().enumerate().skip(1) {
            *edge = hi / 2f64.powi((TAU_PANELS - k) as i32);
        }
        return edges;
    }
    let floor = peak - TAU_DROP;
    let last = values
        .iter()
        .rposition(|&v| v > floor)
        .unwrap_or(SCAN_POINTS - 1);
    let hi = at((last + 1).min(SCAN_POINTS - 1)) * TAU_MARGIN;
    let first = values.iter().position(|&v| v > floor).unwrap_or(0);
    let reaches_zero = from_zero || first == 0 || log_posterior(0.0) > floor;
    let lo = if reaches_zero {
        0.0
    } else {
        at(first - 1) / TAU_MARGIN
    };
    // The approximate CDF of τ on the scan (trapezoids in τ), for edges at its quantiles.
    let mut cumulative = [0.0; SCAN_POINTS];
    let mut total = 0.0;
    for i in 1..SCAN_POINTS {
        let step = at(i) - at(i - 1);
        total += 0.5 * step * ((values[i] - peak).exp() + (values[i - 1] - peak).exp());
        cumulative[i] = total;
    }
    let at_quantile = |q: f64| -> f64 {
        let i = cumulative
            .iter()
            .position(|&c| c >= q * total)
            .unwrap_or(SCAN_POINTS - 1);
        at(i)
    };
    let mut edges = [0.0; TAU_PANELS + 1];
    edges[0] = lo;
    edges[TAU_PANELS] = hi;
    for (k, q) in TAU_QUANTILES.iter().enumerate() {
        edges[k + 1] = at_quantile(*q).max(lo).min(hi);
    }
    // A degenerate scan leaves equal quantiles.
    increasing(&mut edges, 1e-3);
    edges
}

/// Keeps the inner edges at least `gap` of the range apart and increasing, the ends where they
/// are.
fn increasing(edges: &mut [f64; TAU_PANELS + 1], gap: f64) {
    let (lo, hi) = (edges[0], edges[TAU_PANELS]);
    for k in 1..=TAU_PANELS {
        let floor_edge = edges[k - 1] + (hi - lo) * gap;
        if edges[k] < floor_edge {
            edges[k] = floor_edge.min(hi);
        }
    }
    edges[TAU_PANELS] = hi;
}

/// New inner edges at the quantiles [`TAU_QUANTILES`] of the exact posterior of τ, from the rows
/// evaluated on the panels of `edges` (τ nodes and row masses), when a panel meant to hold at
/// least [`CHECKED_SHARE`] of the mass holds more than [`SHARE_RATIO`] times its share: the
/// normal approximation cannot see, for example, that EXNEX sets an outlying stratum apart, and
/// puts τ's panels where an exchangeable outlier would push τ. The CDF between the nodes is
/// linear (each row's mass half before and half after its node); the ends stay.
pub(super) fn edges_again(
    edges: &[f64; TAU_PANELS + 1],
    nodes: &[f64; TAU_POINTS],
    masses: &[f64; TAU_POINTS],
) -> Option<[f64; TAU_PANELS + 1]> {
    let total: f64 = masses.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let mut misplaced = false;
    let mut below = 0.0;
    for p in 0..TAU_PANELS {
        let above = TAU_QUANTILES.get(p).copied().unwrap_or(1.0);
        let intended = above - below;
        below = above;
        let share = masses[PANEL_FIRST[p]..PANEL_FIRST[p + 1]]
            .iter()
            .sum::<f64>()
            / total;
        misplaced |= intended >= CHECKED_SHARE && share > SHARE_RATIO * intended;
    }
    if !misplaced {
        return None;
    }
    let (lo, hi) = (edges[0], edges[TAU_PANELS]);
    let mut again = *edges;
    let mut a = 0;
    let (mut at, mut cumulative) = (lo, 0.0);
    for (k, q) in TAU_QUANTILES.iter().enumerate() {
        let target = q * total;
        // Walk the points (τ_a, mass before τ_a + half of row a's) to the one past the target.
        loop {
            if a == TAU_POINTS {
                again[k + 1] = hi;
                break;
            }
            let next = cumulative + 0.5 * masses[a] + if a > 0 { 0.5 * masses[a - 1] } else { 0.0 };
            if next >= target {
                let step = next - cumulative;
                let fraction = if step > 0.0 {
                    (target - cumulative) / step
                } else {
                    0.0
                };
                again[k + 1] = at + fraction * (nodes[a] - at);
                break;
            }
            (at, cumulative) = (nodes[a], next);
            a += 1;
        }
    }
    increasing(&mut again, 1e-6);
    Some(again)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The τ nodes of panels with these edges.
    fn nodes_of(edges: &[f64; TAU_PANELS + 1]) -> ([f64; TAU_POINTS], [f64; TAU_POINTS]) {
        let (mut nodes, mut weights) = ([0.0; TAU_POINTS], [0.0; TAU_POINTS]);
        for p in 0..TAU_PANELS {
            let half = 0.5 * (edges[p + 1] - edges[p]);
            let (x, w) = legendre_rule(PANEL_POINTS[p]);
            for k in 0..PANEL_POINTS[p] {
                nodes[PANEL_FIRST[p] + k] = edges[p] + half * (1.0 + x[k]);
                weights[PANEL_FIRST[p] + k] = half * w[k];
            }
        }
        (nodes, weights)
    }

    /// Homogeneous strata (τ's mass at 0, where its posterior is flat) give the first panels
    /// four points; strongly conflicting strata (τ near 2, rising steeply from the range's
    /// start) never take four and keep eight in the first panel, where the rise is; the last
    /// panel always keeps eight.
    #[test]
    fn smooth_panels_take_fewer_points() {
        let mu = NormalPrior::new("mu", -1.735, 2.6).expect("mu prior");
        let chugh: Vec<Approx> = [(2, 15), (0, 13), (1, 12), (6, 28), (7, 29), (3, 29)]
            .iter()
            .map(|&(y, n)| Approx::binary(y as f64, n as f64, 1.0))
            .collect();
        let edges = tau_edges(&chugh, &mu, 1.0, false);
        let points = panel_points(&chugh, &mu, 1.0, &edges);
        assert_eq!(points[0], REDUCED_POINTS[0], "{points:?} on {edges:?}");
        assert_eq!(points[TAU_PANELS - 1], 8);
        let conflicting: Vec<Approx> = [(4, 56), (39, 43), (1, 32), (47, 52)]
            .iter()
            .map(|&(y, n)| Approx::binary(y as f64, n as f64, 1.0))
            .collect();
        let edges = tau_edges(&conflicting, &mu, 1.0, false);
        let points = panel_points(&conflicting, &mu, 1.0, &edges);
        assert!(
            points[0] == 8 && points[TAU_PANELS - 1] == 8 && !points.contains(&4),
            "{points:?} on {edges:?}"
        );
    }

    /// Rows that hold each panel's intended share leave the panels; rows of an exponential
    /// posterior (rate 5) on panels of width 1, which put nine tenths of the mass in the first
    /// panel, move the inner edges to its quantiles −ln(1 − q)/5 (within the error of the
    /// linear CDF between nodes), keeping the ends.
    #[test]
    fn panels_are_placed_again_where_the_rows_contradict_them() {
        let edges = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let (nodes, weights) = nodes_of(&edges);
        let shares = [0.1, 0.2, 0.3, 0.3, 0.095, 0.004_99, 0.000_01];
        let mut masses = [0.0; TAU_POINTS];
        for p in 0..TAU_PANELS {
            masses[PANEL_FIRST[p]..PANEL_FIRST[p + 1]].fill(shares[p] / PANEL_POINTS[p] as f64);
        }
        assert!(edges_again(&edges, &nodes, &masses).is_none());
        for a in 0..TAU_POINTS {
            masses[a] = weights[a] * 5.0 * (-5.0 * nodes[a]).exp();
        }
        let again = edges_again(&edges, &nodes, &masses).expect("placed again");
        assert_eq!((again[0], again[TAU_PANELS]), (0.0, 7.0));
        for (k, q) in TAU_QUANTILES.iter().enumerate() {
            let want = -(1.0 - q).ln() / 5.0;
            assert!(
                (again[k + 1] - want).abs() < 0.1 * want + 0.01,
                "edge {}: {} vs {want}",
                k + 1,
                again[k + 1]
            );
        }
        assert!(again.windows(2).all(|pair| pair[0] < pair[1]), "{again:?}");
    }
}
