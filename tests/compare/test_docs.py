"""The shared parameter block reaches both compare entry points' docstrings."""

import pytest

import featcorr as fc
from featcorr.compare._docs import shared_parameters


@pytest.mark.parametrize("func", [fc.compare, fc.compare_activations])
def test_shared_parameters_filled(func):
    doc = func.__doc__
    assert "%(" not in doc
    for name in ("max_features : int", "gemm_dtype :", "n_permutations : int", "significance_sample : int"):
        assert doc.count(name) == 1, name
    # numpydoc layout: the filled block keeps the 4-space parameter indent
    assert "\n    max_memory_gb : float, default=8.0\n        Memory budget" in doc


def test_decorator_requires_placeholder():
    def f():
        """No placeholder here."""

    with pytest.raises(RuntimeError, match="placeholder"):
        shared_parameters(f)
