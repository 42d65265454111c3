"""The protocol every streaming statistic follows.

A statistic is accumulated batch by batch over named feature blocks (the
layers), merged exactly across batches, processes and machines, and only then
turned into a frozen snapshot that measures read. Every statistic provides:

- ``update(batch) -> self``: check the batch, cast to float64 on its device, add it in;
- ``merge(other) -> self``: exact, associative and commutative; an empty other changes nothing;
- ``finalize()`` (alias ``compute()``): a frozen snapshot for measures to read;
- ``state_dict()`` / ``load_state_dict(state)`` / ``from_state_dict(state)``: how
  Dask, ``torch.distributed`` and ``save`` move the state;
- ``key``: ``(class name, config)``, so an engine can accumulate each distinct
  statistic once even when several measures ask for it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from .._validation import as_2d
from ..errors import ShapeError, StatisticMismatchError

__all__ = ["Statistic", "normalize_batch"]


def normalize_batch(batch: Any, named: Mapping[str, Any], *, caller: str) -> dict[str, torch.Tensor]:
    """Turn ``update``'s arguments into ``{block name: 2-D tensor}`` with one common n.

    ``batch`` may be a mapping of name -> array, a single array (named ``"X"``),
    or ``None`` when blocks come as keyword arguments. Dtype is kept (float64
    conversion happens at accumulation, after centring).
    """
    blocks: dict[str, Any] = {}
    if batch is not None:
        if isinstance(batch, Mapping):
            blocks.update(batch)
        else:
            blocks["X"] = batch
    blocks.update(named)
    if not blocks:
        raise ShapeError(f"{caller}: update() got no feature blocks; pass a mapping {{name: array}} or arrays.")
    out: dict[str, torch.Tensor] = {}
    n = None
    for name, value in blocks.items():
        t = as_2d(value, name=f"block {name!r}", caller=caller, dtype=None, min_samples=1)
        if n is None:
            n, first = t.shape[0], name
        elif t.shape[0] != n:
            raise ShapeError(
                f"{caller}: block {name!r} has {t.shape[0]} samples but block {first!r} has {n}; every block "
                "of one batch must hold the same samples (the first axis is the sample axis)."
            )
        out[str(name)] = t
    return out


class Statistic(abc.ABC):
    """Base class of featcorr's additive sufficient statistics (see module docstring)."""

    #: short name of the statistic family ("moments", "minibatch_hsic", "sample")
    kind: ClassVar[str] = ""

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Options that define the statistic; two statistics merge only if equal."""

    @property
    def key(self) -> tuple:
        """Hashable identity (class, config) used to deduplicate requests."""
        return (type(self).__name__, _freeze(self.config()))

    @abc.abstractmethod
    def update(self, batch: Any = None, /, **blocks: Any) -> Statistic:
        """Add one batch of named blocks; return ``self``."""

    @abc.abstractmethod
    def merge(self, other: Statistic) -> Statistic:
        """Merge ``other`` into ``self`` exactly; return ``self``."""

    @abc.abstractmethod
    def finalize(self) -> Any:
        """Return a frozen snapshot for measures to read."""

    def compute(self) -> Any:
        """Alias of :meth:`finalize`."""
        return self.finalize()

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Return the full state (config and tensors) as a plain dict."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> Statistic:
        """Replace this statistic's state by ``state``; return ``self``."""

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> Statistic:
        """Build a statistic from :meth:`state_dict` output."""
        if state.get("class") != cls.__name__:
            raise StatisticMismatchError(
                f"{cls.__name__}.from_state_dict: the state belongs to {state.get('class')!r}, not {cls.__name__}."
            )
        obj = cls(**state["config"])
        return obj.load_state_dict(state)

    def _check_mergeable(self, other: Statistic) -> None:
        if type(other) is not type(self):
            raise StatisticMismatchError(
                f"{type(self).__name__}.merge: cannot merge a {type(other).__name__}; merge statistics of one class."
            )
        if self.key != other.key:
            raise StatisticMismatchError(
                f"{type(self).__name__}.merge: configurations differ ({self.config()} vs {other.config()}); "
                "build every shard's statistic with the same options."
            )

    def _check_same_blocks(self, other: Statistic) -> None:
        """Raise unless ``other`` accumulated the same block names and widths (both non-empty)."""
        if other.widths != self.widths:  # type: ignore[attr-defined]
            raise StatisticMismatchError(
                f"{type(self).__name__}.merge: block names/widths differ ({self.widths} vs "  # type: ignore[attr-defined]
                f"{other.widths}); every shard must accumulate the same layers."  # type: ignore[attr-defined]
            )

    def __getstate__(self) -> dict[str, Any]:
        return self.state_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["config"])  # type: ignore[misc]
        self.load_state_dict(state)


def _freeze(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return tuple(_freeze(v) for v in obj)
    if isinstance(obj, torch.dtype):
        return str(obj)
    return obj
