"""FoldMoments: the documented fold hash, per-fold exactness, streaming, merging, state, bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from featcorr.errors import EmptyStatisticError, ShapeError, StatisticMismatchError, UnknownOptionError
from featcorr.stats import FoldMoments, fold_of_rows

P = 2**31 - 1
M64 = (1 << 64) - 1


def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def ref_folds(blocks: dict, n_folds: int, seed: int) -> np.ndarray:
    """The documented hash, in numpy uint64: blocks in sorted name order, two seeded weights per column."""
    X = np.concatenate([np.asarray(blocks[k], dtype=np.float64) for k in sorted(blocks)], axis=1) + 0.0
    bits = X.view(np.uint64)
    lo, hi = bits & np.uint64(0xFFFFFFFF), bits >> np.uint64(32)
    a = np.array([1 + _splitmix64((seed << 40) ^ (2 * j)) % (P - 1) for j in range(X.shape[1])], dtype=np.uint64)
    b = np.array([1 + _splitmix64((seed << 40) ^ (2 * j + 1)) % (P - 1) for j in range(X.shape[1])], dtype=np.uint64)
    p = np.uint64(P)
    terms = ((lo % p) * a) % p + ((hi % p) * b) % p
    h = np.zeros(X.shape[0], dtype=np.uint64)
    for j in range(X.shape[1]):
        h = (h + terms[:, j]) % p
    return (h % np.uint64(n_folds)).astype(np.int64)


def _data(rng, n=300):
    X = rng.normal(size=(n, 6)) + 20.0
    Y = X[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(size=(n, 4))
    return X, Y


def test_fold_hash_matches_definition(rng):
    X, Y = _data(rng)
    X[:5] = -0.0  # signed zeros hash as zeros
    want = ref_folds({"y": Y, "x": X}, 5, 3)
    got = fold_of_rows([torch.from_numpy(X), torch.from_numpy(Y)], 5, 3).numpy()
    np.testing.assert_array_equal(got, want)
    assert fold_of_rows([torch.zeros(1, 6, dtype=torch.float64)], 5, 3) == fold_of_rows([torch.full((1, 6), -0.0, dtype=torch.float64)], 5, 3)
    counts = np.bincount(ref_folds({"x": rng.normal(size=(5000, 3))}, 5, 0), minlength=5)
    assert counts.min() > 850 and counts.max() < 1150  # about n / k each (expected 1000 +- 28)


def test_per_fold_moments_are_exact(rng):
    X, Y = _data(rng)
    snap = FoldMoments(4, seed=1).update({"x": X, "y": Y}).finalize()
    folds = ref_folds({"x": X, "y": Y}, 4, 1)
    for f, fs in enumerate(snap.folds):
        i = folds == f
        Xc, Yc = X[i] - X[i].mean(0), Y[i] - Y[i].mean(0)
        assert fs.n == i.sum()
        np.testing.assert_allclose(fs.mean("x").numpy(), X[i].mean(0), rtol=1e-13)
        np.testing.assert_allclose(fs.comoment("x", "y").numpy(), Xc.T @ Yc, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(fs.comoment("y", "y").numpy(), Yc.T @ Yc, rtol=1e-10, atol=1e-9)
    Xc = X - X.mean(0)
    np.testing.assert_allclose(snap.total.comoment("x", "x").numpy(), Xc.T @ Xc, rtol=1e-10)
    assert snap.total.n == 300


def test_duplicate_rows_share_a_fold(rng):
    X = rng.normal(size=(50, 3))
    X2 = np.concatenate([X, X[::-1]])
    f = fold_of_rows([torch.from_numpy(X2)], 7, 0).numpy()
    np.testing.assert_array_equal(f[:50], f[50:][::-1])


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), cuts=st.lists(st.integers(1, 239), max_size=5, unique=True), n_shards=st.integers(2, 5))
def test_streaming_and_merge_equal_one_pass(seed, cuts, n_shards):
    rng = np.random.default_rng(seed)
    X, Y = _data(rng, 240)
    whole = FoldMoments(3).update({"x": X, "y": Y}).finalize()
    order = rng.permutation(240)  # any order
    m = FoldMoments(3)
    bounds = [0, *sorted(cuts), 240]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m.update({"x": X[order[lo:hi]], "y": Y[order[lo:hi]]})
    shards = [FoldMoments(3).update({"x": X[p], "y": Y[p]}) for p in np.array_split(rng.permutation(240), n_shards)]
    merged = shards[0]
    for s in shards[:0:-1]:
        merged.merge(s)
    merged.merge(FoldMoments(3))  # an empty shard changes nothing
    for got in (m.finalize(), merged.finalize()):
        for fw, fg in zip(whole.folds, got.folds):
            assert fw.n == fg.n
            np.testing.assert_allclose(fg.comoment("x", "y").numpy(), fw.comoment("x", "y").numpy(), rtol=1e-10, atol=1e-8)
            np.testing.assert_allclose(fg.mean("y").numpy(), fw.mean("y").numpy(), rtol=1e-12)


def test_state_dict_and_pickle_round_trip(rng):
    X, Y = _data(rng)
    m = FoldMoments(4, seed=2).update({"x": X, "y": Y})
    for clone in (FoldMoments.from_state_dict(m.state_dict()), pickle.loads(pickle.dumps(m))):
        a, b = m.finalize(), clone.finalize()
        assert [f.n for f in a.folds] == [f.n for f in b.folds]
        np.testing.assert_array_equal(a.folds[1].comoment("x", "y").numpy(), b.folds[1].comoment("x", "y").numpy())


def test_tiny_folds_are_allowed(rng):
    snap = FoldMoments(10).update({"x": rng.normal(size=(4, 2))}).finalize()
    assert sum(f.n for f in snap.folds) == 4
    assert any(f.n == 0 for f in snap.folds)


def test_bad_inputs(rng):
    X, Y = _data(rng, 20)
    with pytest.raises(UnknownOptionError, match="n_folds=1 must be an int >= 2"):
        FoldMoments(1)
    with pytest.raises(UnknownOptionError, match="seed must be a non-negative int"):
        FoldMoments(seed=-1)
    with pytest.raises(StatisticMismatchError, match="configurations differ"):
        FoldMoments(3).update({"x": X}).merge(FoldMoments(4).update({"x": X}))
    with pytest.raises(EmptyStatisticError, match="no samples"):
        FoldMoments().finalize()
    with pytest.raises(ShapeError, match=r"lacks block\(s\) \['y'\]"):
        FoldMoments(blocks=["x", "y"]).update({"x": X})
    with pytest.raises(ShapeError, match="feature counts changed"):
        FoldMoments(2).update({"x": X}).update({"x": X[:, :3]})
