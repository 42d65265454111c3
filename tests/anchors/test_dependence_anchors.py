"""Cross-checks of fc.dependence("dcor") against dcor 0.7 and MRMR against mrmr-selection 0.2.8.

Run with ``pytest -m anchors tests/anchors``; both peers are in the ``anchors`` extra.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import featcorr as fc
from featcorr.select import MRMR

pytestmark = pytest.mark.anchors

dcor = pytest.importorskip("dcor")
mrmr = pytest.importorskip("mrmr")


def _data(rng, n, p=4):
    X = rng.normal(size=(n, p)) + 5.0
    X[:, 1] = np.maximum(X[:, 1] - 5.0, 0.0)  # ReLU ties
    y = X[:, 0] + X[:, 1] ** 2 + 0.5 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("n", [50, 1000, 20000])
def test_dcor_both_estimators_match_dcor(rng, n):
    X, y = _data(rng, n)
    got = fc.dependence(X, y, "dcor")
    got_u = fc.dependence(X, y, "dcor", unbiased=True)
    for j in range(X.shape[1]):
        # weak dependence cancels digits in dCov^2 at large n: dcor (uncentred sums) is off by ~2e-11 from a
        # long-double O(n^2) evaluation where featcorr (centred first) is off by ~6e-13, hence abs=1e-10
        assert got[j] == pytest.approx(dcor.distance_correlation(X[:, j], y), rel=1e-10, abs=1e-10)
        # the U-statistic cancels ~4 digits for weak dependence at n = 2e4: both sides round at ~1e-11
        assert got_u[j] == pytest.approx(dcor.u_distance_correlation_sqr(X[:, j], y), rel=1e-9, abs=1e-10)


def test_dcor_multivariate_and_exponent_match_dcor(rng):
    X, y = _data(rng, 200)
    Y = np.column_stack([y, rng.normal(size=200)])
    got = fc.dependence(X, Y, "dcor")
    got_u = fc.dependence(X, Y, "dcor", unbiased=True)
    got_e = fc.dependence(X, y, "dcor", exponent=0.5, target="regression")
    for j in range(X.shape[1]):
        x = X[:, j : j + 1]
        assert got[j] == pytest.approx(dcor.distance_correlation(x, Y), rel=1e-11)
        assert got_u[j] == pytest.approx(dcor.u_distance_correlation_sqr(x, Y), rel=1e-10, abs=1e-13)
        assert got_e[j] == pytest.approx(dcor.distance_correlation(X[:, j], y, exponent=0.5), rel=1e-11)


@pytest.mark.parametrize("seed", range(4))
def test_mrmr_same_selected_list_as_mrmr_selection(seed):
    from sklearn.datasets import make_classification, make_regression

    X, y = make_classification(n_samples=600, n_features=60, n_informative=8, n_redundant=12, n_classes=3,
                               random_state=seed)
    cols = [f"f{i}" for i in range(X.shape[1])]
    ref = mrmr.mrmr_classif(pd.DataFrame(X, columns=cols), pd.Series(y), K=15, show_progress=False, n_jobs=1)
    got = MRMR(n_features=15).fit(pd.DataFrame(X, columns=cols), y).get_feature_names_out().tolist()
    order = [cols[i] for i in MRMR(n_features=15).fit(X, y).order_]
    assert order == ref and sorted(got) == sorted(ref)
    for denominator in ("max",):
        ref = mrmr.mrmr_classif(pd.DataFrame(X, columns=cols), pd.Series(y), K=10, denominator=denominator,
                                show_progress=False, n_jobs=1)
        assert [cols[i] for i in MRMR(n_features=10, denominator=denominator).fit(X, y).order_] == ref
    X, y = make_regression(n_samples=600, n_features=60, n_informative=8, effective_rank=15, random_state=seed)
    ref = mrmr.mrmr_regression(pd.DataFrame(X, columns=cols), pd.Series(y), K=15, show_progress=False, n_jobs=1)
    assert [cols[i] for i in MRMR(n_features=15).fit(X, y).order_] == ref
