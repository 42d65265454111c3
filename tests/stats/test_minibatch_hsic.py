"""MinibatchHSIC: per-batch unbiased HSIC vs Song's eq. 5 and U-centring, streaming, merging, state."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from featcorr.errors import (
    ConstantFeatureError,
    EmptyStatisticError,
    NonFiniteError,
    NotEnoughSamplesError,
    ShapeError,
    StatisticMismatchError,
    UnknownLayerError,
    UnknownOptionError,
)
from featcorr.stats import MinibatchHSIC

from ..kernel_oracles import center_gram, gram_linear, gram_rbf, hsic_song


def _u_hsic(K, L):
    n = K.shape[0]
    return float(np.sum(center_gram(K, unbiased=True) * center_gram(L, unbiased=True)) / (n * (n - 3)))


def _blocks(rng, n=240):
    X = rng.normal(size=(n, 12)) + 4.0  # offsets: per-batch centring must not change the estimate
    Y = np.maximum(X[:, :6] @ rng.normal(size=(6, 9)), 0) + 0.3 * rng.normal(size=(n, 9))
    Z = rng.normal(size=(n, 150))  # wider than the batch
    return {"x": X, "y": Y, "z": Z}


def _oracle_matrix(data, bounds, gram):
    names = list(data)
    out = np.zeros((len(names), len(names)))
    used = 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo < 4:
            continue
        used += 1
        grams = [gram(data[k][lo:hi]) for k in names]
        for i in range(len(names)):
            for j in range(len(names)):
                out[i, j] += hsic_song(grams[i], grams[j])
    return out / used


def test_song_eq5_equals_u_centring_oracle(rng):
    # the two oracles are independent formulas; they must agree before either is used
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 7))
    assert hsic_song(gram_linear(X), gram_linear(Y)) == pytest.approx(_u_hsic(gram_linear(X), gram_linear(Y)), rel=1e-12)


@pytest.mark.parametrize("m", [4, 63, 64, 240])
def test_linear_terms_match_song_eq5(rng, m):
    data = _blocks(rng)
    snap = MinibatchHSIC(batch_size=m).update(data).finalize()
    bounds = list(range(0, 240, m)) + [240]
    want = _oracle_matrix(data, bounds, gram_linear)
    np.testing.assert_allclose(snap.matrix().numpy(), want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    assert snap.n_batches == len(bounds) - 1 - (1 if 240 % m and 240 % m < 4 else 0)


def test_rbf_terms_with_fixed_bandwidth(rng):
    data = _blocks(rng, n=120)
    sig = {"x": 4.0, "y": 6.0, "z": 15.0}
    snap = MinibatchHSIC("rbf", bandwidth=sig, batch_size=40).update(data).finalize()
    names = list(data)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            want = np.mean(
                [hsic_song(gram_rbf(data[a][lo : lo + 40], sigma=sig[a]), gram_rbf(data[b][lo : lo + 40], sigma=sig[b]))
                 for lo in range(0, 120, 40)]
            )
            assert snap.hsic(a, b) == pytest.approx(want, rel=1e-9), (a, b)
    assert snap.sigma == sig


def test_rbf_default_bandwidth_is_kornblith_median_of_first_batch(rng):
    data = _blocks(rng, n=90)
    snap = MinibatchHSIC("rbf", threshold=0.5, batch_size=30).update(data).finalize()
    for name, X in data.items():
        d2 = ((X[:30, None] - X[None, :30]) ** 2).sum(-1)
        assert snap.sigma[name] == pytest.approx(0.5 * np.sqrt(np.median(d2)), rel=1e-12)
    want = np.mean(
        [hsic_song(gram_rbf(data["x"][lo : lo + 30], sigma=snap.sigma["x"]),
                   gram_rbf(data["y"][lo : lo + 30], sigma=snap.sigma["y"])) for lo in (0, 30, 60)]
    )
    assert snap.hsic("x", "y") == pytest.approx(want, rel=1e-9)


def test_float32_gemm_close_and_float64_sums(rng):
    data = {k: v.astype(np.float32) for k, v in _blocks(rng).items()}
    a = MinibatchHSIC(batch_size=80, gemm_dtype="float32").update(data).finalize()
    b = MinibatchHSIC(batch_size=80).update(data).finalize()
    assert a.matrix().dtype == torch.float64
    np.testing.assert_allclose(a.matrix().numpy(), b.matrix().numpy(), rtol=2e-5)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16), n_shards=st.integers(2, 5), tree=st.booleans())
def test_streaming_and_merging_equal_one_pass(seed, n_shards, tree):
    rng = np.random.default_rng(seed)
    data = _blocks(rng, n=200)
    whole = MinibatchHSIC().update({k: v for k, v in data.items()})
    batches = [(lo, lo + 40) for lo in range(0, 200, 40)]
    one = MinibatchHSIC()
    for lo, hi in batches:
        one.update({k: v[lo:hi] for k, v in data.items()})
    parts = np.array_split(np.arange(len(batches)), n_shards)
    shards = []
    for part in parts:
        s = MinibatchHSIC()
        for i in part:
            lo, hi = batches[i]
            s.update({k: v[lo:hi] for k, v in data.items()})
        shards.append(s)
    if tree:
        while len(shards) > 1:
            shards = [shards[i].merge(shards[i + 1]) if i + 1 < len(shards) else shards[i] for i in range(0, len(shards), 2)]
        merged = shards[0]
    else:
        merged = MinibatchHSIC()
        for s in reversed(shards):
            merged.merge(s)
    np.testing.assert_allclose(merged.finalize().matrix().numpy(), one.finalize().matrix().numpy(), rtol=1e-12)
    assert merged.finalize().n_batches == 5 and merged.finalize().n_rows == 200
    # one update of the whole data is one batch: a different (full-data) estimate
    assert whole.finalize().n_batches == 1


def test_unequal_last_batch_counts_once_and_small_batches_are_skipped(rng):
    data = _blocks(rng, n=103)
    snap = MinibatchHSIC(batch_size=50).update(data).finalize()  # 50, 50, 3 -> the 3-row batch is skipped
    assert (snap.n_batches, snap.n_rows, snap.n_skipped_batches, snap.n_skipped_rows) == (2, 100, 1, 3)
    want = _oracle_matrix(data, [0, 50, 100, 103], gram_linear)
    np.testing.assert_allclose(snap.matrix().numpy(), want, rtol=1e-10)
    snap = MinibatchHSIC(batch_size=45).update(data).finalize()  # 45, 45, 13: equal weights per batch
    want = _oracle_matrix(data, [0, 45, 90, 103], gram_linear)
    np.testing.assert_allclose(snap.matrix().numpy(), want, rtol=1e-10)
    with pytest.raises(NotEnoughSamplesError, match=r"1 batch\(es\) with 3 row"):
        MinibatchHSIC().update({k: v[:3] for k, v in data.items()}).finalize()


def test_negative_cross_terms_are_kept(rng):
    # independent blocks: the unbiased cross estimate is negative for some seeds, and must stay so (no clamp)
    negs = 0
    for seed in range(20):
        r = np.random.default_rng(seed)
        X, Y = r.normal(size=(12, 3)), r.normal(size=(12, 3))
        got = MinibatchHSIC().update({"x": X, "y": Y}).finalize().hsic("x", "y")
        assert got == pytest.approx(hsic_song(gram_linear(X), gram_linear(Y)), rel=1e-10, abs=1e-13)
        negs += got < 0
    assert negs > 0


def test_state_dict_pickle_round_trip(rng):
    data = _blocks(rng, n=120)
    s = MinibatchHSIC("rbf", batch_size=40).update({k: v[:80] for k, v in data.items()})
    s2 = MinibatchHSIC.from_state_dict(s.state_dict())
    s3 = pickle.loads(pickle.dumps(s))
    for t in (s, s2, s3):
        t.update({k: v[80:] for k, v in data.items()})
    ref = s.finalize()
    for t in (s2, s3):
        assert torch.equal(t.finalize().matrix(), ref.matrix())
        assert t.finalize().sigma == ref.sigma
    d = MinibatchHSIC("rbf", bandwidth={"x": 1.0, "y": 2.0, "z": 3.0})
    assert MinibatchHSIC.from_state_dict(d.state_dict()).bandwidth == {"x": 1.0, "y": 2.0, "z": 3.0}


def test_merge_rejects_different_bandwidths_and_blocks(rng):
    data = _blocks(rng, n=80)
    a = MinibatchHSIC("rbf").update({k: v[:40] for k, v in data.items()})
    b = MinibatchHSIC("rbf").update({k: v[40:] for k, v in data.items()})
    with pytest.raises(StatisticMismatchError, match="different RBF bandwidths.*bandwidth="):
        a.merge(b)
    with pytest.raises(StatisticMismatchError, match="configurations differ"):
        MinibatchHSIC().merge(MinibatchHSIC("rbf"))
    c = MinibatchHSIC().update({"x": data["x"]})
    with pytest.raises(StatisticMismatchError, match="block names"):
        c.merge(MinibatchHSIC().update({"y": data["y"]}))
    before = c.finalize().matrix()
    c.merge(MinibatchHSIC())
    assert torch.equal(c.finalize().matrix(), before)


def test_bad_inputs(rng):
    X = rng.normal(size=(20, 3))
    with pytest.raises(UnknownOptionError, match="kernel='poly'"):
        MinibatchHSIC("poly")
    with pytest.raises(UnknownOptionError, match="batch_size must be an int >= 4"):
        MinibatchHSIC(batch_size=3)
    with pytest.raises(UnknownOptionError, match="bandwidth is an RBF option"):
        MinibatchHSIC(bandwidth=1.0)
    with pytest.raises(UnknownOptionError, match="positive finite"):
        MinibatchHSIC("rbf", bandwidth=-1.0)
    with pytest.raises(UnknownOptionError, match=r"no value for block\(s\) \['y'\]"):
        MinibatchHSIC("rbf", bandwidth={"x": 1.0}).update({"x": X, "y": X})
    with pytest.raises(UnknownLayerError, match=r"\['w'\]"):
        MinibatchHSIC(pairs=[("x", "w")]).update({"x": X})
    with pytest.raises(ConstantFeatureError, match="median squared distance.*bandwidth="):
        MinibatchHSIC("rbf").update({"x": np.ones((20, 3))})
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="inf"):
        MinibatchHSIC().update({"x": Xn})
    s = MinibatchHSIC().update({"x": X})
    with pytest.raises(ShapeError, match="feature counts changed"):
        s.update({"x": X[:, :2]})
    with pytest.raises(EmptyStatisticError, match="no batch with at least 4 rows"):
        MinibatchHSIC().finalize()
    with pytest.raises(UnknownLayerError, match="no block named 'q'"):
        s.finalize().hsic("q", "x")


def test_bfloat16_gram_option_is_close_and_linear_only(rng):
    data = {k: v.astype(np.float32) for k, v in _blocks(rng).items()}
    a = MinibatchHSIC(batch_size=80, gemm_dtype="bfloat16").update({k: torch.from_numpy(v) for k, v in data.items()})
    b = MinibatchHSIC(batch_size=80).update(data)
    ra, rb = a.finalize().matrix().numpy(), b.finalize().matrix().numpy()
    np.testing.assert_allclose(ra, rb, rtol=2e-2, atol=2e-3 * np.abs(rb).max())
    assert np.abs(ra - rb).max() > 0  # it really ran in lower precision
    with pytest.raises(UnknownOptionError, match="linear kernel only"):
        MinibatchHSIC("rbf", gemm_dtype="bfloat16")


def test_fast_path_tensors_detect_non_finite_rows(rng):
    X = torch.randn(30, 4)
    X[7, 2] = float("nan")
    with pytest.raises(NonFiniteError, match=r"\['x'\] contain NaN or inf"):
        MinibatchHSIC().update({"x": X, "y": torch.randn(30, 3)})
    Y = torch.randn(30, 3, dtype=torch.float32)
    Y[0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"\['y'\]"):
        MinibatchHSIC(gemm_dtype="float32").update({"x": torch.randn(30, 4), "y": Y})
