#!/usr/bin/env python3
"""Reference values for the posterior of a weighted combination of strata, sum_j pi_j p_j
(a signature's response rate), under the hierarchical model and EXNEX.

Written independently of bayestrial's `BorrowWorkspace::combination`: the posterior of
(mu, tau) on a dense tensor of 10-point Gauss-Legendre panels (mu over the prior's +-10 SD,
tau over [0, 12 s_tau]), each stratum's conditional moments given (mu, tau) on a dense
Gauss-Legendre grid in theta (+-12 conditional SDs around mu, clipped to the likelihood's
support), and the unconditioned mixture of the exchangeable and non-exchangeable posteriors at
every node; the all-non-exchangeable configuration is not held apart (the dense grid covers
the priors of mu and tau). Given (mu, tau) the strata are independent, so
E[S | mu, tau] = sum pi_j m_j and Var[S | mu, tau] = sum pi_j^2 v_j, and the posterior moments
follow by the law of total variance.

Writes combination_cases.json next to this file.

Run: python3 tests/reference/generate_combination.py   (numpy and scipy)
"""

import json
import os

import numpy as np
from scipy.special import expit

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "combination_cases.json")

GL_X, GL_W = np.polynomial.legendre.leggauss(10)


def panels(lo, hi, count):
    edges = np.linspace(lo, hi, count + 1)
    a, b = edges[:-1], edges[1:]
    half, mid = 0.5 * (b - a), 0.5 * (b + a)
    return (mid[:, None] + half[:, None] * GL_X).ravel(), (half[:, None] * GL_W).ravel()


def normal_pdf(x, m, s):
    return np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))


def log_lik(y, n, theta):
    top = 0.0
    if y > 0:
        top += y * np.log(y / n)
    if n > y:
        top += (n - y) * np.log((n - y) / n)
    return y * theta - n * np.logaddexp(0.0, theta) - top


THETA, DTHETA = panels(-40.0, 40.0, 1600)
Z, DZ = panels(-12.0, 12.0, 60)


def row_moments(strata, mu, tau):
    """Per stratum, L, E[p], E[p^2] given theta ~ N(mu, tau^2) at every mu (one tau): in the
    standardised variable z when tau < 0.5, otherwise on a fixed theta grid (a matrix
    product with the normal kernel)."""
    out = []
    if tau < 0.5:
        theta = mu[:, None] + tau * Z[None, :]
        w = np.exp(-0.5 * Z * Z) / np.sqrt(2 * np.pi) * DZ
        p = expit(theta)
        for y, n in strata:
            f = np.exp(log_lik(y, n, theta)) * w
            L = f.sum(axis=1)
            out.append((L, (f * p).sum(axis=1) / L, (f * p * p).sum(axis=1) / L))
        return out
    kernel = normal_pdf(THETA[:, None], mu[None, :], tau) * DTHETA[:, None]
    p = expit(THETA)
    for y, n in strata:
        lik = np.exp(log_lik(y, n, THETA))
        L, e1, e2 = (np.stack([lik, lik * p, lik * p * p]) @ kernel)
        out.append((L, e1 / L, e2 / L))
    return out


def fixed_moments(y, n, m, s):
    (L, e1, e2), = row_moments([(y, n)], np.array([m]), s)
    return float(L[0]), float(e1[0]), float(e2[0])


def case(name, strata, weights, mu_prior, tau_scale, nex=None, ex_weight=1.0):
    mu, dmu = panels(mu_prior[0] - 10 * mu_prior[1], mu_prior[0] + 10 * mu_prior[1], 80)
    tau, dtau = panels(0.0, 12 * tau_scale, 80)
    nex_moments = [fixed_moments(y, n, *nex) for y, n in strata] if nex else None
    total, first, second = 0.0, 0.0, 0.0
    for t, dt in zip(tau, dtau):
        joint = normal_pdf(mu, *mu_prior) * 2 * normal_pdf(t, 0.0, tau_scale) * dmu * dt
        cond_mean = np.zeros_like(mu)
        cond_var = np.zeros_like(mu)
        for j, ((L, e1, e2), pi) in enumerate(zip(row_moments(strata, mu, t), weights)):
            if nex is None:
                m1, m2, factor = e1, e2, L
            else:
                C, n1, n2 = nex_moments[j]
                ex = ex_weight * L
                factor = ex + (1 - ex_weight) * C
                r = ex / factor
                m1 = r * e1 + (1 - r) * n1
                m2 = r * e2 + (1 - r) * n2
            joint = joint * factor
            cond_mean += pi * m1
            cond_var += pi * pi * (m2 - m1 * m1)
        total += joint.sum()
        first += (joint * cond_mean).sum()
        second += (joint * (cond_var + cond_mean**2)).sum()
    mean = first / total
    return {
        "name": name,
        "strata": strata,
        "weights": weights,
        "mu_prior": list(mu_prior),
        "tau_scale": tau_scale,
        "nex_prior": None if nex is None else list(nex),
        "ex_weight": ex_weight,
        "mean": float(mean),
        "sd": float(np.sqrt(second / total - mean * mean)),
    }


def main():
    cases = [
        case("bhm, three strata", [[3, 20], [9, 25], [14, 30]], [0.5, 0.3, 0.2], (-1.0, 2.0), 1.0),
        case("bhm, small tau scale", [[3, 20], [9, 25], [14, 30]], [0.2, 0.3, 0.5], (-1.0, 2.0), 0.25),
        case(
            "exnex, an outlier",
            [[2, 20], [3, 22], [15, 20]],
            [0.4, 0.4, 0.2],
            (-1.5, 2.0),
            0.5,
            nex=(-1.0, 2.0),
            ex_weight=0.5,
        ),
    ]
    with open(OUT_PATH, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    for c in cases:
        print(f"{c['name']}: mean {c['mean']:.10f} sd {c['sd']:.10f}")


if __name__ == "__main__":
    main()
