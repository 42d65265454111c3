"""Ranks, tie counts and Kendall's tau-a of long float64 vectors by a parallel radix sort (numba kernels).

The compiled CPU path of :mod:`featcorr.measures._rank`; the kernels live in
:mod:`featcorr.measures._rank_kernels` and are imported lazily. RDM
comparisons rank N = n(n-1)/2 entries (5e7 for n = 10 000): numpy's argsort
takes ~5 s for that, the radix sort here ~1 s on one core.

Work is split into ``threads`` contiguous chunks of positions run in Python
threads (the kernels release the GIL); results do not depend on the number
of threads (the sort is stable and every count is an integer).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._numba import numba_available

__all__ = ["available", "warm", "sort_float", "average_ranks", "kendall_tau_a"]

_loaded = False  # set once a compiled kernel has run in this process

#: below this length a position fits the low 32 bits of a packed word
_PACKED_BELOW = 2**32


def available() -> bool:
    """True when numba imports, i.e. the compiled kernels can be used."""
    return numba_available()


def warm() -> bool:
    """True once the kernels have run in this process (numba imported, cached machine code loaded)."""
    return _loaded


def _mark_loaded() -> None:
    global _loaded
    _loaded = True


def _bounds(N: int, threads: int) -> list[tuple[int, int]]:
    T = max(1, min(threads, N // 65536 or 1))
    cuts = [N * c // T for c in range(T + 1)]
    return [(cuts[c], cuts[c + 1]) for c in range(T)]


def _run(pool: ThreadPoolExecutor | None, fn, chunks: list, *args) -> list:
    """fn(*args, *chunk) for every chunk (a tuple), in the pool's threads (inline without a pool or for one chunk)."""
    if pool is None or len(chunks) == 1:
        return [fn(*args, *ch) for ch in chunks]
    return [f.result() for f in [pool.submit(fn, *args, *ch) for ch in chunks]]


def _digit_counts_into(keys, shift, hist, c, bounds) -> None:
    from . import _rank_kernels as K

    K.digit_counts(keys, shift, hist[c], bounds[0], bounds[1])


def _scatter_chunk(keys, i_in, k_out, i_out, shift, offsets, first, c, bounds) -> None:
    from . import _rank_kernels as K

    K.scatter(keys, i_in, k_out, i_out, shift, offsets[c], bounds[0], bounds[1], first)


def _key_counts_into(keys, counts, c, bounds) -> None:
    from . import _rank_kernels as K

    K.key_counts(keys, counts[c], bounds[0], bounds[1])


def _float_keys_into(bits, keys, counts, c, bounds) -> None:
    from . import _rank_kernels as K

    K.float_keys(bits, keys, counts[c], bounds[0], bounds[1])


def _radix(keys: np.ndarray, idx: np.ndarray | None, counts: np.ndarray, chunks, pool) -> tuple[np.ndarray, np.ndarray]:
    """Stable LSD radix sort of uint64 keys carrying payload idx (None: the positions); returns (keys, idx) sorted.

    ``counts`` (chunks, 8, 256) are the per-chunk byte histograms of ``keys`` as given. ``keys`` and ``idx`` are
    overwritten (used as ping-pong buffers).
    """
    N = keys.shape[0]
    itype = np.int32 if N < 2**31 else np.int64
    total = counts.sum(axis=0)  # (8, 256)
    active = [b for b in range(8) if total[b].max() < N]
    if not active:
        return keys, (np.arange(N, dtype=itype) if idx is None else idx)
    k_out = np.empty_like(keys)
    i_out = np.empty(N, dtype=itype)
    first = idx is None
    i_in = i_out if first else idx  # never read on the first pass
    for step, b in enumerate(active):
        shift = 8 * b
        if step == 0:
            hist = counts[:, b, :]
        else:  # per-chunk histograms of this byte (the chunks hold other keys after the last pass)
            hist = np.zeros((len(chunks), 256), dtype=np.int64)
            _run(pool, _digit_counts_into, list(enumerate(chunks)), keys, shift, hist)
        starts = np.concatenate(([0], np.cumsum(total[b])[:-1]))  # (256,) first position of each digit
        offsets = starts[None, :] + np.cumsum(hist, axis=0) - hist  # (chunks, 256)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        _run(pool, _scatter_chunk, list(enumerate(chunks)), keys, i_in, k_out, i_out, shift, offsets, first)
        if first:
            i_in = np.empty(N, dtype=itype)  # the second payload buffer, allocated once needed
            first = False
        keys, k_out = k_out, keys
        i_in, i_out = i_out, i_in
    return keys, i_in


def _keys(x: np.ndarray, out: np.ndarray | None, chunks, pool) -> tuple[np.ndarray, np.ndarray]:
    """Order-preserving uint64 keys of float64 x (into out, which may be x viewed as uint64) and byte histograms."""
    bits = x.view(np.uint64)
    keys = np.empty(x.shape[0], dtype=np.uint64) if out is None else out
    counts = np.zeros((len(chunks), 8, 256), dtype=np.int64)
    _run(pool, _float_keys_into, list(enumerate(chunks)), bits, keys, counts)
    return keys, counts


def sort_float(x: np.ndarray, *, threads: int = 1, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Stable sort of a 1-D float64 array without NaN by an LSD radix sort of 64-bit keys.

    Parameters
    ----------
    x : numpy.ndarray of shape (N,), float64
    threads : int, default=1
        Python threads the passes are split over (the result does not depend on it).
    overwrite : bool, default=False
        Reuse the memory of x for the keys (x is destroyed).

    Returns
    -------
    keys : numpy.ndarray of shape (N,), uint64
        Order-preserving keys, ascending; equal keys mean equal values (-0.0 and +0.0 share one).
    order : numpy.ndarray of shape (N,), int32 (int64 from 2^31 entries)
        The stable argsort of x (``numpy.argsort(x + 0.0, kind="stable")``, tested against it).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    chunks = _bounds(x.shape[0], threads)
    with ThreadPoolExecutor(len(chunks)) if len(chunks) > 1 else _Null() as pool:
        keys, counts = _keys(x, x.view(np.uint64) if overwrite else None, chunks, pool)
        return _radix(keys, None, counts, chunks, pool)


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _words(bits: np.ndarray, chunks, pool) -> tuple[np.ndarray, np.ndarray | None]:
    """Words c(x_t) << 32 | t sorted by c (stable in t) of the float64 bits; N < 2^32.

    Returns the sorted words and the spare ping-pong buffer (uint64, N; None when no pass was needed).
    """
    from . import _rank_kernels as K

    N = bits.shape[0]
    ranges = _run(pool, K.key_range, chunks, bits)
    kmin = min(int(r[0]) for r in ranges)
    kmax = max(int(r[1]) for r in ranges)
    shift = max(0, (kmax - kmin).bit_length() - 32)
    words = np.empty(N, dtype=np.uint64)
    counts = np.zeros((len(chunks), 4, 256), dtype=np.int64)
    _run(pool, _pack_into, list(enumerate(chunks)), bits, np.uint64(kmin), shift, words, counts)
    total = counts.sum(axis=0)
    active = [j for j in range(4) if total[j].max() < N]
    other = np.empty(N, dtype=np.uint64) if active else None
    for step, j in enumerate(active):
        bit = 32 + 8 * j
        if step == 0:
            hist = counts[:, j, :]
        else:
            hist = np.zeros((len(chunks), 256), dtype=np.int64)
            _run(pool, _digit_counts_into, list(enumerate(chunks)), words, bit, hist)
        starts = np.concatenate(([0], np.cumsum(total[j])[:-1]))
        offsets = np.ascontiguousarray(starts[None, :] + np.cumsum(hist, axis=0) - hist, dtype=np.int64)
        _run(pool, _scatter_words_into, list(enumerate(chunks)), words, other, bit, offsets)
        words, other = other, words
    return words, other


def _pack_into(bits, kmin, shift, words, counts, c, bounds) -> None:
    from . import _rank_kernels as K

    K.pack(bits, kmin, shift, words, counts[c], bounds[0], bounds[1])


def _scatter_words_into(words, other, bit, offsets, c, bounds) -> None:
    from . import _rank_kernels as K

    K.scatter_words(words, other, bit, offsets[c], bounds[0], bounds[1])


def average_ranks(x: np.ndarray, *, threads: int = 1, overwrite: bool = False) -> np.ndarray:
    """Ranks 1..N of a 1-D float64 array without NaN, ties given the mean of their ranks.

    Parameters
    ----------
    x : numpy.ndarray of shape (N,), float64
    threads : int, default=1
        Python threads the sort passes are split over (the result does not depend on it).
    overwrite : bool, default=False
        x may be destroyed (used by the 64-bit-key path from 2^32 entries).

    Returns
    -------
    numpy.ndarray of shape (N,), float64
        Equal to ``scipy.stats.rankdata(x)`` (tests/measures/test_rank_sort.py, exact).

    Notes
    -----
    Below 2^32 entries: one radix sort of packed words (32-bit compressed key, 32-bit position) over at
    most 4 bytes; runs of equal compressed keys (values closer than the dropped bits, or equal) are then
    ordered by their full keys, so ties are exact. Invariant to any strictly increasing map of x.
    """
    from . import _rank_kernels as K

    N = x.shape[0]
    if N == 0 or N >= _PACKED_BELOW:
        keys, idx = sort_float(x, threads=threads, overwrite=overwrite)
        out = np.empty(keys.shape[0], dtype=np.float64)
        K.average_ranks_sorted(keys, idx, out)
    else:
        x = np.ascontiguousarray(x, dtype=np.float64)
        chunks = _bounds(N, threads)
        with ThreadPoolExecutor(len(chunks)) if len(chunks) > 1 else _Null() as pool:
            words, spare = _words(x.view(np.uint64), chunks, pool)
        out = np.empty(N, dtype=np.float64) if spare is None else spare.view(np.float64)  # reuse: no extra N
        K.ranks_from_words(words, x.view(np.uint64), out)
    _mark_loaded()
    return out


def kendall_tau_a(x: np.ndarray, y: np.ndarray, *, threads: int = 1) -> float:
    """Kendall's tau-a = (C - D) / (N (N - 1) / 2) of two 1-D float64 arrays without NaN, ties not corrected.

    Parameters
    ----------
    x, y : numpy.ndarray of shape (N,), float64
    threads : int, default=1
        Python threads the sorts and the inversion count are split over (the result does not depend on it).

    Returns
    -------
    float
        In [-1, 1]; 0 when every pair is tied in x or in y. Invariant to strictly increasing maps of x
        and of y. Tested against a brute-force pair loop and ``scipy.stats.kendalltau`` (tau-b converted
        with the tie counts) in tests/measures/test_rank_sort.py, and rsatoolbox 0.3.2 ``tau-a``.

    Notes
    -----
    C - D = n0 - n1 - n2 + n3 - 2 D with n0 = N(N-1)/2, n1, n2 the pairs tied in x, in y, n3 the pairs tied in
    both and D the discordant pairs: the inversions of the y ranks arranged in (x, y) order (Knight 1966). The
    (x, y) order is one stable radix sort by y, then one by x carrying the y order along.
    """
    from . import _rank_kernels as K

    N = x.shape[0]
    n0 = N * (N - 1) // 2
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    chunks = _bounds(N, threads)
    with ThreadPoolExecutor(len(chunks)) if len(chunks) > 1 else _Null() as pool:
        ky, cy = _keys(y, None, chunks, pool)
        ky, iy = _radix(ky, None, cy, chunks, pool)  # y order
        dy = np.empty(N, dtype=iy.dtype)
        n2 = int(K.dense_runs(ky, dy))  # dense y ranks in y order
        del ky
        kx, _ = _keys(x, None, chunks, pool)
        kxg = np.empty_like(kx)
        _run(pool, K.gather_keys, chunks, kx, iy, kxg)  # x keys in y order
        del kx, iy
        counts = np.zeros((len(chunks), 8, 256), dtype=np.int64)
        _run(pool, _key_counts_into, list(enumerate(chunks)), kxg, counts)
        kxs, s = _radix(kxg, dy, counts, chunks, pool)  # stable: (x, y) order, carrying the y ranks
        del kxg, dy
        n1 = int(K.tie_pairs_sorted(kxs))
        n3 = int(K.joint_tie_pairs(kxs, s))
        del kxs
        if n1 == n0 or n2 == n0:
            _mark_loaded()
            return 0.0
        D = _inversions(s, chunks, pool)
    _mark_loaded()
    return float(n0 - n1 - n2 + n3 - 2 * int(D)) / n0


def _inversions(s: np.ndarray, chunks, pool) -> int:
    """Inversions of s (sorted in place): a merge-sort count per chunk in threads, then merges of neighbours."""
    from . import _rank_kernels as K

    buf = np.empty_like(s)
    D = sum(int(v) for v in _run(pool, K.inversions_block, chunks, s, buf))
    while len(chunks) > 1:
        merged, jobs = [], []
        for c in range(0, len(chunks) - 1, 2):
            (lo, mid), (_, hi) = chunks[c], chunks[c + 1]
            jobs.append((lo, mid, hi))
            merged.append((lo, hi))
        if len(chunks) % 2:
            merged.append(chunks[-1])
        D += sum(int(v) for v in _run(pool, K.merge_count, jobs, s, buf))
        chunks = merged
    return D

