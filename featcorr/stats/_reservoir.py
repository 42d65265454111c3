"""A fixed-size uniform sample of rows (reservoir), the same rows for every block.

``Reservoir`` keeps a uniform random sample without replacement of the rows
(samples) seen in a stream, with every feature block (layer) of a kept row.
Each incoming row draws a random priority key in [0, 1) from a seeded
generator; the statistic keeps the ``size`` rows with the smallest keys
(bottom-k / priority sampling, Efraimidis & Spirakis 2006 with equal weights).
The kept set is then a uniformly random ``size``-subset of the rows seen, and
merging two reservoirs — keep the smallest keys of both — is exactly the
reservoir of the union, because the keys of distinct streams are independent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import (
    EmptyStatisticError,
    NotEnoughSamplesError,
    ShapeError,
    StatisticMismatchError,
    UnknownLayerError,
    UnknownOptionError,
    close_matches_hint,
)
from ._base import Statistic, _freeze, normalize_batch

__all__ = ["Reservoir", "ReservoirSnapshot"]


def _key_generator(seed: int, stream: int) -> np.random.Generator:
    """The generator of priority keys for one stream (independent across streams)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))


class Reservoir(Statistic):
    """Uniform random sample without replacement of rows, the same rows for every block.

    Parameters
    ----------
    size : int, default=5000
        Number of rows kept. When the stream holds at most ``size`` rows,
        every row is kept (the sample *is* the data).
    seed : int, default=0
        Seed of the priority keys; a given seed and batch order give the same
        sample every time, whatever the batch boundaries.
    blocks : sequence of str, optional
        Keep only these blocks of each batch (others are ignored); default:
        every block of the first batch.
    stream : int, default=0
        Which independent key stream this statistic draws from. Shards that
        are merged later must draw from *different* streams (e.g. the worker
        rank): two shards built with the same seed and stream would give their
        i-th rows the same key, and the merged sample would not be uniform.
        ``merge`` raises in that case. The stream is state, not configuration:
        shards with different streams merge.

    Notes
    -----
    ``update`` accepts a mapping ``{name: array (n, p)}``, keyword arrays or
    one array (named ``"X"``); numpy, pandas or torch on any device. Rows are
    stored in the floating dtype of the input (float32 stays float32, to halve
    memory) on the input's device; :meth:`ReservoirSnapshot.rows` returns them
    as float64.

    Cost per batch of n_b rows: n_b keys and a comparison with the current
    largest kept key; only rows that enter the sample are copied, about
    ``size * n_b / n_seen`` per batch once the reservoir is full.

    Merge: the union's ``size`` smallest keys. ``merge`` is exact in
    distribution, associative and commutative (the kept set does not depend on
    the merge order or tree). Global stream positions (``index``) order the
    rows stream by stream: all rows of stream 0, then stream 1, ...

    References
    ----------
    .. [1] Efraimidis, Spirakis, "Weighted random sampling with a reservoir",
       Information Processing Letters 97(5), 2006.
    .. [2] Vitter, "Random sampling with a reservoir", ACM TOMS 11(1), 1985.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.stats import Reservoir
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> snap = Reservoir(size=4, seed=1).update({"x": X[:6], "y": -X[:6]}).update({"x": X[6:], "y": -X[6:]}).finalize()
    >>> snap.n_seen, tuple(snap.rows("x").shape)
    (10, (4, 2))
    >>> bool((snap.rows("x") == -snap.rows("y")).all())  # same rows for every block
    True
    """

    kind = "sample"

    def __init__(self, size: int = 5000, *, seed: int = 0, blocks: Sequence[str] | None = None, stream: int = 0):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise UnknownOptionError(f"Reservoir: size must be a positive int (rows to keep), got {size!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UnknownOptionError(f"Reservoir: seed must be a non-negative int, got {seed!r}.")
        if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or stream < 0:
            raise UnknownOptionError(f"Reservoir: stream must be a non-negative int (e.g. the worker rank), got {stream!r}.")
        self.size = int(size)
        self.seed = int(seed)
        self.only = None if blocks is None else tuple(str(b) for b in blocks)
        self._reset(int(stream))

    # ------------------------------------------------------------------ state
    def _reset(self, stream: int) -> None:
        self.stream = stream
        self._rng = _key_generator(self.seed, stream)
        self.widths: dict[str, int] = {}
        self.lengths: dict[int, int] = {}  # rows seen per stream
        self._keys = np.empty(0, dtype=np.float64)  # (m,) keys of the kept rows (unordered slots)
        self._stream_of = np.empty(0, dtype=np.int64)  # (m,) stream of each kept row
        self._pos = np.empty(0, dtype=np.int64)  # (m,) position of each kept row within its stream
        self._rows: dict[str, torch.Tensor] = {}  # name -> (m, p) kept rows, slot order

    def config(self) -> dict[str, Any]:
        return {"size": self.size, "seed": self.seed, "blocks": self.only}

    @property
    def n_seen(self) -> int:
        """Rows seen so far (all streams merged in)."""
        return sum(self.lengths.values())

    @property
    def blocks(self) -> list[str]:
        """Block names in accumulation order (empty before the first update)."""
        return list(self.widths)

    def set_stream(self, stream: int) -> Reservoir:
        """Choose the key stream (e.g. the worker rank) before the first update; return ``self``."""
        if self.n_seen:
            raise StatisticMismatchError(
                f"Reservoir.set_stream: this reservoir has already seen {self.n_seen} rows from stream "
                f"{self.stream}; choose the stream before the first update."
            )
        if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or stream < 0:
            raise UnknownOptionError(f"Reservoir: stream must be a non-negative int (e.g. the worker rank), got {stream!r}.")
        self._reset(int(stream))
        return self

    # ----------------------------------------------------------------- update
    def update(self, batch: Any = None, /, **blocks: Any) -> Reservoir:
        """Add one batch: a mapping ``{name: (n, p) array}``, keyword arrays or one array."""
        data = normalize_batch(batch, blocks, caller="Reservoir.update")
        if self.only is not None:
            missing = [b for b in self.only if b not in data]
            if missing:
                raise ShapeError(
                    f"Reservoir.update: the batch lacks block(s) {missing} this statistic samples "
                    f"(batch blocks: {list(data)})."
                )
            data = {b: data[b] for b in self.only}
        widths = {k: int(v.shape[1]) for k, v in data.items()}
        if not self.widths:
            self.widths = dict(widths)
        elif widths != self.widths:
            self._raise_block_mismatch(widths)
        nb = next(iter(data.values())).shape[0]
        if nb == 0:
            return self
        start = self.lengths.get(self.stream, 0)
        keys = self._rng.random(nb)  # consumed in stream order: independent of batch boundaries
        pos = np.arange(start, start + nb, dtype=np.int64)
        self.lengths[self.stream] = start + nb
        self._admit(keys, np.full(nb, self.stream, dtype=np.int64), pos, data)
        return self

    def _admit(
        self, keys: np.ndarray, streams: np.ndarray, pos: np.ndarray, rows: Mapping[str, torch.Tensor]
    ) -> None:
        """Offer candidate rows with their keys; keep the ``size`` smallest keys overall."""
        m = self._keys.shape[0]
        free = self.size - m
        if free > 0:  # fill the empty slots with the smallest candidates first
            take = np.argsort(keys, kind="stable")[:free] if keys.shape[0] > free else np.arange(keys.shape[0])
            self._append(keys[take], streams[take], pos[take], rows, take)
            rest = np.setdiff1d(np.arange(keys.shape[0]), take, assume_unique=True)
            keys, streams, pos = keys[rest], streams[rest], pos[rest]
            rows = {k: v[torch.as_tensor(rest, device=v.device)] for k, v in rows.items()} if rest.size else {}
            if not rest.size:
                return
        # reservoir full: a candidate enters only below the largest kept key
        enter = np.nonzero(keys < self._keys.max())[0]
        if enter.size == 0:
            return
        if enter.size > self.size:
            enter = enter[np.argsort(keys[enter], kind="stable")[: self.size]]
        cand = keys[enter]
        pool = np.concatenate([self._keys, cand])
        keep = np.argpartition(pool, self.size - 1)[: self.size]
        evicted = np.setdiff1d(np.arange(self.size), keep[keep < self.size], assume_unique=True)
        accepted = keep[keep >= self.size] - self.size  # positions within ``enter``
        # number evicted == number accepted; fill the evicted slots
        slots, src = evicted, enter[accepted]
        self._keys[slots] = keys[src]
        self._stream_of[slots] = streams[src]
        self._pos[slots] = pos[src]
        for name in list(self._rows):
            buf, t = self._rows[name], rows[name]
            if t.is_floating_point() and torch.promote_types(buf.dtype, t.dtype) != buf.dtype:
                buf = self._rows[name] = buf.to(torch.promote_types(buf.dtype, t.dtype))
            dev_slots = torch.as_tensor(slots, device=buf.device)
            buf[dev_slots] = t[torch.as_tensor(src, device=t.device)].to(device=buf.device, dtype=buf.dtype)

    def _append(
        self, keys: np.ndarray, streams: np.ndarray, pos: np.ndarray, rows: Mapping[str, torch.Tensor], take: np.ndarray
    ) -> None:
        self._keys = np.concatenate([self._keys, keys])
        self._stream_of = np.concatenate([self._stream_of, streams])
        self._pos = np.concatenate([self._pos, pos])
        for name, t in rows.items():
            new = t[torch.as_tensor(take, device=t.device)]
            if not new.is_floating_point():
                new = new.to(torch.float64)
            elif new.dtype in (torch.float16, torch.bfloat16):
                new = new.to(torch.float32)
            old = self._rows.get(name)
            if old is None:
                self._rows[name] = new.clone()
            else:
                dtype = torch.promote_types(old.dtype, new.dtype)
                self._rows[name] = torch.cat([old.to(dtype), new.to(device=old.device, dtype=dtype)])

    def _raise_block_mismatch(self, widths: Mapping[str, int]) -> None:
        missing = [b for b in self.widths if b not in widths]
        extra = [b for b in widths if b not in self.widths]
        changed = {b: (self.widths[b], widths[b]) for b in widths if b in self.widths and self.widths[b] != widths[b]}
        raise ShapeError(
            "Reservoir.update: this batch's blocks differ from the first batch's: "
            + (f"missing {missing}; " if missing else "")
            + (f"unexpected {extra}; " if extra else "")
            + (f"feature counts changed {changed} (before, now); " if changed else "")
            + "every batch must carry the same blocks with the same number of features."
        )

    # ------------------------------------------------------------------ merge
    def merge(self, other: Reservoir) -> Reservoir:
        """Fold another reservoir (same size, seed and blocks, other streams) into this one."""
        self._check_mergeable(other)
        if other.n_seen == 0:
            return self
        if self.n_seen == 0:
            return self.load_state_dict(other.state_dict())
        self._check_same_blocks(other)
        both = sorted(s for s in other.lengths if other.lengths[s] and self.lengths.get(s))
        if both:
            raise StatisticMismatchError(
                f"Reservoir.merge: both reservoirs drew their random keys from stream(s) {both} with seed="
                f"{self.seed}, so their rows share keys and the merged sample would not be uniform. Give each "
                "shard its own stream, e.g. Reservoir(size, seed=seed, stream=rank) or .set_stream(rank) "
                "before the first update; never merge a shard twice."
            )
        self.lengths.update({s: n for s, n in other.lengths.items() if n})
        self._admit(other._keys.copy(), other._stream_of.copy(), other._pos.copy(), other._rows)
        return self

    # --------------------------------------------------------------- finalize
    def finalize(self) -> ReservoirSnapshot:
        """Frozen snapshot: kept rows in stream order, their global positions, n_seen; raises when n < 2."""
        n = self.n_seen
        if n == 0:
            raise EmptyStatisticError(
                "Reservoir.finalize: no rows were seen; the data was empty. Check that the loader or array "
                "yields at least 2 samples."
            )
        if n < 2:
            raise NotEnoughSamplesError(f"Reservoir.finalize: found {n} sample(s) while a minimum of 2 is required.")
        offsets = {}
        acc = 0
        for s in sorted(self.lengths):
            offsets[s] = acc
            acc += self.lengths[s]
        glob = self._pos + np.array([offsets[s] for s in self._stream_of.tolist()], dtype=np.int64)
        order = np.argsort(glob, kind="stable")
        rows = {}
        for name, buf in self._rows.items():
            rows[name] = buf[torch.as_tensor(order, device=buf.device)].clone()
        return ReservoirSnapshot(
            n_seen=n,
            size=self.size,
            widths=dict(self.widths),
            index=torch.as_tensor(glob[order].copy()),
            rows_=rows,
        )

    # ------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "config": self.config(),
            "stream": self.stream,
            "rng": self._rng.bit_generator.state,
            "widths": list(self.widths.items()),
            "lengths": sorted(self.lengths.items()),
            "keys": torch.from_numpy(self._keys.copy()),
            "streams": torch.from_numpy(self._stream_of.copy()),
            "pos": torch.from_numpy(self._pos.copy()),
            "rows": {k: v.clone() for k, v in self._rows.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> Reservoir:
        if state.get("class") != type(self).__name__ or _freeze(state.get("config")) != _freeze(self.config()):
            raise StatisticMismatchError(
                f"Reservoir.load_state_dict: the state was saved with {state.get('class')} {state.get('config')}, "
                f"not this statistic's {self.config()}."
            )
        self._reset(int(state["stream"]))
        self._rng.bit_generator.state = state["rng"]
        self.widths = {str(k): int(v) for k, v in state["widths"]}
        self.lengths = {int(s): int(n) for s, n in state["lengths"]}
        self._keys = torch.as_tensor(state["keys"]).numpy().astype(np.float64, copy=True)
        self._stream_of = torch.as_tensor(state["streams"]).numpy().astype(np.int64, copy=True)
        self._pos = torch.as_tensor(state["pos"]).numpy().astype(np.int64, copy=True)
        self._rows = {str(k): torch.as_tensor(v).clone() for k, v in state["rows"].items()}
        return self

    def __repr__(self) -> str:
        return f"Reservoir(size={self.size}, seed={self.seed}, n_seen={self.n_seen}, blocks={self.widths})"


@dataclass(frozen=True, eq=False)
class ReservoirSnapshot:
    """Frozen result of :class:`Reservoir`: the kept rows of every block, in stream order.

    Attributes
    ----------
    n_seen : int
        Rows seen in the stream (all shards).
    size : int
        Capacity of the reservoir; ``m = min(size, n_seen)`` rows are kept.
    index : torch.Tensor of shape (m,), int64
        Global stream position of each kept row, increasing.
    """

    n_seen: int
    size: int
    widths: dict[str, int]
    index: torch.Tensor
    rows_: dict[str, torch.Tensor]

    @property
    def blocks(self) -> list[str]:
        """Block names in accumulation order."""
        return list(self.widths)

    @property
    def m(self) -> int:
        """Number of kept rows, ``min(size, n_seen)``."""
        return int(self.index.shape[0])

    @property
    def exact(self) -> bool:
        """True when every row of the stream was kept (sample-based measures are then exact on the data)."""
        return self.m == self.n_seen

    def rows(self, name: str) -> torch.Tensor:
        """Kept rows of block ``name`` as float64, shape (m, p), in stream order."""
        if name not in self.rows_:
            raise UnknownLayerError(
                f"no block named {name!r} in this sample (blocks: {list(self.widths)})."
                + close_matches_hint(name, self.widths)
            )
        return self.rows_[name].to(torch.float64)
