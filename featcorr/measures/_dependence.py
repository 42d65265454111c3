"""Feature-target dependence: one score per feature, for every method, on validated tensors.

This module is the pure-function core behind :func:`featcorr.dependence` and
the selectors of :mod:`featcorr.select`: inputs are already validated
(float64 X of shape (n, p) on its device; y as float64 values for a numeric
target, (n, q) for a multivariate one, or int64 class codes 0..C-1), and
constant features were already handled. Each method is implemented in its own
module: Pearson and F statistics from streaming moments (``_xy_moments``),
Spearman and Kendall (``_rank_corr``), distance correlation (``_dcor``), HSIC
(``_hsic_dep``) and k-NN mutual information (``_mi``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import FeatcorrError, NotEnoughSamplesError, UnknownOptionError
from ._dcor import dcor_from_terms, dcor_terms_gram, dcor_terms_univariate
from ._hsic_dep import gram, hsic_scores
from ._mi import mi_scores
from ._rank_corr import kendall_tau_b, spearman
from ._xy_moments import f_classif_from, f_regression_from, pearson_from, xy_moments, xy_update

__all__ = [
    "DEPENDENCE_METHODS",
    "SIGNED_METHODS",
    "STREAMING_METHODS",
    "MULTIVARIATE_METHODS",
    "METHOD_OPTIONS",
    "dependence_scores",
    "one_hot",
]

#: Every method name, in documentation order.
DEPENDENCE_METHODS = ("pearson", "spearman", "kendall", "f", "dcor", "hsic", "mi")
#: Methods whose score has a sign (selectors rank their absolute value).
SIGNED_METHODS = frozenset({"pearson", "spearman", "kendall"})
#: Methods that accept an iterable of (X_chunk, y_chunk) (they need only moments).
STREAMING_METHODS = frozenset({"pearson", "f"})
#: Methods that accept a multivariate target y (n, q).
MULTIVARIATE_METHODS = frozenset({"dcor", "hsic"})
#: Keyword options of each method (with defaults).
METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "pearson": {},
    "spearman": {},
    "kendall": {},
    "f": {},
    "dcor": {"unbiased": False, "exponent": 1.0},
    "hsic": {"kernel": "rbf", "bandwidth": "median", "unbiased": False, "normalized": False, "y_kernel": None},
    "mi": {"n_neighbors": 3, "random_state": None},
}


def one_hot(codes: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n, C) float64 one-hot coding of class codes 0..C-1."""
    return torch.nn.functional.one_hot(codes, n_classes).to(torch.float64)


def resolve_options(method: str, options: dict[str, Any], *, caller: str) -> dict[str, Any]:
    """Merge ``options`` into the method's defaults; unknown keys raise, naming the valid ones."""
    if method not in METHOD_OPTIONS:
        raise UnknownOptionError(
            f"{caller}: method={method!r} is not supported; choose one of "
            + ", ".join(repr(m) for m in DEPENDENCE_METHODS) + "."
        )
    allowed = METHOD_OPTIONS[method]
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise UnknownOptionError(
            f"{caller}: method={method!r} takes no option(s) {bad}; its options are "
            + (", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "none") + "."
        )
    out = {**allowed, **options}
    if method == "dcor":
        e = out["exponent"]
        if not (isinstance(e, (int, float)) and 0 < e < 2):
            raise UnknownOptionError(f"{caller}: dcor exponent must be in (0, 2), got {e!r}.")
        out["exponent"] = float(e)
    if method == "hsic":
        for key in ("kernel", "y_kernel"):
            allowed_k = ("linear", "rbf") if key == "kernel" else (None, "linear", "rbf", "delta")
            if out[key] not in allowed_k:
                raise UnknownOptionError(f"{caller}: hsic {key}={out[key]!r} is not supported; choose one of {allowed_k}.")
        bw = out["bandwidth"]
        if not (bw == "median" or (isinstance(bw, (int, float)) and not isinstance(bw, bool) and bw > 0)):
            raise UnknownOptionError(f"{caller}: hsic bandwidth must be 'median' or a positive number, got {bw!r}.")
    if method == "mi":
        k = out["n_neighbors"]
        if not (isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1):
            raise UnknownOptionError(f"{caller}: mi n_neighbors must be a positive int, got {k!r}.")
    return out


def dependence_scores(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    method: str,
    task: str,
    n_classes: int | None = None,
    caller: str = "dependence",
    **options: Any,
) -> torch.Tensor:
    """One dependence score per column of X with y (see :func:`featcorr.dependence` for the definitions).

    Parameters
    ----------
    X : torch.Tensor of shape (n, p), float64
    y : torch.Tensor of shape (n,) or (n, q)
        float64 values (``task="regression"``) or int64 class codes (``task="classification"``).
    method : str
        One of :data:`DEPENDENCE_METHODS`.
    task : {"classification", "regression"}
    n_classes : int, optional
        Number of classes (classification), default ``y.max() + 1``.
    **options
        The method's options (:data:`METHOD_OPTIONS`).

    Returns
    -------
    torch.Tensor of shape (p,), float64.
    """
    opts = resolve_options(method, options, caller=caller)
    n, p = X.shape
    classif = task == "classification"
    if classif and n_classes is None:
        n_classes = int(y.max()) + 1
    multivariate = y.ndim == 2 and y.shape[1] > 1
    if multivariate and method not in MULTIVARIATE_METHODS:
        raise FeatcorrError(
            f"{caller}: method={method!r} scores one target column, but y has shape {tuple(y.shape)}; use "
            "method='dcor' or 'hsic' for a multivariate target, or pass one column."
        )
    y1 = y.reshape(n, -1)[:, 0] if not multivariate else y
    if method in ("pearson", "spearman", "kendall"):
        yv = y1.to(torch.float64)
        if method == "pearson":
            m = xy_update(xy_moments(p), X, yv[:, None])
            return pearson_from(m.finalize(), p)[:, 0]
        return spearman(X, yv) if method == "spearman" else kendall_tau_b(X, yv)
    if method == "f":
        if n <= (n_classes if classif else 2):
            raise NotEnoughSamplesError(
                f"{caller}: the F statistic needs more samples than {'classes' if classif else '2'}; "
                f"got n={n}."
            )
        Y = one_hot(y1, n_classes) if classif else y1.to(torch.float64)[:, None]
        snap = xy_update(xy_moments(p), X, Y).finalize()
        return f_classif_from(snap, p) if classif else f_regression_from(snap, p)
    if method == "dcor":
        unbiased = opts["unbiased"]
        if unbiased and n < 4:
            raise NotEnoughSamplesError(f"{caller}: the bias-corrected distance correlation needs n >= 4; got n={n}.")
        if classif and n_classes > 2:
            Y = one_hot(y1, n_classes)  # Euclidean distance of one-hot codes: sqrt(2) 1[y_i != y_j]
        else:
            Y = y.to(torch.float64).reshape(n, -1)
        if Y.shape[1] == 1 and opts["exponent"] == 1.0:
            terms = _chunked_univariate(X, Y[:, 0])
        else:
            terms = dcor_terms_gram(X, Y, exponent=opts["exponent"])
        return dcor_from_terms(terms, n, unbiased=unbiased)
    if method == "hsic":
        if opts["unbiased"] and n < 4:
            raise NotEnoughSamplesError(f"{caller}: the unbiased HSIC needs n >= 4; got n={n}.")
        yk = opts["y_kernel"] or ("delta" if classif else opts["kernel"])
        Yz = y1.to(torch.float64)[:, None] if (classif or not multivariate) else y.to(torch.float64)
        if yk == "delta" and not classif:
            raise FeatcorrError(f"{caller}: y_kernel='delta' is for class labels; y is a regression target.")
        L = gram(Yz, yk, opts["bandwidth"])
        return hsic_scores(
            X, L, kernel=opts["kernel"], bandwidth=opts["bandwidth"], unbiased=opts["unbiased"],
            normalized=opts["normalized"],
        )
    # mi
    if classif:
        out = mi_scores(X.cpu().numpy(), y1.cpu().numpy(), discrete_target=True,
                        n_neighbors=int(opts["n_neighbors"]), random_state=opts["random_state"])
    else:
        out = mi_scores(X.cpu().numpy(), y1.cpu().numpy(), discrete_target=False,
                        n_neighbors=int(opts["n_neighbors"]), random_state=opts["random_state"])
    return torch.from_numpy(out).to(X.device)


def _chunked_univariate(X: torch.Tensor, y: torch.Tensor, *, budget: int = 1 << 23) -> dict:
    """dcor_terms_univariate over column chunks so that chunk * n stays near ``budget`` elements."""
    n, p = X.shape
    step = max(1, budget // max(n, 1))
    parts = [dcor_terms_univariate(X[:, a : a + step], y) for a in range(0, p, step)]
    if len(parts) == 1:
        return parts[0]
    return {
        "xy": tuple(torch.cat([pt["xy"][i] for pt in parts]) for i in range(3)),
        "xx": tuple(torch.cat([pt["xx"][i] for pt in parts]) for i in range(3)),
        "yy": parts[0]["yy"],
    }
