"""Rank: keep the features with the strongest dependence on the target."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ..measures._dependence import DEPENDENCE_METHODS, MULTIVARIATE_METHODS, SIGNED_METHODS
from ._base import BaseSelector
from ._dependence_api import selector_compute
from ._params import DEPENDENCE_PARAMETERS, method_options

__all__ = ["Rank"]


class Rank(BaseSelector):
    """Select the ``n_features`` features most dependent on the target, one feature at a time.

    Each feature gets a dependence score with y (:func:`featcorr.dependence`);
    signed scores (Pearson, Spearman, Kendall) are ranked by absolute value.
    Ties keep the lower column index first.

    Parameters
    ----------
    n_features : int or "all", default=10
        Number of features to keep (at most the number of features of X).
    method : {"pearson", "spearman", "kendall", "f", "dcor", "hsic", "mi"}, default="pearson"
        Dependence score (see :func:`featcorr.dependence`).
    target : {"auto", "classification", "regression"}, default="auto"
        Type of y; ``"auto"`` detects it (bool/str/int/categorical labels and
        whole-number floats with at most 20 distinct values are classes; see
        :class:`~featcorr.select.BaseSelector`).
    constant : {"raise", "drop"}, default="raise"
        Constant features: raise :class:`~featcorr.errors.ConstantFeatureError`
        naming them, or give them a NaN score (never selected, ranked last) with a warning.
    method_params : dict, optional
        Options of the method, e.g. ``{"unbiased": True}`` for dcor or
        ``{"kernel": "linear"}`` for hsic.
    random_state : int, RandomState or None, default=None
        Seed of ``method="mi"``'s jitter (as scikit-learn's ``mutual_info_*``).

    Attributes
    ----------
    scores_ : ndarray of shape (n_features_in_,)
        Dependence scores (signed for Pearson/Spearman/Kendall; NaN for dropped constant features).
    ranking_ : ndarray of shape (n_features_in_,)
        Rank of each feature by |score|, 1 = best (as scikit-learn's RFE).
    support_ : ndarray of shape (n_features_in_,), bool
        Mask of the kept features.
    n_features_ : int
        Number of kept features.
    task_ : str
        ``"classification"`` or ``"regression"``.
    classes_ : ndarray
        Class labels (classification only).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names when X is a DataFrame.

    See Also
    --------
    featcorr.dependence : the scores.
    MRMR : greedy selection that also penalises redundancy.

    Notes
    -----
    Equals ``sklearn.feature_selection.SelectKBest`` with the matching score
    function (e.g. ``SelectKBest(featcorr.select.dcor_score, k=...)``) up to
    tie-breaking; tested against scipy/scikit-learn scores and planted data in
    ``tests/select/test_rank.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.select import Rank
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5))
    >>> y = X[:, 3] ** 2 + 0.1 * rng.normal(size=300)
    >>> Rank(n_features=1, method="dcor").fit(X, y).get_support(indices=True)
    array([3])
    """

    _parameter_constraints: dict = {
        **BaseSelector._parameter_constraints,
        "method": [StrOptions(set(DEPENDENCE_METHODS))],
        **DEPENDENCE_PARAMETERS,
    }

    def __init__(
        self,
        n_features: int | str = 10,
        method: str = "pearson",
        *,
        target: str = "auto",
        constant: str = "raise",
        method_params: dict | None = None,
        random_state: Any = None,
    ) -> None:
        super().__init__(n_features, target=target)
        self.method = method
        self.constant = constant
        self.method_params = method_params
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> Rank:
        """Score every feature and keep the best ``n_features``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) (or (n_samples, n_targets) for dcor and hsic)

        Returns
        -------
        self : Rank
        """
        X, y, _, k = self._validate_fit(X, y, multi_output=self.method in MULTIVARIATE_METHODS)
        s, keep, _, _ = selector_compute(self, X, y, self.method, method_options(self, self.method))
        scores = np.full(X.shape[1], np.nan)  # NaN for constant columns dropped with constant='drop'
        scores[keep] = s.cpu().numpy()
        self._set_from_scores(np.abs(scores) if self.method in SIGNED_METHODS else scores, k)
        self.scores_ = scores
        return self
