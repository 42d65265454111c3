"""Feature-target moments: streaming Pearson r and F statistics through :class:`~featcorr.stats.Moments`.

X is split into blocks of at most ``BLOCK`` columns (``x0``, ``x1``, ...) and
the target is one block ``y`` (a numeric column, several columns, or the
one-hot coding of class labels). Only the (x_b, y) cross-products and each
block's own small self-product are accumulated, so memory is O(p * (BLOCK + q))
and never the full p x p matrix.
"""

from __future__ import annotations

from typing import Any

import torch

from ..stats import Moments, MomentsSnapshot

__all__ = ["BLOCK", "xy_moments", "xy_update", "xy_sums", "x_means", "pearson_from", "f_regression_from", "f_classif_from"]

#: Width of the feature blocks (the self-products cost n * p * BLOCK multiply-adds per pass).
BLOCK = 8


def _names(p: int) -> list[tuple[str, int, int]]:
    return [(f"x{i // BLOCK}", i, min(i + BLOCK, p)) for i in range(0, p, BLOCK)]


def xy_moments(p: int) -> Moments:
    """An empty Moments statistic for p features against one target block."""
    names = [nm for nm, _, _ in _names(p)]
    return Moments(pairs=[(nm, "y") for nm in names], blocks=names + ["y"], max_features=max(BLOCK, 1 << 20))


def xy_update(m: Moments, X: torch.Tensor, Y: torch.Tensor, *, rows: int = 8192) -> Moments:
    """Add X (n, p) and Y (n, q), validated tensors on one device, in row chunks of ``rows``.

    Row chunks keep every temporary of the update (the concatenated and
    centred batch) small; the Chan merges make the result independent of the chunking.
    """
    names = _names(X.shape[1])
    Y = Y.reshape(Y.shape[0], -1)
    for r in range(0, X.shape[0], rows):
        Xr = X[r : r + rows]
        batch: dict[str, Any] = {nm: Xr[:, a:b].contiguous() for nm, a, b in names}
        batch["y"] = Y[r : r + rows]
        m.update(batch)
    return m


def xy_sums(snap: MomentsSnapshot, p: int) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(n, column means of Y (q,), centred sums of squares of X (p,), S_yy (q, q), S_xy (p, q))."""
    names = _names(p)
    sxx = torch.cat([snap.variances(nm) for nm, _, _ in names])
    sxy = torch.cat([snap.comoment(nm, "y") for nm, _, _ in names], dim=0)
    return snap.n, snap.mean("y"), sxx, snap.comoment("y", "y"), sxy


def x_means(snap: MomentsSnapshot, p: int) -> torch.Tensor:
    """Column means of X, (p,)."""
    return torch.cat([snap.mean(nm) for nm, _, _ in _names(p)])


def pearson_from(snap: MomentsSnapshot, p: int) -> torch.Tensor:
    """Pearson r of each feature with each target column, (p, q): S_xy / sqrt(S_xx S_yy)."""
    _, _, sxx, syy, sxy = xy_sums(snap, p)
    return sxy / torch.sqrt(sxx[:, None] * torch.diagonal(syy)[None, :])


def f_regression_from(snap: MomentsSnapshot, p: int) -> torch.Tensor:
    """Univariate regression F statistic r^2 / (1 - r^2) * (n - 2) (scikit-learn's f_regression), (p,).

    A feature that is an exact affine function of y gives +inf.
    """
    r = pearson_from(snap, p)[:, 0]
    r2 = r * r
    with torch.no_grad():
        out = r2 / (1.0 - r2) * (snap.n - 2)
    return torch.where(r2 >= 1.0, torch.full_like(r2, float("inf")), out)


def f_classif_from(snap: MomentsSnapshot, p: int) -> torch.Tensor:
    """One-way ANOVA F statistic of each feature across classes (scikit-learn's f_classif), (p,).

    The y block is the one-hot coding (n, C): S_xc = n_c (mean_c - mean), so the
    between-class sum of squares is sum_c S_xc^2 / n_c and the within-class one
    is S_xx minus it. F = (SS_between / (C - 1)) / (SS_within / (n - C)); a
    feature that separates the classes perfectly (SS_within = 0) gives +inf.
    """
    n, ybar, sxx, _, sxy = xy_sums(snap, p)
    counts = ybar * n  # (C,)
    C = counts.shape[0]
    between = (sxy * sxy / counts[None, :]).sum(dim=1)
    within = sxx - between
    F = (between / (C - 1)) / (within / (n - C))
    return torch.where(within <= 0, torch.full_like(F, float("inf")), F)
