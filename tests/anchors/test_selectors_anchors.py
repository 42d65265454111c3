"""Cross-checks of featcorr's interaction-aware selectors against their peers.

HSICLasso vs pyHSICLasso 1.4.2 (same features, same order); FeatureGradients' learnability and
search vs NNI 3.0's ``LearnabilityMB`` / ``FeatureGradientSelector`` (through a small shim for
SciPy >= 1.14 and torch >= 2.0, see ``_nni_shim.py``); DisCo's candidate score vs
``dcor.distance_correlation_af_inv``. Run with ``pytest -m anchors tests/anchors``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from featcorr.select import DisCo, FeatureGradients, HSICLasso
from featcorr.select._disco import afinv_dcor_candidates
from featcorr.select._learnability import SLE_COEFFICIENTS, learnability_terms

pytestmark = pytest.mark.anchors


def _planted(rng, n=600, d=40):
    X = rng.normal(size=(n, d))
    y = X[:, 0] + 0.8 * X[:, 1] + X[:, 2] ** 2 + 0.5 * np.sin(2 * X[:, 3]) + 0.2 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_hsic_lasso_same_features_as_pyhsiclasso(rng, kind):
    ph = pytest.importorskip("pyHSICLasso")
    X, y = _planted(rng)
    if kind == "classification":
        y = (y > np.median(y)).astype(int)
    ours = HSICLasso(n_features=8, target=kind).fit(X, y)
    peer = ph.HSICLasso()
    with contextlib.redirect_stdout(io.StringIO()):
        peer.input(X, y)
        getattr(peer, kind)(8, B=20, M=3, n_jobs=1)
    order = np.argsort(ours.ranking_)[:8].tolist()
    assert order == [int(i) for i in peer.get_index()]
    np.testing.assert_allclose(ours.scores_[order], np.ravel(peer.get_index_score()), rtol=2e-3)


def _nni():
    pytest.importorskip("nni")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _nni_shim import load_nni_selector, nni_fit

    return load_nni_selector(), nni_fit


@pytest.mark.parametrize("order", [1, 2, 4, 7])
def test_learnability_equals_nni_learnability_mb(rng, order):
    _nni()
    from nni.algorithms.feature_engineering.gradient_selector.learnability import LearnabilityMB

    n, D = 200, 12
    X = rng.normal(size=(n, D)) / 8
    y = rng.normal(size=n)
    s = rng.uniform(size=D)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        f = LearnabilityMB(n, D, np.array(SLE_COEFFICIENTS[order]))
        peer = float(1 - f(torch.tensor(s).reshape(-1, 1), torch.tensor(X), torch.tensor(y).reshape(-1, 1)))
    finally:
        torch.set_default_dtype(old)
    T = learnability_terms(torch.tensor(X), torch.tensor(y), torch.tensor(s), order)
    ours = float(torch.dot(T, torch.tensor(SLE_COEFFICIENTS[order], dtype=torch.float64)))
    assert ours == pytest.approx(peer, rel=1e-9, abs=1e-14)


def test_feature_gradients_same_search_as_nni(rng):
    Selector, nni_fit = _nni()
    n, D = 3000, 30
    X = rng.normal(size=(n, D)).astype(np.float32)
    shared = rng.normal(size=n)
    X[:, 3] = np.sqrt(0.108) * rng.normal(size=n) + shared
    X[:, 7] = shared + 0.05 * rng.normal(size=n)
    y = (X[:, 3] - X[:, 7] + 0.5 * X[:, 11] + 0.05 * rng.normal(size=n)).astype(np.float32)
    peer = Selector(n_features=3, classification=False, shuffle=False, n_epochs=5, batch_size=500, penalty=0.3)
    nni_fit(peer, X, y)
    ours = FeatureGradients(n_features=3, shuffle=False, n_epochs=5, batch_size=500, penalty=0.3).fit(X, y)
    x_peer = peer.model_["model_state_dict"]["x"].detach().double().numpy().ravel()
    np.testing.assert_allclose(ours.x_, x_peer, atol=1e-4)  # float32 on both sides, same 15 Adam steps
    assert set(ours.get_support(indices=True)) == set(peer.selected_features_) == {3, 7, 11}


def test_disco_score_equals_dcor_afinv(rng):
    dcor = pytest.importorskip("dcor")
    S = rng.normal(size=(150, 3))
    F = rng.normal(size=(150, 4))
    F[:, 1] += S[:, 0] - S[:, 2]
    y = ((S[:, 1] > 0) ^ (F[:, 3] > 0)).astype(float)
    got = afinv_dcor_candidates(torch.tensor(S), torch.tensor(F), torch.tensor(y[:, None])).numpy()
    ref = [dcor.distance_correlation_af_inv(np.column_stack([S, F[:, j]]), y[:, None]) for j in range(4)]
    np.testing.assert_allclose(got, ref, rtol=1e-8)  # dcor whitens with its own eigendecomposition
    X = np.column_stack([S, F])
    d = DisCo(n_features=2, initial=[1], first_step="single", random_state=0).fit(X, y)
    assert d.order_ == [1, 6]
