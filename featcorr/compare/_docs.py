"""Parameter descriptions shared by the docstrings of :func:`compare` and :func:`compare_activations`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_F = TypeVar("_F", bound=Callable)

#: The engine and significance parameters both entry points take, in numpydoc form
#: (indented for a function docstring; the first line's indent comes from the placeholder).
ENGINE_PARAMETERS = """    max_features : int, default=16384
        Widest layer accumulated as p x p moments (see :class:`featcorr.stats.Moments`).
    max_memory_gb : float, default=8.0
        Memory budget of all accumulated moments.
    gemm_dtype : {"float64", "float32"}, default="float64"
        Precision of the per-batch products of centred activations (sums are float64).
    n_permutations : int, default=0
        Permutation test per layer pair and measure: the rows of layer b are
        permuted against layer a (:func:`featcorr.significance`); adds a
        ``p_value`` column to :meth:`ComparisonResult.to_frame`.
    n_bootstrap : int, default=0
        Bootstrap replicates per layer pair and measure; adds ``ci_low`` and
        ``ci_high`` (percentile interval at ``confidence``).
    confidence : float, default=0.95
    random_state : int, optional
        Seed of the sample, permutations and resamples.
    significance_sample : int, default=10000
        With significance on, a uniform reservoir sample of this many rows of
        every layer is kept during the same pass and the tests run on it: on
        all the data when it fits, else on the sample (the p-value then
        compares the sample's value with its own null). Memory grows with
        ``significance_sample`` x total width, not with the data.
"""

_PLACEHOLDERS = {"%(engine_parameters)s": ENGINE_PARAMETERS.lstrip()}


def shared_parameters(func: _F) -> _F:
    """Fill the ``%(engine_parameters)s`` placeholder of ``func``'s docstring.

    Raises ``RuntimeError`` at import time if the docstring has no placeholder,
    so that a decorated function never silently loses its parameter list
    (docstrings stripped by ``python -OO`` are left alone).
    """
    doc = func.__doc__
    if doc is None:
        return func
    if not any(key in doc for key in _PLACEHOLDERS):
        raise RuntimeError(f"{func.__qualname__}: docstring has no shared-parameter placeholder")
    for key, text in _PLACEHOLDERS.items():
        doc = doc.replace(key, text)
    func.__doc__ = doc
    return func
