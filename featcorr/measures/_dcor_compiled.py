"""Compiled CPU path of the univariate distance-correlation sums: numpy sorts + numba kernels, features in threads.

:func:`available` says whether numba imports (it is a dependency, but the
torch path in :mod:`featcorr.measures._dcor` stays as the fallback and serves
GPU tensors). :func:`terms_univariate` returns the same S1, S2, S3 sums as
:func:`featcorr.measures._dcor.dcor_terms_univariate`, from

- one argsort of the centred target (its ranks and distance row sums,
  shared by every feature), and
- per feature, one argsort of the centred column and one pass of
  :func:`featcorr.measures._dcor_kernels.pair_sums` (O(n log n)).

numpy's argsort and the ``nogil`` kernels release the GIL, so the target and
the features run in up to ``torch.get_num_threads()`` Python threads (one
feature per thread; the target's sort overlaps the first feature's).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._numba import numba_available

__all__ = ["available", "terms_univariate"]


def available() -> bool:
    """True when numba imports, i.e. the compiled kernels can be used."""
    return numba_available()


def _target(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample [centred y, distance row sum b_i., distinct rank, 0] (n, 4), and the self sums of y."""
    from ._dcor_kernels import target_records

    yc = y - y.mean()
    return target_records(yc, np.argsort(yc))


def _feature(col: np.ndarray, target) -> np.ndarray:
    """[S1, S2, xS1, xS2, sum a] of one column with the target (a future or a ready tuple)."""
    from ._dcor_kernels import pair_sums

    xc = col - col.mean()
    order = np.argsort(xc)
    rec, _ = target.result() if hasattr(target, "result") else target
    return pair_sums(xc, order, rec)


def terms_univariate(X: np.ndarray, y: np.ndarray, *, threads: int = 1) -> dict[str, tuple[np.ndarray, ...]]:
    """S1, S2, S3 of (x_f, y), (x_f, x_f) and (y, y) for every column x_f of X.

    Parameters
    ----------
    X : ndarray of shape (n, p), float64
        Features (any strides); no column may be constant for a meaningful dCor.
    y : ndarray of shape (n,), float64
        Target.
    threads : int, default=1
        Python threads (features in parallel; the kernels release the GIL).

    Returns
    -------
    dict
        ``{"xy": (S1, S2, S3), "xx": (...), "yy": (...)}`` of float64 arrays of shape (p,)
        (``"yy"``: shape (1,)), with S1 = sum_ij a_ij b_ij, S2 = sum_i a_i. b_i. and S3 = a.. b..
        as in :func:`featcorr.measures._dcor.dcor_terms_univariate`. Sums are translation
        invariant (data are centred first) and carry about one rounding error each; tested
        against O(n^2) float64 sums in ``tests/measures/test_dcor_compiled.py``.
    """
    n, p = X.shape
    X = np.asarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    workers = max(1, min(int(threads), p + 1))
    if workers == 1:
        tgt = _target(y)
        rows = [_feature(X[:, j], tgt) for j in range(p)]
    else:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            tgt_f = ex.submit(_target, y)
            futs = [ex.submit(_feature, X[:, j], tgt_f) for j in range(p)]
            rows = [f.result() for f in futs]
            tgt = tgt_f.result()
    out = np.stack(rows) if rows else np.empty((0, 5))
    ys = tgt[1]
    B = ys[2]
    return {
        "xy": (out[:, 0], out[:, 1], out[:, 4] * B),
        "xx": (out[:, 2], out[:, 3], out[:, 4] ** 2),
        "yy": (ys[0:1].copy(), ys[1:2].copy(), ys[2:3] ** 2),
    }
