"""HSICLasso: streamed block statistics vs a dense float64 formula, NN-LARS optimality, planted recovery."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from featcorr.errors import FeatcorrError, NonFiniteError
from featcorr.select import HSICLasso
from featcorr.select._hsic_lasso import block_hsic_statistics, nonnegative_lars


def _dense_design(X, y, B, perms, classification):
    """Stacked vec(centred normalised Grams) per feature and for y, float64, one block at a time (reference)."""
    n, d = X.shape
    H = np.eye(B) - 1.0 / B
    cols, target = [], []
    for perm in perms:
        for s in range(0, (n // B) * B, B):
            r = perm[s : s + B]
            Ks = []
            for k in range(d):
                x = X[r, k]
                K = H @ np.exp(-((x[:, None] - x[None, :]) ** 2) / 2.0) @ H
                Ks.append((K / (np.linalg.norm(K) + 1e-9)).ravel())
            cols.append(np.array(Ks).T)
            if classification:
                yy = y[r]
                same = (yy[:, None] == yy[None, :]).astype(float)
                L = same / same.sum(1)[:, None]
            else:
                yy = y[r]
                L = np.exp(-((yy[:, None] - yy[None, :]) ** 2) / 2.0)
            L = H @ L @ H
            target.append((L / (np.linalg.norm(L) + 1e-9)).ravel())
    Kall = np.vstack(cols) / np.sqrt((n // B) * len(perms))
    Lall = np.concatenate(target) / np.sqrt((n // B) * len(perms))
    return Kall, Lall


@pytest.mark.parametrize("classification", [False, True])
def test_block_statistics_match_dense_design(rng, classification):
    n, d, B = 103, 5, 10
    X = rng.normal(size=(n, d))
    y = rng.integers(0, 3, size=n) if classification else rng.normal(size=n)
    perms = [rng.permutation(n) for _ in range(2)]
    Q, b, nb = block_hsic_statistics(X, y, classification=classification, B=B, M=2, permutations=perms,
                                     max_chunk_elements=700)  # several chunks
    K, L = _dense_design(X, y, B, perms, classification)
    assert nb == 10
    np.testing.assert_allclose(Q, K.T @ K, rtol=2e-5, atol=2e-6)  # float32 GEMM, float64 sums
    np.testing.assert_allclose(b, K.T @ L, rtol=2e-5, atol=2e-6)


def test_nonnegative_lars_kkt(rng):
    # least squares design with a known nonnegative solution: KKT holds along the path end
    A = rng.normal(size=(60, 8))
    beta_true = np.array([2.0, 0, 1.0, 0, 0, 0.5, 0, 0])
    t = A @ beta_true
    Q, b = A.T @ A, A.T @ t
    order, beta = nonnegative_lars(Q, b, 3)
    assert sorted(order) == [0, 2, 5]
    assert order == [0, 2, 5]  # sorted by decreasing beta
    assert np.all(beta >= 0)
    c = b - Q @ beta
    # active correlations equal and at least as large as every inactive one
    np.testing.assert_allclose(c[order], c[order[0]], rtol=1e-8, atol=1e-10)
    assert np.all(np.delete(c, order) <= c[order[0]] + 1e-9)


def test_main_and_quadratic_effects_not_xor(rng):
    n, d = 1000, 30
    X = rng.normal(size=(n, d))
    y = X[:, 0] + X[:, 1] + X[:, 2] ** 2 + np.sign(X[:, 3] * X[:, 4]) + 0.2 * rng.normal(size=n)
    h = HSICLasso(n_features=3).fit(X, y)
    assert set(h.get_support(indices=True)) == {0, 1, 2}
    assert h.n_blocks_ == 50 and h.M_ == 3
    assert np.all(h.scores_[[0, 1, 2]] > 0) and np.all(np.delete(h.scores_, [0, 1, 2]) == 0)
    # XOR: each member alone is independent of y, so its relevance is at noise level
    noise = np.delete(h.hsic_, [0, 1, 2, 3, 4])
    assert h.hsic_[3] < noise.max() and h.hsic_[4] < noise.max() and h.hsic_[0] > 1.5 * noise.max()


def test_classification_delta_kernel(rng):
    X = rng.normal(size=(400, 10))
    y = np.where(X[:, 6] ** 2 > 0.5, "a", "b")
    h = HSICLasso(n_features=1).fit(X, y)
    assert h.get_support(indices=True).tolist() == [6] and h.task_ == "classification"


def test_permutations_reproduce_pyhsiclasso_seeds_and_random_state(rng):
    X = rng.normal(size=(200, 6))
    y = X[:, 1] + 0.1 * rng.normal(size=200)
    a = HSICLasso(n_features=2).fit(X, y)
    b = HSICLasso(n_features=2).fit(X, y)
    c = HSICLasso(n_features=2, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.hsic_, b.hsic_)
    assert not np.allclose(a.hsic_, c.hsic_)


def test_dropped_samples_warn_and_bad_inputs(rng):
    X, y = rng.normal(size=(105, 4)), rng.normal(size=105)
    with pytest.warns(UserWarning, match="the last 5 sample"):
        HSICLasso(n_features=1, B=20).fit(X, y)
    with pytest.raises(FeatcorrError, match="B=200 is larger than the number of samples 105"):
        HSICLasso(n_features=1, B=200).fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="inf"):
        HSICLasso(n_features=1).fit(Xn, y)
    with pytest.raises(FeatcorrError, match="n_features=9 is larger"):
        HSICLasso(n_features=9).fit(X, y)


@parametrize_with_checks([HSICLasso(n_features=1, B=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
