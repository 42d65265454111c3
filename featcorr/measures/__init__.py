"""Measures: pure functions from statistics to numbers, and their registry.

Each family lives in its own module and registers its measures on import.
"""

from . import _cka  # noqa: F401  (registers linear_cka)
from ._api import cka, measures, similarity, unit_correlation
from ._cka import linear_cka_from
from ._correlation import unit_correlation_from
from ._registry import MeasureSpec, get_measure, measure_names, register

__all__ = [
    "similarity",
    "cka",
    "unit_correlation",
    "measures",
    "linear_cka_from",
    "unit_correlation_from",
    "MeasureSpec",
    "register",
    "get_measure",
    "measure_names",
]
