"""Linear predictivity: scikit-learn Ridge on the explicit hashed folds, nested CV, invariances, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_predict

import featcorr as fc
from featcorr.errors import ConstantFeatureError, RankDeficientError, UnknownOptionError
from featcorr.measures import DEFAULT_ALPHAS, linear_predictivity_from
from featcorr.stats import FoldMoments

from ..stats.test_fold_moments import ref_folds


def _splits(folds):
    return [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in np.unique(folds)]


def ref_cv_r2(X, Y, folds, alpha, average="uniform"):
    """r2_score of scikit-learn's out-of-fold ridge predictions on the given split."""
    model = LinearRegression() if alpha == 0 else Ridge(alpha=alpha, solver="svd")
    pred = cross_val_predict(model, X, Y, cv=_splits(folds))
    return r2_score(Y, pred, multioutput="uniform_average" if average == "uniform" else "variance_weighted")


def ref_nested(X, Y, folds, grid=DEFAULT_ALPHAS, average="uniform"):
    """Nested CV written out: per outer fold, pick the relative penalty by inner CV on the training folds."""
    pred = np.zeros_like(Y)
    mw = "uniform_average" if average == "uniform" else "variance_weighted"

    def rel_to_abs(rel, rows):
        Xc = X[rows] - X[rows].mean(0)
        return rel * np.trace(Xc.T @ Xc) / X.shape[1]

    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        inner = np.zeros((len(grid),))
        for k, rel in enumerate(grid):
            ip = np.zeros_like(Y[tr])
            ftr = folds[tr]
            for g in np.unique(ftr):
                itr, ite = ftr != g, ftr == g
                rows = np.flatnonzero(tr)[itr]
                ip[ite] = Ridge(alpha=rel_to_abs(rel, rows), solver="svd").fit(X[rows], Y[rows]).predict(X[tr][ite])
            inner[k] = r2_score(Y[tr], ip, multioutput=mw)
        best = grid[int(np.argmax(inner))]
        rows = np.flatnonzero(tr)
        pred[te] = Ridge(alpha=rel_to_abs(best, rows), solver="svd").fit(X[tr], Y[tr]).predict(X[te])
    return r2_score(Y, pred, multioutput=mw)


def _data(rng, n=240, p=12, q=5, noise=1.0):
    X = rng.normal(size=(n, p)) * np.linspace(0.3, 3, p) + 5.0
    Y = np.tanh(X[:, :6] @ rng.normal(size=(6, q)) / 4) + noise * rng.normal(size=(n, q)) * np.linspace(0.1, 1, q)
    return X, Y


@pytest.mark.parametrize("alpha", [0.0, 0.5, 50.0])
@pytest.mark.parametrize("average", ["uniform", "variance_weighted"])
def test_fixed_alpha_matches_sklearn(rng, alpha, average):
    X, Y = _data(rng)
    folds = ref_folds({"X": X, "Y": Y}, 5, 0)
    want = ref_cv_r2(X, Y, folds, alpha, average)
    got = fc.similarity(X, Y, measure="linear_predictivity", alpha=alpha, average=average)
    assert got == pytest.approx(want, abs=1e-8)
    assert 0.05 < want < 0.95


def test_ridge_with_more_units_than_samples(rng):
    X, Y = _data(rng, n=60, p=90)
    folds = ref_folds({"X": X, "Y": Y}, 4, 7)
    got = fc.similarity(X, Y, measure="linear_predictivity", alpha=10.0, n_folds=4, seed=7)
    assert got == pytest.approx(ref_cv_r2(X, Y, folds, 10.0), abs=1e-8)


@pytest.mark.parametrize("average", ["uniform", "variance_weighted"])
def test_nested_alpha_matches_written_out_nested_cv(rng, average):
    X, Y = _data(rng, n=150, p=30, q=4, noise=2.0)
    folds = ref_folds({"X": X, "Y": Y}, 4, 0)
    got = fc.similarity(X, Y, measure="linear_predictivity", n_folds=4, average=average)
    assert got == pytest.approx(ref_nested(X, Y, folds, average=average), abs=1e-8)


def test_never_in_sample(rng):
    # Y independent of X, p close to n: in-sample R^2 is large, held-out R^2 is not
    X, Y = rng.normal(size=(80, 60)), rng.normal(size=(80, 3))
    in_sample = r2_score(Y, LinearRegression().fit(X, Y).predict(X))
    assert in_sample > 0.6
    assert fc.similarity(X, Y, measure="linear_predictivity") < 0.05
    assert fc.similarity(X, Y, measure="linear_predictivity", alpha=1e-3) < 0.0


def test_asymmetric(rng):
    X = rng.normal(size=(300, 8))
    Y = X[:, :2] + 0.1 * rng.normal(size=(300, 2))
    xy = fc.similarity(X, Y, measure="linear_predictivity")
    yx = fc.similarity(Y, X, measure="linear_predictivity")
    assert xy > 0.95 and yx < 0.4


def test_invariances_within_one_split(rng):
    # the split hashes the values, so compare transformed copies accumulated in one statistic
    X, Y = _data(rng)
    Q = ortho_group.rvs(12, random_state=1)
    snap = FoldMoments(5).update({"x": X, "xq": 7.0 * X @ Q - 3.0, "y": Y, "y2": Y + 100.0}).finalize()
    base = linear_predictivity_from(snap, "x", "y")
    assert linear_predictivity_from(snap, "xq", "y") == pytest.approx(base, abs=1e-9)
    assert linear_predictivity_from(snap, "x", "y2") == pytest.approx(base, abs=1e-9)
    assert abs(linear_predictivity_from(snap, "xq", "y", alpha=100.0) - linear_predictivity_from(snap, "x", "y", alpha=100.0)) > 1e-4


def test_streaming_and_merge_equal_whole(rng):
    X, Y = _data(rng)
    whole = linear_predictivity_from(FoldMoments().update({"x": X, "y": Y}).finalize(), "x", "y")
    shards = []
    for part in np.array_split(rng.permutation(240), 3):
        m = FoldMoments()
        for lo in range(0, part.size, 17):
            m.update({"x": X[part[lo : lo + 17]], "y": Y[part[lo : lo + 17]]})
        shards.append(m)
    merged = shards[1].merge(shards[2]).merge(shards[0]).finalize()
    assert linear_predictivity_from(merged, "x", "y") == pytest.approx(whole, abs=1e-10)
    assert whole == pytest.approx(ref_nested(X, Y, ref_folds({"x": X, "y": Y}, 5, 0)), abs=1e-8)


def test_bad_inputs(rng):
    X, Y = _data(rng, n=40)
    with pytest.raises(UnknownOptionError, match="alpha=-1 must be a number >= 0"):
        fc.similarity(X, Y, measure="linear_predictivity", alpha=-1)
    with pytest.raises(UnknownOptionError, match="alphas=.* must be a non-empty sequence of positive"):
        fc.similarity(X, Y, measure="linear_predictivity", alphas=[])
    with pytest.raises(UnknownOptionError, match="average='raw' is not supported"):
        fc.similarity(X, Y, measure="linear_predictivity", average="raw")
    with pytest.raises(RankDeficientError, match="alpha=0 .*full-rank.*Pass alpha > 0"):
        fc.similarity(rng.normal(size=(40, 50)), Y, measure="linear_predictivity", alpha=0)
    Yc = Y.copy()
    Yc[:, 1] = 3.0
    with pytest.raises(ConstantFeatureError, match=r"target unit\(s\) \[1\].*variance_weighted"):
        fc.similarity(X, Yc, measure="linear_predictivity", alpha=1.0, constant="raise")
    with pytest.raises(ConstantFeatureError, match=r"target unit\(s\) \[1\].*variance_weighted"):
        fc.similarity(X, Yc, measure="linear_predictivity", constant="raise")  # nested CV: raised by the inner score
    with pytest.raises(ConstantFeatureError, match="every target unit is constant"):
        fc.similarity(X, np.full_like(Y, 2.0), measure="linear_predictivity", alpha=1.0)
    with pytest.raises(UnknownOptionError, match="constant='zero' is not supported"):
        fc.similarity(X, Y, measure="linear_predictivity", constant="zero")
    # default constant='drop': a dead unit is left out of the uniform mean (fixed and nested alpha)
    folds = ref_folds({"X": X, "Y": Yc}, 5, 0)
    live = [0, 2, 3, 4]
    assert fc.similarity(X, Yc, measure="linear_predictivity", alpha=1.0) == pytest.approx(
        ref_cv_r2(X, Yc[:, live], folds, 1.0), abs=1e-8)
    assert fc.similarity(X, Yc, measure="linear_predictivity") == pytest.approx(
        ref_nested(X, Yc[:, live], folds), abs=1e-8)
    want = ref_nested(X, Yc, ref_folds({"X": X, "Y": Yc}, 5, 0), average="variance_weighted")
    got = fc.similarity(X, Yc, measure="linear_predictivity", average="variance_weighted")
    assert got == pytest.approx(want, abs=1e-8)
    with pytest.raises(UnknownOptionError, match="n_folds=1"):
        fc.similarity(X, Y, measure="linear_predictivity", n_folds=1)


def test_eigenbasis_grid_and_cholesky_equal_a_direct_solve_per_penalty(rng):
    # the nested-CV inner score (one eigendecomposition for the whole grid) and the single-penalty
    # Cholesky path against numpy's solve of (X^T X + lam I) W = X^T Y on the raw training rows
    from featcorr.measures._predictivity import _Fit, _part, _pool

    X, Y = _data(rng, n=400, p=25, q=6)
    folds = ref_folds({"x": X, "y": Y}, 5, 0)
    snap = FoldMoments(5).update({"x": X, "y": Y}).finalize()
    parts = [_part(s, "x", "y") for s in snap.folds]
    f, g = 0, 3
    train = (folds != f) & (folds != g)
    fit = _Fit(_pool([p for i, p in enumerate(parts) if i not in (f, g)]), caller="test")
    Xtr, Ytr, Xte, Yte = X[train], Y[train], X[folds == g], Y[folds == g]
    xm, ym = Xtr.mean(0), Ytr.mean(0)
    scale = np.trace((Xtr - xm).T @ (Xtr - xm)) / X.shape[1]
    assert fit.scale == pytest.approx(scale, rel=1e-12)
    lams = [a * scale for a in DEFAULT_ALPHAS]
    c = 1.0 / rng.uniform(1.0, 3.0, size=Y.shape[1])

    def direct_sse(lam):
        W = np.linalg.solve((Xtr - xm).T @ (Xtr - xm) + lam * np.eye(X.shape[1]), (Xtr - xm).T @ (Ytr - ym))
        return (((Yte - ym) - (Xte - xm) @ W) ** 2).sum(0)

    want = np.array([direct_sse(lam) for lam in lams])  # (L, q)
    assert np.ptp(want @ c) > 1e-3 * np.abs(want @ c).max()  # the penalties matter here
    for lam, w in zip(lams, want):
        np.testing.assert_allclose(fit.sse(parts[g], lam).numpy(), w, rtol=1e-10)  # Cholesky
    got = fit.weighted_sse(parts[g], lams, torch.as_tensor(c)).numpy()  # eigenbasis, all penalties
    np.testing.assert_allclose(got, want @ c, rtol=1e-10)
    for lam, w in zip(lams, want):
        np.testing.assert_allclose(fit.sse(parts[g], lam).numpy(), w, rtol=1e-10)  # eigenbasis (now cached)
