"""Compare layers and models: one pass over the data, every measure, every layer pair.

:func:`compare` runs torch models over a loader with forward hooks;
:func:`compare_activations` takes activations already in memory; both return
a :class:`ComparisonResult` (matrices, long frame, save / :func:`load`, plot).
"""

from ._compare import compare, compare_activations
from ._fallback import EstimatorFallbackWarning
from ._result import FORMAT_VERSION, ComparisonResult, load

__all__ = ["compare", "compare_activations", "ComparisonResult", "load", "FORMAT_VERSION", "EstimatorFallbackWarning"]
