"""Rank: keep the features with the strongest dependence on the target."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ..measures._dependence import DEPENDENCE_METHODS, MULTIVARIATE_METHODS, SIGNED_METHODS
from ._base import BaseSelector
from ._dependence_api import _compute

__all__ = ["Rank"]


def _scores_for(est: BaseSelector, X: np.ndarray, y: np.ndarray, method: str, options: dict) -> np.ndarray:
    """Scores (p,) of validated X, y with constant columns NaN when constant='drop'."""
    yv = est.classes_[y] if est.task_ == "classification" else y
    if not X.flags.writeable:  # read-only memmaps: torch wants writable memory
        X = np.array(X)
    s, keep, _, _ = _compute(
        X, yv, method, est.task_, est.constant, None, type(est).__name__, options
    )
    out = np.full(X.shape[1], np.nan)
    out[keep] = s.cpu().numpy()
    return out


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
        :class:`~featcorr.select._base.BaseSelector`).
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
        "constant": [StrOptions({"raise", "drop"})],
        "method_params": [dict, None],
        "random_state": ["random_state"],
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
        self._validate_params()
        X, y, _ = self._validate_Xy(X, y, multi_output=self.method in MULTIVARIATE_METHODS)
        k = self._n_select()
        options = dict(self.method_params or {})
        if self.method == "mi" and "random_state" not in options:
            options["random_state"] = self.random_state
        scores = _scores_for(self, X, y, self.method, options)
        self._set_from_scores(np.abs(scores) if self.method in SIGNED_METHODS else scores, k)
        self.scores_ = scores
        return self
