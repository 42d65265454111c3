"""MRMR: greedy maximum-relevance minimum-redundancy selection (FCQ by default, as mrmr-selection)."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import NotEnoughSamplesError
from ..measures._dependence import DEPENDENCE_METHODS, SIGNED_METHODS, dependence_scores, one_hot
from ..measures._mi import mi_scores
from ..measures._xy_moments import f_classif_from, f_regression_from, x_means, xy_moments, xy_sums, xy_update
from ._base import BaseSelector
from ._dependence_api import selector_compute
from ._params import DEPENDENCE_PARAMETERS, method_options

__all__ = ["MRMR"]


class MRMR(BaseSelector):
    """Minimum-redundancy maximum-relevance feature selection.

    Greedy: the first pick is the most relevant feature; each next pick
    maximises, over the not yet selected features f with relevance > 0,

    - ``scheme="quotient"``: relevance(f) / D(f) (FCQ, MIQ),
    - ``scheme="difference"``: relevance(f) - D(f) (FCD, MID),

    where D(f) is the mean (``denominator="mean"``) or max of redundancy(f, s)
    over the selected features s. The default reproduces mrmr-selection's
    ``mrmr_classif`` / ``mrmr_regression`` (relevance ``'f'``, redundancy
    ``'c'``, denominator ``'mean'``) exactly: relevance is scikit-learn's
    F statistic (``f_classif`` for a classification target, ``f_regression``
    for a regression one), redundancy is |Pearson r| clipped below at
    ``redundancy_floor`` = 0.001, features with relevance <= 0 are never
    selected, and a quotient denominator of exactly 1 (a perfect copy of the
    selected features) gives score 0.

    Parameters
    ----------
    n_features : int or "all", default=10
        Number of features to select. Fewer are selected (with a warning) when
        fewer features have a positive relevance.
    relevance : {"f", "mi", "pearson", "spearman", "kendall", "dcor", "hsic"}, default="f"
        Feature-target relevance (:func:`featcorr.dependence`; absolute values for signed scores).
    redundancy : {"pearson", "mi"}, default="pearson"
        Feature-feature redundancy: |Pearson r| or k-NN mutual information
        (scikit-learn's estimator, 3 neighbours).
    scheme : {"quotient", "difference"}, default="quotient"
    denominator : {"mean", "max"}, default="mean"
    redundancy_floor : float, default=0.001
        Redundancies below it are raised to it (mrmr-selection's FLOOR).
    target : {"auto", "classification", "regression"}, default="auto"
    constant : {"raise", "drop"}, default="raise"
        Constant features: raise naming them, or never select them (with a warning).
    method_params : dict, optional
        Options of the relevance method (see :func:`featcorr.dependence`).
    random_state : int, RandomState or None, default=None
        Seed of the k-NN MI jitter when relevance or redundancy is ``"mi"``.

    Attributes
    ----------
    scores_ : ndarray of shape (n_features_in_,)
        Relevance of each feature (NaN for dropped constant features).
    selection_scores_ : ndarray of shape (n_features_,)
        MRMR score of each pick when it was picked.
    order_ : ndarray of shape (n_features_,)
        Selected feature indices in pick order.
    ranking_ : ndarray of shape (n_features_in_,)
        1..n_features_ in pick order, then the others by relevance.
    support_ : ndarray of bool
    n_features_ : int
    task_, classes_, n_features_in_, feature_names_in_ :
        As in :class:`Rank`.

    Notes
    -----
    Each step needs one new column of the correlation matrix -- the
    correlation of the last pick with every feature -- computed as one
    matrix-vector product with the last pick's centred column, divided by the
    column norms from the streaming moments (:class:`featcorr.stats.Moments`)
    of the relevance pass, which also give the F statistics; the D x D matrix
    is never formed, so k picks cost O(k n D). Tested against
    mrmr-selection 0.2.8 (same selected list) in
    ``tests/anchors/test_dependence_anchors.py`` and a brute-force
    re-implementation in ``tests/select/test_mrmr.py``.

    References
    ----------
    .. [1] Peng, Long & Ding, "Feature selection based on mutual information: criteria of max-dependency,
       max-relevance, and min-redundancy", IEEE TPAMI 27(8), 2005.
    .. [2] Zhao, Anand & Wang, "Maximum relevance and minimum redundancy feature selection methods for a
       marketing machine learning platform", arXiv 1908.05376, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.select import MRMR
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(400, 3))
    >>> X = np.column_stack([z[:, 0], z[:, 0] + 0.01 * rng.normal(size=400), z[:, 1], z[:, 2]])
    >>> y = z[:, 0] + 0.8 * z[:, 1] + 0.1 * rng.normal(size=400)
    >>> MRMR(n_features=2).fit(X, y).order_.tolist()  # the near copy (column 1) is skipped
    [0, 2]
    """

    _parameter_constraints: dict = {
        **BaseSelector._parameter_constraints,
        "relevance": [StrOptions(set(DEPENDENCE_METHODS))],
        "redundancy": [StrOptions({"pearson", "mi"})],
        "scheme": [StrOptions({"quotient", "difference"})],
        "denominator": [StrOptions({"mean", "max"})],
        "redundancy_floor": [Interval(Real, 0, None, closed="left")],
        **DEPENDENCE_PARAMETERS,
    }

    def __init__(
        self,
        n_features: int | str = 10,
        *,
        relevance: str = "f",
        redundancy: str = "pearson",
        scheme: str = "quotient",
        denominator: str = "mean",
        redundancy_floor: float = 0.001,
        target: str = "auto",
        constant: str = "raise",
        method_params: dict | None = None,
        random_state: Any = None,
    ) -> None:
        super().__init__(n_features, target=target)
        self.relevance = relevance
        self.redundancy = redundancy
        self.scheme = scheme
        self.denominator = denominator
        self.redundancy_floor = redundancy_floor
        self.constant = constant
        self.method_params = method_params
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> MRMR:
        """Select features greedily.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : MRMR
        """
        X, y, task, k = self._validate_fit(X, y)
        options = method_options(self, self.relevance)
        _, keep, _, data = selector_compute(self, X, y, self.relevance, options, score=False)
        tX, ty, rtask, n_classes = data  # X without constant columns, (n, p_kept) float64 tensor
        # one streaming moments pass gives the F relevance and the column norms of the redundancy step
        Y = one_hot(ty, n_classes) if rtask == "classification" else ty.to(torch.float64)[:, None]
        snap = xy_update(xy_moments(tX.shape[1]), tX, Y).finalize()
        sxx = xy_sums(snap, tX.shape[1])[2]
        if self.relevance == "f":
            if tX.shape[0] <= (n_classes if rtask == "classification" else 2):
                raise NotEnoughSamplesError(f"MRMR: the F statistic needs more samples than classes; n={tX.shape[0]}.")
            rel_t = f_classif_from(snap, tX.shape[1]) if rtask == "classification" else f_regression_from(
                snap, tX.shape[1])
        else:
            rel_t = dependence_scores(tX, ty, method=self.relevance, task=rtask, n_classes=n_classes,
                                      caller="MRMR", **options)
        rel = rel_t.cpu().numpy()
        if self.relevance in SIGNED_METHODS:
            rel = np.abs(rel)
        relevance = np.full(X.shape[1], np.nan)
        relevance[keep] = rel
        order, picked_scores = self._greedy(tX, rel, k, x_means(snap, tX.shape[1]), sxx)
        order = [int(keep[i]) for i in order]
        if len(order) < k:
            import warnings

            warnings.warn(
                f"MRMR: only {len(order)} feature(s) have a positive relevance, fewer than n_features={k}; "
                f"selected {len(order)}.",
                UserWarning,
                stacklevel=2,
            )
        self._set_from_order(order, relevance)
        self.order_ = np.asarray(order, dtype=np.int64)
        self.selection_scores_ = np.asarray(picked_scores, dtype=np.float64)
        return self

    def _greedy(
        self, X: torch.Tensor, rel: np.ndarray, k: int, mean: torch.Tensor, sxx: torch.Tensor
    ) -> tuple[list[int], list[float]]:
        """Greedy picks among columns of X (n, p) with relevance ``rel`` and centred sums of squares ``sxx``."""
        n, p = X.shape
        cand = np.nan_to_num(rel, nan=0.0) > 0
        k = min(k, int(cand.sum()))
        floor = float(self.redundancy_floor)
        norms = torch.sqrt(sxx)
        red_sum = np.zeros(p)
        red_max = np.zeros(p)
        order: list[int] = []
        scores: list[float] = []
        for i in range(k):
            if i == 0:
                score = rel.copy()
            else:
                s = order[-1]
                if self.redundancy == "pearson":
                    xs = X[:, s] - mean[s]
                    c = torch.mv(X.T, xs) - mean * xs.sum()
                    r = (c / (norms * norms[s])).abs()
                    near = torch.nonzero(r > 0.999999).flatten().tolist()
                    r = r.cpu().numpy()
                    for j in near:  # identical columns correlate exactly 1 (rounding could miss it)
                        if torch.equal(X[:, j], X[:, s]):
                            r[j] = 1.0
                else:
                    Xn = X.cpu().numpy()
                    r = mi_scores(Xn, Xn[:, s], discrete_target=False, random_state=self.random_state)
                r = np.maximum(np.nan_to_num(r, nan=floor), floor)
                red_sum += r
                np.maximum(red_max, r, out=red_max)
                denom = red_sum / i if self.denominator == "mean" else red_max
                if self.scheme == "quotient":
                    with np.errstate(divide="ignore", invalid="ignore"):
                        score = np.where(denom == 1.0, 0.0, rel / denom)
                else:
                    score = rel - denom
            score = np.where(cand, score, -np.inf)
            if order:
                score[order] = -np.inf
            best = int(np.argmax(score))
            order.append(best)
            scores.append(float(score[best]))
        return order, scores

