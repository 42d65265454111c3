"""Discordant pairs of many sequences at once, in O(n log n) per sequence.

For sequences in "x order" (position t = 0..n-1) with keys k (the y ranks,
tie-broken as the caller needs), a pair j < i is *discordant* when
k_j > k_i. :func:`discordance` returns, per row,

- the number of discordant pairs (Kendall's tau, Knight 1966), and
- optionally ``sum over discordant pairs of (x_i - x_j)(y_i - y_j)`` for
  given values x, y (the discordant part of sum_ij |x_i - x_j||y_i - y_j| in
  the fast distance covariance of Huo & Szekely 2016).

Algorithm: rows are padded to N = 2^L and arranged by key once (one sort).
Then, from the top level down, every group of 2w consecutive x-positions is
split into its left and right halves. In the key-sorted arrangement of a
group, the left-half elements *after* a right-half element are exactly its
discordant partners in that half (tied keys are ordered by position, so they
never count), and the right-half elements *before* a left-half element are
its partners; running sums give them all, and the same running counts give
the stable partition that arranges the next level. Each level is a few O(N)
vectorised passes over all rows; no per-element Python.
"""

from __future__ import annotations

import torch

__all__ = ["discordance"]


def discordance(
    keys: torch.Tensor, x: torch.Tensor | None = None, y: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Count discordant pairs per row and, given x and y, sum (x_i - x_j)(y_i - y_j) over them.

    Parameters
    ----------
    keys : torch.Tensor of shape (p, n), int64
        Keys in sequence order, each in [0, n].
    x, y : torch.Tensor of shape (p, n), float64, optional
        Values in sequence order.

    Returns
    -------
    count : torch.Tensor of shape (p,), float64
    products : torch.Tensor of shape (p,), float64, or None without x, y.
    """
    p, n = keys.shape
    dev = keys.device
    L = max(1, (n - 1).bit_length())
    N = 1 << L
    with_xy = x is not None
    if N > n:  # pads sit at the end with a key above every real one; they pair with nothing real
        keys = torch.cat([keys, torch.full((p, N - n), n + 1, dtype=keys.dtype, device=dev)], dim=1)
    order = torch.argsort(keys * N + torch.arange(N, device=dev), dim=1)  # (p, N)
    pos = order  # x-position of each arranged element
    real = (pos < n)
    count = torch.zeros(p, dtype=torch.float64, device=dev)
    prod = torch.zeros(p, dtype=torch.float64, device=dev) if with_xy else None
    if with_xy:
        pad = torch.zeros((p, N - n), dtype=torch.float64, device=dev)
        vals = torch.stack([torch.cat([x, pad], dim=1), torch.cat([y, pad], dim=1)], dim=2)
        vals = vals.gather(1, order[:, :, None].expand(p, N, 2))  # (p, N, 2): x, y arranged
    for lev in range(L - 1, -1, -1):
        w = 1 << lev
        G = N // (2 * w)
        right = (pos >> lev) & 1  # (p, N): 1 = right half of its group
        left = 1 - right
        if N > n:
            left = left * real  # pads (all in the right tail) never act as left partners
        nl, nl_tot = _group_cumsum(left, G, w)  # lefts up to and including each element
        nr, _ = _group_cumsum(right, G, w)
        nl_after = nl_tot - nl  # lefts after each element
        count += (nl_after * right).sum(dim=1).to(torch.float64)
        if with_xy:
            xv, yv = vals[..., 0], vals[..., 1]
            rf = right.to(torch.float64)
            lf = left.to(torch.float64)
            cx, cx_tot = _group_cumsum(xv * lf, G, w)
            cy, cy_tot = _group_cumsum(yv * lf, G, w)
            xy = xv * yv
            # right i: x_i y_i #L_after - x_i sum_L_after y - y_i sum_L_after x ; left j: x_j y_j #R_before
            prod += (rf * (xy * nl_after - xv * (cy_tot - cy) - yv * (cx_tot - cx))).sum(dim=1)
            prod += (lf * xy * nr).sum(dim=1)
        if lev == 0:
            break
        base = torch.arange(N, device=dev) & ~(2 * w - 1)  # start of each position's group
        newpos = torch.where(right.bool(), nr - 1 + w, (1 - right).cumsum(dim=1) - (base // 2) - 1) + base
        pos = torch.empty_like(pos).scatter_(1, newpos, pos)
        real = pos < n
        if with_xy:
            vals = torch.empty_like(vals).scatter_(1, newpos[:, :, None].expand(p, N, 2), vals)
    return count, prod


def _group_cumsum(v: torch.Tensor, G: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive running sums of v (p, N) within consecutive groups of 2w, and each element's group total."""
    p, N = v.shape
    c = torch.cumsum(v, dim=1)
    ends = c[:, 2 * w - 1 :: 2 * w]  # (p, G) running sum at each group's end
    prev = torch.zeros_like(ends)
    prev[:, 1:] = ends[:, :-1]
    c = (c.view(p, G, 2 * w) - prev[:, :, None]).view(p, N)
    tot = (ends - prev).repeat_interleave(2 * w, dim=1)
    return c, tot
