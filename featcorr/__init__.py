"""featcorr: how features correlate in deep learning, in one streaming pass.

Compare layers and models (representational similarity), match units, select
features with a target, compare explanations and measure representation
geometry, from additive sufficient statistics accumulated once and merged
anywhere.
"""

from __future__ import annotations

from typing import Any

from . import stats
from ._version import __version__
from .errors import FeatcorrError
from .measures import cka, measures, significance, similarity, unit_correlation

# Eager, not lazy: featcorr.compare is both a subpackage and a function. Once anything imports the
# subpackage, Python binds featcorr.compare to the module, which a lazy __getattr__ can never undo
# (fc.compare(...) would raise "'module' object is not callable"). Importing it here rebinds the
# name to the function after the subpackage is loaded. Cost: ~10 ms.
from .compare import ComparisonResult, EstimatorFallbackWarning, compare, compare_activations, load  # noqa: E402

__all__ = [
    "__version__",
    "FeatcorrError",
    "stats",
    "similarity",
    "significance",
    "cka",
    "measures",
    "unit_correlation",
    "compare",
    "load",
    "ComparisonResult",
    "compare_activations",
    "EstimatorFallbackWarning",
    "select",
    "dependence",
    "dependence_test",
]

_LAZY = {
    "select": ("featcorr.select", None),
    "dependence": ("featcorr.select", "dependence"),
    "dependence_test": ("featcorr.select", "dependence_test"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = importlib.import_module(module) if attr is None else getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'featcorr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
