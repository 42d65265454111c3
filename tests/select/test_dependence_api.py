"""fc.dependence / fc.dependence_test: outputs, streaming, target handling and every bad-input path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from sklearn.feature_selection import f_classif, f_regression

import featcorr as fc
from featcorr.errors import (
    ConstantFeatureError,
    FeatcorrError,
    NonFiniteError,
    ShapeError,
    UnknownOptionError,
)
from featcorr.select import DependenceTest

METHODS = ["pearson", "spearman", "kendall", "f", "dcor", "hsic", "mi"]


def _xy(rng, n=120, p=4):
    X = rng.normal(size=(n, p))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.normal(size=n)
    return X, y


def test_dataframe_gives_series_indexed_by_column(rng):
    X, y = _xy(rng)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    for m in METHODS:
        s = fc.dependence(df, pd.Series(y), m)
        assert isinstance(s, pd.Series) and list(s.index) == ["a", "b", "c", "d"]
        np.testing.assert_allclose(s.to_numpy(), fc.dependence(X, y, m), rtol=1e-12)


def test_numpy_gives_array_and_torch_input_works(rng):
    X, y = _xy(rng)
    r = fc.dependence(X, y)
    assert isinstance(r, np.ndarray) and r.shape == (4,)
    np.testing.assert_allclose(fc.dependence(torch.from_numpy(X), torch.from_numpy(y)), r, rtol=1e-13)
    np.testing.assert_allclose(r, [stats.pearsonr(X[:, j], y).statistic for j in range(4)], atol=1e-13)


@pytest.mark.parametrize("method", ["pearson", "f"])
def test_streaming_chunks_equal_whole_data(rng, method):
    X, y = _xy(rng, n=300)
    X = X + 1e3  # offsets: Chan merges keep digits
    whole = fc.dependence(X, y, method, target="regression")
    chunks = [(X[a : a + 70], y[a : a + 70]) for a in range(0, 300, 70)]
    np.testing.assert_allclose(fc.dependence(iter(chunks), method=method, target="regression"), whole, rtol=1e-11)
    r = np.array([stats.pearsonr(X[:, j], y).statistic for j in range(4)])
    # (scikit-learn's f_regression subtracts n * mean^2 from raw sums and loses ~1e-9 at offset 1e3)
    np.testing.assert_allclose(whole, r**2 / (1 - r**2) * 298 if method == "f" else r, rtol=1e-11)


def test_streaming_f_classification_with_classes_equals_f_classif(rng):
    X, _ = _xy(rng, n=300)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, size=300)]
    X[y == "b", 0] += 1.0
    chunks = ((X[a : a + 64], y[a : a + 64]) for a in range(0, 300, 64))
    got = fc.dependence(chunks, method="f", target="classification", classes=["a", "b", "c"])
    np.testing.assert_allclose(got, f_classif(X, y)[0], rtol=1e-10)
    np.testing.assert_allclose(fc.dependence(X, y, "f"), f_classif(X, y)[0], rtol=1e-10)


def test_streaming_dataframe_chunks_give_series(rng):
    X, y = _xy(rng, n=100)
    df = pd.DataFrame(X, columns=list("abcd"))
    s = fc.dependence(((df.iloc[a : a + 30], y[a : a + 30]) for a in range(0, 100, 30)))
    assert list(s.index) == list("abcd")
    np.testing.assert_allclose(s.to_numpy(), fc.dependence(X, y), rtol=1e-12)


def test_binary_labels_point_biserial_and_string_labels(rng):
    X, _ = _xy(rng)
    yb = (X[:, 0] > 0).astype(int)
    np.testing.assert_allclose(fc.dependence(X, yb), [stats.pointbiserialr(yb, X[:, j]).statistic for j in range(4)],
                               atol=1e-13)
    ys = np.where(yb == 1, "pos", "neg")
    np.testing.assert_allclose(fc.dependence(X, ys), fc.dependence(X, yb), atol=1e-14)
    np.testing.assert_allclose(fc.dependence(X, ys, "f"), f_classif(X, yb)[0], rtol=1e-11)


def test_target_force_option(rng):
    X, _ = _xy(rng)
    y = rng.integers(0, 5, size=X.shape[0])
    # auto: integer labels are classes (ANOVA F); forced regression: F of the linear fit
    np.testing.assert_allclose(fc.dependence(X, y, "f"), f_classif(X, y)[0], rtol=1e-10)
    np.testing.assert_allclose(fc.dependence(X, y, "f", target="regression"), f_regression(X, y)[0], rtol=1e-10)


def test_constant_features_raise_naming_them_or_drop_with_warning(rng):
    X, y = _xy(rng)
    X[:, 2] = 3.7
    df = pd.DataFrame(X, columns=["a", "b", "dead", "d"])
    for m in METHODS:
        with pytest.raises(ConstantFeatureError, match=r"constant column\(s\) \['dead'\]"):
            fc.dependence(df, y, m)
    with pytest.raises(ConstantFeatureError, match=r"feature index\(es\) \[2\]"):
        fc.dependence(X, y, "dcor")
    with pytest.warns(UserWarning, match="dropped constant column"):
        s = fc.dependence(df, y, "dcor", constant="drop")
    assert list(s.index) == ["a", "b", "d"] and np.all(np.isfinite(s))
    with pytest.warns(UserWarning):
        a = fc.dependence(X, y, "pearson", constant="drop")
    np.testing.assert_allclose(a, fc.dependence(X[:, [0, 1, 3]], y), rtol=1e-13)
    with pytest.raises(ConstantFeatureError, match="constant"):
        fc.dependence(iter([(X[:50], y[:50]), (X[50:], y[50:])]))


def test_bad_inputs(rng):
    X, y = _xy(rng)
    df = pd.DataFrame({"a": X[:, 0], "city": ["x"] * len(y), "when": pd.Timestamp("2020-01-01")})
    with pytest.raises(FeatcorrError, match=r"non-numeric column\(s\) \['city', 'when'\]"):
        fc.dependence(df, y)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        fc.dependence(Xn, y, "dcor")
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="inf"):
        fc.dependence(Xi, y)
    yn = y.copy()
    yn[5] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        fc.dependence(X, yn)
    with pytest.raises(ShapeError, match="X has 120 samples but y has 119"):
        fc.dependence(X, y[:-1])
    with pytest.raises(FeatcorrError, match=r"only 1 class \('a'\)"):
        fc.dependence(X, np.array(["a"] * len(y)), "f")
    with pytest.raises(ConstantFeatureError, match="y is constant"):
        fc.dependence(X, np.full(len(y), 2.5))
    with pytest.raises(UnknownOptionError, match="method='pearsn' is not supported"):
        fc.dependence(X, y, "pearsn")
    with pytest.raises(UnknownOptionError, match=r"takes no option\(s\) \['kernel'\]"):
        fc.dependence(X, y, "dcor", kernel="rbf")
    with pytest.raises(UnknownOptionError, match=r"exponent must be in \(0, 2\)"):
        fc.dependence(X, y, "dcor", exponent=2.0)
    with pytest.raises(ShapeError, match="scores one target column"):
        fc.dependence(X, np.column_stack([y, y]), "pearson")
    with pytest.raises(ShapeError, match=r"1-D with shape \(120,\)"):
        fc.dependence(X[:, 0], y)
    with pytest.raises(FeatcorrError, match="needs all samples at once"):
        fc.dependence(iter([(X, y)]), method="dcor")
    with pytest.raises(FeatcorrError, match="non-numeric classes"):
        fc.dependence(X, np.array(["a", "b", "c"])[rng.integers(0, 3, len(y))], "pearson")
    with pytest.raises(FeatcorrError, match="minimum of 2"):
        fc.dependence(X[:1], y[:1])
    with pytest.raises(ShapeError, match="y has shape"):
        fc.dependence(iter([(X, y[:10])]))
    with pytest.raises(FeatcorrError, match="was empty"):
        fc.dependence(iter([]))
    with pytest.raises(FeatcorrError, match="cannot detect the target type"):
        fc.dependence(iter([(X, y)]), method="f")


def test_multivariate_target_for_dcor_and_hsic(rng):
    X, y = _xy(rng, n=60)
    Y = np.column_stack([y, X[:, 2] ** 2])
    d = fc.dependence(X, Y, "dcor")
    assert d.shape == (4,) and d[2] > d[3]
    h = fc.dependence(X, Y, "hsic", normalized=True)
    assert h.shape == (4,) and np.all((h >= 0) & (h <= 1))


def test_dependence_test_pvalues(rng):
    X, y = _xy(rng, n=150)
    X = np.column_stack([X, rng.normal(size=150)])
    res = fc.dependence_test(X, y, "pearson", n_permutations=199, random_state=0)
    assert isinstance(res, DependenceTest)
    np.testing.assert_allclose(res.statistic, fc.dependence(X, y), rtol=1e-13)
    assert res.pvalue[0] == pytest.approx(1 / 200) and res.pvalue[1] == pytest.approx(1 / 200)
    assert res.pvalue[4] > 0.01
    # a permutation p-value of the null feature is close to the analytic one
    assert res.pvalue[4] == pytest.approx(stats.pearsonr(X[:, 4], y).pvalue, abs=0.1)
    again = fc.dependence_test(X, y, "pearson", n_permutations=199, random_state=0)
    np.testing.assert_array_equal(again.pvalue, res.pvalue)
    frame = fc.dependence_test(pd.DataFrame(X), y, "dcor", n_permutations=9, random_state=1).to_frame()
    assert list(frame.columns) == ["statistic", "pvalue"] and len(frame) == 5
    with pytest.raises(FeatcorrError, match="n_permutations must be a positive int"):
        fc.dependence_test(X, y, n_permutations=0)


def test_lazy_exports():
    import featcorr

    assert featcorr.select.Rank.__name__ == "Rank"
    assert callable(featcorr.dependence) and callable(featcorr.dependence_test)
    for name in featcorr.select.__all__:
        assert hasattr(featcorr.select, name)
