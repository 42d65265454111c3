"""Reservoir: uniformity, exactness for small streams, same rows per block, merge, state."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from featcorr.errors import (
    EmptyStatisticError,
    NonFiniteError,
    NotEnoughSamplesError,
    ShapeError,
    StatisticMismatchError,
    UnknownLayerError,
    UnknownOptionError,
)
from featcorr.stats import Reservoir


def _ids(n, p=3):
    """Rows that encode their own id: block x row i = (i, i, ...), block y = -2 i."""
    ids = np.arange(n, dtype=np.float64)
    return np.repeat(ids[:, None], p, axis=1), -2.0 * ids[:, None]


def _feed(res, X, Y, cuts):
    bounds = [0, *sorted(cuts), X.shape[0]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            res.update({"x": X[lo:hi], "y": Y[lo:hi]})
    return res


@pytest.mark.parametrize("batch", [1, 3, 50])
def test_small_stream_keeps_every_row_in_order(rng, batch):
    X = rng.normal(size=(40, 5)) + 3
    Y = rng.normal(size=(40, 2))
    r = Reservoir(size=40, seed=7)
    for lo in range(0, 40, batch):
        r.update({"x": X[lo : lo + batch], "y": Y[lo : lo + batch]})
    snap = r.finalize()
    assert snap.n_seen == 40 and snap.m == 40 and snap.exact
    np.testing.assert_array_equal(snap.index.numpy(), np.arange(40))
    assert torch.equal(snap.rows("x"), torch.from_numpy(X))
    assert torch.equal(snap.rows("y"), torch.from_numpy(Y))
    assert snap.rows("x").dtype == torch.float64


@settings(max_examples=15, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 99), max_size=8, unique=True),
    cuts2=st.lists(st.integers(1, 99), max_size=8, unique=True),
    seed=st.integers(0, 2**20),
    size=st.integers(1, 60),
)
def test_same_rows_for_every_block_and_independent_of_batch_boundaries(cuts, cuts2, seed, size):
    X, Y = _ids(100)
    a = _feed(Reservoir(size=size, seed=seed), X, Y, cuts).finalize()
    b = _feed(Reservoir(size=size, seed=seed), X, Y, cuts2).finalize()
    idx = a.index.numpy()
    assert a.m == min(size, 100) and a.n_seen == 100
    assert np.all(np.diff(idx) > 0)  # stream order
    np.testing.assert_array_equal(a.rows("x")[:, 0].numpy(), idx)  # the rows are the indexed rows ...
    np.testing.assert_array_equal(a.rows("y")[:, 0].numpy(), -2.0 * idx)  # ... in every block
    np.testing.assert_array_equal(b.index.numpy(), idx)  # reproducible for a seed, whatever the batches


def test_different_seeds_give_different_samples():
    X, Y = _ids(200)
    a = Reservoir(size=10, seed=1).update({"x": X, "y": Y}).finalize()
    b = Reservoir(size=10, seed=2).update({"x": X, "y": Y}).finalize()
    assert not torch.equal(a.index, b.index)


def _subset_counts(draw, n, size, trials):
    subsets = {s: i for i, s in enumerate(itertools.combinations(range(n), size))}
    counts = np.zeros(len(subsets))
    for t in range(trials):
        counts[subsets[tuple(draw(t))]] += 1
    return counts


def test_every_subset_equally_likely_single_stream():
    # n=7, size=3: 35 subsets, each with probability 1/35 under uniform sampling without replacement
    X, Y = _ids(7)

    def draw(seed):
        r = Reservoir(size=3, seed=seed)
        for lo in range(0, 7, 2):  # batches of 2, so the replacement path runs
            r.update({"x": X[lo : lo + 2], "y": Y[lo : lo + 2]})
        return r.finalize().index.tolist()

    counts = _subset_counts(draw, 7, 3, 2100)
    assert chisquare(counts).pvalue > 1e-3
    assert counts.min() > 25  # no subset is unreachable (60 expected)


def test_merged_shards_give_a_uniform_sample():
    # 3 shards of sizes 2, 3, 2 (streams 0, 1, 2) merged: the union's subsets must stay uniform
    X, Y = _ids(7)
    parts = [(0, 2), (2, 5), (5, 7)]

    def draw(seed):
        shards = [
            Reservoir(size=3, seed=seed, stream=k).update({"x": X[lo:hi], "y": Y[lo:hi]})
            for k, (lo, hi) in enumerate(parts)
        ]
        merged = shards[2].merge(shards[0]).merge(shards[1])  # any order
        return merged.finalize().index.tolist()

    counts = _subset_counts(draw, 7, 3, 2100)
    assert chisquare(counts).pvalue > 1e-3


def test_inclusion_is_uniform_over_a_long_stream():
    X, Y = _ids(60)
    counts = np.zeros(60)
    for seed in range(800):
        r = Reservoir(size=5, seed=seed)
        for lo in range(0, 60, 16):
            r.update({"x": X[lo : lo + 16], "y": Y[lo : lo + 16]})
        counts[r.finalize().index.numpy()] += 1
    assert counts.sum() == 800 * 5
    assert chisquare(counts).pvalue > 1e-3


@settings(max_examples=12, deadline=None)
@given(n_shards=st.integers(2, 5), seed=st.integers(0, 2**20), tree=st.booleans(), size=st.integers(1, 30))
def test_merge_is_order_free_and_numbers_rows_stream_by_stream(n_shards, seed, tree, size):
    X, Y = _ids(90)
    bounds = np.linspace(0, 90, n_shards + 1).astype(int)

    def shards():
        return [
            Reservoir(size=size, seed=seed, stream=k).update({"x": X[lo:hi], "y": Y[lo:hi]})
            for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))
        ]

    s = shards()
    if tree:
        while len(s) > 1:
            s = [s[i].merge(s[i + 1]) if i + 1 < len(s) else s[i] for i in range(0, len(s), 2)]
        a = s[0]
    else:
        a = Reservoir(size=size, seed=seed)  # an empty reservoir merged first changes nothing
        for sh in reversed(s):
            a.merge(sh)
    b = shards()[0]
    for sh in shards()[1:]:
        b.merge(sh)
    sa, sb = a.finalize(), b.finalize()
    assert sa.n_seen == 90 and sa.m == min(size, 90)
    np.testing.assert_array_equal(sa.index.numpy(), sb.index.numpy())
    # stream k's rows are numbered after streams 0..k-1, so index = position in the concatenated data
    np.testing.assert_array_equal(sa.rows("x")[:, 0].numpy(), sa.index.numpy())
    np.testing.assert_array_equal(sa.rows("y")[:, 0].numpy(), -2.0 * sa.index.numpy())


def test_merge_of_small_shards_keeps_everything():
    X, Y = _ids(10)
    a = Reservoir(size=20).update({"x": X[:4], "y": Y[:4]})
    b = Reservoir(size=20, stream=1).update({"x": X[4:], "y": Y[4:]})
    snap = a.merge(b).finalize()
    assert snap.exact
    np.testing.assert_array_equal(snap.rows("x").numpy(), X)


def test_same_stream_merge_raises_and_empty_merge_is_a_no_op():
    X, Y = _ids(20)
    a = Reservoir(size=5).update({"x": X[:10], "y": Y[:10]})
    b = Reservoir(size=5).update({"x": X[10:], "y": Y[10:]})
    with pytest.raises(StatisticMismatchError, match=r"stream\(s\) \[0\].*stream=rank"):
        a.merge(b)
    before = a.finalize().index.clone()
    a.merge(Reservoir(size=5))
    assert torch.equal(a.finalize().index, before)
    with pytest.raises(StatisticMismatchError, match="configurations differ"):
        a.merge(Reservoir(size=6, stream=1).update({"x": X, "y": Y}))
    with pytest.raises(StatisticMismatchError, match="block names"):
        a.merge(Reservoir(size=5, stream=1).update({"x": X}))
    with pytest.raises(StatisticMismatchError, match="before the first update"):
        a.set_stream(3)
    c = Reservoir(size=5).set_stream(1).update({"x": X[10:], "y": Y[10:]})
    assert a.merge(c).finalize().n_seen == 20


def test_state_dict_and_pickle_round_trip_continue_identically(rng):
    X = rng.normal(size=(300, 4)).astype(np.float32)
    Y = rng.normal(size=(300, 2))
    r = Reservoir(size=25, seed=5).update({"x": X[:100], "y": Y[:100]})
    r2 = Reservoir.from_state_dict(r.state_dict())
    r3 = pickle.loads(pickle.dumps(r))
    for rr in (r, r2, r3):
        rr.update({"x": X[100:], "y": Y[100:]})  # the key generator state is restored too
    ref = r.finalize()
    for rr in (r2, r3):
        s = rr.finalize()
        assert torch.equal(s.index, ref.index)
        assert torch.equal(s.rows("x"), ref.rows("x"))
    np.testing.assert_array_equal(ref.rows("x").numpy(), X[ref.index.numpy()].astype(np.float64))
    with pytest.raises(StatisticMismatchError, match="saved with"):
        Reservoir(size=26, seed=5).load_state_dict(r.state_dict())


def test_storage_keeps_float32_and_promotes_for_float64(rng):
    X = rng.normal(size=(50, 3))
    r = Reservoir(size=10).update({"x": X[:20].astype(np.float32)})
    assert r._rows["x"].dtype == torch.float32
    r.update({"x": X[20:]})
    assert r._rows["x"].dtype == torch.float64
    snap = r.finalize()
    late = snap.index.numpy() >= 20
    np.testing.assert_array_equal(snap.rows("x").numpy()[late], X[snap.index.numpy()[late]])


def test_blocks_option_and_unknown_block(rng):
    X, Y = _ids(30)
    snap = Reservoir(size=8, blocks=["y"]).update({"x": X, "y": Y}).finalize()
    assert snap.blocks == ["y"]
    with pytest.raises(UnknownLayerError, match="no block named 'x'"):
        snap.rows("x")
    with pytest.raises(ShapeError, match=r"lacks block\(s\) \['y'\]"):
        Reservoir(blocks=["y"]).update({"x": X})


def test_bad_inputs(rng):
    X = rng.normal(size=(20, 3))
    for bad in (0, -3, 2.5, True):
        with pytest.raises(UnknownOptionError, match="size must be a positive int"):
            Reservoir(size=bad)
    with pytest.raises(UnknownOptionError, match="seed must be a non-negative int"):
        Reservoir(seed=-1)
    with pytest.raises(UnknownOptionError, match="stream must be"):
        Reservoir(stream=-1)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        Reservoir().update({"x": Xn})
    r = Reservoir().update({"x": X})
    with pytest.raises(ShapeError, match="feature counts changed"):
        r.update({"x": X[:, :2]})
    with pytest.raises(ShapeError, match="same samples"):
        Reservoir().update({"x": X, "y": X[:-1]})
    with pytest.raises(EmptyStatisticError, match="no rows were seen"):
        Reservoir().finalize()
    with pytest.raises(NotEnoughSamplesError, match="minimum of 2"):
        Reservoir().update({"x": X[:1]}).finalize()
