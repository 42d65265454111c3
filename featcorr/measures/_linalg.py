"""Dense float64 decompositions for the moment-based measures, run robustly and computed once.

Two facts shape this module:

- LAPACK eigen/singular-value routines in torch's CPU build slow down 10-40x
  when their threads compete with other processes for the cores (measured on
  a 2-core machine under load: ``svdvals`` of a 1024 x 1024 matrix 0.5 s on 1
  thread, 9-20 s on 2), while GEMM is unaffected. On the same 2-core box with
  one other busy process (load ~2), 2 LAPACK threads were still slower in wall
  time than 1 for every routine used here (eigvalsh / svdvals / eigh of
  1024 x 1024: 0.21 / 0.41 / 0.47 s on 2 threads vs 0.08 / 0.15 / 0.18 s on 1),
  but with the other core free they were 1.5-2x faster (CCA-family
  decompositions at p = 1024-2048; bench/results/cca_procrustes.md). The
  default, ``LAPACK_THREADS = "auto"``, therefore uses torch's thread count
  when no other process is running on the cores torch's threads would take
  (runnable threads in ``/proc/loadavg`` at the call minus this process's own
  runnable threads, which include torch's workers still spinning after a GEMM,
  <= cores - torch threads; the 1-minute load average minus 1 where there is
  no /proc) and one thread otherwise;
  :func:`set_lapack_threads` fixes it instead. The caller's thread count is
  restored afterwards; ``torch.set_num_threads`` is process-wide, so do not
  call measures from several Python threads at once if you rely on other
  thread settings.
- Every measure of a layer pair needs the eigen-decomposition of each layer's
  own covariance. A snapshot is frozen, so that decomposition is computed once
  per (snapshot, block, variant) and reused by every measure and every pair
  (kept in a weak cache that dies with the snapshot).
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = [
    "LAPACK_THREADS",
    "set_lapack_threads",
    "lapack",
    "eigh",
    "eigvalsh",
    "cholesky",
    "solve_lower",
    "svd",
    "svdvals",
    "gram_singular_values",
    "singular_values",
    "cached",
    "peek",
]

#: Threads for CPU decompositions: "auto" (default), an int, or None (torch's current setting).
LAPACK_THREADS: int | str | None = "auto"


def set_lapack_threads(n: int | str | None) -> int | str | None:
    """Set the number of threads CPU decompositions run on; return the previous setting.

    Parameters
    ----------
    n : int >= 1, "auto" or None
        Threads for eigh / svd / Cholesky / triangular solves of the
        moment-based measures. ``"auto"`` (default): torch's thread count when
        the 1-minute load average shows no other busy process, else 1 (see
        the module docstring for the measurements); ``None``: always torch's
        current ``torch.get_num_threads()``.
    """
    global LAPACK_THREADS
    if not (n is None or n == "auto" or (isinstance(n, int) and not isinstance(n, bool) and n >= 1)):
        from ..errors import UnknownOptionError

        raise UnknownOptionError(f"set_lapack_threads: n must be a positive int, 'auto' or None, got {n!r}.")
    old, LAPACK_THREADS = LAPACK_THREADS, n
    return old


def _others_running() -> float | None:
    """Threads of other processes running now: runnable threads of /proc/loadavg minus this process's own.

    Falls back to the 1-minute load average minus 1 without /proc, and to
    None when neither exists. About 0.1 ms.
    """
    try:
        with open("/proc/loadavg") as f:
            total = int(f.read().split()[3].split("/")[0])
        own = 0
        for stat in glob.glob("/proc/self/task/*/stat"):
            try:
                with open(stat) as f:
                    own += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):  # a thread that ended meanwhile
                continue
        return max(0, total - max(own, 1))
    except (OSError, ValueError, IndexError):
        pass
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):
        return None


def _auto_threads(torch_threads: int) -> int:
    """torch's thread count when no other process runs on the cores its threads would take, else 1."""
    others = _others_running()
    if others is None:  # no way to tell: the choice that never stalls
        return 1
    return torch_threads if others <= (os.cpu_count() or 1) - torch_threads + 0.5 else 1


@contextlib.contextmanager
def lapack(t: torch.Tensor) -> Iterator[None]:
    """Run the enclosed CPU decompositions on ``LAPACK_THREADS`` threads (no effect for GPU tensors)."""
    n = torch.get_num_threads()
    want = LAPACK_THREADS
    if want == "auto":
        want = 1 if n == 1 else _auto_threads(n)
    if t.device.type != "cpu" or want is None or n == want:
        yield
        return
    torch.set_num_threads(want)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def eigh(S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-pairs of a symmetric matrix, ascending (torch.linalg.eigh, float64, one LAPACK thread)."""
    S = S.to(torch.float64)
    with lapack(S):
        return torch.linalg.eigh(S)


def eigvalsh(S: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a symmetric matrix, ascending (float64, one LAPACK thread)."""
    S = S.to(torch.float64)
    with lapack(S):
        return torch.linalg.eigvalsh(S)


def cholesky(S: torch.Tensor) -> torch.Tensor | None:
    """Lower Cholesky factor of a symmetric positive definite matrix, or None if the factorisation fails."""
    S = S.to(torch.float64)
    with lapack(S):
        L, info = torch.linalg.cholesky_ex(S)
    return L if int(info) == 0 else None


def solve_lower(L: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """L^{-1} B for lower-triangular L (float64)."""
    with lapack(L):
        return torch.linalg.solve_triangular(L, B.to(torch.float64), upper=False)


def svdvals(M: torch.Tensor) -> torch.Tensor:
    """Singular values, descending (float64, one LAPACK thread)."""
    M = M.to(torch.float64)
    with lapack(M):
        return torch.linalg.svdvals(M)


#: Accept singular values from the Gram eigenvalues when the bound on the error of their sum is below this
#: fraction of the sum (see gram_singular_values).
GRAM_RTOL = 1e-8


def gram_singular_values(M: torch.Tensor, *, rtol: float = GRAM_RTOL) -> torch.Tensor | None:
    """Singular values of M (descending) as square roots of the eigenvalues of its smaller Gram, or None.

    sigma_i^2 are the eigenvalues of G = M^T M (or M M^T, whichever is
    smaller): one GEMM and one tridiagonalisation (4/3 k^3 flops, k = min(p, q))
    instead of a bidiagonalisation (8/3 k^3 plus, for p != q, more), about 2.5x
    faster on CPU at k = 2048. Squaring costs accuracy for small sigma_i, so
    the result is returned only when an a-posteriori bound certifies it:
    with e = 2 max(p, q) eps lambda_max (normwise rounding bound of the GEMM
    and of a backward-stable symmetric eigensolver), |sigma_i - sigma^_i| <=
    b_i = min(sqrt(e), e / sigma^_i); the values are returned when
    sum_i b_i <= ``rtol`` x sum_i sigma^_i (so the nuclear norm, the mean of
    the canonical correlations, ... are accurate to ``rtol`` relative), else
    None (the caller then uses :func:`svdvals`, LAPACK gesdd).

    Parameters
    ----------
    M : torch.Tensor of shape (p, q)
    rtol : float, default=1e-8
        Bound on the relative error of the sum of the singular values. The
        bound is a worst case (its constant 2 max(p, q) and the normwise
        eigenvalue bound make it 10^4-10^6 times the error observed: e.g.
        3.5e-15 actual vs a 1.6e-10 bound for a 512 x 512 cross-covariance).

    Returns
    -------
    torch.Tensor of shape (min(p, q),), float64, descending, or None.
    """
    M = M.to(torch.float64)
    G = M.T @ M if M.shape[0] >= M.shape[1] else M @ M.T
    lam = eigvalsh(G).flip(0)
    lam_max = float(lam[0]) if lam.numel() else 0.0
    if not lam_max > 0.0:
        return None
    e = 2.0 * max(M.shape) * torch.finfo(torch.float64).eps * lam_max
    sigma = torch.sqrt(torch.clamp(lam, min=0.0))
    bound = torch.minimum(torch.full_like(sigma, math.sqrt(e)), e / sigma)  # e / 0 = inf -> sqrt(e)
    if float(bound.sum()) > rtol * float(sigma.sum()):
        return None
    return sigma


def singular_values(M: torch.Tensor, *, rtol: float = GRAM_RTOL) -> torch.Tensor:
    """Singular values of M, descending: :func:`gram_singular_values` when certified, else :func:`svdvals`.

    Parameters
    ----------
    M : torch.Tensor of shape (p, q)
    rtol : float, default=1e-8
        Certified relative accuracy of their sum required from the Gram path.

    Returns
    -------
    torch.Tensor of shape (min(p, q),), float64. Tested against
    ``numpy.linalg.svd`` (tests/measures/test_linalg.py).
    """
    sigma = gram_singular_values(M, rtol=rtol)
    return svdvals(M) if sigma is None else sigma


def svd(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD (float64, one LAPACK thread)."""
    M = M.to(torch.float64)
    with lapack(M):
        return torch.linalg.svd(M, full_matrices=False)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def peek(snap: Any, key: tuple) -> Any:
    """The cached result for (snapshot, key), or None."""
    try:
        return _CACHE.get(snap, {}).get(key)
    except TypeError:
        return None


def cached(snap: Any, key: tuple, build: Callable[[], Any]) -> Any:
    """``build()`` once per (frozen snapshot, key); later calls return the stored result."""
    try:
        store = _CACHE.setdefault(snap, {})
    except TypeError:  # not weak-referenceable: no caching
        return build()
    if key not in store:
        store[key] = build()
    return store[key]
