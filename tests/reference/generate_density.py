#!/usr/bin/env python3
"""Reference posterior densities for bayestrial's dashboard curves (Marginal::density).

Evaluates, with mpmath at 30 digits and straight from the textbook formulas, the density of
Beta(a, b), Gamma(shape, rate) and the location-scale Student t(df, loc, scale) at a few
points each, and writes tests/reference/density_cases.json.

Usage:  python3 tests/reference/generate_density.py
"""
import json
import os

import mpmath as mp

mp.mp.dps = 30


def beta_pdf(a, b, x):
    a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(x)
    return x ** (a - 1) * (1 - x) ** (b - 1) / mp.beta(a, b)


def gamma_pdf(shape, rate, x):
    k, r, x = mp.mpf(shape), mp.mpf(rate), mp.mpf(x)
    return r ** k * x ** (k - 1) * mp.exp(-r * x) / mp.gamma(k)


def t_pdf(df, loc, scale, x):
    v, m, s, x = mp.mpf(df), mp.mpf(loc), mp.mpf(scale), mp.mpf(x)
    z = (x - m) / s
    c = mp.gamma((v + 1) / 2) / (mp.gamma(v / 2) * mp.sqrt(v * mp.pi) * s)
    return c * (1 + z * z / v) ** (-(v + 1) / 2)


CASES = [
    ("beta", {"a": 1.0, "b": 1.0}, [0.1, 0.5, 0.9]),
    ("beta", {"a": 13.0, "b": 29.0}, [0.05, 0.3, 0.31, 0.6]),
    ("beta", {"a": 0.5, "b": 0.5}, [0.001, 0.5, 0.999]),
    ("beta", {"a": 401.0, "b": 1203.5}, [0.22, 0.25, 0.27]),
    ("gamma", {"shape": 2.0, "rate": 3.0}, [0.01, 0.5, 4.0]),
    ("gamma", {"shape": 57.5, "rate": 120.25}, [0.3, 0.48, 0.7]),
    ("student_t", {"df": 3.0, "loc": -1.5, "scale": 2.0}, [-10.0, -1.5, 0.0, 8.0]),
    ("student_t", {"df": 85.0, "loc": 12.25, "scale": 0.75}, [10.0, 12.25, 13.0]),
]


def main():
    out = []
    for family, params, points in CASES:
        for x in points:
            if family == "beta":
                d = beta_pdf(params["a"], params["b"], x)
            elif family == "gamma":
                d = gamma_pdf(params["shape"], params["rate"], x)
            else:
                d = t_pdf(params["df"], params["loc"], params["scale"], x)
            out.append({"family": family, **params, "x": x, "density": float(d)})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "density_cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
