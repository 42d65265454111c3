"""RSA and deconfounded RSA: RDMs vs scipy pdist, comparisons vs scipy / brute force, invariances, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import (
    ConstantFeatureError,
    NonFiniteError,
    NotEnoughSamplesError,
    ShapeError,
    UnknownOptionError,
)
from featcorr.measures import compare_rdms, deconfounded_rsa, rdm, rsa, rsa_from
from featcorr.stats import Reservoir

from ..conftest import ref_linear_cka

# --------------------------------------------------------------- references


def ref_rdm(X: np.ndarray, method: str) -> np.ndarray:
    """Condensed RDM with scipy.spatial.distance.pdist, float64."""
    X = np.asarray(X, dtype=np.float64)
    if method == "sq_euclidean_per_feature":
        return pdist(X, "sqeuclidean") / X.shape[1]
    return pdist(X, {"sq_euclidean": "sqeuclidean"}.get(method, method))


def brute_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """(C - D) / (N(N-1)/2) by looping over all pairs."""
    N = len(x)
    s = 0.0
    for i in range(N - 1):
        s += np.sum(np.sign(x[i] - x[i + 1 :]) * np.sign(y[i] - y[i + 1 :]))
    return s / (N * (N - 1) / 2)


def ref_rho_a(x: np.ndarray, y: np.ndarray) -> float:
    N = len(x)
    r, s = ss.rankdata(x), ss.rankdata(y)
    return 12 * np.sum((r - r.mean()) * (s - s.mean())) / (N**3 - N)


def ref_whitened(d1: np.ndarray, d2: np.ndarray, centre: bool = False) -> float:
    """rsatoolbox's cosine_cov without noise: G = -1/2 H D H, stack [sqrt(2) off-diagonal, diagonal], cosine."""

    def vec(d):
        if centre:
            d = d - d.mean()
        D = squareform(d)
        n = D.shape[0]
        H = np.eye(n) - np.ones((n, n)) / n
        G = -0.5 * H @ D @ H
        iu = np.triu_indices(n, 1)
        return np.concatenate([np.sqrt(2) * G[iu], np.diag(G)])

    a, b = vec(d1), vec(d2)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def ref_compare(d1: np.ndarray, d2: np.ndarray, method: str) -> float:
    if method == "spearman":
        return ss.spearmanr(d1, d2).statistic
    if method == "pearson":
        return ss.pearsonr(d1, d2).statistic
    if method == "kendall_tau_a":
        return brute_tau_a(d1, d2)
    if method == "rho_a":
        return ref_rho_a(d1, d2)
    if method == "cosine":
        return float(d1 @ d2 / np.sqrt((d1 @ d1) * (d2 @ d2)))
    if method == "whitened_cosine":
        return ref_whitened(d1, d2)
    return ref_whitened(d1, d2, centre=True)


RDMS = ("correlation", "cosine", "euclidean", "sq_euclidean", "sq_euclidean_per_feature")
COMPARISONS = ("spearman", "pearson", "kendall_tau_a", "rho_a", "cosine", "whitened_cosine", "whitened_pearson")


def _pair(rng, n=40, p=12, q=7):
    X = rng.normal(size=(n, p)) + 0.5
    Y = np.tanh(X @ rng.normal(size=(p, q))) + 0.3 * rng.normal(size=(n, q))
    return X, Y


# --------------------------------------------------------------- RDMs


@pytest.mark.parametrize("method", RDMS)
@pytest.mark.parametrize("shape", [(30, 8), (12, 200)])
def test_rdm_matches_pdist(rng, method, shape):
    X = rng.normal(size=shape) + 2.0
    D = rdm(X, method)
    np.testing.assert_allclose(squareform(D, checks=False), ref_rdm(X, method), rtol=1e-10, atol=1e-12)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0)


def test_rdm_identical_rows_give_exact_zero(rng):
    X = rng.normal(size=(5, 4)) * 1e3
    X[3] = X[1]
    for method in ("euclidean", "sq_euclidean"):
        D = rdm(X, method)
        assert D[1, 3] == 0.0 and np.all(D >= 0)


def test_rdm_conv_maps_are_flattened(rng):
    X = rng.normal(size=(10, 2, 3, 3))
    np.testing.assert_allclose(squareform(rdm(X), checks=False), pdist(X.reshape(10, -1), "correlation"), atol=1e-12)


# --------------------------------------------------------------- comparisons


@pytest.mark.parametrize("rdm_method", RDMS)
@pytest.mark.parametrize("comparison", COMPARISONS)
def test_rsa_matches_reference(rng, rdm_method, comparison):
    X, Y = _pair(rng)
    want = ref_compare(ref_rdm(X, rdm_method), ref_rdm(Y, rdm_method), comparison)
    got = fc.similarity(X, Y, measure="rsa", rdm=rdm_method, comparison=comparison)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12)
    assert rsa(X, Y, rdm=rdm_method, comparison=comparison) == got


@pytest.mark.parametrize("comparison", COMPARISONS)
def test_compare_rdms_square_and_condensed_agree(rng, comparison):
    d1 = rng.random(45)
    d2 = d1 + 0.5 * rng.random(45)
    want = ref_compare(d1, d2, comparison)
    assert compare_rdms(d1, d2, comparison) == pytest.approx(want, rel=1e-10)
    assert compare_rdms(squareform(d1), squareform(d2), comparison) == pytest.approx(want, rel=1e-10)


def test_rank_comparisons_with_ties(rng):
    # quantised RDMs, as from categorical models: many ties
    d1 = rng.integers(0, 4, size=190).astype(float)
    d2 = rng.integers(0, 3, size=190).astype(float) + 0.1 * d1
    assert compare_rdms(d1, d2, "kendall_tau_a") == pytest.approx(brute_tau_a(d1, d2), rel=1e-12)
    assert compare_rdms(d1, d2, "spearman") == pytest.approx(ss.spearmanr(d1, d2).statistic, rel=1e-12)
    assert compare_rdms(d1, d2, "rho_a") == pytest.approx(ref_rho_a(d1, d2), rel=1e-12)
    # tau-a is not tau-b under ties, and an RDM with ties is < 1 against itself
    assert abs(compare_rdms(d1, d2, "kendall_tau_a") - ss.kendalltau(d1, d2).statistic) > 1e-3
    assert compare_rdms(d1, d1, "kendall_tau_a") == pytest.approx(brute_tau_a(d1, d1)) and brute_tau_a(d1, d1) < 0.9


def test_tau_a_long_vectors_without_ties_equal_tau_b():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40_000)
    y = x + rng.normal(size=40_000)
    assert compare_rdms(x[:39_903], y[:39_903], "kendall_tau_a") == pytest.approx(
        ss.kendalltau(x[:39_903], y[:39_903]).statistic, rel=1e-12
    )


def test_tau_a_all_tied_is_zero():
    d = np.ones(10)
    assert compare_rdms(d, np.arange(10.0), "kendall_tau_a") == 0.0


def test_whitened_cosine_of_squared_euclidean_rdms_is_linear_cka(rng):
    X, Y = _pair(rng, n=30)
    got = fc.similarity(X, Y, measure="rsa", rdm="sq_euclidean", comparison="whitened_cosine")
    assert got == pytest.approx(ref_linear_cka(X, Y), rel=1e-10)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), comparison=st.sampled_from(["spearman", "kendall_tau_a", "rho_a"]))
def test_rank_comparisons_invariant_to_monotone_maps(seed, comparison):
    rng = np.random.default_rng(seed)
    d1 = rng.random(66)
    d2 = d1 + rng.random(66)
    base = compare_rdms(d1, d2, comparison)
    assert compare_rdms(np.expm1(3 * d1), d2**3, comparison) == pytest.approx(base, rel=1e-12, abs=1e-14)
    # but the Pearson comparison is not rank based
    assert abs(compare_rdms(np.expm1(3 * d1), d2**3, "pearson") - compare_rdms(d1, d2, "pearson")) > 1e-4


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_rdm_invariances(seed):
    rng = np.random.default_rng(seed)
    X, Y = _pair(rng, n=25)
    base = rsa(X, Y)
    # correlation RDM: per-sample positive affine maps
    a = rng.uniform(0.1, 10, size=(25, 1))
    b = rng.normal(size=(25, 1))
    assert rsa(a * X + b, Y) == pytest.approx(base, abs=1e-10)
    # Euclidean RDM: orthogonal maps, translation and (for rank comparisons) isotropic scaling
    Q = ortho_group.rvs(X.shape[1], random_state=seed)
    e = rsa(X, Y, rdm="euclidean")
    assert rsa(3.0 * X @ Q + 5.0, Y, rdm="euclidean") == pytest.approx(e, abs=1e-10)


def test_self_similarity_and_symmetry(rng):
    X, Y = _pair(rng)
    for c in ("spearman", "pearson", "cosine", "whitened_cosine", "rho_a"):
        assert rsa(X, X.copy(), comparison=c) == pytest.approx(1.0, abs=1e-12)
        assert rsa(X, Y, comparison=c) == pytest.approx(rsa(Y, X, comparison=c), abs=1e-14)


# --------------------------------------------------------------- sample statistic


def test_exact_when_n_below_sample_size_and_sampled_otherwise(rng):
    X, Y = _pair(rng, n=120)
    full = ss.spearmanr(pdist(X, "correlation"), pdist(Y, "correlation")).statistic
    assert rsa(X, Y, sample_size=120) == pytest.approx(full, rel=1e-10)
    # streaming in batches, n <= size: every row kept, same as the whole data
    res = Reservoir(size=500, seed=1)
    for lo in range(0, 120, 17):
        res.update({"x": X[lo : lo + 17], "y": Y[lo : lo + 17]})
    snap = res.finalize()
    assert snap.exact and rsa_from(snap, "x", "y") == pytest.approx(full, rel=1e-10)
    # n > size: the RSA of exactly the sampled rows, and a different number
    small = Reservoir(size=50, seed=7).update({"x": X, "y": Y}).finalize()
    xs, ys = small.rows("x").numpy(), small.rows("y").numpy()
    want = ss.spearmanr(pdist(xs, "correlation"), pdist(ys, "correlation")).statistic
    assert rsa_from(small, "x", "y") == pytest.approx(want, rel=1e-10)
    assert rsa(X, Y, sample_size=50, seed=7) == pytest.approx(want, rel=1e-10)
    assert abs(want - full) > 1e-6


def test_float32_input_is_compared_in_float64(rng):
    X, Y = _pair(rng)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    want = ss.spearmanr(pdist(X32.astype(np.float64), "correlation"), pdist(Y32.astype(np.float64), "correlation"))
    assert rsa(torch.from_numpy(X32), torch.from_numpy(Y32)) == pytest.approx(want.statistic, rel=1e-10)


def test_compare_rdms_accepts_rounding_asymmetry(rng):
    Z = rng.normal(size=(30, 5))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    D = 1.0 - Z @ Z.T  # another tool's RDM: symmetric and zero-diagonal only up to rounding
    D2 = squareform(pdist(rng.normal(size=(30, 3))))
    iu = np.triu_indices(30, 1)
    assert compare_rdms(D, D2) == pytest.approx(ss.spearmanr(D[iu], D2[iu]).statistic, rel=1e-12)


def test_compare_rdms_drops_shared_nans(rng):
    d1, d2 = rng.random(45), rng.random(45)
    d1[[3, 10]] = np.nan
    d2[[3, 10]] = np.nan
    keep = ~np.isnan(d1)
    assert compare_rdms(d1, d2) == pytest.approx(ss.spearmanr(d1[keep], d2[keep]).statistic, rel=1e-12)
    d2[11] = np.nan
    with pytest.raises(NonFiniteError, match="different positions"):
        compare_rdms(d1, d2)
    d2[11] = 0.5
    with pytest.raises(NonFiniteError, match="needs every RDM entry"):
        compare_rdms(d1, d2, "whitened_cosine")


# --------------------------------------------------------------- deconfounded RSA


def ref_deconfounded(X, Y, X0, method="correlation", comparison="spearman"):
    d0 = ref_rdm(X0, method)
    A = np.column_stack([np.ones_like(d0), d0])

    def resid(d):
        beta, *_ = np.linalg.lstsq(A, d, rcond=None)
        return d - A @ beta

    rx, ry = resid(ref_rdm(X, method)), resid(ref_rdm(Y, method))
    return ref_compare(rx, ry, comparison)


@pytest.mark.parametrize("comparison", ["spearman", "pearson", "kendall_tau_a", "rho_a"])
@pytest.mark.parametrize("method", ["correlation", "euclidean"])
def test_deconfounded_rsa_matches_direct_ols(rng, comparison, method):
    X0 = rng.normal(size=(35, 20))
    X = np.maximum(X0 @ rng.normal(size=(20, 15)), 0) + 0.5 * rng.normal(size=(35, 15))
    Y = np.tanh(X0 @ rng.normal(size=(20, 10))) + 0.5 * rng.normal(size=(35, 10))
    want = ref_deconfounded(X, Y, X0, method, comparison)
    got = deconfounded_rsa(X, Y, X0, rdm=method, comparison=comparison)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    # removing a shared input structure lowers the similarity
    assert got < rsa(X, Y, rdm=method, comparison=comparison)


def test_deconfounded_rsa_through_similarity(rng):
    X0 = rng.normal(size=(30, 6))
    X, Y = X0 @ rng.normal(size=(6, 8)) + rng.normal(size=(30, 8)), X0 + rng.normal(size=(30, 6))
    want = ref_deconfounded(X, Y, X0)
    assert fc.similarity(X, Y, measure="deconfounded_rsa", confounder=X0) == pytest.approx(want, rel=1e-9)


def test_deconfounded_rsa_bad_inputs(rng):
    X0 = rng.normal(size=(20, 5))
    Y = rng.normal(size=(20, 4))
    with pytest.raises(ConstantFeatureError, match="affine function of the confounder"):
        deconfounded_rsa(2.0 * X0 + 1.0, Y, X0)
    with pytest.raises(ShapeError, match="confounder"):
        deconfounded_rsa(X0, Y, X0[:-1])
    with pytest.raises(UnknownOptionError, match="comparison="):
        deconfounded_rsa(X0, Y, X0[:, :2], comparison="whitened_cosine")


# --------------------------------------------------------------- bad inputs


def test_bad_inputs(rng):
    X, Y = _pair(rng, n=20)
    Xc = X.copy()
    Xc[4] = 3.0
    with pytest.raises(ConstantFeatureError, match=r"rows \[4\]"):
        rsa(Xc, Y)
    with pytest.raises(ConstantFeatureError, match="all zero"):
        rdm(np.vstack([np.zeros(12), X[1:]]), "cosine")
    with pytest.raises(UnknownOptionError, match="rdm='euclidian'.*'euclidean'"):
        rsa(X, Y, rdm="euclidian")
    with pytest.raises(UnknownOptionError, match="comparison='kendall'"):
        rsa(X, Y, comparison="kendall")
    with pytest.raises(NotEnoughSamplesError, match="minimum of 3"):
        rsa(X[:2], Y[:2])
    with pytest.raises(ShapeError, match="20 samples but Y has 19"):
        rsa(X, Y[:-1])
    with pytest.raises(NonFiniteError, match="NaN"):
        Z = X.copy()
        Z[0, 0] = np.nan
        rsa(Z, Y)
    with pytest.raises(ConstantFeatureError, match="RDM of block 'X' is constant"):
        rsa(np.eye(4), rng.normal(size=(4, 3)), rdm="euclidean")  # equidistant samples: a constant RDM
    with pytest.raises(ConstantFeatureError, match="RDM 1 is constant|rdm1 is constant"):
        compare_rdms(np.ones(10), np.arange(10.0))
    with pytest.raises(ShapeError, match="not n\\(n-1\\)/2"):
        compare_rdms(np.ones(11), np.ones(11))
    with pytest.raises(ShapeError, match="not symmetric"):
        compare_rdms(np.triu(np.ones((4, 4)), 1), np.ones((4, 4)) - np.eye(4))
    with pytest.raises(ShapeError, match="non-zero diagonal"):
        compare_rdms(np.ones((4, 4)), np.ones((4, 4)))
    with pytest.raises(ShapeError, match="over 5 samples but rdm2 over 4"):
        compare_rdms(np.ones(10), np.ones(6))
    with pytest.raises(fc.FeatcorrError, match="does not take option"):
        fc.similarity(X, Y, measure="rsa", method="spearman")


def test_measures_table_lists_sample_measures():
    table = fc.measures().set_index("name")
    for name, kind in [("rsa", "similarity"), ("deconfounded_rsa", "similarity"), ("mutual_knn", "similarity"),
                       ("stochastic_shape", "distance")]:
        assert table.loc[name, "statistic"] == "sample"
        assert table.loc[name, "kind"] == kind


def test_threaded_path_matches_scipy(monkeypatch):
    # from _THREADED_FROM samples on, the two RDMs are built and ranked in two threads, block by block
    import importlib

    _rdm = importlib.import_module("featcorr.measures._rdm")
    monkeypatch.setattr(_rdm, "_THREADED_FROM", 10)
    monkeypatch.setattr(_rdm, "_BLOCK", 64)
    monkeypatch.setattr(_rdm._rank_sort, "available", lambda: False)  # the path without numba
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 6))
    Y = X[:, :3] ** 2 + rng.normal(size=(300, 3))
    for method, cmp in [("correlation", "spearman"), ("euclidean", "pearson"), ("cosine", "kendall_tau_a")]:
        want = ref_compare(ref_rdm(X, method), ref_rdm(Y, method), cmp) if cmp != "kendall_tau_a" else (
            ss.kendalltau(ref_rdm(X, method), ref_rdm(Y, method)).statistic  # no ties: tau-a = tau-b
        )
        assert rsa(X, Y, rdm=method, comparison=cmp) == pytest.approx(want, rel=1e-10)


def test_compare_engine_feeds_the_same_sample_and_the_input(rng):
    # fc.compare accumulates one Reservoir for every sample measure, with the model input as "__input__"
    nn = pytest.importorskip("torch.nn")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh())
    data = [torch.randn(40, 10) for _ in range(3)]
    res = fc.compare(model, data, measures=("rsa", "deconfounded_rsa", "mutual_knn"), progress=False).to_frame()
    X = torch.cat(data)
    with torch.no_grad():
        h1 = model[1](model[0](X)).numpy()
        h3 = model[3](model[2](torch.from_numpy(h1))).numpy()

    def value(measure):
        return float(res[(res.measure == measure) & (res.layer_a == "1") & (res.layer_b == "3")].value.iloc[0])

    assert value("rsa") == pytest.approx(rsa(h1, h3), rel=1e-10)
    assert value("deconfounded_rsa") == pytest.approx(deconfounded_rsa(h1, h3, X.numpy()), rel=1e-10)
    assert value("mutual_knn") == pytest.approx(fc.similarity(h1, h3, measure="mutual_knn"), rel=1e-12)
