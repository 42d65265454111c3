"""CCA, SVCCA, PWCCA: float64 QR/SVD oracles on the arrays, invariances, streaming, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import ConstantFeatureError, NotEnoughSamplesError, UnknownOptionError
from featcorr.measures import (
    RankDeficiencyWarning,
    canonical_correlations,
    cca_from,
    pwcca_from,
    svcca_from,
)
from featcorr.stats import Moments


# ----------------------------------------------------------------- oracles
def _basis(X: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis of the centred column space (QR when full rank, SVD otherwise)."""
    Xc = X - X.mean(0)
    s = np.linalg.svd(Xc, compute_uv=False)
    if s[-1] > np.sqrt(tol) * s[0]:
        return np.linalg.qr(Xc)[0]
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    return U[:, s > np.sqrt(tol) * s[0]]


def ref_rho(X, Y):
    """Canonical correlations = singular values of Qx^T Qy (principal angles)."""
    return np.linalg.svd(_basis(X).T @ _basis(Y), compute_uv=False)


def ref_svcca(X, Y, threshold=0.99, keep="variance", cut="inclusive", standardize=False):
    def reduce(Z):
        Zc = Z - Z.mean(0)
        if standardize:
            Zc = Zc / Zc.std(0)
        U, s, _ = np.linalg.svd(Zc, full_matrices=False)
        w = s**2 if keep == "variance" else s
        cum = np.cumsum(w) / w.sum()
        k = int(np.sum(cum < threshold)) + (cut == "inclusive")
        return U[:, :k]  # already an orthonormal basis of Zc V_k

    return float(np.linalg.svd(reduce(X).T @ reduce(Y), compute_uv=False).mean())


def ref_pwcca(X, Y):
    """Morcos et al.: weights sum_j |<h_i, x_j>| with h_i the unit-norm canonical variates of X."""
    Qx, Qy = _basis(X), _basis(Y)
    U, rho, _ = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    H = Qx @ U[:, : rho.size]  # (n, c) unit-norm canonical variates of X
    w = np.abs(H.T @ X).sum(axis=1)  # raw x_j: centring does not matter because H is centred
    return float(np.sum(w * rho) / np.sum(w))


def _pair(rng, n=400, p=12, q=9, noise=1.0, offset=3.0):
    X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + offset
    k = min(p, 7)
    Y = np.tanh(X[:, :k] @ rng.normal(size=(k, q)) / np.sqrt(k * p)) + noise * rng.normal(size=(n, q)) - offset
    return X, Y


# ----------------------------------------------------------------- values
@pytest.mark.parametrize("shape", [(400, 12, 9), (60, 20, 30), (2000, 3, 40)])
def test_cca_matches_qr_svd(rng, shape):
    X, Y = _pair(rng, *shape)
    rho = ref_rho(X, Y)
    res = canonical_correlations(X, Y)
    np.testing.assert_allclose(res.rho, rho, atol=1e-9)
    assert fc.similarity(X, Y, measure="cca") == pytest.approx(rho.mean(), abs=1e-10)
    assert fc.similarity(X, Y, measure="cca", summary="r2") == pytest.approx(np.mean(rho**2), abs=1e-10)
    assert res.rank_x == shape[1] and res.rank_y == shape[2]
    assert 0.05 < rho.mean() < 0.99  # a non-trivial case


def test_cca_planted_correlations():
    # X = (s1, s2, s3), Y = (c1 s1 + e1, c2 s2 + e2): population rho = c / sqrt(c^2 + 1)
    rng = np.random.default_rng(7)
    n = 200_000
    S = rng.normal(size=(n, 3))
    E = rng.normal(size=(n, 2))
    Y = np.column_stack([3.0 * S[:, 0] + E[:, 0], 1.0 * S[:, 1] + E[:, 1]])
    res = canonical_correlations(S, Y)
    np.testing.assert_allclose(res.rho, [3 / np.sqrt(10), 1 / np.sqrt(2)], atol=5e-3)


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"threshold": 0.9},
        {"keep": "singular_values"},
        {"cut": "strict"},
        {"standardize": True, "cut": "strict"},
        {"threshold": 0.5, "keep": "singular_values", "cut": "strict"},
    ],
)
def test_svcca_matches_svd_oracle(rng, opts):
    n = 300
    Z = rng.normal(size=(n, 6))
    X = Z @ rng.normal(size=(6, 25)) + 0.3 * rng.normal(size=(n, 25)) + 5.0
    Y = np.maximum(Z[:, :4] @ rng.normal(size=(4, 18)), 0) + 0.3 * rng.normal(size=(n, 18))
    want = ref_svcca(X, Y, **opts)
    assert fc.similarity(X, Y, measure="svcca", **opts) == pytest.approx(want, abs=1e-9)
    assert 0.1 < want < 1.0


def test_svcca_n_smaller_than_p(rng):
    X = rng.normal(size=(40, 120))
    Y = X[:, :60] + 0.5 * rng.normal(size=(40, 60))
    assert fc.similarity(X, Y, measure="svcca", threshold=0.8) == pytest.approx(ref_svcca(X, Y, 0.8), abs=1e-9)


def test_svcca_conventions_differ(rng):
    X, Y = _pair(rng, 300, 30, 20)
    X = X * np.linspace(0.1, 3, 30)
    vals = {
        (k, c): fc.similarity(X, Y, measure="svcca", threshold=0.9, keep=k, cut=c)
        for k in ("variance", "singular_values")
        for c in ("inclusive", "strict")
    }
    assert len({round(v, 9) for v in vals.values()}) >= 3  # the options are not silently ignored


def test_lincca_is_standardized_strict_svcca(rng):
    X, Y = _pair(rng, 300, 15, 10)
    assert fc.similarity(X, Y, measure="lincca") == pytest.approx(
        ref_svcca(X, Y, 0.99, cut="strict", standardize=True), abs=1e-9
    )


@pytest.mark.parametrize("shape", [(400, 12, 9), (80, 10, 30)])
def test_pwcca_matches_paper_formula(rng, shape):
    X, Y = _pair(rng, *shape)
    got = fc.similarity(X, Y, measure="pwcca")
    assert got == pytest.approx(ref_pwcca(X, Y), abs=1e-9)
    assert fc.similarity(X, Y, measure="pwcca", side="y") == pytest.approx(ref_pwcca(Y, X), abs=1e-9)
    assert abs(got - ref_pwcca(Y, X)) > 1e-4  # asymmetric
    assert got != pytest.approx(ref_rho(X, Y).mean(), abs=1e-4)  # weighting matters here


def test_self_similarity(rng):
    X, _ = _pair(rng)
    for m in ("cca", "svcca", "pwcca", "lincca"):
        assert fc.similarity(X, X, measure=m) == 1.0


# ----------------------------------------------------------------- invariances
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(1e-2, 1e2))
def test_invariances(seed, scale):
    rng = np.random.default_rng(seed)
    X, Y = _pair(rng, 200, 8, 6)
    # invertible, not orthogonal, well conditioned (eigen-whitening error grows like cond(X)^2 * eps)
    A = ortho_group.rvs(8, random_state=seed + 1) @ np.diag(rng.uniform(0.3, 3.0, 8)) @ ortho_group.rvs(8, random_state=seed + 2)
    Q = ortho_group.rvs(6, random_state=seed)
    perm = rng.permutation(8)
    base = {m: fc.similarity(X, Y, measure=m) for m in ("cca", "svcca", "pwcca")}
    assert fc.similarity(X @ A - 4.0, Y, measure="cca") == pytest.approx(base["cca"], abs=1e-9)
    for m in ("cca", "svcca", "pwcca"):
        assert fc.similarity(X[:, perm] * scale, scale * Y @ Q + 1.0, measure=m) == pytest.approx(base[m], abs=1e-9)


def test_svcca_not_invariant_to_general_linear_maps(rng):
    X, Y = _pair(rng, 300, 20, 15)
    A = np.diag(np.geomspace(0.01, 10, 20))
    assert abs(fc.similarity(X @ A, Y, measure="svcca", threshold=0.9) - fc.similarity(X, Y, measure="svcca", threshold=0.9)) > 1e-3


# ----------------------------------------------------------------- streaming
def test_streaming_and_merge_equal_whole(rng):
    X, Y = _pair(rng, 500, 10, 8, offset=100.0)
    whole = Moments().update({"x": X, "y": Y}).finalize()
    order = rng.permutation(500)
    shards = []
    for part in np.array_split(order, 4):
        m = Moments()
        for lo in range(0, part.size, 37):
            i = part[lo : lo + 37]
            m.update({"x": X[i], "y": Y[i]})
        shards.append(m)
    merged = shards[3].merge(shards[1]).merge(shards[0].merge(shards[2])).finalize()
    for f in (cca_from, svcca_from, pwcca_from):
        assert f(merged, "x", "y") == pytest.approx(f(whole, "x", "y"), abs=1e-11)
    assert cca_from(whole, "x", "y") == pytest.approx(ref_rho(X, Y).mean(), abs=1e-10)


def test_float32_with_large_offsets_accumulates_in_float64(rng):
    X = (1e3 + rng.normal(size=(3000, 16))).astype(np.float32)
    Y = (1e3 + (X - 1e3) @ rng.normal(size=(16, 8)) * 0.1 + rng.normal(size=(3000, 8))).astype(np.float32)
    m = Moments()
    for lo in range(0, 3000, 256):
        m.update({"x": X[lo : lo + 256], "y": Y[lo : lo + 256]})
    snap = m.finalize()
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    assert cca_from(snap, "x", "y") == pytest.approx(ref_rho(X64, Y64).mean(), abs=1e-9)
    assert pwcca_from(snap, "x", "y") == pytest.approx(ref_pwcca(X64, Y64), abs=1e-9)


def test_registered_with_facts():
    table = fc.measures().set_index("name")
    for name, sym in (("cca", True), ("svcca", True), ("pwcca", False), ("lincca", True), ("maxcorr", False)):
        assert table.loc[name, "statistic"] == "moments" and table.loc[name, "kind"] == "similarity"
        assert bool(table.loc[name, "symmetric"]) is sym
    assert "invertible linear" in table.loc["cca", "invariances"]


# ----------------------------------------------------------------- rank deficiency
def test_rank_deficient_drops_with_warning(rng):
    n = 300
    X = rng.normal(size=(n, 4)) @ rng.normal(size=(4, 10))  # rank 4 of 10
    X[:, 7] = 2.0  # a dead unit
    Y = X[:, :3] @ rng.normal(size=(3, 5)) + rng.normal(size=(n, 5))
    with pytest.warns(RankDeficiencyWarning, match=r"rank 4 of 10 columns; 6 covariance direction"):
        res = canonical_correlations(X, Y)
    assert (res.rank_x, res.rank_y) == (4, 5)
    np.testing.assert_allclose(res.rho, ref_rho(X, Y), atol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        assert fc.similarity(X, Y, measure="pwcca") == pytest.approx(ref_pwcca(X, Y), abs=1e-8)


# ----------------------------------------------------------------- bad input
def test_bad_inputs(rng):
    X, Y = _pair(rng, 30, 8, 6)
    with pytest.raises(NotEnoughSamplesError, match=r"n=30 while block 'X' has p=40.*measure='svcca'"):
        fc.similarity(rng.normal(size=(30, 40)), Y, measure="cca")
    with pytest.raises(NotEnoughSamplesError, match=r"n=30 while block 'X' has p=8 and block 'Y' has q=30"):
        fc.similarity(X, rng.normal(size=(30, 30)), measure="pwcca")
    # n > p but the centred rank fills all n - 1 dimensions: every rho would be 1
    with pytest.raises(NotEnoughSamplesError, match=r"rank 29.*every canonical correlation is 1"):
        fc.similarity(rng.normal(size=(30, 29)), Y, measure="cca")
    with pytest.raises(NotEnoughSamplesError, match="Lower threshold"):
        fc.similarity(rng.normal(size=(30, 60)), rng.normal(size=(30, 60)), measure="svcca", threshold=1.0)
    with pytest.raises(ConstantFeatureError, match="constant"):
        fc.similarity(X, np.ones((30, 3)), measure="cca")
    Xd = X.copy()
    Xd[:, 2] = 1.0
    # a dead unit cannot be z-scored: it is left out (SVCCA of the other units)
    live = np.delete(Xd, 2, axis=1)
    assert fc.similarity(Xd, Y, measure="svcca", standardize=True) == pytest.approx(
        ref_svcca(live, Y, standardize=True), abs=1e-8)
    assert fc.similarity(Xd, Y, measure="lincca") == pytest.approx(fc.similarity(live, Y, measure="lincca"), abs=1e-10)
    with pytest.raises(ConstantFeatureError, match="block 'X' is constant across samples"):
        fc.similarity(np.ones((30, 3)), Y, measure="svcca", standardize=True)
    with pytest.raises(UnknownOptionError, match=r"threshold=1.5 must be a fraction in \(0, 1\]"):
        fc.similarity(X, Y, measure="svcca", threshold=1.5)
    with pytest.raises(UnknownOptionError, match="keep='sigma' is not supported"):
        fc.similarity(X, Y, measure="svcca", keep="sigma")
    with pytest.raises(UnknownOptionError, match="summary='median'"):
        fc.similarity(X, Y, measure="cca", summary="median")
    with pytest.raises(UnknownOptionError, match=r"rtol=0 must be a number in \(0, 1\)"):
        fc.similarity(X, Y, measure="cca", rtol=0)
    with pytest.raises(UnknownOptionError, match="side='z'"):
        fc.similarity(X, Y, measure="pwcca", side="z")
    spike = rng.normal(size=(100, 5)) * np.array([100.0, 0.01, 0.01, 0.01, 0.01])
    with pytest.raises(UnknownOptionError, match="keeps no principal direction.*cut='inclusive'"):
        fc.similarity(spike, rng.normal(size=(100, 4)), measure="svcca", cut="strict")
