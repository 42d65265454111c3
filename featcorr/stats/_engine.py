"""Accumulate several statistics over one stream, each distinct statistic once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import StatisticMismatchError
from ._base import Statistic

__all__ = ["StatisticSet"]


def _serves(host: Statistic, wanted: Statistic) -> bool:
    """Whether ``host``'s snapshot answers ``wanted``'s queries (``Statistic.serves`` when defined)."""
    serves = getattr(host, "serves", None)
    return serves(wanted) if serves is not None else host.key == wanted.key


class StatisticSet:
    """A deduplicated set of statistics fed from the same batches.

    ``request({role: statistic})`` registers what one consumer (a measure)
    needs and returns ``{role: key}``. Statistics with equal ``key`` (class
    and options) are accumulated once, and so is a statistic that another
    one *serves* (``host.serves(other)``, e.g. a full-self-block
    :class:`~featcorr.stats.Moments` serves a diagonal-only one, a
    :class:`~featcorr.stats.DebiasedMoments` serves a Moments with the same
    options): whichever is requested first, only the host is accumulated and
    every requested key maps to its snapshot. ``update`` feeds one batch to
    each distinct statistic, ``merge`` merges another set built from the
    same requests, and ``finalize`` returns ``{requested key: snapshot}``.
    """

    def __init__(self) -> None:
        self.stats: dict[tuple, Statistic] = {}  # distinct statistics that are accumulated
        self._host: dict[tuple, tuple] = {}  # every requested key -> key of the statistic in self.stats serving it
        self._fed = False

    def request(self, wanted: Mapping[str, Statistic]) -> dict[str, tuple]:
        """Register the statistics one consumer needs; return role -> key (resolve with :meth:`statistic`)."""
        roles = {}
        for role, stat in wanted.items():
            key = stat.key
            roles[role] = key
            if key in self._host:
                continue
            host = next((k for k, s in self.stats.items() if _serves(s, stat)), None)
            if host is not None:
                self._host[key] = host
                continue
            served = [k for k, s in self.stats.items() if _serves(stat, s)]
            if served and self._fed:
                raise StatisticMismatchError(
                    "StatisticSet.request: a statistic that would replace one already fed with batches was requested "
                    "after the first update; request every measure's statistics before the pass."
                )
            for k in served:
                del self.stats[k]
            self._host = {r: (key if h in served else h) for r, h in self._host.items()}
            self.stats[key] = stat
            self._host[key] = key
        return roles

    def statistic(self, key: tuple) -> Statistic:
        """The accumulated statistic that serves the requested ``key``."""
        return self.stats[self._host.get(key, key)]

    def update(self, batch: Mapping[str, Any]) -> StatisticSet:
        """Feed one batch ``{block: array}`` to every distinct statistic."""
        self._fed = True
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
        """Snapshot of every statistic, by requested key (keys served by one statistic share its snapshot)."""
        snaps = {key: stat.finalize() for key, stat in self.stats.items()}
        return {key: snaps[host] for key, host in self._host.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"stats": [(key, stat.state_dict()) for key, stat in self.stats.items()]}

    def __len__(self) -> int:
        return len(self.stats)
