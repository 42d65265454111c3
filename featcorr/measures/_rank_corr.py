"""Rank correlations of every feature with one target: Spearman (average ranks) and Kendall tau-b.

All functions take validated float64 tensors X (n, p) and y (n,) and work
on all columns at once (one sort per column); Kendall is O(n log n) per
column through :func:`~featcorr.measures._inversions.discordance`.
"""

from __future__ import annotations

import torch

from ._inversions import discordance

__all__ = ["average_ranks", "dense_ranks", "spearman", "kendall_tau_b"]


def _runs(sv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For row-sorted sv (p, n): start index (within its row) of each element's tie run, and run sizes per element."""
    p, n = sv.shape
    new = torch.ones_like(sv, dtype=torch.bool)
    new[:, 1:] = sv[:, 1:] != sv[:, :-1]
    flat = new.flatten()
    gid = torch.cumsum(flat, 0) - 1  # (p*n,)
    starts = torch.nonzero(flat).flatten()  # (G,)
    sizes = torch.diff(starts, append=torch.tensor([p * n], device=sv.device))
    return (starts % n)[gid].view(p, n), sizes[gid].view(p, n)


def average_ranks(X: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of each column of X (n, p), ties given their mean rank (scipy.stats.rankdata 'average')."""
    Xt = X.T.contiguous()
    sv, order = torch.sort(Xt, dim=1, stable=True)
    start, size = _runs(sv)
    r = start.to(torch.float64) + (size.to(torch.float64) + 1.0) / 2.0
    return torch.empty_like(r).scatter_(1, order, r).T


def dense_ranks(v: torch.Tensor) -> torch.Tensor:
    """Dense ranks 0..(distinct - 1) of a 1-D tensor (ties share one rank), int64."""
    _, inv = torch.unique(v, sorted=True, return_inverse=True)
    return inv.to(torch.int64)


def spearman(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spearman's rho of each column of X (n, p) with y (n,): Pearson r of average ranks, (p,)."""
    n = X.shape[0]
    rx = average_ranks(X) - (n + 1) / 2.0
    ry = average_ranks(y[:, None])[:, 0] - (n + 1) / 2.0
    return (rx * ry[:, None]).sum(0) / torch.sqrt((rx * rx).sum(0) * (ry * ry).sum())


def _tie_pairs(sizes_per_elem: torch.Tensor) -> torch.Tensor:
    """sum over tie runs of t (t - 1) / 2 per row, from the run size seen by each element (p, n)."""
    s = sizes_per_elem.to(torch.float64)
    return ((s - 1.0) / 2.0).sum(dim=1)  # each run of size t contributes t * (t-1)/2


def kendall_tau_b(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Kendall's tau-b of each column of X (n, p) with y (n,), (p,), O(n log n) per column.

    tau_b = (n0 - n1 - n2 + n3 - 2 D) / sqrt((n0 - n1)(n0 - n2)) with n0 = n(n-1)/2, n1 and
    n2 the tied pairs in x and in y, n3 the pairs tied in both, D the discordant pairs
    (Kendall 1945; Knight 1966).
    """
    n, p = X.shape
    yk = dense_ranks(y)  # (n,)
    order_y = torch.argsort(yk, stable=True)
    Xy = X[order_y].T.contiguous()  # (p, n), rows sorted by y
    xs, perm = torch.sort(Xy, dim=1, stable=True)  # lexicographic order (x, then y)
    idx = order_y[perm]  # (p, n) original sample index in (x, y) order
    ks = yk[idx]  # y ranks in that order
    n0 = n * (n - 1) / 2.0
    _, size_x = _runs(xs)
    n1 = _tie_pairs(size_x)
    _, size_y = _runs(yk[order_y][None, :])
    n2 = _tie_pairs(size_y)[0]
    joint = torch.ones_like(xs, dtype=torch.bool)
    joint[:, 1:] = (xs[:, 1:] != xs[:, :-1]) | (ks[:, 1:] != ks[:, :-1])
    gid = torch.cumsum(joint, dim=1)
    n3 = _tie_pairs(_runs(gid)[1])
    D, _ = discordance(ks)
    return (n0 - n1 - n2 + n3 - 2.0 * D) / torch.sqrt((n0 - n1) * (n0 - n2))
