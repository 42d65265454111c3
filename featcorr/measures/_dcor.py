"""Distance correlation of every feature with a target (Szekely, Rizzo & Bakirov 2007).

Univariate feature and univariate target with exponent 1 use the O(n log n)
algorithm of Huo & Szekely (2016): after sorting, the row sums
a_i. = sum_j |x_i - x_j| come from prefix sums, and
sum_ij |x_i - x_j||y_i - y_j| = T - 4 * (sum over discordant pairs of
(x_i - x_j)(y_i - y_j)) with T = sum_ij (x_i - x_j)(y_i - y_j), whose
discordant part comes from :func:`~featcorr.measures._inversions.discordance`.
With these three sums S1 = sum_ij a_ij b_ij, S2 = sum_i a_i. b_i. and
S3 = a.. b..:

- V-statistic (biased): dCov^2 = S1/n^2 - 2 S2/n^3 + S3/n^4;
- U-statistic (bias-corrected, Szekely & Rizzo 2014):
  dCov^2_u = S1/(n(n-3)) - 2 S2/(n(n-2)(n-3)) + S3/(n(n-1)(n-2)(n-3)).

On the CPU the univariate sums come from compiled kernels
(:mod:`featcorr.measures._dcor_compiled`: numpy argsorts + numba, one
feature per thread); the pure-torch level scheme below serves GPU tensors and
is the fallback without numba. A multivariate target (or ``exponent != 1``)
uses the O(n^2) double-centred distance matrices, a block of features at a
time.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UnknownOptionError
from . import _dcor_compiled as _compiled
from ._inversions import discordant_products

__all__ = ["dcor_terms_univariate", "dcor_terms_gram", "dcor_from_terms"]


def _row_sums_sorted(xs: torch.Tensor) -> torch.Tensor:
    """a_i. = sum_j |x_i - x_j| for row-sorted xs (p, n): (2k - n) x_k + S - 2 P_k, P exclusive prefix."""
    p, n = xs.shape
    k = torch.arange(n, dtype=xs.dtype, device=xs.device)
    P = torch.cumsum(xs, dim=1) - xs
    S = xs.sum(dim=1, keepdim=True)
    return (2.0 * k - n) * xs + S - 2.0 * P


def _self_terms(xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row sums in sorted order, S1, S2, S3) of the distance matrix of each row-sorted sequence with itself."""
    n = xs.shape[1]
    a = _row_sums_sorted(xs)
    S1 = 2.0 * n * (xs * xs).sum(dim=1) - 2.0 * xs.sum(dim=1) ** 2
    return a, S1, (a * a).sum(dim=1), a.sum(dim=1) ** 2


BACKENDS = ("auto", "compiled", "torch")


def dcor_terms_univariate(
    X: torch.Tensor, y: torch.Tensor, *, backend: str = "auto"
) -> dict[str, tuple[torch.Tensor, ...]]:
    """S1, S2, S3 of (x_f, y), (x_f, x_f) and (y, y) for every column x_f of X, in O(n log n) per column.

    Parameters
    ----------
    X : torch.Tensor of shape (n, p), float64
    y : torch.Tensor of shape (n,), float64
    backend : {"auto", "compiled", "torch"}, default="auto"
        ``"compiled"``: numba kernels on CPU (:mod:`featcorr.measures._dcor_compiled`), one
        feature per thread, up to ``torch.get_num_threads()`` threads; ``"torch"``: the
        vectorised torch level scheme (any device); ``"auto"``: compiled for CPU tensors
        (n < 2^31) when numba imports, else torch.

    Returns
    -------
    dict
        ``{"xy": (S1, S2, S3), "xx": (...), "yy": (...)}`` of float64 tensors on X's device,
        shape (p,) (``"yy"``: (1,)), with S1 = sum_ij a_ij b_ij, S2 = sum_i a_i. b_i., S3 = a.. b..
        for a_ij = |x_i - x_j|, b_ij = |y_i - y_j| (Huo & Szekely 2016). X and y are centred first
        (the sums are translation invariant), which keeps them small. Both backends are tested
        against O(n^2) float64 sums and each other (``tests/measures/test_dcor_compiled.py``).
    """
    if backend not in BACKENDS:
        raise UnknownOptionError(f"dcor_terms_univariate: backend={backend!r} is not supported; choose one of {BACKENDS}.")
    small = X.shape[0] < 2**31  # the kernels keep ranks in int32
    if backend == "compiled" or (backend == "auto" and X.device.type == "cpu" and small and _compiled.available()):
        terms = _compiled.terms_univariate(
            X.detach().cpu().numpy(), y.detach().cpu().numpy(), threads=torch.get_num_threads()
        )
        return {k: tuple(torch.from_numpy(np.ascontiguousarray(v)).to(X.device) for v in t) for k, t in terms.items()}
    return _terms_univariate_torch(X, y)


def _terms_univariate_torch(X: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The torch level scheme of :func:`dcor_terms_univariate` (one sort, log2(n) vectorised passes)."""
    n, p = X.shape
    X = X - X.mean(dim=0)
    y = y - y.mean()
    ys_sorted, order_y = torch.sort(y)
    b_sorted, yS1, yS2, yS3 = _self_terms(ys_sorted[None, :])
    b = torch.empty_like(y).scatter_(0, order_y, b_sorted[0])  # b_i. in sample order
    yrank = torch.empty(n, dtype=torch.int64, device=y.device).scatter_(
        0, order_y, torch.arange(n, device=y.device)
    )
    xs, perm = torch.sort(X.T.contiguous(), dim=1)  # (p, n)
    a_sorted, xS1, xS2, xS3 = _self_terms(xs)
    y_in = y[perm]  # (p, n) y in each column's x order
    disc = discordant_products(yrank[perm], xs, y_in, permutation=True)
    T = 2.0 * n * (xs * y_in).sum(dim=1) - 2.0 * xs.sum(dim=1) * y.sum()
    S1 = T - 4.0 * disc
    S2 = (a_sorted * b[perm]).sum(dim=1)
    S3 = a_sorted.sum(dim=1) * b.sum()
    return {"xy": (S1, S2, S3), "xx": (xS1, xS2, xS3), "yy": (yS1, yS2, yS3)}


def _distance_matrix(Z: torch.Tensor, exponent: float) -> torch.Tensor:
    """|z_i - z_j|^exponent for Z (n, q), (n, n)."""
    D = torch.cdist(Z, Z, compute_mode="donot_use_mm_for_euclid_dist") if Z.shape[1] > 1 else (Z - Z.T).abs()
    return D if exponent == 1.0 else D.pow(exponent)


def dcor_terms_gram(X: torch.Tensor, Y: torch.Tensor, *, exponent: float = 1.0) -> dict[str, torch.Tensor]:
    """S1, S2, S3 as in :func:`dcor_terms_univariate` from explicit n x n distance matrices (O(n^2) per feature)."""
    n, p = X.shape
    Y = Y.reshape(n, -1) - Y.reshape(n, -1).mean(dim=0)
    X = X - X.mean(dim=0)
    B = _distance_matrix(Y, exponent)
    b = B.sum(dim=1)
    yterms = ((B * B).sum()[None], (b * b).sum()[None], (b.sum() ** 2)[None])
    out = {k: [] for k in ("S1", "S2", "S3", "xS1", "xS2", "xS3")}
    for j in range(p):
        A = _distance_matrix(X[:, j : j + 1], exponent)
        a = A.sum(dim=1)
        out["S1"].append((A * B).sum())
        out["S2"].append((a * b).sum())
        out["S3"].append(a.sum() * b.sum())
        out["xS1"].append((A * A).sum())
        out["xS2"].append((a * a).sum())
        out["xS3"].append(a.sum() ** 2)
        del A
    st = {k: torch.stack(v) for k, v in out.items()}
    return {
        "xy": (st["S1"], st["S2"], st["S3"]),
        "xx": (st["xS1"], st["xS2"], st["xS3"]),
        "yy": yterms,
    }


def _cov2(terms: tuple[torch.Tensor, ...], n: int, unbiased: bool) -> torch.Tensor:
    S1, S2, S3 = terms
    n = float(n)  # n**4 overflows int64 for n > 55 000
    if unbiased:
        return S1 / (n * (n - 3.0)) - 2.0 * S2 / (n * (n - 2.0) * (n - 3.0)) + S3 / (
            n * (n - 1.0) * (n - 2.0) * (n - 3.0)
        )
    return S1 / n**2 - 2.0 * S2 / n**3 + S3 / n**4


def dcor_from_terms(terms: dict[str, torch.Tensor], n: int, *, unbiased: bool = False) -> torch.Tensor:
    """Distance correlation per feature from the sums S1, S2, S3.

    ``unbiased=False``: dCor = sqrt(dCov^2 / sqrt(dVar^2_x dVar^2_y)) in [0, 1] (dcor.distance_correlation);
    ``unbiased=True``: the bias-corrected squared distance correlation
    dCov^2_u / sqrt(|dVar^2_u,x dVar^2_u,y|) (dcor.u_distance_correlation_sqr), which can be negative;
    0 when that denominator is exactly 0, as dcor.
    """
    cxy = _cov2(terms["xy"], n, unbiased)
    vx = _cov2(terms["xx"], n, unbiased)
    vy = _cov2(terms["yy"], n, unbiased)
    if unbiased:
        den = torch.sqrt((vx * vy).abs())
        # dcor's convention: 0 when a bias-corrected distance variance is exactly 0 (tiny n, heavy ties)
        return torch.where(den == 0, torch.zeros_like(cxy), cxy / torch.where(den == 0, torch.ones_like(den), den))
    r2 = cxy / torch.sqrt(vx * vy)
    # The V-statistic is a squared norm; only rounding can push it below 0 (by ~1e-16 of its terms).
    return torch.sqrt(torch.where(r2 < 0, torch.zeros_like(r2), r2))
