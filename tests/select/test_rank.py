"""Rank: scores against references, planted features, pipelines, SelectKBest score functions, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import make_classification
from sklearn.feature_selection import SelectKBest, f_classif, mutual_info_regression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from featcorr.errors import ConstantFeatureError, FeatcorrError, InputTypeError, NonFiniteError, ShapeError
from featcorr.select import MRMR, Rank, dcor_score, f_score, hsic_score, kendall_score, mi_score, pearson_score, spearman_score


def _planted(rng, n=600):
    """Column 0 linear, column 1 quadratic (Pearson-blind), columns 2.. noise."""
    X = rng.normal(size=(n, 8))
    y = X[:, 0] + 1.5 * X[:, 1] ** 2 + 0.3 * rng.normal(size=n)
    return X, y


def test_scores_are_the_references_and_ranking_by_abs(rng):
    X, y = _planted(rng)
    y = -y  # negative correlations must rank by |r|
    r = Rank(n_features=2).fit(X, y)
    ref = np.array([stats.pearsonr(X[:, j], y).statistic for j in range(8)])
    np.testing.assert_allclose(r.scores_, ref, atol=1e-13)
    assert r.scores_[0] < 0 and r.ranking_[0] == 1
    np.testing.assert_array_equal(r.ranking_, stats.rankdata(-np.abs(ref), method="ordinal").astype(int))
    rk = Rank(n_features=2, method="kendall").fit(X, y)
    np.testing.assert_allclose(rk.scores_, [stats.kendalltau(X[:, j], y).statistic for j in range(8)], atol=1e-13)
    rm = Rank(n_features=2, method="mi", random_state=3).fit(X, y)
    np.testing.assert_allclose(rm.scores_, mutual_info_regression(X, y, random_state=3), atol=1e-12)


@pytest.mark.parametrize("method", ["dcor", "hsic", "mi"])
def test_nonlinear_methods_find_the_quadratic_effect_pearson_misses(rng, method):
    X, y = _planted(rng)
    assert Rank(n_features=2, method=method, random_state=0).fit(X, y).get_support(indices=True).tolist() == [0, 1]
    r = Rank(n_features=8).fit(X, y)
    assert abs(r.scores_[1]) < 0.1 and r.ranking_[0] == 1  # Pearson is blind to the symmetric x1^2 effect


def test_classification_planted_exact_support(rng):
    y = rng.integers(0, 3, size=400)
    X = rng.normal(size=(400, 12))
    X[:, 0] += 1.5 * (y == 0)  # mean shift
    X[:, 1] += 1.5 * (y == 2)
    X[:, 2] *= 1.0 + 2.0 * (y == 1)  # variance change only: F is blind to it
    for m in ("dcor", "hsic", "mi"):
        assert Rank(n_features=3, method=m, random_state=0).fit(X, y).get_support(indices=True).tolist() == [0, 1, 2]
    assert 2 not in Rank(n_features=2, method="f").fit(X, y).get_support(indices=True)
    np.testing.assert_allclose(Rank(3, method="f").fit(X, y).scores_, f_classif(X, y)[0], rtol=1e-10)


def test_equals_selectkbest_with_score_functions(rng):
    X, y = _planted(rng, n=200)
    for m, fn in [("pearson", pearson_score), ("spearman", spearman_score), ("kendall", kendall_score),
                  ("f", f_score), ("dcor", dcor_score), ("hsic", hsic_score)]:
        a = Rank(n_features=3, method=m).fit(X, y).get_support()
        b = SelectKBest(fn, k=3).fit(X, y).get_support()
        np.testing.assert_array_equal(a, b, err_msg=m)
    s, p = pearson_score(X, y)
    np.testing.assert_allclose(p, [stats.pearsonr(X[:, j], y).pvalue for j in range(8)], rtol=1e-8)
    s, p = spearman_score(X, y)
    np.testing.assert_allclose(p, [stats.spearmanr(X[:, j], y).pvalue for j in range(8)], rtol=1e-8)
    s, p = dcor_score(X, y)
    assert p is None
    s, p = dcor_score(X, y, n_permutations=19, random_state=0)
    assert p[0] == pytest.approx(0.05) and p.shape == (8,)
    s, _ = mi_score(X, y, random_state=0)
    np.testing.assert_allclose(s, mutual_info_regression(X, y, random_state=0), atol=1e-12)


def test_pipeline_and_gridsearch():
    X, y = make_classification(n_samples=200, n_features=10, n_informative=3, n_redundant=0, shuffle=False,
                               random_state=1)
    pipe = make_pipeline(Rank(n_features=3), LogisticRegression())
    gs = GridSearchCV(pipe, {"rank__n_features": [1, 3], "rank__method": ["pearson", "dcor"]}, cv=3).fit(X, y)
    assert gs.best_params_["rank__n_features"] == 3
    assert pipe.fit(X, y).score(X, y) > 0.7


def test_dataframe_feature_names_out(rng):
    X, y = _planted(rng, n=100)
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(8)])
    r = Rank(n_features=2, method="dcor").fit(df, y)
    assert list(r.get_feature_names_out()) == ["c0", "c1"]
    assert list(r.feature_names_in_) == list(df.columns)
    assert r.transform(df).shape == (100, 2)


def test_constant_drop_gives_nan_score_never_selected(rng):
    X, y = _planted(rng, n=100)
    X[:, 0] = 1.0
    with pytest.raises(ConstantFeatureError, match=r"\[0\]"):
        Rank(n_features=2).fit(X, y)
    with pytest.warns(UserWarning, match="dropped constant"):
        r = Rank(n_features=2, constant="drop").fit(X, y)
    assert np.isnan(r.scores_[0]) and r.ranking_[0] == 8 and not r.support_[0]


def test_ties_keep_the_lower_index(rng):
    x = rng.normal(size=(50, 1))
    X = np.hstack([x, x, x])
    y = x[:, 0] + rng.normal(size=50)
    assert Rank(n_features=1).fit(X, y).get_support(indices=True).tolist() == [0]
    assert Rank(n_features=2).fit(X, y).ranking_.tolist() == [1, 2, 3]


def test_bad_inputs(rng):
    X, y = _planted(rng, n=50)
    with pytest.raises(ShapeError, match=r"n_features=9 is larger than the number of features of X: X has 8"):
        Rank(n_features=9).fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        Rank(n_features=2).fit(Xn, y)
    with pytest.raises(FeatcorrError, match=r"only 1 class \(1\.0\)"):
        Rank(n_features=2, target="classification").fit(X, np.ones(50))
    with pytest.raises(FeatcorrError, match="inconsistent numbers of samples"):
        Rank(n_features=2).fit(X, y[:-1])
    df = pd.DataFrame({"a": X[:, 0], "s": ["u"] * 50})
    with pytest.raises(InputTypeError, match=r"non-numeric column\(s\) \['s'\]"):
        Rank(n_features=1).fit(df, y)
    # parameter errors: a FeatcorrError and scikit-learn's InvalidParameterError, with its words
    with pytest.raises(FeatcorrError, match="The 'method' parameter of Rank must be a str among") as err:
        Rank(method="spearmann").fit(X, y)
    assert isinstance(err.value, InvalidParameterError)
    with pytest.raises(FeatcorrError, match="The 'constant' parameter of MRMR must be a str among") as err:
        MRMR(constant="keep").fit(X, y)
    assert isinstance(err.value, InvalidParameterError)
    with pytest.raises(ShapeError, match="X has 7 features, but Rank is expecting 8"):
        Rank(n_features=2).fit(X, y).transform(X[:, :7])
