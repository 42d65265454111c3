"""DisCo: af-inv distance correlation vs a float64 double-centring formula, XOR pair, confusion window, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from featcorr.errors import FeatcorrError
from featcorr.select import DisCo
from featcorr.select._disco import afinv_dcor_candidates


def _ref_afinv_dcor(Z, y):
    """V-statistic dCor of Sigma^{-1/2}-whitened Z with y, by explicit double centring (float64)."""
    Zc = Z - Z.mean(0)
    w, V = np.linalg.eigh(np.cov(Zc, rowvar=False, bias=True).reshape(Z.shape[1], Z.shape[1]))
    Zw = Zc @ V @ np.diag(w**-0.5) @ V.T
    def centred(D):
        return D - D.mean(0) - D.mean(1)[:, None] + D.mean()
    A = centred(np.sqrt(((Zw[:, None, :] - Zw[None, :, :]) ** 2).sum(-1)))
    Bm = centred(np.abs(y[:, None] - y[None, :]))
    return np.sqrt((A * Bm).mean() / np.sqrt((A * A).mean() * (Bm * Bm).mean()))


def test_afinv_dcor_matches_reference(rng):
    S = rng.normal(size=(120, 2))
    F = rng.normal(size=(120, 3))
    F[:, 0] += 2 * S[:, 1]
    y = (S[:, 0] + F[:, 2] > 0).astype(float)
    got = afinv_dcor_candidates(torch.tensor(S), torch.tensor(F), torch.tensor(y[:, None]), chunk=2).numpy()
    ref = [_ref_afinv_dcor(np.column_stack([S, F[:, j]]), y) for j in range(3)]
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    # empty S: plain dCor of the standardised candidate
    got0 = afinv_dcor_candidates(torch.zeros(120, 0, dtype=torch.float64), torch.tensor(F),
                                 torch.tensor(y[:, None])).numpy()
    np.testing.assert_allclose(got0, [_ref_afinv_dcor(F[:, [j]], y) for j in range(3)], rtol=1e-10)


def test_collinear_candidate_scores_zero(rng):
    S = rng.normal(size=(50, 2))
    F = np.column_stack([S @ [1.0, -2.0], rng.normal(size=50)])
    got = afinv_dcor_candidates(torch.tensor(S), torch.tensor(F), torch.tensor(rng.normal(size=(50, 1)))).numpy()
    assert got[0] == 0.0 and got[1] > 0


def test_xor_pair_found_with_pair_start_not_univariately(rng):
    X = rng.normal(size=(500, 12))
    y = (X[:, 3] * X[:, 9] > 0).astype(int)
    d = DisCo(n_features=2, random_state=0).fit(X, y)
    assert sorted(d.order_) == [3, 9]
    single = DisCo(n_features=1, first_step="single", random_state=0).fit(X, y)
    assert single.order_[0] not in (3, 9) or single.scores_[single.order_[0]] < 0.15  # blind by construction
    # once one member is in S, the greedy step finds the other
    d2 = DisCo(n_features=2, initial=[3], first_step="single", random_state=0).fit(X, y)
    assert d2.order_ == [3, 9] and d2.ranking_[3] == 1


def test_regression_greedy_finds_nonlinear_effects(rng):
    X = rng.normal(size=(600, 10))
    y = X[:, 0] + X[:, 5] ** 2 + 0.1 * rng.normal(size=600)
    d = DisCo(n_features=2, first_step="single", random_state=0).fit(X, y)
    assert sorted(d.order_) == [0, 5] and d.task_ == "regression"


def test_classifier_confusion_window(rng):
    X = rng.normal(size=(800, 8))
    y = (X[:, 0] + X[:, 1] + 0.3 * rng.normal(size=800) > 0).astype(int)
    d = DisCo(n_features=2, initial=[0], classifier=LogisticRegression(), random_state=0).fit(X, y)
    assert d.order_ == [0, 1]
    assert np.isinf(d.scores_[0])


def test_bad_inputs(rng):
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 2, size=40)
    with pytest.raises(FeatcorrError, match="out of range"):
        DisCo(n_features=2, initial=[7]).fit(X, y)
    with pytest.raises(FeatcorrError, match="t_low=0.8 must be smaller"):
        DisCo(n_features=1, t_low=0.8, t_high=0.7).fit(X, y)
    with pytest.raises(FeatcorrError, match="distinct"):
        DisCo(n_features=2, initial=[1, 1]).fit(X, y)


@parametrize_with_checks([DisCo(n_features=1, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
