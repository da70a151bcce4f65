//! Where a row's μ nodes go. At one τ, the μ integrand is smooth on the scale of the conditional
//! SD of μ, except where some stratum's P(θⱼ ≤ cut | μ, τ, yⱼ) turns from 1 to 0, over a width
//! that shrinks with τ. The row is the trapezoidal rule, nodes at u = k, in a variable u with an
//! analytic map μ = g(u) whose spacing g′ is
//!
//! - fine (f) across the window where those turns happen,
//! - coarse (C, a fixed fraction of the SD of μ given τ) over the bulk, the two joined by
//!   logistic steps, and
//! - growing geometrically beyond the bulk (so that EXNEX's prior-like tails cost a few nodes).
//!
//! The trapezoidal rule converges geometrically for analytic integrands on the line, and the map
//! keeps the integrand analytic; so a row needs a fixed number of nodes whatever τ is, where an
//! equally spaced grid needed one node per τ.
//!
//! Numbers in, numbers out.

use super::inner::softplus_and_expit;

/// The coarse spacing as a fraction of the approximate conditional SD of μ: the trapezoidal
/// rule's relative error on a normal factor of SD w with spacing w is 2·e^(−2π²) ≈ 5·10⁻⁹ (a
/// little less than 1, for the growth's small share of the spacing inside the bulk).
const COARSE: f64 = 0.95;
/// The fine spacing as a fraction of the scale of a turn times the bulk, 1/√(1/w² + 1/s²) for a
/// turn of width w (the SD of the normal density that is the turn's derivative) in a bulk of
/// SD s. A turn whose scale exceeds [`NEEDS_WINDOW`] coarse spacings needs no window.
const FINE: f64 = 1.0;
const NEEDS_WINDOW: f64 = 0.95;
/// The window covers each turn's centre ± this many widths (Φ(−8) ≈ 6·10⁻¹⁶).
const WINDOW: f64 = 8.0;
/// The width, in nodes, of the logistic steps between fine and coarse spacing.
const STEP: f64 = 2.0;
/// Nodes, at the growth's rate, over which the spacing beyond the bulk grows e-fold.
const GROWTH: f64 = 3.0;
/// Fine nodes in one window at most (a bound for hostile inputs).
const MAX_WINDOW: f64 = 4096.0;

/// One stratum's turn: P(θⱼ ≤ cut | μ, τ) falls from 1 to 0 around `centre`, as a normal CDF of
/// SD `width` (from the normal approximation of the stratum's likelihood).
#[derive(Debug, Clone, Copy)]
pub(super) struct Turn {
    pub(super) centre: f64,
    pub(super) width: f64,
}

impl Turn {
    /// The turn of a stratum whose likelihood is approximately N(θ; estimate, variance) in θ:
    /// E[θ | μ, τ] = cut at μ* = cut + τ²/σ²·(cut − estimate), and the width τ·√(1 + τ²/σ²).
    pub(super) fn new(cut: f64, tau: f64, estimate: f64, variance: f64) -> Self {
        let ratio = tau * tau / variance;
        Self {
            centre: cut + ratio * (cut - estimate),
            width: tau * (1.0 + ratio).sqrt(),
        }
    }
}

/// The map μ = g(u) of one row and its node range k = first … first + count − 1.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MuMap {
    /// μ at u = 0.
    origin: f64,
    fine: f64,
    coarse: f64,
    /// The fine window's ends in u (equal when there is none).
    window: (f64, f64),
    /// Where the geometric growth starts on each side, in u.
    tails: (f64, f64),
    /// g(0) before the origin is added.
    offset: f64,
    pub(super) first: i64,
    pub(super) count: usize,
}

impl MuMap {
    /// The row's map: coarse spacing over `centre` ± `reach`·`sd`, a fine window around the
    /// turns that the coarse spacing cannot resolve (those inside the bulk), growth beyond, and
    /// `extra` nodes beyond the bulk on the left and on the right.
    pub(super) fn new(
        centre: f64,
        sd: f64,
        reach: f64,
        turns: impl Iterator<Item = Turn>,
        extra: (usize, usize),
    ) -> Self {
        let coarse = COARSE * sd;
        let (lo, hi) = (centre - reach * sd, centre + reach * sd);
        let (mut a, mut b, mut narrowest) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY);
        for turn in turns {
            let scale = FINE * turn.width * sd / turn.width.hypot(sd);
            if !(scale.is_finite() && turn.centre.is_finite()) || scale >= NEEDS_WINDOW * coarse {
                continue;
            }
            let (from, to) = (
                turn.centre - WINDOW * turn.width,
                turn.centre + WINDOW * turn.width,
            );
            if to <= lo || from >= hi {
                continue;
            }
            a = a.min(from.max(lo));
            b = b.max(to.min(hi));
            narrowest = narrowest.min(scale);
        }
        let mut map = Self {
            coarse,
            ..Self::default()
        };
        if a < b {
            let fine = narrowest.max((b - a) / MAX_WINDOW).min(coarse);
            // The window [a, b] spans u ∈ [0, length]; the steps sit `margin` nodes beyond, so
            // that the spacing at the window's ends is at most 1.5 f.
            let length = (b - a) / fine;
            let margin = STEP * (4.0 * coarse / fine).ln().max(0.0);
            map.origin = a;
            map.fine = fine;
            map.window = (-margin, length + margin);
            map.tails = (
                -margin - (a - lo) / coarse,
                length + margin + (hi - b) / coarse,
            );
        } else {
            map.origin = centre;
            map.fine = coarse;
            map.tails = (-reach / COARSE, reach / COARSE);
        }
        map.offset = map.raw(0.0).0;
        map.first = map.tails.0.floor() as i64 - extra.0 as i64;
        let last = map.tails.1.ceil() as i64 + extra.1 as i64;
        map.count = (last - map.first + 1) as usize;
        map
    }

    /// g(u) − origin + offset and g′(u).
    fn raw(&self, u: f64) -> (f64, f64) {
        let mut g = self.fine * u;
        let mut slope = self.fine;
        let (ua, ub) = self.window;
        if ub > ua {
            // f + (C − f)·[σ((u − u_b)/s) + σ((u_a − u)/s)], integrated.
            let extra = self.coarse - self.fine;
            let (above, rise) = softplus_and_expit((u - ub) / STEP);
            let (below, fall) = softplus_and_expit((ua - u) / STEP);
            g += extra * STEP * (above - below);
            slope += extra * (rise + fall);
        }
        // C·[e^((u − u_R)/A) + e^((u_L − u)/A)], integrated.
        let (ul, ur) = self.tails;
        let right = ((u - ur) / GROWTH).exp();
        let left = ((ul - u) / GROWTH).exp();
        g += self.coarse * GROWTH * (right - left);
        slope += self.coarse * (right + left);
        (g, slope)
    }

    /// μ and the rule's weight g′ at node k (k = 0 … count − 1).
    pub(super) fn node(&self, k: usize) -> (f64, f64) {
        let (g, slope) = self.raw((self.first + k as i64) as f64);
        (self.origin + g - self.offset, slope)
    }

    /// The cell of node k: μ from u = k − ½ to k + ½.
    pub(super) fn cell(&self, k: usize) -> (f64, f64) {
        let u = (self.first + k as i64) as f64;
        let (lo, _) = self.raw(u - 0.5);
        let (hi, _) = self.raw(u + 0.5);
        (
            self.origin + lo - self.offset,
            self.origin + hi - self.offset,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapped rule integrates a normal density, a normal density times a steep normal CDF
    /// inside the window, and a heavy-tailed mixture, to 1e-7 or better.
    #[test]
    fn the_mapped_rule_integrates_steps_and_tails() {
        let phi = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let cdf = |x: f64| crate::stats::special::NormalTable::get().cdf(x).0;
        for (tau, cut) in [
            (1e-5, 0.3),
            (1e-4, 0.3),
            (0.01, -0.5),
            (0.1, 1.0),
            (0.5, 0.0),
            (0.8, 0.0),
            (2.0, 0.2),
        ] {
            let turn = Turn::new(cut, tau, 0.2, 0.25);
            let map = MuMap::new(0.0, 1.0, 8.8, [turn].into_iter(), (2, 2));
            let (mut mass, mut below) = (0.0, 0.0);
            for k in 0..map.count {
                let (mu, weight) = map.node(k);
                mass += weight * phi(mu);
                below += weight * phi(mu) * cdf((turn.centre - mu) / turn.width);
            }
            assert!((mass - 1.0).abs() < 1e-8, "τ {tau}: mass {mass}");
            // ∫ φ(μ)Φ((c − μ)/w) dμ = Φ(c/√(1 + w²)).
            let want = cdf(turn.centre / (1.0 + turn.width * turn.width).sqrt());
            assert!(
                (below - want).abs() < 1e-7,
                "τ {tau}: below {below} vs {want}"
            );
            assert!(map.count < 100, "τ {tau}: {} nodes", map.count);
        }
        // A mixture with a component 13 times wider than the bulk: the growth covers it.
        let map = MuMap::new(0.0, 0.2, 8.8, std::iter::empty(), (10, 10));
        let mut mass = 0.0;
        for k in 0..map.count {
            let (mu, weight) = map.node(k);
            mass += weight * (0.5 * phi(mu / 0.2) / 0.2 + 0.5 * phi(mu / 2.6) / 2.6);
        }
        assert!((mass - 1.0).abs() < 1e-7, "mixture mass {mass}");
    }
}
