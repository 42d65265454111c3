"""Rank statistics of long vectors in O(N log N): average ranks, tie counts, Kendall's tau-a.

RDM comparisons rank N = n(n-1)/2 entries (5e7 for n = 10 000), so
everything here is one sort per vector plus linear passes, never a loop over
pairs. On CPU, when numba imports, the sorts are the parallel LSD radix sort
of :mod:`featcorr.measures._rank_sort` (about 10x faster than numpy's
argsort at that size) in ``torch.get_num_threads()`` threads; otherwise numpy
sorts and SciPy's merge-sort Kendall count.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _rank_sort

__all__ = ["average_ranks", "tie_pairs", "kendall_tau_a"]

#: Lengths from which the compiled path is used: once its kernels are loaded in this process (``warm``), and
#: before that (``cold``: importing numba and loading the cached kernels costs ~0.8 s once per process, which
#: numpy's argsort / SciPy's kendalltau take at about these lengths).
_COMPILED_FROM = {"warm": 20_000, "cold": {"ranks": 4_000_000, "tau": 1_000_000}}


def _compiled(v: torch.Tensor, what: str) -> bool:
    if v.device.type != "cpu" or not _rank_sort.available():
        return False
    N = v.shape[0]
    return N >= _COMPILED_FROM["warm"] if _rank_sort.warm() else N >= _COMPILED_FROM["cold"][what]


def _run_sizes(sv: np.ndarray) -> np.ndarray:
    """Sizes of the runs of equal values of a sorted 1-D array, in order."""
    new = np.empty(sv.shape[0], dtype=bool)
    new[:1] = True
    np.not_equal(sv[1:], sv[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return np.diff(starts, append=sv.shape[0])


def average_ranks(v: torch.Tensor, *, overwrite: bool = False) -> torch.Tensor:
    """Ranks 1..N of a 1-D float64 tensor, ties given the mean of their ranks (as ``scipy.stats.rankdata``).

    With ``overwrite`` the memory of ``v`` may be reused (its contents are destroyed).
    """
    x = v.detach().cpu().numpy()
    if _compiled(v, "ranks"):
        return torch.from_numpy(
            _rank_sort.average_ranks(x, threads=torch.get_num_threads(), overwrite=overwrite)
        ).to(v.device)
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

    Compiled path: :func:`featcorr.measures._rank_sort.kendall_tau_a` (radix
    sorts and a merge-sort inversion count, exact integer counts). Fallback:
    C - D from Knight's merge-sort count through SciPy's public
    ``scipy.stats.kendalltau`` (tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)),
    n0 = N(N-1)/2 pairs, n1 and n2 the pairs tied in x and in y), so
    C - D = tau_b * sqrt((n0 - n1)(n0 - n2)). When every pair is tied in x
    or in y, C = D = 0 and tau-a is 0.
    """
    xn = x.detach().cpu().numpy()
    yn = y.detach().cpu().numpy()
    if _compiled(x, "tau"):
        return _rank_sort.kendall_tau_a(xn, yn, threads=torch.get_num_threads())
    N = x.shape[0]
    n0 = N * (N - 1) // 2
    n1, n2 = tie_pairs(x), tie_pairs(y)
    if n1 == n0 or n2 == n0:
        return 0.0
    import scipy.stats  # lazy: keeps `import featcorr` quick

    tau_b = float(scipy.stats.kendalltau(xn, yn, variant="b").statistic)
    return tau_b * float(np.sqrt(float(n0 - n1)) * np.sqrt(float(n0 - n2))) / n0
