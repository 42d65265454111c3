"""Helpers shared by the measure families: statistic requests and block access."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .._validation import check_not_constant
from ..stats import Moments, MomentsSnapshot

__all__ = ["moments_request", "centred_blocks", "MOMENTS_ENGINE_OPTIONS"]

#: engine options a Moments request understands (set by compare()/similarity()).
MOMENTS_ENGINE_OPTIONS = ("max_features", "max_memory_gb", "gemm_dtype")


def moments_request(
    blocks_a: Sequence[str],
    blocks_b: Sequence[str],
    *,
    engine: Mapping[str, Any] | None = None,
    self_blocks: str = "full",
) -> dict[str, Moments]:
    """The Moments every moment-based measure asks for: A x B cross blocks plus self blocks.

    When ``blocks_a`` and ``blocks_b`` are the same set (a model compared with
    itself) every pair is accumulated in one product; otherwise only the
    A x B tile and each block's own tile, or, with ``self_blocks="diagonal"``
    (measures that read only traces / unit variances of the self blocks), only
    the diagonal of each block's own tile.
    """
    engine = dict(engine or {})
    opts = {k: engine[k] for k in MOMENTS_ENGINE_OPTIONS if k in engine}
    A, B = tuple(blocks_a), tuple(blocks_b)
    union = tuple(dict.fromkeys(A + B))
    pairs = "all" if set(A) == set(B) else ("cross", A, B)
    if pairs == "all":  # the one P x P product holds every self block anyway
        self_blocks = "full"
    return {"moments": Moments(pairs=pairs, blocks=union, self_blocks=self_blocks, **opts)}


def centred_blocks(
    snap: MomentsSnapshot, a: str, b: str, *, caller: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(S_xx, S_yy, S_xy) from moments, raising when either block is constant."""
    Sxx = snap.comoment(a, a)
    Syy = Sxx if b == a else snap.comoment(b, b)
    check_not_constant(float(torch.diagonal(Sxx).sum()), name=f"block {a!r}", caller=caller)
    check_not_constant(float(torch.diagonal(Syy).sum()), name=f"block {b!r}", caller=caller)
    Sxy = Sxx if b == a else snap.comoment(a, b)
    return Sxx, Syy, Sxy
