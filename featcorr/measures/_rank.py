"""Rank statistics of long vectors in O(N log N): average ranks, tie counts, Kendall's tau-a.

RDM comparisons rank N = n(n-1)/2 entries (12.5 million for n = 5000), so
everything here is one sort per vector plus linear passes, never a loop over
pairs.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["average_ranks", "tie_pairs", "kendall_tau_a"]


def _run_sizes(sv: np.ndarray) -> np.ndarray:
    """Sizes of the runs of equal values of a sorted 1-D array, in order."""
    new = np.empty(sv.shape[0], dtype=bool)
    new[:1] = True
    np.not_equal(sv[1:], sv[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return np.diff(starts, append=sv.shape[0])


def average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N of a 1-D tensor, ties given the mean of their ranks (as ``scipy.stats.rankdata``)."""
    x = v.detach().cpu().numpy()
    N = x.shape[0]
    order = np.argsort(x)  # ties share one rank below, so stability is not needed
    sv = np.sort(x)  # equals x[order]; a second (SIMD) sort is faster than the random-access gather
    new = np.empty(N, dtype=bool)
    new[:1] = True
    np.not_equal(sv[1:], sv[:-1], out=new[1:])
    ranks = np.empty(N, dtype=np.float64)
    if new.all():  # no ties: the rank of the k-th smallest is k
        ranks[order] = np.arange(1.0, N + 1.0)
    else:
        starts = np.flatnonzero(new)
        sizes = np.diff(starts, append=N)
        avg = starts + (sizes + 1.0) / 2.0  # ranks start+1 .. start+size, mean start + (size+1)/2
        ranks[order] = np.repeat(avg, sizes)
    return torch.from_numpy(ranks).to(v.device)


def tie_pairs(v: torch.Tensor) -> int:
    """Number of pairs (i < j) with v_i == v_j."""
    sizes = _run_sizes(np.sort(v.detach().cpu().numpy())).astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def kendall_tau_a(x: torch.Tensor, y: torch.Tensor) -> float:
    """Kendall's tau-a = (C - D) / (N (N - 1) / 2) of two 1-D tensors, ties not corrected, O(N log N).

    C - D comes from Knight's merge-sort count, through SciPy's public
    ``scipy.stats.kendalltau`` (tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)),
    n0 = N(N-1)/2 pairs, n1 and n2 the pairs tied in x and in y), so
    C - D = tau_b * sqrt((n0 - n1)(n0 - n2)). When every pair is tied in x
    or in y, C = D = 0 and tau-a is 0.
    """
    N = x.shape[0]
    n0 = N * (N - 1) // 2
    n1, n2 = tie_pairs(x), tie_pairs(y)
    if n1 == n0 or n2 == n0:
        return 0.0
    xn = x.detach().cpu().numpy()
    yn = y.detach().cpu().numpy()
    import scipy.stats  # lazy: keeps `import featcorr` quick

    tau_b = float(scipy.stats.kendalltau(xn, yn, variant="b").statistic)
    return tau_b * float(np.sqrt(float(n0 - n1)) * np.sqrt(float(n0 - n2))) / n0
