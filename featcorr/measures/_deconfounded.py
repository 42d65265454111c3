"""Deconfounded CKA (Cui et al. 2022): linear CKA after regressing the input's Gram out of each Gram.

Linear dCKA has a closed form in centred cross-products (METHODS.md A11). With
c_uv = ||U_c^T V_c||_F^2 = <K_u, K_v> for centred Grams K = X_c X_c^T, the OLS
fit of vec(K_X) on [1, vec(K_0)] over all n^2 entries has intercept 0 (centred
Grams sum to 0) and slope c_X0 / c_00, so the residual Gram is
K_X - (c_X0 / c_00) K_0, already double-centred, and

    dCKA = (c_XY - c_X0 c_Y0 / c_00) / sqrt((c_XX - c_X0^2 / c_00)(c_YY - c_Y0^2 / c_00)),

a partial correlation of linear-CKA inner products. Exact from the moments of
(X, Y, X0) accumulated in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import ConstantFeatureError
from ..stats import Moments, MomentsSnapshot
from ._common import MOMENTS_ENGINE_OPTIONS, centred_blocks
from ._registry import MeasureSpec, register

__all__ = ["deconfounded_cka_from", "INPUT_BLOCK"]

#: Block the compare engine fills with the flattened model input (the confounder).
INPUT_BLOCK = "__input__"

#: A residual Gram whose squared norm is below this fraction of the Gram's own is zero up to rounding.
_ROUNDING = 1e-12


def _c(snap: MomentsSnapshot, u: str, v: str) -> float:
    S = snap.comoment(u, v)
    return float(torch.sum(S * S))


def deconfounded_cka_from(snap: MomentsSnapshot, a: str, b: str, *, confounder: str = INPUT_BLOCK) -> float:
    """Linear deconfounded CKA of blocks ``a`` and ``b`` given the confounder block (Cui et al. 2022).

    Each centred linear Gram is regressed (OLS over all n^2 entries, with an
    intercept) on the confounder's centred Gram; dCKA is the CKA of the residual
    Grams. Computed exactly from centred cross-products (module docstring).

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding (a, b), (a, a), (b, b), (a, c), (b, c) and (c, c), c the confounder.
    a, b : str
        Block names.
    confounder : str, default="__input__"
        Block holding the confounder X0 (the flattened model input, which the
        compare engine adds as ``"__input__"``; ``similarity(..., confounder=X0)``
        for arrays).

    Returns
    -------
    float in [-1, 1]
        Signed (a residual correlation), never clamped; exactly 1.0 when ``a == b``.
        Invariant to orthogonal maps, isotropic scaling and translation of X, Y or X0.

    Raises
    ------
    ConstantFeatureError
        When X, Y or X0 is constant, or the Gram of X (or Y) is a multiple of
        the confounder's (e.g. X an orthogonal map of the input) so that
        nothing remains after regressing it out.

    Notes
    -----
    Tested against a direct float64 implementation of the paper's regression
    (simtorch ``DeltaCKA`` style: normalised centred Grams, OLS of every
    Gram entry on [1, K_0] with numpy lstsq, then CKA of the residuals) to
    1e-9 (tests/measures/test_deconfounded_cka.py).

    References
    ----------
    .. [1] Cui, Kumar, Marttinen, Kaski, "Deconfounded Representation Similarity
       for Comparison of Neural Networks", NeurIPS 2022, arXiv:2202.00095.
    """
    caller = "deconfounded_cka"
    centred_blocks(snap, a, b, caller=caller)  # constant X or Y
    centred_blocks(snap, confounder, confounder, caller=caller)
    c00 = _c(snap, confounder, confounder)
    resid = {}
    for name in dict.fromkeys((a, b)):
        cxx, cx0 = _c(snap, name, name), _c(snap, name, confounder)
        r = cxx - cx0 * cx0 / c00
        if not r > _ROUNDING * cxx:
            raise ConstantFeatureError(
                f"{caller}: the Gram of block {name!r} is a multiple of the confounder's Gram (residual "
                f"{r:.3g} of {cxx:.3g} after regressing it out), e.g. an orthogonal map of the input; nothing "
                "remains to compare. Use linear_cka, or check that the confounder is the right block."
            )
        resid[name] = (r, cx0)
    if a == b:
        return 1.0
    (rx, cx0), (ry, cy0) = resid[a], resid[b]
    return (_c(snap, a, b) - cx0 * cy0 / c00) / math.sqrt(rx * ry)


def _statistics(
    A: Sequence[str], B: Sequence[str], *, engine: Mapping[str, Any] | None = None, **_: Any
) -> dict[str, Moments]:
    engine = dict(engine or {})
    opts = {k: engine[k] for k in MOMENTS_ENGINE_OPTIONS if k in engine}
    A, B = tuple(A), tuple(B)
    union = tuple(dict.fromkeys(A + B))
    pairs = [(x, y) for x in A for y in B if x != y] + [(x, INPUT_BLOCK) for x in union]
    return {"moments": Moments(pairs=pairs, blocks=union + (INPUT_BLOCK,), **opts)}


register(
    MeasureSpec(
        name="deconfounded_cka",
        statistic="moments",
        kind="similarity",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="[-1, 1]",
        reference="direct float64 OLS of centred Gram entries on [1, input Gram] (simtorch DeltaCKA style)",
        paper="Cui, Kumar, Marttinen, Kaski, NeurIPS 2022, arXiv:2202.00095",
        statistics=_statistics,
        compute=lambda snaps, a, b, **_: deconfounded_cka_from(snaps["moments"], a, b),
        extra_blocks=(INPUT_BLOCK,),
    )
)
