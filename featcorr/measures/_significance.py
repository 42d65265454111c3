"""Permutation p-values and bootstrap confidence intervals for any measure.

The permutation null breaks the pairing of samples by permuting the rows of Y
(for RDM-based measures this is permuting the conditions of one RDM, rows and
columns together). The bootstrap resamples samples with replacement and
recomputes the measure. Linear CKA's null is vectorised: permuting rows leaves
both self terms unchanged, so each null value costs one small product of
low-rank factors, batched over permutations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import FeatcorrError, ShapeError, UnknownOptionError
from ._api import evaluate, prepare
from ._registry import MeasureSpec, get_measure

__all__ = ["SignificanceResult", "significance", "permutation_null", "bootstrap_distribution", "permutation_p_value"]


@dataclass(frozen=True)
class SignificanceResult:
    """A measure's value with its permutation p-value and bootstrap interval.

    Behaves as a float (its ``value``) in arithmetic and comparisons.

    Attributes
    ----------
    value : float
        The measure on the data.
    measure : str
    kind : {"similarity", "distance"}
    p_value : float or None
        (1 + #{null >= value}) / (B + 1) for similarities, with <= for
        distances (Phipson & Smyth 2010): never 0.
    ci_low, ci_high : float or None
        Percentile bootstrap interval at ``confidence``.
    null : numpy.ndarray or None, shape (n_permutations,)
    bootstrap : numpy.ndarray or None, shape (n_bootstrap,)
    """

    value: float
    measure: str
    kind: str
    p_value: float | None = None
    n_permutations: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None
    n_bootstrap: int = 0
    null: np.ndarray | None = field(default=None, repr=False)
    bootstrap: np.ndarray | None = field(default=None, repr=False)

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict[str, Any]:
        """Scalars only (for frames and JSON)."""
        return {
            "value": self.value,
            "p_value": self.p_value,
            "n_permutations": self.n_permutations,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
        }


def permutation_p_value(value: float, null: np.ndarray, *, kind: str) -> float:
    """Exact-size p-value (1 + #{as or more extreme}) / (B + 1); larger is more extreme for similarities."""
    null = np.asarray(null, dtype=np.float64)
    extreme = null >= value if kind == "similarity" else null <= value
    return float((1 + int(extreme.sum())) / (null.size + 1))


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise UnknownOptionError(f"significance: {name} must be a non-negative int, got {value!r}.")
    return int(value)


def significance(
    X: Any,
    Y: Any,
    measure: str = "linear_cka",
    *,
    n_permutations: int = 1000,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = None,
    **options: Any,
) -> SignificanceResult:
    """A measure with its permutation p-value and bootstrap confidence interval.

    Parameters
    ----------
    X : array-like of shape (n_samples, p)
    Y : array-like of shape (n_samples, q)
        Two representations of the same samples, rows paired.
    measure : str, default="linear_cka"
        Any registered measure.
    n_permutations : int, default=1000
        Null draws: the rows of Y are permuted (sample pairing broken). 0 skips the test.
        For ``stochastic_shape`` the units are conditions (each condition's
        ``repeats`` rows move together), here and in the bootstrap.
    n_bootstrap : int, default=0
        Bootstrap replicates (rows resampled with replacement, pairs kept). 0 skips the interval.
    confidence : float, default=0.95
        Level of the percentile interval.
    random_state : int, Generator or None
        Seed of the permutations and resamples.
    **options
        Options of the measure and the engine (as :func:`featcorr.similarity`).

    Returns
    -------
    SignificanceResult
        ``value``, ``p_value``, ``ci_low``, ``ci_high`` and the null/bootstrap draws.

    Notes
    -----
    The p-value is (1 + #{T_b at least as extreme}) / (B + 1), never 0
    (Phipson & Smyth 2010). Under independence it is uniform on
    {1/(B+1), ..., 1} (tested with a Kolmogorov-Smirnov test on independent
    X, Y in tests/measures/test_significance.py). Linear CKA's null is computed
    in batches from low-rank factors (cost n * r_x * r_y per draw, r = rank),
    so 1000 permutations at n = 10k take seconds; other measures are
    recomputed per draw. The bootstrap resamples rows with replacement: for
    U-statistic measures (debiased CKA) and RDM/k-NN measures duplicated rows
    bias the replicates — prefer the permutation test there.

    References
    ----------
    .. [1] Phipson & Smyth, "Permutation P-values Should Never Be Zero",
       Stat. Appl. Genet. Mol. Biol. 9 (2010).
    .. [2] Efron & Tibshirani, "An Introduction to the Bootstrap", 1993.

    Examples
    --------
    >>> import numpy as np, featcorr as fc
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5))
    >>> res = fc.significance(X, X @ rng.normal(size=(5, 4)), n_permutations=99, random_state=0)
    >>> res.p_value
    0.01
    """
    n_permutations = _check_count(n_permutations, "n_permutations")
    n_bootstrap = _check_count(n_bootstrap, "n_bootstrap")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise UnknownOptionError(f"significance: confidence must be in (0, 1), got {confidence!r}.")
    spec, batch, a, b, opts, engine = prepare(X, Y, measure, options, caller="significance")
    if a == b:  # X is Y: the permuted copy must be a separate block
        batch, b = {**batch, "Y": batch["X"]}, "Y"
    extra = {k: v for k, v in batch.items() if k not in (a, b)}
    value = evaluate(spec, batch, a, b, opts, engine)
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    res: dict[str, Any] = {"value": value, "measure": spec.name, "kind": spec.kind}
    if n_permutations:
        null = permutation_null(spec, batch[a], batch[b], n_permutations, rng=rng, opts=opts, engine=engine, extra=extra)
        res.update(null=null, n_permutations=n_permutations, p_value=permutation_p_value(value, null, kind=spec.kind))
    if n_bootstrap:
        boot = bootstrap_distribution(
            spec, batch[a], batch[b], n_bootstrap, rng=rng, opts=opts, engine=engine, extra=extra
        )
        lo, hi = np.quantile(boot, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
        res.update(bootstrap=boot, n_bootstrap=n_bootstrap, ci_low=float(lo), ci_high=float(hi), confidence=confidence)
    return SignificanceResult(**res)


def _group_size(opts: dict, n: int, name: str) -> int:
    """Rows per resampling unit: ``repeats`` for measures that read rows in groups, else 1."""
    group = opts.get("repeats")
    if group is None:
        return 1
    if n % group:
        raise ShapeError(
            f"{name}: {n} rows are not a whole number of conditions of repeats={group} rows each, so conditions "
            "cannot be permuted or resampled as units; check repeats."
        )
    return int(group)


def _rows_of_groups(groups: np.ndarray, size: int) -> np.ndarray:
    """Row indices of the groups ``groups`` (each ``size`` consecutive rows), in that order."""
    return (np.asarray(groups)[:, None] * size + np.arange(size)).ravel()


def _permutations(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    return np.argsort(rng.random((count, n)), axis=1)


def permutation_null(
    spec: MeasureSpec | str,
    X: torch.Tensor,
    Y: torch.Tensor,
    n_permutations: int,
    *,
    rng: np.random.Generator,
    opts: dict | None = None,
    engine: dict | None = None,
    extra: dict | None = None,
) -> np.ndarray:
    """Values of the measure with the rows of Y permuted, shape (n_permutations,).

    ``extra`` holds further blocks the measure reads (e.g. the confounder
    ``"__input__"``); they stay paired with X. For a measure that reads rows
    in groups of ``repeats`` consecutive rows (``stochastic_shape``: the
    stochastic passes of one condition) whole groups are permuted, so that
    each condition's repeats stay together.
    """
    spec = get_measure(spec) if isinstance(spec, str) else spec
    opts = dict(spec.options) if opts is None else opts
    X = torch.as_tensor(X, dtype=torch.float64)
    Y = torch.as_tensor(Y, dtype=torch.float64, device=X.device)
    n = X.shape[0]
    extra = {k: torch.as_tensor(v, dtype=torch.float64, device=X.device) for k, v in (extra or {}).items()}
    if spec.name == "linear_cka":
        return _linear_cka_null(X, Y, n_permutations, rng)
    group = _group_size(opts, n, spec.name)
    out = np.empty(n_permutations)
    for i, perm in enumerate(_permutations(n // group, n_permutations, rng)):
        idx = torch.as_tensor(_rows_of_groups(perm, group), device=X.device)
        out[i] = evaluate(spec, {**extra, "X": X, "Y": Y[idx]}, "X", "Y", opts, engine)
    return out


def bootstrap_distribution(
    spec: MeasureSpec | str,
    X: torch.Tensor,
    Y: torch.Tensor,
    n_bootstrap: int,
    *,
    rng: np.random.Generator,
    opts: dict | None = None,
    engine: dict | None = None,
    extra: dict | None = None,
) -> np.ndarray:
    """Values of the measure on rows resampled with replacement (pairs kept), shape (n_bootstrap,).

    ``extra`` blocks (e.g. the confounder) are resampled with the same rows.
    With a ``repeats`` option (``stochastic_shape``) whole conditions -- groups
    of ``repeats`` consecutive rows -- are resampled.
    """
    spec = get_measure(spec) if isinstance(spec, str) else spec
    opts = dict(spec.options) if opts is None else opts
    X = torch.as_tensor(X, dtype=torch.float64)
    Y = torch.as_tensor(Y, dtype=torch.float64, device=X.device)
    extra = {k: torch.as_tensor(v, dtype=torch.float64, device=X.device) for k, v in (extra or {}).items()}
    n = X.shape[0]
    group = _group_size(opts, n, spec.name)
    out = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        idx = torch.as_tensor(_rows_of_groups(rng.integers(0, n // group, size=n // group), group), device=X.device)
        try:
            batch = {k: v[idx] for k, v in extra.items()} | {"X": X[idx], "Y": Y[idx]}
            out[i] = evaluate(spec, batch, "X", "Y", opts, engine)
        except FeatcorrError as exc:
            raise FeatcorrError(
                f"bootstrap replicate {i} of {spec.name!r} failed ({exc}); with few samples a resample can be "
                "degenerate (e.g. one distinct row) — use more samples or the permutation test."
            ) from None
    return out


def _low_rank_factor(Xc: torch.Tensor) -> torch.Tensor:
    """A (n, r) matrix A with A A^T = Xc Xc^T and r = rank (<= min(n, p))."""
    n, p = Xc.shape
    if p <= n:
        return Xc
    evals, evecs = torch.linalg.eigh(Xc @ Xc.T)
    keep = evals > evals.max() * n * torch.finfo(torch.float64).eps
    return evecs[:, keep] * torch.sqrt(evals[keep])


def _linear_cka_null(X: torch.Tensor, Y: torch.Tensor, count: int, rng: np.random.Generator) -> np.ndarray:
    """Linear CKA under row permutations of Y: ||A^T P B||_F^2 / (||A^T A||_F ||B^T B||_F), batched."""
    A = _low_rank_factor(X - X.mean(0))
    B = _low_rank_factor(Y - Y.mean(0))
    denom = math.sqrt(float(torch.sum((A.T @ A) ** 2)) * float(torch.sum((B.T @ B) ** 2)))
    n, ry = B.shape
    # float32 products of centred factors: ~1e-7 relative, ample for ranking null draws
    A32, B32 = A.to(torch.float32), B.to(torch.float32)
    chunk = max(1, min(count, int(2e8 // max(1, n * ry))))
    out = np.empty(count)
    perms = _permutations(n, count, rng)
    for lo in range(0, count, chunk):
        idx = torch.as_tensor(perms[lo : lo + chunk], device=X.device)
        Bp = B32[idx]  # (c, n, ry)
        M = torch.matmul(A32.T, Bp)  # (c, rx, ry)
        out[lo : lo + chunk] = (M.double() ** 2).sum(dim=(1, 2)).cpu().numpy() / denom
    return out
