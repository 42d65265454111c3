"""Mutual k-NN alignment: vs scikit-learn NearestNeighbors, reference preprocessing, invariances, ties, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group
from sklearn.neighbors import NearestNeighbors

import featcorr as fc
from featcorr.errors import ConstantFeatureError, NotEnoughSamplesError, ShapeError, UnknownOptionError
from featcorr.measures import mutual_knn, mutual_knn_from
from featcorr.stats import Reservoir


def ref_preprocess(X: np.ndarray, q: float | None = 0.95, normalize: bool = True) -> np.ndarray:
    """platonic-rep remove_outliers(exact=True) then F.normalize, in float64 numpy."""
    X = np.asarray(X, dtype=np.float64)
    if q is not None:
        qv = np.sort(np.abs(X).ravel())[int(q * X.size)]
        X = np.clip(X, -qv, qv)
    if normalize:
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
    return X


def ref_neighbours(Z: np.ndarray, k: int) -> list[set]:
    """k nearest other rows; on unit rows Euclidean order is inner-product order."""
    idx = NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z, return_distance=False)
    return [set(row[row != i][:k].tolist()) for i, row in enumerate(idx)]


def ref_mutual_knn(X, Y, k, q=0.95):
    a = ref_neighbours(ref_preprocess(X, q), k)
    b = ref_neighbours(ref_preprocess(Y, q), k)
    return float(np.mean([len(a[i] & b[i]) / k for i in range(len(a))]))


def _pair(rng, n=200):
    X = rng.normal(size=(n, 24)) * rng.uniform(0.5, 3, size=24)
    Y = np.maximum(X @ rng.normal(size=(24, 16)), 0) + 0.7 * rng.normal(size=(n, 16))
    return X, Y


@pytest.mark.parametrize("k", [1, 10, 40])
@pytest.mark.parametrize("q", [0.95, None])
def test_matches_sklearn_neighbours(rng, k, q):
    X, Y = _pair(rng)
    want = ref_mutual_knn(X, Y, k, q)
    got = fc.similarity(X, Y, measure="mutual_knn", k=k, clamp_quantile=q)
    assert got == pytest.approx(want, abs=1e-15)
    assert mutual_knn(X, Y, k=k, clamp_quantile=q) == got


def test_default_is_reference_preprocessing_and_changes_the_value(rng):
    X, Y = _pair(rng)
    X[:5] *= 50.0  # outlier samples: clamping matters
    default = mutual_knn(X, Y)
    assert default == pytest.approx(ref_mutual_knn(X, Y, 10, 0.95), abs=1e-15)
    assert default != mutual_knn(X, Y, clamp_quantile=None)


def test_raw_inner_product_without_normalisation(rng):
    X, Y = _pair(rng, n=80)

    def nbrs(Z):
        S = Z @ Z.T
        np.fill_diagonal(S, -np.inf)
        return np.argsort(-S, axis=1, kind="stable")[:, :7]

    a, b = nbrs(X), nbrs(Y)
    want = np.mean([len(set(a[i]) & set(b[i])) / 7 for i in range(80)])
    assert mutual_knn(X, Y, k=7, clamp_quantile=None, normalize=False) == pytest.approx(want, abs=1e-15)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_invariances(seed):
    rng = np.random.default_rng(seed)
    X, Y = _pair(rng, n=60)
    base = mutual_knn(X, Y, k=5, clamp_quantile=None)
    Q = ortho_group.rvs(X.shape[1], random_state=seed)
    s = rng.uniform(0.1, 10, size=(60, 1))
    assert mutual_knn(s * X @ Q, Y, k=5, clamp_quantile=None) == base
    # with clamping: global positive scaling and feature permutations, not rotations in general
    perm = rng.permutation(X.shape[1])
    assert mutual_knn(7.0 * X[:, perm], Y, k=5) == mutual_knn(X, Y, k=5)


def test_range_and_self(rng):
    X, Y = _pair(rng, n=100)
    assert mutual_knn(X, X.copy()) == 1.0
    v = mutual_knn(X, rng.normal(size=(100, 5)), k=10)
    assert 0.0 <= v < 0.3  # unrelated: about k / (n - 1) = 0.1
    assert mutual_knn(X, Y) == mutual_knn(Y, X)


def test_ties_go_to_the_lower_index(rng):
    # quantised activations with duplicated samples: many tied similarities at the k-th place
    X = rng.integers(0, 3, size=(40, 4)).astype(float) + 0.5
    Y = rng.integers(0, 3, size=(40, 3)).astype(float) + 0.5

    def nbrs(Z, k):
        Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        S = np.round(Z @ Z.T, 12)  # equal cosines, up to rounding, are ties
        return [set(sorted((j for j in range(len(Z)) if j != i), key=lambda j: (-S[i, j], j))[:k]) for i in range(len(Z))]

    for k in (1, 3, 8):
        a, b = nbrs(X, k), nbrs(Y, k)
        want = np.mean([len(a[i] & b[i]) / k for i in range(40)])
        assert mutual_knn(X, Y, k=k, clamp_quantile=None) == pytest.approx(want, abs=1e-15)


def test_exact_when_n_below_sample_size_and_sampled_otherwise(rng):
    X, Y = _pair(rng, n=300)
    res = Reservoir(size=1000, seed=0)
    for lo in range(0, 300, 64):
        res.update({"a": X[lo : lo + 64], "b": Y[lo : lo + 64]})
    assert mutual_knn_from(res.finalize(), "a", "b") == pytest.approx(ref_mutual_knn(X, Y, 10), abs=1e-15)
    snap = Reservoir(size=120, seed=3).update({"a": X, "b": Y}).finalize()
    want = ref_mutual_knn(snap.rows("a").numpy(), snap.rows("b").numpy(), 10)
    assert mutual_knn_from(snap, "a", "b") == pytest.approx(want, abs=1e-15)
    assert mutual_knn(X, Y, sample_size=120, seed=3) == pytest.approx(want, abs=1e-15)


def test_bad_inputs(rng):
    X, Y = _pair(rng, n=12)
    with pytest.raises(NotEnoughSamplesError, match=r"k=12 .* pass k <= 11"):
        mutual_knn(X, Y, k=12)
    with pytest.raises(UnknownOptionError, match="k must be a positive int"):
        mutual_knn(X, Y, k=0)
    with pytest.raises(UnknownOptionError, match="clamp_quantile must be"):
        mutual_knn(X, Y, clamp_quantile=95)
    sparse = np.zeros((12, 30))
    sparse[np.arange(12), np.arange(12)] = 1.0  # 96.7 % zeros
    with pytest.raises(ConstantFeatureError, match="clamp_quantile=None"):
        mutual_knn(sparse, Y)
    Z = X.copy()
    Z[3] = 0.0
    with pytest.raises(ConstantFeatureError, match=r"rows \[3\]"):
        mutual_knn(Z, Y, clamp_quantile=None)
    with pytest.raises(ShapeError, match="12 samples but Y has 11"):
        mutual_knn(X, Y[:-1])
