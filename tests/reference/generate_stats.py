#!/usr/bin/env python3
"""Independent high-precision reference values for bayestrial's posterior statistics.

For a set of named cases, each a list of independent arm posteriors from one family
(Beta(a, b); Gamma(shape, rate); location-scale Student t(df, loc, scale)), this
script computes with mpmath (mp.dps = 30):

  * per-arm summaries: mean, sd, median, q025, q975 (equal-tailed 95% interval);
  * p_best / p_worst: P(arm i is the maximum) / P(arm i is the minimum), assigned
    according to `better` ("higher" or "lower");
  * pairs: p_greater = P(theta_a - theta_b > delta) and, for delta > 0,
    p_within = P(|theta_a - theta_b| < delta);
  * ranges: p_range_below = P(max_i theta_i - min_i theta_i < delta);

and writes them to tests/reference/stats_cases.json next to this file.

CDFs are evaluated from their special-function definitions (regularized incomplete
beta via its continued fraction, regularized incomplete gamma via mpmath.gammainc,
Student t through the incomplete beta).  Quantiles are found by a bracketed Newton
iteration on log(tail probability).  One-dimensional integrals are composite
Gauss-Legendre rules over explicit subintervals whose breakpoints are each arm's
quantiles from 1e-25 to 1 - 1e-25 (plus mean +- k sd, points near singular
boundaries, and the shifted copies needed by the delta integrands).

Self-checks (printed to stdout, never written to the JSON): sum of p_best == 1,
complementary pair identities, closed-form results where they exist, a second
quadrature order, scipy double-precision summaries (if scipy is installed) and a
Monte Carlo cross-check (if numpy is installed).

Usage:  python3 tests/reference/generate_stats.py [--jobs N] [--no-mc]
"""

import argparse
import json
import math
import os
import sys
import time
from multiprocessing import Pool

import mpmath
from mpmath import mp, mpf
from mpmath.libmp import (fone, from_int, from_man_exp, fzero, mpf_add, mpf_div, mpf_mul, mpf_neg,
                          mpf_sub, round_nearest)

DPS = 30
GUARD = 12                      # extra working digits inside special functions
mp.dps = DPS

TAIL_RANGE = mpf("1e-25")       # integration range of an arm: its [q(1e-25), q(1 - 1e-25)]
TAIL_CUT = mpf("1e-30")         # beyond q(1e-30) / q(1 - 1e-30) a CDF is taken as exactly 0 / 1
BETA_MAX_X = 1 - mpf("1e-26")   # x closer to 1 than this is not representable to spare at dps 30
GL_ORDER = 12                   # Gauss-Legendre nodes per subinterval
GL_ORDER_CHECK = 16             # second order used for the quadrature self-check

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "stats_cases.json")

# One-tail probabilities whose quantiles are tabulated for every arm.  They serve as
# integration breakpoints (those in _BP_TAILS) and as cheap upper bounds on F and 1 - F
# used to skip subintervals where an integrand is below PRUNE (all of them).
_BP_TAILS = [mpf(x) for x in ("1e-25", "1e-20", "1e-15", "1e-12", "1e-9", "1e-6", "1e-4", "1e-3",
                              "0.01", "0.05", "0.2")]
_BOUND_TAILS = sorted(set(_BP_TAILS) | {mpf(10) ** -k for k in range(30, 1, -2)} | {mpf("0.5")})
PRUNE = 1e-30

# ---------------------------------------------------------------------------
# special functions
# ---------------------------------------------------------------------------


def _betacf(a, b, x):
    """Continued fraction for the incomplete beta function (modified Lentz, as in
    Numerical Recipes' betacf), evaluated with mpmath's low-level mpf routines at the
    current working precision."""
    prec = mp.prec
    rnd = round_nearest
    A, Bp, X = a._mpf_, b._mpf_, x._mpf_
    qab = mpf_add(A, Bp, prec, rnd)
    qap = mpf_add(A, fone, prec, rnd)
    qam = mpf_sub(A, fone, prec, rnd)
    tiny = from_man_exp(1, -3000)
    lim = -int((DPS + 4) * 3.33)      # stop when |factor - 1| < ~1e-(DPS+4)
    c = fone
    d = mpf_sub(fone, mpf_div(mpf_mul(qab, X, prec, rnd), qap, prec, rnd), prec, rnd)
    if d == fzero:
        d = tiny
    d = mpf_div(fone, d, prec, rnd)
    h = d
    for m in range(1, 10 ** 7):
        M = from_int(m)
        M2 = from_int(2 * m)
        am2 = mpf_add(A, M2, prec, rnd)
        # even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
        aa = mpf_div(mpf_mul(mpf_mul(M, mpf_sub(Bp, M, prec, rnd), prec, rnd), X, prec, rnd),
                     mpf_mul(mpf_add(qam, M2, prec, rnd), am2, prec, rnd), prec, rnd)
        d = mpf_add(fone, mpf_mul(aa, d, prec, rnd), prec, rnd)
        if d == fzero:
            d = tiny
        c = mpf_add(fone, mpf_div(aa, c, prec, rnd), prec, rnd)
        if c == fzero:
            c = tiny
        d = mpf_div(fone, d, prec, rnd)
        h = mpf_mul(h, mpf_mul(d, c, prec, rnd), prec, rnd)
        # odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
        aa = mpf_neg(mpf_div(mpf_mul(mpf_mul(mpf_add(A, M, prec, rnd), mpf_add(qab, M, prec, rnd), prec, rnd),
                                     X, prec, rnd),
                             mpf_mul(am2, mpf_add(qap, M2, prec, rnd), prec, rnd), prec, rnd))
        d = mpf_add(fone, mpf_mul(aa, d, prec, rnd), prec, rnd)
        if d == fzero:
            d = tiny
        c = mpf_add(fone, mpf_div(aa, c, prec, rnd), prec, rnd)
        if c == fzero:
            c = tiny
        d = mpf_div(fone, d, prec, rnd)
        de = mpf_mul(d, c, prec, rnd)
        h = mpf_mul(h, de, prec, rnd)
        e = mpf_sub(de, fone, prec, rnd)
        if e == fzero or e[2] + e[3] < lim:
            return mpf(h)
    raise RuntimeError("incomplete beta continued fraction did not converge")


def ibeta_pair(a, b, x, y, lbeta):
    """(I_x(a, b), 1 - I_x(a, b)) with y = 1 - x given separately; lbeta = log B(a, b).

    The member computed directly by the continued fraction has full relative accuracy.
    """
    if x <= 0:
        return mpf(0), mpf(1)
    if y <= 0:
        return mpf(1), mpf(0)
    with mp.workdps(DPS + GUARD):
        lpre = a * mpmath.log(x) + b * mpmath.log(y) - lbeta
        if x < (a + 1) / (a + b + 2):
            v = mpmath.exp(lpre) * _betacf(a, b, x) / a
            return +v, +(1 - v)
        v = mpmath.exp(lpre) * _betacf(b, a, y) / b
        return +(1 - v), +v


# ---------------------------------------------------------------------------
# arms
# ---------------------------------------------------------------------------


class Arm:
    def __init__(self, family, params):
        self.family = family
        self.params = params
        self._cdf_cache = {}
        self._pdf_cache = {}
        with mp.workdps(DPS + GUARD):
            if family == "beta":
                a, b = mpf(float(params["a"])), mpf(float(params["b"]))
                self.a, self.b = a, b
                self.lbeta = mpmath.loggamma(a) + mpmath.loggamma(b) - mpmath.loggamma(a + b)
                self.mean = a / (a + b)
                self.sd = mpmath.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
                self.spread = self.sd
            elif family == "gamma":
                k, r = mpf(float(params["shape"])), mpf(float(params["rate"]))
                self.k, self.r = k, r
                self.lgk = mpmath.loggamma(k)
                self.mean = k / r
                self.sd = mpmath.sqrt(k) / r
                self.spread = self.sd
            elif family == "student_t":
                nu = mpf(float(params["df"]))
                self.nu = nu
                self.loc = mpf(float(params["loc"]))
                self.scale = mpf(float(params["scale"]))
                self.lbeta = (mpmath.loggamma(mpf(1) / 2) + mpmath.loggamma(nu / 2)
                              - mpmath.loggamma((nu + 1) / 2))
                self.lpdf_const = (mpmath.loggamma((nu + 1) / 2) - mpmath.loggamma(nu / 2)
                                   - mpmath.log(nu * mpmath.pi) / 2 - mpmath.log(self.scale))
                self.mean = self.loc if nu > 1 else None
                self.sd = self.scale * mpmath.sqrt(nu / (nu - 2)) if nu > 2 else None
                self.spread = self.sd if self.sd is not None else self.scale
            else:
                raise ValueError(family)
        # tail points
        self.cut_lo = self.quantile_tail(TAIL_CUT, "lower")
        self.cut_hi = self.quantile_tail(TAIL_CUT, "upper")
        self.q_lower = {t: self.quantile_tail(t, "lower") for t in _BOUND_TAILS}
        self.q_upper = {t: self.quantile_tail(t, "upper") for t in _BOUND_TAILS}
        self.L = self.q_lower[TAIL_RANGE]
        self.U = self.q_upper[TAIL_RANGE]
        # bound tables: F(x) <= p for x <= xs_lo[k]; 1 - F(x) <= t for x >= xs_hi[k]
        self._bl = [(self.q_lower[t], float(t)) for t in _BOUND_TAILS]            # x ascending
        self._bu = [(self.q_upper[t], float(t)) for t in reversed(_BOUND_TAILS)]  # x ascending
        if family == "beta" and self.U > BETA_MAX_X:
            self.U = BETA_MAX_X
        # probability mass outside [L, U], added as end corrections to the integrals
        self.mass_below = self.cdf_sf_raw(self.L)[0]
        self.mass_above = self.cdf_sf_raw(self.U)[1]
        self.breakpoints = self._make_breakpoints()

    # -- raw functions -----------------------------------------------------
    def cdf_sf_raw(self, x):
        if self.family == "beta":
            if x <= 0:
                return mpf(0), mpf(1)
            if x >= 1:
                return mpf(1), mpf(0)
            with mp.workdps(DPS + GUARD):
                y = 1 - x
            return ibeta_pair(self.a, self.b, x, y, self.lbeta)
        if self.family == "gamma":
            if x <= 0:
                return mpf(0), mpf(1)
            with mp.workdps(DPS + GUARD):
                z = self.r * x
                if z < self.k:
                    p = mpmath.gammainc(self.k, 0, z, regularized=True)
                    return +p, +(1 - p)
                q = mpmath.gammainc(self.k, z, mpmath.inf, regularized=True)
                return +(1 - q), +q
        # student t: P(|T| < |z|) = I_{z^2/(nu+z^2)}(1/2, nu/2)
        with mp.workdps(DPS + GUARD):
            z = (x - self.loc) / self.scale
            if z == 0:
                return mpf(1) / 2, mpf(1) / 2
            z2 = z * z
            den = self.nu + z2
            _inner, outer = ibeta_pair(mpf(1) / 2, self.nu / 2, z2 / den, self.nu / den, self.lbeta)
            tail = outer / 2
            if z < 0:
                return +tail, +(1 - tail)
            return +(1 - tail), +tail

    def pdf_raw(self, x):
        with mp.workdps(DPS + GUARD):
            if self.family == "beta":
                if x <= 0 or x >= 1:
                    return mpf(0)
                v = mpmath.exp((self.a - 1) * mpmath.log(x) + (self.b - 1) * mpmath.log1p(-x) - self.lbeta)
            elif self.family == "gamma":
                if x <= 0:
                    return mpf(0)
                v = mpmath.exp(self.k * mpmath.log(self.r) + (self.k - 1) * mpmath.log(x)
                               - self.r * x - self.lgk)
            else:
                z = (x - self.loc) / self.scale
                v = mpmath.exp(self.lpdf_const - (self.nu + 1) / 2 * mpmath.log1p(z * z / self.nu))
        return +v

    # -- cached functions used by the integrals ----------------------------
    def cdf_sf(self, x):
        r = self._cdf_cache.get(x)
        if r is None:
            if x <= self.cut_lo:
                r = (mpf(0), mpf(1))
            elif x >= self.cut_hi:
                r = (mpf(1), mpf(0))
            else:
                r = self.cdf_sf_raw(x)
            self._cdf_cache[x] = r
        return r

    def pdf(self, x):
        r = self._pdf_cache.get(x)
        if r is None:
            r = self.pdf_raw(x)
            self._pdf_cache[x] = r
        return r

    def F_bound(self, x):
        """Cheap upper bound on F(x) (as used by the integrals: 0 below cut_lo)."""
        if x <= self.cut_lo:
            return 0.0
        for xk, p in self._bl:
            if x <= xk:
                return p
        return 1.0

    def S_bound(self, x):
        """Cheap upper bound on 1 - F(x) (as used by the integrals: 0 above cut_hi)."""
        if x >= self.cut_hi:
            return 0.0
        for xk, t in reversed(self._bu):
            if x >= xk:
                return t
        return 1.0

    # -- quantiles -----------------------------------------------------------
    def _x_of_u(self, u):
        if self.family == "beta":
            x = 1 / (1 + mpmath.exp(-u))
            return x, x * (1 - x)
        if self.family == "gamma":
            x = mpmath.exp(u)
            return x, x
        return self.loc + self.scale * mpmath.sinh(u), self.scale * mpmath.cosh(u)

    def _u_of_x(self, x):
        if self.family == "beta":
            return mpmath.log(x / (1 - x))
        if self.family == "gamma":
            return mpmath.log(x)
        return mpmath.asinh((x - self.loc) / self.scale)

    def quantile_tail(self, t, side):
        """x with P(theta < x) = t (side 'lower') or P(theta > x) = t (side 'upper')."""
        t = mpf(t)
        with mp.workdps(DPS + GUARD):
            logt = mpmath.log(t)

            def H(u):
                # increasing in u; returns (h, dh/du)
                x, dx = self._x_of_u(u)
                F, S = self.cdf_sf_raw(x)
                T = F if side == "lower" else S
                if T <= 0:
                    return (mpmath.ninf if side == "lower" else mpmath.inf), None
                g = mpmath.log(T) - logt
                h = g if side == "lower" else -g
                dh = self.pdf_raw(x) * dx / T
                return h, dh

            guess = self.mean if self.mean is not None else self.loc
            if self.family == "student_t":
                guess = self.loc
            u0 = self._u_of_x(guess)
            h0, dh0 = H(u0)
            if h0 == 0:
                return +self._x_of_u(u0)[0]
            step = mpf(1)
            if h0 > 0:
                uhi, ulo = u0, u0 - step
                while True:
                    hl, _ = H(ulo)
                    if hl < 0:
                        break
                    uhi = ulo
                    step *= 2
                    ulo = ulo - step
            else:
                ulo, uhi = u0, u0 + step
                while True:
                    hh, _ = H(uhi)
                    if hh > 0:
                        break
                    ulo = uhi
                    step *= 2
                    uhi = uhi + step
            u = (ulo + uhi) / 2
            tol = mpf(10) ** -(DPS + 2)
            for _ in range(400):
                h, dh = H(u)
                if h == 0:
                    break
                if h < 0:
                    ulo = u
                else:
                    uhi = u
                un = None
                if dh is not None and dh > 0 and mpmath.isfinite(h):
                    un = u - h / dh
                    if not (ulo < un < uhi):
                        un = None
                if un is None:
                    un = (ulo + uhi) / 2
                if abs(un - u) <= tol * (1 + abs(u)):
                    u = un
                    break
                u = un
            return +self._x_of_u(u)[0]

    # -- integration breakpoints -------------------------------------------
    def _make_breakpoints(self):
        pts = {self.L, self.U}
        for t in _BP_TAILS:
            pts.add(self.q_lower[t])
            pts.add(self.q_upper[t])
        pts.add(self.q_lower[mpf(1) / 2])
        centre = self.mean if self.mean is not None else self.loc
        pts.add(centre)
        # Near an end point where the density has an algebraic singularity or branch point
        # (non-integer shape parameter), points in geometric progression (ratio 2) in the
        # distance to that end point, from the arm's range out to its mean, plus fixed points.
        def geometric(start, stop):
            out = []
            d = start
            while d < stop:
                out.append(d)
                d *= 2
            return out

        def irregular(p):
            return p < 5 and p != mpmath.floor(p)

        if self.family == "beta":
            if irregular(self.a):
                pts.update(geometric(self.L, self.mean))
                pts.update(mpf(10) ** -k for k in (4, 8, 12, 16, 20, 24))
            if irregular(self.b):
                pts.update(1 - d for d in geometric(1 - self.U, 1 - self.mean))
                pts.update(1 - mpf(10) ** -k for k in (4, 8, 12, 16, 20, 24))
        if self.family == "gamma" and irregular(self.k):
            pts.update(geometric(self.L, self.mean))
            pts.update(self.mean * mpf(10) ** -k for k in (4, 8, 12, 16, 20, 24))
        if self.family == "student_t":
            # algebraic tails: geometric points in |x - loc| out to the range ends
            far = max(self.loc - self.L, self.U - self.loc)
            for d in geometric(self.scale, far):
                pts.add(self.loc - d)
                pts.add(self.loc + d)
        return sorted(p for p in pts if self.L <= p <= self.U)

    def summary(self):
        return {
            "mean": self.mean,
            "sd": self.sd,
            "median": self.q_lower[mpf(1) / 2],
            "q025": self.quantile_tail(mpf("0.025"), "lower"),
            "q975": self.quantile_tail(mpf("0.025"), "upper"),
        }


# ---------------------------------------------------------------------------
# integrals
# ---------------------------------------------------------------------------

_GL = {}


def gl_nodes(n):
    if n not in _GL:
        _GL[n] = mp.gauss_quadrature(n, "legendre")
    return _GL[n]


def leave_one_out(vals):
    n = len(vals)
    pre = [mpf(1)] * (n + 1)
    for i, v in enumerate(vals):
        pre[i + 1] = pre[i] * v
    suf = [mpf(1)] * (n + 1)
    for i in range(n - 1, -1, -1):
        suf[i] = suf[i + 1] * vals[i]
    return [pre[i] * suf[i + 1] for i in range(n)]


def _loo_float(vals):
    n = len(vals)
    pre = [1.0] * (n + 1)
    for i, v in enumerate(vals):
        pre[i + 1] = pre[i] * v
    suf = [1.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        suf[i] = suf[i + 1] * vals[i]
    return [pre[i] * suf[i + 1] for i in range(n)]


def _subintervals(grid, arms):
    """Yield (u, v, [indices of arms whose integration range contains [u, v]])."""
    for u, v in zip(grid[:-1], grid[1:]):
        if v <= u:
            continue
        act = [i for i, arm in enumerate(arms) if arm.L <= u and v <= arm.U]
        if act:
            yield u, v, act


def _needed(act, bounds):
    """Arms i in act whose leave-one-out product of bounds exceeds PRUNE, and for each arm j
    whether its value is needed by any of them (j itself never enters its own product)."""
    loo = _loo_float(bounds)
    need = [i for i in act if loo[i] > PRUNE]
    return need


def _arms_used(n, *needs):
    used = [False] * n
    for need in needs:
        if len(need) >= 2:
            return [True] * n
        for i in need:
            for j in range(n):
                if j != i:
                    used[j] = True
    return used


_ZERO_PAIR = (mpf(0), mpf(0))
# mass outside [L, U] below this is ignored (it is ~1e-25 unless the range was clipped)
_END_MASS_MIN = 1e-24


def extremes(arms, grid, order):
    """P(arm i is the maximum) and P(arm i is the minimum) for every arm.

    P(max = i) = int f_i(x) prod_{j != i} F_j(x) dx,  P(min = i) = int f_i(x) prod_{j != i} S_j(x) dx.
    Subintervals where the tabulated quantiles show the product is below PRUNE are skipped.
    """
    X, W = gl_nodes(order)
    n = len(arms)
    pmax = [mpf(0)] * n
    pmin = [mpf(0)] * n
    for u, v, act in _subintervals(grid, arms):
        needF = _needed(act, [a.F_bound(v) for a in arms])
        needS = _needed(act, [a.S_bound(u) for a in arms])
        if not needF and not needS:
            continue
        used = _arms_used(n, needF, needS)
        h = (v - u) / 2
        c = (u + v) / 2
        for t, w in zip(X, W):
            x = c + h * t
            cs = [arm.cdf_sf(x) if used[j] else _ZERO_PAIR for j, arm in enumerate(arms)]
            if needF:
                loo_F = leave_one_out([p[0] for p in cs])
                for i in needF:
                    pmax[i] += w * h * arms[i].pdf(x) * loo_F[i]
            if needS:
                loo_S = leave_one_out([p[1] for p in cs])
                for i in needS:
                    pmin[i] += w * h * arms[i].pdf(x) * loo_S[i]
    # mass of arm i outside [L_i, U_i] (only non-negligible where the range was clipped),
    # with the other arms' CDFs frozen at the end point
    for i, arm in enumerate(arms):
        for x, m in ((arm.L, arm.mass_below), (arm.U, arm.mass_above)):
            if m > _END_MASS_MIN:
                cs = [a.cdf_sf(x) for a in arms]
                pmax[i] += m * leave_one_out([p[0] for p in cs])[i]
                pmin[i] += m * leave_one_out([p[1] for p in cs])[i]
    return pmax, pmin


def p_greater(arms, ia, ib, delta, order=GL_ORDER):
    """P(theta_a - theta_b > delta) = int f_a(x) F_b(x - delta) dx."""
    A, B = arms[ia], arms[ib]
    pts = {p for p in A.breakpoints}
    for p in B.breakpoints:
        q = p + delta
        if A.L < q < A.U:
            pts.add(q)
    grid = sorted(pts)
    X, W = gl_nodes(order)
    total = mpf(0)
    for u, v in zip(grid[:-1], grid[1:]):
        if v <= u or B.F_bound(v - delta) <= PRUNE:
            continue
        h = (v - u) / 2
        c = (u + v) / 2
        for t, w in zip(X, W):
            x = c + h * t
            total += w * h * A.pdf(x) * B.cdf_sf(x - delta)[0]
    for x, m in ((A.L, A.mass_below), (A.U, A.mass_above)):
        if m > _END_MASS_MIN:
            total += m * B.cdf_sf(x - delta)[0]
    return total


def range_below(arms, grid, delta, order=GL_ORDER):
    """P(max - min < delta) = sum_i int f_i(x) prod_{j != i} [F_j(x + delta) - F_j(x)] dx."""
    n = len(arms)
    if n == 1:
        return mpf(1) if delta > 0 else mpf(0)
    if delta <= 0:
        return mpf(0)
    pts = set(grid)
    lo = min(a.L for a in arms)
    hi = max(a.U for a in arms)
    for p in grid:
        q = p - delta
        if lo < q < hi:
            pts.add(q)
    g = sorted(pts)
    X, W = gl_nodes(order)
    total = mpf(0)
    for u, v, act in _subintervals(g, arms):
        need = _needed(act, [min(a.F_bound(v + delta), a.S_bound(u)) for a in arms])
        if not need:
            continue
        used = _arms_used(n, need)
        h = (v - u) / 2
        c = (u + v) / 2
        for t, w in zip(X, W):
            x = c + h * t
            xd = x + delta
            diffs = [arm.cdf_sf(xd)[0] - arm.cdf_sf(x)[0] if used[j] else mpf(0)
                     for j, arm in enumerate(arms)]
            loo = leave_one_out(diffs)
            for i in need:
                total += w * h * arms[i].pdf(x) * loo[i]
    for i, arm in enumerate(arms):
        for x, m in ((arm.L, arm.mass_below), (arm.U, arm.mass_above)):
            if m > _END_MASS_MIN:
                loo = leave_one_out([a.cdf_sf(x + delta)[0] - a.cdf_sf(x)[0] for a in arms])
                total += m * loo[i]
    return total


# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------


def B(a, b):
    return {"a": float(a), "b": float(b)}


def G(shape, rate):
    return {"shape": float(shape), "rate": float(rate)}


def T(df, loc, scale):
    return {"df": float(df), "loc": float(loc), "scale": float(scale)}


def default_pairs(n, d):
    if n < 2:
        return []
    pairs = [(0, 1, 0.0), (0, 1, d), (0, 1, -d), (1, 0, d)]
    if n >= 3:
        pairs += [(n - 1, 0, 0.0), (1, 2, d)]
    return pairs


def case(name, family, arms, d, ranges, better="higher", pairs=None):
    return {
        "name": name, "family": family, "better": better, "arms": arms,
        "pairs": pairs if pairs is not None else default_pairs(len(arms), d),
        "ranges": ranges,
    }


CASES = [
    # ---------------- beta ----------------
    case("beta_1arm", "beta", [B(3, 7)], 0.05, [0.1, 0.5]),
    case("beta_2arm_uniform_no_data", "beta", [B(1, 1), B(1, 1)], 0.1, [0.1, 0.5]),
    case("beta_2arm_30_29_vs_41_20", "beta", [B(30, 29), B(41, 20)], 0.05, [0.05, 0.2]),
    case("beta_3arm_29of58_40of59_34of61", "beta", [B(30, 30), B(41, 20), B(35, 28)], 0.05, [0.1, 0.2]),
    case("beta_4arm_1000obs", "beta", [B(201, 801), B(251, 751), B(231, 771), B(301, 701)], 0.02, [0.05, 0.1]),
    case("beta_5arm_mixed_spread", "beta",
         [B(1, 1), B(3, 9), B(60, 140), B(2001, 6001), B(50001, 50001)], 0.05, [0.3, 0.6]),
    case("beta_3arm_0of1000_1000of1000", "beta", [B(1, 1001), B(1001, 1), B(500, 500)], 0.5, [0.997, 0.998],
         pairs=[(0, 1, 0.0), (1, 0, 0.997), (0, 1, -0.997), (0, 1, -0.999), (2, 0, 0.0), (2, 0, 0.497),
                (1, 2, 0.5), (2, 1, -0.5)]),
    case("beta_3arm_jeffreys_boundary", "beta", [B(0.5, 1000.5), B(1.5, 999.5), B(0.5, 0.5)], 0.001, [0.5, 0.9],
         pairs=[(0, 1, 0.0), (0, 1, 0.001), (0, 1, -0.001), (1, 0, 0.001), (2, 0, 0.0), (2, 0, 0.5),
                (2, 1, -0.25)]),
    case("beta_10arm_means_and_sizes", "beta",
         [B(2, 8), B(5, 5), B(13, 27), B(40, 60), B(75, 75), B(150, 350), B(301, 201), B(601, 1401),
          B(1201, 801), B(3001, 2001)], 0.05, [0.3, 0.5],
         pairs=[(0, 1, 0.0), (0, 1, 0.05), (0, 1, -0.05), (6, 9, 0.0), (6, 9, -0.01), (8, 9, 0.0),
                (8, 9, 0.005)]),
    case("beta_20arm_mixed", "beta",
         [B(1, 1), B(2, 3), B(4, 4), B(7, 13), B(11, 9), B(15, 35), B(26, 24), B(40, 60), B(61, 41),
          B(80, 120), B(101, 99), B(151, 251), B(201, 199), B(300, 300), B(401, 601), B(501, 499),
          B(651, 351), B(800, 1200), B(1001, 1001), B(1501, 1001)], 0.05, [0.9],
         pairs=[(0, 1, 0.0), (0, 1, 0.1), (0, 1, -0.1), (13, 18, 0.0), (19, 16, 0.0), (19, 16, -0.02)]),
    case("beta_2arm_100k_close", "beta", [B(50001, 50001), B(50101, 49901)], 0.002, [0.001, 0.003],
         pairs=[(0, 1, 0.0), (0, 1, 0.002), (0, 1, -0.002), (1, 0, 0.002), (1, 0, 0.005)]),
    case("beta_lower_3arm_adverse_events", "beta", [B(5, 95), B(9, 91), B(2, 98)], 0.02, [0.05, 0.1],
         better="lower"),
    case("beta_lower_2arm_jeffreys", "beta", [B(0.5, 100.5), B(3.5, 97.5)], 0.02, [0.02, 0.05],
         better="lower"),
    case("beta_lower_4arm_1000obs", "beta", [B(21, 981), B(31, 971), B(11, 991), B(26, 976)], 0.01,
         [0.01, 0.02], better="lower"),
    # ---------------- gamma ----------------
    case("gamma_2arm_noinfo_vs_unit", "gamma", [G(0.5, 0.01), G(1, 1)], 1.0, [1.0, 10.0],
         pairs=[(0, 1, 0.0), (0, 1, 1.0), (0, 1, -1.0), (1, 0, 1.0), (1, 0, -0.5)]),
    case("gamma_2arm_shape_below_one", "gamma", [G(0.5, 0.5), G(0.8, 0.4)], 0.5, [0.5, 2.0]),
    case("gamma_3arm_moderate", "gamma", [G(31, 10.5), G(25, 10.5), G(40, 12)], 0.25, [0.5, 1.0]),
    case("gamma_4arm_concentrated", "gamma", [G(10001, 1000.5), G(9951, 1000.5), G(1001, 100.5), G(101, 10.5)],
         0.05, [0.3, 1.0]),
    case("gamma_6arm_spreads", "gamma",
         [G(0.5, 0.01), G(1, 1), G(31, 10.5), G(10001, 1000.5), G(3, 1), G(12, 4)], 0.5, [5.0, 50.0]),
    case("gamma_lower_3arm", "gamma", [G(31, 10.5), G(20, 8), G(51, 16)], 0.25, [0.5, 1.0], better="lower"),
    # ---------------- student t ----------------
    case("t_2arm_same_location", "student_t", [T(3, 0, 1), T(3, 0, 2)], 0.5, [0.5, 2.0]),
    case("t_3arm_mixed_scales", "student_t", [T(3, 0, 10), T(100, 1, 0.2), T(1000, 0.5, 0.05)], 0.2,
         [1.0, 10.0],
         pairs=[(0, 1, 0.0), (0, 1, 5.0), (0, 1, -5.0), (1, 2, 0.0), (1, 2, 0.2), (1, 2, -0.2), (2, 1, 0.5)]),
    case("t_2arm_df2_vs_df200000", "student_t", [T(2, 0, 1), T(200000, 0.3, 0.5)], 0.5, [0.5, 3.0]),
    case("t_4arm", "student_t", [T(5, 1, 1), T(30, 1.2, 0.5), T(200, 0.9, 0.3), T(200000, 1.1, 0.1)], 0.25,
         [0.5, 1.5]),
    case("t_6arm_df_range", "student_t",
         [T(2.5, 0, 2), T(7, 0.5, 1), T(20, 0.8, 0.6), T(60, 0.4, 0.3), T(500, 0.6, 0.1), T(5000, 0.55, 0.02)],
         0.3, [1.0, 3.0]),
    case("t_lower_3arm", "student_t", [T(10, 2, 0.5), T(50, 1.5, 0.4), T(4, 1.8, 1.0)], 0.3, [0.5, 1.5],
         better="lower"),
]


# ---------------------------------------------------------------------------
# computation of one case
# ---------------------------------------------------------------------------


def run_case(spec, check_order=True):
    mp.dps = DPS
    t0 = time.time()
    log = []
    arms = [Arm(spec["family"], p) for p in spec["arms"]]
    summaries = [a.summary() for a in arms]
    grid = sorted(set().union(*[set(a.breakpoints) for a in arms]))
    timing = {"setup": time.time() - t0}
    t1 = time.time()
    pmax, pmin = extremes(arms, grid, GL_ORDER)
    timing["extremes"] = time.time() - t1
    t1 = time.time()
    s_max, s_min = sum(pmax), sum(pmin)
    log.append("  sum P(max) - 1 = %.3e   sum P(min) - 1 = %.3e" % (s_max - 1, s_min - 1))
    if check_order:
        pmax2, pmin2 = extremes(arms, grid, GL_ORDER_CHECK)
        dq = max(abs(x - y) for x, y in zip(pmax + pmin, pmax2 + pmin2))
        log.append("  quadrature order %d vs %d: max |diff| = %.3e" % (GL_ORDER, GL_ORDER_CHECK, dq))
    else:
        dq = None
    timing["check"] = time.time() - t1
    t1 = time.time()
    if spec["better"] == "higher":
        p_best, p_worst = pmax, pmin
    else:
        p_best, p_worst = pmin, pmax

    memo = {}

    def pg_memo(ia, ib, d):
        key = (ia, ib, d)
        if key not in memo:
            memo[key] = p_greater(arms, ia, ib, d)
        return memo[key]

    pairs = []
    worst_pair = mpf(0)
    for ia, ib, d in spec["pairs"]:
        dm = mpf(float(d))
        pg = pg_memo(ia, ib, dm)
        # complementary identity: P(b - a > -d) = 1 - P(a - b > d), via a different integrand
        comp = pg_memo(ib, ia, -dm)
        worst_pair = max(worst_pair, abs(pg + comp - 1))
        if d > 0:
            pw = pg_memo(ia, ib, -dm) - pg
        else:
            pw = None
        pairs.append({"a": ia, "b": ib, "delta": float(d), "p_greater": pg, "p_within": pw})
    log.append("  pair complement identity: max |P(a-b>d) + P(b-a>-d) - 1| = %.3e" % worst_pair)
    if len(arms) == 2 and spec["pairs"]:
        ia, ib, d = spec["pairs"][0]
        if d == 0:
            ref = pmax[ia]
            log.append("  P(a>b) pair vs P(max) of 2 arms: %.3e" % abs(pairs[0]["p_greater"] - ref))

    timing["pairs"] = time.time() - t1
    t1 = time.time()
    ranges = []
    for d in spec["ranges"]:
        pr = range_below(arms, grid, mpf(float(d)))
        ranges.append({"delta": float(d), "p_range_below": pr})
        if len(arms) == 2:
            alt = pg_memo(0, 1, -mpf(float(d))) - pg_memo(0, 1, mpf(float(d)))
            log.append("  range(%g) vs P(|a-b|<d) for 2 arms: %.3e" % (d, abs(pr - alt)))

    timing["ranges"] = time.time() - t1
    log.append("  time: " + ", ".join("%s %.1fs" % kv for kv in timing.items()))
    out = {
        "name": spec["name"], "family": spec["family"], "better": spec["better"],
        "arms": spec["arms"], "summaries": summaries, "p_best": p_best, "p_worst": p_worst,
        "pairs": pairs, "ranges": ranges,
    }
    checks = {"sum_best": abs(sum(p_best) - 1), "sum_worst": abs(sum(p_worst) - 1),
              "pair": worst_pair, "order": dq}
    elapsed = time.time() - t0
    log.insert(0, "%s (%d arms, %.1fs, grid %d points)" % (spec["name"], len(arms), elapsed, len(grid)))
    return out, checks, log


# ---------------------------------------------------------------------------
# closed forms, scipy and Monte Carlo cross-checks (stdout only)
# ---------------------------------------------------------------------------


def closed_form_checks(results):
    msgs = []
    worst = 0.0
    by_name = {r["name"]: r for r in results}
    r = by_name.get("beta_2arm_uniform_no_data")
    if r:
        for p in r["pairs"]:
            d = p["delta"]
            exact = (1 - d) ** 2 / 2 if d >= 0 else 1 - (1 + d) ** 2 / 2
            worst = max(worst, abs(float(p["p_greater"]) - exact))
            if p["p_within"] is not None:
                worst = max(worst, abs(float(p["p_within"]) - (1 - (1 - d) ** 2)))
        for q in r["ranges"]:
            worst = max(worst, abs(float(q["p_range_below"]) - (1 - (1 - q["delta"]) ** 2)))
        worst = max(worst, abs(float(r["p_best"][0]) - 0.5))
    r = by_name.get("t_2arm_same_location")
    if r:
        worst = max(worst, abs(float(r["p_best"][0]) - 0.5), abs(float(r["pairs"][0]["p_greater"]) - 0.5))
    r = by_name.get("beta_1arm")
    if r:
        worst = max(worst, abs(float(r["p_best"][0]) - 1.0))
    msgs.append("closed-form checks (uniform pair/range, symmetric t, single arm): max |diff| = %.3e" % worst)
    return msgs, worst


def scipy_checks(results):
    try:
        from scipy import stats
    except ImportError:
        return ["scipy not installed: skipping double-precision summary comparison"], None
    worst = 0.0
    worst_at = ""
    for r in results:
        for arm, s in zip(r["arms"], r["summaries"]):
            if r["family"] == "beta":
                dist = stats.beta(arm["a"], arm["b"])
            elif r["family"] == "gamma":
                dist = stats.gamma(arm["shape"], scale=1 / arm["rate"])
            else:
                dist = stats.t(arm["df"], loc=arm["loc"], scale=arm["scale"])
            ref = {"mean": dist.mean(), "sd": dist.std(), "median": dist.median(),
                   "q025": dist.ppf(0.025), "q975": dist.ppf(0.975)}
            for k, v in ref.items():
                if s[k] is None:
                    continue
                e = abs(float(s[k]) - v) / max(1.0, abs(v))
                if e > worst:
                    worst, worst_at = e, "%s %s %s" % (r["name"], arm, k)
    return ["scipy summaries: max relative diff = %.3e (%s)" % (worst, worst_at)], worst


def scipy_quad_checks(results):
    """Double-precision recomputation of P(max)/P(min) and p_greater with scipy.integrate.quad
    (cases with at most 6 arms)."""
    try:
        import warnings
        import numpy as np
        from scipy import integrate, stats
    except ImportError:
        return ["scipy not installed: skipping double-precision quadrature comparison"], None
    warnings.simplefilter("ignore")
    worst, worst_at = 0.0, ""
    for r in results:
        if len(r["arms"]) > 6:
            continue
        dists = []
        for arm in r["arms"]:
            if r["family"] == "beta":
                dists.append(stats.beta(arm["a"], arm["b"]))
            elif r["family"] == "gamma":
                dists.append(stats.gamma(arm["shape"], scale=1 / arm["rate"]))
            else:
                dists.append(stats.t(arm["df"], loc=arm["loc"], scale=arm["scale"]))
        probs = [1e-14, 1e-10, 1e-6, 1e-3, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999, 1 - 1e-6, 1 - 1e-10]

        def integrate_over(i, fn, shift=0.0):
            d = dists[i]
            lo, hi = d.ppf(1e-15), d.isf(1e-15)
            if r["family"] == "beta":
                lo, hi = max(lo, 1e-300), min(hi, np.nextafter(1.0, 0.0))
            pts = set(d.ppf(probs))
            for e in dists:
                pts.update(e.ppf(probs) + shift)
            pts = sorted(p for p in pts if lo < p < hi)
            edges = [lo] + pts + [hi]
            tot = 0.0
            for u, v in zip(edges[:-1], edges[1:]):
                tot += integrate.quad(fn, u, v, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
            return tot

        n = len(dists)
        pmax = [integrate_over(i, lambda x, i=i: dists[i].pdf(x) * np.prod(
            [dists[j].cdf(x) for j in range(n) if j != i])) for i in range(n)]
        pmin = [integrate_over(i, lambda x, i=i: dists[i].pdf(x) * np.prod(
            [dists[j].sf(x) for j in range(n) if j != i])) for i in range(n)]
        best, worst_ = (pmax, pmin) if r["better"] == "higher" else (pmin, pmax)
        for k in range(n):
            for lab, mine, ref in (("p_best", r["p_best"][k], best[k]), ("p_worst", r["p_worst"][k], worst_[k])):
                e = abs(float(mine) - ref)
                if e > worst:
                    worst, worst_at = e, "%s %s[%d]" % (r["name"], lab, k)
        for p in r["pairs"]:
            ia, ib, d = p["a"], p["b"], p["delta"]
            ref = integrate_over(ia, lambda x: dists[ia].pdf(x) * dists[ib].cdf(x - d), shift=d)
            e = abs(float(p["p_greater"]) - ref)
            if e > worst:
                worst, worst_at = e, "%s pair %d,%d,%g" % (r["name"], ia, ib, d)
    return ["scipy double-precision quadrature (cases with <= 6 arms): max |diff| = %.3e (%s)"
            % (worst, worst_at)], worst


def mc_check(results, draws=1_000_000, seed=20240611):
    try:
        import numpy as np
    except ImportError:
        return ["numpy not installed: skipping Monte Carlo cross-check"], None, None
    rng = np.random.default_rng(seed)
    msgs = []
    worst_abs, worst_z = 0.0, 0.0
    chunk = 250_000
    for r in results:
        n = len(r["arms"])
        cnt_max = np.zeros(n)
        cnt_min = np.zeros(n)
        cnt_pair = np.zeros(len(r["pairs"]))
        cnt_within = np.zeros(len(r["pairs"]))
        cnt_range = np.zeros(len(r["ranges"]))
        done = 0
        while done < draws:
            m = min(chunk, draws - done)
            cols = []
            for arm in r["arms"]:
                if r["family"] == "beta":
                    cols.append(rng.beta(arm["a"], arm["b"], m))
                elif r["family"] == "gamma":
                    cols.append(rng.gamma(arm["shape"], 1 / arm["rate"], m))
                else:
                    cols.append(arm["loc"] + arm["scale"] * rng.standard_t(arm["df"], m))
            X = np.vstack(cols)
            cnt_max += np.bincount(X.argmax(axis=0), minlength=n)
            cnt_min += np.bincount(X.argmin(axis=0), minlength=n)
            for k, p in enumerate(r["pairs"]):
                diff = X[p["a"]] - X[p["b"]]
                cnt_pair[k] += np.count_nonzero(diff > p["delta"])
                cnt_within[k] += np.count_nonzero(np.abs(diff) < p["delta"])
            rng_ = X.max(axis=0) - X.min(axis=0)
            for k, q in enumerate(r["ranges"]):
                cnt_range[k] += np.count_nonzero(rng_ < q["delta"])
            done += m
        est, ref = [], []
        if r["better"] == "higher":
            est += list(cnt_max / draws) + list(cnt_min / draws)
        else:
            est += list(cnt_min / draws) + list(cnt_max / draws)
        ref += [float(v) for v in r["p_best"]] + [float(v) for v in r["p_worst"]]
        for k, p in enumerate(r["pairs"]):
            est.append(cnt_pair[k] / draws)
            ref.append(float(p["p_greater"]))
            if p["p_within"] is not None:
                est.append(cnt_within[k] / draws)
                ref.append(float(p["p_within"]))
        for k, q in enumerate(r["ranges"]):
            est.append(cnt_range[k] / draws)
            ref.append(float(q["p_range_below"]))
        case_abs, case_z = 0.0, 0.0
        for e, v in zip(est, ref):
            # binomial standard error, floored at one count so tiny probabilities do not inflate z
            se = math.sqrt(max(v * (1 - v), 1.0 / draws) / draws)
            case_abs = max(case_abs, abs(e - v))
            case_z = max(case_z, abs(e - v) / se)
        worst_abs, worst_z = max(worst_abs, case_abs), max(worst_z, case_z)
        msgs.append("  MC %-34s max |diff| = %.2e  max |z| = %.2f" % (r["name"], case_abs, case_z))
    msgs.append("Monte Carlo (%d draws/case): max |diff| = %.2e, max |z| = %.2f" % (draws, worst_abs, worst_z))
    return msgs, worst_abs, worst_z


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------


def fnum(v):
    """Computed value -> JSON number with 17 significant digits (or null)."""
    if v is None:
        return "null"
    f = float(v)
    if not math.isfinite(f):
        return "null"
    s = "%.17g" % f
    if not any(ch in s for ch in ".eEn"):
        s += ".0"
    return s


def inum(v):
    """Input value (parameter, delta) -> shortest exact JSON float."""
    s = repr(float(v))
    if not any(ch in s for ch in ".eEn"):
        s += ".0"
    return s


def render(results):
    L = []
    L.append("{")
    L.append(' "generator": "tests/reference/generate_stats.py", "mpmath_dps": %d,' % DPS)
    L.append(' "cases": [')
    for ci, r in enumerate(results):
        L.append("  {")
        L.append('   "name": %s, "family": %s, "better": %s,'
                 % (json.dumps(r["name"]), json.dumps(r["family"]), json.dumps(r["better"])))
        arms = ", ".join("{" + ", ".join("%s: %s" % (json.dumps(k), inum(v)) for k, v in a.items()) + "}"
                         for a in r["arms"])
        L.append('   "arms": [%s],' % arms)
        L.append('   "summaries": [')
        for si, s in enumerate(r["summaries"]):
            L.append('    {"mean": %s, "sd": %s, "median": %s, "q025": %s, "q975": %s}%s'
                     % (fnum(s["mean"]), fnum(s["sd"]), fnum(s["median"]), fnum(s["q025"]), fnum(s["q975"]),
                        "," if si + 1 < len(r["summaries"]) else ""))
        L.append("   ],")
        L.append('   "p_best": [%s],' % ", ".join(fnum(v) for v in r["p_best"]))
        L.append('   "p_worst": [%s],' % ", ".join(fnum(v) for v in r["p_worst"]))
        L.append('   "pairs": [')
        for pi, p in enumerate(r["pairs"]):
            L.append('    {"a": %d, "b": %d, "delta": %s, "p_greater": %s, "p_within": %s}%s'
                     % (p["a"], p["b"], inum(p["delta"]), fnum(p["p_greater"]), fnum(p["p_within"]),
                        "," if pi + 1 < len(r["pairs"]) else ""))
        L.append("   ],")
        L.append('   "ranges": [%s]' % ", ".join('{"delta": %s, "p_range_below": %s}'
                                                  % (inum(q["delta"]), fnum(q["p_range_below"]))
                                                  for q in r["ranges"]))
        L.append("  }" + ("," if ci + 1 < len(results) else ""))
    L.append(" ]")
    L.append("}")
    text = "\n".join(L) + "\n"
    json.loads(text)  # must be valid JSON
    return text


def _worker(spec):
    return run_case(spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel worker processes")
    ap.add_argument("--no-mc", action="store_true", help="skip the Monte Carlo cross-check")
    ap.add_argument("--only", default=None, help="comma-separated case names (for debugging; no JSON written)")
    ap.add_argument("--out", default=OUT_PATH)
    args = ap.parse_args()

    specs = CASES
    if args.only:
        wanted = set(args.only.split(","))
        specs = [c for c in CASES if c["name"] in wanted]
    names = [c["name"] for c in specs]
    assert len(set(names)) == len(names), "duplicate case names"

    t0 = time.time()
    # biggest cases first so the pool stays busy
    order = sorted(range(len(specs)), key=lambda i: -len(specs[i]["arms"]))
    if args.jobs > 1:
        with Pool(args.jobs) as pool:
            outs = pool.map(_worker, [specs[i] for i in order], chunksize=1)
    else:
        outs = [_worker(specs[i]) for i in order]
    res = [None] * len(specs)
    for i, o in zip(order, outs):
        res[i] = o
    results = [o[0] for o in res]
    for _, _, log in res:
        print("\n".join(log))
    worst_sum = max(max(c["sum_best"], c["sum_worst"]) for _, c, _ in res)
    worst_pair = max(c["pair"] for _, c, _ in res)
    worst_order = max((c["order"] for _, c, _ in res if c["order"] is not None), default=None)
    print("max |sum(p_best) - 1|, |sum(p_worst) - 1| over cases: %.3e" % worst_sum)
    print("max pair complement identity error: %.3e" % worst_pair)
    if worst_order is not None:
        print("max quadrature order difference (P(max), P(min)): %.3e" % worst_order)
    for m in closed_form_checks(results)[0]:
        print(m)
    for m in scipy_checks(results)[0]:
        print(m)
    for m in scipy_quad_checks(results)[0]:
        print(m)
    if not args.no_mc:
        for m in mc_check(results)[0]:
            print(m)
    if worst_sum > 1e-10:
        print("ERROR: p_best does not sum to 1 within 1e-10", file=sys.stderr)
        sys.exit(1)
    if args.only is None:
        with open(args.out, "w") as fh:
            fh.write(render(results))
        print("wrote %s (%d cases) in %.1fs" % (os.path.relpath(args.out), len(results), time.time() - t0))
    else:
        print(render(results)[:3000])
        print("elapsed %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
