"""Score functions ``(X, y) -> (scores, pvalues)`` for scikit-learn's ``SelectKBest`` and friends.

Each wraps :func:`featcorr.dependence` on one method. Scores are
non-negative (absolute values for the signed Pearson, Spearman and Kendall),
so that ``SelectKBest`` keeps the strongest dependences. P-values are
analytic where a standard test exists (Pearson and Spearman: Student t with
n - 2 degrees of freedom, as ``scipy.stats.pearsonr`` / ``spearmanr``;
F: the F distribution, as scikit-learn's ``f_classif`` / ``f_regression``),
permutation p-values when ``n_permutations`` > 0 is passed (use
``functools.partial``), and ``None`` otherwise (``SelectKBest`` only needs scores).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ._base import validate_Xy
from ._dependence_api import dependence, dependence_test

__all__ = ["pearson_score", "spearman_score", "kendall_score", "f_score", "dcor_score", "hsic_score", "mi_score"]


def _run(method: str, X: Any, y: Any, n_permutations: int, random_state: Any, target: str, options: dict):
    caller = f"{method}_score"
    multi = method in ("dcor", "hsic")
    Xv, yv, task, classes = validate_Xy(None, X, y, target=target, multi_output=multi, caller=caller)
    y_in = classes[yv] if classes is not None else yv
    if n_permutations:
        res = dependence_test(Xv, y_in, method, n_permutations=n_permutations, random_state=random_state,
                              target=task, **options)
        s, pv = np.asarray(res.statistic), np.asarray(res.pvalue)
    else:
        s = np.asarray(dependence(Xv, y_in, method, target=task, **options))
        pv = None
    n = Xv.shape[0]
    if pv is None and method in ("pearson", "spearman"):
        with np.errstate(divide="ignore"):
            t = s * np.sqrt((n - 2) / ((1.0 - s) * (1.0 + s)))
        pv = 2 * stats.t.sf(np.abs(t), n - 2)
    if pv is None and method == "f":
        if task == "classification":
            C = len(classes)
            pv = stats.f.sf(s, C - 1, n - C)
        else:
            pv = stats.f.sf(s, 1, n - 2)
    if method in ("pearson", "spearman", "kendall"):
        s = np.abs(s)
    return s, pv


def pearson_score(X: Any, y: Any, *, n_permutations: int = 0, random_state: Any = None,
                  target: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """|Pearson r| of each feature with y, and two-sided p-values (t test, or permutations).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_permutations : int, default=0
        0: analytic p-values; > 0: permutation p-values.
    random_state : int or None
    target : {"auto", "classification", "regression"}

    Returns
    -------
    scores : ndarray of shape (n_features,)
    pvalues : ndarray of shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.feature_selection import SelectKBest
    >>> from featcorr.select import pearson_score
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(100, 4)); y = -X[:, 2] + 0.1 * rng.normal(size=100)
    >>> SelectKBest(pearson_score, k=1).fit(X, y).get_support(indices=True)
    array([2])
    """
    return _run("pearson", X, y, n_permutations, random_state, target, {})


def spearman_score(X: Any, y: Any, *, n_permutations: int = 0, random_state: Any = None,
                   target: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """|Spearman rho| of each feature with y, and two-sided p-values (t approximation as scipy, or permutations).

    Parameters and returns as :func:`pearson_score`.
    """
    return _run("spearman", X, y, n_permutations, random_state, target, {})


def kendall_score(X: Any, y: Any, *, n_permutations: int = 0, random_state: Any = None,
                  target: str = "auto") -> tuple[np.ndarray, np.ndarray | None]:
    """|Kendall tau-b| of each feature with y; permutation p-values when ``n_permutations`` > 0, else None.

    Parameters and returns as :func:`pearson_score`.
    """
    return _run("kendall", X, y, n_permutations, random_state, target, {})


def f_score(X: Any, y: Any, *, n_permutations: int = 0, random_state: Any = None,
            target: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """F statistic (ANOVA for class labels, regression F for numbers) and its p-values.

    Parameters and returns as :func:`pearson_score`; equals scikit-learn's
    ``f_classif`` / ``f_regression`` on the detected target type.
    """
    return _run("f", X, y, n_permutations, random_state, target, {})


def dcor_score(X: Any, y: Any, *, n_permutations: int = 0, random_state: Any = None, target: str = "auto",
               **options: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Distance correlation of each feature with y (``options``: unbiased, exponent); p-values by permutation.

    Parameters and returns as :func:`pearson_score`; see :func:`featcorr.dependence` for the options.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.feature_selection import SelectKBest
    >>> from featcorr.select import dcor_score
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 4)); y = X[:, 1] ** 2
    >>> SelectKBest(dcor_score, k=1).fit(X, y).get_support(indices=True)
    array([1])
    """
    return _run("dcor", X, y, n_permutations, random_state, target, options)


def hsic_score(X: Any, y: Any, *, n_permutations: int = 0, random_state: Any = None, target: str = "auto",
               **options: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """HSIC of each feature with y (``options``: kernel, bandwidth, unbiased, normalized, y_kernel).

    Parameters and returns as :func:`pearson_score`; see :func:`featcorr.dependence` for the options.
    """
    return _run("hsic", X, y, n_permutations, random_state, target, options)


def mi_score(X: Any, y: Any, *, n_permutations: int = 0, random_state: Any = None, target: str = "auto",
             n_neighbors: int = 3) -> tuple[np.ndarray, np.ndarray | None]:
    """k-NN mutual information of each feature with y (scikit-learn's estimator, seeded by ``random_state``).

    Parameters and returns as :func:`pearson_score`, plus ``n_neighbors``.
    """
    return _run("mi", X, y, n_permutations, random_state, target,
                {"n_neighbors": n_neighbors, "random_state": random_state})
