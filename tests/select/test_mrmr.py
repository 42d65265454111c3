"""MRMR against a brute-force float64 oracle written here, planted redundancy, variants, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_selection import f_classif, f_regression, mutual_info_regression

from featcorr.errors import ConstantFeatureError, ShapeError
from featcorr.select import MRMR


def oracle(X, y, k, *, classif, scheme="quotient", denominator="mean", floor=0.001, relevance=None):
    """Textbook FCQ/FCD with the full |corrcoef| matrix (mrmr-selection's rules, C6 of METHODS.md)."""
    rel = relevance if relevance is not None else (f_classif(X, y)[0] if classif else f_regression(X, y)[0])
    rel = np.nan_to_num(rel, nan=0.0)
    R = np.maximum(np.abs(np.corrcoef(X, rowvar=False)), floor)
    cands = [j for j in range(X.shape[1]) if rel[j] > 0]
    sel = []
    for i in range(min(k, len(cands))):
        best, best_s = None, -np.inf
        for j in cands:
            if j in sel:
                continue
            if i == 0:
                s = rel[j]
            else:
                d = np.mean(R[j, sel]) if denominator == "mean" else np.max(R[j, sel])
                s = (0.0 if d == 1.0 else rel[j] / d) if scheme == "quotient" else rel[j] - d
            if s > best_s:
                best, best_s = j, s
        sel.append(best)
    return sel


def _redundant(rng, n=500):
    z = rng.normal(size=(n, 4))
    X = np.column_stack([
        z[:, 0],
        z[:, 0] + 0.05 * rng.normal(size=n),  # near copy of 0
        z[:, 1],
        2 * z[:, 1] + 0.05 * rng.normal(size=n),  # near copy of 2
        z[:, 2],
        rng.normal(size=(n, 5)),
    ])
    y = z[:, 0] + 0.9 * z[:, 1] + 0.6 * z[:, 2] + 0.3 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("scheme", ["quotient", "difference"])
@pytest.mark.parametrize("denominator", ["mean", "max"])
def test_matches_bruteforce_oracle(rng, scheme, denominator):
    for trial in range(3):
        X = rng.normal(size=(300, 25)) @ rng.normal(size=(25, 25)) * 0.3 + rng.normal(size=(300, 25))
        y = X[:, :5] @ rng.normal(size=5) + rng.normal(size=300)
        got = MRMR(n_features=10, scheme=scheme, denominator=denominator).fit(X, y).order_.tolist()
        assert got == oracle(X, y, 10, classif=False, scheme=scheme, denominator=denominator)
        yc = (y > np.median(y)).astype(int) + (y > np.quantile(y, 0.8))
        got = MRMR(n_features=10, scheme=scheme, denominator=denominator).fit(X, yc).order_.tolist()
        assert got == oracle(X, yc, 10, classif=True, scheme=scheme, denominator=denominator)


def test_skips_redundant_copies_where_rank_takes_them(rng):
    from featcorr.select import Rank

    X, y = _redundant(rng)
    m = MRMR(n_features=3).fit(X, y)
    assert sorted(m.order_.tolist()) == [0, 2, 4]  # one of each signal, no copy
    assert not (m.support_[1] or m.support_[3])
    r = Rank(n_features=3, method="f").fit(X, y)
    assert r.support_[1] or r.support_[3]  # plain ranking keeps a copy
    assert m.ranking_[m.order_].tolist() == [1, 2, 3]
    np.testing.assert_allclose(m.scores_, f_regression(X, y)[0], rtol=1e-10)
    assert m.selection_scores_[0] == pytest.approx(m.scores_[m.order_[0]])


def test_exact_copy_gets_score_zero(rng):
    X, y = _redundant(rng)
    X[:, 1] = X[:, 0]  # exact copy: mean redundancy exactly 1 -> score 0, never before a useful feature
    order = MRMR(n_features=4).fit(X, y).order_.tolist()
    assert order[0] == 0 and 1 not in order[:3]


def test_relevance_and_redundancy_options(rng):
    X, y = _redundant(rng, n=300)
    mi = MRMR(n_features=3, relevance="mi", redundancy="mi", scheme="difference", random_state=0).fit(X, y)
    np.testing.assert_allclose(mi.scores_, mutual_info_regression(X, y, random_state=0), atol=1e-12)
    groups = sorted({0: "a", 1: "a", 2: "b", 3: "b", 4: "c"}.get(j, "noise") for j in mi.order_.tolist())
    assert groups == ["a", "b", "c"]  # one feature of each signal, whichever copy
    rel = np.abs(np.array([np.corrcoef(X[:, j], y)[0, 1] for j in range(X.shape[1])]))
    p = MRMR(n_features=5, relevance="pearson").fit(X, y)
    assert p.order_.tolist() == oracle(X, y, 5, classif=False, relevance=rel)


def test_fewer_positive_relevance_than_requested_warns(rng):
    X = rng.normal(size=(100, 3))
    y = rng.normal(size=100)
    X[:, 2] = 0.0
    with pytest.warns(UserWarning):
        m = MRMR(n_features=3, constant="drop").fit(X, y)
    assert m.n_features_ == 2 and m.support_.sum() == 2 and not m.support_[2]


def test_bad_inputs(rng):
    X, y = _redundant(rng, n=60)
    with pytest.raises(ShapeError, match="n_features=11 is larger"):
        MRMR(n_features=11).fit(X, y)
    X[:, 7] = 1.0
    with pytest.raises(ConstantFeatureError, match=r"\[7\]"):
        MRMR(n_features=2).fit(X, y)
    with pytest.raises(ValueError, match="scheme"):
        MRMR(scheme="ratio").fit(X, y)
