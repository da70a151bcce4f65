//! Allocation rules: permuted blocks of fixed ratios, and response-adaptive probabilities
//! (P(best)^power with a control share, clamped to [min, max] by iterative redistribution).
//!
//! Pure functions of numbers; [`super::Engine`] feeds them from the state.

use crate::protocol::ControlShare;

/// Bisection steps for the clamping multiplier λ: the bracket shrinks below f64 resolution.
const BISECTIONS: usize = 80;

/// Probabilities of the next assignment within the current permuted block: each open arm's
/// remaining slots over all remaining slots (sampling without replacement from the block).
pub fn block_probabilities(ratios: &[u32], used: &[u32], multiple: u32, out: &mut [f64]) {
    let remaining = |i: usize| (ratios[i] * multiple).saturating_sub(used[i]) as f64;
    let total: f64 = (0..ratios.len()).map(remaining).sum();
    for (i, o) in out.iter_mut().enumerate() {
        *o = if total > 0.0 {
            remaining(i) / total
        } else {
            ratios[i] as f64 / ratios.iter().map(|&r| r as f64).sum::<f64>()
        };
    }
}

/// Clamps `p` (summing to `total`) into [min, max] by iterative redistribution: arms outside the
/// bounds are fixed at the bound and the rest of the mass is shared among the others in
/// proportion to their unclamped weights, until no arm is outside. The result is the unique
/// p_i = clamp(λ·raw_i, min, max) summing to `total`; λ is found by bisection and the free arms
/// are then renormalised exactly. When the bounds cannot hold (n·min > total or n·max < total)
/// every arm gets total/n.
pub fn clamp_probabilities(p: &mut [f64], min: f64, max: f64, total: f64) {
    let n = p.len();
    if n == 0 {
        return;
    }
    let nf = n as f64;
    if nf * min > total + 1e-12 || nf * max < total - 1e-12 {
        p.iter_mut().for_each(|x| *x = total / nf);
        return;
    }
    if p.iter().all(|&x| x >= min && x <= max) {
        return; // nothing to clamp
    }
    let mut raw = [0.0_f64; crate::stats::MAX_ARMS];
    raw[..n].copy_from_slice(p);
    if raw[..n].iter().all(|&r| r <= 0.0) {
        raw[..n].iter_mut().for_each(|r| *r = 1.0);
    }
    let mass =
        |lambda: f64| -> f64 { raw[..n].iter().map(|&r| (lambda * r).clamp(min, max)).sum() };
    let smallest = raw[..n]
        .iter()
        .copied()
        .filter(|&r| r > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (mut lo, mut hi) = (0.0, (max / smallest).max(1.0) * 2.0);
    if mass(hi) < total {
        // Arms with no weight would have to exceed their minimum: share equally instead.
        p.iter_mut().for_each(|x| *x = total / nf);
        return;
    }
    for _ in 0..BISECTIONS {
        let mid = 0.5 * (lo + hi);
        if mass(mid) < total {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let lambda = 0.5 * (lo + hi);
    let (mut fixed_mass, mut free_weight) = (0.0, 0.0);
    for i in 0..n {
        let v = lambda * raw[i];
        if v <= min || v >= max {
            p[i] = v.clamp(min, max);
            fixed_mass += p[i];
        } else {
            free_weight += raw[i];
        }
    }
    for i in 0..n {
        let v = lambda * raw[i];
        if v > min && v < max && free_weight > 0.0 {
            p[i] = raw[i] / free_weight * (total - fixed_mass);
        }
    }
}

/// Adaptive allocation probabilities.
///
/// `p_best` holds P(best) of the arms that compete (all open arms, or the experimental arms when
/// the control's share is set separately); `out` receives their probabilities, and the return
/// value is the control's share (0 when the control competes or there is none). `best_share`
/// is used only by [`ControlShare::MatchBest`].
pub fn adaptive_probabilities(
    p_best: &[f64],
    power: f64,
    control: Option<ControlShare>,
    min: f64,
    max: f64,
    out: &mut [f64],
) -> f64 {
    let k = p_best.len();
    for (o, &p) in out.iter_mut().zip(p_best) {
        *o = p.max(0.0).powf(power);
    }
    let sum: f64 = out.iter().sum();
    for o in out.iter_mut() {
        *o = if sum > 0.0 { *o / sum } else { 1.0 / k as f64 };
    }
    let control_share = match control {
        None | Some(ControlShare::None) => 0.0,
        Some(ControlShare::Fixed(share)) => share,
        Some(ControlShare::SqrtK) => 1.0 / (1.0 + (k as f64).sqrt()),
        Some(ControlShare::MatchBest) => {
            let best = out.iter().copied().fold(0.0, f64::max);
            best / (1.0 + best)
        }
    };
    let rest = 1.0 - control_share;
    out.iter_mut().for_each(|o| *o *= rest);
    clamp_probabilities(out, min, max, rest);
    control_share
}

/// The arm chosen by the uniform draw `u`: the first arm whose cumulative probability exceeds u
/// (the last arm with positive probability if rounding leaves u above the total).
pub fn choose(probabilities: impl IntoIterator<Item = f64>, u: f64) -> usize {
    let mut cumulative = 0.0;
    let mut last_positive = 0;
    for (i, p) in probabilities.into_iter().enumerate() {
        if p > 0.0 {
            last_positive = i;
            cumulative += p;
            if u < cumulative {
                return i;
            }
        }
    }
    last_positive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamping_redistributes_until_bounds_hold() {
        let mut p = [0.9, 0.05, 0.03, 0.02];
        clamp_probabilities(&mut p, 0.1, 0.6, 1.0);
        let sum: f64 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
        assert!(
            p.iter().all(|&x| (0.1 - 1e-12..=0.6 + 1e-12).contains(&x)),
            "{p:?}"
        );
        assert!((p[0] - 0.6).abs() < 1e-12);
    }

    #[test]
    fn sqrt_k_gives_the_control_one_over_one_plus_root_k() {
        let mut out = [0.0; 4];
        let share = adaptive_probabilities(
            &[0.25, 0.25, 0.25, 0.25],
            1.0,
            Some(ControlShare::SqrtK),
            0.0,
            1.0,
            &mut out,
        );
        assert!((share - 1.0 / 3.0).abs() < 1e-12);
        assert!(out.iter().all(|&x| (x - 1.0 / 6.0).abs() < 1e-12));
    }

    #[test]
    fn blocks_sample_without_replacement() {
        let mut out = [0.0; 2];
        block_probabilities(&[1, 2], &[1, 0], 1, &mut out);
        assert_eq!(out, [0.0, 1.0]);
        block_probabilities(&[1, 2], &[0, 1], 2, &mut out);
        assert!((out[0] - 2.0 / 5.0).abs() < 1e-15);
    }

    #[test]
    fn choose_follows_the_cumulative_sum() {
        let p = [0.2, 0.0, 0.5, 0.3];
        assert_eq!(choose(p, 0.0), 0);
        assert_eq!(choose(p, 0.2), 2);
        assert_eq!(choose(p, 0.69), 2);
        assert_eq!(choose(p, 0.7), 3);
        assert_eq!(choose(p, 0.999_999_999_999), 3);
    }
}
