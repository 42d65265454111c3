"""DebiasedMoments: row-norm sums vs direct float64 sums, streaming, merging across shifts, state."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from featcorr.errors import StatisticMismatchError, UnknownLayerError
from featcorr.stats import DebiasedMoments


def _data(rng, n=200, offset=0.0):
    X = rng.normal(size=(n, 7)) + offset
    Y = np.cos(X[:, :3] @ rng.normal(size=(3, 5))) + rng.normal(size=(n, 5)) - offset / 2
    return X, Y


def _direct(X, Y):
    a = ((X - X.mean(0)) ** 2).sum(1)
    b = ((Y - Y.mean(0)) ** 2).sum(1)
    return float(a @ b), float(a @ a), float(b @ b)


def _check(snap, X, Y, rtol):
    xy, xx, yy = _direct(X, Y)
    assert snap.sum_norm_products("x", "y") == pytest.approx(xy, rel=rtol)
    assert snap.sum_norm_products("y", "x") == pytest.approx(xy, rel=rtol)
    assert snap.sum_norm_products("x", "x") == pytest.approx(xx, rel=rtol)
    assert snap.sum_norm_products("y", "y") == pytest.approx(yy, rel=rtol)
    assert snap.sum_sq_norms("x") == pytest.approx(((X - X.mean(0)) ** 2).sum(), rel=1e-12)


def test_one_update_matches_direct_sums(rng):
    X, Y = _data(rng, offset=1e3)  # large offsets: the shift keeps the digits
    _check(DebiasedMoments().update({"x": X, "y": Y}).finalize(), X, Y, 1e-10)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16), cuts=st.lists(st.integers(1, 199), max_size=6, unique=True))
def test_streaming_any_split(seed, cuts):
    rng = np.random.default_rng(seed)
    X, Y = _data(rng, offset=50.0)
    m = DebiasedMoments()
    bounds = [0, *sorted(cuts), 200]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m.update({"x": X[lo:hi], "y": Y[lo:hi]})
    _check(m.finalize(), X, Y, 1e-10)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16), n_shards=st.integers(2, 6), tree=st.booleans(), cross=st.booleans())
def test_merge_of_shards_with_different_shifts(seed, n_shards, tree, cross):
    rng = np.random.default_rng(seed)
    X, Y = _data(rng, offset=20.0)
    X[100:] += 30.0  # shards see very different means, so their shifts differ a lot
    pairs = ("cross", ["x"], ["y"]) if cross else "all"
    parts = np.array_split(rng.permutation(200), n_shards)
    shards = [DebiasedMoments(pairs=pairs).update({"x": X[p], "y": Y[p]}) for p in parts]
    if tree:
        while len(shards) > 1:
            shards = [shards[i].merge(shards[i + 1]) if i + 1 < len(shards) else shards[i] for i in range(0, len(shards), 2)]
        merged = shards[0]
    else:
        merged = DebiasedMoments(pairs=pairs)
        for s in reversed(shards):
            merged.merge(s)
    _check(merged.finalize(), X, Y, 1e-9)


def test_uncovered_pair_is_refused(rng):
    X, Y = _data(rng)
    Z = rng.normal(size=(200, 2))
    snap = DebiasedMoments(pairs=[("x", "y")]).update({"x": X, "y": Y, "z": Z}).finalize()
    with pytest.raises(UnknownLayerError, match=r"pair \('x', 'z'\) was not accumulated"):
        snap.sum_norm_products("x", "z")
    assert snap.sum_norm_products("z", "z") == pytest.approx(_direct(Z, Z)[0], rel=1e-10)


def test_state_round_trip_and_mismatch(rng):
    X, Y = _data(rng)
    m = DebiasedMoments().update({"x": X[:120], "y": Y[:120]})
    m2 = DebiasedMoments.from_state_dict(m.state_dict())
    m3 = pickle.loads(pickle.dumps(m))
    for mm in (m, m2, m3):
        mm.update({"x": X[120:], "y": Y[120:]})
    ref = m.finalize().sum_norm_products("x", "y")
    assert m2.finalize().sum_norm_products("x", "y") == ref
    assert m3.finalize().sum_norm_products("x", "y") == ref
    with pytest.raises(StatisticMismatchError, match="configurations differ"):
        m.merge(DebiasedMoments(pairs="self").update({"x": X, "y": Y}))
    before = m.finalize().Q_.clone()
    m.merge(DebiasedMoments())
    assert torch.equal(m.finalize().Q_, before)
