"""scikit-learn's estimator checks for featcorr's selectors (Rank, MRMR)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from featcorr.select import MRMR, Rank

ESTIMATORS = [
    Rank(n_features=2),
    Rank(n_features=2, method="kendall"),
    Rank(n_features=1, method="dcor"),
    Rank(n_features=1, method="mi", random_state=0),
    MRMR(n_features=2),
    MRMR(n_features=1, relevance="mi", redundancy="mi", random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
