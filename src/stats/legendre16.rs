//! The 16-point Gauss–Legendre rule on panels whose edges follow the scales of a mixture, for the
//! one-dimensional integrals of the effective sample sizes and the meta-analytic-predictive
//! priors: a panel edge every standard deviation of every component (so a narrow component
//! inside a broad one is resolved on its own scale), and tail panels added outward until they
//! stop contributing.
//!
//! Integrates a given function; knows no distribution. Its own rule (16 points, symmetric
//! tables) so that the decision numerics' 8-point rules stay untouched.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_a_normal_density_and_its_moments() {
        let density = |x: f64| (-0.5 * (x - 1.0) * (x - 1.0) / 4.0).exp() / (2.0 * (2.0 * std::f64::consts::PI).sqrt());
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
