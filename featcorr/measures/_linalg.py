"""Dense float64 decompositions for the moment-based measures, run robustly and computed once.

Two facts shape this module:

- LAPACK eigen/singular-value routines in torch's CPU build slow down 10-40x
  when their threads compete with other processes for the cores (measured on
  a 2-core machine under load: ``svdvals`` of a 1024 x 1024 matrix 0.5 s on 1
  thread, 9-20 s on 2), while GEMM is unaffected. CPU decompositions therefore
  run on one thread (the caller's thread count is restored afterwards;
  ``torch.set_num_threads`` is process-wide, so do not call measures from
  several Python threads at once if you rely on other thread settings).
- Every measure of a layer pair needs the eigen-decomposition of each layer's
  own covariance. A snapshot is frozen, so that decomposition is computed once
  per (snapshot, block, variant) and reused by every measure and every pair
  (kept in a weak cache that dies with the snapshot).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["lapack", "eigh", "eigvalsh", "cholesky", "solve_lower", "svd", "svdvals", "cached", "peek"]


@contextlib.contextmanager
def lapack(t: torch.Tensor) -> Iterator[None]:
    """Run the enclosed CPU decompositions on one thread (no effect for GPU tensors)."""
    n = torch.get_num_threads()
    if t.device.type != "cpu" or n == 1:
        yield
        return
    torch.set_num_threads(1)
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
