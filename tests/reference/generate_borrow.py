#!/usr/bin/env python3
"""Reference values for borrowing across strata (hierarchical model and EXNEX).

An independent implementation, written differently from bayestrial's: dense composite
Gauss-Legendre rules everywhere (no Laplace centring, no sinh map, no Gauss-Hermite rule in mu),
and the marginal posterior of each stratum's theta computed as its likelihood times its
leave-one-out predictive density on a dense theta grid (bayestrial mixes conditional posteriors
over the (mu, tau) nodes instead).

Model (binary strata, theta_j = logit p_j; normal strata, theta_j the stratum mean):
    y_j | theta_j ~ Binomial(n_j, expit(theta_j))      or   xbar_j ~ N(theta_j, se_j^2)
    theta_j ~ N(mu, tau^2) with probability w_j, else N(m_nex, s_nex^2)  (w_j = 1: hierarchical)
    mu ~ N(m_mu, s_mu^2),  tau ~ HalfNormal(s_tau)

For every case the script writes, per stratum, the posterior mean and SD of p_j (theta_j for
normal strata), P(p_j > p0), P(exchangeable | data) and the 2.5/50/97.5% quantiles, and the
posterior mean and SD of mu and tau, to borrow_cases.json next to this file. It prints a
self-check (the mass of the theta-grid density against the (mu, tau) integral, which must agree
to 1e-6) and exits non-zero when one fails.

Run: python3 tests/reference/generate_borrow.py   (numpy and scipy)
"""

import json
import os
import sys

import numpy as np
from scipy.special import expit, log_ndtr, logsumexp, ndtr

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "borrow_cases.json")

GL_X, GL_W = np.polynomial.legendre.leggauss(10)
GH_X, GH_W = np.polynomial.hermite_e.hermegauss(40)
GH_W = GH_W / GH_W.sum()


def panels(edges):
    """Nodes and weights of 10-point Gauss-Legendre panels between consecutive edges."""
    edges = np.asarray(edges, dtype=float)
    lo, hi = edges[:-1], edges[1:]
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    x = (mid[:, None] + half[:, None] * GL_X[None, :]).ravel()
    w = (half[:, None] * GL_W[None, :]).ravel()
    return x, w


def log_lik(kind, d, theta):
    """Log-likelihood of one stratum at theta, less its maximum."""
    if kind == "binary":
        y, n = d
        top = 0.0
        if y > 0:
            top += y * np.log(y / n)
        if n - y > 0:
            top += (n - y) * np.log((n - y) / n)
        return y * theta - n * np.logaddexp(0.0, theta) - top
    x, se = d
    return -0.5 * ((x - theta) / se) ** 2


def approx(kind, d):
    if kind == "binary":
        y, n = d
        p = (y + 0.5) / (n + 1.0)
        return np.log(p / (1 - p)), 1.0 / ((n + 1.0) * p * (1 - p))
    return d[0], d[1] ** 2


def inner(kind, d, mu, tau, est, var):
    """For arrays mu, tau (same shape): ln of the integral of exp(loglik) N(theta; mu, tau^2),
    and E[p], E[p^2] (binary) or E[theta], E[theta^2] (normal), by a dense rule in
    z = (theta - mu)/tau around the normal-approximation posterior."""
    if kind == "normal":
        x, se = d
        v = se * se
        t2 = tau * tau
        tot = v + t2
        # The likelihood is normalised differently from the binary case: exp(-(x-theta)^2/2v)
        # without its constant, so the integral is sqrt(v/tot) * exp(-(x-mu)^2/(2 tot)).
        ln_l = 0.5 * np.log(v / tot) - 0.5 * (x - mu) ** 2 / tot
        m = (t2 * x + v * mu) / tot
        s2 = t2 * v / tot
        return ln_l, m, m * m + s2
    shape = mu.shape
    mu = mu.ravel()
    tau = tau.ravel()
    zc = tau * (est - mu) / (var + tau * tau)
    sz = np.sqrt(var / (var + tau * tau))
    width = np.minimum(1.0, 3.0 * sz)
    edges = np.linspace(-1.0, 1.0, 13)
    u, wu = panels(edges)
    # z = zc + 14 * width * u
    z = zc[:, None] + 14.0 * width[:, None] * u[None, :]
    wz = 14.0 * width[:, None] * wu[None, :]
    theta = mu[:, None] + tau[:, None] * z
    lg = log_lik(kind, d, theta) - 0.5 * z * z
    top = lg.max(axis=1, keepdims=True)
    f = np.exp(lg - top) * wz
    tot = f.sum(axis=1)
    p = expit(theta)
    ln_l = top[:, 0] + np.log(tot) - 0.5 * np.log(2 * np.pi)
    m1 = (f * p).sum(axis=1) / tot
    m2 = (f * p * p).sum(axis=1) / tot
    return ln_l.reshape(shape), m1.reshape(shape), m2.reshape(shape)


def nex_values(kind, d, m, s):
    ln_l, m1, m2 = inner(kind, d, np.array([m]), np.array([s]), *approx(kind, d))
    return ln_l[0], m1[0], m2[0]


def fit(case):
    kind = case["kind"]
    data = [tuple(x) for x in case["strata"]]
    J = len(data)
    m_mu, s_mu = case["mu_prior"]
    s_tau = case["tau_scale"]
    w = np.array(case["weights"], dtype=float)
    nex = case.get("nex_prior")
    p0 = case["threshold"]
    apx = [approx(kind, d) for d in data]

    # tau grid: geometric panels towards 0 and uniform panels, up to where the normal
    # approximation's marginal has dropped 50 nats (and at least 4 prior scales).
    def approx_marginal(tau):
        prec = 1 / s_mu**2
        lin = m_mu * prec
        quad = m_mu**2 * prec
        lndet = 0.0
        for (e, v), wj in zip(apx, w):
            if wj > 0:
                u = 1 / (v + tau * tau)
                prec += u
                lin += e * u
                quad += e * e * u
                lndet += np.log(v + tau * tau)
        return -0.5 * (lndet + np.log(prec) + quad - lin * lin / prec) - 0.5 * (tau / s_tau) ** 2

    scan = s_tau * 10 ** np.linspace(-7, 1.5, 400)
    vals = np.array([approx_marginal(t) for t in scan])
    top_tau = scan[np.nonzero(vals > vals.max() - 50)[0].max()]
    tmax = max(2.0 * top_tau, 4.0 * s_tau) if nex is not None else 2.0 * top_tau
    geo = tmax * 2.0 ** -np.arange(24, 5, -1)
    edges_tau = np.unique(np.concatenate([[0.0], geo, np.linspace(tmax / 2 ** 5, tmax, 41)]))
    tau, wt = panels(edges_tau)

    # mu grid per tau: +-25 approximate SDs (wider for EXNEX), 40 panels.
    T = len(tau)
    span = 25.0 if nex is None else 30.0
    npan = 20 if nex is None else 40
    nmu = 10 * npan
    mus = np.zeros((T, nmu))
    wmu = np.zeros((T, nmu))
    for a, t in enumerate(tau):
        prec = 1 / s_mu**2
        lin = m_mu * prec
        for (e, v), wj in zip(apx, w):
            if wj > 0:
                prec += 1 / (v + t * t)
                lin += e / (v + t * t)
        c, sd = lin / prec, prec**-0.5
        if nex is not None:
            sd = max(sd, 0.5 * s_mu) if J <= 2 else sd * 2
        x, wx = panels(np.linspace(c - span * sd, c + span * sd, npan + 1))
        mus[a], wmu[a] = x, wx
    TAU = np.repeat(tau[:, None], nmu, axis=1)
    logw = np.log(wt)[:, None] + np.log(wmu) - 0.5 * ((mus - m_mu) / s_mu) ** 2 - 0.5 * (TAU / s_tau) ** 2
    ln_m = np.zeros((J, T, nmu))
    r = np.zeros((J, T, nmu))
    e1 = np.zeros((J, T, nmu))
    e2 = np.zeros((J, T, nmu))
    nexv = []
    for j, d in enumerate(data):
        if nex is not None:
            nexv.append(nex_values(kind, d, nex[0], nex[1]))
        else:
            nexv.append((0.0, 0.0, 0.0))
        if w[j] > 0:
            l, m1, m2 = inner(kind, d, mus, TAU, *apx[j])
        else:
            l = np.full(mus.shape, -np.inf)
            m1 = m2 = np.zeros(mus.shape)
        if w[j] == 1:
            lm = l
        else:
            lm = np.logaddexp(np.log(w[j]) + l if w[j] > 0 else -np.inf, np.log1p(-w[j]) + nexv[j][0])
        ln_m[j] = lm
        r[j] = np.exp(np.log(w[j]) + l - lm) if w[j] > 0 else 0.0
        e1[j], e2[j] = m1, m2
        logw = logw + lm
    shift = logw.max()
    W = np.exp(logw - shift)
    Z = W.sum()
    W /= Z
    out = {"strata": []}
    for j, d in enumerate(data):
        n1, n2 = nexv[j][1], nexv[j][2]
        mean = (W * (r[j] * e1[j] + (1 - r[j]) * n1)).sum()
        second = (W * (r[j] * e2[j] + (1 - r[j]) * n2)).sum()
        pex = (W * r[j]).sum()
        cdf, check = stratum_cdf(kind, d, j, w[j], nex, tau, wt, mus, wmu, logw - shift, ln_m[j], Z, apx[j])
        cut = np.log(p0 / (1 - p0)) if kind == "binary" else p0
        qs = [quantile(cdf, q) for q in (0.025, 0.5, 0.975)]
        if kind == "binary":
            qs = [float(expit(q)) for q in qs]
        out["strata"].append(
            {
                "mean": mean,
                "sd": np.sqrt(max(second - mean * mean, 0.0)),
                "p_above": 1 - cdf(cut),
                "p_exchangeable": pex,
                "median": qs[1],
                "ci95": [qs[0], qs[2]],
                "mass_check": check,
            }
        )
    mu_mean = (W * mus).sum()
    mu_sd = np.sqrt((W * mus**2).sum() - mu_mean**2)
    tau_mean = (W * TAU).sum()
    tau_sd = np.sqrt((W * TAU**2).sum() - tau_mean**2)
    out["mu"] = {"mean": mu_mean, "sd": mu_sd}
    out["tau"] = {"mean": tau_mean, "sd": tau_sd}
    return out


def stratum_cdf(kind, d, j, wj, nex, tau, wt, mus, wmu, logw, ln_mj, Z, apx):
    """The CDF of theta_j: its likelihood times the leave-one-out predictive density, on a dense
    theta grid. Rows with tau below 3 mu-grid spacings convolve by Gauss-Hermite in z over a
    per-panel Lagrange interpolant of the leave-one-out mu density; others sum the mu grid."""
    loo = np.exp(logw - ln_mj)  # (T, 400): joint weight without stratum j's factor
    # theta range
    lo = mus.min() - 12 * tau.max()
    hi = mus.max() + 12 * tau.max()
    if nex is not None:
        lo = min(lo, nex[0] - 14 * nex[1])
        hi = max(hi, nex[0] + 14 * nex[1])
    est, var = apx
    sd = np.sqrt(var)
    lo = max(lo, est - 60 * sd - (60 if kind == "binary" and d[0] == 0 else 0))
    hi = min(hi, est + 60 * sd + (60 if kind == "binary" and d[0] == d[1] else 0))
    edges = np.linspace(lo, hi, 161)
    th, wth = panels(edges)
    dens = np.zeros_like(th)
    T = len(tau)
    for a in range(T):
        row = loo[a]
        if row.max() < 1e-300:
            continue
        x = mus[a]
        h = x[10] - x[0]
        if wj > 0:
            if tau[a] >= 4 * (x[-1] - x[0]) / len(x):
                g = row[:, None] * np.exp(-0.5 * ((th[None, :] - x[:, None]) / tau[a]) ** 2) / (tau[a] * np.sqrt(2 * np.pi))
                conv = g.sum(axis=0)
            else:
                # g(mu) = row / wmu-free density: row already includes wmu via logw; divide out
                gvals = row  # includes the GL weight; density = row / wmu
                dvals = gvals / wmu[a]
                pts = th[:, None] - tau[a] * GH_X[None, :]
                vals = interp_panels(x, dvals, pts)
                conv = (vals * GH_W[None, :]).sum(axis=1)
            dens += wj * conv
        if wj < 1:
            tot_row = row.sum()
            dens += (1 - wj) * tot_row * np.exp(-0.5 * ((th - nex[0]) / nex[1]) ** 2) / (nex[1] * np.sqrt(2 * np.pi))
    if kind == "binary":
        lik = np.exp(log_lik(kind, d, th))
    else:
        lik = np.exp(log_lik(kind, d, th))
    f = dens * lik
    mass = (f * wth).sum()
    # Check against the (mu, tau) integral: sum of W (normalised) = 1 means sum(exp(logw)) / ...
    # the theta integral of lik * predictive equals sum(exp(logw)) when the likelihood scale
    # matches the inner one (binary: inner divides by sqrt(2 pi); normal: by sqrt(2 pi) se).
    total = np.exp(logw).sum()
    if kind == "binary":
        check = mass / total
    else:
        check = mass / (total)
    # CDF on the grid
    fw = f * wth / mass
    cum_edges = np.concatenate([[0.0], np.cumsum(fw.reshape(-1, 10).sum(axis=1))])
    fpanel = (f / mass).reshape(-1, 10)
    E = edges

    def cdf(t):
        if t <= E[0]:
            return 0.0
        if t >= E[-1]:
            return 1.0
        k = min(int(np.searchsorted(E, t) - 1), len(E) - 2)
        a, b = E[k], E[k + 1]
        half = 0.5 * (b - a)
        u = (t - 0.5 * (a + b)) / half
        coef = np.polynomial.legendre.legfit(GL_X, fpanel[k], 9)
        integ = np.polynomial.legendre.legint(coef, lbnd=-1)
        return float(cum_edges[k] + half * np.polynomial.legendre.legval(u, integ))

    cdf.edges = E
    return cdf, check


def interp_panels(x, vals, pts):
    """Lagrange interpolation of vals (given at 10-point GL panels x) at pts; 0 outside."""
    out = np.zeros(pts.shape)
    xp = x.reshape(-1, 10)
    vp = vals.reshape(-1, 10)
    lo = xp[:, 0] - (xp[:, 1] - xp[:, 0]) * 0  # approximate panel bounds below
    width = (x[-1] - x[0]) / (len(x) / 10) * 1.0
    start = 0.5 * (xp[:, 0] + xp[:, -1]) - 0.5 * width
    flat = pts.ravel()
    k = np.floor((flat - start[0]) / width).astype(int)
    inside = (k >= 0) & (k < xp.shape[0])
    res = np.zeros(flat.shape)
    for kk in np.unique(k[inside]):
        sel = inside & (k == kk)
        xs = xp[kk]
        ys = vp[kk]
        t = flat[sel]
        acc = np.zeros(t.shape)
        for i in range(10):
            li = np.ones(t.shape)
            for m in range(10):
                if m != i:
                    li *= (t - xs[m]) / (xs[i] - xs[m])
            acc += ys[i] * li
        res[sel] = acc
    return res.reshape(pts.shape)


def quantile(cdf, q):
    E = cdf.edges
    lo, hi = E[0], E[-1]
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if cdf(mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


CHUGH = [[2, 15], [0, 13], [1, 12], [6, 28], [7, 29], [3, 29], [5, 26], [1, 5], [0, 2], [3, 20]]

CASES = [
    {"name": "chugh exnex (Neuenschwander et al. 2016, App. 5.3 priors)", "kind": "binary",
     "strata": CHUGH, "mu_prior": [-1.735, 0.146 ** -0.5], "tau_scale": 1.0,
     "nex_prior": [-1.734, 0.128 ** -0.5], "weights": [0.5] * 10, "threshold": 0.1},
    {"name": "chugh hierarchical", "kind": "binary", "strata": CHUGH,
     "mu_prior": [-1.735, 0.146 ** -0.5], "tau_scale": 1.0, "weights": [1.0] * 10,
     "threshold": 0.2},
    {"name": "small tau scale, hierarchical", "kind": "binary",
     "strata": [[3, 20], [8, 25], [2, 18], [5, 22]], "mu_prior": [0.0, 2.0],
     "tau_scale": 0.05, "weights": [1.0] * 4, "threshold": 0.25},
    {"name": "large n, exnex with an outlier", "kind": "binary",
     "strata": [[20000, 100000], [201000, 1000000], [1950, 10000], [4000, 10000]],
     "mu_prior": [-1.4, 2.0], "tau_scale": 0.5, "nex_prior": [-1.0, 3.0],
     "weights": [0.5, 0.5, 0.5, 0.5], "threshold": 0.2},
    {"name": "per-stratum weights, zeros and a full stratum", "kind": "binary",
     "strata": [[0, 4], [4, 4], [1, 10], [6, 10], [2, 9]], "mu_prior": [0.0, 1.5],
     "tau_scale": 1.0, "nex_prior": [0.0, 2.0], "weights": [0.9, 0.3, 0.7, 0.5, 1.0],
     "threshold": 0.3},
    {"name": "normal strata, hierarchical", "kind": "normal",
     "strata": [[1.2, 0.4], [0.8, 0.3], [2.1, 0.5], [1.0, 0.25], [1.5, 0.6]],
     "mu_prior": [0.0, 10.0], "tau_scale": 1.0, "weights": [1.0] * 5, "threshold": 1.0},
    {"name": "normal strata, exnex, small tau scale", "kind": "normal",
     "strata": [[1.2, 0.4], [0.8, 0.3], [4.1, 0.5], [1.0, 0.25]],
     "mu_prior": [0.0, 5.0], "tau_scale": 0.1, "nex_prior": [0.0, 10.0],
     "weights": [0.5] * 4, "threshold": 2.0},
]


def main():
    results = []
    failed = False
    for case in CASES:
        res = fit(case)
        for s in res["strata"]:
            if abs(s["mass_check"] - 1) > 1e-6:
                print("mass check failed", case["name"], s["mass_check"])
                failed = True
            del s["mass_check"]
        print(case["name"])
        for s in res["strata"]:
            print("  ", {k: (round(v, 6) if isinstance(v, float) else v) for k, v in s.items()})
        results.append({"case": case, "expected": res})
    with open(OUT_PATH, "w") as fh:
        json.dump(results, fh, indent=1, default=float)
        fh.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
