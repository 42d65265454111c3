"""Shared base of featcorr's scikit-learn feature selectors.

Every selector in :mod:`featcorr.select` derives from :class:`BaseSelector`
and follows scikit-learn's conventions (``SelectorMixin`` first, parameters
stored unchanged in ``__init__``, validated in ``fit`` through
``_parameter_constraints``). This module is the stable API the selectors build on:

``BaseSelector(SelectorMixin, BaseEstimator)``
    Parameters every selector has: ``n_features`` (int >= 1 or ``"all"``)
    and ``target`` (``"auto"``, ``"classification"`` or ``"regression"``).
    A subclass extends ``_parameter_constraints`` with its own keys
    (``{**BaseSelector._parameter_constraints, "alpha": [...]}``) and
    implements ``fit``, which typically reads::

        X, y, task, k = self._validate_fit(X, y)  # parameters, float64 X, encoded y, task, features to keep
        ...                                       # compute scores or a greedy order
        self._set_from_scores(scores, k)          # or self._set_from_order(order, scores)
        return self

    It gets ``transform``, ``get_support``, ``inverse_transform`` and
    ``get_feature_names_out`` from ``SelectorMixin``.

Fitted attributes set by the helpers
    ``n_features_in_``, ``feature_names_in_`` (pandas input only),
    ``task_`` (the detected or forced target type), ``classes_`` (classification),
    ``scores_`` (n_features_in_,), ``ranking_`` (rank of each feature, 1 = best, as
    scikit-learn's RFE), ``support_`` (boolean mask) and ``n_features_`` (how many were kept).

Helpers (module functions, also usable outside a selector)
    :func:`validate_Xy` -- X/y validation with scikit-learn's exact messages
    (its estimator checks match them) re-raised as
    :class:`~featcorr.errors.FeatcorrError` subclasses, plus a clear error
    naming non-numeric DataFrame columns; :func:`detect_task` -- target type
    detection with a ``force`` option; :func:`ranking_from_scores` and
    :func:`ranking_from_order`.

Target detection (``target="auto"``, :func:`detect_task`; the one rule every
selector and :func:`featcorr.dependence` use): y holds **class labels** when

- its dtype is bool, string/object or integer, or it is a pandas
  ``Categorical`` (labels are stored this way: scikit-learn datasets, torch's
  ``CrossEntropyLoss`` targets, ImageNet's 1000 int64 classes), or
- it is a float array whose values are all whole numbers and it has few
  distinct values: at most ``MAX_FLOAT_CLASSES`` = 20 and at most half the
  number of samples (float-cast labels such as ``y.float()`` or {0., 1., 2.});

otherwise y is a **regression** target: floats with fractions, and
whole-number floats with many distinct values (counts, scores, prices:
scikit-learn's ``load_diabetes`` target has 214 distinct whole values in 442
rows). The float rule differs from scikit-learn's ``type_of_target``, which
calls every whole-number float array "multiclass" (and only warns from
``check_classification_targets`` when more than half the samples are distinct
classes); 20 is above the class counts float-cast labels usually have and
below the distinct-value counts of whole-number measurements, and the
half-of-n bound keeps a class at two samples on average. Pass
``target="regression"`` to treat integer labels as numbers, or
``target="classification"`` to treat any y as classes. A classification y with
a single class raises.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import (
    ConstantFeatureError,
    FeatcorrError,
    InputTypeError,
    NonFiniteError,
    NotEnoughSamplesError,
    ShapeError,
)
from ._params import validate_params

__all__ = [
    "BaseSelector",
    "validate_Xy",
    "detect_task",
    "is_categorical",
    "MAX_FLOAT_CLASSES",
    "non_numeric_columns",
    "label_repr",
    "ranking_from_scores",
    "ranking_from_order",
    "target_matrix",
    "TASKS",
]

#: Values of the ``target`` parameter.
TASKS = ("auto", "classification", "regression")

#: Most distinct values a whole-number float y may have to be taken as class labels by ``target="auto"``.
MAX_FLOAT_CLASSES = 20


def label_repr(v: Any) -> str:
    """repr of a class label without numpy's type wrapper ('a', not np.str_('a'))."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def non_numeric_columns(X: Any) -> list[str]:
    """Names of the non-numeric (non bool/int/float) columns of a DataFrame; [] for other inputs."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    return [str(c) for c, dt in dtypes.items() if getattr(dt, "kind", "O") not in "biuf"]


def _wrap(exc: Exception, caller: str) -> FeatcorrError:
    """Re-raise a scikit-learn validation error as a FeatcorrError subclass, keeping its words."""
    msg = str(exc)
    if isinstance(exc, TypeError):
        return InputTypeError(msg)
    if "NaN" in msg or "inf" in msg:
        return NonFiniteError(msg)
    if "sample" in msg:
        return NotEnoughSamplesError(msg)
    if "feature" in msg or "dimension" in msg or "2D array" in msg or "shape" in msg:
        return ShapeError(msg)
    return FeatcorrError(msg)


def is_categorical(y: Any) -> bool:
    """True for a pandas ``Categorical`` y (Series, Index or array); read before y is converted to numpy."""
    return getattr(getattr(y, "dtype", None), "name", None) == "category"


def _few_whole_values(y: np.ndarray) -> bool:
    """Whether whole-number float y has few enough distinct values to be class labels (module docstring)."""
    n_distinct = np.unique(y).shape[0]
    return n_distinct <= MAX_FLOAT_CLASSES and 2 * n_distinct <= y.shape[0]


def detect_task(y: np.ndarray, target: str = "auto", *, caller: str = "featcorr", categorical: bool = False) -> str:
    """Return ``"classification"`` or ``"regression"`` for a 1-D target.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        The target, already converted to numpy.
    target : {"auto", "classification", "regression"}, default="auto"
        ``"auto"`` applies the rule of the module docstring; the other two force the type.
    caller : str, default="featcorr"
        Name used in messages.
    categorical : bool, default=False
        y was a pandas ``Categorical`` before conversion (:func:`is_categorical`): class labels.

    Returns
    -------
    {"classification", "regression"}

    Notes
    -----
    Class labels: bool, string/object, integer or categorical y, or float y
    whose values are all whole numbers with at most ``MAX_FLOAT_CLASSES`` (20)
    distinct values and at most n/2 of them. Everything else numeric is a
    regression target. Tested in ``tests/select/test_target_detection.py``
    (scikit-learn's diabetes -> regression, digits -> classification).
    """
    if target not in TASKS:
        raise FeatcorrError(f"{caller}: target={target!r} is not supported; choose one of {TASKS}.")
    if target != "auto":
        if target == "regression" and not (
            np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.bool_)
        ):
            raise FeatcorrError(
                f"{caller}: target='regression' needs numeric y, got dtype {y.dtype} (e.g. {y[0]!r}); "
                "encode y as numbers or use target='classification'."
            )
        return target
    if categorical:
        return "classification"
    kind = type_of_target(y, input_name="y")
    if kind in ("binary", "multiclass"):
        if y.dtype.kind == "f" and not _few_whole_values(y):
            return "regression"
        return "classification"
    if kind == "continuous":
        return "regression"
    raise FeatcorrError(
        f"{caller}: Unknown label type of target y (scikit-learn's type_of_target says {kind!r}); pass a "
        "1-D y of class labels or numbers, and set target='classification' or 'regression' if in doubt."
    )


def validate_Xy(
    estimator: BaseEstimator | None,
    X: Any,
    y: Any,
    *,
    target: str = "auto",
    reset: bool = True,
    multi_output: bool = False,
    min_samples: int = 2,
    caller: str | None = None,
) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
    """Validate X and y as a featcorr selector does.

    Parameters
    ----------
    estimator : BaseEstimator or None
        The selector: ``n_features_in_`` and ``feature_names_in_`` are set on it
        when ``reset`` (scikit-learn's ``validate_data``). ``None`` validates
        without an estimator (functions such as score functions).
    X : array-like of shape (n_samples, n_features)
        Numeric features; a DataFrame with non-numeric columns raises naming them.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Target. 2-D y is kept only when ``multi_output``; a (n, 1) column is raveled.
    target : {"auto", "classification", "regression"}, default="auto"
        Target type; ``"auto"`` detects it (see module docstring).
    reset : bool, default=True
    multi_output : bool, default=False
    min_samples : int, default=2
    caller : str, optional
        Name used in messages (default: the estimator's class name).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray
        float64 values for regression; integer class codes 0..C-1 for classification.
    task : {"classification", "regression"}
    classes : ndarray or None
        The sorted class labels (classification) or None.
    """
    caller = caller or (type(estimator).__name__ if estimator is not None else "featcorr")
    categorical = is_categorical(y)
    bad = non_numeric_columns(X)
    if bad:
        raise InputTypeError(
            f"{caller}: X has non-numeric column(s) {bad}; featcorr scores numeric features only. "
            "Encode them as numbers (e.g. one-hot or ordinal) or drop them first."
        )
    try:
        if estimator is not None:
            X, y = validate_data(
                estimator, X, y, reset=reset, dtype=np.float64, multi_output=True,
                ensure_min_samples=min_samples, y_numeric=False,
            )
        else:
            from sklearn.utils.validation import check_X_y

            X, y = check_X_y(X, y, dtype=np.float64, multi_output=True, ensure_min_samples=min_samples)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, FeatcorrError):
            raise
        raise _wrap(exc, caller) from None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and not multi_output:
        raise ShapeError(
            f"{caller}: y has shape {y.shape}, but this method scores one target; pass y of shape (n_samples,) "
            "(use method='dcor' or 'hsic' for a multivariate target)."
        )
    if y.ndim == 2:
        if target == "classification":
            raise ShapeError(f"{caller}: a classification target must be 1-D; y has shape {y.shape}.")
        yf = _numeric_y(y, caller)
        return X, yf, "regression", None
    task = detect_task(y, target, caller=caller, categorical=categorical)
    if task == "classification":
        classes, codes = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise FeatcorrError(
                f"{caller}: y has only 1 class ({label_repr(classes[0])}) in {y.shape[0]} samples; dependence on a "
                "single class is undefined. Pass samples of at least 2 classes."
            )
        return X, codes.astype(np.int64), task, classes
    yf = _numeric_y(y, caller)
    if np.all(yf == yf[0]):
        raise ConstantFeatureError(
            f"{caller}: y is constant (every value is {yf[0]!r}), so no feature can depend on it; "
            "pass a target that varies."
        )
    return X, yf, task, None


def _numeric_y(y: np.ndarray, caller: str) -> np.ndarray:
    try:
        yf = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise FeatcorrError(
            f"{caller}: a regression target must be numeric, got dtype {y.dtype}; encode y as numbers "
            "or use target='classification'."
        ) from None
    if not np.all(np.isfinite(yf)):
        raise NonFiniteError(
            f"{caller}: Input y contains NaN or inf ({int(np.sum(~np.isfinite(yf)))} value(s)); "
            "remove or impute those samples."
        )
    return yf


def target_matrix(y: np.ndarray, task: str) -> np.ndarray:
    """y as a float64 matrix: one-hot (n, n_classes) of class codes 0..C-1, or (n, n_targets) for regression."""
    if task == "classification":
        return np.eye(int(y.max()) + 1)[y]
    return np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)


def ranking_from_scores(scores: np.ndarray) -> np.ndarray:
    """Rank 1..p by decreasing score (NaN last); ties keep the lower index first (stable)."""
    s = np.asarray(scores, dtype=np.float64)
    key = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-key, kind="stable")
    nan_idx = np.flatnonzero(np.isnan(s))
    if nan_idx.size:  # -inf scores stay ahead of NaN
        order = np.concatenate([order[~np.isin(order, nan_idx)], nan_idx])
    ranking = np.empty(s.shape[0], dtype=np.int64)
    ranking[order] = np.arange(1, s.shape[0] + 1)
    return ranking


def ranking_from_order(order: Any, n_features: int, scores: np.ndarray | None = None) -> np.ndarray:
    """Ranking for greedy selectors: picked features 1..k in pick order, the rest after them.

    The rest are ordered by ``scores`` (decreasing, stable) when given, else by index.
    """
    order = [int(i) for i in order]
    ranking = np.zeros(n_features, dtype=np.int64)
    ranking[order] = np.arange(1, len(order) + 1)
    rest = np.setdiff1d(np.arange(n_features), order)
    if scores is not None and rest.size:
        sub = ranking_from_scores(np.asarray(scores, dtype=np.float64)[rest])
        rest = rest[np.argsort(sub, kind="stable")]
    ranking[rest] = np.arange(len(order) + 1, n_features + 1)
    return ranking


class BaseSelector(SelectorMixin, BaseEstimator):
    """Base of featcorr's selectors: parameters, validation and fitted attributes.

    Parameters
    ----------
    n_features : int or "all", default=10
        Number of features to keep. More than the number of features of X raises.
    target : {"auto", "classification", "regression"}, default="auto"
        Type of y; ``"auto"`` detects it (:func:`detect_task`: class labels
        for bool/str/int/categorical y and for whole-number floats with at
        most 20 distinct values and at most n/2; numbers otherwise).

    Notes
    -----
    Subclasses implement ``fit``; see the module docstring for the helpers.
    """

    _parameter_constraints: dict = {
        "n_features": [Interval(Integral, 1, None, closed="left"), StrOptions({"all"})],
        "target": [StrOptions(set(TASKS))],
    }

    def __init__(self, n_features: int | str = 10, *, target: str = "auto") -> None:
        self.n_features = n_features
        self.target = target

    # -- helpers for subclasses ------------------------------------------------
    def _validate_Xy(self, X: Any, y: Any, *, multi_output: bool = False, min_samples: int = 2):
        """Validate X, y; set n_features_in_, feature_names_in_, task_, classes_; return (X, y, task)."""
        X, y, task, classes = validate_Xy(
            self, X, y, target=self.target, reset=True, multi_output=multi_output, min_samples=min_samples
        )
        self.task_ = task
        if classes is not None:
            self.classes_ = classes
        elif hasattr(self, "classes_"):
            del self.classes_
        return X, y, task

    def _validate_fit(self, X: Any, y: Any, *, multi_output: bool = False, min_samples: int = 2):
        """The first steps of every ``fit``: parameters, then X and y, then n_features; return (X, y, task, k).

        Parameter errors are :class:`~featcorr.select._params.SelectorParameterError`
        (a FeatcorrError and scikit-learn's InvalidParameterError, with its words).
        """
        validate_params(self)
        X, y, task = self._validate_Xy(X, y, multi_output=multi_output, min_samples=min_samples)
        return X, y, task, self._n_select()

    def _n_select(self) -> int:
        """The number of features to keep, checked against n_features_in_."""
        p = self.n_features_in_
        if self.n_features == "all":
            return p
        if self.n_features > p:
            raise ShapeError(
                f"{type(self).__name__}: n_features={self.n_features} is larger than the number of features "
                f"of X: X has {p} feature(s). Pass n_features <= {p} or n_features='all'."
            )
        return int(self.n_features)

    def _set_from_scores(self, scores: Any, k: int) -> None:
        """Set scores_, ranking_, support_, n_features_ from one score per feature (higher = better)."""
        scores = np.asarray(scores, dtype=np.float64)
        self.scores_ = scores
        self.ranking_ = ranking_from_scores(scores)
        n_valid = int(np.sum(~np.isnan(scores)))
        if n_valid < k:
            warnings.warn(
                f"{type(self).__name__}: only {n_valid} feature(s) have a score (the others were dropped), "
                f"fewer than n_features={k}; keeping {n_valid}.",
                UserWarning,
                stacklevel=3,
            )
            k = n_valid
        self.support_ = self.ranking_ <= k
        self.n_features_ = int(k)

    def _set_from_order(self, order: Any, scores: Any | None = None) -> None:
        """Set ranking_, support_, n_features_ (and scores_ if given) from a greedy pick order."""
        p = self.n_features_in_
        if scores is not None:
            self.scores_ = np.asarray(scores, dtype=np.float64)
        self.ranking_ = ranking_from_order(order, p, scores)
        self.support_ = np.zeros(p, dtype=bool)
        self.support_[[int(i) for i in order]] = True
        self.n_features_ = len(order)

    def transform(self, X: Any) -> Any:
        """Keep the selected columns of X (n_samples, n_features_in_) -> (n_samples, n_features_)."""
        try:
            return super().transform(X)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, FeatcorrError):
                raise
            raise _wrap(exc, type(self).__name__) from None

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
