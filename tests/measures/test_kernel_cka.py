"""Kernel CKA measures vs Kornblith's Gram-space formulas written in numpy (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import ConstantFeatureError, NotEnoughSamplesError, UnknownOptionError
from featcorr.measures import minibatch_cka_from
from featcorr.stats import MinibatchHSIC

from ..kernel_oracles import gram_linear, gram_rbf, hsic_song


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
    for seed in range(30):
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
