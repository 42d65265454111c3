"""Mutual k-nearest-neighbour alignment (Huh et al. 2024) from a reservoir sample."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..errors import ConstantFeatureError, NotEnoughSamplesError, UnknownOptionError
from ..stats import ReservoirSnapshot
from ._registry import MeasureSpec, register
from ._rsa import sample_request

__all__ = ["mutual_knn", "mutual_knn_from", "knn_preprocess"]

#: Rows of similarities handled at once (bounds memory to chunk * n float64).
_CHUNK = 1024


def _check_k(k: Any, n: int, *, caller: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UnknownOptionError(f"{caller}: k must be a positive int (neighbours per sample), got {k!r}.")
    if k >= n:
        raise NotEnoughSamplesError(
            f"{caller}: k={k} neighbours need at least k + 1 = {k + 1} samples (each sample's own row is excluded), "
            f"but there are {n}; pass k <= {n - 1} or more samples."
        )
    return int(k)


def _check_q(q: Any, *, caller: str) -> float | None:
    if q is None:
        return None
    if isinstance(q, bool) or not isinstance(q, (int, float, np.floating)) or not 0.0 < float(q) <= 1.0:
        raise UnknownOptionError(
            f"{caller}: clamp_quantile must be a float in (0, 1] (or None to skip clamping), got {q!r}."
        )
    return None if float(q) == 1.0 else float(q)


def knn_preprocess(X: torch.Tensor, *, clamp_quantile: float | None = 0.95, normalize: bool = True,
                   name: str = "X", caller: str = "mutual_knn") -> torch.Tensor:
    """The reference preprocessing: clamp to +-q-quantile of |values| over the whole tensor, then L2-normalise rows.

    The quantile is platonic-rep's exact one (``remove_outliers(exact=True)``):
    the element at index int(q * numel) of the sorted |values|.
    """
    q = _check_q(clamp_quantile, caller=caller)
    if q is not None:
        flat = torch.sort(X.abs().reshape(-1)).values
        qv = flat[int(q * flat.numel())]
        if not float(qv) > 0.0:
            raise ConstantFeatureError(
                f"{caller}: at least {q:.0%} of the values of {name} are 0, so clamping to the {q} quantile of "
                "|values| sets every value to 0. Pass clamp_quantile=None (or a larger quantile) for sparse "
                "activations."
            )
        X = X.clamp(-float(qv), float(qv))
    if normalize:
        norms = torch.linalg.vector_norm(X, dim=1)
        dead = torch.nonzero(norms == 0).flatten()
        if dead.numel():
            raise ConstantFeatureError(
                f"{caller}: {dead.numel()} row(s) of {name} are all zero, e.g. rows {dead[:5].tolist()}; they have "
                "no direction to normalise and tie with every sample. Drop those samples or pass normalize=False."
            )
        X = X / norms[:, None]
    return X


def _knn_mask(Z: torch.Tensor, rows: slice, k: int) -> torch.Tensor:
    """(rows, n) boolean mask of the k most similar other samples (inner product), ties to the lower index."""
    S = Z[rows] @ Z.T  # (r, n)
    r = S.shape[0]
    idx = torch.arange(rows.start, rows.start + r, device=Z.device)
    S[torch.arange(r, device=Z.device), idx] = -torch.inf  # exclude the sample itself
    kth = torch.topk(S, k, dim=1).values[:, -1:]  # (r, 1) k-th largest similarity
    above = S > kth
    tied = S == kth
    need = k - above.sum(dim=1, keepdim=True)  # how many tied entries complete the k
    return above | (tied & (torch.cumsum(tied, dim=1) <= need))


def mutual_knn_from(
    snap: ReservoirSnapshot, a: str, b: str, *, k: int = 10, clamp_quantile: float | None = 0.95,
    normalize: bool = True,
) -> float:
    """Mutual k-NN alignment of blocks ``a`` and ``b`` of a reservoir sample.

    m = (1/n) sum_i |N_a(i) & N_b(i)| / k, N(i) the k samples with the
    largest inner product with sample i (itself excluded), after the
    reference preprocessing (:func:`knn_preprocess`).

    Returns
    -------
    float in [0, 1]; exact on the data when ``snap.exact``.
    """
    caller = "mutual_knn"
    X = snap.rows(a)
    n = X.shape[0]
    k = _check_k(k, n, caller=caller)
    Zx = knn_preprocess(X, clamp_quantile=clamp_quantile, normalize=normalize, name=f"block {a!r}", caller=caller)
    Zy = Zx if b == a else knn_preprocess(snap.rows(b), clamp_quantile=clamp_quantile, normalize=normalize,
                                          name=f"block {b!r}", caller=caller)
    shared = 0
    for lo in range(0, n, _CHUNK):
        rows = slice(lo, min(lo + _CHUNK, n))
        mx = _knn_mask(Zx, rows, k)
        my = mx if b == a else _knn_mask(Zy, rows, k)
        shared += int((mx & my).sum())
    return shared / (n * k)


def mutual_knn(
    X: Any, Y: Any, *, k: int = 10, clamp_quantile: float | None = 0.95, normalize: bool = True,
    sample_size: int = 5000, seed: int = 0, pool: str = "flatten",
) -> float:
    """Mutual k-nearest-neighbour alignment of two representations (Huh et al. 2024).

    Parameters
    ----------
    X : array-like of shape (n_samples, p)
    Y : array-like of shape (n_samples, q)
    k : int, default=10
        Neighbours per sample; must be at most n_samples - 1.
    clamp_quantile : float in (0, 1] or None, default=0.95
        Reference preprocessing: clamp every value of a representation to
        +-(this quantile of |values| over the whole representation) — the
        element at index int(q * numel) of the sorted |values|, as
        platonic-rep ``remove_outliers(exact=True)``. None (or 1.0) skips it.
    normalize : bool, default=True
        L2-normalise each sample after clamping (reference default), so
        neighbours are by cosine similarity; False uses the raw inner product.
    sample_size : int, default=5000
        When n_samples > sample_size, a seeded uniform sample of rows (the
        same rows of X and Y) is used; otherwise the result is exact.
    seed : int, default=0
    pool : str, default="flatten"

    Returns
    -------
    float in [0, 1]
        Mean fraction of the k neighbours two representations share; 1 when
        the neighbourhoods agree, about k / (n - 1) for unrelated representations.

    Notes
    -----
    Neighbours: the k largest inner products of the preprocessed rows, the
    sample itself excluded. Ties at the k-th place go to the lower sample
    index (deterministic; platonic-rep's ``argsort`` breaks them arbitrarily),
    which only matters for duplicated samples or quantised activations.
    Invariances (without clamping): orthogonal maps and per-sample positive
    rescaling of either representation; any monotone transform of the
    similarities. Clamping is element-wise, so with it the value is invariant
    to feature permutations and global positive scaling, not to rotations.
    The paper reports the maximum over all layer pairs
    (``measure_alignment.compute_score``); featcorr gives each pair. Tested
    against scikit-learn ``NearestNeighbors`` on the preprocessed rows and a
    float64 re-implementation of the reference preprocessing
    (tests/measures/test_knn.py).

    References
    ----------
    .. [1] Huh, Cheung, Wang, Isola, "The Platonic Representation Hypothesis",
       ICML 2024, arXiv:2405.07987.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.measures import mutual_knn
    >>> X = np.random.default_rng(0).normal(size=(100, 16))
    >>> mutual_knn(X, 2.0 * X, k=5)
    1.0
    """
    from ._api import similarity

    return similarity(X, Y, measure="mutual_knn", k=k, clamp_quantile=clamp_quantile, normalize=normalize,
                      sample_size=sample_size, seed=seed, pool=pool)


def _compute(snaps: Mapping[str, Any], a: str, b: str, *, k: int, clamp_quantile: float | None, normalize: bool,
             **_: Any) -> float:
    return mutual_knn_from(snaps["sample"], a, b, k=k, clamp_quantile=clamp_quantile, normalize=normalize)


register(
    MeasureSpec(
        name="mutual_knn",
        statistic="sample",
        kind="similarity",
        invariances=("orthogonal (without clamping)", "per-sample positive scaling", "global positive scaling"),
        value_range="[0, 1]",
        reference="platonic-rep AlignmentMetrics.mutual_knn (+ remove_outliers exact, F.normalize); sklearn NearestNeighbors",
        paper="Huh, Cheung, Wang, Isola, ICML 2024, arXiv:2405.07987",
        statistics=lambda A, B, *, engine=None, **opts: sample_request(A, B, **opts),
        compute=_compute,
        options={"k": 10, "clamp_quantile": 0.95, "normalize": True, "sample_size": 5000, "seed": 0},
    )
)
