"""Linear predictivity: held-out ridge R^2 from X to Y, by exact k-fold CV on per-fold moments.

Every fold's ridge model is fitted from the pooled moments of the other
folds and scored on the fold's own moments, so the out-of-fold predictions'
errors are exact without a second pass:

    W = (S_xx^tr + lambda I)^{-1} S_xy^tr,   b = mu_y^tr - mu_x^tr W,
    SSE_f = diag(S_yy^f - 2 W^T S_xy^f + W^T S_xx^f W) + n_f d * d,
    d = (mu_y^f - mu_y^tr) - (mu_x^f - mu_x^tr) W,

with S the centred cross-products. lambda is fixed, or chosen per outer
fold by an inner k-1-fold CV on the training folds only (nested CV), so the
reported R^2 never sees its own test samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import check_option
from ..errors import ConstantFeatureError, NotEnoughSamplesError, RankDeficientError, UnknownOptionError
from ..stats import FoldMoments, FoldMomentsSnapshot, MomentsSnapshot
from ._common import MOMENTS_ENGINE_OPTIONS
from ._linalg import eigh
from ._registry import MeasureSpec, register

__all__ = ["linear_predictivity_from", "DEFAULT_ALPHAS"]

#: Default grid of *relative* ridge penalties: lambda = a * tr(S_xx^tr) / p (a multiple of the mean eigenvalue).
DEFAULT_ALPHAS = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
_AVERAGES = ("uniform", "variance_weighted")


@dataclass(frozen=True)
class _Part:
    """Moments of X block and Y block for one set of samples."""

    n: int
    mx: torch.Tensor
    my: torch.Tensor
    Sxx: torch.Tensor
    Syy: torch.Tensor
    Sxy: torch.Tensor


def _part(snap: MomentsSnapshot, a: str, b: str) -> _Part:
    return _Part(snap.n, snap.mean(a), snap.mean(b), snap.comoment(a, a), snap.comoment(b, b), snap.comoment(a, b))


def _pool(parts: Sequence[_Part]) -> _Part:
    """Chan et al.'s merge of several parts (empty parts are skipped)."""
    out = None
    for p in parts:
        if p.n == 0:
            continue
        if out is None:
            out = p
            continue
        n = out.n + p.n
        dx, dy = p.mx - out.mx, p.my - out.my
        w = out.n * p.n / n
        out = _Part(
            n,
            out.mx + dx * (p.n / n),
            out.my + dy * (p.n / n),
            out.Sxx + p.Sxx + w * torch.outer(dx, dx),
            out.Syy + p.Syy + w * torch.outer(dy, dy),
            out.Sxy + p.Sxy + w * torch.outer(dx, dy),
        )
    if out is None:
        raise NotEnoughSamplesError("linear_predictivity: a training set is empty; use fewer folds or more samples.")
    return out


class _Fit:
    """Eigen-decomposed training moments: ridge solutions for any lambda."""

    def __init__(self, tr: _Part, *, caller: str) -> None:
        if tr.n < 2:
            raise NotEnoughSamplesError(
                f"{caller}: a training set holds {tr.n} sample(s); cross-validation needs at least 2 per training "
                "set. Use more samples or fewer folds (n_folds)."
            )
        self.tr = tr
        self.e, self.V = eigh(tr.Sxx)
        self.G = self.V.T @ tr.Sxy  # (p, q)
        self.scale = float(torch.trace(tr.Sxx)) / tr.Sxx.shape[0]

    def sse(self, te: _Part, lam: float, *, caller: str) -> torch.Tensor:
        """Per-output sum of squared errors of the ridge fit with penalty ``lam`` on test part ``te``, shape (q,)."""
        denom = self.e + lam
        if lam == 0.0 and float(self.e.min()) <= 1e-12 * float(self.e.max()):
            raise RankDeficientError(
                f"{caller}: alpha=0 (ordinary least squares) needs a full-rank training covariance of X, but its "
                f"smallest eigenvalue is {float(self.e.min()):.3g} vs largest {float(self.e.max()):.3g} (more units "
                "than samples, or dead/duplicated units). Pass alpha > 0, or alpha=None to choose it by nested CV."
            )
        Wt = self.G / denom[:, None]  # W in the eigenbasis: V^T W, (p, q)
        W = self.V @ Wt
        d = (te.my - self.tr.my) - (te.mx - self.tr.mx) @ W
        cross = (W * te.Sxy).sum(dim=0)
        quad = ((te.Sxx @ W) * W).sum(dim=0)
        return torch.diagonal(te.Syy) - 2.0 * cross + quad + te.n * d * d


def _summary(sse: torch.Tensor, sst: torch.Tensor, average: str, *, caller: str) -> float:
    if average == "variance_weighted":
        return float(1.0 - sse.sum() / sst.sum())
    dead = torch.nonzero(sst <= 0).flatten().tolist()
    if dead:
        raise ConstantFeatureError(
            f"{caller}: target unit(s) {dead[:10]} of Y are constant, so their R^2 is undefined; drop them or use "
            "average='variance_weighted'."
        )
    return float((1.0 - sse / sst).mean())


def _check_alpha(alpha: Any, alphas: Any, caller: str) -> tuple[float | None, tuple[float, ...]]:
    if alpha is not None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not float(alpha) >= 0.0:
            raise UnknownOptionError(
                f"{caller}: alpha={alpha!r} must be a number >= 0 (the ridge penalty on the unnormalised loss, as "
                "scikit-learn's Ridge(alpha)), or None to choose it by nested cross-validation over `alphas`."
            )
        return float(alpha), ()
    try:
        grid = tuple(float(a) for a in alphas)
    except (TypeError, ValueError):
        grid = ()
    if not grid or any(not a > 0 for a in grid):
        raise UnknownOptionError(
            f"{caller}: alphas={alphas!r} must be a non-empty sequence of positive numbers (relative penalties, "
            "multiples of the mean eigenvalue of the training covariance)."
        )
    return None, grid


def linear_predictivity_from(
    snap: FoldMomentsSnapshot,
    a: str,
    b: str,
    *,
    alpha: float | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    average: str = "uniform",
) -> float:
    """Cross-validated ridge R^2 of predicting block ``b`` (Y) from block ``a`` (X).

    The out-of-fold predictions of every sample (k-fold, folds from
    :class:`~featcorr.stats.FoldMoments`) are scored as scikit-learn's
    ``r2_score(Y, cross_val_predict(Ridge(alpha), X, Y, cv=folds))``: per
    output R^2_j = 1 - SSE_j / SST_j with SST_j about the mean of all
    samples, then averaged.

    Parameters
    ----------
    snap : FoldMomentsSnapshot
        Per-fold moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Predictor block X and target block Y.
    alpha : float >= 0 or None, default=None
        Fixed ridge penalty on the unnormalised squared loss (scikit-learn
        ``Ridge(alpha)`` scale; 0 is least squares). ``None`` chooses, for
        each outer fold, the relative penalty in ``alphas`` that maximises
        the inner (k-1)-fold CV R^2 on that fold's training folds.
    alphas : sequence of float, default=(1e-6, ..., 10)
        Relative penalties: lambda = a * tr(S_xx^tr) / p for the training
        set at hand (scale-free). Ties go to the first.
    average : {"uniform", "variance_weighted"}, default="uniform"
        Mean of the per-output R^2, or 1 - sum SSE / sum SST (scikit-learn
        ``multioutput`` names).

    Returns
    -------
    float <= 1 (negative when worse than predicting the mean); asymmetric.

    Notes
    -----
    Never in-sample: every prediction comes from a model that did not see
    the sample, and with ``alpha=None`` neither did the choice of lambda.
    Works for n < p (ridge). Invariant to translation of X and Y, to
    orthogonal maps of X (the ridge penalty is rotation-invariant), and to
    scaling of X when ``alpha=None``; per-output with ``average="uniform"``
    also to scaling of Y's units. The split hashes the values (see
    :class:`~featcorr.stats.FoldMoments`), so compare transformed copies of a
    representation within one statistic. Leave-one-out is not offered: it
    needs per-sample leverages, which moments do not keep. Cost per pair:
    k(k+1)/2 eigen-decompositions of a p x p block with ``alpha=None``
    (k with a fixed alpha). Tested against scikit-learn ``Ridge`` with the
    explicit fold split (tests/measures/test_predictivity.py, 1e-8).

    References
    ----------
    .. [1] Csordas, Manning, Potts, "Do Language Models Use Their Depth
       Efficiently?", 2025, arXiv:2505.13898.
    """
    caller = "linear_predictivity"
    check_option(average, _AVERAGES, name="average", caller=caller)
    fixed, grid = _check_alpha(alpha, alphas, caller)
    parts = [_part(f, a, b) for f in snap.folds]
    total = _part(snap.total, a, b)
    if total.n < 3:
        raise NotEnoughSamplesError(f"{caller}: found {total.n} samples; cross-validation needs at least 3.")
    sst = torch.diagonal(total.Syy)
    live = [f for f, p in enumerate(parts) if p.n > 0]
    if len(live) < 2:
        raise NotEnoughSamplesError(
            f"{caller}: all {total.n} samples fell into one fold; cross-validation needs at least two non-empty "
            "folds. Use more samples."
        )
    fits: dict[frozenset, _Fit] = {}

    def fit(exclude: frozenset) -> _Fit:
        if exclude not in fits:
            fits[exclude] = _Fit(_pool([p for f, p in enumerate(parts) if f not in exclude]), caller=caller)
        return fits[exclude]

    sse = torch.zeros_like(sst)
    for f in live:
        outer = fit(frozenset([f]))
        if fixed is not None:
            lam = fixed
        else:
            inner = [g for g in live if g != f]
            if len(inner) < 2:
                raise NotEnoughSamplesError(
                    f"{caller}: choosing alpha by nested CV needs at least 3 non-empty folds; found {len(live)}. "
                    "Use more folds or samples, or pass a fixed alpha."
                )
            inner_sst = torch.diagonal(outer.tr.Syy)
            scores = []
            for rel in grid:
                s = torch.zeros_like(sst)
                for g in inner:
                    fg = fit(frozenset([f, g]))
                    s = s + fg.sse(parts[g], rel * fg.scale, caller=caller)
                scores.append(_summary(s, inner_sst, average, caller=caller))
            lam = grid[int(np.argmax(scores))] * outer.scale
        sse = sse + outer.sse(parts[f], lam, caller=caller)
    return _summary(sse, sst, average, caller=caller)


# ----------------------------------------------------------------- registry
def _request(A, B, *, engine=None, n_folds: int = 5, seed: int = 0, **_: Any):
    engine = dict(engine or {})
    opts = {k: engine[k] for k in MOMENTS_ENGINE_OPTIONS if k in engine}
    A, B = tuple(A), tuple(B)
    union = tuple(dict.fromkeys(A + B))
    pairs = "all" if set(A) == set(B) else ("cross", A, B)
    return {"fold_moments": FoldMoments(n_folds, seed=seed, pairs=pairs, blocks=union, **opts)}


def _compute(snaps: Mapping[str, Any], a: str, b: str, *, n_folds: int = 5, seed: int = 0, **opts: Any) -> float:
    return linear_predictivity_from(snaps["fold_moments"], a, b, **opts)


register(
    MeasureSpec(
        name="linear_predictivity",
        statistic="fold_moments",
        kind="similarity",
        invariances=("translation", "orthogonal (X)", "isotropic scaling (X, alpha=None)"),
        value_range="(-inf, 1]",
        reference="scikit-learn Ridge + r2_score on the explicit hashed k-fold split (nested CV written out)",
        paper="Csordas, Manning, Potts, 2025, arXiv:2505.13898",
        statistics=_request,
        compute=_compute,
        options={"alpha": None, "alphas": DEFAULT_ALPHAS, "average": "uniform", "n_folds": 5, "seed": 0},
        symmetric=False,
    )
)
