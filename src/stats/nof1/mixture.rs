//! The mixtures the n-of-1 posteriors are made of: Student-t's (one patient's effect, a
//! component per node of ρ) and normals (the series model, a component per node of τ), with
//! their CDFs, densities, quantiles and tail probabilities.
//!
//! A mixture is given its components; it does not know where they came from, and it draws
//! nothing at random. The special functions are [`crate::stats::special`]'s, the generic
//! quantile search [`crate::stats::roots`]'; the normal mixture's certified Taylor search is its
//! own (it needs the derivatives only a whole mixture evaluation gives).

use super::types::TComponent;
use crate::stats::roots::{quantile, Continuous};
use crate::stats::special::{ln_beta_t, t_cdf_with, t_ln_norm, NormalTable, Z_975};
use crate::stats::Better;

/// The equal-tailed 95% interval, from a normal-approximation guess.
pub(super) fn interval95(dist: &impl Continuous, mean: f64, sd: f64, spread: f64) -> (f64, f64) {
    let (half, step) = if sd.is_finite() && sd > 0.0 {
        (Z_975 * sd, 0.25 * sd)
    } else {
        (2.0 * spread, spread)
    };
    (
        quantile(dist, 0.025, mean - half, step),
        quantile(dist, 0.975, mean + half, step),
    )
}

/// A mixture of location-scale Student-t's.
pub(super) struct TMixture<'a> {
    components: &'a [TComponent],
    /// ln of each component's density constant, and ln B(df/2, ½).
    constants: Vec<(f64, f64)>,
}

impl<'a> TMixture<'a> {
    pub(super) fn new(components: &'a [TComponent]) -> Self {
        let constants = components
            .iter()
            .map(|c| (t_ln_norm(c.df), ln_beta_t(c.df)))
            .collect();
        Self {
            components,
            constants,
        }
    }

    /// P(X > x), by the symmetry of each component (no cancellation in the upper tail).
    pub(super) fn sf(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, k)| c.weight * t_cdf_with(c.df, k.1, (c.loc - x) / c.scale))
            .sum()
    }
}

impl Continuous for TMixture<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, k)| c.weight * t_cdf_with(c.df, k.1, (x - c.loc) / c.scale))
            .sum()
    }

    fn density(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, &(ln_norm, _))| {
                let z = (x - c.loc) / c.scale;
                c.weight / c.scale * (ln_norm - 0.5 * (c.df + 1.0) * (z * z / c.df).ln_1p()).exp()
            })
            .sum()
    }
}

/// A run of neighbouring normal components merged into one normal with the same weight, mean and
/// variance is accepted while W·ε² ≤ this, W the run's weight and ε the largest deviation of a
/// member's mean or SD from the merged mean or SD, in merged SDs. The merged CDF then differs from
/// the run's by at most 1.05·W·ε² anywhere (see [`NormalMixture::push`]), so every run moves
/// the mixture CDF by at most 1.05 × 10⁻¹⁶.
const MERGE_TOLERANCE: f64 = 1e-16;
/// A quantile search ends when the error of its result is certified below this many SDs of the
/// mixture (see [`NormalMixture::quantile`]).
const QUANTILE_TOLERANCE: f64 = 1e-12;
/// The derivatives of a mixture CDF computed at each evaluation: F′ … F⁽⁸⁾.
const TAYLOR_ORDER: usize = 8;
/// max |φ′(z)| = φ(1), rounded up: with Σ w/s², bounds F″.
const MAX_PDF_SLOPE: f64 = 0.242;
/// max |φ⁽⁸⁾(z)| = max |He₈(z)φ(z)| = 105φ(0), rounded up: with Σ w/s⁹, bounds F⁽⁹⁾.
const MAX_PDF_EIGHTH: f64 = 41.89;

/// One component of a [`NormalMixture`].
#[derive(Debug, Clone, Copy)]
struct NormalComponent {
    weight: f64,
    mean: f64,
    sd: f64,
    /// 1/SD, so that an evaluation needs no division.
    inv_sd: f64,
}

/// A run of neighbouring components being merged: the weight, sums relative to the first
/// member's mean (no cancellation when the means are large), and the members' ranges.
#[derive(Debug, Clone, Copy)]
struct Run {
    weight: f64,
    origin: f64,
    /// Σ w·(m − origin).
    first: f64,
    /// Σ w·(m − origin)².
    second: f64,
    /// Σ w·s².
    variance: f64,
    mean_range: (f64, f64),
    sd_range: (f64, f64),
    /// The last member's (mean, SD); they are the run's when the run has one member.
    last: (f64, f64),
    members: usize,
}

impl Run {
    fn start(w: f64, m: f64, s: f64) -> Self {
        Self {
            weight: w,
            origin: m,
            first: 0.0,
            second: 0.0,
            variance: w * s * s,
            mean_range: (m, m),
            sd_range: (s, s),
            last: (m, s),
            members: 1,
        }
    }

    /// The run with (w, m, s) added.
    fn with(&self, w: f64, m: f64, s: f64) -> Self {
        let d = m - self.origin;
        Self {
            weight: self.weight + w,
            origin: self.origin,
            first: self.first + w * d,
            second: self.second + w * d * d,
            variance: self.variance + w * s * s,
            mean_range: (self.mean_range.0.min(m), self.mean_range.1.max(m)),
            sd_range: (self.sd_range.0.min(s), self.sd_range.1.max(s)),
            last: (m, s),
            members: self.members + 1,
        }
    }

    /// The merged normal's (mean, SD).
    fn merged(&self) -> (f64, f64) {
        if self.members == 1 {
            return self.last;
        }
        let shift = self.first / self.weight;
        let spread = (self.second / self.weight - shift * shift).max(0.0);
        (
            self.origin + shift,
            (self.variance / self.weight + spread).sqrt(),
        )
    }

    /// Whether W·ε² ≤ [`MERGE_TOLERANCE`] (see there), by a sufficient test without divisions
    /// or roots (this runs for every candidate member, in a chain). With sₗ the smallest
    /// member SD, S ≥ sₗ (S² is the members' mean variance plus the variance of their means),
    /// so W·dev² ≤ tolerance·sₗ² suffices. Scaled by W: the mean deviation is
    /// W·|M − m| = |Σw(m′ − o) − W(m − o)| (o the first member's mean), and the SD deviation
    /// |S − s| = |S² − s²|/(S + s) ≤ |S² − s²|/(2sₗ) with W²S² = W·Σw(s′² + (m′ − o)²) −
    /// (Σw(m′ − o))².
    fn acceptable(&self) -> bool {
        let w = self.weight;
        let (lo, hi) = self.sd_range;
        let mean = (self.first - w * (self.mean_range.0 - self.origin))
            .max(w * (self.mean_range.1 - self.origin) - self.first);
        let scaled_variance = w * (self.variance + self.second) - self.first * self.first;
        let sd = (scaled_variance - w * w * lo * lo).max(w * w * hi * hi - scaled_variance);
        let floor = MERGE_TOLERANCE * lo * lo;
        mean * mean <= floor * w && sd * sd <= 4.0 * floor * lo * lo * w * w * w
    }

    /// The merged normal as a mixture component.
    fn component(&self) -> NormalComponent {
        let (mean, sd) = self.merged();
        NormalComponent {
            weight: self.weight,
            mean,
            sd,
            inv_sd: 1.0 / sd,
        }
    }
}

/// Whether adding (w, m, s) to a run of weight `weight` whose last member is `last` = (m′, s′)
/// certainly makes the run unacceptable, by a test without divisions: an acceptable run would
/// hold (m′, s′) and (m, s), so |m − m′| and |s − s′| would be at most 2εS, with S ≤ 2s when
/// ε ≤ ½ (and W < 4 × the tolerance when ε > ½).
fn hopeless(weight: f64, last: (f64, f64), w: f64, m: f64, s: f64) -> bool {
    let weight = weight + w;
    let apart = (m - last.0).abs().max((s - last.1).abs());
    weight > 4.0 * MERGE_TOLERANCE && weight * apart * apart > 16.0 * MERGE_TOLERANCE * s * s
}

/// The open end of a [`NormalMixture`] being built: nothing yet, a single component (the usual
/// case, kept without a [`Run`]'s bookkeeping), or a run of merged neighbours.
#[derive(Debug, Clone, Copy, Default)]
enum Open {
    #[default]
    Empty,
    Single(f64, f64, f64),
    Run(Run),
}

/// The CDF or the survival function, and the derivatives F′ … F⁽⁸⁾ of the CDF, of a mixture at
/// a point.
#[derive(Debug, Clone, Copy, Default)]
struct MixtureAt {
    /// P(X ≤ x) from [`NormalMixture::at`] with `lower`, P(X > x) without.
    tail: f64,
    /// `derivatives[k]` = F⁽ᵏ⁺¹⁾; `derivatives[0]` is the density.
    derivatives: [f64; TAYLOR_ORDER],
}

/// A finite mixture of normals prepared for the repeated evaluations of its quantiles and
/// probabilities. Components are pushed in order (of τ, so that neighbours are alike), and runs
/// of neighbours that differ negligibly are merged (see [`NormalMixture::push`]); the buffers
/// are reused from one mixture to the next.
#[derive(Debug, Default)]
pub(super) struct NormalMixture {
    components: Vec<NormalComponent>,
    open: Open,
    /// Mean, SD, skewness and excess kurtosis of the (merged) mixture.
    moments: (f64, f64, f64, f64),
    /// Σ w/s² and Σ w/s⁹: with [`MAX_PDF_SLOPE`] and [`MAX_PDF_EIGHTH`], bounds on F″ and F⁽⁹⁾.
    inverse_moments: (f64, f64),
}

impl NormalMixture {
    /// Starts a new mixture.
    pub(super) fn clear(&mut self) {
        self.components.clear();
        self.open = Open::Empty;
    }

    /// Adds the component N(m, s²) with weight w (the weights of a mixture must sum to 1).
    ///
    /// A component joins the run of its predecessors when the run stays acceptable: merged into
    /// one normal with the run's weight W, mean M and variance S², every member's mean and SD
    /// within ε·S of M and S, and W·ε² ≤ [`MERGE_TOLERANCE`]. Expanding each member's CDF
    /// Φ((x − m)/s) around (M, S) to first order, the mean terms cancel (M is the run's mean),
    /// the SD terms add up to at most 0.242·W·ε² (Σ w(s − S) = −Σ w((m − M)² + (s − S)²)/(2S)
    /// since S² is the run's variance), and the second-order remainders to at most 0.8·W·ε²
    /// (the second derivatives of Φ((x − m)/s) in m and s are at most 0.5/S² in size): the
    /// merged CDF is within 1.05·W·ε² of the run's everywhere. Runs form where τ is far below
    /// the patients' SDs (the components there equal their τ → 0 limit to many digits) and among
    /// the tiny weights of the tails.
    pub(super) fn push(&mut self, w: f64, m: f64, s: f64) {
        let grown = match self.open {
            Open::Empty => None,
            Open::Single(pw, pm, ps) => {
                (!hopeless(pw, (pm, ps), w, m, s)).then(|| Run::start(pw, pm, ps).with(w, m, s))
            }
            Open::Run(run) => (!hopeless(run.weight, run.last, w, m, s)).then(|| run.with(w, m, s)),
        };
        match grown {
            Some(run) if run.acceptable() => self.open = Open::Run(run),
            _ => {
                self.close();
                self.open = Open::Single(w, m, s);
            }
        }
    }

    /// Moves the open component or run into `components`.
    fn close(&mut self) {
        match std::mem::take(&mut self.open) {
            Open::Empty => {}
            Open::Single(weight, mean, sd) => self.components.push(NormalComponent {
                weight,
                mean,
                sd,
                inv_sd: 1.0 / sd,
            }),
            Open::Run(run) => self.components.push(run.component()),
        }
    }

    /// Closes the last run and computes the moments used by the quantile searches.
    pub(super) fn finish(&mut self) {
        self.close();
        let mean: f64 = self.components.iter().map(|c| c.weight * c.mean).sum();
        let (mut m2, mut m3, mut m4, mut inv2, mut inv9) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for c in &self.components {
            let d = c.mean - mean;
            let (d2, v) = (d * d, c.sd * c.sd);
            m2 += c.weight * (v + d2);
            m3 += c.weight * d * (d2 + 3.0 * v);
            m4 += c.weight * (d2 * d2 + 6.0 * d2 * v + 3.0 * v * v);
            let i2 = c.inv_sd * c.inv_sd;
            inv2 += c.weight * i2;
            let i4 = i2 * i2;
            inv9 += c.weight * i4 * i4 * c.inv_sd;
        }
        let sd = m2.sqrt();
        self.moments = (mean, sd, m3 / (m2 * sd), m4 / (m2 * m2) - 3.0);
        self.inverse_moments = (inv2, inv9);
    }

    /// P(X ≤ x) and P(X > x) at each of N points x, in one pass (the survival function without
    /// cancellation; the points' evaluations interleaved, which keeps the processor busier than
    /// one pass per point).
    fn tails<const N: usize>(&self, x: [f64; N]) -> [(f64, f64); N] {
        let table = NormalTable::get();
        let mut out = [(0.0, 0.0); N];
        for c in &self.components {
            for (x, (cdf, sf)) in x.iter().zip(out.iter_mut()) {
                let z = (x - c.mean) * c.inv_sd;
                let (tail, _) = table.tail(z.abs());
                let (below, above) = if z < 0.0 {
                    (tail, 1.0 - tail)
                } else {
                    (1.0 - tail, tail)
                };
                *cdf += c.weight * below;
                *sf += c.weight * above;
            }
        }
        out
    }

    /// The CDF (`lower`) or the survival function, and F′ … F⁽⁸⁾, at x in one pass:
    /// F⁽ᵏ⁺¹⁾ = Σ w·s⁻⁽ᵏ⁺¹⁾·(−1)ᵏ·Heₖ(z)·φ(z), z = (x − m)/s, with the Hermite polynomials Heₖ.
    fn at(&self, x: f64, lower: bool) -> MixtureAt {
        let table = NormalTable::get();
        let mut e = MixtureAt::default();
        for c in &self.components {
            let z = (x - c.mean) * c.inv_sd;
            let (tail, pdf) = table.tail(z.abs());
            // The side of the component beyond z: its own tail when z is on the wanted side.
            e.tail += c.weight * if (z < 0.0) == lower { tail } else { 1.0 - tail };
            // F⁽ᵏ⁺¹⁾ gains g·tᵏ·Heₖ(z), g = w·φ(z)/s, t = −1/s: the Hermite polynomials and the
            // powers written out, so that no chain of dependent steps runs through them.
            let g = c.weight * pdf * c.inv_sd;
            let t = -c.inv_sd;
            let (z2, t2) = (z * z, t * t);
            let z4 = z2 * z2;
            let z6 = z4 * z2;
            let hermite = [
                1.0,
                z,
                z2 - 1.0,
                z * (z2 - 3.0),
                (z4 + 3.0) - 6.0 * z2,
                z * ((z4 + 15.0) - 10.0 * z2),
                (z6 - 15.0 * z4) + (45.0 * z2 - 15.0),
                z * ((z6 - 21.0 * z4) + (105.0 * z2 - 105.0)),
            ];
            let (gt, gt2, gt4) = (g * t, g * t2, g * (t2 * t2));
            let scales = [g, gt, gt2, gt2 * t, gt4, gt4 * t, gt4 * t2, gt4 * t2 * t];
            for (derivative, (h, scale)) in e.derivatives.iter_mut().zip(hermite.iter().zip(scales))
            {
                *derivative += scale * h;
            }
        }
        e
    }

    /// The starting point of a 2.5% (`lower`) or 97.5% quantile search: the Cornish–Fisher
    /// expansion with the mixture's skewness and excess kurtosis when they are moderate, the
    /// normal approximation otherwise. [Cornish & Fisher, *Rev. Inst. Int. Stat.* 5:307, 1938]
    fn guess(&self, lower: bool) -> f64 {
        let (mean, sd, skew, kurt) = self.moments;
        let z = if lower { -Z_975 } else { Z_975 };
        let z2 = z * z;
        let w = if skew.abs() <= 1.0 && kurt.abs() <= 4.0 {
            z + (z2 - 1.0) * skew / 6.0 + z * (z2 - 3.0) * kurt / 24.0
                - z * (2.0 * z2 - 5.0) * skew * skew / 36.0
        } else {
            z
        };
        mean + sd * w
    }

    /// The x with P(X ≤ x) = alpha (`lower`) or P(X > x) = alpha (upper tail), starting from
    /// `guess`, where the mixture's evaluation is `first` (the survival function gives the
    /// upper quantiles without cancellation).
    ///
    /// Each step is the root d of the Taylor polynomial P₈ of degree 8 of the residual r (CDF −
    /// alpha, or alpha − survival) around the current point (or the Newton step −r/F′ when the
    /// polynomial strays from it), safeguarded by bisection of the bracket that the evaluations
    /// so far enclose (or, towards a side still open, by steps of at most an SD, doubling each
    /// time). The search stops when the error of x + d is certified below
    /// [`QUANTILE_TOLERANCE`] SDs: by Taylor's theorem |r(x + d)| ≤ min(|P₈(d)| +
    /// max|F⁽⁹⁾|·|d|⁹/9!, |r + F′·d| + max|F″|·d²/2), with max|F⁽⁹⁾| ≤ 41.89·Σ w/s⁹ and
    /// max|F″| ≤ 0.242·Σ w/s², and the root is within |r(x + d)|/min F′ of x + d, where
    /// min F′ ≥ F′(x) − max|F″|·(2|d| + tolerance) near x. From the Cornish–Fisher guess
    /// (within a few hundredths of an SD) one evaluation of the mixture usually suffices.
    fn quantile(&self, alpha: f64, lower: bool, guess: f64, first: MixtureAt) -> f64 {
        let (_, sd, _, _) = self.moments;
        let tolerance = QUANTILE_TOLERANCE * sd;
        let slope_bound = MAX_PDF_SLOPE * self.inverse_moments.0;
        let remainder_bound = MAX_PDF_EIGHTH * self.inverse_moments.1 / 362_880.0;
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut x = guess;
        let mut step = if sd.is_finite() && sd > 0.0 { sd } else { 1.0 };
        let mut e = first;
        for _ in 0..300 {
            let r = if lower {
                e.tail - alpha
            } else {
                alpha - e.tail
            };
            if r == 0.0 {
                return x;
            }
            if r > 0.0 {
                hi = x;
            } else {
                lo = x;
            }
            if hi - lo <= 4.0 * f64::EPSILON * lo.abs().max(hi.abs()) && (hi - lo).is_finite() {
                return 0.5 * (lo + hi);
            }
            let f = e.derivatives[0];
            let d = if f > 0.0 && f.is_finite() {
                taylor_step(r, &e.derivatives)
            } else {
                f64::NAN
            };
            let next = x + d;
            // Towards an open side of the bracket a step may not exceed `step` (which doubles):
            // where the density nearly vanishes, Newton would fly off.
            let open = if d < 0.0 { lo } else { hi }.is_infinite();
            if next > lo && next < hi && !(open && d.abs() > step) {
                let a = d.abs();
                let linear = (r + f * d).abs() + 0.5 * slope_bound * a * a;
                let taylor = taylor_value(r, &e.derivatives, d).abs() + remainder_bound * a.powi(9);
                let floor = f - slope_bound * (2.0 * a + tolerance);
                if floor > 0.0 && linear.min(taylor) <= tolerance * floor {
                    return next;
                }
                x = next;
            } else if lo.is_finite() && hi.is_finite() {
                x = 0.5 * (lo + hi);
            } else {
                x = if r > 0.0 { x - step } else { x + step };
                step *= 2.0;
            }
            e = self.at(x, lower);
        }
        x
    }

    /// The equal-tailed 95% interval.
    pub(super) fn interval95(&self) -> (f64, f64) {
        let guesses = [self.guess(true), self.guess(false)];
        let (lower, upper) = (self.at(guesses[0], true), self.at(guesses[1], false));
        (
            self.quantile(0.025, true, guesses[0], lower),
            self.quantile(0.025, false, guesses[1], upper),
        )
    }

    /// P(X > 0), and P(X > mcid) when higher is better or P(X < −mcid) when lower is better.
    pub(super) fn probabilities(&self, mcid: f64, better: Better) -> (f64, f64) {
        let clamp = |p: f64| p.clamp(0.0, 1.0);
        let edge = match better {
            Better::Higher => mcid,
            Better::Lower => -mcid,
        };
        let [(_, sf0), (cdf, sf)] = if edge == 0.0 {
            let [at0] = self.tails([0.0]);
            [at0, at0]
        } else {
            self.tails([0.0, edge])
        };
        let beyond = match better {
            Better::Higher => sf,
            Better::Lower => cdf,
        };
        (clamp(sf0), clamp(beyond))
    }
}

/// r + Σₖ F⁽ᵏ⁾·dᵏ/k!, the Taylor polynomial of a residual with derivatives F′ … F⁽⁸⁾.
fn taylor_value(r: f64, derivatives: &[f64; TAYLOR_ORDER], d: f64) -> f64 {
    let mut value = 0.0;
    for (k, derivative) in derivatives.iter().enumerate().rev() {
        value = (value + derivative) * d / (k + 1) as f64;
    }
    r + value
}

/// The root of the Taylor polynomial [`taylor_value`] near the Newton step −r/F′ (F′ > 0), by
/// Newton's method on the polynomial; the Newton step itself when the polynomial's root is not
/// within half of it (the polynomial is then not to be trusted that far).
fn taylor_step(r: f64, derivatives: &[f64; TAYLOR_ORDER]) -> f64 {
    let newton = -r / derivatives[0];
    let mut d = newton;
    for _ in 0..10 {
        let value = taylor_value(r, derivatives, d);
        // The polynomial's derivative: Σₖ F⁽ᵏ⁺¹⁾·dᵏ/k!.
        let mut slope = 0.0;
        for (k, derivative) in derivatives.iter().enumerate().rev() {
            slope = slope * d / (k + 1) as f64 + derivative;
        }
        if slope.is_nan() || slope <= 0.0 {
            return newton;
        }
        let next = d - value / slope;
        if next == d {
            break;
        }
        d = next;
    }
    if (d - newton).abs() <= 0.5 * newton.abs() {
        d
    } else {
        newton
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mixture from (weight, mean, SD) triples, merged as in [`pool_series`].
    fn mixture(components: &[(f64, f64, f64)]) -> NormalMixture {
        let mut mixture = NormalMixture::default();
        for &(w, m, s) in components {
            mixture.push(w, m, s);
        }
        mixture.finish();
        mixture
    }

    /// The alpha quantile (lower or upper tail) by bisection of the mixture's own CDF, to the
    /// last bit.
    fn bisected(mixture: &NormalMixture, alpha: f64, lower: bool) -> f64 {
        let (mut lo, mut hi) = (-100.0, 100.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            let [(cdf, sf)] = mixture.tails([mid]);
            let above = if lower { cdf > alpha } else { sf < alpha };
            if above {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        0.5 * (lo + hi)
    }

    #[test]
    fn mixture_quantiles_agree_with_bisection() {
        let cases: [&[(f64, f64, f64)]; 4] = [
            &[(1.0, 0.3, 0.7)],
            // Skewed: a heavy component off to one side.
            &[(0.8, 0.0, 1.0), (0.2, 2.5, 0.4)],
            // Bimodal, with a narrow mode: the guess is poor and the search falls back.
            &[(0.6, -3.0, 0.2), (0.4, 3.0, 2.0)],
            // Heavy-tailed: a scale mixture.
            &[(0.5, 1.0, 0.1), (0.3, 1.0, 1.0), (0.2, 1.0, 10.0)],
        ];
        for components in cases {
            let m = mixture(components);
            let sd = m.moments.1;
            let (lo, hi) = m.interval95();
            for (got, lower) in [(lo, true), (hi, false)] {
                let want = bisected(&m, 0.025, lower);
                assert!(
                    (got - want).abs() <= 2.0 * QUANTILE_TOLERANCE * sd + 1e-15 * want.abs(),
                    "{components:?}: {got} vs {want}"
                );
            }
        }
        // One component: the normal quantiles.
        let (lo, hi) = mixture(&[(1.0, 0.3, 0.7)]).interval95();
        assert!((lo - (0.3 - Z_975 * 0.7)).abs() < 1e-14);
        assert!((hi - (0.3 + Z_975 * 0.7)).abs() < 1e-14);
    }

    #[test]
    fn merged_neighbours_keep_the_mixture_cdf() {
        // 200 components drifting by 10⁻⁹ per step (as near τ = 0), then 20 distinct ones.
        let mut components: Vec<(f64, f64, f64)> = (0..200)
            .map(|i| {
                let drift = 1e-9 * f64::from(i);
                (0.002, 1.0 + drift, 0.5 + drift)
            })
            .collect();
        components.extend((0..20).map(|i| (0.03, 1.0 + 0.1 * f64::from(i), 0.6)));
        let merged = mixture(&components);
        assert!(merged.components.len() < 40, "{}", merged.components.len());
        let table = NormalTable::get();
        for x in [-1.0, 0.0, 0.7, 1.0, 1.3, 2.0, 3.5] {
            let exact: f64 = components
                .iter()
                .map(|&(w, m, s)| {
                    let z = (x - m) / s;
                    let (tail, _) = table.tail(z.abs());
                    w * if z < 0.0 { tail } else { 1.0 - tail }
                })
                .sum();
            let [(cdf, _)] = merged.tails([x]);
            assert!((cdf - exact).abs() < 1e-14, "{x}: {cdf} vs {exact}");
        }
    }
}
