"""Kernel CKA measures vs Kornblith's Gram-space formulas written in numpy (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import ConstantFeatureError, NotEnoughSamplesError, UnknownOptionError
from featcorr.measures import debiased_cka_from, minibatch_cka_from, rbf_cka_from
from featcorr.stats import DebiasedMoments, MinibatchHSIC, Reservoir

from ..kernel_oracles import cka as kcka
from ..kernel_oracles import gram_linear, gram_rbf, hsic_song, sq_distances


def _pair(rng, n=240, offset=3.0):
    X = rng.normal(size=(n, 16)) + offset
    Y = np.tanh(X @ rng.normal(size=(16, 10)) / 4) + 0.2 * rng.normal(size=(n, 10))
    return X, Y


def _mb_oracle(X, Y, m, gram=gram_linear):
    """Kornblith/Nguyen minibatch CKA: HSIC terms averaged over the same batches, then the ratio."""
    xy = xx = yy = 0.0
    for lo in range(0, X.shape[0], m):
        x, y = X[lo : lo + m], Y[lo : lo + m]
        if x.shape[0] < 4:
            continue
        K, L = gram(x), gram(y)
        xy += hsic_song(K, L)
        xx += hsic_song(K, K)
        yy += hsic_song(L, L)
    return xy / np.sqrt(xx * yy)


# -------------------------------------------------------------- minibatch_cka
@pytest.mark.parametrize("m", [10, 60, 100])
def test_minibatch_cka_matches_averaged_hsic_oracle(rng, m):
    X, Y = _pair(rng)
    got = fc.similarity(X, Y, measure="minibatch_cka", batch_size=m)
    assert got == pytest.approx(_mb_oracle(X, Y, m), rel=1e-10, abs=1e-12)


def test_minibatch_cka_is_not_the_average_of_batch_ratios(rng):
    X, Y = _pair(rng, n=200)
    got = fc.similarity(X, Y, measure="minibatch_cka", batch_size=20)
    per_batch = np.mean([_mb_oracle(X[lo : lo + 20], Y[lo : lo + 20], 20) for lo in range(0, 200, 20)])
    assert abs(got - per_batch) > 1e-6  # far above rounding (1e-12): a different estimator


def test_minibatch_cka_streaming_equals_array_path(rng):
    X, Y = _pair(rng)
    s = MinibatchHSIC()
    for lo in range(0, 240, 48):
        s.update({"a": X[lo : lo + 48], "b": Y[lo : lo + 48]})
    assert minibatch_cka_from(s.finalize(), "a", "b") == pytest.approx(
        fc.similarity(X, Y, measure="minibatch_cka", batch_size=48), rel=1e-12
    )


def test_minibatch_cka_rbf_with_fixed_bandwidth(rng):
    X, Y = _pair(rng, n=120)
    got = fc.similarity(X, Y, measure="minibatch_cka", kernel="rbf", bandwidth=3.0, batch_size=40)
    want = _mb_oracle(X, Y, 40, gram=lambda z: gram_rbf(z, sigma=3.0))
    assert got == pytest.approx(want, rel=1e-9)


def test_minibatch_cka_one_batch_is_full_data_debiased_cka(rng):
    X, Y = _pair(rng, n=150)
    got = fc.similarity(X, Y, measure="minibatch_cka")  # no batch_size: the whole array is one batch
    assert got == pytest.approx(_mb_oracle(X, Y, 150), rel=1e-10)


def test_minibatch_cka_invariances(rng):
    X, Y = _pair(rng)
    base = fc.similarity(X, Y, measure="minibatch_cka", batch_size=60)
    Q = ortho_group.rvs(10, random_state=3)
    assert fc.similarity(X, 5.0 * Y @ Q - 2.0, measure="minibatch_cka", batch_size=60) == pytest.approx(base, rel=1e-9)
    assert fc.similarity(X, X, measure="minibatch_cka", batch_size=60) == 1.0


def test_minibatch_cka_negative_values_stay_negative():
    found = False
    for seed in range(12):
        r = np.random.default_rng(seed)
        X, Y = r.normal(size=(40, 3)), r.normal(size=(40, 3))
        got = fc.similarity(X, Y, measure="minibatch_cka", batch_size=10)
        assert got == pytest.approx(_mb_oracle(X, Y, 10), rel=1e-9, abs=1e-12)
        found |= got < 0
    assert found


def test_minibatch_cka_bad_inputs(rng):
    X, Y = _pair(rng, n=40)
    with pytest.raises(ConstantFeatureError, match="constant within every batch"):
        fc.similarity(X, np.ones((40, 2)), measure="minibatch_cka", batch_size=10)
    with pytest.raises(UnknownOptionError, match="bandwidth is an RBF option"):
        fc.similarity(X, Y, measure="minibatch_cka", bandwidth=1.0)
    with pytest.raises(UnknownOptionError, match="kernel='poly'"):
        fc.similarity(X, Y, measure="minibatch_cka", kernel="poly")
    with pytest.raises(fc.FeatcorrError, match="does not take option"):
        fc.similarity(X, Y, measure="minibatch_cka", debiased=True)
    # a self-HSIC estimate <= 0: a block with one non-zero row per batch (rank-1 hollow Gram is 0)
    Z = np.zeros((8, 3))
    Z[0] = Z[4] = 1.0
    with pytest.raises(NotEnoughSamplesError, match=r"self-HSIC estimate of block 'Y' is .*<= 0"):
        fc.similarity(X[:8], Z, measure="minibatch_cka", batch_size=4)


# --------------------------------------------------------------- debiased_cka
def _debiased_cases(rng):
    yield "related", *_pair(rng, n=150)
    yield "n<p", rng.normal(size=(30, 200)) + 10, rng.normal(size=(30, 120))
    low = rng.normal(size=(80, 2)) @ rng.normal(size=(2, 20))
    yield "rank-deficient", low, low[:, :4] + 0.1 * rng.normal(size=(80, 4))
    yield "n=4", rng.normal(size=(4, 3)), rng.normal(size=(4, 2))


def test_debiased_cka_matches_kornblith_unbiased_gram_formula(rng):
    for label, X, Y in _debiased_cases(rng):
        want = kcka(gram_linear(X), gram_linear(Y), debiased=True)
        got = fc.similarity(X, Y, measure="debiased_cka")
        assert got == pytest.approx(want, rel=1e-8, abs=1e-10), label
        assert fc.cka(X, Y, debiased=True) == got


def test_debiased_cka_streaming_and_merge_equal_one_pass(rng):
    X, Y = _pair(rng, n=300, offset=200.0)
    whole = fc.similarity(X, Y, measure="debiased_cka")
    s = DebiasedMoments()
    for lo in range(0, 300, 37):
        s.update({"x": X[lo : lo + 37], "y": Y[lo : lo + 37]})
    assert debiased_cka_from(s.finalize(), "x", "y") == pytest.approx(whole, rel=1e-10)
    shards = [DebiasedMoments().update({"x": X[p], "y": Y[p]}) for p in np.array_split(rng.permutation(300), 5)]
    merged = shards[3]
    for sh in shards[:3] + shards[4:]:
        merged.merge(sh)
    assert debiased_cka_from(merged.finalize(), "x", "y") == pytest.approx(whole, rel=1e-10)


def test_debiased_cka_negative_values_come_out_negative():
    found = 0
    for seed in range(20):
        r = np.random.default_rng(seed)
        X, Y = r.normal(size=(25, 40)), r.normal(size=(25, 30))  # unrelated, p > n: plain CKA is large
        got = fc.similarity(X, Y, measure="debiased_cka")
        assert got == pytest.approx(kcka(gram_linear(X), gram_linear(Y), debiased=True), rel=1e-8, abs=1e-12)
        assert fc.similarity(X, Y) > 0.5  # the bias the debiased estimate removes
        found += got < 0
    assert found >= 3


def test_debiased_cka_bad_inputs(rng):
    X, Y = _pair(rng, n=20)
    with pytest.raises(NotEnoughSamplesError, match="minimum of 4"):
        fc.similarity(X[:3], Y[:3], measure="debiased_cka")
    with pytest.raises(ConstantFeatureError, match="'Y' is constant"):
        fc.similarity(X, np.full((20, 2), 3.0), measure="debiased_cka")
    # n=4 with one non-zero row: the U-centred self term is exactly 0 (Kornblith's formula too) -> undefined ratio
    Z = np.array([[0.0], [0.0], [0.0], [1e3]])
    assert hsic_song(gram_linear(Z), gram_linear(Z)) == 0.0
    with pytest.raises(NotEnoughSamplesError, match=r"self-HSIC estimate of block 'Y' is .*<= 0"):
        fc.similarity(X[:4], Z, measure="debiased_cka")


# -------------------------------------------------------------------- rbf_cka
@pytest.mark.parametrize("threshold", [0.2, 0.5, 1.0])
@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_cka_matches_kornblith_gram_rbf(rng, threshold, debiased):
    X, Y = _pair(rng, n=120)
    want = kcka(gram_rbf(X, threshold), gram_rbf(Y, threshold), debiased=debiased)
    got = fc.similarity(X, Y, measure="rbf_cka", threshold=threshold, debiased=debiased)
    assert got == pytest.approx(want, rel=1e-10)
    assert fc.cka(X, Y, kernel="rbf", debiased=debiased, threshold=threshold) == got


def test_rbf_cka_median_conventions(rng):
    X, Y = _pair(rng, n=60)
    D2x, D2y = sq_distances(X), sq_distances(Y)
    iu = np.triu_indices(60, 1)
    sig = {
        "full_sq": (np.sqrt(np.median(D2x)), np.sqrt(np.median(D2y))),
        "pairs_sq": (np.sqrt(np.median(D2x[iu])), np.sqrt(np.median(D2y[iu]))),
        "pairs": (np.median(np.sqrt(D2x[iu])), np.median(np.sqrt(D2y[iu]))),
        "full": (np.median(np.sqrt(D2x)), np.median(np.sqrt(D2y))),
    }
    values = {}
    for conv, (sx, sy) in sig.items():
        want = kcka(gram_rbf(X, sigma=0.8 * sx), gram_rbf(Y, sigma=0.8 * sy))
        values[conv] = fc.similarity(X, Y, measure="rbf_cka", median=conv, threshold=0.8)
        assert values[conv] == pytest.approx(want, rel=1e-10), conv
    assert abs(values["full_sq"] - values["pairs_sq"]) > 1e-6  # the conventions really differ
    got = fc.similarity(X, Y, measure="rbf_cka", bandwidth=2.5)
    assert got == pytest.approx(kcka(gram_rbf(X, sigma=2.5), gram_rbf(Y, sigma=2.5)), rel=1e-10)


def test_rbf_cka_on_reservoir_sample_is_exact_on_the_sample(rng):
    X, Y = _pair(rng, n=400)
    r = Reservoir(size=100, seed=3).update({"x": X[:250], "y": Y[:250]}).update({"x": X[250:], "y": Y[250:]})
    snap = r.finalize()
    idx = snap.index.numpy()
    assert not snap.exact and len(idx) == 100
    want = kcka(gram_rbf(X[idx]), gram_rbf(Y[idx]))
    assert rbf_cka_from(snap, "x", "y") == pytest.approx(want, rel=1e-10)
    assert fc.similarity(X, Y, measure="rbf_cka", sample_size=100, seed=3) == pytest.approx(want, rel=1e-10)


def test_rbf_cka_invariances(rng):
    X, Y = _pair(rng, n=80)
    base = fc.similarity(X, Y, measure="rbf_cka")
    Q = ortho_group.rvs(10, random_state=5)
    assert fc.similarity(X, 3.0 * Y @ Q + 1.0, measure="rbf_cka") == pytest.approx(base, rel=1e-9)
    assert fc.similarity(X, X, measure="rbf_cka") == 1.0


def test_rbf_cka_bad_inputs(rng):
    X, Y = _pair(rng, n=20)
    with pytest.raises(UnknownOptionError, match="median='mean'"):
        fc.similarity(X, Y, measure="rbf_cka", median="mean")
    with pytest.raises(UnknownOptionError, match="threshold must be a positive"):
        fc.similarity(X, Y, measure="rbf_cka", threshold=0)
    with pytest.raises(ConstantFeatureError, match="'Y' is constant"):
        fc.similarity(X, np.ones((20, 3)), measure="rbf_cka")
    Z = np.zeros((20, 2))
    Z[:6] = rng.normal(size=(6, 2))  # 14 identical rows: 202 of 400 squared distances are 0
    with pytest.raises(ConstantFeatureError, match="median squared distance.*bandwidth="):
        fc.similarity(X, Z, measure="rbf_cka")
    assert 0 < fc.similarity(X, Z, measure="rbf_cka", median="pairs_sq") < 1
    with pytest.raises(NotEnoughSamplesError, match="minimum of 4"):
        fc.similarity(X[:3], Y[:3], measure="rbf_cka", debiased=True)
