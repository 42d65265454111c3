"""Representational dissimilarity matrices (RDMs) and their comparisons, as torch float64.

RDMs are built from one Gram matrix (a GEMM), comparisons read the upper
triangle (N = n(n-1)/2 entries) and rank it with one sort: no loop over
pairs anywhere.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_option
from ..errors import ConstantFeatureError, NotEnoughSamplesError, ShapeError
from . import _rank_sort
from ._rank import average_ranks, kendall_tau_a

__all__ = [
    "RDM_METHODS",
    "COMPARISONS",
    "RANK_COMPARISONS",
    "rdm_matrix",
    "upper",
    "compare_rdm_matrices",
    "compare_vectors",
    "compare_representations",
    "rdm_vector",
]

#: RDM methods: entry (i, j) of the RDM of rows x_i, x_j of an (n, p) array.
#: ``"correlation"``: 1 - Pearson r(x_i, x_j) across features (rsatoolbox ``"correlation"``);
#: ``"cosine"``: 1 - cos(x_i, x_j) (scipy ``pdist(metric="cosine")``);
#: ``"euclidean"``: ||x_i - x_j|| (scipy ``pdist(metric="euclidean")``);
#: ``"sq_euclidean"``: ||x_i - x_j||^2;
#: ``"sq_euclidean_per_feature"``: ||x_i - x_j||^2 / p (what rsatoolbox calls ``"euclidean"``).
RDM_METHODS = ("correlation", "cosine", "euclidean", "sq_euclidean", "sq_euclidean_per_feature")

#: RDM comparisons (rsatoolbox name in brackets): ``"spearman"`` ['spearman'],
#: ``"pearson"`` ['corr'], ``"kendall_tau_a"`` ['tau-a'], ``"rho_a"`` ['rho-a'],
#: ``"cosine"`` ['cosine'], ``"whitened_cosine"`` ['cosine_cov' without sigma_k],
#: ``"whitened_pearson"`` ['corr_cov' without sigma_k].
COMPARISONS = ("spearman", "pearson", "kendall_tau_a", "rho_a", "cosine", "whitened_cosine", "whitened_pearson")

#: Comparisons that only use the ranks of the dissimilarities.
RANK_COMPARISONS = ("spearman", "kendall_tau_a", "rho_a")


def _prepared_rows(X: torch.Tensor, method: str, *, name: str, caller: str) -> torch.Tensor:
    """Rows whose inner products give the RDM: unit rows (correlation/cosine) or column-centred rows."""
    if method in ("correlation", "cosine"):
        Z = X - X.mean(dim=1, keepdim=True) if method == "correlation" else X
        norms = torch.linalg.vector_norm(Z, dim=1)  # (n,)
        dead = torch.nonzero(norms == 0).flatten()
        if dead.numel():
            what = "constant across features (zero variance)" if method == "correlation" else "all zero"
            raise ConstantFeatureError(
                f"{caller}: {dead.numel()} row(s) of {name} are {what}, e.g. rows {dead[:5].tolist()}, so the "
                f"{method} distance to them is 0/0. Drop those samples or use rdm='euclidean'."
            )
        return Z / norms[:, None]
    return X - X.mean(dim=0, keepdim=True)  # distances are translation invariant; centring saves digits


def _finish(G: torch.Tensor, sq_r: torch.Tensor | None, sq_c: torch.Tensor | None, method: str, p: int) -> torch.Tensor:
    """Turn inner products G (rows x cols) into dissimilarities, in place."""
    if method in ("correlation", "cosine"):
        return G.neg_().add_(1.0)
    D = G.mul_(-2.0).add_(sq_r[:, None]).add_(sq_c[None, :])
    # the Gram identity can round an exact 0 to about -1e-16 * ||x||^2; distances are >= 0
    D.clamp_(min=0.0)
    if method == "euclidean":
        D.sqrt_()
    elif method == "sq_euclidean_per_feature":
        D.div_(p)
    return D


def rdm_matrix(X: torch.Tensor, method: str = "correlation", *, name: str = "X", caller: str = "rdm") -> torch.Tensor:
    """(n, n) float64 RDM with an exact zero diagonal of the rows of a 2-D float64 tensor."""
    check_option(method, RDM_METHODS, name="rdm", caller=caller)
    Z = _prepared_rows(X, method, name=name, caller=caller)
    sq = (Z * Z).sum(dim=1)
    D = _finish(Z @ Z.T, sq, sq, method, X.shape[1])
    D.fill_diagonal_(0.0)
    return 0.5 * (D + D.T)  # exactly symmetric


#: rows per block of the condensed RDM (bounds the temporary to block x n float64)
_BLOCK = 512


def rdm_vector(X: torch.Tensor, method: str = "correlation", *, name: str = "X", caller: str = "rdm") -> torch.Tensor:
    """Condensed RDM (entries i < j, row by row, scipy ``squareform`` order), shape (n(n-1)/2,).

    Computed block of rows by block of rows against the rows after them only,
    so the GEMM does about half the work of the full Gram matrix and the
    n x n matrix is never stored. Entry (i, j) equals ``rdm_matrix(X)[i, j]``
    up to the last bit (same inner product, possibly summed in another order).
    """
    check_option(method, RDM_METHODS, name="rdm", caller=caller)
    n, p = X.shape
    Z = _prepared_rows(X, method, name=name, caller=caller)
    sq = (Z * Z).sum(dim=1)
    out = torch.empty(n * (n - 1) // 2, dtype=torch.float64, device=X.device)
    pos = 0
    for lo in range(0, n - 1, _BLOCK):
        hi = min(lo + _BLOCK, n)
        G = Z[lo:hi] @ Z[lo:].T  # (b, n - lo): rows lo..hi-1 against columns lo..n-1
        D = _finish(G, sq[lo:hi], sq[lo:], method, p)
        for r in range(hi - lo):  # row lo + r contributes its entries right of the diagonal, contiguously
            m = n - lo - r - 1
            out[pos : pos + m] = D[r, r + 1 :]
            pos += m
    return out


def upper(D: torch.Tensor) -> torch.Tensor:
    """Upper triangle (i < j) of a square matrix, row by row (scipy ``squareform`` order), shape (n(n-1)/2,)."""
    n = D.shape[0]
    mask = torch.ones(n, n, dtype=torch.bool, device=D.device).triu_(1)
    return D[mask]


def _pearson(a: torch.Tensor, b: torch.Tensor, *, what: tuple[str, str], caller: str) -> float:
    a = a - a.mean()
    b = b - b.mean()
    sa = float(torch.dot(a, a))
    sb = float(torch.dot(b, b))
    for s, w in ((sa, what[0]), (sb, what[1])):
        if not s > 0.0:
            raise ConstantFeatureError(
                f"{caller}: {w} is constant (every entry equal), so its correlation is 0/0; the representation "
                "does not distinguish the samples. Use comparison='kendall_tau_a' (defined as 0 then) or drop it."
            )
    return float(torch.dot(a, b)) / math.sqrt(sa * sb)


def _cosine(a: torch.Tensor, b: torch.Tensor, *, what: tuple[str, str], caller: str) -> float:
    sa = float(torch.dot(a, a))
    sb = float(torch.dot(b, b))
    for s, w in ((sa, what[0]), (sb, what[1])):
        if not s > 0.0:
            raise ConstantFeatureError(
                f"{caller}: {w} is all zero (every sample identical), so its cosine is 0/0; use a rank comparison "
                "or drop that representation."
            )
    return float(torch.dot(a, b)) / math.sqrt(sa * sb)


def _prepare(v: torch.Tensor, method: str) -> torch.Tensor:
    """The per-RDM half of a comparison: average ranks for rank correlations, the entries otherwise."""
    return average_ranks(v) if method in ("spearman", "rho_a") else v


def _combine(a: torch.Tensor, b: torch.Tensor, method: str, *, what: tuple[str, str], caller: str) -> float:
    N = a.shape[0]
    if method in ("pearson", "spearman"):
        return _pearson(a, b, what=what, caller=caller)
    if method == "cosine":
        return _cosine(a, b, what=what, caller=caller)
    if method == "kendall_tau_a":
        return kendall_tau_a(a, b)
    if method == "rho_a":
        mid = (N + 1) / 2.0
        return 12.0 * float(torch.dot(a - mid, b - mid)) / (float(N) ** 3 - N)
    raise ShapeError(f"{caller}: comparison {method!r} needs the RDM matrices, not vectors.")


def _check_entries(N: int, caller: str) -> None:
    if N < 2:
        raise NotEnoughSamplesError(
            f"{caller}: the RDMs have {N} entr{'y' if N == 1 else 'ies'}; comparing them needs at least 3 samples "
            "(3 pairs)."
        )


def compare_vectors(
    a: torch.Tensor, b: torch.Tensor, method: str, *, what: tuple[str, str] = ("RDM 1", "RDM 2"), caller: str
) -> float:
    """Compare two 1-D float64 vectors of RDM entries with a non-whitened comparison."""
    _check_entries(a.shape[0], caller)
    return _combine(_prepare(a, method), _prepare(b, method), method, what=what, caller=caller)


#: from this many samples on, the two RDMs are built and ranked in two threads (BLAS and sorts release the GIL)
#: when the compiled rank path is not there (with it, each RDM's sort is itself split over the threads)
_THREADED_FROM = 1500


def compare_representations(
    X: torch.Tensor, Y: torch.Tensor | None, rdm: str, comparison: str, *, names: tuple[str, str], caller: str
) -> float:
    """Compare the RDMs of the rows of X and Y (Y None: X with itself), each built once.

    Pearson, cosine and the whitened comparisons of every RDM method but
    ``"euclidean"`` come from sums of the patterns without building the RDMs
    (:mod:`featcorr.measures._rdm_moments`); the rest build the condensed
    RDMs (whitened comparisons of ``"euclidean"``: the square ones).
    """
    from ._rdm_moments import moment_comparison

    value = moment_comparison(X, Y, rdm, comparison, names=names, caller=caller)
    if value is not None:
        return value
    what = (f"the RDM of {names[0]}", f"the RDM of {names[1]}")
    if comparison in ("whitened_cosine", "whitened_pearson"):
        Dx = rdm_matrix(X, rdm, name=names[0], caller=caller)
        Dy = Dx if Y is None else rdm_matrix(Y, rdm, name=names[1], caller=caller)
        return compare_rdm_matrices(Dx, Dy, comparison, what=what, caller=caller)
    _check_entries(X.shape[0] * (X.shape[0] - 1) // 2, caller)

    def side(Z: torch.Tensor, name: str) -> torch.Tensor:
        v = rdm_vector(Z, rdm, name=name, caller=caller)
        return average_ranks(v, overwrite=True) if comparison in ("spearman", "rho_a") else v

    if Y is None:
        a = side(X, names[0])
        return _combine(a, a, comparison, what=what, caller=caller)
    if X.shape[0] < _THREADED_FROM or _rank_sort.available():
        a, b = side(X, names[0]), side(Y, names[1])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            fa, fb = pool.submit(side, X, names[0]), pool.submit(side, Y, names[1])
            a, b = fa.result(), fb.result()
    return _combine(a, b, comparison, what=what, caller=caller)


def _double_centred(D: torch.Tensor) -> torch.Tensor:
    """G = -1/2 H D H (the second-moment matrix an RDM of squared distances implies)."""
    G = -0.5 * D
    G = G - G.mean(dim=0, keepdim=True)
    return G - G.mean(dim=1, keepdim=True)


def compare_rdm_matrices(
    D1: torch.Tensor, D2: torch.Tensor, method: str = "spearman", *, what: tuple[str, str] = ("RDM 1", "RDM 2"),
    caller: str = "compare_rdms",
) -> float:
    """Compare two (n, n) RDMs (zero diagonal, symmetric) with any of :data:`COMPARISONS`."""
    check_option(method, COMPARISONS, name="comparison", caller=caller)
    if D1.shape[0] < 3:
        raise NotEnoughSamplesError(
            f"{caller}: found RDMs over {D1.shape[0]} sample(s) while a minimum of 3 is required (an RDM over n "
            "samples has n(n-1)/2 entries); pass more samples."
        )
    if method in ("whitened_cosine", "whitened_pearson"):
        if method == "whitened_pearson":  # rsatoolbox 'corr_cov': centre the RDM vector first, diagonal stays 0
            D1 = D1 - upper(D1).mean()
            D2 = D2 - upper(D2).mean()
            D1.fill_diagonal_(0.0)
            D2.fill_diagonal_(0.0)
        G1, G2 = _double_centred(D1), _double_centred(D2)
        # rsatoolbox stacks [sqrt(2) * off-diagonal, diagonal]: the Frobenius inner product of the full matrices
        return _cosine(G1.reshape(-1), G2.reshape(-1), what=what, caller=caller)
    return compare_vectors(upper(D1), upper(D2), method, what=what, caller=caller)
