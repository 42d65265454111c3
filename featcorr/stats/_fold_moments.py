"""Moments per cross-validation fold, with each sample's fold fixed by a seeded hash of its values.

``FoldMoments`` keeps one :class:`~featcorr.stats.Moments` per fold. A row's
fold is ``h(row) mod n_folds`` where h is a seeded universal hash of the
float64 bit patterns of the row's accumulated feature values (all
accumulated blocks, in sorted block order). The fold of a sample therefore
depends only on the sample itself: not on batch boundaries, order of the
stream, or how the data are sharded. Merging shards is fold-wise Chan merging,
and equals one pass over all the data for *any* split of the data.

What this means: identical rows always share a fold (no leakage of
duplicates across folds); the same data give the same split on every run;
activations recomputed on other hardware may differ in their last bits and
then give a different (equally random) split. Change ``seed`` for another
split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .._validation import check_finite
from ..errors import EmptyStatisticError, ShapeError, StatisticMismatchError, UnknownOptionError
from ._base import Statistic, _freeze, normalize_batch
from ._moments import DEFAULT_MAX_FEATURES, DEFAULT_MAX_MEMORY_GB, Moments, MomentsSnapshot

__all__ = ["FoldMoments", "FoldMomentsSnapshot", "fold_of_rows"]

_PRIME = 2**31 - 1  # Mersenne prime of the hash
_MASK32 = 0xFFFFFFFF
_CHUNK = 1024  # columns hashed at a time (bounds temporary memory to n x _CHUNK int64)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _weights(seed: int, start: int, count: int, device: torch.device) -> torch.Tensor:
    """Hash weights in [1, 2^31 - 1) for columns start..start+count, two per column (low, high word)."""
    w = [1 + _splitmix64((seed << 40) ^ (2 * j + h)) % (_PRIME - 1) for j in range(start, start + count) for h in (0, 1)]
    return torch.tensor(w, dtype=torch.int64, device=device).reshape(count, 2)


def fold_of_rows(blocks: Sequence[torch.Tensor], n_folds: int, seed: int) -> torch.Tensor:
    """Fold index (0..n_folds-1) of every row of the 2-D ``blocks`` (same n), shape (n,), int64.

    h(row) = sum_j (lo_j a_j + hi_j b_j) mod (2^31 - 1), with lo_j / hi_j the
    low / high 32-bit words of the float64 value of column j (-0.0 read as
    0.0) and (a_j, b_j) seeded weights; fold = h mod n_folds.

    Parameters
    ----------
    blocks : sequence of torch.Tensor of shape (n, p_i)
        The row's blocks, in the order they are hashed (FoldMoments sorts by name).
    n_folds : int
        Number of folds.
    seed : int
        Seed of the weights.

    Returns
    -------
    torch.Tensor of shape (n,), int64
        Fold of each row.
    """
    n = blocks[0].shape[0]
    device = blocks[0].device
    h = torch.zeros(n, dtype=torch.int64, device=device)
    col = 0
    for t in blocks:
        x = t.to(torch.float64) + 0.0  # -0.0 -> 0.0
        for lo in range(0, x.shape[1], _CHUNK):
            bits = x[:, lo : lo + _CHUNK].contiguous().view(torch.int64)
            w = _weights(seed, col + lo, bits.shape[1], device)
            low = (bits & _MASK32) % _PRIME
            high = (bits >> 32) & _MASK32
            high = high % _PRIME
            h = (h + ((low * w[:, 0]) % _PRIME).sum(dim=1) + ((high * w[:, 1]) % _PRIME).sum(dim=1)) % _PRIME
        col += x.shape[1]
    return h % n_folds


class FoldMoments(Statistic):
    """Moments of every cross-validation fold, for exact k-fold CV from one pass.

    Parameters
    ----------
    n_folds : int, default=5
        Number of folds (>= 2).
    seed : int, default=0
        Seed of the fold hash (see module docstring).
    pairs : "all", "self", ("cross", names_a, names_b) or iterable of pairs, default="all"
        As :class:`~featcorr.stats.Moments` (every fold keeps the same blocks).
    blocks : sequence of str, optional
        As :class:`~featcorr.stats.Moments`.
    max_features : int, default=16384
        As :class:`~featcorr.stats.Moments`.
    max_memory_gb : float, default=8.0
        Budget for all folds together (each fold gets 1/n_folds of it).
    gemm_dtype : {"float64", "float32"}, default="float64"
        As :class:`~featcorr.stats.Moments`.

    Notes
    -----
    A sample's fold is a seeded hash of its accumulated values, so batch
    boundaries, stream order and sharding do not change the split, and
    ``merge`` of shards equals one pass over their union. The fold of row i
    is given by :func:`fold_of_rows`. ``finalize`` returns a
    :class:`FoldMomentsSnapshot` with one moments snapshot per fold (a fold
    may hold 0 or 1 samples) and the pooled total.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.stats import FoldMoments
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(200, 4)), rng.normal(size=(200, 2))
    >>> snap = FoldMoments(n_folds=5).update({"x": X, "y": Y}).finalize()
    >>> sum(f.n for f in snap.folds) == snap.total.n == 200
    True
    """

    kind = "fold_moments"

    def __init__(
        self,
        n_folds: int = 5,
        *,
        seed: int = 0,
        pairs: Any = "all",
        blocks: Sequence[str] | None = None,
        max_features: int = DEFAULT_MAX_FEATURES,
        max_memory_gb: float = DEFAULT_MAX_MEMORY_GB,
        gemm_dtype: str = "float64",
    ) -> None:
        if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
            raise UnknownOptionError(
                f"FoldMoments: n_folds={n_folds!r} must be an int >= 2 (the number of cross-validation folds)."
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise UnknownOptionError(f"FoldMoments: seed must be a non-negative int, got {seed!r}.")
        if not (isinstance(max_memory_gb, (int, float)) and max_memory_gb > 0):
            raise UnknownOptionError(f"FoldMoments: max_memory_gb must be a positive number, got {max_memory_gb!r}.")
        self.n_folds = n_folds
        self.seed = seed
        self.max_memory_gb = float(max_memory_gb)
        self._fold_opts = dict(
            pairs=pairs, blocks=blocks, max_features=max_features,
            max_memory_gb=self.max_memory_gb / n_folds, gemm_dtype=gemm_dtype,
        )
        self.folds = [Moments(**self._fold_opts) for _ in range(n_folds)]

    def config(self) -> dict[str, Any]:
        cfg = self.folds[0].config()
        return {
            "n_folds": self.n_folds,
            "seed": self.seed,
            "pairs": cfg["pairs"],
            "blocks": cfg["blocks"],
            "max_features": cfg["max_features"],
            "max_memory_gb": self.max_memory_gb,
            "gemm_dtype": cfg["gemm_dtype"],
        }

    def check_budget(self, widths: Mapping[str, int]) -> None:
        """Raise MemoryBudgetError if the folds' moments of blocks this wide would not fit (see Moments)."""
        self.folds[0].check_budget(widths)

    @property
    def n(self) -> int:
        """Samples accumulated over all folds."""
        return sum(f.n for f in self.folds)

    def update(self, batch: Any = None, /, **blocks: Any) -> FoldMoments:
        """Add one batch; each row goes to the fold its hash picks."""
        data = normalize_batch(batch, blocks, caller="FoldMoments.update")
        only = self.folds[0].only
        if only is not None:
            missing = [b for b in only if b not in data]
            if missing:
                raise ShapeError(
                    f"FoldMoments.update: the batch lacks block(s) {missing} this statistic accumulates "
                    f"(batch blocks: {list(data)})."
                )
            data = {b: data[b] for b in only}
        for name, t in data.items():
            check_finite(t, name=f"block {name!r}", caller="FoldMoments.update")
        fold = fold_of_rows([data[k] for k in sorted(data)], self.n_folds, self.seed).cpu()
        for f, m in enumerate(self.folds):
            idx = torch.nonzero(fold == f).flatten()
            if idx.numel():
                m.update({k: v[idx.to(v.device)] for k, v in data.items()})
        ref = next(m for m in self.folds if m.widths)
        for m in self.folds:
            if not m.widths:  # no row of this fold yet: allocate its zeros so every fold has the same layout
                m._setup(dict(ref.widths), ref.mean.device)
        return self

    def merge(self, other: FoldMoments) -> FoldMoments:
        """Merge another FoldMoments (same options) fold by fold, exactly."""
        self._check_mergeable(other)
        for mine, theirs in zip(self.folds, other.folds):
            mine.merge(theirs)
        return self

    def finalize(self) -> FoldMomentsSnapshot:
        """Per-fold snapshots (n may be 0 or 1 in a fold) and the pooled total."""
        if self.n == 0:
            raise EmptyStatisticError(
                "FoldMoments.finalize: no samples were accumulated; the data was empty. Check that the loader or "
                "array yields samples."
            )
        folds = tuple(_snapshot(m) for m in self.folds)
        total = Moments(**self._fold_opts)
        for m in self.folds:
            if m.n:
                total.merge(m)  # total starts empty: the first merge copies (Moments.merge semantics)
        return FoldMomentsSnapshot(n_folds=self.n_folds, seed=self.seed, folds=folds, total=total.finalize())

    def state_dict(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "config": self.config(), "folds": [m.state_dict() for m in self.folds]}

    def load_state_dict(self, state: Mapping[str, Any]) -> FoldMoments:
        if state.get("class") != type(self).__name__ or _freeze(state.get("config")) != _freeze(self.config()):
            raise StatisticMismatchError(
                f"FoldMoments.load_state_dict: the state was saved with {state.get('class')} {state.get('config')}, "
                f"not this statistic's {self.config()}."
            )
        for m, s in zip(self.folds, state["folds"], strict=True):
            m.load_state_dict(s)
        return self

    def __repr__(self) -> str:
        return f"FoldMoments(n_folds={self.n_folds}, seed={self.seed}, n={[m.n for m in self.folds]})"


def _snapshot(m: Moments) -> MomentsSnapshot:
    """Snapshot of a fold's moments, allowed for n < 2 (a fold may be tiny)."""
    return MomentsSnapshot(
        n=m.n,
        widths=dict(m.widths),
        offsets=dict(m._offsets),
        tiles=tuple(m._tiles),
        mean_=m.mean.clone(),
        S_=tuple(S.clone() for S in m._S),
    )


@dataclass(frozen=True, eq=False)
class FoldMomentsSnapshot:
    """Frozen result of :class:`FoldMoments`: one moments snapshot per fold plus the pooled total."""

    n_folds: int
    seed: int
    folds: tuple[MomentsSnapshot, ...]
    total: MomentsSnapshot

    @property
    def n(self) -> int:
        return self.total.n
