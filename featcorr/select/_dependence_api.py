"""``fc.dependence`` and ``fc.dependence_test``: how much each feature depends on a target.

Validation (shapes, NaN/inf, non-numeric columns, constant features, target
type) happens here; the numbers come from the pure functions of
:mod:`featcorr.measures._dependence`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._validation import as_2d, check_finite, check_option, check_same_n
from ..errors import ConstantFeatureError, FeatcorrError, ShapeError
from ..measures._dependence import (
    DEPENDENCE_METHODS,
    MULTIVARIATE_METHODS,
    SIGNED_METHODS,
    STREAMING_METHODS,
    dependence_scores,
    one_hot,
    resolve_options,
)
from ..measures._xy_moments import f_classif_from, f_regression_from, pearson_from, xy_moments, xy_update
from ._base import detect_task, is_categorical, label_repr

__all__ = ["dependence", "dependence_test", "DependenceTest", "prepare_target", "selector_compute"]

CONSTANT_OPTIONS = ("raise", "drop")


def _is_array_like(X: Any) -> bool:
    return isinstance(X, (np.ndarray, torch.Tensor, pd.DataFrame, pd.Series, list, tuple))


def prepare_target(
    y: Any, n: int, device: torch.device, *, method: str, target: str, caller: str
) -> tuple[torch.Tensor, str, int | None]:
    """Validate y and return (tensor on ``device``, task, n_classes).

    Classification targets become int64 codes 0..C-1, except for the signed
    rank/linear methods with numeric labels, which use the label values
    (Pearson of a binary y is the point-biserial correlation).
    """
    if y is None:
        raise FeatcorrError(f"{caller}: y is None; pass the target (one value per sample).")
    categorical = is_categorical(y)
    if isinstance(y, (pd.DataFrame, pd.Series)):
        y = y.to_numpy()
    if isinstance(y, torch.Tensor):
        yt = y.detach()
        y_np = yt.cpu().numpy()
    else:
        y_np = np.asarray(y)
        yt = None
    if y_np.ndim == 0 or y_np.ndim > 2:
        raise ShapeError(f"{caller}: y must have shape (n_samples,) or (n_samples, n_targets); got {y_np.shape}.")
    if y_np.shape[0] != n:
        raise ShapeError(
            f"{caller}: X has {n} samples but y has {y_np.shape[0]}; rows are samples and must pair up one to one."
        )
    if y_np.ndim == 2 and y_np.shape[1] == 1:
        y_np = y_np[:, 0]
        yt = None if yt is None else yt[:, 0]
    if y_np.ndim == 2:
        if method not in MULTIVARIATE_METHODS:
            raise ShapeError(
                f"{caller}: method={method!r} scores one target column, but y has shape {y_np.shape}; use "
                "method='dcor' or 'hsic' for a multivariate target, or pass one column."
            )
        t = as_2d(y if yt is None else yt, name="y", caller=caller).to(device)
        return t, "regression", None
    numeric = np.issubdtype(y_np.dtype, np.number) or np.issubdtype(y_np.dtype, np.bool_)
    if numeric and y_np.dtype.kind == "f" and not np.all(np.isfinite(y_np)):
        check_finite(torch.as_tensor(y_np), name="y", caller=caller)
    if not numeric and target == "regression":
        raise FeatcorrError(f"{caller}: target='regression' needs numeric y; got dtype {y_np.dtype}.")
    if y_np.dtype == object:
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y_np):
            raise FeatcorrError(f"{caller}: y contains missing values (None/NaN); remove those samples.")
    task = detect_task(y_np, target, caller=caller, categorical=categorical)
    if task == "classification":
        classes, codes = np.unique(y_np, return_inverse=True)
        if classes.shape[0] < 2:
            raise FeatcorrError(
                f"{caller}: y has only 1 class ({label_repr(classes[0])}); dependence on a single class is undefined. "
                "Pass samples of at least 2 classes."
            )
        if method in SIGNED_METHODS:
            if numeric:
                return torch.as_tensor(y_np.astype(np.float64), device=device), "regression", None
            if classes.shape[0] > 2:
                raise FeatcorrError(
                    f"{caller}: method={method!r} needs ordered numbers, but y has {classes.shape[0]} "
                    f"non-numeric classes {list(classes[:5])}; use method='f', 'mi', 'dcor' or 'hsic'."
                )
            return torch.as_tensor(codes.astype(np.float64), device=device), "regression", None
        return torch.as_tensor(codes.astype(np.int64), device=device), task, int(classes.shape[0])
    yv = torch.as_tensor(y_np.astype(np.float64), device=device) if yt is None else yt.to(device, torch.float64)
    if bool((yv == yv[0]).all()):
        raise ConstantFeatureError(
            f"{caller}: y is constant (every value is {float(yv[0])!r}), so no feature can depend on it; "
            "pass a target that varies."
        )
    return yv, task, None


def _constant_columns(X: torch.Tensor, rows: int = 4096) -> torch.Tensor:
    """Boolean mask (p,) of columns whose every value equals the first row's (row chunks: no n x p temporary)."""
    first = X[0]
    varies = torch.zeros(X.shape[1], dtype=torch.bool, device=X.device)
    for r in range(0, X.shape[0], rows):
        varies |= (X[r : r + rows] != first).any(dim=0)
    return ~varies


def _check_finite_fast(t: torch.Tensor, *, name: str, caller: str) -> None:
    """NaN/inf check: column sums are finite unless some value is NaN/inf (or the sum overflows), else exact check."""
    if not bool(torch.isfinite(t.sum(dim=0)).all()):
        check_finite(t, name=name, caller=caller)


def _handle_constant(mask: np.ndarray, names: list[str] | None, constant: str, caller: str) -> np.ndarray:
    """Raise or warn about constant columns; return the kept column indices."""
    bad = np.flatnonzero(mask)
    if bad.size == 0:
        return np.arange(mask.shape[0])
    shown = [names[i] for i in bad[:10]] if names is not None else bad[:10].tolist()
    more = f" and {bad.size - 10} more" if bad.size > 10 else ""
    label = "column(s)" if names is not None else "feature index(es)"
    if constant == "raise":
        raise ConstantFeatureError(
            f"{caller}: constant {label} {shown}{more} (zero variance) have no dependence score; drop them, "
            "or pass constant='drop' to leave them out of the result with a warning."
        )
    warnings.warn(f"{caller}: dropped constant {label} {shown}{more} (zero variance).", UserWarning, stacklevel=4)
    return np.flatnonzero(~mask)


def _stream(
    chunks: Iterable, method: str, *, target: str, classes: Any, caller: str
) -> tuple[torch.Tensor, np.ndarray, list[str] | None]:
    """Accumulate moments over an iterable of (X_chunk, y_chunk); return (scores, constant mask, names)."""
    if method not in STREAMING_METHODS:
        raise FeatcorrError(
            f"{caller}: method={method!r} needs all samples at once; only {sorted(STREAMING_METHODS)} accept an "
            "iterable of (X_chunk, y_chunk). Concatenate the chunks and pass arrays."
        )
    classif = method == "f" and target == "classification"
    if method == "f" and target == "auto":
        raise FeatcorrError(
            f"{caller}: streaming method='f' cannot detect the target type from one chunk; pass "
            "target='regression', or target='classification' with classes=[...]."
        )
    if classif:
        if classes is None:
            raise FeatcorrError(f"{caller}: streaming method='f' with target='classification' needs classes=[...].")
        classes = np.asarray(classes)
        index = {c: i for i, c in enumerate(classes.tolist())}
    m = None
    names = None
    first = None
    varying = None
    for i, item in enumerate(chunks):
        try:
            Xc, yc = item
        except (TypeError, ValueError):
            raise FeatcorrError(f"{caller}: chunk {i} is not an (X_chunk, y_chunk) pair; yield pairs of arrays.") from None
        if i == 0 and isinstance(Xc, pd.DataFrame):
            names = [str(c) for c in Xc.columns]
        tX = as_2d(Xc, name=f"X (chunk {i})", caller=caller, min_samples=1)
        y_np = yc.detach().cpu().numpy() if isinstance(yc, torch.Tensor) else np.asarray(
            yc.to_numpy() if isinstance(yc, (pd.Series, pd.DataFrame)) else yc)
        y_np = y_np.reshape(y_np.shape[0], -1) if y_np.ndim == 2 else y_np
        if y_np.ndim == 2 and y_np.shape[1] == 1:
            y_np = y_np[:, 0]
        if y_np.ndim != 1 or y_np.shape[0] != tX.shape[0]:
            raise ShapeError(
                f"{caller}: chunk {i}: X has {tX.shape[0]} samples but y has shape {y_np.shape}; each chunk's y "
                "must be one value per row of its X."
            )
        if classif:
            unknown = sorted({v for v in y_np.tolist() if v not in index}, key=str)
            if unknown:
                raise FeatcorrError(f"{caller}: chunk {i}: y holds label(s) {unknown[:5]} not in classes.")
            Y = one_hot(torch.as_tensor([index[v] for v in y_np.tolist()], device=tX.device), len(classes))
        else:
            Y = torch.as_tensor(y_np.astype(np.float64), device=tX.device)[:, None]
            check_finite(Y, name=f"y (chunk {i})", caller=caller)
        if m is None:
            m = xy_moments(tX.shape[1])
            first = tX[0].clone()
            varying = torch.zeros(tX.shape[1], dtype=torch.bool, device=tX.device)
        elif tX.shape[1] != first.shape[0]:
            raise ShapeError(
                f"{caller}: chunk {i} has {tX.shape[1]} features but the first chunk had {first.shape[0]}."
            )
        varying |= ~(tX == first[None, :]).all(dim=0)
        xy_update(m, tX, Y)
    if m is None:
        raise FeatcorrError(f"{caller}: the iterable of chunks was empty; pass at least one (X_chunk, y_chunk).")
    snap = m.finalize()
    p = first.shape[0]
    yvar = snap.variances("y")
    if not classif and not bool(yvar[0] > 0):
        raise ConstantFeatureError(f"{caller}: y is constant over all chunks; pass a target that varies.")
    if classif and int((snap.mean("y") > 0).sum()) < 2:
        raise FeatcorrError(f"{caller}: y has only 1 class over all chunks; pass samples of at least 2 classes.")
    with warnings.catch_warnings():
        if method == "pearson":
            s = pearson_from(snap, p)[:, 0]
        elif classif:
            s = f_classif_from(snap, p)
        else:
            s = f_regression_from(snap, p)
    return s, (~varying).cpu().numpy(), names


def _compute(
    X: Any, y: Any, method: str, target: str, constant: str, classes: Any, caller: str, options: dict,
    *, score: bool = True,
):
    """Shared body of dependence() and dependence_test(): (scores tensor, kept indices, names, data or None).

    ``score=False`` only validates: the scores are None and ``data`` = (X kept, y, task, n_classes).
    """
    check_option(method, DEPENDENCE_METHODS, name="method", caller=caller)
    check_option(target, ("auto", "classification", "regression"), name="target", caller=caller)
    check_option(constant, CONSTANT_OPTIONS, name="constant", caller=caller)
    resolve_options(method, dict(options), caller=caller)
    if y is None and not _is_array_like(X) and isinstance(X, Iterable):
        if options:
            raise FeatcorrError(f"{caller}: streaming input takes no method options; got {sorted(options)}.")
        s, const, names = _stream(X, method, target=target, classes=classes, caller=caller)
        keep = _handle_constant(const, names, constant, caller)
        return s[torch.as_tensor(keep, device=s.device)], keep, names, None
    names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    tX = as_2d(X, name="X", caller=caller, min_samples=2, finite=False)
    _check_finite_fast(tX, name="X", caller=caller)
    ty, task, n_classes = prepare_target(y, tX.shape[0], tX.device, method=method, target=target, caller=caller)
    check_same_n(tX, ty, names=("X", "y"), caller=caller)
    keep = _handle_constant(_constant_columns(tX).cpu().numpy(), names, constant, caller)
    if keep.size == 0:
        raise ConstantFeatureError(f"{caller}: every feature of X is constant; nothing to score.")
    if keep.size < tX.shape[1]:
        tX = tX[:, torch.as_tensor(keep, device=tX.device)]
    if not score:
        return None, keep, names, (tX, ty, task, n_classes)
    s = dependence_scores(tX, ty, method=method, task=task, n_classes=n_classes, caller=caller, **options)
    return s, keep, names, (tX, ty, task, n_classes)


def selector_compute(est: Any, X: np.ndarray, y: np.ndarray, method: str, options: dict, *, score: bool = True):
    """:func:`_compute` for a selector after ``_validate_fit``: its labels, task and ``constant`` setting.

    ``X`` (n, p) float64 and ``y`` (class codes or floats) as validated; the
    codes go back to the labels in ``est.classes_``. Returns what
    ``_compute`` returns: (scores tensor or None, kept column indices, None, data).
    """
    if not X.flags.writeable:  # read-only memmaps: torch wants writable memory
        X = np.array(X)
    yv = est.classes_[y] if est.task_ == "classification" else y
    return _compute(X, yv, method, est.task_, est.constant, None, type(est).__name__, options, score=score)


def _wrap_out(values: np.ndarray, keep: np.ndarray, names: list[str] | None, name: str) -> Any:
    if names is None:
        return values
    return pd.Series(values, index=[names[i] for i in keep], name=name)


def dependence(
    X: Any,
    y: Any = None,
    method: str = "pearson",
    *,
    target: str = "auto",
    constant: str = "raise",
    classes: Any = None,
    **options: Any,
) -> Any:
    """Dependence of each feature on a target: one score per column of X.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or an iterable of (X_chunk, y_chunk)
        Features (numpy, pandas or torch on any device; computed on X's device
        in float64). For ``method="pearson"`` or ``"f"``, an iterable of
        ``(X_chunk, y_chunk)`` pairs (any generator or DataLoader) is
        accumulated in one streaming pass through
        :class:`featcorr.stats.Moments`; pass ``y=None`` then.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Target. Multivariate targets are accepted by ``"dcor"`` and ``"hsic"``.
    method : {"pearson", "spearman", "kendall", "f", "dcor", "hsic", "mi"}, default="pearson"
        - ``"pearson"``: Pearson r in [-1, 1], from streaming moments;
        - ``"spearman"``: Pearson r of average ranks, in [-1, 1];
        - ``"kendall"``: Kendall's tau-b in [-1, 1], O(n log n) per feature;
        - ``"f"``: univariate F statistic >= 0 (ANOVA F for a classification
          target as ``f_classif``, r^2/(1-r^2)(n-2) for a regression target
          as ``f_regression``); +inf for a perfect separation / fit;
        - ``"dcor"``: distance correlation in [0, 1], the biased square-rooted
          V-statistic as ``dcor.distance_correlation``; ``unbiased=True``
          gives the bias-corrected *squared* dCor (``dcor.u_distance_correlation_sqr``,
          may be slightly negative); ``exponent`` in (0, 2), default 1.
          Univariate pairs use the O(n log n) algorithm; a multivariate target,
          a multiclass target (one-hot) or ``exponent != 1`` use O(n^2) distance matrices;
        - ``"hsic"``: HSIC of the feature's Gram matrix with the target's:
          ``kernel`` ("rbf" default, "linear"), ``bandwidth`` ("median": the
          median pairwise distance, or a fixed sigma), ``unbiased``,
          ``normalized`` (HSIC / sqrt(HSIC_xx HSIC_yy), in [0, 1] when biased),
          ``y_kernel`` (default: the delta kernel 1[y_i = y_j] for a
          classification target, else ``kernel``); O(n^2) per feature;
        - ``"mi"``: k-NN mutual information in nats >= 0, identical to
          scikit-learn's ``mutual_info_regression`` / ``mutual_info_classif``
          with the same ``n_neighbors`` (default 3) and ``random_state``
          (neighbour search on the CPU with a k-d tree, whatever X's device).
    target : {"auto", "classification", "regression"}, default="auto"
        Type of y. ``"auto"`` (the rule of every selector, see
        :class:`featcorr.select.BaseSelector`): class labels for bool,
        string, integer or categorical y, and for whole-number floats with at
        most 20 distinct values (and at most n/2); numbers otherwise (so
        scikit-learn's diabetes target, 214 whole values, is a regression
        target). Pearson, Spearman and Kendall use numeric labels as numbers
        (binary y: point-biserial correlation).
    constant : {"raise", "drop"}, default="raise"
        Constant features have no score: raise
        :class:`~featcorr.errors.ConstantFeatureError` naming them, or leave
        them out of the result with a warning.
    classes : sequence, optional
        Class labels, needed only for streaming ``method="f"`` with
        ``target="classification"``.
    **options
        Options of the method (see above).

    Returns
    -------
    pandas.Series indexed by column name when X is a DataFrame, else numpy.ndarray of shape (n_features,)
        (without the dropped constant features when ``constant="drop"``).

    Notes
    -----
    Invariances: Pearson and F under affine maps of x and y (sign flips the
    sign of r); Spearman and Kendall under strictly increasing maps; dCor
    under translations, rotations and scaling of x and y; MI (exact) under
    invertible maps, the estimator under scaling. Tested against
    ``scipy.stats.pearsonr``, ``spearmanr``, ``kendalltau(variant='b')``,
    a direct O(n^2) double-centring dCor, a Gram-matrix HSIC and
    scikit-learn's mutual information (``tests/measures/test_dependence.py``),
    and ``dcor`` 0.7 in ``tests/anchors/test_dependence_anchors.py``.

    References
    ----------
    .. [1] Szekely, Rizzo & Bakirov, "Measuring and testing dependence by correlation of distances",
       Ann. Stat. 35(6), 2007. Huo & Szekely, "Fast computing for distance covariance", Technometrics 58, 2016.
    .. [2] Gretton, Bousquet, Smola & Scholkopf, "Measuring statistical dependence with Hilbert-Schmidt
       norms", ALT 2005. Song et al., "Feature selection via dependence maximization", JMLR 13, 2012.
    .. [3] Kraskov, Stogbauer & Grassberger, Phys. Rev. E 69, 2004; Ross, PLoS ONE 9(2), 2014.
    .. [4] Kendall, "The treatment of ties in ranking problems", Biometrika 33, 1945; Knight, JASA 61, 1966.

    Examples
    --------
    >>> import numpy as np, featcorr as fc
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> y = 2 * X[:, 0] + X[:, 1] ** 2
    >>> fc.dependence(X, y, "pearson").round(2)
    array([ 0.81,  0.05, -0.02])
    >>> fc.dependence(X, y, "dcor").round(2)  # dCor also sees the x1^2 effect that Pearson misses
    array([0.83, 0.26, 0.07])
    """
    caller = f"dependence(method={method!r})"
    s, keep, names, _ = _compute(X, y, method, target, constant, classes, caller, options)
    return _wrap_out(s.cpu().numpy(), keep, names, method)


@dataclass(frozen=True)
class DependenceTest:
    """Result of :func:`dependence_test`: scores and permutation p-values per feature.

    Attributes
    ----------
    statistic : pandas.Series or numpy.ndarray
        The dependence scores (as :func:`dependence` returns them).
    pvalue : pandas.Series or numpy.ndarray
        Permutation p-values (1 + #{|s_perm| >= |s|}) / (1 + n_permutations), two-sided for signed scores.
    method, n_permutations, random_state, n_samples :
        How the test was run.
    options : dict
        The method's options.
    """

    statistic: Any
    pvalue: Any
    method: str
    n_permutations: int
    random_state: Any
    n_samples: int
    options: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with columns ``statistic`` and ``pvalue``, one row per feature."""
        index = self.statistic.index if isinstance(self.statistic, pd.Series) else None
        return pd.DataFrame(
            {"statistic": np.asarray(self.statistic), "pvalue": np.asarray(self.pvalue)}, index=index
        )


def dependence_test(
    X: Any,
    y: Any,
    method: str = "pearson",
    *,
    n_permutations: int = 199,
    random_state: Any = None,
    target: str = "auto",
    constant: str = "raise",
    **options: Any,
) -> DependenceTest:
    """Permutation test of independence of each feature and y.

    Parameters
    ----------
    X, y, method, target, constant, **options
        As in :func:`dependence` (arrays only, not chunk iterables).
    n_permutations : int, default=199
        Number of random permutations of y.
    random_state : int, numpy Generator or None, default=None
        Seed of the permutations (and of ``method="mi"``'s jitter when its own
        ``random_state`` option is not given).

    Returns
    -------
    DependenceTest
        ``statistic`` and ``pvalue`` per feature; p-values lie in
        [1 / (n_permutations + 1), 1] and are two-sided (absolute values) for
        Pearson, Spearman and Kendall.

    Notes
    -----
    The p-value is (1 + #{b : |s_b| >= |s|}) / (1 + B) over B permutations of
    y (Phipson & Smyth 2010), a valid test for any of the methods; each
    permutation recomputes every feature's score at once.

    Examples
    --------
    >>> import numpy as np, featcorr as fc
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = X[:, 0] + 0.5 * rng.normal(size=200)
    >>> res = fc.dependence_test(X, y, "spearman", n_permutations=99, random_state=0)
    >>> bool(res.pvalue[0] == 0.01), bool(res.pvalue[1] > 0.05)
    (True, True)
    """
    caller = f"dependence_test(method={method!r})"
    if not (isinstance(n_permutations, (int, np.integer)) and not isinstance(n_permutations, bool)
            and n_permutations >= 1):
        raise FeatcorrError(f"{caller}: n_permutations must be a positive int, got {n_permutations!r}.")
    if method == "mi" and "random_state" not in options:
        options = {**options, "random_state": 0 if random_state is None else random_state}
        if not isinstance(options["random_state"], (int, np.integer)):
            options["random_state"] = 0
    if y is None:
        raise FeatcorrError(f"{caller}: pass arrays X and y; permutation tests need all samples in memory.")
    s, keep, names, data = _compute(X, y, method, target, constant, None, caller, options)
    tX, ty, task, n_classes = data
    rng = np.random.default_rng(random_state)
    obs = s.abs() if method in SIGNED_METHODS else s
    exceed = torch.zeros_like(obs)
    n = tX.shape[0]
    for _ in range(int(n_permutations)):
        perm = torch.as_tensor(rng.permutation(n), device=ty.device)
        sp = dependence_scores(tX, ty[perm], method=method, task=task, n_classes=n_classes, caller=caller, **options)
        sp = sp.abs() if method in SIGNED_METHODS else sp
        exceed += (sp >= obs).to(exceed.dtype)
    pv = ((1.0 + exceed) / (1.0 + n_permutations)).cpu().numpy()
    return DependenceTest(
        statistic=_wrap_out(s.cpu().numpy(), keep, names, method),
        pvalue=_wrap_out(pv, keep, names, "pvalue"),
        method=method,
        n_permutations=int(n_permutations),
        random_state=random_state,
        n_samples=n,
        options=dict(options),
    )
