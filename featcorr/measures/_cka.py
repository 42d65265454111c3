"""Centered kernel alignment (CKA) from streaming statistics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from ..stats import MomentsSnapshot
from ._common import centred_blocks, moments_request
from ._registry import MeasureSpec, register

__all__ = ["linear_cka_from"]


def linear_cka_from(snap: MomentsSnapshot, a: str, b: str) -> float:
    """Linear CKA of blocks ``a`` and ``b`` from their centred moments.

    CKA(X, Y) = ||S_xy||_F^2 / (||S_xx||_F ||S_yy||_F), with S the centred
    cross-products (any common normalisation cancels). Exact for the data the
    moments were accumulated on; equals the Gram-space form
    tr(K H L H) / sqrt(tr(K H K H) tr(L H L H)).

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Block names.

    Returns
    -------
    float in [0, 1]; exactly 1.0 when ``a == b``.

    Raises
    ------
    ConstantFeatureError
        When either block has zero variance (CKA is 0/0).
    """
    Sxx, Syy, Sxy = centred_blocks(snap, a, b, caller="linear_cka")
    hxx = _sq_frobenius(Sxx)
    hyy = hxx if b == a else _sq_frobenius(Syy)
    hxy = hxx if b == a else _sq_frobenius(Sxy)
    return hxy / math.sqrt(hxx * hyy)


def _sq_frobenius(S: torch.Tensor) -> float:
    return float(torch.sum(S * S))


def _linear_cka_compute(snaps: Mapping[str, Any], a: str, b: str, **_: Any) -> float:
    return linear_cka_from(snaps["moments"], a, b)


register(
    MeasureSpec(
        name="linear_cka",
        statistic="moments",
        kind="similarity",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="[0, 1]",
        reference="Kornblith et al. demo feature_space_linear_cka / float64 Gram formula; pytorch-cka, torch-cka",
        paper="Kornblith, Norouzi, Lee, Hinton, ICML 2019, arXiv:1905.00414",
        statistics=lambda A, B, *, engine=None, **_: moments_request(A, B, engine=engine),
        compute=_linear_cka_compute,
    )
)
