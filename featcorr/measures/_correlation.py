"""Unit-by-unit Pearson correlation matrices from moments."""

from __future__ import annotations

import torch

from ..errors import ConstantFeatureError
from ..stats import MomentsSnapshot

__all__ = ["unit_correlation_from"]


def unit_correlation_from(snap: MomentsSnapshot, a: str, b: str, *, constant: str = "raise") -> torch.Tensor:
    """Pearson correlation of every unit of block ``a`` with every unit of block ``b``.

    R_ij = S_xy[i, j] / sqrt(S_xx[i, i] S_yy[j, j]) from the centred moments.

    Parameters
    ----------
    snap : MomentsSnapshot
    a, b : str
        Block names.
    constant : {"raise", "nan", "zero"}, default="raise"
        What to do with zero-variance (dead) units: raise
        :class:`~featcorr.errors.ConstantFeatureError` naming them, or fill
        their rows/columns with NaN or 0.

    Returns
    -------
    torch.Tensor of shape (p_a, p_b), float64, entries in [-1, 1].
    """
    from .._validation import check_option

    check_option(constant, ("raise", "nan", "zero"), name="constant", caller="unit_correlation")
    vx = snap.variances(a)
    vy = vx if b == a else snap.variances(b)
    dead_x = torch.nonzero(vx <= 0).flatten().tolist()
    dead_y = torch.nonzero(vy <= 0).flatten().tolist()
    if (dead_x or dead_y) and constant == "raise":
        parts = []
        if dead_x:
            parts.append(f"block {a!r} units {dead_x[:10]}{' ...' if len(dead_x) > 10 else ''}")
        if dead_y and b != a:
            parts.append(f"block {b!r} units {dead_y[:10]}{' ...' if len(dead_y) > 10 else ''}")
        raise ConstantFeatureError(
            "unit_correlation: zero-variance (dead) units have no correlation: " + "; ".join(parts)
            + ". Pass constant='nan' or constant='zero' to fill them, or drop those units."
        )
    sx = torch.sqrt(torch.clamp(vx, min=0))
    sy = torch.sqrt(torch.clamp(vy, min=0))
    R = snap.comoment(a, b) / torch.outer(sx, sy)
    if dead_x or dead_y:
        fill = float("nan") if constant == "nan" else 0.0
        R = R.clone()
        R[dead_x, :] = fill
        R[:, dead_y] = fill
    if b == a:
        R = R.clone()
        live = torch.ones(R.shape[0], dtype=torch.bool)
        live[dead_x] = False
        idx = torch.nonzero(live).flatten()
        R[idx, idx] = 1.0
    return R
