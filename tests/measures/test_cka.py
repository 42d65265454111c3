"""Linear CKA: agreement with the float64 Gram formula, invariances, streaming, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import ConstantFeatureError, NonFiniteError, NotEnoughSamplesError, ShapeError, UnknownMeasureError
from featcorr.measures import linear_cka_from
from featcorr.stats import Moments

from ..conftest import ref_linear_cka


def _cases(rng):
    n = 120
    X = rng.normal(size=(n, 30))
    yield "random", X, X[:, :10] @ rng.normal(size=(10, 20)) + 0.5 * rng.normal(size=(n, 20))
    low = rng.normal(size=(n, 3)) @ rng.normal(size=(3, 25))  # rank 3
    yield "rank-deficient", low, low[:, :5] + 0.1 * rng.normal(size=(n, 5))
    yield "n<p", rng.normal(size=(40, 200)), rng.normal(size=(40, 150))
    big = rng.normal(size=(5000, 8))
    yield "n>>p", big, np.tanh(big @ rng.normal(size=(8, 6)))


def test_matches_gram_formula(rng):
    for label, X, Y in _cases(rng):
        got = fc.similarity(X, Y, measure="linear_cka")
        want = ref_linear_cka(X, Y)
        assert got == pytest.approx(want, rel=1e-10), label
        assert fc.cka(X, Y) == got


def test_self_similarity_is_exactly_one(rng):
    X = rng.normal(size=(64, 9)) + 3.0
    assert fc.similarity(X, X) == 1.0
    assert fc.cka(X, X) == 1.0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(1e-3, 1e3))
def test_orthogonal_and_isotropic_invariance(seed, scale):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 12))
    Y = np.maximum(X @ rng.normal(size=(12, 10)), 0) + rng.normal(size=(80, 10))
    Q = ortho_group.rvs(10, random_state=seed)
    base = fc.similarity(X, Y)
    assert fc.similarity(X, scale * Y @ Q + 7.0) == pytest.approx(base, rel=1e-10)


def test_not_invariant_to_general_linear_maps(rng):
    X = rng.normal(size=(100, 5))
    Y = X + 0.3 * rng.normal(size=(100, 5))
    A = np.diag([1.0, 10.0, 0.1, 3.0, 1.0])
    assert abs(fc.similarity(X, Y @ A) - fc.similarity(X, Y)) > 1e-3


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
def test_streaming_and_shuffled_batches_equal_whole(rng, batch):
    X = rng.normal(size=(300, 20)) + 10
    Y = X @ rng.normal(size=(20, 15)) + rng.normal(size=(300, 15))
    whole = fc.similarity(X, Y)
    order = rng.permutation(300)
    m = Moments()
    for lo in range(0, 300, batch):
        i = order[lo : lo + batch]
        m.update({"x": X[i], "y": Y[i]})
    assert linear_cka_from(m.finalize(), "x", "y") == pytest.approx(whole, rel=1e-12)


def test_float32_large_offsets_within_1e6(rng):
    X = (1e3 + rng.normal(size=(4000, 32))).astype(np.float32)
    Y = (1e3 + 0.01 * (X - 1e3) @ rng.normal(size=(32, 16)) + 0.01 * rng.normal(size=(4000, 16))).astype(np.float32)
    want = ref_linear_cka(X.astype(np.float64)[:, :], Y.astype(np.float64))
    m = Moments()
    for lo in range(0, 4000, 256):
        m.update({"x": torch.from_numpy(X[lo : lo + 256]), "y": torch.from_numpy(Y[lo : lo + 256])})
    assert linear_cka_from(m.finalize(), "x", "y") == pytest.approx(want, abs=1e-6)


def test_conv_maps_flatten_or_pool(rng):
    X = rng.normal(size=(30, 4, 3, 3))
    Y = rng.normal(size=(30, 5, 2, 2))
    assert fc.similarity(X, Y) == pytest.approx(ref_linear_cka(X.reshape(30, -1), Y.reshape(30, -1)), rel=1e-10)
    assert fc.similarity(X, Y, pool="mean") == pytest.approx(
        ref_linear_cka(X.mean((2, 3)), Y.mean((2, 3))), rel=1e-10
    )


def test_bad_inputs(rng):
    X = rng.normal(size=(20, 4))
    with pytest.raises(ShapeError, match="20 samples but Y has 19"):
        fc.similarity(X, X[:-1].copy())
    with pytest.raises(NotEnoughSamplesError, match="minimum of 2"):
        fc.similarity(X[:1], X[:1].copy())
    with pytest.raises(ConstantFeatureError, match="constant"):
        fc.similarity(X, np.ones((20, 3)))
    with pytest.raises(NonFiniteError, match="inf"):
        Z = X.copy()
        Z[0, 0] = np.inf
        fc.similarity(X, Z)
    with pytest.raises(ShapeError, match="1-D"):
        fc.similarity(X[:, 0], X)
    with pytest.raises(ShapeError, match="dimensions"):
        fc.similarity(np.zeros((2, 2, 2, 2, 2, 2)), X)
    with pytest.raises(UnknownMeasureError, match="linear_cka"):
        fc.similarity(X, X, measure="linear_ckaa")
    with pytest.raises(fc.FeatcorrError, match="does not take option"):
        fc.similarity(X, X, measure="linear_cka", bandwidth=2)


def test_unit_correlation_matches_numpy(rng):
    X, Y = rng.normal(size=(50, 6)), rng.normal(size=(50, 4))
    np.testing.assert_allclose(fc.unit_correlation(X, Y), np.corrcoef(X, Y, rowvar=False)[:6, 6:], atol=1e-12)
    Xd = X.copy()
    Xd[:, 2] = 1.0
    with pytest.raises(ConstantFeatureError, match=r"units \[2\]"):
        fc.unit_correlation(Xd, Y)
    assert np.isnan(fc.unit_correlation(Xd, Y, constant="nan")[2]).all()


def test_measures_table_lists_linear_cka():
    table = fc.measures()
    row = table.set_index("name").loc["linear_cka"]
    assert row["statistic"] == "moments" and row["kind"] == "similarity"
    assert "orthogonal" in row["invariances"]
