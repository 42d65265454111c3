"""Permutation p-values and bootstrap intervals: brute-force agreement, null uniformity, power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import featcorr as fc
from featcorr.errors import FeatcorrError
from featcorr.measures import bootstrap_distribution, permutation_null
from featcorr.measures._significance import permutation_p_value

from ..conftest import ref_linear_cka


def test_vectorised_null_equals_brute_force(rng):
    X = rng.normal(size=(60, 5)) + 4
    Y = X[:, :3] @ rng.normal(size=(3, 7)) + rng.normal(size=(60, 7))
    null = permutation_null("linear_cka", X, Y, 50, rng=np.random.default_rng(3))
    perms = np.argsort(np.random.default_rng(3).random((50, 60)), axis=1)
    brute = np.array([ref_linear_cka(X, Y[p]) for p in perms])
    np.testing.assert_allclose(null, brute, rtol=1e-5)


def test_vectorised_null_n_less_than_p(rng):
    X = rng.normal(size=(20, 60))
    Y = rng.normal(size=(20, 45))
    null = permutation_null("linear_cka", X, Y, 30, rng=np.random.default_rng(5))
    perms = np.argsort(np.random.default_rng(5).random((30, 20)), axis=1)
    np.testing.assert_allclose(null, [ref_linear_cka(X, Y[p]) for p in perms], rtol=1e-5)


def test_bootstrap_equals_brute_force(rng):
    X = rng.normal(size=(40, 4))
    Y = X @ rng.normal(size=(4, 3)) + rng.normal(size=(40, 3))
    boot = bootstrap_distribution("linear_cka", X, Y, 25, rng=np.random.default_rng(9))
    g = np.random.default_rng(9)
    brute = []
    for _ in range(25):
        idx = g.integers(0, 40, size=40)
        brute.append(ref_linear_cka(X[idx], Y[idx]))
    np.testing.assert_allclose(boot, brute, rtol=1e-10)


def test_p_values_uniform_under_independence():
    g = np.random.default_rng(2024)
    pvals = []
    for _ in range(150):
        X, Y = g.normal(size=(25, 3)), g.normal(size=(25, 2))
        pvals.append(fc.significance(X, Y, n_permutations=199, random_state=g).p_value)
    assert stats.kstest(pvals, "uniform").pvalue > 0.01
    assert min(pvals) >= 1 / 200


def test_p_value_near_zero_for_planted_relation(rng):
    X = rng.normal(size=(200, 8))
    Q = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    res = fc.similarity(X, X @ Q + 0.01 * rng.normal(size=(200, 8)), n_permutations=499, random_state=1)
    assert res.p_value == pytest.approx(1 / 500)
    assert float(res) == pytest.approx(ref_linear_cka(X, X @ Q + 0.01 * rng.normal(size=(200, 8))), abs=1e-3)


def test_bootstrap_interval_brackets_value(rng):
    X = rng.normal(size=(300, 6))
    Y = X @ rng.normal(size=(6, 6)) + 2 * rng.normal(size=(300, 6))
    res = fc.significance(X, Y, n_permutations=0, n_bootstrap=200, confidence=0.9, random_state=0)
    assert res.p_value is None and res.n_bootstrap == 200
    assert res.ci_low < res.value < res.ci_high
    lo, hi = np.quantile(res.bootstrap, [0.05, 0.95])
    assert (res.ci_low, res.ci_high) == (lo, hi)


def test_self_comparison_gets_a_real_null(rng):
    X = rng.normal(size=(50, 4))
    res = fc.significance(X, X, n_permutations=99, random_state=0)
    assert res.value == pytest.approx(1.0)
    assert res.p_value == pytest.approx(0.01)
    assert res.null.max() < 0.9


def test_p_value_direction_for_distances():
    null = np.array([0.5, 0.6, 0.7, 0.1])
    assert permutation_p_value(0.2, null, kind="distance") == pytest.approx(2 / 5)
    assert permutation_p_value(0.2, null, kind="similarity") == pytest.approx(4 / 5)


def test_bad_options(rng):
    X = rng.normal(size=(20, 3))
    with pytest.raises(FeatcorrError, match="n_permutations must be a non-negative int"):
        fc.significance(X, X, n_permutations=-5)
    with pytest.raises(FeatcorrError, match="confidence must be in"):
        fc.significance(X, X, n_bootstrap=10, confidence=1.5)
    with pytest.raises(FeatcorrError, match="unknown measure"):
        fc.significance(X, X, measure="nope")
