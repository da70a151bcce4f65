#!/usr/bin/env python3
"""Reference values for the conjugate updates, computed independently of the Rust code.

Writes tests/reference/conjugate_cases.json. For each case: the prior, the raw data, and the
posterior parameters computed in exact rational arithmetic (fractions) where possible and with
mpmath at 40 digits otherwise, from the batch formulas (not the incremental ones the Rust code
uses):

  Beta-Binomial:  a = a0 + s, b = b0 + n - s
  Normal-Inverse-Gamma (Murphy 2007, eqs. 85-89):
     kappa = kappa0 + n,  mu = (kappa0 mu0 + n xbar) / kappa,  alpha = alpha0 + n/2,
     beta = beta0 + S/2 + kappa0 n (xbar - mu0)^2 / (2 kappa),  S = sum (x - xbar)^2
  Gamma-Poisson:  shape = shape0 + sum events, rate = rate0 + sum exposure

Rerun: python3 tests/reference/generate_conjugate.py
"""
import json
import os
import random
from fractions import Fraction

import mpmath as mp

mp.mp.dps = 40
HERE = os.path.dirname(os.path.abspath(__file__))


def nig(prior, xs):
    mu0, k0, a0, b0 = (Fraction(v) for v in prior)
    data = [Fraction(x) for x in xs]
    n = len(data)
    xbar = sum(data) / n if n else Fraction(0)
    s = sum((x - xbar) ** 2 for x in data)
    k = k0 + n
    mu = (k0 * mu0 + n * xbar) / k
    a = a0 + Fraction(n, 2)
    b = b0 + s / 2 + k0 * n * (xbar - mu0) ** 2 / (2 * k)
    # Marginal of the mean: t with 2a df, location mu, scale sqrt(b / (a k)).
    scale = mp.sqrt(mp.mpf(b.numerator) / b.denominator / (mp.mpf(a.numerator) / a.denominator) / (mp.mpf(k.numerator) / k.denominator))
    return {"mu": float(mu), "kappa": float(k), "alpha": float(a), "beta": float(b),
            "t_df": float(2 * a), "t_loc": float(mu), "t_scale": float(scale)}


def main():
    rng = random.Random(20261125)
    cases = []
    for name, prior, n, centre, spread in [
        ("nig-vague-small", (0.0, 1e-6, 1e-3, 1e-3), 5, 1.2, 0.8),
        ("nig-informative", (1.0, 2.0, 3.0, 4.0), 30, 0.4, 2.0),
        ("nig-large-offset", (100.0, 0.5, 2.0, 10.0), 200, 1e4, 3.0),
        ("nig-single", (0.0, 1.0, 1.0, 1.0), 1, -3.5, 1.0),
        ("nig-many", (0.0, 0.01, 0.5, 0.5), 5000, -2.0, 0.1),
    ]:
        xs = [round(rng.gauss(centre, spread), 6) for _ in range(n)]
        cases.append({"name": name, "model": "normal", "prior": list(prior), "data": xs,
                      "posterior": nig(prior, xs)})
    for name, prior, n, p in [("beta-uniform", (1.0, 1.0), 58, 0.5),
                              ("beta-jeffreys", (0.5, 0.5), 1000, 0.02),
                              ("beta-informative", (12.5, 30.25), 300, 0.7)]:
        ys = [rng.random() < p for _ in range(n)]
        s = sum(ys)
        cases.append({"name": name, "model": "beta_binomial", "prior": list(prior), "data": ys,
                      "posterior": {"a": prior[0] + s, "b": prior[1] + n - s}})
    for name, prior, n, rate in [("gamma-vague", (0.5, 0.001), 40, 2.5),
                                 ("gamma-informative", (31.0, 10.5), 500, 0.3)]:
        obs = []
        for _ in range(n):
            exposure = round(rng.uniform(0.2, 3.0), 4)
            events = sum(1 for _ in range(50) if rng.random() < rate * exposure / 50)
            obs.append([events, exposure])
        shape = Fraction(prior[0]) + sum(e for e, _ in obs)
        rate_post = Fraction(prior[1]) + sum(Fraction(str(t)) for _, t in obs)
        cases.append({"name": name, "model": "gamma_poisson", "prior": list(prior), "data": obs,
                      "posterior": {"shape": float(shape), "rate": float(rate_post)}})
    out = {"generator": "tests/reference/generate_conjugate.py", "cases": cases}
    with open(os.path.join(HERE, "conjugate_cases.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
