"""The measure registry: every similarity/distance measure, its statistic and facts.

A measure is registered once with :func:`register` and is then usable by name
in :func:`featcorr.similarity` (arrays) and :func:`featcorr.compare` (models).
Each entry says which statistics it needs (built by ``statistics``), and how to
turn their frozen snapshots into a number for a pair of blocks (``compute``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownMeasureError, UnknownOptionError, close_matches_hint
from ..stats import Statistic

__all__ = ["MeasureSpec", "register", "get_measure", "measure_names", "measures_table"]


@dataclass(frozen=True)
class MeasureSpec:
    """Facts and functions of one registered measure.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"linear_cka"``.
    statistic : str
        Statistic family it is computed from (``"moments"``, ``"minibatch_hsic"``, ``"sample"``).
    kind : {"similarity", "distance"}
        Direction: similarities are larger when closer, distances are >= 0 and 0 when equal.
    invariances : tuple of str
        Transformations the value is invariant to.
    value_range : str
        Range of values, e.g. ``"[0, 1]"``.
    reference : str
        Anchor implementation it is tested against.
    paper : str
        Source paper.
    statistics : callable
        ``statistics(blocks_a, blocks_b, *, engine, **options) -> {role: Statistic}``;
        ``engine`` holds engine options (``max_features``, ``gemm_dtype``, ...);
        ``options`` are the measure's resolved options (ignore those not
        needed). The engine deduplicates the statistics of all requested
        measures by key.
    compute : callable
        ``compute(snapshots: {role: snapshot}, a, b, **options) -> float``
        (receives every resolved option of the measure).
    options : dict
        Default options (also the set of accepted keyword names).
    symmetric : bool
        Whether ``compute(a, b) == compute(b, a)``.
    extra_blocks : tuple of str
        Blocks the measure needs besides ``a`` and ``b``; ``"__input__"`` asks
        the extraction engine to add the (flattened) model input as a block
        (the confounder of deconfounded CKA/RSA). ``compute`` finds them in
        the snapshots under the same names.
    """

    name: str
    statistic: str
    kind: str
    invariances: tuple[str, ...]
    value_range: str
    reference: str
    paper: str
    statistics: Callable[..., Mapping[str, Statistic]]
    compute: Callable[..., float]
    options: Mapping[str, Any] = field(default_factory=dict)
    symmetric: bool = True
    extra_blocks: tuple[str, ...] = ()

    def resolve_options(self, options: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Defaults updated with ``options``; unknown keywords raise with the valid names."""
        unknown = [k for k in options if k not in self.options]
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise UnknownOptionError(
                f"{caller}: measure {self.name!r} does not take option(s) {unknown}; its options are: {valid}."
            )
        out = dict(self.options)
        out.update(options)
        return out


_REGISTRY: dict[str, MeasureSpec] = {}


def register(spec: MeasureSpec) -> MeasureSpec:
    """Add ``spec`` to the registry (names are unique)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"measure {spec.name!r} is registered twice")
    if spec.kind not in ("similarity", "distance"):
        raise ValueError(f"measure {spec.name!r}: kind must be 'similarity' or 'distance'")
    _REGISTRY[spec.name] = spec
    return spec


def get_measure(name: str, *, caller: str = "featcorr") -> MeasureSpec:
    """Look up a measure by name; unknown names raise UnknownMeasureError listing close matches."""
    if isinstance(name, MeasureSpec):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownMeasureError(
            f"{caller}: unknown measure {name!r}." + close_matches_hint(str(name), _REGISTRY)
            + f" Known measures: {', '.join(sorted(_REGISTRY))} (see featcorr.measures())."
        ) from None


def measure_names() -> list[str]:
    """Names of all registered measures, in registration order."""
    return list(_REGISTRY)


def measures_table():
    """A pandas DataFrame with one row per measure: name, statistic, kind, invariances, range, reference, paper."""
    import pandas as pd

    rows = [
        {
            "name": s.name,
            "statistic": s.statistic,
            "kind": s.kind,
            "invariances": ", ".join(s.invariances),
            "range": s.value_range,
            "symmetric": s.symmetric,
            "reference": s.reference,
            "paper": s.paper,
        }
        for s in _REGISTRY.values()
    ]
    return pd.DataFrame(
        rows, columns=["name", "statistic", "kind", "invariances", "range", "symmetric", "reference", "paper"]
    )
