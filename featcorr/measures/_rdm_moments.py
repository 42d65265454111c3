"""Pearson, cosine and whitened comparisons of Gram-type RDMs from sums of the patterns, without the RDMs.

Every RDM method except plain ``"euclidean"`` is a scaled squared distance
of embedded rows, d_ij = c ||u_i - u_j||^2: correlation and cosine with the
unit-norm (row-centred) rows and c = 1/2 (1 - z_i.z_j = ||z_i - z_j||^2 / 2),
``sq_euclidean`` with c = 1, ``sq_euclidean_per_feature`` with c = 1/p.
Distances ignore a common shift, so U (n, p) is taken column-centred. With
s_i = ||u_i||^2, S = sum_i s_i, G = U U^T and the same for V (n, q), t, T, H
(sums over pairs i < j, N = n(n-1)/2; H 1 = 0 because V is centred):

    sum d_ij            = c n S
    sum d_ij e_ij       = c c' (n s.t + S T + 2 <G, H>)
    sum (d - d_bar)(e - e_bar) = c c' (n sum_i (s_i - s_bar)(t_i - t_bar) + 2 <G, H> - 2 S T / (n - 1))
    -1/2 J D J          = c G                      (J = I - 11^T / n, the double centring)

and <G, H> = ||U^T V||_F^2. So the four comparisons need only the row norms and
the three Frobenius products <G, G>, <H, H>, <G, H>, and the scale c cancels:

- ``pearson``: C_DE / sqrt(C_DD C_EE) with C_DE the centred sum above;
- ``cosine``: sum d e / sqrt(sum d^2 sum e^2);
- ``whitened_cosine`` (rsatoolbox ``cosine_cov``, no noise covariance):
  <G, H> / sqrt(<G, G> <H, H>), linear CKA of U and V;
- ``whitened_pearson`` (rsatoolbox ``corr_cov``): subtracting the mean
  entry m from D (diagonal kept 0) turns c G into c G - m J / 2, so the
  value is (<G, H> - S T / (n-1)) / sqrt((<G, G> - S^2 / (n-1)) (<H, H> - T^2 / (n-1))).

Cost: the Frobenius products from the p x p, q x q, p x q cross-products,
n (p^2 + q^2 + pq) multiply-adds, or, when that is more, from blocks of the
n x n Grams, n^2 (p + q) / 2; no n x n matrix and no vector of N entries
is ever stored. Against building both RDMs (n^2 (p + q) / 2 plus N-long
passes) the first is ~6x less work at n = 10 000, p = q = 512.

Accuracy: every term is a sum of non-negative or centred quantities in
float64; the centred Pearson and whitened-Pearson denominators subtract,
so :func:`moment_comparison` returns None (the caller then builds the RDMs)
when that subtraction would cost more than :data:`MAX_CANCELLATION` in
relative precision, e.g. for a constant RDM.
"""

from __future__ import annotations

import math

import torch

from ._rdm import _prepared_rows

__all__ = ["GRAM_METHODS", "MOMENT_COMPARISONS", "MAX_CANCELLATION", "pair_sums", "moment_comparison"]

#: RDM methods that are scaled squared distances of embedded rows.
GRAM_METHODS = ("correlation", "cosine", "sq_euclidean", "sq_euclidean_per_feature")

#: Comparisons computed from the sums.
MOMENT_COMPARISONS = ("pearson", "cosine", "whitened_cosine", "whitened_pearson")

#: Largest allowed ratio (sum of the absolute terms) / (centred result) of a denominator.
MAX_CANCELLATION = 1e3

#: rows per block of the n x n Grams in the Gram-side route
_BLOCK = 1024


def _embedded(X: torch.Tensor, method: str, *, name: str, caller: str) -> torch.Tensor:
    """Column-centred rows U with d_ij = c ||u_i - u_j||^2 for the RDM method (c is not needed)."""
    Z = _prepared_rows(X, method, name=name, caller=caller)
    return Z - Z.mean(dim=0, keepdim=True)


def _gram_norm2(U: torch.Tensor) -> float:
    """||U^T U||_F^2; on CPU from the upper triangle of BLAS syrk (half the multiply-adds of a GEMM)."""
    if U.device.type == "cpu" and U.dtype == torch.float64:
        from scipy.linalg.blas import dsyrk

        A = torch.from_numpy(dsyrk(1.0, U.numpy().T, trans=0))  # U^T U, upper triangle (U.T is Fortran-ordered)
        d = torch.diagonal(A)
        return 2.0 * float((torch.triu(A, 1) ** 2).sum()) + float(torch.dot(d, d))
    A = U.T @ U
    return float((A * A).sum())


def _frobenius_features(U: torch.Tensor, V: torch.Tensor | None) -> tuple[float, float, float]:
    """(<G, G>, <H, H>, <G, H>) from the feature-space products U^T U, V^T V, U^T V."""
    uu = _gram_norm2(U)
    if V is None:
        return uu, uu, uu
    C = U.T @ V
    return uu, _gram_norm2(V), float((C * C).sum())


def _frobenius_grams(U: torch.Tensor, V: torch.Tensor | None) -> tuple[float, float, float]:
    """(<G, G>, <H, H>, <G, H>) from blocks of rows of G = U U^T and H = V V^T (upper block triangle, doubled)."""
    n = U.shape[0]
    uu = vv = uv = 0.0
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        G = U[lo:hi] @ U[lo:].T  # (b, n - lo); columns < hi - lo are the diagonal block
        H = G if V is None else V[lo:hi] @ V[lo:].T
        w = torch.full_like(G[0], 2.0)
        w[: hi - lo] = 1.0  # diagonal block: both (i, j) and (j, i) are in it; off-diagonal blocks count twice
        uu += float(((G * G) @ w).sum())
        if V is not None:
            vv += float(((H * H) @ w).sum())
            uv += float(((G * H) @ w).sum())
    if V is None:
        return uu, uu, uu
    return uu, vv, uv


def pair_sums(
    X: torch.Tensor, Y: torch.Tensor | None, method: str, *, names: tuple[str, str] = ("X", "Y"),
    caller: str = "rsa",
) -> dict[str, float]:
    """The sums every comparison of two Gram-type RDMs needs, without the RDMs.

    Parameters
    ----------
    X : torch.Tensor of shape (n, p), float64
    Y : torch.Tensor of shape (n, q), float64, or None (Y = X)
    method : one of :data:`GRAM_METHODS`

    Returns
    -------
    dict
        ``n``; ``S``, ``T`` (sums of the squared row norms s_i, t_i of the
        embedded, column-centred rows); ``cs``, ``ct``, ``cst`` (sum of
        (s_i - s_bar)^2, (t_i - t_bar)^2, (s_i - s_bar)(t_i - t_bar));
        ``ss``, ``tt``, ``st`` (sum s_i^2, t_i^2, s_i t_i); ``uu``, ``vv``,
        ``uv`` (<G, G>, <H, H>, <G, H>). Invariant to the RDM scale c.
    """
    n = X.shape[0]
    U = _embedded(X, method, name=names[0], caller=caller)
    V = None if Y is None else _embedded(Y, method, name=names[1], caller=caller)
    p = U.shape[1]
    q = p if V is None else V.shape[1]
    feature_cost = p * p + (0 if V is None else q * q + p * q)
    gram_cost = n * (p + (0 if V is None else q)) / 2
    uu, vv, uv = (_frobenius_features if feature_cost <= gram_cost else _frobenius_grams)(U, V)
    s = (U * U).sum(dim=1)
    t = s if V is None else (V * V).sum(dim=1)
    sc = s - s.mean()
    tc = t - t.mean()
    return {
        "n": n, "S": float(s.sum()), "T": float(t.sum()),
        "cs": float(torch.dot(sc, sc)), "ct": float(torch.dot(tc, tc)), "cst": float(torch.dot(sc, tc)),
        "ss": float(torch.dot(s, s)), "tt": float(torch.dot(t, t)), "st": float(torch.dot(s, t)),
        "uu": uu, "vv": vv, "uv": uv,
    }


def _centred(plain: float, shift: float) -> float | None:
    """plain - shift when that keeps at least 1/MAX_CANCELLATION of the magnitude, else None."""
    value = plain - shift
    if not value > 0.0 or (abs(plain) + abs(shift)) > MAX_CANCELLATION * value:
        return None
    return value


def compare_sums(m: dict[str, float], comparison: str) -> float | None:
    """One of :data:`MOMENT_COMPARISONS` from :func:`pair_sums`; None when the sums are too ill-conditioned."""
    n = m["n"]
    S, T = m["S"], m["T"]
    if comparison == "whitened_cosine":
        if not (m["uu"] > 0.0 and m["vv"] > 0.0):
            return None
        return m["uv"] / math.sqrt(m["uu"] * m["vv"])
    if comparison == "cosine":
        xx = n * m["ss"] + S * S + 2.0 * m["uu"]
        yy = n * m["tt"] + T * T + 2.0 * m["vv"]
        if not (xx > 0.0 and yy > 0.0):
            return None
        return (n * m["st"] + S * T + 2.0 * m["uv"]) / math.sqrt(xx * yy)
    if comparison == "whitened_pearson":
        xx = _centred(m["uu"], S * S / (n - 1))
        yy = _centred(m["vv"], T * T / (n - 1))
        if xx is None or yy is None:
            return None
        return (m["uv"] - S * T / (n - 1)) / math.sqrt(xx * yy)
    if comparison == "pearson":
        xx = _centred(n * m["cs"] + 2.0 * m["uu"], 2.0 * S * S / (n - 1))
        yy = _centred(n * m["ct"] + 2.0 * m["vv"], 2.0 * T * T / (n - 1))
        if xx is None or yy is None:
            return None
        return (n * m["cst"] + 2.0 * m["uv"] - 2.0 * S * T / (n - 1)) / math.sqrt(xx * yy)
    raise ValueError(f"comparison {comparison!r} is not one of {MOMENT_COMPARISONS}")


def moment_comparison(
    X: torch.Tensor, Y: torch.Tensor | None, method: str, comparison: str, *, names: tuple[str, str] = ("X", "Y"),
    caller: str = "rsa",
) -> float | None:
    """Compare the RDMs of the rows of X and Y (Y None: X with itself) without building them.

    Parameters
    ----------
    X : torch.Tensor of shape (n, p), float64
    Y : torch.Tensor of shape (n, q), float64, or None
    method : one of :data:`GRAM_METHODS`
        RDM method of both.
    comparison : one of :data:`MOMENT_COMPARISONS`

    Returns
    -------
    float or None
        The same value as comparing the two condensed RDMs (``pearson``,
        ``cosine``) or the two double-centred RDMs (``whitened_*``), up to
        rounding; None when a centred denominator is ill-conditioned (a
        constant or nearly constant RDM): build the RDMs then. Tested
        against the RDM route and scipy ``pdist`` + ``pearsonr``
        (tests/measures/test_rdm_moments.py) and rsatoolbox 0.3.2
        (tests/anchors/test_rsa_anchors.py).
    """
    if method not in GRAM_METHODS or comparison not in MOMENT_COMPARISONS:
        return None
    return compare_sums(pair_sums(X, Y, method, names=names, caller=caller), comparison)
