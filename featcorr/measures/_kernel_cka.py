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
from ..stats import MinibatchHSIC, MinibatchHSICSnapshot
from ._registry import MeasureSpec, register

__all__ = ["minibatch_cka_from"]


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
    batch_size: int | None = None, bandwidth: Any = None, threshold: float = 1.0, **_: Any
) -> dict[str, MinibatchHSIC]:
    engine = dict(engine or {})
    check_option(kernel, ("linear", "rbf"), name="kernel", caller="minibatch_cka")
    A, B = tuple(A), tuple(B)
    union = tuple(dict.fromkeys(A + B))
    pairs = "all" if set(A) == set(B) else ("cross", A, B)
    opts: dict[str, Any] = {"gemm_dtype": engine.get("gemm_dtype", "float64")}
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
        options={"kernel": "linear", "batch_size": None, "bandwidth": None, "threshold": 1.0},
    )
)
