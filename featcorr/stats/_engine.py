"""Accumulate several statistics over one stream, each distinct statistic once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import StatisticMismatchError
from ._base import Statistic

__all__ = ["StatisticSet"]


class StatisticSet:
    """A deduplicated set of statistics fed from the same batches.

    ``request({role: statistic})`` registers what one consumer (a measure)
    needs and returns ``{role: key}``; statistics with equal ``key`` (class
    and options) are accumulated once. ``update`` feeds one batch to each
    distinct statistic, ``merge`` merges another set built from the same
    requests, and ``finalize`` returns ``{key: snapshot}``.
    """

    def __init__(self) -> None:
        self.stats: dict[tuple, Statistic] = {}

    def request(self, wanted: Mapping[str, Statistic]) -> dict[str, tuple]:
        """Register the statistics one consumer needs; return role -> key."""
        roles = {}
        for role, stat in wanted.items():
            key = stat.key
            self.stats.setdefault(key, stat)
            roles[role] = key
        return roles

    def update(self, batch: Mapping[str, Any]) -> StatisticSet:
        """Feed one batch ``{block: array}`` to every distinct statistic."""
        for stat in self.stats.values():
            stat.update(batch)
        return self

    def merge(self, other: StatisticSet) -> StatisticSet:
        """Merge another set holding the same statistics (e.g. a shard's)."""
        if set(other.stats) != set(self.stats):
            raise StatisticMismatchError(
                "StatisticSet.merge: the two sets hold different statistics; build both from the same requests."
            )
        for key, stat in self.stats.items():
            stat.merge(other.stats[key])
        return self

    def finalize(self) -> dict[tuple, Any]:
        """Snapshot of every statistic, by key."""
        return {key: stat.finalize() for key, stat in self.stats.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"stats": [(key, stat.state_dict()) for key, stat in self.stats.items()]}

    def __len__(self) -> int:
        return len(self.stats)
