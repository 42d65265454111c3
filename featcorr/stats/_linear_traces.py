"""Pair traces tr(K~_a K~_b) of hollow linear Grams of one batch, by the cheaper of two exact routes.

For centred blocks X_a (m x p_a), K_a = X_a X_a^T and K~_a is K_a with its
diagonal zeroed. The minibatch HSIC statistic needs tr(K~_a K~_b) for every
pair of blocks; two exact routes give it:

- **Gram route**, cost ~ m^2 P / 2 + L^2 m^2 / 2 (P = sum of widths, L blocks):
  symmetric rank-k updates (BLAS ?syrk, half the flops of a GEMM) write
  exactly the strict triangle of each K_a into m(m-1)/2 packed entries,
  and tr(K~_a K~_b) = 2 <tri_a, tri_b> for all pairs comes from products of
  the stacked triangles.
- **Feature route**, cost ~ m P^2 / 2 + L P^2: with Z = [X_1 ... X_L] (m x P)
  and C = Z^T Z (one ?syrk), tr(K_a K_b) = ||X_a^T X_b||_F^2 = ||C_ab||_F^2 and
  tr(K~_a K~_b) = ||C_ab||_F^2 - sum_i ||x_ai||^2 ||x_bi||^2 (the diagonals).
  Cheaper when the total width P is below about the batch size m.

:func:`choose_route` compares the two flop counts. Both routes equal the
textbook sum over i != j of (K_a)_ij (K_b)_ij up to rounding in the Gram
dtype (tests/stats/test_linear_traces.py checks both to 1e-10 in float64).
With torch on one CPU thread, float32/float64 products use scipy's BLAS ?syrk on zero-copy numpy
views of the torch tensors; bfloat16, non-CPU tensors and several threads use torch matmuls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["choose_route", "hollow_gram_traces", "feature_space_traces", "uses_blas", "ROUTES"]

#: Exact routes to the pair traces: ``"gram"`` (m x m Grams) and ``"features"`` (P x P cross-products).
ROUTES = ("gram", "features")

_SYRK_DTYPES = (torch.float32, torch.float64)


def choose_route(m: int, widths: Sequence[int], dtype: torch.dtype = torch.float64) -> str:
    """The cheaper exact route, ``"gram"`` or ``"features"``, for a batch of ``m`` rows and these block widths.

    Parameters
    ----------
    m : int
        Rows in the batch.
    widths : sequence of int
        Feature count p_a of every block.
    dtype : torch.dtype
        Gram dtype; bfloat16 always takes the Gram route (no bfloat16 ?syrk).

    Returns
    -------
    str
        ``"features"`` when m P^2 / 2 + L P^2 < m^2 P / 2 + L^2 m^2 / 2 (P = sum of
        widths, L blocks), i.e. roughly when P < m; else ``"gram"``.
    """
    if dtype == torch.bfloat16:
        return "gram"
    L, P = len(widths), sum(int(p) for p in widths)
    gram = m * m * P / 2 + L * L * m * m / 2
    features = m * P * P / 2 + L * P * P
    return "features" if features < gram else "gram"


def uses_blas(device: torch.device, dtype: torch.dtype) -> bool:
    """True when the routes run scipy's BLAS ?syrk: CPU float32/float64 with torch on one thread.

    With torch on several threads, scipy's OpenBLAS threads and torch's
    spinning OpenMP threads oversubscribe the cores (measured 10x slower wall
    time on 2 cores), so torch matmuls are used instead.
    """
    return torch.device(device).type == "cpu" and dtype in _SYRK_DTYPES and torch.get_num_threads() == 1


def _blas_syrk(dtype: torch.dtype) -> Any:
    from scipy.linalg import blas  # lazy: scipy.linalg costs ~0.5 s to import

    return blas.dsyrk if dtype == torch.float64 else blas.ssyrk


def _syrk_into(syrk: Any, rows: np.ndarray, out: np.ndarray, c_lower: bool) -> None:
    """rows rows^T written into one triangle (diagonal included) of ``out`` (square, C-ordered); the other untouched.

    ``c_lower`` picks the C-order lower triangle. ``rows`` is C-ordered, so
    rows^T is a Fortran (p, k) array and trans=1 gives rows rows^T; BLAS
    writes into out^T (the Fortran view), whose upper triangle is out's lower.
    """
    res = syrk(1.0, rows.T, beta=0.0, c=out.T, trans=1, lower=0 if c_lower else 1, overwrite_c=1)
    if res.ctypes.data != out.ctypes.data:  # scipy copied the output (should not happen): write it back
        out[...] = res.T


def hollow_gram_traces(
    xs: Sequence[torch.Tensor], workspace: dict[Any, Any] | None = None, *, diagonals: torch.Tensor | None = None
) -> torch.Tensor:
    """(L, L) matrix of tr(K~_a K~_b), K_a = X_a X_a^T with zeroed diagonal, by the Gram route.

    Parameters
    ----------
    xs : sequence of torch.Tensor
        L blocks (m, p_a) of one batch, one dtype (float64, float32 or
        bfloat16), centred (not required for exactness, only for digits).
    workspace : dict, optional
        Reused between calls: holds the Gram buffers so that a stream of
        equal batches allocates them once.
    diagonals : torch.Tensor, optional
        (L, m) float64: receives the Gram diagonals ||x_ai||^2 (on the BLAS
        path, :func:`uses_blas`, read off the Gram before they are zeroed).

    Returns
    -------
    torch.Tensor
        (L, L) symmetric, in the Gram dtype (float32 for bfloat16 inputs).

    Notes
    -----
    CPU float32/float64 (the BLAS path): the rows are split into halves R1,
    R2 of h = floor(m/2) rows (and, for odd m, the last row r). One h x h
    square S per block holds the strict lower triangle of R1 R1^T and the
    strict upper triangle of R2 R2^T (two ?syrk into opposite triangles, the
    diagonal zeroed), one h x h square O holds R1 R2^T (one GEMM) and, for
    odd m, V holds [R1; R2] r^T. That is exactly the strict triangle of K
    (m (m - 1) / 2 entries, m^2 p / 2 flops), and
    tr(K~_a K~_b) = 2 (<S_a, S_b> + <O_a, O_b> + <V_a, V_b>) for all pairs
    comes from products of the flattened buffers (L^2 m^2 / 2 flops).
    Elsewhere: the upper block-triangle of each Gram via three torch matmuls
    (3/4 of the GEMM flops).
    """
    x0 = xs[0]
    ws = workspace if workspace is not None else {}
    if not uses_blas(x0.device, x0.dtype):
        if diagonals is not None:
            for i, x in enumerate(xs):
                diagonals[i] = torch.linalg.vecdot(x, x)
        return _hollow_gram_traces_torch(xs, ws)
    L, m = len(xs), x0.shape[0]
    h = m // 2
    odd = m % 2 == 1
    np_dtype = np.float64 if x0.dtype == torch.float64 else np.float32
    key = ("syrk", L, m, x0.dtype)
    if key not in ws:
        for old in [w for w in ws if isinstance(w, tuple) and w[0] == "syrk"]:
            del ws[old]
        # numpy buffers: no torch inference-mode flag sticks to a buffer reused across batches
        ws[key] = (np.empty((L, h, h), np_dtype), np.empty((L, h, h), np_dtype), np.empty((L, m - 1), np_dtype))
    S, O, V = ws[key]
    syrk = _blas_syrk(x0.dtype)
    for i, x in enumerate(xs):
        x = x.contiguous()
        xn = x.numpy()
        _syrk_into(syrk, xn[:h], S[i], c_lower=True)
        if diagonals is not None:
            diagonals[i, :h] = torch.from_numpy(np.diagonal(S[i]).copy())
        _syrk_into(syrk, xn[h : 2 * h], S[i], c_lower=False)  # overwrites the diagonal only
        if diagonals is not None:
            diagonals[i, h : 2 * h] = torch.from_numpy(np.diagonal(S[i]).copy())
        np.fill_diagonal(S[i], 0.0)
        torch.mm(x[:h], x[h : 2 * h].T, out=torch.from_numpy(O[i]))
        if odd:
            torch.mv(x[: m - 1], x[m - 1], out=torch.from_numpy(V[i]))
            if diagonals is not None:
                diagonals[i, m - 1] = torch.dot(x[m - 1], x[m - 1])
    Sf = torch.from_numpy(S.reshape(L, h * h))
    Of = torch.from_numpy(O.reshape(L, h * h))
    out = torch.mm(Sf, Sf.T)
    out.addmm_(Of, Of.T)
    if odd:
        Vf = torch.from_numpy(V)
        out.addmm_(Vf, Vf.T)
    return out.mul_(2.0)


def feature_space_traces(xs: Sequence[torch.Tensor], d: torch.Tensor) -> torch.Tensor:
    """(L, L) float64 matrix of tr(K~_a K~_b) by the feature route: ||X_a^T X_b||_F^2 - sum_i d_ai d_bi.

    Parameters
    ----------
    xs : sequence of torch.Tensor
        L blocks (m, p_a) of one batch, float32 or float64, centred.
    d : torch.Tensor
        (L, m) float64 squared row norms ||x_ai||^2 of the same blocks (the Gram diagonals).

    Returns
    -------
    torch.Tensor
        (L, L) float64, symmetric.

    Notes
    -----
    C = Z^T Z for Z = [X_1 ... X_L] (one ?syrk on the CPU, m P^2 / 2 flops),
    its squared entries summed block by block through an indicator matrix
    (L P^2 flops). Identity: tr(K_a K_b) = tr(X_a X_a^T X_b X_b^T) = ||X_a^T X_b||_F^2.
    """
    widths = [x.shape[1] for x in xs]
    Z = torch.cat(list(xs), dim=1).contiguous()
    P = Z.shape[1]
    if uses_blas(Z.device, Z.dtype):
        C = torch.zeros(P, P, dtype=Z.dtype)
        syrk = _blas_syrk(Z.dtype)
        cn = C.numpy()
        # Z is C-ordered (m, P), so Z^T is Fortran (P, m); trans=0 gives Z^T Z into cn^T (Fortran view).
        res = syrk(1.0, Z.numpy().T, beta=0.0, c=cn.T, trans=0, lower=0, overwrite_c=1)
        if res.ctypes.data != cn.ctypes.data:
            C.copy_(torch.from_numpy(res.T))
        diag = C.diagonal().clone()
        C = C + C.T  # one triangle was written: symmetrise (diagonal doubled, fixed below)
        C.diagonal().copy_(diag)
    else:
        C = Z.T @ Z
    S = C.to(torch.float64).square_()
    E = torch.zeros(P, len(xs), dtype=torch.float64, device=S.device)  # block indicator
    lo = 0
    for j, p in enumerate(widths):
        E[lo : lo + p, j] = 1.0
        lo += p
    norms = E.T @ (S @ E)
    return norms - d @ d.T


def _hollow_gram_traces_torch(xs: Sequence[torch.Tensor], workspace: dict[Any, Any] | None = None) -> torch.Tensor:
    """Gram route with torch matmuls only (any device, bfloat16 included): upper block-triangle of each Gram.

    The rows are split into two halves; the blocks (1,1), (2,2) and (1,2) of
    each symmetric Gram are computed (into buffers kept in ``workspace``) and
    the off-diagonal block counts twice. bfloat16 Gram entries are multiplied
    in float32.
    """
    L = len(xs)
    m = xs[0].shape[0]
    dtype, dev = xs[0].dtype, xs[0].device
    if m < 64:  # small batches: one full Gram each
        G = torch.empty(L, m, m, dtype=dtype, device=dev)
        for i, x in enumerate(xs):
            torch.mm(x, x.T, out=G[i])
            G[i].diagonal().zero_()
        flat = G.reshape(L, -1) if dtype != torch.bfloat16 else G.reshape(L, -1).to(torch.float32)
        return flat @ flat.T
    h = m // 2
    k = m - h
    ws = workspace if workspace is not None else {}
    key = ("blocks", L, m, dtype, dev)
    if key not in ws:
        for old in [w for w in ws if isinstance(w, tuple) and w[0] == "blocks"]:
            del ws[old]
        with torch.inference_mode(False):  # normal tensors: written inside and outside inference_mode
            D = torch.empty(L, h * h + k * k, dtype=dtype, device=dev)  # diagonal blocks, flattened
            O = torch.empty(L, h * k, dtype=dtype, device=dev)  # off-diagonal block, flattened
            up = dtype == torch.bfloat16  # bf16 Gram entries: their inner products in float32
            Df = torch.empty(D.shape, dtype=torch.float32, device=dev) if up else D
            Of = torch.empty(O.shape, dtype=torch.float32, device=dev) if up else O
        ws[key] = (D, O, Df, Of)
    D, O, Df, Of = ws[key]
    for i, x in enumerate(xs):
        x1, x2 = x[:h], x[h:]
        b11 = D[i, : h * h].view(h, h)
        b22 = D[i, h * h :].view(k, k)
        torch.mm(x1, x1.T, out=b11)
        torch.mm(x2, x2.T, out=b22)
        b11.diagonal().zero_()
        b22.diagonal().zero_()
        torch.mm(x1, x2.T, out=O[i].view(h, k))
    if Df is not D:
        Df.copy_(D)
        Of.copy_(O)
    out = Df @ Df.T
    out.addmm_(Of, Of.T, alpha=2.0)
    return out
