"""Target-type detection (target="auto"): one rule for every selector and fc.dependence.

Non-regression for issue 5: scikit-learn's diabetes target (float, 214 whole
values in 442 rows) was taken for 214 classes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes, load_digits
from sklearn.feature_selection import f_classif, f_regression

import featcorr as fc
from featcorr.errors import FeatcorrError
from featcorr.select import MRMR, DisCo, FeatureGradients, HSICLasso, Rank, SequentialAttention
from featcorr.select._base import MAX_FLOAT_CLASSES, detect_task


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:, X.std(0) > 0], y  # digits has constant pixels


def _selectors():
    return [
        Rank(n_features=2, method="f"),
        MRMR(n_features=2),
        HSICLasso(n_features=2, B=0),
        DisCo(n_features=1, first_step="single", max_samples=64, random_state=0),
        SequentialAttention(n_features=2, mode="linear"),
        FeatureGradients(n_features=2, n_epochs=1, random_state=0),
    ]


def test_diabetes_is_regression_for_dependence_and_every_selector(diabetes):
    X, y = diabetes
    assert y.dtype == np.float64 and np.all(y == np.round(y)) and np.unique(y).size == 214
    np.testing.assert_allclose(fc.dependence(X, y, "f"), f_regression(X, y)[0], rtol=1e-10)
    for sel in _selectors():
        sel.fit(X, y)
        assert sel.task_ == "regression", type(sel).__name__
        assert not hasattr(sel, "classes_"), type(sel).__name__
    np.testing.assert_allclose(Rank(n_features=2, method="f").fit(X, y).scores_, f_regression(X, y)[0], rtol=1e-10)


def test_digits_is_classification_for_dependence_and_every_selector(digits):
    X, y = digits
    np.testing.assert_allclose(fc.dependence(X, y, "f"), f_classif(X, y)[0], rtol=1e-10)
    Xs, ys = X[:300], y[:300]
    Xs = Xs[:, Xs.std(0) > 0]
    for sel in _selectors():
        sel.fit(Xs, ys)
        assert sel.task_ == "classification", type(sel).__name__
        np.testing.assert_array_equal(sel.classes_, np.arange(10))


def test_float_labels_are_classes(rng):
    X = rng.normal(size=(150, 4))
    yi = rng.integers(0, 3, size=150)
    yf = yi.astype(np.float64)  # {0., 1., 2.}
    assert detect_task(yf) == "classification"
    np.testing.assert_allclose(fc.dependence(X, yf, "f"), f_classif(X, yi)[0], rtol=1e-10)
    np.testing.assert_allclose(fc.dependence(X, torch.as_tensor(yf, dtype=torch.float32), "f"),
                               f_classif(X, yi)[0], rtol=1e-10)
    sel = Rank(n_features=2, method="f").fit(X, yf)
    assert sel.task_ == "classification"
    np.testing.assert_array_equal(sel.classes_, [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("n", "n_distinct", "expected"),
    [
        (400, MAX_FLOAT_CLASSES, "classification"),
        (400, MAX_FLOAT_CLASSES + 1, "regression"),
        (10, 5, "classification"),  # at most n/2 distinct values
        (10, 6, "regression"),
        (3, 2, "regression"),
        (4, 2, "classification"),
    ],
)
def test_whole_float_rule_boundaries(n, n_distinct, expected):
    y = (np.arange(n) % n_distinct).astype(np.float64)
    assert detect_task(y) == expected


def test_label_dtypes_are_classes_whatever_their_count(rng):
    n = 500
    y_int = rng.integers(0, 300, size=n)  # int labels: classes even when many (ImageNet has 1000)
    assert detect_task(y_int) == "classification"
    assert detect_task(rng.normal(size=n) > 0) == "classification"
    assert detect_task(np.array(["a", "b", "c"] * 10, dtype=object)) == "classification"
    cat = pd.Series(pd.Categorical((np.arange(n) % 50).astype(np.float64)))  # 50 float categories
    X = rng.normal(size=(n, 3))
    codes = np.arange(n) % 50
    np.testing.assert_allclose(fc.dependence(X, cat, "f"), f_classif(X, codes)[0], rtol=1e-10)
    assert Rank(n_features=1, method="f").fit(X, cat).task_ == "classification"
    # the same values as plain floats: 50 > 20 distinct values -> regression
    np.testing.assert_allclose(fc.dependence(X, codes.astype(np.float64), "f"),
                               f_regression(X, codes.astype(np.float64))[0], rtol=1e-10)
    assert detect_task(np.array([0.5, 1.0, 2.0, 0.5])) == "regression"


def test_forced_target_overrides_the_rule(diabetes, rng):
    X, y = diabetes
    np.testing.assert_allclose(fc.dependence(X, y, "f", target="classification"), f_classif(X, y)[0], rtol=1e-10)
    sel = Rank(n_features=2, method="f", target="classification").fit(X, y)
    assert sel.task_ == "classification" and sel.classes_.shape == (214,)
    yi = rng.integers(0, 4, size=X.shape[0])
    np.testing.assert_allclose(fc.dependence(X, yi, "f", target="regression"), f_regression(X, yi)[0], rtol=1e-10)
    assert Rank(n_features=2, method="f", target="regression").fit(X, yi).task_ == "regression"


@pytest.mark.parametrize("y", [np.full(40, 3.0), np.full(40, 2), np.array(["a"] * 40)])
def test_single_class_still_raises(rng, y):
    X = rng.normal(size=(40, 3))
    with pytest.raises(FeatcorrError, match="only 1 class"):
        fc.dependence(X, y, "f")
    with pytest.raises(FeatcorrError, match="only 1 class"):
        Rank(n_features=1, method="f").fit(X, y)
