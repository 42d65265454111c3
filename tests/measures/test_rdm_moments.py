"""RDM comparisons from pattern sums (no RDM) against scipy pdist + explicit float64 formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
import torch
from scipy.spatial.distance import pdist, squareform

from featcorr.errors import ConstantFeatureError
from featcorr.measures import _rdm_moments, rsa
from featcorr.measures._rdm_moments import GRAM_METHODS, MOMENT_COMPARISONS, moment_comparison


def _pdist(X, method):
    if method == "sq_euclidean_per_feature":
        return pdist(X, "sqeuclidean") / X.shape[1]
    return pdist(X, {"sq_euclidean": "sqeuclidean"}.get(method, method))


def _whitened(d1, d2, centre):
    def G(d):
        if centre:
            d = d - d.mean()
        D = squareform(d)
        n = D.shape[0]
        H = np.eye(n) - 1.0 / n
        return -0.5 * H @ D @ H

    a, b = G(d1).ravel(), G(d2).ravel()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def _reference(X, Y, method, comparison):
    d1, d2 = _pdist(X, method), _pdist(Y, method)
    if comparison == "pearson":
        return ss.pearsonr(d1, d2).statistic
    if comparison == "cosine":
        return float(d1 @ d2 / np.sqrt((d1 @ d1) * (d2 @ d2)))
    return _whitened(d1, d2, centre=comparison == "whitened_pearson")


@pytest.mark.parametrize("method", GRAM_METHODS)
@pytest.mark.parametrize("comparison", MOMENT_COMPARISONS)
@pytest.mark.parametrize("shape", [(50, 6, 9), (40, 120, 100)])  # feature-space and Gram-block routes
def test_moments_equal_rdm_comparison(method, comparison, shape, monkeypatch):
    n, p, q = shape
    rng = np.random.default_rng(p)
    X = np.maximum(rng.normal(size=(n, p)), -0.3) + 2.0  # uncentred, like activations
    Y = np.tanh(X[:, : min(p, q)] @ rng.normal(size=(min(p, q), q))) + 0.5 * rng.normal(size=(n, q))
    monkeypatch.setattr(_rdm_moments, "_BLOCK", 16)  # several blocks in the Gram route
    got = moment_comparison(torch.from_numpy(X), torch.from_numpy(Y), method, comparison)
    assert got == pytest.approx(_reference(X, Y, method, comparison), abs=1e-13)
    # and the public function takes this route
    assert rsa(X, Y, rdm=method, comparison=comparison) == pytest.approx(got, abs=1e-15)


def test_whitened_cosine_of_correlation_rdms_is_cka_of_unit_rows():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(30, 8))

    def unit(A):
        Z = A - A.mean(1, keepdims=True)
        Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        return Z - Z.mean(0)

    U, V = unit(X), unit(Y)
    cka = np.linalg.norm(U.T @ V) ** 2 / (np.linalg.norm(U.T @ U) * np.linalg.norm(V.T @ V))
    got = moment_comparison(torch.from_numpy(X), torch.from_numpy(Y), "correlation", "whitened_cosine")
    assert got == pytest.approx(cka, abs=1e-14)


def test_other_methods_and_rank_comparisons_are_not_taken():
    X = torch.randn(10, 3, dtype=torch.float64)
    assert moment_comparison(X, X, "euclidean", "pearson") is None
    assert moment_comparison(X, X, "correlation", "spearman") is None


def test_constant_rdm_falls_back_to_the_rdm_route():
    # the vertices of a regular simplex are equidistant: a constant RDM, Pearson 0/0
    X = np.eye(6) * 3.0
    Y = np.random.default_rng(0).normal(size=(6, 4))
    assert moment_comparison(torch.from_numpy(X), torch.from_numpy(Y), "sq_euclidean", "pearson") is None
    with pytest.raises(ConstantFeatureError, match="constant"):
        rsa(X, Y, rdm="sq_euclidean", comparison="pearson")
