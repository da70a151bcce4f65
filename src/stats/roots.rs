//! Root finding for the numerics, one implementation of each method: Newton's method safeguarded
//! by bisection on a bracket ([`solve_monotone`]), the quantile of a continuous distribution
//! from a guess ([`quantile`]: a bracket stepped out, then [`solve_monotone`]), and plain
//! bisection on a predicate ([`bisect`], where no derivative is at hand).
//!
//! Only the search: callers pass the function (and its derivative) and say what "converged"
//! means where it is theirs to say. Nothing here knows a distribution family, a model or a
//! trial. Minimisation is not here either: the empirical-Bayes fit of the n-of-1 series model
//! uses argmin's Brent minimiser, the threshold calibration argmin's Brent root finder.

/// A one-dimensional distribution whose quantiles are found numerically.
pub(crate) trait Continuous {
    /// P(X ≤ x).
    fn cdf(&self, x: f64) -> f64;
    /// The density at x.
    fn density(&self, x: f64) -> f64;
}

/// The p-quantile of `dist`, starting from `guess`: a bracket is stepped out from it (the step
/// doubling each time), then Newton steps from its end nearest the guess, safeguarded by
/// bisection, converge on the quantile.
pub(crate) fn quantile(dist: &impl Continuous, p: f64, guess: f64, step: f64) -> f64 {
    let mut step = if step.is_finite() && step > 0.0 {
        step
    } else {
        1.0
    };
    let (mut lo, mut hi) = (guess, guess);
    if dist.cdf(guess) > p {
        for _ in 0..2000 {
            hi = lo;
            lo = hi - step;
            if dist.cdf(lo) <= p {
                break;
            }
            step *= 2.0;
        }
    } else {
        for _ in 0..2000 {
            lo = hi;
            hi = lo + step;
            if dist.cdf(hi) >= p {
                break;
            }
            step *= 2.0;
        }
    }
    // Newton from the end of the bracket nearest the guess.
    let start = guess.clamp(lo, hi);
    solve_monotone(|x| dist.cdf(x) - p, |x| dist.density(x), lo, hi, start)
}

/// The root of the increasing function `f` (derivative `df`) in [lo, hi], f(lo) ≤ 0 ≤ f(hi):
/// Newton's method from `start` (the midpoint when `start` is outside the bracket), falling
/// back to bisection whenever a step leaves the bracket.
pub(crate) fn solve_monotone(
    f: impl Fn(f64) -> f64,
    df: impl Fn(f64) -> f64,
    lo: f64,
    hi: f64,
    start: f64,
) -> f64 {
    let (mut lo, mut hi) = (lo, hi);
    let mut x = if start >= lo && start <= hi {
        start
    } else {
        0.5 * (lo + hi)
    };
    for _ in 0..300 {
        let fx = f(x);
        if fx == 0.0 {
            return x;
        }
        if fx > 0.0 {
            hi = x;
        } else {
            lo = x;
        }
        if hi - lo <= 4.0 * f64::EPSILON * lo.abs().max(hi.abs()) {
            return 0.5 * (lo + hi);
        }
        let slope = df(x);
        let newton = x - fx / slope;
        let small = 1e-15 * (x.abs() + (hi - lo)) + f64::MIN_POSITIVE;
        if slope > 0.0 && (newton - x).abs() <= small {
            // Converged, even where rounding puts the last step on an end of the bracket.
            return newton.clamp(lo, hi);
        }
        let next = if slope > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= small {
            return next;
        }
        x = next;
    }
    x
}

/// Bisection of [lo, hi] on a predicate `left` that holds left of the root and fails right of it:
/// each step evaluates `left` at the midpoint m = (lo + hi)/2 and moves lo (when it holds) or hi
/// (when it fails) to m; it stops after `steps` halvings, or as soon as hi − lo ≤ `width(m)`
/// (`|_| 0.0` for a fixed number of steps). Returns the final bracket, so the caller chooses
/// the point it needs (its midpoint, or the end on a known side).
pub(crate) fn bisect(
    lo: f64,
    hi: f64,
    steps: usize,
    width: impl Fn(f64) -> f64,
    mut left: impl FnMut(f64) -> bool,
) -> (f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    for _ in 0..steps {
        let mid = 0.5 * (lo + hi);
        if left(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= width(mid) {
            break;
        }
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The logistic distribution, whose CDF and quantile are closed forms.
    struct Logistic;

    impl Continuous for Logistic {
        fn cdf(&self, x: f64) -> f64 {
            1.0 / (1.0 + (-x).exp())
        }

        fn density(&self, x: f64) -> f64 {
            let p = self.cdf(x);
            p * (1.0 - p)
        }
    }

    #[test]
    fn newton_finds_a_square_root_to_the_last_bits() {
        let root = solve_monotone(|x| x * x - 2.0, |x| 2.0 * x, 0.0, 2.0, 1.0);
        assert!((root - std::f64::consts::SQRT_2).abs() <= 4.0 * f64::EPSILON);
        // A start outside the bracket begins at its midpoint.
        let root = solve_monotone(|x| x * x - 2.0, |x| 2.0 * x, 0.0, 2.0, 7.0);
        assert!((root - std::f64::consts::SQRT_2).abs() <= 4.0 * f64::EPSILON);
        // A zero derivative falls back to bisection.
        let root = solve_monotone(|x| x - 1.0, |_| 0.0, 0.0, 3.0, 2.0);
        assert!((root - 1.0).abs() <= 4.0 * f64::EPSILON, "{root}");
    }

    #[test]
    fn quantiles_step_out_from_a_poor_guess() {
        for p in [1e-9_f64, 0.025, 0.5, 0.975, 0.999] {
            let want = (p / (1.0 - p)).ln();
            for guess in [-50.0, 0.0, 3.0, 80.0] {
                let got = quantile(&Logistic, p, guess, 0.5);
                assert!(
                    (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                    "p {p}, guess {guess}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn bisection_keeps_the_root_bracketed() {
        let (lo, hi) = bisect(0.0, 2.0, 200, |m| 1e-15 * (1.0 + m), |x| x * x < 2.0);
        assert!(lo * lo < 2.0 && hi * hi >= 2.0);
        assert!(hi - lo <= 1e-15 * 3.0);
        // A fixed number of steps: three halvings of [0, 8] leave a bracket 1 wide.
        let mut calls = 0;
        let (lo, hi) = bisect(
            0.0,
            8.0,
            3,
            |_| 0.0,
            |x| {
                calls += 1;
                x < 5.5
            },
        );
        assert_eq!((lo, hi, calls), (5.0, 6.0, 3));
    }
}
