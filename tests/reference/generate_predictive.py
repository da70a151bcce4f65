#!/usr/bin/env python3
"""Reference values for the predictive probabilities (src/stats/predictive.rs), written from the
formulas in METHODS.md ("Predictive probabilities") alone, by a different route than the Rust
code:

* single arm: every future count i = 0 .. N - n enumerated, P(Y = i) from
  scipy.stats.betabinom, P(p > p0 | final data) from scipy.special.betaincc, no bisection;
* two arms: every pair (i, j) enumerated, P(theta_T - theta_C > delta) by adaptive quadrature
  (scipy.integrate.quad of the control density times the treatment's upper tail), no boundary
  walk; the smallest distance of that probability from the threshold is stored, so that the
  test can see that no indicator sits within the Rust quadrature's accuracy of its threshold;
* future confirmatory trial: the double integral of the two Beta densities times the power,
  by nested scipy.integrate.quad on the probability scale (not the logit scale);
* normal effect: E[Phi(eta / SE - z)] over N(m, s^2) by scipy.integrate.quad, not the
  closed form.

Writes tests/reference/predictive_cases.json. Run: python3 tests/reference/generate_predictive.py
"""

import json
import math
import os

from scipy import integrate, special, stats


def single_arm(a, b, x, n, n_max, p0, threshold, with_table=False):
    m = n_max - n
    alpha, beta = a + x, b + n - x
    rows = []
    pp = 0.0
    gap = math.inf
    for i in range(m + 1):
        prob = float(stats.betabinom.pmf(i, m, alpha, beta))
        post = float(special.betaincc(alpha + i, beta + m - i, p0))
        gap = min(gap, abs(post - threshold))
        success = post > threshold
        if success:
            pp += prob
        rows.append({"responses": i, "probability": prob, "posterior": post, "success": success})
    case = {
        "prior": [a, b],
        "successes": x,
        "patients": n,
        "max_patients": n_max,
        "p0": p0,
        "threshold": threshold,
        "predictive_probability": pp,
        "smallest_gap": gap,
    }
    if with_table:
        case["rows"] = rows
    return case


def p_greater(at, bt, ac, bc, delta):
    """P(theta_T - theta_C > delta) = int f_C(c) P(theta_T > c + delta) dc."""

    def integrand(c):
        return stats.beta.pdf(c, ac, bc) * special.betaincc(at, bt, min(max(c + delta, 0.0), 1.0))

    mean = ac / (ac + bc)
    sd = math.sqrt(ac * bc / ((ac + bc) ** 2 * (ac + bc + 1)))
    # the kinks of the clipped tail (c = -delta, c = 1 - delta) and the control's bulk
    points = [p for p in (-delta, 1.0 - delta, mean - 3 * sd, mean, mean + 3 * sd) if 0.0 < p < 1.0]
    value, _ = integrate.quad(integrand, 0.0, 1.0, points=points, limit=400, epsabs=1e-13, epsrel=1e-12)
    return value


def two_arm(prior_t, prior_c, t, c, max_t, max_c, delta, threshold):
    (at, bt), (ac, bc) = prior_t, prior_c
    mt, mc = max_t - t[1], max_c - c[1]
    alpha_t, beta_t = at + t[0], bt + t[1] - t[0]
    alpha_c, beta_c = ac + c[0], bc + c[1] - c[0]
    pmf_t = [float(stats.betabinom.pmf(i, mt, alpha_t, beta_t)) for i in range(mt + 1)]
    pmf_c = [float(stats.betabinom.pmf(j, mc, alpha_c, beta_c)) for j in range(mc + 1)]
    pp, gap = 0.0, math.inf
    for i in range(mt + 1):
        for j in range(mc + 1):
            g = p_greater(alpha_t + i, beta_t + mt - i, alpha_c + j, beta_c + mc - j, delta)
            gap = min(gap, abs(g - threshold))
            if g > threshold:
                pp += pmf_t[i] * pmf_c[j]
    return {
        "treatment_prior": list(prior_t),
        "control_prior": list(prior_c),
        "treatment": list(t),
        "control": list(c),
        "max_treatment": max_t,
        "max_control": max_c,
        "delta": delta,
        "threshold": threshold,
        "predictive_probability": pp,
        "smallest_gap": gap,
    }


def power(pt, pc, n, z):
    v = pt * (1 - pt) + pc * (1 - pc)
    if v <= 0:
        return 1.0 if pt > pc else 0.0
    return float(special.ndtr((pt - pc) / math.sqrt(v / n) - z))


def future_trial(treatment, control, n, alpha):
    z = float(special.ndtri(1 - alpha))
    (at, bt), (ac, bc) = treatment, control

    def inner(pt):
        f = lambda pc: stats.beta.pdf(pc, ac, bc) * power(pt, pc, n, z)
        # the power's transition sits near pc = pt - z * SE
        mean = ac / (ac + bc)
        points = [p for p in (pt - z * math.sqrt(0.5 / n), mean, pt) if 0 < p < 1]
        value, _ = integrate.quad(f, 0.0, 1.0, points=points, limit=500, epsabs=1e-12, epsrel=1e-11)
        return value

    mean_t = at / (at + bt)
    value, _ = integrate.quad(
        lambda pt: stats.beta.pdf(pt, at, bt) * inner(pt),
        0.0,
        1.0,
        points=[mean_t],
        limit=500,
        epsabs=1e-11,
        epsrel=1e-10,
    )
    return {
        "treatment": list(treatment),
        "control": list(control),
        "per_arm": n,
        "alpha": alpha,
        "critical_value": z,
        "predictive_probability": value,
    }


def normal_effect(mean, sd, scale, control_rate, n, alpha):
    z = float(special.ndtri(1 - alpha))
    pc = control_rate
    if scale == "probability":
        pt = pc + mean
        se = math.sqrt((pt * (1 - pt) + pc * (1 - pc)) / n)
    else:
        pt = 1 / (1 + math.exp(-(math.log(pc / (1 - pc)) + mean)))
        se = math.sqrt((1 / (pt * (1 - pt)) + 1 / (pc * (1 - pc))) / n)
    if sd == 0:
        value = float(special.ndtr(mean / se - z))
    else:
        f = lambda eta: stats.norm.pdf(eta, mean, sd) * special.ndtr(eta / se - z)
        value, _ = integrate.quad(f, mean - 12 * sd, mean + 12 * sd, points=[mean, z * se], limit=400,
                                  epsabs=1e-13, epsrel=1e-12)
    return {
        "mean": mean,
        "sd": sd,
        "scale": scale,
        "control_rate": control_rate,
        "per_arm": n,
        "alpha": alpha,
        "predictive_probability": value,
    }


def main():
    single = [
        single_arm(0.6, 0.4, 16, 23, 40, 0.6, 0.9, with_table=True),  # Lee & Liu (2008)
        single_arm(1, 1, 16, 23, 40, 0.5, 0.9),
        single_arm(0.5, 0.5, 3, 10, 50, 0.2, 0.95, with_table=True),
        single_arm(2, 8, 12, 30, 100, 0.3, 0.85),
        single_arm(1, 1, 0, 5, 60, 0.1, 0.9),
        single_arm(1, 1, 40, 100, 400, 0.35, 0.975),
        single_arm(0.2, 0.8, 30, 60, 1000, 0.45, 0.9),
        single_arm(1, 1, 2, 30, 40, 0.4, 0.9),  # cannot succeed: PP = 0
        single_arm(1, 1, 30, 35, 40, 0.4, 0.9),  # already certain: PP = 1
        single_arm(3.5, 1.5, 7, 7, 25, 0.5, 0.8),
    ]
    two = [
        two_arm((1, 1), (1, 1), (9, 15), (5, 14), 30, 25, 0.05, 0.8),
        two_arm((0.5, 0.5), (1, 1), (12, 20), (8, 20), 40, 40, 0.0, 0.95),
        two_arm((1, 1), (2, 3), (4, 10), (6, 10), 50, 30, -0.05, 0.85),
        two_arm((1, 1), (1, 1), (20, 40), (10, 40), 60, 60, 0.1, 0.9),
    ]
    future = [
        future_trial((13, 9), (6, 16), 150, 0.025),
        future_trial((20, 30), (12, 38), 150, 0.025),
        future_trial((3.5, 6.5), (2, 8), 300, 0.05),
        future_trial((4.5, 6.5), (3.5, 7.5), 50, 0.025),
        future_trial((45, 55), (35, 65), 1000, 0.025),
        future_trial((5, 95), (10, 90), 150, 0.025),
        future_trial((31, 21), (9, 25), 150, 0.025),
    ]
    normal = [
        normal_effect(0.15, 0.08, "probability", 0.3, 150, 0.025),
        normal_effect(0.8, 0.4, "logit", 0.2, 150, 0.025),
        normal_effect(-0.2, 0.5, "logit", 0.35, 300, 0.05),
        normal_effect(0.1, 0.0, "probability", 0.25, 100, 0.025),
    ]
    for case in single:
        print("single", case["predictive_probability"], "gap", case["smallest_gap"])
    for case in two:
        print("two-arm", case["predictive_probability"], "gap", case["smallest_gap"])
    for case in future:
        print("future", case["predictive_probability"])
    for case in normal:
        print("normal", case["predictive_probability"])
    out = {
        "generator": "tests/reference/generate_predictive.py",
        "single_arm": single,
        "two_arm": two,
        "future_trial": future,
        "normal_effect": normal,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "predictive_cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
