#!/usr/bin/env python3
"""Reference values for the effective sample sizes and the MAP predictive (tests/ess_map_reference.rs).

Independent of the Rust code: the ESS integrals by mpmath (tanh-sinh, 30 digits) on the natural
scale with the prior information written as -(pi''/pi - (pi'/pi)^2) from the component densities'
derivatives; the mode by scipy's bounded minimiser polished by mpmath's root finder. The MAP
predictive of RBesT's AS data by a different scheme than the Rust one: a uniform grid in the
study-level logit theta (spacing 0.004), each study's marginal likelihood L_i(mu, tau) as the
convolution of its binomial likelihood with N(0, tau^2) (FFT, and 80-point Gauss-Hermite for
tau < 0.03), a midpoint rule over tau (spacing 0.005), and the predictive density as the
convolution of p(mu | tau, y) with N(0, tau^2).

Run: python3 tests/reference/generate_ess_map.py  (writes ess_map_cases.json next to it).
"""
import json
import os

import mpmath as mp
import numpy as np
from scipy import optimize, signal, special, stats

mp.mp.dps = 30
S_MORITA = 100


def beta_family():
    def pdf(x, a, b):
        return mp.exp((a - 1) * mp.log(x) + (b - 1) * mp.log(1 - x) - mp.log(mp.beta(a, b)))

    def d1(x, a, b):
        return pdf(x, a, b) * ((a - 1) / x - (b - 1) / (1 - x))

    def d2(x, a, b):
        g = (a - 1) / x - (b - 1) / (1 - x)
        h = -(a - 1) / x**2 - (b - 1) / (1 - x) ** 2
        return pdf(x, a, b) * (g * g + h)

    return pdf, d1, d2


def gamma_family():
    def pdf(x, a, b):
        return mp.exp(a * mp.log(b) - mp.loggamma(a) + (a - 1) * mp.log(x) - b * x)

    def d1(x, a, b):
        return pdf(x, a, b) * ((a - 1) / x - b)

    def d2(x, a, b):
        g = (a - 1) / x - b
        return pdf(x, a, b) * (g * g - (a - 1) / x**2)

    return pdf, d1, d2


def normal_family():
    def pdf(x, m, s):
        return mp.npdf(x, m, s)

    def d1(x, m, s):
        return pdf(x, m, s) * (-(x - m) / s**2)

    def d2(x, m, s):
        return pdf(x, m, s) * (((x - m) / s**2) ** 2 - 1 / s**2)

    return pdf, d1, d2


FAMILIES = {"beta": beta_family(), "gamma": gamma_family(), "normal": normal_family()}


def mixture_functions(family, parts):
    pdf, d1, d2 = FAMILIES[family]
    parts = [(mp.mpf(w), mp.mpf(p), mp.mpf(q)) for w, p, q in parts]

    def f(x):
        return sum(w * pdf(x, p, q) for w, p, q in parts)

    def info(x):
        f0 = f(x)
        f1 = sum(w * d1(x, p, q) for w, p, q in parts)
        f2 = sum(w * d2(x, p, q) for w, p, q in parts)
        return -(f2 / f0 - (f1 / f0) ** 2)

    return f, info


def breakpoints(family, parts):
    points = []
    for _, p, q in parts:
        if family == "beta":
            m, s = p / (p + q), (p * q / ((p + q) ** 2 * (p + q + 1))) ** 0.5
            points += [min(max(m + k * s, 1e-12), 1 - 1e-12) for k in (-6, -3, -1, 0, 1, 3, 6)]
        elif family == "gamma":
            m, s = p / q, p**0.5 / q
            points += [max(m + k * s, 1e-12) for k in (-6, -3, -1, 0, 1, 3, 6)]
        else:
            points += [p + k * q for k in (-12, -6, -3, -1, 0, 1, 3, 6, 12)]
    lo, hi = {"beta": (0, 1), "gamma": (0, mp.inf), "normal": (-mp.inf, mp.inf)}[family]
    return [lo] + sorted(set(points)) + [hi]


def mode(family, parts):
    f, _ = mixture_functions(family, parts)
    best = None
    for _, p, q in parts:
        if family == "beta":
            centre, sd = p / (p + q), (p * q / ((p + q) ** 2 * (p + q + 1))) ** 0.5
            lo, hi = max(centre - 4 * sd, 1e-9), min(centre + 4 * sd, 1 - 1e-9)
        elif family == "gamma":
            centre, sd = p / q, p**0.5 / q
            lo, hi = max(centre - 4 * sd, 1e-9), centre + 4 * sd
        else:
            lo, hi = p - 4 * q, p + 4 * q
        r = optimize.minimize_scalar(lambda x: -float(mp.log(f(x))), bounds=(lo, hi), method="bounded",
                                     options={"xatol": 1e-12})
        x = mp.mpf(r.x)
        value = f(x)
        if best is None or value > best[1]:
            best = (x, value)
    x = best[0]
    pdf, d1, _ = FAMILIES[family]
    mparts = [(mp.mpf(w), mp.mpf(p), mp.mpf(q)) for w, p, q in parts]
    derivative = lambda t: sum(w * d1(t, p, q) for w, p, q in mparts)
    eps = mp.mpf(1e-6) * (abs(x) + mp.mpf(1e-3))
    return mp.findroot(derivative, (x - eps, x + eps), solver="anderson")


def ess(family, parts, method, sigma=None):
    f, info = mixture_functions(family, parts)
    if method == "moment":
        if family == "beta":
            m = sum(w * a / (a + b) for w, a, b in parts)
            second = sum(w * (a * b / ((a + b) ** 2 * (a + b + 1)) + (a / (a + b)) ** 2) for w, a, b in parts)
            v = second - m * m
            return m * (1 - m) / v - 1
        if family == "gamma":
            m = sum(w * a / b for w, a, b in parts)
            second = sum(w * (a / b**2 + (a / b) ** 2) for w, a, b in parts)
            return m / (second - m * m)
        m = sum(w * mu for w, mu, s in parts)
        second = sum(w * (s * s + mu * mu) for w, mu, s in parts)
        return sigma**2 / (second - m * m)
    if method == "elir":
        inverse_fisher = {"beta": lambda x: x * (1 - x), "gamma": lambda x: x, "normal": lambda x: sigma**2}[family]
        def integrand(x):
            if family == "beta" and not 0 < x < 1 or family == "gamma" and not x > 0:
                return mp.mpf(0)
            return f(x) * info(x) * inverse_fisher(x)

        return mp.quad(integrand, breakpoints(family, parts))
    x = mode(family, parts)
    if family == "beta":
        a0, b0 = x / S_MORITA, (1 - x) / S_MORITA
        flat = (a0 - 1) / x**2 + (b0 - 1) / (1 - x) ** 2
        p0 = sum(w * b / (a + b) for w, a, b in parts)
        expected = p0 / (1 - x) ** 2 + (1 - p0) / x**2
        return (info(x) - flat) / expected
    if family == "gamma":
        flat = (x / S_MORITA - 1) / x**2
        mean = sum(w * a / b for w, a, b in parts)
        return (info(x) - flat) / (mean / x**2)
    flat = 1 / (S_MORITA * max(s * s for _, _, s in parts))
    return (info(x) - flat) * sigma**2


AS_MAP = [(0.4612914, 33.9513487, 103.0146367), (0.1917812, 19.4400089, 41.5205219),
          (0.1893896, 12.2692310, 55.9202833), (0.1575378, 2.2521243, 5.4812202)]
CROHN_MAP = [(0.50104846, -51.42408665, 19.04525409), (0.41871594, -47.25917128, 7.85193726),
             (0.08023561, -55.07086416, 44.57325000)]

ESS_CASES = [
    ("as_map", "beta", AS_MAP, None),
    ("as_map_robust", "beta", [(0.8 * w, a, b) for w, a, b in AS_MAP] + [(0.2, 1.0, 1.0)], None),
    ("rbest_bmix", "beta", [(0.2, 1.0, 1.0), (0.8, 10.0, 2.0)], None),
    ("single_beta", "beta", [(1.0, 5.0, 15.0)], None),
    ("rbest_gmix", "gamma", [(0.3, 20.0, 4.0), (0.7, 50.0, 10.0)], None),
    ("gamma_three", "gamma", [(0.5, 3.0, 1.0), (0.3, 30.0, 8.0), (0.2, 1.5, 0.2)], None),
    ("crohn_map", "normal", CROHN_MAP, 88.0),
    ("rbest_nmix", "normal", [(0.5, 0.0, 2.0), (0.5, 3.0, 4.0)], 10.0),
]


def ess_cases():
    out = []
    for name, family, parts, sigma in ESS_CASES:
        case = {"name": name, "family": family, "parts": [list(p) for p in parts], "sigma": sigma}
        for method in ("elir", "moment", "morita"):
            if family == "beta" and method == "elir" and any(min(a, b) < 1 for _, a, b in parts):
                continue
            case[method] = float(ess(family, parts, method, sigma))
        out.append(case)
    return out


AS_DATA = [(23, 107), (12, 44), (19, 51), (9, 39), (39, 139), (6, 20), (9, 78), (10, 35)]


def map_as(mu_sd=2.0, tau_scale=1.0):
    h = 0.004
    grid = np.arange(-12.0, 8.0 + h / 2, h)
    log_lik = [y * np.log(special.expit(grid)) + (n - y) * np.log(special.expit(-grid)) for y, n in AS_DATA]
    dtau = 0.005
    taus = np.arange(dtau / 2, 8 * tau_scale, dtau)
    hx, hw = np.polynomial.hermite.hermgauss(80)
    z, zw = np.sqrt(2) * hx, hw / np.sqrt(np.pi)
    log_prior_mu = stats.norm.logpdf(grid, 0.0, mu_sd)
    predictive = np.zeros_like(grid)
    tau_density = np.zeros_like(taus)
    for k, tau in enumerate(taus):
        log_g = log_prior_mu.copy()
        for (y, n), ll in zip(AS_DATA, log_lik):
            if tau < 0.03:
                eta = grid[:, None] + tau * z[None, :]
                terms = y * np.log(special.expit(eta)) + (n - y) * np.log(special.expit(-eta))
                log_g += special.logsumexp(terms, b=zw[None, :], axis=1)
            else:
                top = ll.max()
                kernel_x = np.arange(-int(10 * tau / h) - 1, int(10 * tau / h) + 2) * h
                kernel = stats.norm.pdf(kernel_x, 0.0, tau) * h
                conv = signal.fftconvolve(np.exp(ll - top), kernel, mode="same")
                log_g += np.log(np.maximum(conv, 1e-300)) + top
        shift = log_g.max()
        g = np.exp(log_g - shift)
        mass = g.sum() * h
        tau_density[k] = np.exp(stats.halfnorm.logpdf(tau, scale=tau_scale) + shift) * mass
        conditional = g / mass
        if tau < 0.03:
            pred = sum(w * np.interp(grid - tau * zz, grid, conditional) for zz, w in zip(z, zw))
        else:
            kernel_x = np.arange(-int(10 * tau / h) - 1, int(10 * tau / h) + 2) * h
            kernel = stats.norm.pdf(kernel_x, 0.0, tau) * h
            pred = signal.fftconvolve(conditional, kernel, mode="same")
        predictive += tau_density[k] * pred
    scale = tau_density.max()
    tau_density /= scale
    predictive /= scale
    total = tau_density.sum() * dtau
    tau_density /= total
    predictive /= total
    predictive /= predictive.sum() * h
    p = special.expit(grid)
    mean = float(np.sum(p * predictive) * h)
    sd = float(np.sqrt(np.sum((p - mean) ** 2 * predictive) * h))
    cdf = np.cumsum(predictive) * h - 0.5 * predictive * h
    quantile = lambda q: float(special.expit(np.interp(q, cdf, grid)))
    tau_mean = float(np.sum(taus * tau_density) * dtau)
    tau_sd = float(np.sqrt(np.sum((taus - tau_mean) ** 2 * tau_density) * dtau))
    tau_cdf = np.concatenate([[0.0], np.cumsum(tau_density) * dtau])
    tau_edges = np.concatenate([[0.0], taus + dtau / 2])
    tau_quantile = lambda q: float(np.interp(q, tau_cdf, tau_edges))
    return {
        "predictive": {"mean": mean, "sd": sd, "q025": quantile(0.025), "median": quantile(0.5),
                       "q975": quantile(0.975)},
        "tau": {"mean": tau_mean, "sd": tau_sd, "q025": tau_quantile(0.025), "median": tau_quantile(0.5),
                "q975": tau_quantile(0.975)},
    }


def main():
    out = {"ess": ess_cases(), "map_as": map_as()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ess_map_cases.json")
    with open(path, "w") as handle:
        json.dump(out, handle, indent=1)
        handle.write("\n")
    print(json.dumps(out["map_as"], indent=1))


if __name__ == "__main__":
    main()
