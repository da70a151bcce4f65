#!/usr/bin/env python3
"""Independent reference values for decision probabilities on mixture posteriors.

Each case is a list of arm posteriors, every arm a mixture of 1-4 components of one family
(Beta(a, b); Gamma(shape, rate); location-scale Student t(df, loc, scale)), or a mixture
prior with data whose posterior this script derives itself (components updated, weights
multiplied by each component's marginal likelihood: Beta-binomial, Gamma-Poisson,
Normal-Inverse-Gamma). With mpmath (mp.dps = 25) it computes

  * p_best: P(arm i is the largest) for every arm;
  * p_greater: P(theta_1 - theta_0 > delta) (delta may be 0 or negative);
  * p_within: P(|theta_1 - theta_0| < |delta|) when delta != 0;
  * quantiles of arm 0 at 0.025, 0.5 and 0.975;

and writes them to tests/reference/mixture_cases.json next to this file.

A mixture's CDF is the weighted sum of its components' CDFs (regularized incomplete beta,
regularized incomplete gamma, Student t through the incomplete beta). Integrals are
composite Gauss-Legendre rules (20 nodes) over subintervals cut at every component's
quantiles (1e-22 ... 1 - 1e-22) and their delta-shifted copies; quantiles by bisection on the
mixture CDF. Self-check printed: the p_best sum to 1.

Usage:  python3 tests/reference/generate_mixture.py
"""

import json
import os

import mpmath
from mpmath import mp, mpf

mp.dps = 25
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "mixture_cases.json")
TAILS = [mpf("1e-22"), mpf("1e-12"), mpf("1e-6"), mpf("1e-3"), mpf("0.02"), mpf("0.1"),
         mpf("0.3"), mpf("0.5")]
NODES, WEIGHTS = None, None


def gauss_legendre(order):
    nodes, weights = [], []
    for i in range(1, order + 1):
        x = mpmath.cos(mpmath.pi * (i - mpf(1) / 4) / (order + mpf(1) / 2))
        for _ in range(100):
            p0, p1 = mpf(1), x
            for k in range(2, order + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = order * (x * p1 - p0) / (x * x - 1)
            step = p1 / dp
            x -= step
            if abs(step) < mpf(10) ** (-mp.dps):
                break
        nodes.append(x)
        weights.append(2 / ((1 - x * x) * dp * dp))
    return nodes, weights


NODES, WEIGHTS = gauss_legendre(20)


class Component:
    def __init__(self, family, params):
        self.family = family
        self.p = [mpf(v) for v in params]

    def pdf(self, x):
        f, p = self.family, self.p
        if f == "beta":
            if x <= 0 or x >= 1:
                return mpf(0)
            return mpmath.exp((p[0] - 1) * mpmath.log(x) + (p[1] - 1) * mpmath.log1p(-x)
                              - mpmath.log(mpmath.beta(p[0], p[1])))
        if f == "gamma":
            if x <= 0:
                return mpf(0)
            return mpmath.exp(p[0] * mpmath.log(p[1]) - mpmath.loggamma(p[0])
                              + (p[0] - 1) * mpmath.log(x) - p[1] * x)
        df, loc, scale = p
        z = (x - loc) / scale
        return mpmath.exp(mpmath.loggamma((df + 1) / 2) - mpmath.loggamma(df / 2)
                          - mpmath.log(df * mpmath.pi) / 2 - mpmath.log(scale)
                          - (df + 1) / 2 * mpmath.log1p(z * z / df))

    def cdf(self, x):
        f, p = self.family, self.p
        if f == "beta":
            if x <= 0:
                return mpf(0)
            if x >= 1:
                return mpf(1)
            return mpmath.betainc(p[0], p[1], 0, x, regularized=True)
        if f == "gamma":
            if x <= 0:
                return mpf(0)
            return mpmath.gammainc(p[0], 0, p[1] * x, regularized=True)
        df, loc, scale = p
        t = (x - loc) / scale
        tail = mpmath.betainc(df / 2, mpf(1) / 2, 0, df / (df + t * t), regularized=True) / 2
        return 1 - tail if t > 0 else tail

    def support(self):
        if self.family == "beta":
            return (mpf(0), mpf(1))
        if self.family == "gamma":
            return (mpf(0), mpmath.inf)
        return (-mpmath.inf, mpmath.inf)

    def quantile(self, q):
        lo, hi = self.support()
        if lo == -mpmath.inf:
            lo = self.p[1] - 1
            while self.cdf(lo) > q:
                lo = self.p[1] - 2 * (self.p[1] - lo) - 1
        if hi == mpmath.inf:
            hi = (self.p[1] + 1) if self.family != "gamma" else self.p[0] / self.p[1] + 1
            while self.cdf(hi) < q:
                hi = 2 * hi + 1 if self.family == "gamma" else self.p[1] + 2 * (hi - self.p[1]) + 1
        for _ in range(200):
            mid = (lo + hi) / 2
            if self.cdf(mid) < q:
                lo = mid
            else:
                hi = mid
            if hi - lo < mpf(10) ** (-22) * (1 + abs(mid)):
                break
        return (lo + hi) / 2


class Mixture:
    def __init__(self, family, parts):
        self.family = family
        total = sum(mpf(w) for w, _ in parts)
        self.parts = [(mpf(w) / total, Component(family, params)) for w, params in parts]

    def pdf(self, x):
        return sum(w * c.pdf(x) for w, c in self.parts)

    def cdf(self, x):
        return sum(w * c.cdf(x) for w, c in self.parts)

    def breakpoints(self):
        points = []
        for _, c in self.parts:
            for t in TAILS:
                points.append(c.quantile(t))
                if t != mpf("0.5"):
                    points.append(c.quantile(1 - t))
        return points

    def quantile(self, q):
        lo = min(c.quantile(mpf("1e-22")) for _, c in self.parts)
        hi = max(c.quantile(1 - mpf("1e-22")) for _, c in self.parts)
        for _ in range(300):
            mid = (lo + hi) / 2
            if self.cdf(mid) < q:
                lo = mid
            else:
                hi = mid
            if hi - lo < mpf(10) ** (-20) * (1 + abs(mid)):
                break
        return (lo + hi) / 2

    def json(self):
        return [{"weight": float(w), "params": [float(v) for v in c.p]} for w, c in self.parts]


def integrate(f, points):
    points = sorted(set(points))
    total = mpf(0)
    for a, b in zip(points, points[1:]):
        if b <= a:
            continue
        half, mid = (b - a) / 2, (a + b) / 2
        total += half * sum(w * f(mid + half * x) for x, w in zip(NODES, WEIGHTS))
    return total


def clip(points, arms):
    lo = min(c.quantile(mpf("1e-22")) for arm in arms for _, c in arm.parts)
    hi = max(c.quantile(1 - mpf("1e-22")) for arm in arms for _, c in arm.parts)
    return [p for p in points if lo <= p <= hi] + [lo, hi]


def p_best(arms):
    points = clip([p for arm in arms for p in arm.breakpoints()], arms)
    out = []
    for i, arm in enumerate(arms):
        others = [a for j, a in enumerate(arms) if j != i]

        def integrand(x, arm=arm, others=others):
            value = arm.pdf(x)
            if value == 0:
                return value
            for other in others:
                value *= other.cdf(x)
            return value

        out.append(integrate(integrand, points))
    return out


def p_greater(a, b, delta):
    points = clip(a.breakpoints() + [p + delta for p in b.breakpoints()], [a, b])
    return integrate(lambda x: a.pdf(x) * b.cdf(x - delta), points)


def p_within(a, b, delta):
    points = clip(a.breakpoints() + [p + delta for p in b.breakpoints()]
                  + [p - delta for p in b.breakpoints()], [a, b])
    return integrate(lambda x: a.pdf(x) * (b.cdf(x + delta) - b.cdf(x - delta)), points)


def posterior(family, prior, data):
    """The posterior mixture of a mixture prior given sufficient statistics."""
    parts = []
    for w, params in prior:
        w = mpf(w)
        if family == "beta":
            a, b = map(mpf, params)
            s, n = data
            ln_m = mpmath.log(mpmath.beta(a + s, b + n - s)) - mpmath.log(mpmath.beta(a, b))
            parts.append((w * mpmath.exp(ln_m), [a + s, b + n - s]))
        elif family == "gamma":
            shape, rate = map(mpf, params)
            events, exposure = data
            exposure = mpf(exposure)
            ln_m = (shape * mpmath.log(rate) - mpmath.loggamma(shape)
                    + mpmath.loggamma(shape + events) - (shape + events) * mpmath.log(rate + exposure))
            parts.append((w * mpmath.exp(ln_m), [shape + events, rate + exposure]))
        else:
            mu0, kappa0, alpha0, beta0 = map(mpf, params)
            values = [mpf(v) for v in data]
            n = len(values)
            mean = sum(values) / n
            ss = sum((v - mean) ** 2 for v in values)
            kappa = kappa0 + n
            mu = (kappa0 * mu0 + n * mean) / kappa
            alpha = alpha0 + mpf(n) / 2
            beta = beta0 + ss / 2 + kappa0 * n * (mean - mu0) ** 2 / (2 * kappa)
            ln_m = (mpmath.loggamma(alpha) - mpmath.loggamma(alpha0) + alpha0 * mpmath.log(beta0)
                    - alpha * mpmath.log(beta) + mpmath.log(kappa0 / kappa) / 2)
            parts.append((w * mpmath.exp(ln_m), [2 * alpha, mu, mpmath.sqrt(beta / (alpha * kappa))]))
    return Mixture("student_t" if family == "nig" else family, parts)


CASES = [
    # Posterior mixtures given directly.
    ("beta_two_arms_robust", "beta", 0.05, [
        [(0.8, [12.3, 55.9]), (0.2, [1, 1])],
        [(1, [8, 20])]]),
    ("beta_three_arms_separated", "beta", -0.1, [
        [(0.5, [5, 45]), (0.5, [45, 5])],
        [(1, [20, 20])],
        [(0.3, [2, 8]), (0.7, [30, 30])]]),
    ("beta_four_arms_one_to_four_components", "beta", 0.02, [
        [(1, [3, 7])],
        [(0.6, [30, 70]), (0.4, [3, 4])],
        [(0.25, [10, 90]), (0.25, [20, 80]), (0.25, [30, 70]), (0.25, [40, 60])],
        [(0.7, [0.5, 1.5]), (0.3, [60, 140])]]),
    ("beta_two_arms_overlapping", "beta", 0.0, [
        [(0.5, [20, 30]), (0.5, [22, 28])],
        [(0.9, [100, 150]), (0.1, [1, 1])]]),
    ("gamma_two_arms", "gamma", 0.3, [
        [(0.7, [10, 5]), (0.3, [2, 0.5])],
        [(1, [15, 6])]]),
    ("gamma_three_arms_separated", "gamma", -0.2, [
        [(0.5, [50, 10]), (0.5, [5, 1])],
        [(0.2, [0.5, 0.1]), (0.8, [30, 8])],
        [(1, [40, 9])]]),
    ("gamma_four_arms_overlapping", "gamma", 0.1, [
        [(0.4, [20, 10]), (0.6, [22, 10])],
        [(1, [25, 11])],
        [(0.3, [3, 2]), (0.3, [30, 14]), (0.4, [60, 30])],
        [(0.25, [5, 3]), (0.25, [10, 5]), (0.25, [20, 9]), (0.25, [40, 17])]]),
    ("student_t_two_arms", "student_t", 0.5, [
        [(0.6, [10, 0, 1]), (0.4, [5, 3, 2])],
        [(1, [20, 1, 0.5])]]),
    ("student_t_three_arms_separated", "student_t", 1.0, [
        [(0.5, [30, -5, 0.5]), (0.5, [30, 5, 0.5])],
        [(1, [8, 0, 2])],
        [(0.2, [3, 0, 10]), (0.8, [50, 1, 0.3])]]),
    ("student_t_four_arms", "student_t", -0.25, [
        [(1, [12, 0.2, 0.4])],
        [(0.5, [40, 0.5, 0.2]), (0.5, [40, 0.6, 0.25])],
        [(0.3, [6, -1, 1]), (0.3, [25, 0, 0.3]), (0.4, [100, 0.4, 0.1])],
        [(0.1, [4, 0, 5]), (0.2, [30, 0.3, 0.5]), (0.3, [60, 0.5, 0.3]), (0.4, [200, 0.45, 0.05])]]),
]

# Mixture priors with data: (name, family, delta, [(prior, data)]).
PRIOR_CASES = [
    ("beta_prior_conflict", "beta", 0.0, [
        ([(0.8, [12.3, 55.9]), (0.2, [1, 1])], (15, 30)),
        ([(1, [1, 1])], (12, 30))]),
    ("beta_prior_three_arms", "beta", 0.1, [
        ([(0.5, [4, 16]), (0.3, [10, 10]), (0.2, [1, 1])], (3, 20)),
        ([(1, [0.5, 0.5])], (9, 20)),
        ([(0.6, [2, 8]), (0.4, [8, 2])], (10, 20))]),
    ("gamma_prior_two_arms", "gamma", 0.2, [
        ([(0.7, [20, 10]), (0.3, [0.5, 0.25])], (35, 10.5)),
        ([(1, [0.5, 0.001])], (20, 12))]),
    ("nig_prior_two_arms", "nig", 0.5, [
        ([(0.8, [0, 10, 3, 2]), (0.2, [0, 0.01, 1, 1])], [2.1, 1.4, 3.3, 2.8, 0.9, 2.5]),
        ([(1, [0, 0.001, 0.001, 0.001])], [0.2, -0.5, 1.1, 0.4, 0.0, 0.7, 0.3])]),
]


def compute(name, family, delta, arms, extra):
    delta = mpf(delta)
    best = p_best(arms)
    record = {
        "name": name,
        "family": family,
        "delta": float(delta),
        "p_best": [float(p) for p in best],
        "p_greater": float(p_greater(arms[1], arms[0], delta)),
        "quantiles": [[q, float(arms[0].quantile(mpf(q)))] for q in (0.025, 0.5, 0.975)],
    }
    if delta != 0:
        record["p_within"] = float(p_within(arms[1], arms[0], abs(delta)))
    record.update(extra)
    print(f"{name}: sum p_best - 1 = {mpmath.nstr(sum(best) - 1, 3)}")
    return record


def main():
    cases = []
    for name, family, delta, arms in CASES:
        mixtures = [Mixture(family, parts) for parts in arms]
        cases.append(compute(name, family, delta, mixtures,
                             {"arms": [m.json() for m in mixtures]}))
    prior_cases = []
    for name, family, delta, arms in PRIOR_CASES:
        mixtures = [posterior(family, prior, data) for prior, data in arms]
        extra = {
            "priors": [[{"weight": w, "params": p} for w, p in prior] for prior, _ in arms],
            "data": [list(data) for _, data in arms],
            "posterior_weights": [[float(w) for w, _ in m.parts] for m in mixtures],
        }
        prior_cases.append(compute(name, family, delta, mixtures, extra))
    with open(OUT_PATH, "w") as out:
        json.dump({"generator": "generate_mixture.py (mpmath, dps 25)", "cases": cases,
                   "prior_cases": prior_cases}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
