"""Kernel CKA variants: minibatch CKA, debiased linear CKA, RBF CKA.

- ``minibatch_cka``: ratio of averaged per-batch unbiased HSIC terms
  (:class:`~featcorr.stats.MinibatchHSIC`), for layers too wide for p x p moments;
- ``debiased_cka``: Kornblith's debiased linear CKA on the full data, exact in
  one pass (:class:`~featcorr.stats.DebiasedMoments`);
- ``rbf_cka``: RBF-kernel CKA on a uniform row sample (:class:`~featcorr.stats.Reservoir`),
  exact on the whole data when it fits the sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .._validation import check_option
from ..errors import ConstantFeatureError, NotEnoughSamplesError, UnknownOptionError
from ..stats import (
    DebiasedMoments,
    DebiasedMomentsSnapshot,
    MinibatchHSIC,
    MinibatchHSICSnapshot,
    Reservoir,
    ReservoirSnapshot,
)
from ._common import MOMENTS_ENGINE_OPTIONS
from ._registry import MeasureSpec, register

__all__ = [
    "minibatch_cka_from",
    "debiased_cka_from",
    "unbiased_linear_hsic_from",
    "rbf_cka_from",
    "rbf_gram",
    "MEDIAN_CONVENTIONS",
]


def _ratio(hxy: float, hxx: float, hyy: float, a: str, b: str, *, caller: str, n_text: str) -> float:
    """hxy / sqrt(hxx hyy), raising when a self term is not positive (never clamped)."""
    for name, h in ((a, hxx), (b, hyy)):
        if not h > 0:
            raise NotEnoughSamplesError(
                f"{caller}: the unbiased self-HSIC estimate of block {name!r} is {h:.3g} (<= 0), so the CKA "
                f"ratio is undefined. The estimate of a non-constant block is positive in expectation but can "
                f"fall to or below 0 when {n_text}; use more samples or larger batches."
            )
    if a == b:
        return 1.0
    return hxy / math.sqrt(hxx * hyy)


# ------------------------------------------------------------------ minibatch
def minibatch_cka_from(snap: MinibatchHSICSnapshot, a: str, b: str) -> float:
    """Minibatch CKA of blocks ``a`` and ``b`` from averaged per-batch unbiased HSIC terms.

    CKA_mb = mean_k HSIC_u(K_k, L_k) / sqrt(mean_k HSIC_u(K_k, K_k) * mean_k HSIC_u(L_k, L_k)),
    the HSIC terms averaged over batches *before* the ratio (never an average
    of per-batch CKA ratios).

    Parameters
    ----------
    snap : MinibatchHSICSnapshot
        Per-batch HSIC sums from :class:`~featcorr.stats.MinibatchHSIC`.
    a, b : str
        Block names.

    Returns
    -------
    float
        An estimate of population (debiased) CKA; usually in [0, 1], can be
        slightly negative for unrelated blocks or above 1 for small batches.
        Not clamped. Exactly 1.0 when ``a == b``.

    Raises
    ------
    ConstantFeatureError
        When a block is constant in every batch.
    NotEnoughSamplesError
        When a self-HSIC estimate is <= 0 (too few or too small batches).

    Notes
    -----
    Measure options (``fc.similarity(X, Y, measure="minibatch_cka", ...)``):
    ``kernel`` ("linear" | "rbf"), ``batch_size`` (split arrays into batches;
    default: each update is one batch, so an array is one batch and the value
    is the full-data debiased CKA), ``bandwidth`` / ``threshold`` (RBF, see
    :class:`~featcorr.stats.MinibatchHSIC`), ``gram_dtype`` ("float64",
    "float32", "bfloat16"; default: the engine's ``gemm_dtype``). Shapes: any
    (n, p) blocks, conv maps flattened; cost per batch of m rows
    O(min(m^2 P, m P^2)) for total width P (the cheaper of the Gram and
    feature-space routes, both exact), memory O(L m^2) or O(P^2) with P < m,
    never p x p for wide layers. Invariant to orthogonal maps, isotropic scaling and
    translation. Tested against Kornblith's unbiased HSIC (U-centred Grams,
    numpy float64) averaged over the same batches, to 1e-10
    (tests/measures/test_kernel_cka.py), and against pytorch-cka's estimator
    (tests/anchors/test_kernel_cka_anchors.py).

    References
    ----------
    .. [1] Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks Learn the Same
       Things?", ICLR 2021, arXiv:2010.15327.
    """
    for name in (a, b):
        if not snap.sum_of_squares(name) > 0:
            raise ConstantFeatureError(
                f"minibatch_cka: block {name!r} is constant within every batch (zero variance), so CKA is "
                "undefined; check that the layer is alive or drop it from the comparison."
            )
    return _ratio(
        snap.hsic(a, b), snap.hsic(a, a), snap.hsic(b, b), a, b,
        caller="minibatch_cka", n_text=f"the batches are small or few ({snap.n_batches} batch(es), {snap.n_rows} rows)",
    )


def _mb_statistics(
    A: Sequence[str], B: Sequence[str], *, engine: Mapping[str, Any] | None = None, kernel: str = "linear",
    batch_size: int | None = None, bandwidth: Any = None, threshold: float = 1.0, gram_dtype: str | None = None,
    **_: Any
) -> dict[str, MinibatchHSIC]:
    engine = dict(engine or {})
    check_option(kernel, ("linear", "rbf"), name="kernel", caller="minibatch_cka")
    if gram_dtype is not None:
        check_option(gram_dtype, ("float64", "float32", "bfloat16"), name="gram_dtype", caller="minibatch_cka")
    A, B = tuple(A), tuple(B)
    union = tuple(dict.fromkeys(A + B))
    pairs = "all" if set(A) == set(B) else ("cross", A, B)
    opts: dict[str, Any] = {"gemm_dtype": gram_dtype or engine.get("gemm_dtype", "float64")}
    if kernel == "rbf":
        opts.update(bandwidth=bandwidth, threshold=threshold)
    elif bandwidth is not None:
        raise UnknownOptionError(
            "minibatch_cka: bandwidth is an RBF option but kernel='linear'; drop bandwidth or pass kernel='rbf'."
        )
    return {"hsic": MinibatchHSIC(kernel, pairs=pairs, batch_size=batch_size, blocks=union, **opts)}


register(
    MeasureSpec(
        name="minibatch_cka",
        statistic="minibatch_hsic",
        kind="similarity",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="estimate of [0, 1]; can fall slightly outside (never clamped)",
        reference="unbiased HSIC (Kornblith center_gram(unbiased=True)) summed over the same batches, float64; "
        "pytorch-cka compute_cka, torch-cka",
        paper="Nguyen, Raghu, Kornblith, ICLR 2021, arXiv:2010.15327; Song et al., JMLR 2012",
        statistics=_mb_statistics,
        compute=lambda snaps, a, b, **_: minibatch_cka_from(snaps["hsic"], a, b),
        options={"kernel": "linear", "batch_size": None, "bandwidth": None, "threshold": 1.0, "gram_dtype": None},
    )
)


# ------------------------------------------------------------------- debiased
def unbiased_linear_hsic_from(snap: DebiasedMomentsSnapshot, a: str, b: str) -> float:
    """Unbiased linear HSIC (Song et al. 2012) of blocks ``a`` and ``b`` on the full data, from one pass.

    Feature-space form of <K^, L^> / (n (n - 3)) with U-centred Grams (METHODS.md A3):
    ||S_xy||_F^2 - n/(n-2) Sum_i a_i b_i + (Sum a)(Sum b) / ((n-1)(n-2)), a_i = ||x_i - mu_x||^2.
    Signed; needs n >= 4.
    """
    n = snap.n
    if n < 4:
        raise NotEnoughSamplesError(
            f"debiased_cka: found {n} sample(s) while a minimum of 4 is required by the unbiased HSIC "
            "estimator (its 1/(n(n-3)) factor); pass more rows."
        )
    S = snap.comoment(a, b)
    num = (
        float(torch.sum(S * S))
        - n / (n - 2) * snap.sum_norm_products(a, b)
        + snap.sum_sq_norms(a) * snap.sum_sq_norms(b) / ((n - 1) * (n - 2))
    )
    return num / (n * (n - 3))


def debiased_cka_from(snap: DebiasedMomentsSnapshot, a: str, b: str) -> float:
    """Debiased linear CKA (Kornblith et al. 2019) of blocks ``a`` and ``b``, exact on the full data.

    dCKA = HSIC_u(K, L) / sqrt(HSIC_u(K, K) HSIC_u(L, L)) with linear Grams
    and Song et al.'s unbiased HSIC, from sums accumulated in one pass
    (:class:`~featcorr.stats.DebiasedMoments`); equals Kornblith's
    ``cka(gram_linear(X), gram_linear(Y), debiased=True)``.

    Parameters
    ----------
    snap : DebiasedMomentsSnapshot
    a, b : str
        Block names.

    Returns
    -------
    float
        Signed: close to linear CKA for n >> p, lower when p is large relative
        to n (the bias of plain CKA is removed from each HSIC), and negative
        for unrelated blocks about half the time. Never clamped. Exactly 1.0
        when ``a == b``.

    Raises
    ------
    NotEnoughSamplesError
        When n < 4, or a self-HSIC estimate is <= 0 (possible for tiny n).
    ConstantFeatureError
        When a block is constant.

    Notes
    -----
    Shapes: any (n, p) and (n, q), including n < p (where plain CKA is biased
    upward and this estimate is not); conv maps are flattened. Invariant to
    orthogonal maps, isotropic scaling and translation. Memory O(p^2 + q^2 + pq)
    like linear CKA, plus O(L P) for the row-norm sums; one pass, exact (not
    an estimate over batches: compare :func:`minibatch_cka_from`). Tested
    against Kornblith's ``cka(gram_linear(X), gram_linear(Y), debiased=True)``
    in float64 numpy to 1e-8 (tests/measures/test_kernel_cka.py) and ckatorch
    ``cka_base(unbiased=True)`` to 1e-10 (tests/anchors).

    References
    ----------
    .. [1] Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network
       Representations Revisited", ICML 2019, arXiv:1905.00414.
    .. [2] Song, Smola, Gretton, Bedo, Borgwardt, "Feature Selection via
       Dependence Maximization", JMLR 13, 2012.
    """
    for name in (a, b):
        if not snap.sum_sq_norms(name) > 0:
            raise ConstantFeatureError(
                f"debiased_cka: block {name!r} is constant across samples (zero variance), so CKA is undefined; "
                "check that the layer is alive or drop it from the comparison."
            )
    hxy = unbiased_linear_hsic_from(snap, a, b)
    hxx = unbiased_linear_hsic_from(snap, a, a)
    hyy = hxx if b == a else unbiased_linear_hsic_from(snap, b, b)
    return _ratio(hxy, hxx, hyy, a, b, caller="debiased_cka", n_text=f"n is small (n={snap.n})")


def _debiased_statistics(
    A: Sequence[str], B: Sequence[str], *, engine: Mapping[str, Any] | None = None, **_: Any
) -> dict[str, DebiasedMoments]:
    engine = dict(engine or {})
    opts = {k: engine[k] for k in MOMENTS_ENGINE_OPTIONS if k in engine}
    A, B = tuple(A), tuple(B)
    union = tuple(dict.fromkeys(A + B))
    pairs = "all" if set(A) == set(B) else ("cross", A, B)
    return {"moments4": DebiasedMoments(pairs=pairs, blocks=union, **opts)}


register(
    MeasureSpec(
        name="debiased_cka",
        statistic="moments",
        kind="similarity",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="[-1, 1] in practice (signed estimate of population CKA); never clamped",
        reference="Kornblith et al. demo cka(gram_linear(X), gram_linear(Y), debiased=True), float64 numpy; "
        "anatome linear_cka_distance(reduce_bias=True)",
        paper="Kornblith et al., ICML 2019, arXiv:1905.00414; Song et al., JMLR 13, 2012",
        statistics=_debiased_statistics,
        compute=lambda snaps, a, b, **_: debiased_cka_from(snaps["moments4"], a, b),
    )
)


# ------------------------------------------------------------------------ RBF
#: How the RBF bandwidth sigma is set from the distances of the sample (tau = ``threshold``):
#: ``"full_sq"`` (Kornblith): sigma^2 = tau^2 median of the full m x m matrix of squared distances, zeros included;
#: ``"pairs_sq"``: sigma^2 = tau^2 median of the squared distances over pairs i < j;
#: ``"pairs"``: sigma = tau median of the distances over pairs i < j;
#: ``"full"``: sigma = tau median of the full m x m matrix of distances, zeros included.
MEDIAN_CONVENTIONS = ("full_sq", "pairs_sq", "pairs", "full")


def _median(t: torch.Tensor) -> float:
    """Median as numpy defines it (mean of the two middle values for an even count)."""
    k = t.numel()
    hi = float(torch.kthvalue(t, k // 2 + 1).values)
    return hi if k % 2 else 0.5 * (hi + float(torch.kthvalue(t, k // 2).values))


def _sq_distances(X: torch.Tensor) -> torch.Tensor:
    """(m, m) squared Euclidean distances in float64, via the Gram of the centred rows, clipped at 0."""
    X = X - X.mean(dim=0)
    d = torch.einsum("ij,ij->i", X, X)
    D = torch.mm(X, X.T).mul_(-2.0).add_(d[:, None]).add_(d[None, :]).clamp_(min=0.0)
    D.fill_diagonal_(0.0)
    return D


def rbf_gram(
    X: torch.Tensor, *, threshold: float = 1.0, median: str = "full_sq", bandwidth: float | None = None, name: str = "X"
) -> tuple[torch.Tensor, float]:
    """RBF Gram exp(-||x_i - x_j||^2 / (2 sigma^2)) of the rows of ``X`` (m, p) and the sigma used.

    ``bandwidth`` fixes sigma; otherwise sigma comes from the distances by the
    ``median`` convention (:data:`MEDIAN_CONVENTIONS`) times ``threshold``.
    """
    D = _sq_distances(X.to(torch.float64))
    m = D.shape[0]
    if bandwidth is not None:
        sigma = float(bandwidth)
    else:
        if median in ("full_sq", "full"):
            vals = D.flatten()
        else:
            iu = torch.triu_indices(m, m, offset=1, device=D.device)
            vals = D[iu[0], iu[1]]
        if median in ("pairs", "full"):
            vals = vals.sqrt()
        med = _median(vals)
        if not med > 0:
            raise ConstantFeatureError(
                f"rbf_cka: the median {'squared ' if median.endswith('_sq') else ''}distance of block {name!r} "
                f"is 0 (median={median!r}: more than half of its row pairs coincide, e.g. a constant or mostly "
                "dead layer), so the bandwidth is 0. Pass bandwidth= explicitly or median='pairs_sq'."
            )
        sigma = threshold * (med**0.5 if median.endswith("_sq") else med)
    return D.mul_(-1.0 / (2.0 * sigma * sigma)).exp_(), sigma


def _center_in_place(K: torch.Tensor, unbiased: bool) -> torch.Tensor:
    """H K H (biased) or the U-centred Gram (unbiased, Szekely & Rizzo 2014), in place."""
    m = K.shape[0]
    if unbiased:
        K.fill_diagonal_(0.0)
        means = K.sum(dim=0) / (m - 2)
        means -= means.sum() / (2 * (m - 1))
        K.sub_(means[:, None]).sub_(means[None, :])
        K.fill_diagonal_(0.0)
    else:
        col = K.mean(dim=0)
        K.sub_(col[None, :]).sub_(K.mean(dim=1)[:, None])
    return K


def rbf_cka_from(
    snap: ReservoirSnapshot,
    a: str,
    b: str,
    *,
    threshold: float = 1.0,
    median: str = "full_sq",
    bandwidth: float | None = None,
    debiased: bool = False,
) -> float:
    """RBF-kernel CKA of blocks ``a`` and ``b`` on a uniform row sample (Kornblith et al. 2019).

    CKA = <H K H, H L H> / (||H K H||_F ||H L H||_F) with K_ij = exp(-||x_i - x_j||^2 / (2 sigma_x^2))
    and its own sigma_y for L; ``debiased=True`` uses U-centred Grams (unbiased HSIC) instead of H.

    Parameters
    ----------
    snap : ReservoirSnapshot
        Rows kept by :class:`~featcorr.stats.Reservoir` (the whole data when n <= size).
    a, b : str
        Block names.
    threshold : float, default=1.0
        Fraction tau of the median distance (Kornblith's ``threshold``).
    median : {"full_sq", "pairs_sq", "pairs", "full"}, default="full_sq"
        Bandwidth convention (:data:`MEDIAN_CONVENTIONS`); ``"full_sq"`` is
        Kornblith's ``gram_rbf``: sigma^2 = tau^2 median of the full matrix of
        squared distances, zeros included.
    bandwidth : float, optional
        Fixed sigma for both blocks instead of the median rule.
    debiased : bool, default=False
        Unbiased HSIC (U-centring) in numerator and denominator.

    Returns
    -------
    float
        In [0, 1] (biased); the debiased value is signed and never clamped.
        Exact on the sample; exact on the data when ``snap.exact``.

    Notes
    -----
    Invariant to orthogonal maps, translation and (with the median rule)
    isotropic scaling of either block. Cost O(m^2 (p + q)) time, a few m x m
    float64 matrices of memory (m = sample size; 5000 rows ~ 200 MB each).
    Tested against Kornblith's ``cka(gram_rbf(X, t), gram_rbf(Y, t), debiased)``
    rewritten in float64 numpy, to 1e-10 (tests/measures/test_kernel_cka.py),
    and ckatorch ``cka_base(kernel="rbf")`` to 1e-9 (tests/anchors).

    References
    ----------
    .. [1] Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network
       Representations Revisited", ICML 2019, arXiv:1905.00414.
    """
    check_option(median, MEDIAN_CONVENTIONS, name="median", caller="rbf_cka")
    if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and threshold > 0):
        raise UnknownOptionError(f"rbf_cka: threshold must be a positive number, got {threshold!r}.")
    if bandwidth is not None and (isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not bandwidth > 0):
        raise UnknownOptionError(f"rbf_cka: bandwidth must be a positive number (sigma), got {bandwidth!r}.")
    m = snap.m
    minimum = 4 if debiased else 2
    if m < minimum:
        raise NotEnoughSamplesError(
            f"rbf_cka: found {m} sample(s) while a minimum of {minimum} is required"
            + (" by the unbiased HSIC estimator (debiased=True)" if debiased else "")
            + "; pass more rows."
        )
    grams = []
    for name in dict.fromkeys((a, b)):
        X = snap.rows(name)
        if not bool((X != X[0]).any()):
            raise ConstantFeatureError(
                f"rbf_cka: block {name!r} is constant across samples, so its centred RBF Gram is 0 and CKA is "
                "undefined; check that the layer is alive or drop it from the comparison."
            )
        K, _ = rbf_gram(X, threshold=threshold, median=median, bandwidth=bandwidth, name=name)
        grams.append(_center_in_place(K, debiased))
    Kc = grams[0]
    Lc = grams[-1]
    hxx = float(torch.sum(Kc * Kc))
    if a == b:
        return _ratio(hxx, hxx, hxx, a, b, caller="rbf_cka", n_text=f"the sample is small (m={m})")
    hyy = float(torch.sum(Lc * Lc))
    hxy = float(torch.sum(Kc * Lc))
    if debiased:
        return _ratio(hxy, hxx, hyy, a, b, caller="rbf_cka", n_text=f"the sample is small (m={m})")
    return hxy / math.sqrt(hxx * hyy)


def _rbf_statistics(
    A: Sequence[str], B: Sequence[str], *, engine: Mapping[str, Any] | None = None, sample_size: int = 5000,
    seed: int = 0, **_: Any
) -> dict[str, Reservoir]:
    union = tuple(dict.fromkeys(tuple(A) + tuple(B)))
    return {"sample": Reservoir(size=sample_size, seed=seed, blocks=union)}


def _rbf_compute(
    snaps: Mapping[str, Any], a: str, b: str, *, sample_size: int = 5000, seed: int = 0, **opts: Any
) -> float:
    return rbf_cka_from(snaps["sample"], a, b, **opts)


register(
    MeasureSpec(
        name="rbf_cka",
        statistic="sample",
        kind="similarity",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="[0, 1]; signed when debiased=True (never clamped)",
        reference="Kornblith et al. demo cka(gram_rbf(X, threshold), gram_rbf(Y, threshold), debiased), "
        "float64 numpy",
        paper="Kornblith, Norouzi, Lee, Hinton, ICML 2019, arXiv:1905.00414",
        statistics=_rbf_statistics,
        compute=_rbf_compute,
        options={"threshold": 1.0, "median": "full_sq", "bandwidth": None, "debiased": False, "sample_size": 5000, "seed": 0},
    )
)
