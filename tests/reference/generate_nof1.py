#!/usr/bin/env python3
"""Reference values for the n-of-1 numerics (src/stats/nof1/), computed independently.

Writes tests/reference/nof1_cases.json with four groups of cases:

  flat   one patient, two treatments, independent errors, reference prior p(mu, sigma) ~ 1/sigma:
         the textbook pooled-variance t (df n - 2, location ybar1 - ybar0, scale
         s_p sqrt(1/n1 + 1/n0)) with scipy.stats.t; checked here against a direct 2-D
         integration of the posterior.
  nig    independent errors, Normal-Inverse-Gamma prior, two and three treatments: the textbook
         per-treatment updates (Murphy 2007) with a shared sigma^2; checked here by brute-force
         3-D integration of the unnormalised posterior (two-treatment case).
  ar1    AR(1) errors in study days with gaps, exact (stationary) likelihood, rho ~ U(-1, 1):
         the posterior of the effect by scipy quad over rho, with the conditional posterior at
         each rho from generalised least squares on the n x n AR(1) precision matrix in the
         treatment-mean parametrisation (a different route from the Rust code's Givens rotations
         on Prais-Winsten rows in the level/contrast parametrisation); the marginal likelihood
         of rho is checked against the dense covariance matrix (multivariate t / GLS) at a few
         rho. Also the statsmodels ARIMA(1,0,0) maximum-likelihood fit with the treatment as a
         regressor (unmeasured days as missing values), and the iid estimate.
  t_cdf  the standard Student-t CDF at 40 digits with mpmath (incomplete beta function), for the
         unit test of the Rust implementation.
  series the normal-normal hierarchical model with a half-Cauchy prior on tau: 2-D integration
         over (mu, tau) with scipy quad (theta integrated analytically); the empirical-Bayes tau
         maximising the restricted likelihood (mu integrated out under a flat prior), found by
         bounded Brent and polished by a root of the derivative.

Usage:  python3 tests/reference/generate_nof1.py
Needs:  scipy, mpmath, statsmodels (python3 -m pip install -q scipy mpmath statsmodels).
"""
import json
import math
import os
import warnings

import mpmath as mp
import numpy as np
from scipy import integrate, optimize, stats

HERE = os.path.dirname(os.path.abspath(__file__))
QUAD = dict(epsabs=1e-13, epsrel=1e-12, limit=400)


def shortest(x):
    return float(repr(float(x)))


# ------------------------------------------------------------------------------------------
# Summaries of a distribution given its cdf, sf and moments
# ------------------------------------------------------------------------------------------

def interval(cdf, lo, hi):
    def q(p):
        a, b = lo, hi
        while cdf(a) > p:
            a -= (b - a)
        while cdf(b) < p:
            b += (b - a)
        return optimize.brentq(lambda x: cdf(x) - p, a, b, xtol=1e-14, rtol=1e-14, maxiter=200)
    return [q(0.025), q(0.975)]


def probabilities(cdf, sf, mcid):
    return {
        "p_positive": sf(0.0),
        "p_beyond_mcid_higher": sf(mcid),
        "p_beyond_mcid_lower": cdf(-mcid),
        "p_within_mcid": (cdf(mcid) - cdf(-mcid)) if mcid > 0 else 0.0,
    }


# ------------------------------------------------------------------------------------------
# Independent errors
# ------------------------------------------------------------------------------------------

def flat_two(obs, mcid):
    y0 = np.array([v for t, _, v in obs if t == 0])
    y1 = np.array([v for t, _, v in obs if t == 1])
    n0, n1 = len(y0), len(y1)
    df = n0 + n1 - 2
    sp2 = (((y0 - y0.mean()) ** 2).sum() + ((y1 - y1.mean()) ** 2).sum()) / df
    loc = y1.mean() - y0.mean()
    scale = math.sqrt(sp2 * (1 / n0 + 1 / n1))
    d = stats.t(df, loc, scale)
    out = {"df": df, "loc": loc, "scale": scale, "mean": loc,
           "sd": scale * math.sqrt(df / (df - 2)) if df > 2 else None,
           "ci95": [d.ppf(0.025), d.ppf(0.975)]}
    out.update(probabilities(d.cdf, d.sf, mcid))
    return out


def flat_two_brute(obs):
    """P(effect > 0) and E[effect] by integrating sigma^2 and the effect's conditional normal
    directly: p(sigma^2 | y) is scaled-inverse-chi^2(n - 2, s_p^2); effect | sigma^2 normal."""
    y0 = np.array([v for t, _, v in obs if t == 0])
    y1 = np.array([v for t, _, v in obs if t == 1])
    n0, n1 = len(y0), len(y1)
    df = n0 + n1 - 2
    ss = ((y0 - y0.mean()) ** 2).sum() + ((y1 - y1.mean()) ** 2).sum()
    loc = y1.mean() - y0.mean()
    v = 1 / n0 + 1 / n1
    # sigma^2 ~ Inv-Gamma(df/2, ss/2)
    post = stats.invgamma(df / 2, scale=ss / 2)
    p = integrate.quad(lambda s2: post.pdf(s2) * stats.norm.sf(0, loc, math.sqrt(s2 * v)),
                       0, np.inf, **QUAD)[0]
    return p


def nig_effects(obs, k, prior, mcid):
    mu0, k0, a0, b0 = prior
    alpha = a0 + len(obs) / 2
    beta = b0
    means, kappas = [], []
    for t in range(k):
        y = np.array([v for tt, _, v in obs if tt == t])
        n = len(y)
        ybar = y.mean() if n else 0.0
        s = ((y - ybar) ** 2).sum() if n else 0.0
        kap = k0 + n
        means.append((k0 * mu0 + n * ybar) / kap)
        kappas.append(kap)
        beta += s / 2 + (k0 * n * (ybar - mu0) ** 2 / (2 * kap) if n else 0.0)
    out = []
    for t in range(1, k):
        df = 2 * alpha
        loc = means[t] - means[0]
        scale = math.sqrt(beta / alpha * (1 / kappas[t] + 1 / kappas[0]))
        d = stats.t(df, loc, scale)
        e = {"treatment": t, "df": df, "loc": loc, "scale": scale, "mean": loc,
             "sd": scale * math.sqrt(df / (df - 2)) if df > 2 else None,
             "ci95": [d.ppf(0.025), d.ppf(0.975)]}
        e.update(probabilities(d.cdf, d.sf, mcid))
        out.append(e)
    return out


def nig_brute_two(obs, prior):
    """E[mu1 - mu0] and P(mu1 - mu0 > 0) by 3-D integration of the unnormalised posterior over
    (mu0, mu1, log sigma), from the likelihood and prior densities themselves."""
    mu0, k0, a0, b0 = prior
    y0 = np.array([v for t, _, v in obs if t == 0])
    y1 = np.array([v for t, _, v in obs if t == 1])

    n = len(y0) + len(y1)
    ss0, ss1 = ((y0 - y0.mean()) ** 2).sum(), ((y1 - y1.mean()) ** 2).sum()
    s0, s1, n0, n1 = y0.mean(), y1.mean(), len(y0), len(y1)

    def log_kernel(m0, m1, ls):
        """ln [N(y | mu, sigma^2) N(mu0, mu1 | mu0_prior, sigma^2/k0) IG(sigma^2) 2 sigma^2]."""
        s2 = math.exp(2 * ls)
        sq = ss0 + n0 * (s0 - m0) ** 2 + ss1 + n1 * (s1 - m1) ** 2
        ll = -0.5 * n * math.log(2 * math.pi * s2) - 0.5 * sq / s2
        lp = (-math.log(2 * math.pi * s2 / k0) - 0.5 * k0 * ((m0 - mu0) ** 2 + (m1 - mu0) ** 2) / s2
              + a0 * math.log(b0) - math.lgamma(a0) - (a0 + 1) * math.log(s2) - b0 / s2
              + math.log(2 * s2))  # d sigma^2 = 2 sigma^2 d ln sigma
        return ll + lp

    c0, c1 = y0.mean(), y1.mean()
    sd = math.sqrt(np.var(np.concatenate([y0 - c0, y1 - c1])))
    ref = log_kernel(c0, c1, math.log(sd))
    w0, w1 = 9 * sd / math.sqrt(len(y0)), 9 * sd / math.sqrt(len(y1))
    opts = {"epsabs": 1e-11, "epsrel": 1e-9, "limit": 100}

    def integrate3(g):
        return integrate.nquad(
            lambda m1, m0, ls: g(m0, m1) * math.exp(log_kernel(m0, m1, ls) - ref),
            [[c1 - w1, c1 + w1], [c0 - w0, c0 + w0], [math.log(sd) - 2.5, math.log(sd) + 2.5]],
            opts=[opts, opts, opts])[0]

    z = integrate3(lambda m0, m1: 1.0)
    mean = integrate3(lambda m0, m1: m1 - m0) / z
    return mean


# ------------------------------------------------------------------------------------------
# AR(1) errors
# ------------------------------------------------------------------------------------------

def ar_precision(days, rho):
    """The n x n precision matrix Q of a stationary AR(1) with unit innovation variance,
    observed on `days` (sorted), and log det Q: e_1 ~ N(0, 1/(1 - rho^2)),
    e_t | e_prev ~ N(rho^g e_prev, sum_{j<g} rho^(2j))."""
    n = len(days)
    q = np.zeros((n, n))
    logdet = 0.0
    c = (1 - rho) * (1 + rho)
    q[0, 0] += c
    logdet += math.log(c)
    for t in range(1, n):
        g = days[t] - days[t - 1]
        phi = rho ** g
        var = sum(rho ** (2 * j) for j in range(g))
        # (e_t - phi e_prev)^2 / var
        q[t, t] += 1 / var
        q[t - 1, t - 1] += phi * phi / var
        q[t, t - 1] -= phi / var
        q[t - 1, t] -= phi / var
        logdet -= math.log(var)
    return q, logdet


def ar_covariance(days, rho):
    d = np.array(days, dtype=float)
    lag = np.abs(d[:, None] - d[None, :])
    return rho ** lag / ((1 - rho) * (1 + rho))


def design(obs, k):
    x = np.zeros((len(obs), k))
    for i, (t, _, _) in enumerate(obs):
        x[i, t] = 1.0
    return x


def ar_conditional(obs, k, prior, rho):
    """(log marginal likelihood of rho up to a constant, df, [(loc, scale) per contrast])."""
    days = [d for _, d, _ in obs]
    y = np.array([v for _, _, v in obs])
    x = design(obs, k)
    q, logdet_q = ar_precision(days, rho)
    n = len(obs)
    xtq = x.T @ q
    a = xtq @ x
    rhs = xtq @ y
    if prior is None:
        a_n = (n - k) / 2
        m = np.linalg.solve(a, rhs)
        r = y - x @ m
        b_n = 0.5 * r @ q @ r
    else:
        mu0, k0, a0, b0 = prior
        a = a + k0 * np.eye(k)
        rhs = rhs + k0 * mu0 * np.ones(k)
        m = np.linalg.solve(a, rhs)
        r = y - x @ m
        a_n = a0 + n / 2
        b_n = b0 + 0.5 * (r @ q @ r + k0 * ((m - mu0) ** 2).sum())
    sign, logdet_a = np.linalg.slogdet(a)
    if sign <= 0 or not b_n > 0:
        return -1e300, 2 * a_n, [(0.0, 1.0)] * (k - 1)
    log_ml = 0.5 * logdet_q - 0.5 * logdet_a - a_n * math.log(b_n)
    cov = np.linalg.inv(a)
    contrasts = []
    for t in range(1, k):
        c = np.zeros(k)
        c[t], c[0] = 1.0, -1.0
        contrasts.append((m[t] - m[0], math.sqrt(b_n / a_n * (c @ cov @ c))))
    return log_ml, 2 * a_n, contrasts


def ar_dense_log_ml(obs, k, prior, rho):
    """The same marginal likelihood from the dense covariance matrix: a multivariate t for the
    NIG prior, the GLS profile for the flat prior (up to constants free of rho)."""
    days = [d for _, d, _ in obs]
    y = np.array([v for _, _, v in obs])
    x = design(obs, k)
    r = ar_covariance(days, rho)
    n = len(obs)
    if prior is None:
        ri = np.linalg.inv(r)
        a = x.T @ ri @ x
        m = np.linalg.solve(a, x.T @ ri @ y)
        res = y - x @ m
        return (-0.5 * np.linalg.slogdet(r)[1] - 0.5 * np.linalg.slogdet(a)[1]
                - (n - k) / 2 * math.log(0.5 * res @ ri @ res))
    mu0, k0, a0, b0 = prior
    shape = b0 / a0 * (r + x @ x.T / k0)
    return stats.multivariate_t(loc=np.full(n, mu0), shape=shape, df=2 * a0).logpdf(y)


def ar_reference(obs, k, prior, mcid):
    obs = sorted(obs, key=lambda o: o[1])
    grid = np.linspace(-0.999, 0.999, 401)
    logs = [ar_conditional(obs, k, prior, r)[0] for r in grid]
    top = max(logs)
    mode = grid[int(np.argmax(logs))]
    cache = {}

    def at(rho):
        if rho not in cache:
            cache[rho] = ar_conditional(obs, k, prior, rho)
        return cache[rho]

    def weight(rho):
        return math.exp(at(rho)[0] - top)

    def integral(f):
        return integrate.quad(lambda r: weight(r) * f(r), -1, 1, points=[mode], **QUAD)[0]

    z = integral(lambda r: 1.0)
    rho_mean = integral(lambda r: r) / z
    effects = []
    for t in range(1, k):
        def loc(r):
            return at(r)[2][t - 1][0]

        def scale(r):
            return at(r)[2][t - 1][1]

        def df(r):
            return at(r)[1]

        mean = integral(loc) / z
        second = integral(lambda r: scale(r) ** 2 * df(r) / (df(r) - 2) + loc(r) ** 2) / z
        cdf = lambda x: integral(lambda r: stats.t.cdf((x - loc(r)) / scale(r), df(r))) / z
        sf = lambda x: integral(lambda r: stats.t.sf((x - loc(r)) / scale(r), df(r))) / z
        sd = math.sqrt(second - mean ** 2)
        e = {"treatment": t, "mean": mean, "sd": sd,
             "ci95": interval(cdf, mean - 3 * sd, mean + 3 * sd)}
        e.update(probabilities(cdf, sf, mcid))
        effects.append(e)
    # Self-check: the precision-matrix marginal against the dense covariance one.
    rhos = [-0.6, 0.2, 0.7, 0.95]
    a = [ar_conditional(obs, k, prior, r)[0] for r in rhos]
    b = [ar_dense_log_ml(obs, k, prior, r) for r in rhos]
    drift = max(abs((a[i] - a[0]) - (b[i] - b[0])) for i in range(len(rhos)))
    print(f"    dense-covariance check of log p(y | rho): max difference {drift:.2e}")
    # With kappa0 = 1e-6 the dense covariance R + X X^T / kappa0 is ill-conditioned (1e6 added
    # to O(1) entries), so that route, not the reference, loses about 7 digits.
    assert drift < (1e-6 if prior is not None and prior[1] < 1e-3 else 1e-9), drift
    return {"rho_mean": rho_mean, "effects": effects}


def statsmodels_fit(obs):
    """ARIMA(1,0,0) with a constant and the treatment indicator as regressor, by exact
    maximum likelihood (Kalman filter); unmeasured days are missing values."""
    from statsmodels.tsa.arima.model import ARIMA
    obs = sorted(obs, key=lambda o: o[1])
    first, last = obs[0][1], obs[-1][1]
    y = np.full(last - first + 1, np.nan)
    x = np.zeros(last - first + 1)
    for t, d, v in obs:
        y[d - first] = v
        x[d - first] = float(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ARIMA(y, exog=x, order=(1, 0, 0), trend="c").fit()
    names = list(fit.model.param_names)
    params = dict(zip(names, fit.params))
    ses = dict(zip(names, fit.bse))
    return {"effect": params["x1"], "se": ses["x1"], "rho": params["ar.L1"],
            "const": params["const"], "sigma2": params["sigma2"]}


def simulate_ar(seed, level, effect, rho, sigma, schedule, period_days, washout, skip_prob,
                treatments=2):
    """A crossover: each period `period_days` measured days then `washout` unmeasured days;
    some measured days are skipped at random. Errors AR(1) on the daily grid."""
    rng = np.random.default_rng(seed)
    total = len(schedule) * (period_days + washout)
    e = np.zeros(total)
    e[0] = rng.normal(0, sigma / math.sqrt(1 - rho * rho))
    for t in range(1, total):
        e[t] = rho * e[t - 1] + rng.normal(0, sigma)
    obs = []
    day = 0
    for treatment in schedule:
        for j in range(period_days + washout):
            day += 1
            if j >= period_days:
                continue
            if rng.uniform() < skip_prob:
                continue
            mean = level + (effect[treatment] if treatments > 2 else effect * treatment)
            obs.append((treatment, day, round(mean + e[day - 1], 3)))
    return obs


# ------------------------------------------------------------------------------------------
# Hierarchical model
# ------------------------------------------------------------------------------------------

def norm_cdf(z):
    return 0.5 * math.erfc(-z / math.sqrt(2))


def series_reference(patients, tau_scale, mcid):
    d = np.array([p[0] for p in patients])
    s = np.array([p[1] for p in patients])
    j = len(d)

    def log_joint(mu, tau):
        v = s * s + tau * tau
        half_cauchy = math.log(2 / (math.pi * tau_scale)) - math.log1p((tau / tau_scale) ** 2)
        return half_cauchy - 0.5 * (np.log(2 * math.pi * v) + (d - mu) ** 2 / v).sum()

    # Normalise around the maximum of the joint density.
    best = optimize.minimize(lambda z: -log_joint(z[0], math.exp(z[1])),
                             [d.mean(), math.log(tau_scale)], method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    top = -best.fun
    mu_c = best.x[0]
    spread = max(np.abs(d - mu_c).max() + 40 * s.max(), 40 * tau_scale)

    def joint(mu, tau):
        return math.exp(log_joint(mu, tau) - top)

    opts = {"epsabs": 1e-13, "epsrel": 1e-11, "limit": 200}

    def mu_integral(f, tau):
        v = s * s + tau * tau
        w = 1 / v
        m = (w * d).sum() / w.sum()
        sd = math.sqrt(1 / w.sum())
        width = 12 * sd + 1e-300
        return integrate.quad(lambda mu: joint(mu, tau) * f(mu, tau), m - width, m + width,
                              points=[m], **opts)[0]

    def tau_density(tau):
        return mu_integral(lambda mu, t: 1.0, tau)

    def tau_integral(f, upper=np.inf):
        return integrate.quad(f, 0, upper, **opts)[0]

    z = tau_integral(tau_density)
    # mu
    mean = tau_integral(lambda t: mu_integral(lambda mu, tt: mu, t)) / z
    if j >= 3:
        second = tau_integral(lambda t: mu_integral(lambda mu, tt: mu * mu, t)) / z
        sd = math.sqrt(second - mean * mean)
    else:
        sd = None

    def mu_cdf(x):
        return tau_integral(lambda t: mu_below(x, t)) / z

    def mu_below(x, tau):
        """The joint density integrated over mu < x, at tau."""
        v = s * s + tau * tau
        w = 1 / v
        m = (w * d).sum() / w.sum()
        sdm = math.sqrt(1 / w.sum())
        lo = m - 14 * sdm
        if x <= lo:
            return 0.0
        hi = min(x, m + 14 * sdm)
        pts = [m] if lo < m < hi else None
        return integrate.quad(lambda mu: joint(mu, tau), lo, hi, points=pts, **opts)[0]

    mu_sf = lambda x: 1.0 - mu_cdf(x)
    population = {"mean": mean, "sd": sd,
                  "ci95": interval(mu_cdf, mean - 3 * (sd or s.max()), mean + 3 * (sd or s.max()))}
    probs = probabilities(mu_cdf, mu_sf, mcid)
    population["p_positive"] = probs["p_positive"]
    population["p_beyond_mcid"] = probs["p_beyond_mcid_higher"]
    # tau
    tau_mean = tau_integral(lambda t: t * tau_density(t)) / z if j >= 2 else None
    tau_cdf = lambda x: tau_integral(tau_density, x) / z if x > 0 else 0.0

    def tau_q(p):
        hi = tau_scale
        while tau_cdf(hi) < p:
            hi *= 2
        return optimize.brentq(lambda x: tau_cdf(x) - p, 0, hi, xtol=1e-14, rtol=1e-13)

    tau = {"mean": tau_mean, "median": tau_q(0.5), "ci95": [tau_q(0.025), tau_q(0.975)]}
    # theta_i: given (mu, tau), theta_i ~ N((d/s^2 + mu/tau^2)/(1/s^2 + 1/tau^2), 1/(...)).
    shrunken = []
    for i in range(j):
        def cond(mu, tau):
            prec = 1 / s[i] ** 2 + 1 / tau ** 2
            return (d[i] / s[i] ** 2 + mu / tau ** 2) / prec, math.sqrt(1 / prec)

        m1 = tau_integral(lambda t: mu_integral(lambda mu, tt: cond(mu, tt)[0], t)) / z
        m2 = tau_integral(lambda t: mu_integral(
            lambda mu, tt: cond(mu, tt)[1] ** 2 + cond(mu, tt)[0] ** 2, t)) / z
        sdi = math.sqrt(m2 - m1 * m1)
        cdf = lambda x: tau_integral(lambda t: mu_integral(
            lambda mu, tt: norm_cdf((x - cond(mu, tt)[0]) / cond(mu, tt)[1]), t)) / z
        sf = lambda x: tau_integral(lambda t: mu_integral(
            lambda mu, tt: norm_cdf((cond(mu, tt)[0] - x) / cond(mu, tt)[1]), t)) / z
        e = {"mean": m1, "sd": sdi, "ci95": interval(cdf, m1 - 3 * sdi, m1 + 3 * sdi)}
        pr = probabilities(cdf, sf, mcid)
        e["p_positive"] = pr["p_positive"]
        e["p_beyond_mcid"] = pr["p_beyond_mcid_higher"]
        shrunken.append(e)
    # Empirical Bayes: restricted likelihood, mu integrated out under a flat prior.
    def restricted(tau):
        v = s * s + tau * tau
        w = 1 / v
        m = (w * d).sum() / w.sum()
        return (-0.5 * (j - 1) * math.log(2 * math.pi) + 0.5 * math.log(1 / w.sum())
                - 0.5 * np.log(v).sum() - 0.5 * (w * (d - m) ** 2).sum()), m, math.sqrt(1 / w.sum())

    # Check the closed form against integrating mu numerically at two values of tau.
    for t in [0.3 * tau_scale, 2 * tau_scale]:
        v = s * s + t * t
        direct = integrate.quad(lambda mu: math.exp(stats.norm.logpdf(d, mu, np.sqrt(v)).sum()
                                                    - restricted(t)[0]),
                                -np.inf, np.inf, **opts)[0]
        assert abs(direct - 1) < 1e-8, direct
    upper = 10 * (np.abs(d - d.mean()).max() + s.max())
    res = optimize.minimize_scalar(lambda t: -restricted(t)[0], bounds=(0, upper),
                                   method="bounded", options={"xatol": 1e-12})
    tau_hat = res.x
    # Polish: root of the derivative, or the boundary.
    h = 1e-6 * max(tau_hat, 1e-3)
    deriv = lambda t: (restricted(t + h)[0] - restricted(t - h)[0]) / (2 * h)
    if tau_hat > 1e-4 * upper and deriv(0.5 * tau_hat) > 0 > deriv(1.5 * tau_hat):
        tau_hat = optimize.brentq(deriv, 0.5 * tau_hat, 1.5 * tau_hat, xtol=1e-15, rtol=1e-14)
        boundary = False
    else:
        boundary = restricted(0.0)[0] >= restricted(tau_hat)[0]
        if boundary:
            tau_hat = 0.0
    ll, mu_hat, mu_sd = restricted(tau_hat)
    eb = {"mu_hat": mu_hat, "mu_sd": mu_sd, "tau_hat": tau_hat, "log_likelihood": ll,
          "at_boundary": bool(boundary)}
    return {"population": population, "tau": tau, "shrunken": shrunken, "empirical_bayes": eb}


# ------------------------------------------------------------------------------------------

def crossover_iid(seed, means, sd, n_per, order):
    rng = np.random.default_rng(seed)
    obs = []
    day = 0
    for t, n in zip(order, n_per):
        for _ in range(n):
            day += 1
            obs.append((t, day, round(float(rng.normal(means[t], sd)), 3)))
    return obs


def t_cdf_cases():
    mp.mp.dps = 40
    out = []
    for df in [0.5, 3.0, 41.002, 1e5]:
        for z in [-30.0, -2.5, -1e-9, 0.7, 4.0]:
            v, x = mp.mpf(df), mp.mpf(z)
            tail = mp.betainc(v / 2, mp.mpf(1) / 2, 0, v / (v + x * x), regularized=True) / 2
            out.append({"df": df, "z": z, "cdf": float(tail if z < 0 else 1 - tail)})
    return out


def main():
    out = {"generator": "tests/reference/generate_nof1.py", "t_cdf": t_cdf_cases(), "flat": [],
           "nig": [], "ar1": [], "series": []}

    print("flat-prior two-treatment t")
    for name, seed, means, sd, n_per, order, mcid in [
        ("flat-balanced", 11, [3.0, 4.2], 1.1, [7, 7, 7, 7], [0, 1, 1, 0], 0.5),
        ("flat-unequal-n", 12, [10.0, 9.1], 2.0, [4, 9, 3, 5], [1, 0, 1, 0], 1.0),
        ("flat-small", 13, [0.0, 0.8], 0.7, [3, 3], [0, 1], 0.25),
        ("flat-large-offset", 14, [1000.0, 1000.35], 0.4, [12, 12, 12], [0, 1, 0], 0.2),
    ]:
        obs = crossover_iid(seed, means, sd, n_per, order)
        e = flat_two(obs, mcid)
        brute = flat_two_brute(obs)
        print(f"  {name}: P(effect > 0) {e['p_positive']:.12f}, via sigma^2 integral "
              f"{brute:.12f}")
        assert abs(brute - e["p_positive"]) < 1e-9
        out["flat"].append({"name": name, "treatments": 2, "mcid": mcid,
                            "obs": [list(o) for o in obs], "effect": e})

    print("Normal-Inverse-Gamma prior")
    for name, seed, means, sd, n_per, order, k, prior, mcid in [
        ("nig-two", 21, [5.0, 5.9], 1.3, [6, 6, 6, 6], [0, 1, 0, 1], 2, (4.0, 0.5, 2.0, 1.5), 0.4),
        ("nig-two-vague", 22, [-2.0, -2.6], 0.9, [5, 8], [1, 0], 2, (0.0, 1e-6, 1e-3, 1e-3), 0.3),
        ("nig-three", 23, [2.0, 2.5, 1.4], 0.8, [5, 5, 5, 4, 4, 4], [0, 1, 2, 2, 1, 0], 3,
         (2.0, 1.0, 3.0, 2.0), 0.3),
    ]:
        obs = crossover_iid(seed, means, sd, n_per, order)
        effects = nig_effects(obs, k, prior, mcid)
        if k == 2 and prior[1] > 0.01:
            brute = nig_brute_two(obs, prior)
            print(f"  {name}: E[effect] {effects[0]['mean']:.10f}, 3-D integral {brute:.10f}")
            assert abs(brute - effects[0]["mean"]) < 1e-6
        out["nig"].append({"name": name, "treatments": k, "mcid": mcid,
                           "prior": dict(zip(["mu0", "kappa0", "alpha0", "beta0"], prior)),
                           "obs": [list(o) for o in obs], "effects": effects})

    print("AR(1) errors")
    schedule = [0, 1, 1, 0, 0, 1, 1, 0]
    main_obs = simulate_ar(seed=3120, level=5.0, effect=1.0, rho=0.8, sigma=1.0,
                           schedule=schedule, period_days=8, washout=3, skip_prob=0.15)
    small_obs = simulate_ar(seed=77, level=2.0, effect=[0.0, 0.6, -0.4], rho=-0.3, sigma=0.8,
                            schedule=[0, 1, 2, 2, 0, 1], period_days=6, washout=2, skip_prob=0.1,
                            treatments=3)
    for name, obs, k, prior, mcid, with_sm in [
        ("ar1-strong-flat", main_obs, 2, None, 0.5, True),
        ("ar1-strong-vague", main_obs, 2, (0.0, 1e-6, 1e-3, 1e-3), 0.5, False),
        ("ar1-informative", main_obs, 2, (5.0, 0.5, 2.0, 1.0), 0.5, False),
        ("ar1-negative-three", small_obs, 3, (2.0, 0.5, 2.0, 1.0), 0.3, False),
    ]:
        print(f"  {name}: {len(obs)} observations over {obs[-1][1]} days")
        ref = ar_reference(obs, k, prior, mcid)
        case = {"name": name, "treatments": k, "mcid": mcid,
                "prior": None if prior is None else
                dict(zip(["mu0", "kappa0", "alpha0", "beta0"], prior)),
                "obs": [list(o) for o in obs], "exact": ref}
        if with_sm:
            iid = flat_two(obs, mcid)
            case["iid"] = {"mean": iid["mean"], "sd": iid["sd"]}
            case["statsmodels"] = statsmodels_fit(obs)
            print(f"    effect: iid {iid['mean']:.4f} (sd {iid['sd']:.4f}), AR(1) posterior "
                  f"{ref['effects'][0]['mean']:.4f} (sd {ref['effects'][0]['sd']:.4f}), "
                  f"statsmodels {case['statsmodels']['effect']:.4f} "
                  f"(se {case['statsmodels']['se']:.4f}); rho posterior mean "
                  f"{ref['rho_mean']:.4f}, statsmodels {case['statsmodels']['rho']:.4f}")
        out["ar1"].append(case)

    print("hierarchical series")
    for name, patients, tau_scale, mcid in [
        ("series-six", [(1.2, 0.4), (0.3, 0.5), (0.9, 0.35), (-0.2, 0.6), (1.6, 0.45),
                        (0.7, 0.3)], 1.0, 0.3),
        ("series-homogeneous", [(0.50, 0.4), (0.55, 0.5), (0.45, 0.45), (0.52, 0.3),
                                (0.48, 0.6)], 0.5, 0.2),
        ("series-two", [(0.8, 0.3), (0.1, 0.4)], 0.5, 0.25),
    ]:
        ref = series_reference(patients, tau_scale, mcid)
        print(f"  {name}: mu {ref['population']['mean']:.6f} ci {ref['population']['ci95']}, "
              f"tau median {ref['tau']['median']:.6f}, EB tau {ref['empirical_bayes']['tau_hat']:.6g}")
        out["series"].append({"name": name, "tau_scale": tau_scale, "mcid": mcid,
                              "better": "higher",
                              "patients": [{"mean": m, "sd": sd} for m, sd in patients], **ref})

    path = os.path.join(HERE, "nof1_cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=float)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
