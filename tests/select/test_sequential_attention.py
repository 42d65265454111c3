"""SequentialAttention: OMP mode vs a brute-force least-squares OMP and scikit-learn; MLP on planted XOR."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import OrthogonalMatchingPursuit
from sklearn.utils.estimator_checks import parametrize_with_checks

from featcorr.errors import FeatcorrError
from featcorr.select import SequentialAttention


def _brute_omp(X, y, k):
    """OMP on data: refit least squares on the chosen set, pick the column most correlated with the residual."""
    Xc = X - X.mean(0)
    yc = y - y.mean()
    Xn = Xc / np.linalg.norm(Xc, axis=0)
    S, r = [], yc.copy()
    for _ in range(k):
        c = np.abs(Xn.T @ r)
        c[S] = -1
        S.append(int(np.argmax(c)))
        beta = np.linalg.lstsq(Xc[:, S], yc, rcond=None)[0]
        r = yc - Xc[:, S] @ beta
    return S


def test_linear_mode_is_omp(rng):
    X = rng.normal(size=(300, 15))
    X[:, 4] = X[:, 2] + 0.3 * rng.normal(size=300)  # correlated columns make the order non-trivial
    y = X @ (rng.normal(size=15) * (rng.uniform(size=15) < 0.5)) + 0.5 * rng.normal(size=300)
    sa = SequentialAttention(n_features=6, mode="linear").fit(X, y)
    assert sa.order_ == _brute_omp(X, y, 6)
    Xs = (X - X.mean(0)) / X.std(0)
    sk = OrthogonalMatchingPursuit(n_nonzero_coefs=6).fit(Xs, y - y.mean())
    assert set(sa.order_) == set(np.flatnonzero(sk.coef_))
    assert sa.ranking_[sa.order_[0]] == 1 and sa.support_.sum() == 6


def test_mlp_finds_xor_pair(rng):
    X = rng.normal(size=(2000, 10))
    y = (X[:, 2] * X[:, 7] > 0).astype(int)
    sa = SequentialAttention(n_features=2, max_steps=800, random_state=0).fit(X, y)
    assert sorted(sa.order_) == [2, 7]
    lin = SequentialAttention(n_features=2, mode="linear").fit(X, y)
    assert set(lin.order_) != {2, 7}  # a linear model is blind to XOR


def test_mlp_regression_main_and_square(rng):
    X = rng.normal(size=(1500, 8))
    y = X[:, 1] + X[:, 4] ** 2 + 0.1 * rng.normal(size=1500)
    sa = SequentialAttention(n_features=2, max_steps=800, random_state=0).fit(X, y)
    assert sorted(sa.order_) == [1, 4]


def test_reproducible_with_random_state(rng):
    X = rng.normal(size=(300, 6))
    y = X[:, 0] + 0.1 * rng.normal(size=300)
    a = SequentialAttention(n_features=2, max_steps=100, random_state=3).fit(X, y)
    b = SequentialAttention(n_features=2, max_steps=100, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.scores_, b.scores_)


def test_bad_inputs(rng):
    X, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    with pytest.raises(FeatcorrError, match="hidden_layer_sizes"):
        SequentialAttention(n_features=1, hidden_layer_sizes=(0,)).fit(X, y)
    with pytest.raises(FeatcorrError, match="mode"):
        SequentialAttention(n_features=1, mode="cubic").fit(X, y)
    with pytest.raises(FeatcorrError, match="n_features=5 is larger"):
        SequentialAttention(n_features=5).fit(X, y)


@parametrize_with_checks([
    SequentialAttention(n_features=1, max_steps=30, random_state=0),
    SequentialAttention(n_features=1, mode="linear"),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)
