"""Compiled (numba) kernels of the O(n log n) univariate distance covariance.

Imported lazily by :mod:`featcorr.measures._dcor_compiled` (importing numba
costs ~0.2 s; compiled code is cached on disk next to this file). Every
kernel is ``nogil`` so that features can run in parallel Python threads, and
``fastmath=False`` so that the error-free transformations below keep their
meaning.

For a univariate pair (x, y) with distance matrices a_ij = |x_i - x_j|,
b_ij = |y_i - y_j| and row sums a_i., b_i., a distance covariance is built from
S1 = sum_ij a_ij b_ij, S2 = sum_i a_i. b_i. and S3 = a.. b.. (Szekely, Rizzo &
Bakirov 2007; Huo & Szekely 2016). With elements in x order,

    S1 = T - 4 D,  T = sum_ij (x_i - x_j)(y_i - y_j) = 2 n sum x y - 2 sum x sum y,

and D the sum of (x_k - x_i)(y_k - y_i) over the discordant pairs (i before k
in x order, y_i above y_k). :func:`discordant_sum` finds D by a top-down radix
partition of the y ranks: at the level of bit ``lev``, every group of
2^(lev+1) consecutive ranks splits into a lower and an upper half; a lower
element is discordant with every upper element before it in x order, whose
count and sums of x, y and xy run along. The stable partition arranges the
next level, so each level is one sequential pass with no data-dependent
branch, and the groups are fixed by the ranks (they are a permutation).

Accuracy: the running partner sums are plain float64, every longer sum is
compensated (Knuth's TwoSum; per-chunk partial sums are flushed into a
compensated total every :data:`CHUNK` elements), so S1, S2 and S3 carry about
one rounding error each.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["CHUNK", "target_records", "pair_sums", "discordant_sum"]

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

#: Elements summed plainly before a flush into a compensated total.
CHUNK = 256


@numba.njit(**_JIT)
def _add(s, c, v):
    """Knuth's TwoSum: add v to the compensated sum (s, c) without a branch; returns the new (s, c)."""
    t = s + v
    bp = t - s
    c += (s - (t - bp)) + (v - bp)
    return t, c


@numba.njit(**_JIT)
def target_records(y, order):
    """Per-sample records of a univariate target, and its self sums.

    Parameters
    ----------
    y : ndarray of shape (n,), float64
        Target values, centred (so that the sums stay small), sample order.
    order : ndarray of shape (n,), int64
        A permutation sorting y ascending.

    Returns
    -------
    rec : ndarray of shape (n, 4), float64
        Per sample (sample order): [y_i, b_i. = sum_j |y_i - y_j|, rank of y_i (0..n-1, distinct), 0].
        The row sums in sorted order are (2k - n) y_(k) + S - 2 P_k, with S the total and P_k the
        exclusive prefix sum (both compensated).
    out : ndarray of shape (3,), float64
        [sum_ij (y_i - y_j)^2 (S1 of y with itself), sum_i b_i.^2 (S2), sum_i b_i. (S3 = its square)].

    Notes
    -----
    Tested against explicit distance matrices in ``tests/measures/test_dcor_compiled.py``.
    """
    n = y.shape[0]
    tot, tot_c, sq, sq_c = 0.0, 0.0, 0.0, 0.0
    for k0 in range(0, n, CHUNK):
        t1, t2 = 0.0, 0.0
        for k in range(k0, min(k0 + CHUNK, n)):
            t1 += y[k]
            t2 += y[k] * y[k]
        tot, tot_c = _add(tot, tot_c, t1)
        sq, sq_c = _add(sq, sq_c, t2)
    S = tot + tot_c
    rec = np.empty((n, 4))
    p, p_c, r1, r1_c, r2, r2_c = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for k0 in range(0, n, CHUNK):
        u1, u2 = 0.0, 0.0
        for k in range(k0, min(k0 + CHUNK, n)):
            i = order[k]
            v = y[i]
            d = (2.0 * k - n) * v + (S - 2.0 * (p + p_c))
            p, p_c = _add(p, p_c, v)
            rec[i, 0] = v
            rec[i, 1] = d
            rec[i, 2] = k
            rec[i, 3] = 0.0
            u1 += d
            u2 += d * d
        r1, r1_c = _add(r1, r1_c, u1)
        r2, r2_c = _add(r2, r2_c, u2)
    out = np.empty(3)
    out[0] = 2.0 * n * (sq + sq_c) - 2.0 * S * S
    out[1] = r2 + r2_c
    out[2] = r1 + r1_c
    return rec, out


@numba.njit(**_JIT)
def _level(sk, sv, dk, dv, lev, write):
    """One partition level: D over the cross pairs of each group of 2^(lev+1) ranks; (sum, compensation)."""
    n = sk.shape[0]
    half = 1 << lev
    size = half << 1
    D, D_c = 0.0, 0.0
    for g0 in range(0, n, size):
        g1 = min(g0 + size, n)
        if g0 + half >= g1:  # the last group has no upper half: nothing to count, keep the arrangement
            if write:
                for t in range(g0, g1):
                    dk[t] = sk[t]
                    dv[t, 0] = sv[t, 0]
                    dv[t, 1] = sv[t, 1]
            continue
        c0 = g0
        c1 = g0 + half
        cnt, sx, sy, sxy = 0.0, 0.0, 0.0, 0.0  # upper elements so far
        for t0 in range(g0, g1, CHUNK):
            d = 0.0
            for t in range(t0, min(t0 + CHUNK, g1)):
                r = sk[t]
                x = sv[t, 0]
                y = sv[t, 1]
                bit = (r >> lev) & 1
                f = float(bit)
                xy = x * y
                # a lower element (f = 0) pairs with every upper one before it
                d += (1.0 - f) * (cnt * xy - x * sy - y * sx + sxy)
                cnt += f
                sx += f * x
                sy += f * y
                sxy += f * xy
                if write:
                    dst = c0 ^ ((c0 ^ c1) & (-bit))  # c1 if bit else c0, without a branch
                    dk[dst] = r
                    dv[dst, 0] = x
                    dv[dst, 1] = y
                    c0 += 1 - bit
                    c1 += bit
            D, D_c = _add(D, D_c, d)
    return D, D_c


@numba.njit(**_JIT)
def discordant_sum(keys, xy):
    """Sum of (x_k - x_i)(y_k - y_i) over the pairs i < k with keys[i] > keys[k].

    Parameters
    ----------
    keys : ndarray of shape (n,), int32
        A permutation of 0..n-1 (the y ranks in x order). Overwritten.
    xy : ndarray of shape (n, 2), float64
        x and y in the same order. Overwritten.

    Returns
    -------
    (float, float)
        The sum as an unevaluated pair (value, compensation).

    Notes
    -----
    O(n log n): ceil(log2 n) sequential passes (see the module docstring). Tested against the
    O(n^2) pair loop in ``tests/measures/test_dcor_compiled.py``.
    """
    n = keys.shape[0]
    if n < 2:
        return 0.0, 0.0
    L = 0
    while (1 << L) < n:
        L += 1
    k2 = np.empty_like(keys)
    v2 = np.empty_like(xy)
    D, D_c = 0.0, 0.0
    for lev in range(L - 1, -1, -1):
        d, d_c = _level(keys, xy, k2, v2, lev, lev > 0)
        D, D_c = _add(D, D_c, d)
        D_c += d_c
        keys, k2 = k2, keys
        xy, v2 = v2, xy
    return D, D_c


@numba.njit(**_JIT)
def pair_sums(x, order, yrec):
    """S1 and S2 of one univariate pair, and the self sums of x, in O(n log n).

    Parameters
    ----------
    x : ndarray of shape (n,), float64
        Feature values (centred), sample order.
    order : ndarray of shape (n,), int64
        A permutation sorting x ascending (any order among ties: tied x add 0).
    yrec : ndarray of shape (n, 4), float64
        Per sample: target value y (centred); its row sum b_i. = sum_j |y_i - y_j|; its rank
        0..n-1 (distinct, any order among ties: tied y add 0); unused. One record per cache
        line half, so that the gather in x order costs one miss per sample.

    Returns
    -------
    out : ndarray of shape (5,), float64
        [S1 = sum_ij |x_i - x_j||y_i - y_j|, S2 = sum_i a_i. b_i.,
        sum_ij (x_i - x_j)^2, sum_i a_i.^2, sum_i a_i.].

    Notes
    -----
    Row sums a_k. = (2k - n) x_(k) + S - 2 P_k in x order (Huo & Szekely 2016); S1 = T - 4 D
    with D from :func:`discordant_sum`. Translation invariant (pass centred data to keep the
    sums small). Tested against explicit distance matrices (n = 2..129, ties) and the torch
    path in ``tests/measures/test_dcor_compiled.py``.
    """
    n = x.shape[0]
    tot, tot_c, sq, sq_c = 0.0, 0.0, 0.0, 0.0
    for k0 in range(0, n, CHUNK):  # sums over x need no order
        t1, t2 = 0.0, 0.0
        for k in range(k0, min(k0 + CHUNK, n)):
            t1 += x[k]
            t2 += x[k] * x[k]
        tot, tot_c = _add(tot, tot_c, t1)
        sq, sq_c = _add(sq, sq_c, t2)
    S = tot + tot_c
    keys = np.empty(n, dtype=np.int32)
    xy = np.empty((n, 2))
    p, p_c = 0.0, 0.0
    sy, sy_c, sxy, sxy_c = 0.0, 0.0, 0.0, 0.0
    s2, s2_c, a1, a1_c, a2, a2_c = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for k0 in range(0, n, CHUNK):  # one pass in x order: gather, row sums a_k., their sums
        u_y, u_xy, u_s2, u_a1, u_a2 = 0.0, 0.0, 0.0, 0.0, 0.0
        for k in range(k0, min(k0 + CHUNK, n)):
            i = order[k]
            xv = x[i]
            yv = yrec[i, 0]
            bv = yrec[i, 1]
            keys[k] = np.int32(yrec[i, 2])
            xy[k, 0] = xv
            xy[k, 1] = yv
            a = (2.0 * k - n) * xv + (S - 2.0 * (p + p_c))  # a_k. from the (compensated) sorted prefix
            p, p_c = _add(p, p_c, xv)
            u_y += yv
            u_xy += xv * yv
            u_s2 += a * bv
            u_a1 += a
            u_a2 += a * a
        sy, sy_c = _add(sy, sy_c, u_y)
        sxy, sxy_c = _add(sxy, sxy_c, u_xy)
        s2, s2_c = _add(s2, s2_c, u_s2)
        a1, a1_c = _add(a1, a1_c, u_a1)
        a2, a2_c = _add(a2, a2_c, u_a2)
    D, D_c = discordant_sum(keys, xy)
    # T = 2 n sum xy - 2 sum x sum y; S1 = T - 4 D
    T, T_c = _add(0.0, 0.0, 2.0 * n * sxy)
    T, T_c = _add(T, T_c, 2.0 * n * sxy_c)
    T, T_c = _add(T, T_c, -2.0 * S * (sy + sy_c))
    S1, S1_c = _add(T, T_c, -4.0 * D)
    out = np.empty(5)
    out[0] = S1 + (S1_c - 4.0 * D_c)
    out[1] = s2 + s2_c
    out[2] = 2.0 * n * (sq + sq_c) - 2.0 * S * S
    out[3] = a2 + a2_c
    out[4] = a1 + a1_c
    return out
