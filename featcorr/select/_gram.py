"""Symmetric rank-k updates A^T A in float32 with a float64 accumulator (BLAS syrk on CPU: half a GEMM's flops)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["add_gram", "full_from_upper"]


def add_gram(acc: torch.Tensor, a: torch.Tensor) -> None:
    """Add the upper triangle of a^T a (a float32 GEMM-precision product) to ``acc`` in place.

    Parameters
    ----------
    acc : torch.Tensor of shape (p, p), float64
        Accumulator; only its upper triangle (i <= j) is meaningful afterwards,
        the strict lower triangle receives zeros on CPU and the full product
        elsewhere -- read it through :func:`full_from_upper`.
    a : torch.Tensor of shape (m, p)
        Rows to add, cast to float32 (the product of each chunk has float32
        precision, ~1e-7 relative per entry for moderate m; sums across chunks are float64).

    Notes
    -----
    On CPU the product is BLAS ``ssyrk`` (scipy's OpenBLAS), which computes
    only one triangle: m p^2 flops instead of GEMM's 2 m p^2. A C-ordered
    (m, p) array is the Fortran-ordered (p, m) matrix a^T, so ``ssyrk`` with
    ``trans=0`` computes a^T a without a copy (and a transposed view, Fortran
    ordered, goes through ``trans=1``, also without a copy). On other devices: ``a.T @ a``.
    Tested against a float64 numpy product in tests/select/test_feature_gradients.py.
    """
    a = a.to(torch.float32)
    if a.device.type != "cpu":
        acc += (a.T @ a).to(torch.float64)
        return
    from scipy.linalg.blas import ssyrk

    an = a.numpy()
    if an.flags.f_contiguous and not an.flags.c_contiguous:
        c = ssyrk(1.0, an, trans=1, lower=0)  # Fortran (m, p): a^T a directly
    else:
        an = np.ascontiguousarray(an)
        c = ssyrk(1.0, an.T, trans=0, lower=0)  # C (m, p) is Fortran (p, m) = a^T: a^T (a^T)^T
    acc += torch.from_numpy(np.asarray(c)).to(torch.float64)


def full_from_upper(acc: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose upper triangle (diagonal included) is that of ``acc``.

    Parameters
    ----------
    acc : torch.Tensor of shape (p, p)
        An accumulator filled by :func:`add_gram` (its strict lower triangle is ignored).

    Returns
    -------
    torch.Tensor of shape (p, p)
        triu(acc) + triu(acc, 1)^T.
    """
    up = torch.triu(acc)
    return up + torch.triu(acc, 1).T
