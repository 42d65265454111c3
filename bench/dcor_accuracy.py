"""Accuracy of the univariate distance correlation: featcorr (compiled and torch paths) and dcor vs long double.

Run ``nice .venv/bin/python bench/dcor_accuracy.py [--n 20000] [--n-large 1000000]`` (peer: the
``anchors`` extra). Not a timing run; the O(n^2) reference takes minutes at n = 2e4.

- Data as ``tests/anchors/test_dependence_anchors.py``: X (n, 4) ~ N(5, 1) with column 1
  ReLU'd (ties at 0), y = x0 + x1^2 + 0.5 N(0, 1); columns 0 and 1 depend on y strongly,
  columns 2 and 3 not at all (dCor ~ 1/sqrt(n): the hardest case, dCov^2 cancels ~n-fold).
- Reference: S1 = sum_ij |x_i - x_j||y_i - y_j|, S2 = sum_i a_i. b_i., S3 = a.. b.. from the
  explicit distance matrices in ``np.longdouble`` (80-bit on x86), data centred in long double,
  then dCor (V-statistic, root) and bias-corrected dCor^2 in long double.
- Printed: relative error of dCor from featcorr's compiled path, its torch path and
  ``dcor.distance_correlation`` / ``u_distance_correlation_sqr``; the relative error of each of
  the compiled path's float64 sums; and, at ``--n-large``, the largest |featcorr - dcor| on the
  ``bench/select_dependence.py`` pair.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from featcorr.measures._dcor import dcor_from_terms, dcor_terms_univariate

LD = np.longdouble


def ref_terms(x, y, block=400):
    """(S1, S2, S3) of (x, y), (x, x), (y, y) in long double from explicit distance-matrix blocks."""
    n = len(x)
    xl, yl = x.astype(LD), y.astype(LD)
    xl, yl = xl - xl.mean(), yl - yl.mean()
    s1 = s1x = s1y = LD(0)
    a, b = np.zeros(n, LD), np.zeros(n, LD)
    for s in range(0, n, block):
        A = np.abs(xl[s : s + block, None] - xl[None, :])
        B = np.abs(yl[s : s + block, None] - yl[None, :])
        s1 += (A * B).sum()
        s1x += (A * A).sum()
        s1y += (B * B).sum()
        a[s : s + block], b[s : s + block] = A.sum(1), B.sum(1)
    return ((s1, (a * b).sum(), a.sum() * b.sum()), (s1x, (a * a).sum(), a.sum() ** 2),
            (s1y, (b * b).sum(), b.sum() ** 2))


def cov2(t, n, unbiased):
    S1, S2, S3 = (LD(v) for v in t)
    n = LD(n)
    if unbiased:
        return S1 / (n * (n - 3)) - 2 * S2 / (n * (n - 2) * (n - 3)) + S3 / (n * (n - 1) * (n - 2) * (n - 3))
    return S1 / n**2 - 2 * S2 / n**3 + S3 / n**4


def dcor_ld(terms, n, unbiased):
    xy, xx, yy = terms
    c = cov2(xy, n, unbiased) / np.sqrt(abs(cov2(xx, n, unbiased) * cov2(yy, n, unbiased)))
    return c if unbiased else np.sqrt(c)


def main():
    import dcor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--n-large", type=int, default=10**6)
    args = ap.parse_args()
    n = args.n
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)) + 5.0
    X[:, 1] = np.maximum(X[:, 1] - 5.0, 0.0)
    y = X[:, 0] + X[:, 1] ** 2 + 0.5 * rng.normal(size=n)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    tc = dcor_terms_univariate(Xt, yt, backend="compiled")
    tt = dcor_terms_univariate(Xt, yt, backend="torch")
    print(f"## n = {n}: relative error vs long-double O(n^2)\n")
    print("| column | estimator | reference | compiled | torch | dcor 0.7 | compiled S1, S2, S3 (xy) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for j in range(4):
        ref = ref_terms(X[:, j], y)
        terms_err = ", ".join(f"{float(abs(LD(float(tc['xy'][i][j])) - ref[0][i]) / ref[0][i]):.0e}" for i in range(3))
        for unbiased in (False, True):
            r = dcor_ld(ref, n, unbiased)
            got_c = float(dcor_from_terms(tc, n, unbiased=unbiased)[j])
            got_t = float(dcor_from_terms(tt, n, unbiased=unbiased)[j])
            peer = (dcor.u_distance_correlation_sqr if unbiased else dcor.distance_correlation)(X[:, j], y)
            err = [f"{float(abs(LD(v) - r) / abs(r)):.1e}" for v in (got_c, got_t, float(peer))]
            name = "bias-corrected dCor^2" if unbiased else "dCor"
            print(f"| {j} | {name} | {float(r):.3e} | {' | '.join(err)} | {terms_err} |", flush=True)
    m = args.n_large
    rng = np.random.default_rng(0)
    x = rng.normal(size=m) + 3.0
    yl = x + 0.5 * x**2 + rng.normal(size=m)
    tl = dcor_terms_univariate(torch.from_numpy(x[:, None]), torch.from_numpy(yl))
    for unbiased in (False, True):
        got = float(dcor_from_terms(tl, m, unbiased=unbiased)[0])
        peer = float((dcor.u_distance_correlation_sqr if unbiased else dcor.distance_correlation)(x, yl))
        print(f"\nn = {m:.0e} pair ({'bias-corrected dCor^2' if unbiased else 'dCor'}): featcorr {got:.15f}, "
              f"dcor {peer:.15f}, |diff| {abs(got - peer):.1e}, relative {abs(got - peer) / abs(peer):.1e}")


if __name__ == "__main__":
    main()
