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

A single lambda is solved by one Cholesky factorisation of S_xx^tr + lambda I;
the grid of an inner fold shares one eigendecomposition of S_xx^tr, and the
inner score (a weighted sum of SSE_j over outputs) is a quadratic form in
1 / (e + lambda), so each grid point costs O(p^2) (see ``_Fit.weighted_sse``).
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
from ._linalg import cholesky, eigh, lapack
from ._registry import MeasureSpec, register

__all__ = ["linear_predictivity_from", "DEFAULT_ALPHAS"]

#: Default grid of *relative* ridge penalties: lambda = a * tr(S_xx^tr) / p (a multiple of the mean eigenvalue).
DEFAULT_ALPHAS = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
_AVERAGES = ("uniform", "variance_weighted")
_CONSTANT = ("drop", "raise")


@dataclass(frozen=True)
class _Part:
    """Moments of X block and Y block for one set of samples (Y's centred sums of squares only)."""

    n: int
    mx: torch.Tensor  # (p,)
    my: torch.Tensor  # (q,)
    Sxx: torch.Tensor  # (p, p)
    syy: torch.Tensor  # (q,) diagonal of S_yy: every R^2 needs only these
    Sxy: torch.Tensor  # (p, q)


def _part(snap: MomentsSnapshot, a: str, b: str) -> _Part:
    return _Part(snap.n, snap.mean(a), snap.mean(b), snap.comoment(a, a), snap.variances(b), snap.comoment(a, b))


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
            torch.addr(out.Sxx + p.Sxx, dx, dx, alpha=w),
            out.syy + p.syy + w * dy * dy,
            torch.addr(out.Sxy + p.Sxy, dx, dy, alpha=w),
        )
    if out is None:
        raise NotEnoughSamplesError("linear_predictivity: a training set is empty; use fewer folds or more samples.")
    return out


class _Fit:
    """Training moments of one CV training set: ridge fits and their test-part errors for any lambda.

    A single penalty (a fixed alpha, or an outer fold's chosen one) is solved
    with one Cholesky factorisation of S_xx + lambda I. A grid of penalties
    (the inner folds of nested CV) uses one symmetric eigendecomposition
    S_xx = V diag(e) V^T, shared by every lambda: in that basis the ridge
    solution is W = V diag(1 / (e + lambda)) V^T S_xy, and the weighted
    error sum of the inner CV score is a quadratic form in the vector
    1 / (e + lambda), so each extra lambda costs O(p^2) after O(p^3 + p^2 q).
    """

    def __init__(self, tr: _Part, *, caller: str) -> None:
        if tr.n < 2:
            raise NotEnoughSamplesError(
                f"{caller}: a training set holds {tr.n} sample(s); cross-validation needs at least 2 per training "
                "set. Use more samples or fewer folds (n_folds)."
            )
        self.tr = tr
        self.caller = caller
        self.scale = float(torch.trace(tr.Sxx)) / tr.Sxx.shape[0]
        self._eig: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def eig(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(e, V, G): eigenvalues (p,) and eigenvectors (p, p) of S_xx, and G = V^T S_xy (p, q); computed once."""
        if self._eig is None:
            e, V = eigh(self.tr.Sxx)
            self._eig = (e, V, V.T @ self.tr.Sxy)
        return self._eig

    def _check_rank(self, lam: float) -> None:
        if lam != 0.0:
            return
        e = self.eig()[0]
        if float(e.min()) <= 1e-12 * float(e.max()):
            raise RankDeficientError(
                f"{self.caller}: alpha=0 (ordinary least squares) needs a full-rank training covariance of X, but "
                f"its smallest eigenvalue is {float(e.min()):.3g} vs largest {float(e.max()):.3g} (more units than "
                "samples, or dead/duplicated units). Pass alpha > 0, or alpha=None to choose it by nested CV."
            )

    def weights(self, lam: float) -> torch.Tensor:
        """Ridge coefficients W = (S_xx + lam I)^{-1} S_xy, shape (p, q)."""
        self._check_rank(lam)
        if lam > 0.0 and self._eig is None:
            A = self.tr.Sxx + lam * torch.eye(self.tr.Sxx.shape[0], dtype=self.tr.Sxx.dtype, device=self.tr.Sxx.device)
            L = cholesky(A)
            if L is not None:
                with lapack(L):
                    return torch.cholesky_solve(self.tr.Sxy, L)
        e, V, G = self.eig()
        return V @ (G / (e + lam)[:, None])

    def sse(self, te: _Part, lam: float) -> torch.Tensor:
        """Per-output sum of squared errors of the ridge fit with penalty ``lam`` on test part ``te``, shape (q,)."""
        W = self.weights(lam)
        d = (te.my - self.tr.my) - (te.mx - self.tr.mx) @ W
        cross = (W * te.Sxy).sum(dim=0)
        quad = ((te.Sxx @ W) * W).sum(dim=0)
        return te.syy - 2.0 * cross + quad + te.n * d * d

    def weighted_sse(self, te: _Part, lams: Sequence[float], c: torch.Tensor) -> torch.Tensor:
        """sum_j c_j SSE_j(lam) on test part ``te`` for every lam in ``lams``, shape (len(lams),).

        In the eigenbasis (D = diag(1 / (e + lam)), G = V^T S_xy^tr, H = V^T S_xy^te,
        M = V^T S_xx^te V, u = V^T (mu_x^te - mu_x^tr), t = mu_y^te - mu_y^tr):
        sum_j c_j SSE_j = sum_j c_j S_yy,jj^te - 2 d.(G*H)c + d^T (M * G C G^T) d
        + n_te sum_j c_j (t_j - (u*d)^T G_j)^2, with d the diagonal of D.
        """
        for lam in lams:
            self._check_rank(lam)
        e, V, G = self.eig()
        H = V.T @ te.Sxy  # (p, q)
        M = V.T @ (te.Sxx @ V)  # (p, p)
        K = M * ((G * c) @ G.T)  # (p, p)
        h = (G * H) @ c  # (p,)
        u = V.T @ (te.mx - self.tr.mx)  # (p,)
        t = te.my - self.tr.my  # (q,)
        D = 1.0 / (e[None, :] + torch.as_tensor(list(lams), dtype=e.dtype, device=e.device)[:, None])  # (L, p)
        quad = ((D @ K) * D).sum(dim=1)
        r = t[None, :] - (D * u[None, :]) @ G  # (L, q)
        return (te.syy * c).sum() - 2.0 * (D @ h) + quad + te.n * (r * r) @ c


def _live_outputs(sst: torch.Tensor, constant: str, *, caller: str) -> torch.Tensor:
    """Mask of the target units with variance (uniform averaging): constant units are left out or raise."""
    live = sst > 0
    if bool(live.all()):
        return live
    dead = torch.nonzero(~live).flatten().tolist()
    if constant == "raise" or not bool(live.any()):
        every = "" if bool(live.any()) else " (every target unit is constant)"
        raise ConstantFeatureError(
            f"{caller}: target unit(s) {dead[:10]} of Y are constant{every}, so their R^2 is undefined; drop them, "
            "use constant='drop' (left out of the uniform mean) or average='variance_weighted'."
        )
    return live


def _summary(sse: torch.Tensor, sst: torch.Tensor, average: str, constant: str, *, caller: str) -> float:
    if average == "variance_weighted":
        return float(1.0 - sse.sum() / sst.sum())
    live = _live_outputs(sst, constant, caller=caller)
    return float((1.0 - sse[live] / sst[live]).mean())


def _grid_scores(weighted: torch.Tensor, c: torch.Tensor, average: str, sst: torch.Tensor) -> np.ndarray:
    """R^2 summaries from weighted error sums (``_output_weights``): equals ``_summary`` of the per-output SSE."""
    denom = sst.sum() if average == "variance_weighted" else (c > 0).sum()
    return (1.0 - weighted / denom).cpu().numpy()


def _output_weights(sst: torch.Tensor, average: str, constant: str, *, caller: str) -> torch.Tensor:
    """Weights c (q,) such that the R^2 summary is 1 - sum_j c_j SSE_j / (#live units or sum SST)."""
    if average == "variance_weighted":
        return torch.ones_like(sst)
    live = _live_outputs(sst, constant, caller=caller)
    return torch.where(live, 1.0 / torch.where(live, sst, torch.ones_like(sst)), torch.zeros_like(sst))


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
    constant: str = "drop",
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
    constant : {"drop", "raise"}, default="drop"
        Target units without variance (dead ReLU units) have no R^2:
        ``"drop"`` leaves them out of the uniform mean (and out of the inner
        score that picks the penalty, for a training set on which they are
        constant), ``"raise"`` raises :class:`~featcorr.errors.ConstantFeatureError`.
        Every unit constant raises either way; no effect with
        ``average="variance_weighted"``, where they weigh nothing.

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
    needs per-sample leverages, which moments do not keep. Cost per pair
    with ``alpha=None``: k(k-1)/2 eigendecompositions of a p x p block (one
    per inner training set, shared by every penalty of the grid: each extra
    penalty costs O(p^2)) plus k Cholesky solves at the chosen penalties;
    with a fixed alpha > 0, k Cholesky solves (alpha = 0: k
    eigendecompositions, to check the rank). Tested against scikit-learn
    ``Ridge`` with the explicit fold split and a written-out nested CV
    (tests/measures/test_predictivity.py, 1e-8), and the eigenbasis grid
    against a direct solve per penalty (1e-10).

    References
    ----------
    .. [1] Csordas, Manning, Potts, "Do Language Models Use Their Depth
       Efficiently?", 2025, arXiv:2505.13898.
    """
    caller = "linear_predictivity"
    check_option(average, _AVERAGES, name="average", caller=caller)
    check_option(constant, _CONSTANT, name="constant", caller=caller)
    fixed, grid = _check_alpha(alpha, alphas, caller)
    parts = [_part(f, a, b) for f in snap.folds]
    total = _part(snap.total, a, b)
    if total.n < 3:
        raise NotEnoughSamplesError(f"{caller}: found {total.n} samples; cross-validation needs at least 3.")
    sst = total.syy
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
            inner_sst = outer.tr.syy
            c = _output_weights(inner_sst, average, constant, caller=caller)
            weighted = torch.zeros(len(grid), dtype=sst.dtype, device=sst.device)
            for g in inner:
                fg = fit(frozenset([f, g]))
                weighted = weighted + fg.weighted_sse(parts[g], [rel * fg.scale for rel in grid], c)
            lam = grid[int(np.argmax(_grid_scores(weighted, c, average, inner_sst)))] * outer.scale
        sse = sse + outer.sse(parts[f], lam)
    return _summary(sse, sst, average, constant, caller=caller)


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
        options={"alpha": None, "alphas": DEFAULT_ALPHAS, "average": "uniform", "constant": "drop", "n_folds": 5,
                 "seed": 0},
        symmetric=False,
    )
)
