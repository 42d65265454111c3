"""Procrustes and shape metrics: SVD oracles on the arrays, metric axioms, invariances, streaming, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import ConstantFeatureError, UnknownOptionError
from featcorr.measures import procrustes_from, shape_metric_from
from featcorr.stats import Moments


# ----------------------------------------------------------------- oracles
def _pad(X, Y):
    w = max(X.shape[1], Y.shape[1])
    return np.pad(X, ((0, 0), (0, w - X.shape[1]))), np.pad(Y, ((0, 0), (0, w - Y.shape[1])))


def ref_procrustes(X, Y, metric="angular"):
    """Centre, unit Frobenius, zero-pad, best rotation from the SVD of X^T Y."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xc, Yc = _pad(Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc))
    U, _, Vt = np.linalg.svd(Xc.T @ Yc)
    Q = U @ Vt  # optimal rotation of X onto Y
    if metric == "angular":
        return float(np.arccos(np.sum((Xc @ Q) * Yc)))
    return float(np.linalg.norm(Xc @ Q - Yc))


def ref_phi(X, alpha, covariance="trace"):
    """Partial whitening of Williams et al., covariance normalised as documented, variance preserved."""
    Xc = X - X.mean(0)
    S = Xc.T @ Xc
    C = {"trace": S * S.shape[0] / np.trace(S), "population": S / X.shape[0], "unnormalized": S}[covariance]
    lam, V = np.linalg.eigh(C)
    Z = V @ np.diag(alpha + (1 - alpha) / np.sqrt(lam)) @ V.T
    phi = Xc @ Z
    return phi * np.linalg.norm(Xc) / np.linalg.norm(phi)


def ref_shape(X, Y, alpha, metric="angular", covariance="trace"):
    fx, fy = _pad(ref_phi(X, alpha, covariance), ref_phi(Y, alpha, covariance))
    U, _, Vt = np.linalg.svd(fx.T @ fy)
    fxq = fx @ U @ Vt
    if metric == "angular":
        return float(np.arccos(np.sum(fxq * fy) / (np.linalg.norm(fx) * np.linalg.norm(fy))))
    return float(np.linalg.norm(fxq - fy))


def _pair(rng, n=200, p=10, q=7):
    X = rng.normal(size=(n, p)) * np.linspace(0.5, 2.0, p) + 4.0
    Y = X[:, :q] @ rng.normal(size=(q, q)) + 0.7 * rng.normal(size=(n, q)) - 2.0
    return X, Y


# ----------------------------------------------------------------- values
@pytest.mark.parametrize("shape", [(200, 10, 7), (200, 7, 10), (30, 50, 40)])
@pytest.mark.parametrize("metric", ["angular", "euclidean"])
def test_procrustes_matches_svd(rng, shape, metric):
    n, p, q = shape
    X = rng.normal(size=(n, p)) + 3.0
    Y = X[:, : min(p, q)] @ rng.normal(size=(min(p, q), q)) + rng.normal(size=(n, q))
    want = ref_procrustes(X, Y, metric)
    assert fc.similarity(X, Y, measure="procrustes", metric=metric) == pytest.approx(want, abs=1e-9)
    assert want > 0.1


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("metric", ["angular", "euclidean"])
@pytest.mark.parametrize("covariance", ["trace", "population", "unnormalized"])
def test_shape_metric_matches_whitening_oracle(rng, alpha, metric, covariance):
    X, Y = _pair(rng)
    want = ref_shape(X, Y, alpha, metric, covariance)
    got = fc.similarity(X, Y, measure="shape_metric", alpha=alpha, metric=metric, covariance=covariance)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_shape_metric_endpoints(rng):
    X, Y = _pair(rng, 300, 9, 6)
    assert fc.similarity(X, Y, measure="shape_metric") == fc.similarity(X, Y, measure="procrustes")
    rho = np.linalg.svd(
        np.linalg.qr(X - X.mean(0))[0].T @ np.linalg.qr(Y - Y.mean(0))[0], compute_uv=False
    )
    # alpha = 0: arccos(sum rho / sqrt(p q)) (METHODS A8)
    assert fc.similarity(X, Y, measure="shape_metric", alpha=0.0) == pytest.approx(
        np.arccos(rho.sum() / np.sqrt(9 * 6)), abs=1e-9
    )
    vals = {c: fc.similarity(X, Y, measure="shape_metric", alpha=0.5, covariance=c) for c in ("trace", "population", "unnormalized")}
    assert len({round(v, 8) for v in vals.values()}) == 3  # the normalisation matters strictly inside (0, 1)
    for a in (0.0, 1.0):
        got = {c: fc.similarity(X, Y, measure="shape_metric", alpha=a, covariance=c) for c in vals}
        assert max(got.values()) - min(got.values()) < 1e-10  # and not at the ends


def test_trace_normalisation_is_scale_free_unnormalized_is_not(rng):
    X, Y = _pair(rng)
    for c, free in (("trace", True), ("unnormalized", False)):
        d1 = fc.similarity(X, Y, measure="shape_metric", alpha=0.5, covariance=c)
        d2 = fc.similarity(100.0 * X, Y, measure="shape_metric", alpha=0.5, covariance=c)
        assert (abs(d1 - d2) < 1e-10) is free, c


# ----------------------------------------------------------------- metric axioms
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), alpha=st.sampled_from([0.0, 0.3, 1.0]), metric=st.sampled_from(["angular", "euclidean"]))
def test_metric_axioms(seed, alpha, metric):
    rng = np.random.default_rng(seed)
    n = 60
    base = rng.normal(size=(n, 5))
    reps = [base @ rng.normal(size=(5, w)) + rng.normal(size=(n, w)) for w in (5, 6, 8)]
    d = lambda A, B: fc.similarity(A, B, measure="shape_metric", alpha=alpha, metric=metric)  # noqa: E731
    X, Y, Z = reps
    assert d(X, Y) == pytest.approx(d(Y, X), abs=1e-10)
    assert d(X, Z) <= d(X, Y) + d(Y, Z) + 1e-10
    assert d(Y, Z) <= d(Y, X) + d(X, Z) + 1e-10
    Q = ortho_group.rvs(6, random_state=seed)
    # distance ~0 comes from sqrt(a - b) of moment sums: sqrt(eps)-level, relative to the norm for euclidean
    zero_tol = 1e-6 if metric == "angular" else 1e-6 * np.linalg.norm(Y - Y.mean(0))
    assert d(Y, Y @ Q + 3.0) == pytest.approx(0.0, abs=zero_tol)
    assert d(X, Y) > 1e-3


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(1e-2, 1e2))
def test_invariances(seed, scale):
    rng = np.random.default_rng(seed)
    X, Y = _pair(rng, 120, 6, 6)
    Q = ortho_group.rvs(6, random_state=seed)
    perm = rng.permutation(6)
    for m, opts in (("procrustes", {}), ("procrustes", {"metric": "euclidean"}), ("shape_metric", {"alpha": 0.4})):
        base = fc.similarity(X, Y, measure=m, **opts)
        assert fc.similarity(scale * X[:, perm] @ Q - 1.0, Y, measure=m, **opts) == pytest.approx(base, abs=1e-9)
    # alpha = 0 is invariant to any invertible map; Procrustes is not
    A = rng.normal(size=(6, 6)) + 2 * np.eye(6)
    a0 = fc.similarity(X, Y, measure="shape_metric", alpha=0.0)
    assert fc.similarity(X @ A, Y, measure="shape_metric", alpha=0.0) == pytest.approx(a0, abs=1e-7)


def test_procrustes_not_invariant_to_linear_maps(rng):
    X, _ = _pair(rng, 200, 6, 6)
    A = np.diag([1.0, 5.0, 0.2, 1.0, 3.0, 1.0])
    assert fc.similarity(X, X @ A, measure="procrustes") > 0.05
    assert fc.similarity(X, X @ A, measure="shape_metric", alpha=0.0) == pytest.approx(0.0, abs=1e-6)


def test_self_distance_is_zero(rng):
    X, _ = _pair(rng)
    for m in ("procrustes", "shape_metric"):
        assert fc.similarity(X, X, measure=m) == 0.0


# ----------------------------------------------------------------- streaming
def test_streaming_and_merge_equal_whole(rng):
    X, Y = _pair(rng, 400, 8, 5)
    X = X + 1e3
    whole = Moments().update({"x": X, "y": Y}).finalize()
    shards = [Moments().update({"x": X[i], "y": Y[i]}) for i in np.array_split(rng.permutation(400), 3)]
    merged = shards[2].merge(shards[0]).merge(shards[1]).finalize()
    for f, opts in ((procrustes_from, {}), (shape_metric_from, {"alpha": 0.5, "metric": "euclidean"})):
        assert f(merged, "x", "y", **opts) == pytest.approx(f(whole, "x", "y", **opts), rel=1e-10)
    assert procrustes_from(whole, "x", "y") == pytest.approx(ref_procrustes(X, Y), abs=1e-9)


# ----------------------------------------------------------------- bad input
def test_bad_inputs(rng):
    X, Y = _pair(rng, 50, 5, 4)
    for alpha in (-0.1, 1.5, True):
        with pytest.raises(UnknownOptionError, match=r"alpha=.* is outside \[0, 1\]"):
            fc.similarity(X, Y, measure="shape_metric", alpha=alpha)
    with pytest.raises(UnknownOptionError, match="metric='cosine' is not supported"):
        fc.similarity(X, Y, measure="procrustes", metric="cosine")
    with pytest.raises(UnknownOptionError, match="covariance='sample' is not supported"):
        fc.similarity(X, Y, measure="shape_metric", covariance="sample")
    with pytest.raises(ConstantFeatureError, match="constant across samples"):
        fc.similarity(X, np.full((50, 3), 2.0), measure="procrustes")
    with pytest.raises(fc.FeatcorrError, match="does not take option"):
        fc.similarity(X, Y, measure="procrustes", alpha=0.5)
