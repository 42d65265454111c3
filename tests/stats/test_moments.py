"""Moments: exactness against direct float64 formulas, streaming, merging, state."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from featcorr.errors import (
    EmptyStatisticError,
    FeatcorrError,
    MemoryBudgetError,
    NonFiniteError,
    NotEnoughSamplesError,
    ShapeError,
    StatisticMismatchError,
)
from featcorr.stats import Moments


def _direct(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc


def _data(rng, n=300, p=7, q=4, offset=0.0):
    X = rng.normal(size=(n, p)) + offset
    Y = X[:, :q] @ rng.normal(size=(q, q)) + rng.normal(size=(n, q))
    return X, Y


@pytest.mark.parametrize("pairs", ["all", ("cross", ["x"], ["y"]), [("x", "y")]])
def test_matches_direct_formula(rng, pairs):
    X, Y = _data(rng)
    snap = Moments(pairs=pairs).update({"x": X, "y": Y}).finalize()
    Sxx, Syy, Sxy = _direct(X, Y)
    np.testing.assert_allclose(snap.comoment("x", "x").numpy(), Sxx, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(snap.comoment("y", "y").numpy(), Syy, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(snap.comoment("x", "y").numpy(), Sxy, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(snap.comoment("y", "x").numpy(), Sxy.T, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(snap.mean("x").numpy(), X.mean(0), rtol=1e-13)
    np.testing.assert_allclose(snap.cov("x").numpy(), np.cov(X, rowvar=False), rtol=1e-12)
    assert snap.n == X.shape[0]


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=199), min_size=0, max_size=6, unique=True),
    seed=st.integers(0, 2**16),
)
def test_streaming_any_split_equals_one_pass(cuts, seed):
    rng = np.random.default_rng(seed)
    X, Y = _data(rng, n=200, offset=50.0)
    whole = Moments().update({"x": X, "y": Y}).finalize()
    m = Moments()
    bounds = [0, *sorted(cuts), 200]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m.update({"x": X[lo:hi], "y": Y[lo:hi]})
    part = m.finalize()
    for a, b in [("x", "x"), ("x", "y"), ("y", "y")]:
        np.testing.assert_allclose(part.comoment(a, b).numpy(), whole.comoment(a, b).numpy(), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(part.mean("x").numpy(), whole.mean("x").numpy(), rtol=1e-13)


@settings(max_examples=25, deadline=None)
@given(n_shards=st.integers(2, 6), seed=st.integers(0, 2**16), tree=st.booleans())
def test_merge_any_shards_equals_one_pass(n_shards, seed, tree):
    rng = np.random.default_rng(seed)
    X, Y = _data(rng, n=240, offset=-30.0)
    whole = Moments().update({"x": X, "y": Y}).finalize()
    idx = rng.permutation(240)  # shards need not be contiguous
    parts = np.array_split(idx, n_shards)
    shards = [Moments().update({"x": X[p], "y": Y[p]}) for p in parts]
    if tree:
        while len(shards) > 1:
            shards = [shards[i].merge(shards[i + 1]) if i + 1 < len(shards) else shards[i] for i in range(0, len(shards), 2)]
        merged = shards[0]
    else:
        merged = Moments()  # an empty statistic merged first changes nothing
        for s in reversed(shards):
            merged.merge(s)
    snap = merged.finalize()
    np.testing.assert_allclose(snap.comoment("x", "y").numpy(), whole.comoment("x", "y").numpy(), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(snap.comoment("x", "x").numpy(), whole.comoment("x", "x").numpy(), rtol=1e-12, atol=1e-9)


def test_empty_merge_changes_nothing(rng):
    X, Y = _data(rng)
    m = Moments().update({"x": X, "y": Y})
    before = m.finalize().comoment("x", "y").clone()
    m.merge(Moments())
    assert torch.equal(m.finalize().comoment("x", "y"), before)


def test_large_offsets_float32_keep_digits(rng):
    # column means ~1e3, small variance: centring per batch keeps the digits
    X = (1e3 + 1e-2 * rng.normal(size=(5000, 6))).astype(np.float32)
    m = Moments()
    for lo in range(0, 5000, 512):
        m.update({"x": X[lo : lo + 512]})
    X64 = X.astype(np.float64)
    ref = (X64 - X64.mean(0)).T @ (X64 - X64.mean(0))
    np.testing.assert_allclose(m.finalize().comoment("x", "x").numpy(), ref, rtol=1e-9, atol=1e-12)


def test_float32_gemm_option_close(rng):
    X, Y = _data(rng, n=2000, offset=1e3)
    a = Moments(gemm_dtype="float32").update({"x": X.astype(np.float32), "y": Y}).finalize()
    Sxx, _, Sxy = _direct(X.astype(np.float32).astype(np.float64), Y)
    np.testing.assert_allclose(a.comoment("x", "y").numpy(), Sxy, rtol=1e-5, atol=1e-3)


def test_state_dict_and_pickle_round_trip(rng):
    X, Y = _data(rng)
    m = Moments(pairs=("cross", ["x"], ["y"])).update({"x": X[:100], "y": Y[:100]})
    m2 = Moments.from_state_dict(m.state_dict())
    m3 = pickle.loads(pickle.dumps(m))
    for mm in (m, m2, m3):
        mm.update({"x": X[100:], "y": Y[100:]})
    ref = m.finalize().comoment("x", "y")
    assert torch.equal(m2.finalize().comoment("x", "y"), ref)
    assert torch.equal(m3.finalize().comoment("x", "y"), ref)
    with pytest.raises(StatisticMismatchError, match="saved with"):
        Moments(pairs="all").load_state_dict(m.state_dict())


def test_blocks_option_ignores_other_blocks(rng):
    X, Y = _data(rng)
    snap = Moments(blocks=["y"]).update({"x": X, "y": Y}).finalize()
    assert snap.blocks == ["y"]
    with pytest.raises(FeatcorrError, match="no block named 'x'"):
        snap.comoment("x", "x")


def test_bad_inputs_raise_clearly(rng):
    X, Y = _data(rng)
    with pytest.raises(NonFiniteError, match="NaN"):
        Xn = X.copy()
        Xn[3, 2] = np.nan
        Moments().update({"x": Xn})
    with pytest.raises(ShapeError, match="same samples"):
        Moments().update({"x": X, "y": Y[:-1]})
    m = Moments().update({"x": X})
    with pytest.raises(ShapeError, match="feature counts changed"):
        m.update({"x": X[:, :3]})
    with pytest.raises(ShapeError, match="1-D"):
        Moments().update({"x": X[:, 0]})
    with pytest.raises(EmptyStatisticError, match="no samples"):
        Moments().finalize()
    with pytest.raises(NotEnoughSamplesError, match="minimum of 2"):
        Moments().update({"x": X[:1]}).finalize()
    with pytest.raises(StatisticMismatchError, match="configurations differ"):
        Moments(pairs="all").merge(Moments(pairs="self"))
    a = Moments().update({"x": X})
    with pytest.raises(StatisticMismatchError, match="block names"):
        a.merge(Moments().update({"z": X}))
    with pytest.raises(FeatcorrError, match="not numeric"):
        Moments().update({"x": np.array([["a", "b"], ["c", "d"]])})


def test_memory_budget_error_names_the_options():
    with pytest.raises(MemoryBudgetError, match=r"pool='mean'.*minibatch_cka"):
        Moments(max_features=100).update({"conv": torch.zeros(4, 16, 8, 8)})
    with pytest.raises(MemoryBudgetError, match="max_memory_gb"):
        Moments(max_memory_gb=1e-6).update({"x": torch.zeros(4, 50)})


def test_accumulates_in_float64_on_input_device(rng):
    X = torch.tensor(rng.normal(size=(50, 3)), dtype=torch.float32)
    m = Moments().update({"x": X})
    assert m.mean.dtype == torch.float64 and m.mean.device == X.device
