"""Exact streaming first and second moments of many feature blocks at once.

``Moments`` keeps, for named blocks X_1..X_L of widths p_1..p_L, the sample
count n, the column means and the *centred* cross-products
S_ab = (X_a - 1 mu_a^T)^T (X_b - 1 mu_b^T) for the requested block pairs, all in
float64 on the device of the incoming tensors. Batches are centred on their
own means before the product and folded in with Chan et al.'s pairwise update
(the same rule merges shards), so large offsets never cost digits and merging
any split of the data equals one pass over the whole.

The pairs are stored as rectangular *tiles* (a set of row blocks times a set
of column blocks), each filled by one matrix product per batch: ``"all"`` is
one (P x P) tile, two models' layers ``pairs=("cross", A, B)`` one
(P_A x P_B) tile plus each layer's own (p x p) tile. With
``self_blocks="diagonal"`` a layer whose own block no tile covers keeps only
the diagonal of that block (its per-column centred sums of squares, p numbers
instead of p x p): enough for measures that need only Frobenius norms or unit
variances (Procrustes, maxcorr/mincorr).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import (
    EmptyStatisticError,
    MemoryBudgetError,
    NotEnoughSamplesError,
    ShapeError,
    StatisticMismatchError,
    UnknownLayerError,
    UnknownOptionError,
    close_matches_hint,
)
from .._validation import check_finite
from ._base import Statistic, _freeze, normalize_batch

__all__ = [
    "Moments",
    "MomentsSnapshot",
    "normalize_pairs",
    "DEFAULT_MAX_FEATURES",
    "DEFAULT_MAX_MEMORY_GB",
    "SELF_BLOCKS",
]

#: Largest block width accumulated as p x p moments by default (2 GiB of float64 per self block).
DEFAULT_MAX_FEATURES = 16384
#: Default budget for all moment tiles together, in GiB.
DEFAULT_MAX_MEMORY_GB = 8.0

_GEMM_DTYPES = ("float64", "float32")
#: Values of ``Moments(self_blocks=...)``.
SELF_BLOCKS = ("full", "diagonal")
#: Symmetric tiles wider than this are split into column chunks of about this width, and only the
#: upper block triangle is multiplied (the lower one is mirrored when read).
_SYM_CHUNK = 512
#: gemm_dtype="float32": products are summed in float32 over at most this many batches, then added
#: into the float64 moments (one pass over the tiles per this many batches instead of per batch).
_FLUSH_EVERY = 8
#: Largest per-batch workspace kept between updates, in bytes.
_WORKSPACE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class _Tile:
    rows: tuple[str, ...]
    cols: tuple[str, ...]


class Moments(Statistic):
    """Streaming n, means and centred cross-products of named feature blocks.

    Parameters
    ----------
    pairs : "all", "self", ("cross", names_a, names_b) or iterable of (name_a, name_b), default="all"
        Which block pairs get cross-products. Every block's own (p x p)
        block is always kept. ``"all"`` keeps every pair (one P x P product
        per batch); ``("cross", A, B)`` keeps A x B (two models' layers);
        a list keeps exactly those pairs.
    max_features : int, default=16384
        Largest width a block may have; wider blocks raise
        :class:`~featcorr.errors.MemoryBudgetError` before any memory is
        allocated (use ``pool="mean"``, or the minibatch CKA measure).
    max_memory_gb : float, default=8.0
        Budget for all accumulated tiles together.
    blocks : sequence of str, optional
        Accumulate only these blocks of each batch (others are ignored);
        default: every block of the first batch.
    gemm_dtype : {"float64", "float32"}, default="float64"
        Precision of the per-batch product of the *centred* batch. The moments
        are always float64; ``"float32"`` is about twice as fast, keeps about 7
        significant digits per batch, sums the products of up to 8 batches in
        float32 partial tiles before adding them in float64 (so the tiles
        take 1.5 times the memory), and is meant for float32 activations.
    self_blocks : {"full", "diagonal"}, default="full"
        ``"full"`` keeps every block's own (p x p) cross-product.
        ``"diagonal"`` keeps, for blocks whose own pair no requested tile
        covers, only its diagonal: the centred sum of squares of each column
        (``MomentsSnapshot.variances``, ``.trace``), accumulated and merged with
        the same Chan update; ``comoment(a, a)`` of such a block raises. For
        Procrustes (needs tr S_xx only) and unit correlations (need diag S_xx)
        this removes the two p x p products per batch. A full-mode Moments with
        otherwise equal options serves a diagonal-mode request
        (:meth:`serves`), so an engine accumulates one statistic when both are
        asked for. The default is left out of :meth:`config`, so keys and saved
        states of full-mode Moments are those of earlier versions.

    Notes
    -----
    ``update`` accepts a mapping ``{name: array (n, p)}``, keyword arrays, or
    one array (named ``"X"``). Arrays may be numpy, pandas or torch (any
    device); integer input is converted to float64. The first update fixes the
    block names and widths.

    Streaming: the per-batch moments are combined with Chan, Golub & LeVeque's
    pairwise update, ``S = S_a + S_b + d_a d_b^T n_a n_b / n`` with
    ``d = mean_b - mean_a``; ``merge`` uses the same rule, so any split of the
    data into batches or shards gives the one-pass result up to rounding.

    References
    ----------
    .. [1] Chan, Golub, LeVeque, "Updating formulae and a pairwise algorithm for
       computing sample variances", Stanford CS report STAN-CS-79-773, 1979.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.stats import Moments
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(100, 5)), rng.normal(size=(100, 3))
    >>> m = Moments().update({"x": X[:60], "y": Y[:60]}).update({"x": X[60:], "y": Y[60:]})
    >>> snap = m.finalize()
    >>> snap.n, tuple(snap.comoment("x", "y").shape)
    (100, (5, 3))
    """

    kind = "moments"

    def __init__(
        self,
        pairs: Any = "all",
        *,
        blocks: Sequence[str] | None = None,
        max_features: int = DEFAULT_MAX_FEATURES,
        max_memory_gb: float = DEFAULT_MAX_MEMORY_GB,
        gemm_dtype: str = "float64",
        self_blocks: str = "full",
    ) -> None:
        self.pairs = _normalize_pairs(pairs)
        if self_blocks not in SELF_BLOCKS:
            raise UnknownOptionError(
                f"{type(self).__name__}: self_blocks={self_blocks!r} is not supported; choose 'full' (each block's "
                "p x p self cross-product) or 'diagonal' (only its per-column sums of squares)."
            )
        self.self_blocks = self_blocks
        self.only = None if blocks is None else tuple(str(b) for b in blocks)
        if not (isinstance(max_features, int) and max_features >= 1):
            raise UnknownOptionError(f"Moments: max_features must be a positive int, got {max_features!r}.")
        if not (isinstance(max_memory_gb, (int, float)) and max_memory_gb > 0):
            raise UnknownOptionError(f"Moments: max_memory_gb must be a positive number, got {max_memory_gb!r}.")
        if gemm_dtype not in _GEMM_DTYPES:
            raise UnknownOptionError(
                f"Moments: gemm_dtype={gemm_dtype!r} is not supported; choose one of {_GEMM_DTYPES}."
            )
        self.max_features = max_features
        self.max_memory_gb = float(max_memory_gb)
        self.gemm_dtype = gemm_dtype
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self.n = 0
        self.widths: dict[str, int] = {}
        self._offsets: dict[str, int] = {}
        self._tiles: list[_Tile] = []
        self.mean: torch.Tensor | None = None  # (P,)
        self._S: list[torch.Tensor] = []  # one (rows, cols) tensor per tile
        self._work: torch.Tensor | None = None  # reusable (batch + 1, P) float64 workspace
        self._acc32: list[torch.Tensor] | None = None  # gemm_dtype="float32": partial sums, flushed into _S
        self._pending = 0  # batches held in _acc32
        self._D: torch.Tensor | None = None  # self_blocks="diagonal": (P,) centred sums of squares of every column

    def config(self) -> dict[str, Any]:
        cfg = {
            "pairs": self.pairs,
            "blocks": self.only,
            "max_features": self.max_features,
            "max_memory_gb": self.max_memory_gb,
            "gemm_dtype": self.gemm_dtype,
        }
        if self.self_blocks != "full":  # the default stays out: keys and saved states of full mode are unchanged
            cfg["self_blocks"] = self.self_blocks
        return cfg

    def serves(self, other: Statistic) -> bool:
        """Whether this statistic's snapshot answers every query of ``other``'s (so ``other`` need not be built).

        True for equal keys, and for a :class:`Moments` request (exactly that
        class) with the same blocks, budgets and ``gemm_dtype`` when this one
        keeps at least its pairs (equal ``pairs``, or ``pairs="all"``) and at
        least its self blocks (``"full"`` covers ``"diagonal"``). Subclasses
        that add sums to the snapshot (:class:`DebiasedMoments`) inherit it:
        their snapshots are MomentsSnapshots.
        """
        if other.key == self.key:
            return True
        if type(other) is not Moments or not isinstance(self, Moments):
            return False
        if (self.only, self.max_features, self.max_memory_gb, self.gemm_dtype) != (
            other.only, other.max_features, other.max_memory_gb, other.gemm_dtype
        ):
            return False
        if self.pairs != other.pairs and self.pairs != "all":
            return False
        return self.self_blocks == "full" or other.self_blocks == "diagonal"

    @property
    def blocks(self) -> list[str]:
        """Block names in accumulation order (empty before the first update)."""
        return list(self.widths)

    def check_budget(self, widths: Mapping[str, int]) -> None:
        """Raise :class:`~featcorr.errors.MemoryBudgetError` if blocks of these widths would not fit.

        The check ``update`` runs on its first batch, without allocating
        anything, so callers can choose another statistic before a pass.

        Parameters
        ----------
        widths : mapping str -> int
            Block name -> number of features, as the first batch would carry
            them (blocks this statistic does not accumulate are ignored).
        """
        if self.only is not None:
            widths = {b: int(widths[b]) for b in self.only if b in widths}
        too_wide = {k: p for k, p in widths.items() if p > self.max_features}
        if too_wide:
            name, p = max(too_wide.items(), key=lambda kv: kv[1])
            raise MemoryBudgetError(
                f"Moments: block {name!r} has {p} features, above max_features={self.max_features}; its p x p "
                f"moments alone would take {p * p * 8 / 2**30:.1f} GiB of float64. Use pool='mean' (average conv "
                "maps over positions / tokens over the sequence), or measure='minibatch_cka' (no p x p "
                f"statistic), or raise max_features. Blocks over the limit: {sorted(too_wide)}."
            )
        tiles = _plan_tiles(self.pairs, list(widths), diagonal=self.self_blocks == "diagonal")
        total = sum(
            sum(widths[b] for b in t.rows) * sum(widths[b] for b in t.cols) for t in tiles
        ) * 8 / 2**30
        if self.gemm_dtype == "float32":
            total *= 1.5  # float32 partial tiles
        if total > self.max_memory_gb:
            raise MemoryBudgetError(
                f"Moments: the requested cross-products need {total:.1f} GiB of float64, above "
                f"max_memory_gb={self.max_memory_gb:g} (block widths: {dict(widths)}). Use pool='mean', fewer "
                "layers (layers_a=/layers_b=), measure='minibatch_cka', or raise max_memory_gb."
            )

    def _setup(self, widths: Mapping[str, int], device: torch.device) -> None:
        self.check_budget(widths)
        self.widths = dict(widths)
        offs = itertools.accumulate([0] + list(widths.values()))
        self._offsets = dict(zip(widths, offs))
        self._tiles = _plan_tiles(self.pairs, list(widths), diagonal=self.self_blocks == "diagonal")
        P = sum(widths.values())
        self.mean = torch.zeros(P, dtype=torch.float64, device=device)
        self._S = [torch.zeros(self._tile_shape(t), dtype=torch.float64, device=device) for t in self._tiles]
        if self.self_blocks == "diagonal":
            self._D = torch.zeros(P, dtype=torch.float64, device=device)

    def _tile_shape(self, tile: _Tile) -> tuple[int, int]:
        return (sum(self.widths[b] for b in tile.rows), sum(self.widths[b] for b in tile.cols))

    def _index(self, names: Sequence[str]) -> slice | torch.Tensor:
        """Column positions of ``names`` in the stacked (n, P) batch: a slice when contiguous."""
        starts = [self._offsets[b] for b in names]
        stops = [self._offsets[b] + self.widths[b] for b in names]
        if all(stops[i] == starts[i + 1] for i in range(len(names) - 1)):
            return slice(starts[0], stops[-1])
        return torch.cat([torch.arange(s, e) for s, e in zip(starts, stops)])

    # ----------------------------------------------------------------- update
    def update(self, batch: Any = None, /, **blocks: Any) -> Moments:
        """Add one batch: a mapping ``{name: (n, p) array}``, keyword arrays or one array."""
        data = normalize_batch(batch, blocks, caller="Moments.update")  # also rejects NaN / inf
        if self.only is not None:
            missing = [b for b in self.only if b not in data]
            if missing:
                raise ShapeError(
                    f"Moments.update: the batch lacks block(s) {missing} this statistic accumulates "
                    f"(batch blocks: {list(data)})."
                )
            data = {b: data[b] for b in self.only}
        widths = {k: int(v.shape[1]) for k, v in data.items()}
        device = next(iter(data.values())).device
        if not self.widths:
            self._setup(widths, device)
        elif widths != self.widths:
            self._raise_block_mismatch(widths)
        nb = next(iter(data.values())).shape[0]
        na, n = self.n, self.n + nb
        # One (nb + 1, P) float64 workspace: the batch centred on its own mean, plus one row
        # sqrt(na nb / n) (mean_b - mean) that folds Chan's rank-one correction into the same product.
        Z = self._workspace(nb + 1)
        for name, t in data.items():
            o = self._offsets[name]
            Z[:nb, o : o + self.widths[name]].copy_(t)
        head = Z[:nb]
        mean_b = head.mean(dim=0)
        if not bool(torch.isfinite(mean_b).all()):  # NaN/inf anywhere reaches its column mean
            for name, t in data.items():
                check_finite(t, name=f"block {name!r}", caller="Moments.update")
        head.sub_(mean_b)
        if na:
            delta = mean_b - self.mean
            Z[nb].copy_(delta).mul_(math.sqrt(na * nb / n))
        else:
            delta = None
            Z = head
        if self._D is not None:  # sum of squares of the centred rows plus Chan's row: the diagonal's update
            self._D.add_(Z.square().sum(dim=0))
        targets = self._S
        if self.gemm_dtype == "float32":
            Z = Z.to(torch.float32)
            if self._acc32 is None:
                self._acc32 = [torch.zeros_like(S, dtype=torch.float32) for S in self._S]
            targets = self._acc32
        for tile, S in zip(self._tiles, targets):
            self._accumulate(tile, S, Z)
        if targets is not self._S:
            self._pending += 1
            if self._pending >= _FLUSH_EVERY:
                self._flush()
        if delta is None:
            self.mean.copy_(mean_b)
        else:
            self.mean.add_(delta, alpha=nb / n)
        self.n = n
        return self

    def _workspace(self, rows: int) -> torch.Tensor:
        """A (rows, P) float64 buffer; buffers up to 64 MiB are kept for the next batch."""
        P = self.mean.shape[0]
        work = self._work
        if work is None or work.shape[0] < rows:
            work = torch.empty((rows, P), dtype=torch.float64, device=self.mean.device)
            self._work = work if rows * P * 8 <= _WORKSPACE_BYTES else None
        return work[:rows]

    def _accumulate(self, tile: _Tile, S: torch.Tensor, Z: torch.Tensor) -> None:
        """S += Z[:, rows]^T Z[:, cols]; only the upper block triangle of a symmetric tile."""
        r = Z[:, self._index(tile.rows)]
        if tile.cols != tile.rows:
            _gemm_into(S, r, Z[:, self._index(tile.cols)])
            return
        cuts = _sym_cuts(r.shape[1])
        for i, (a0, a1) in enumerate(cuts):
            for b0, b1 in cuts[i:]:
                _gemm_into(S[a0:a1, b0:b1], r[:, a0:a1], r[:, b0:b1])

    def _flush(self) -> None:
        """Add the float32 partial sums (gemm_dtype="float32") into the float64 moments."""
        if self._acc32 is not None and self._pending:
            for S, A in zip(self._S, self._acc32):
                S.add_(A)
                A.zero_()
        self._pending = 0

    def _symmetrize(self) -> None:
        """Make every symmetric tile exactly symmetric: mirror its upper block triangle, average diagonal blocks.

        Pending float32 partial sums are flushed first, so the float64 tiles are complete.
        """
        self._flush()
        for tile, S in zip(self._tiles, self._S):
            if tile.cols == tile.rows:
                cuts = _sym_cuts(S.shape[0])
                for i, (a0, a1) in enumerate(cuts):
                    D = S[a0:a1, a0:a1]
                    D.copy_((D + D.T) * 0.5)
                    for b0, b1 in cuts[i + 1 :]:
                        S[b0:b1, a0:a1].copy_(S[a0:a1, b0:b1].T)

    def _raise_block_mismatch(self, widths: Mapping[str, int]) -> None:
        missing = [b for b in self.widths if b not in widths]
        extra = [b for b in widths if b not in self.widths]
        changed = {b: (self.widths[b], widths[b]) for b in widths if b in self.widths and self.widths[b] != widths[b]}
        raise ShapeError(
            "Moments.update: this batch's blocks differ from the first batch's: "
            + (f"missing {missing}; " if missing else "")
            + (f"unexpected {extra}; " if extra else "")
            + (f"feature counts changed {changed} (before, now); " if changed else "")
            + "every batch must carry the same blocks with the same number of features."
        )

    def _combine(
        self, nb: int, mean_b: torch.Tensor, S_b: list[torch.Tensor], D_b: torch.Tensor | None = None
    ) -> None:
        """Chan et al.'s pairwise update of (n, mean, S, D) with another chunk's (nb, mean_b, S_b, D_b)."""
        if nb == 0:
            return
        na = self.n
        if na == 0:
            self.n = nb
            self.mean.copy_(mean_b)
            for S, Sb in zip(self._S, S_b):
                S.copy_(Sb)
            if self._D is not None:
                self._D.copy_(D_b)
            return
        n = na + nb
        delta = mean_b - self.mean
        w = na * nb / n
        for tile, S, Sb in zip(self._tiles, self._S, S_b):
            dr = delta[self._index(tile.rows)]
            dc = dr if tile.cols == tile.rows else delta[self._index(tile.cols)]
            S.add_(Sb)
            S.addr_(dr, dc, alpha=w)
        if self._D is not None:
            self._D.add_(D_b).add_(delta * delta, alpha=w)
        self.mean.add_(delta, alpha=nb / n)
        self.n = n

    # ------------------------------------------------------------------ merge
    def merge(self, other: Moments) -> Moments:
        """Fold another Moments (same options and blocks) into this one, exactly."""
        self._check_mergeable(other)
        if other.n == 0:
            return self
        if self.n == 0:
            return self.load_state_dict(other.state_dict())
        self._check_same_blocks(other)
        dev = self.mean.device
        other._symmetrize()
        D_b = None if other._D is None else other._D.to(dev)
        self._combine(other.n, other.mean.to(dev), [S.to(dev) for S in other._S], D_b)
        return self

    # --------------------------------------------------------------- finalize
    def finalize(self) -> MomentsSnapshot:
        """Frozen snapshot (n, means, centred cross-products); raises when n < 2."""
        if self.n == 0:
            raise EmptyStatisticError(
                "Moments.finalize: no samples were accumulated; the data was empty. Check that the loader or "
                "array yields at least 2 samples."
            )
        if self.n < 2:
            raise NotEnoughSamplesError(
                f"Moments.finalize: found {self.n} sample(s) while a minimum of 2 is required for centred moments."
            )
        self._symmetrize()
        return MomentsSnapshot(
            n=self.n,
            widths=dict(self.widths),
            offsets=dict(self._offsets),
            tiles=tuple(self._tiles),
            mean_=self.mean.clone(),
            S_=tuple(S.clone() for S in self._S),
            D_=None if self._D is None else self._D.clone(),
        )

    # ------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        self._symmetrize()
        return {
            "class": type(self).__name__,
            "config": self.config(),
            "n": self.n,
            "widths": list(self.widths.items()),
            "mean": None if self.mean is None else self.mean.clone(),
            "S": [S.clone() for S in self._S],
            **({} if self.self_blocks == "full" else {"D": None if self._D is None else self._D.clone()}),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> Moments:
        if state.get("class") != type(self).__name__ or _freeze(state.get("config")) != _freeze(
            self.config()
        ):
            raise StatisticMismatchError(
                f"Moments.load_state_dict: the state was saved with {state.get('class')} {state.get('config')}, "
                f"not this statistic's {self.config()}."
            )
        self._reset()
        widths = dict((str(k), int(v)) for k, v in state["widths"])
        if widths:
            mean = torch.as_tensor(state["mean"], dtype=torch.float64)
            self._setup(widths, mean.device)
            self.mean.copy_(mean)
            for S, saved in zip(self._S, state["S"], strict=True):
                S.copy_(torch.as_tensor(saved, dtype=torch.float64))
            if self._D is not None:
                self._D.copy_(torch.as_tensor(state["D"], dtype=torch.float64))
        self.n = int(state["n"])
        return self

    def __repr__(self) -> str:
        extra = "" if self.self_blocks == "full" else f", self_blocks={self.self_blocks!r}"
        return f"Moments(n={self.n}, blocks={self.widths}, pairs={self.pairs!r}{extra})"


@dataclass(frozen=True, eq=False)
class MomentsSnapshot:
    """Frozen result of :class:`Moments`: n, means and centred cross-products.

    ``comoment(a, b)`` is the *unnormalised* centred cross-product
    ``(X_a - mean_a)^T (X_b - mean_b)`` of shape (p_a, p_b); divide by n - 1
    for the sample covariance (``cov``). ``D_`` holds the per-column centred
    sums of squares when the moments were accumulated with
    ``self_blocks="diagonal"`` (else None); ``variances`` and ``trace`` work
    in both modes.
    """

    n: int
    widths: dict[str, int]
    offsets: dict[str, int]
    tiles: tuple[_Tile, ...]
    mean_: torch.Tensor
    S_: tuple[torch.Tensor, ...]
    D_: torch.Tensor | None = field(default=None, kw_only=True)

    @property
    def blocks(self) -> list[str]:
        """Block names in accumulation order."""
        return list(self.widths)

    def _check(self, name: str) -> None:
        if name not in self.widths:
            raise UnknownLayerError(
                f"no block named {name!r} in these moments (blocks: {list(self.widths)})."
                + close_matches_hint(name, self.widths)
            )

    def mean(self, name: str) -> torch.Tensor:
        """Column means of block ``name``, shape (p,)."""
        self._check(name)
        o = self.offsets[name]
        return self.mean_[o : o + self.widths[name]]

    def _locate(self, tile: _Tile, a: str, b: str) -> tuple[torch.Tensor, slice, slice] | None:
        if a in tile.rows and b in tile.cols:
            return self.S_[self.tiles.index(tile)], self._span(tile.rows, a), self._span(tile.cols, b)
        return None

    def _span(self, names: tuple[str, ...], name: str) -> slice:
        start = sum(self.widths[x] for x in names[: names.index(name)])
        return slice(start, start + self.widths[name])

    def comoment(self, a: str, b: str) -> torch.Tensor:
        """Centred cross-product of blocks ``a`` and ``b``, shape (p_a, p_b), float64."""
        self._check(a)
        self._check(b)
        for tile in self.tiles:
            hit = self._locate(tile, a, b)
            if hit is not None:
                S, r, c = hit
                return S[r, c]
            hit = self._locate(tile, b, a)
            if hit is not None:
                S, r, c = hit
                return S[r, c].T
        if a == b and self.D_ is not None:
            raise UnknownLayerError(
                f"block {a!r}'s own p x p cross-product was not accumulated: the moments keep only its diagonal "
                "(Moments(self_blocks='diagonal')). Use snapshot.variances(name) / .trace(name), or accumulate "
                "with self_blocks='full'."
            )
        raise UnknownLayerError(
            f"the pair ({a!r}, {b!r}) was not accumulated (Moments(pairs=...) did not request it); "
            "accumulate with pairs='all' or list the pair."
        )

    def cov(self, a: str, b: str | None = None, *, ddof: int = 1) -> torch.Tensor:
        """Sample covariance ``comoment(a, b) / (n - ddof)``."""
        return self.comoment(a, a if b is None else b) / (self.n - ddof)

    def variances(self, name: str) -> torch.Tensor:
        """Centred sums of squares of each column of ``name`` (diagonal of its self block), shape (p,).

        Read from the self block when one was accumulated, else from the
        diagonal kept by ``Moments(self_blocks="diagonal")``.
        """
        self._check(name)
        if self.D_ is not None and not self.has_pair(name, name):
            o = self.offsets[name]
            return self.D_[o : o + self.widths[name]]
        return torch.diagonal(self.comoment(name, name))

    def trace(self, name: str) -> float:
        """tr S_aa = ||X_a - 1 mu_a^T||_F^2, the centred sum of squares of block ``name`` (either self-block mode)."""
        return float(self.variances(name).sum())

    def has_pair(self, a: str, b: str) -> bool:
        """Whether the cross-product of ``a`` and ``b`` was accumulated."""
        return any(self._locate(t, a, b) is not None or self._locate(t, b, a) is not None for t in self.tiles)


# ---------------------------------------------------------------------------
def _normalize_pairs(pairs: Any, owner: str = "Moments") -> Any:
    """Canonical form of a ``pairs=`` option (shared by every statistic that takes one)."""
    if isinstance(pairs, str):
        if pairs not in ("all", "self"):
            raise UnknownOptionError(
                f"{owner}: pairs={pairs!r} is not supported; use 'all', 'self', ('cross', names_a, names_b) "
                "or a list of (name_a, name_b) pairs."
            )
        return pairs
    if isinstance(pairs, tuple) and len(pairs) == 3 and pairs[0] == "cross":
        return ("cross", tuple(str(a) for a in pairs[1]), tuple(str(b) for b in pairs[2]))
    try:
        out = tuple((str(a), str(b)) for a, b in pairs)
    except (TypeError, ValueError):
        raise UnknownOptionError(
            f"{owner}: could not read pairs={pairs!r}; use 'all', 'self', ('cross', names_a, names_b) "
            "or a list of (name_a, name_b) pairs."
        ) from None
    return out


def _plan_tiles(pairs: Any, names: list[str], *, diagonal: bool = False) -> list[_Tile]:
    """Cover the requested pairs (and every block's self pair unless ``diagonal``) with few rectangular tiles."""
    if pairs == "all":
        return [_Tile(tuple(names), tuple(names))]
    tiles: list[_Tile] = []
    covered: set[tuple[str, str]] = set()

    def add(rows: Iterable[str], cols: Iterable[str]) -> None:
        rows, cols = tuple(rows), tuple(cols)
        tiles.append(_Tile(rows, cols))
        for a in rows:
            for b in cols:
                covered.add((a, b))
                covered.add((b, a))

    if pairs == "self":
        pass
    elif pairs[0] == "cross":
        A, B = pairs[1], pairs[2]
        unknown = [x for x in (*A, *B) if x not in names]
        if unknown:
            raise UnknownLayerError(
                f"Moments: pairs name block(s) {unknown} that the batch does not carry (blocks: {names})."
            )
        if A and B:
            if set(A) == set(B):
                order = [x for x in names if x in set(A)]
                add(order, order)
            else:
                add([x for x in names if x in set(A)], [x for x in names if x in set(B)])
    else:
        unknown = sorted({x for p in pairs for x in p if x not in names})
        if unknown:
            raise UnknownLayerError(
                f"Moments: pairs name block(s) {unknown} that the batch does not carry (blocks: {names})."
            )
        by_left: dict[str, list[str]] = {}
        for a, b in pairs:
            if (a, b) in covered or a == b:
                continue
            by_left.setdefault(a, [])
            if b not in by_left[a]:
                by_left[a].append(b)
                covered.add((a, b))
                covered.add((b, a))
        covered.clear()
        groups: dict[tuple[str, ...], list[str]] = {}
        for a, bs in by_left.items():
            key = tuple(x for x in names if x in set(bs))
            groups.setdefault(key, []).append(a)
        for cols, rows in groups.items():
            add([x for x in names if x in set(rows)], cols)
    if not diagonal:
        for b in names:
            if (b, b) not in covered:
                add([b], [b])
    return tiles


def _sym_cuts(p: int) -> list[tuple[int, int]]:
    """Column chunks of a symmetric (p x p) tile: about ``_SYM_CHUNK`` wide each."""
    k = max(1, round(p / _SYM_CHUNK))
    edges = [round(i * p / k) for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _gemm_into(S: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> None:
    """S += r^T c in place (S has r's dtype)."""
    S.addmm_(r.T, c)


def _flops(widths: Mapping[str, int], tiles: Sequence[_Tile], n: int, *, performed: bool = True) -> float:
    """Flops (2 per multiply-add) of the per-batch products over n rows.

    ``performed=True`` counts what is multiplied (the upper block triangle of
    symmetric tiles); ``False`` counts full tiles (the cost without symmetry).
    """
    total = 0.0
    for t in tiles:
        R = sum(widths[r] for r in t.rows)
        C = sum(widths[c] for c in t.cols)
        if performed and t.rows == t.cols:
            cuts = _sym_cuts(R)
            total += sum((a1 - a0) * (b1 - b0) for i, (a0, a1) in enumerate(cuts) for b0, b1 in cuts[i:])
        else:
            total += R * C
    return 2.0 * n * total


def moments_flops(m: Moments, *, performed: bool = True) -> float:
    """Floating-point operations of the products accumulated so far.

    Parameters
    ----------
    m : Moments
        The statistic.
    performed : bool, default=True
        Count the multiply-adds actually done (symmetric tiles multiply only
        their upper block triangle); ``False`` counts every tile in full,
        2 n R C, the cost of the same result without exploiting symmetry.

    Returns
    -------
    float
        Flops (a multiply-add counts 2); the one extra row per batch that
        carries Chan's correction is not counted.
    """
    return _flops(m.widths, m._tiles, m.n, performed=performed)


normalize_pairs = _normalize_pairs
