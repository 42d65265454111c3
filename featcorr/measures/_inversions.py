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

__all__ = ["discordance", "discordant_products"]


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
    if N > n:
        # Pads take the tail positions with one key above every real key. Tied keys are arranged by
        # position, so a pad is never discordant with anything: no masking needed.
        keys = torch.cat([keys, torch.full((p, N - n), n + 1, dtype=keys.dtype, device=dev)], dim=1)
    itype = torch.int32 if N < (1 << 30) else torch.int64
    ar = torch.arange(N, device=dev, dtype=itype)
    order = torch.argsort(keys.to(torch.int64) * N + ar, dim=1)  # (p, N): arrangement by (key, position)
    pos = order.to(itype)  # x-position of each arranged element
    count = torch.zeros(p, dtype=torch.float64, device=dev)
    prod = torch.zeros(p, dtype=torch.float64, device=dev) if with_xy else None
    if with_xy:
        pad = torch.zeros((p, N - n), dtype=torch.float64, device=dev)
        xa = torch.cat([x, pad], dim=1).gather(1, order)  # x, y in arrangement order
        ya = torch.cat([y, pad], dim=1).gather(1, order)
    for lev in range(L - 1, -1, -1):
        w = 1 << lev
        G = N // (2 * w)
        right = (pos >> lev) & 1  # 1 = right half of its group
        left = 1 - right
        within = ar & (2 * w - 1)  # index inside the group
        # lefts up to and including each element, inside its group: every group has exactly w lefts
        nl = torch.cumsum(left, dim=1, dtype=itype) - (ar >> (lev + 1)) * w
        nl_after = w - nl
        count += (nl_after * right).sum(dim=1, dtype=torch.float64)
        if with_xy:
            lf = left.to(torch.float64)
            cx = torch.cumsum(xa * lf, dim=1).view(p, G, 2 * w)
            cy = torch.cumsum(ya * lf, dim=1).view(p, G, 2 * w)
            ax = (cx[:, :, -1:] - cx).view(p, N)  # sum of left x after each element
            ay = (cy[:, :, -1:] - cy).view(p, N)
            nr = within + 1 - nl  # rights up to and including each element
            partners = torch.where(left.bool(), nr, nl_after)
            # sum over discordant pairs (j left, i right) of x_i y_i + x_j y_j - x_i y_j - x_j y_i
            prod += (xa * ya * partners).sum(dim=1)
            prod -= ((xa * ay + ya * ax) * (1.0 - lf)).sum(dim=1)
        if lev == 0:
            break
        base = ar - within
        newpos = torch.where(right.bool(), base + w + (within - nl), base + nl - 1)
        newpos = newpos.to(torch.int64)
        pos = torch.empty_like(pos).scatter_(1, newpos, pos)
        if with_xy:
            xa = torch.empty_like(xa).scatter_(1, newpos, xa)
            ya = torch.empty_like(ya).scatter_(1, newpos, ya)
    return count, prod


def discordant_products(
    keys: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, permutation: bool = False
) -> torch.Tensor:
    """Sum over discordant pairs (j < i, keys[j] > keys[i]) of (x_i - x_j)(y_i - y_j), per row, (p,).

    The same level scheme as :func:`discordance` without the pair count, with
    branch-free index arithmetic (the distance covariance needs only this sum).
    Per level and element: partners = rights before a left element or lefts
    after a right one; the pair sum is sum_e x_e y_e partners_e minus, over right
    elements, x_i (sum of left y after i) + y_i (sum of left x after i).
    With ``permutation=True`` (each row of keys is a permutation of 0..n-1) the
    arrangement by key is an inverse permutation (one scatter) instead of a sort.
    """
    p, n = keys.shape
    dev = keys.device
    L = max(1, (n - 1).bit_length())
    N = 1 << L
    if N > n:  # pads: keys above every real one, increasing with position, zero values: never discordant
        tail = torch.arange(n, N, dtype=keys.dtype, device=dev).expand(p, N - n)
        keys = torch.cat([keys, tail if permutation else torch.full_like(tail, n + 1)], dim=1)
        pad = torch.zeros((p, N - n), dtype=torch.float64, device=dev)
        x = torch.cat([x, pad], 1)
        y = torch.cat([y, pad], 1)
    ar = torch.arange(N, device=dev, dtype=torch.int32)
    if permutation:
        order = torch.empty((p, N), dtype=torch.int64, device=dev).scatter_(
            1, keys.to(torch.int64), torch.arange(N, device=dev).expand(p, N)
        )
    else:
        order = torch.argsort(keys.to(torch.int64) * N + ar, dim=1)
    pos = order.to(torch.int32)
    xa = x.gather(1, order)
    ya = y.gather(1, order)
    prod = torch.zeros(p, dtype=torch.float64, device=dev)
    for lev in range(L - 1, -1, -1):
        w = 1 << lev
        G = N // (2 * w)
        r = (pos >> lev) & 1           # int32 right flag
        nl = torch.cumsum(1 - r, dim=1, dtype=torch.int32)
        nl -= (ar >> (lev + 1)) * w
        within = ar & (2 * w - 1)
        a = within + 1 - nl            # rights up to & incl. (for lefts: partners)
        # partners = a + r * (w - within - 1)  (rights: lefts after = w - nl)
        partners = torch.addcmul(a.to(torch.float64), r.to(torch.float64), (w - 1 - within).to(torch.float64))
        rf = r.to(torch.float64)
        lf = 1.0 - rf
        xy = xa * ya
        cx = torch.cumsum(xa * lf, dim=1).view(p, G, 2 * w)
        cy = torch.cumsum(ya * lf, dim=1).view(p, G, 2 * w)
        ax = (cx[:, :, -1:] - cx).view(p, N)
        ay = (cy[:, :, -1:] - cy).view(p, N)
        t = torch.addcmul(xa * ay, ya, ax)
        prod += (xy * partners - t * rf).sum(1)
        if lev == 0:
            break
        # left: base + nl - 1 ; right: base + w + (within - nl) = base + nl - 1 + (w + within + 1 - 2 nl)
        newpos = (ar - within + nl - 1 + r * (w + within + 1 - 2 * nl)).long()
        pos = torch.empty_like(pos).scatter_(1, newpos, pos)
        xa = torch.empty_like(xa).scatter_(1, newpos, xa)
        ya = torch.empty_like(ya).scatter_(1, newpos, ya)
    return prod
