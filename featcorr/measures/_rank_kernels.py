"""Compiled (numba) kernels for ranking long float64 vectors: a stable LSD radix sort and run walks.

Imported lazily by :mod:`featcorr.measures._rank` (importing numba costs
~0.2 s; compiled code is cached on disk next to this file). Every kernel is
``nogil``, so the chunks of one pass (and the two RDMs of a comparison) run
in parallel Python threads.

Keys. A float64 x maps to the unsigned 64-bit integer u(x) that orders like
x: the IEEE bits of x + 0.0 (which turns -0.0 into +0.0, so that equal
values get equal keys) with the sign bit set for x >= 0, all bits flipped
for x < 0. NaN must not occur (callers drop NaN entries first).

Sort. Least-significant-digit radix sort over the 8 bytes of u, stable, one
counting pass that builds all 8 digit histograms at once; a byte that is the
same for every key is skipped (RDM entries in [0, 2] share their top byte or
two). Each pass is split into chunks of positions: chunk c of the input
writes its digit-d elements right after those of chunks < c, so chunks
scatter in parallel and the sort stays stable. Cost: about 8 sequential
passes over 12 bytes per element, against comparison sorts' log2 N ~ 26.

Runs. :func:`average_ranks_sorted` walks the sorted keys once and writes
each element's average rank (ties share the mean of their ranks, as
``scipy.stats.rankdata``); :func:`dense_runs` writes run numbers;
:func:`tie_pairs_sorted` counts pairs inside runs.

Inversions. :func:`inversions_block` counts the pairs j < i with s_j > s_i of an
int32 sequence by a bottom-up merge sort (Knight 1966's count for Kendall's
tau): within each merge, taking an element from the right half adds the
number of left elements not yet taken.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "float_keys",
    "key_counts",
    "digit_counts",
    "scatter",
    "average_ranks_sorted",
    "dense_runs",
    "tie_pairs_sorted",
    "joint_tie_pairs",
    "gather_keys",
    "inversions_block",
    "merge_count",
]

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy", boundscheck=False)

_SIGN = np.uint64(1) << np.uint64(63)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(**_JIT)
def float_keys(bits, out, counts, lo, hi):
    """Order-preserving uint64 keys of float64 values into out[lo:hi]; add their 8 byte histograms to counts (8, 256).

    ``bits`` is the float64 array viewed as uint64 (``x.view(np.uint64)``); out may be the same array.
    """
    for i in range(lo, hi):
        u = bits[i]
        if u == _SIGN:  # -0.0 sorts as +0.0
            u = np.uint64(0)
        if u & _SIGN:
            u = u ^ _ALL
        else:
            u = u | _SIGN
        out[i] = u
        for b in range(8):
            counts[b, (u >> np.uint64(8 * b)) & np.uint64(255)] += 1


@numba.njit(**_JIT)
def key_counts(keys, counts, lo, hi):
    """Add the 8 byte histograms of keys[lo:hi] to counts (8, 256)."""
    for i in range(lo, hi):
        u = keys[i]
        for b in range(8):
            counts[b, (u >> np.uint64(8 * b)) & np.uint64(255)] += 1


@numba.njit(**_JIT)
def digit_counts(keys, shift, counts, lo, hi):
    """Histogram (256,) of byte ``shift // 8`` of keys[lo:hi] (uint64 keys or packed words), added to counts."""
    s = np.uint64(shift)
    for i in range(lo, hi):
        counts[(keys[i] >> s) & np.uint64(255)] += 1


@numba.njit(**_JIT)
def scatter(keys, idx, out_keys, out_idx, shift, offsets, lo, hi, first):
    """One stable LSD pass over positions lo..hi-1: element i goes to offsets[digit]++ of the output.

    With ``first`` the payload is the position itself (idx is not read).
    """
    s = np.uint64(shift)
    for i in range(lo, hi):
        k = keys[i]
        d = (k >> s) & np.uint64(255)
        p = offsets[d]
        offsets[d] = p + 1
        out_keys[p] = k
        if first:
            out_idx[p] = i
        else:
            out_idx[p] = idx[i]


@numba.njit(**_JIT)
def average_ranks_sorted(keys, idx, out):
    """out[idx[k]] = average rank (1-based) of sorted position k; ties share the mean of their ranks."""
    N = keys.shape[0]
    k = 0
    while k < N:
        e = k + 1
        key = keys[k]
        while e < N and keys[e] == key:
            e += 1
        r = 0.5 * (k + 1 + e)  # ranks k+1 .. e
        for t in range(k, e):
            out[idx[t]] = r
        k = e


@numba.njit(**_JIT)
def dense_runs(keys, out):
    """out[k] = number of distinct keys before sorted position k (run number, 0-based); returns tie pairs."""
    N = keys.shape[0]
    run = 0
    ties = 0
    k = 0
    while k < N:
        e = k + 1
        key = keys[k]
        while e < N and keys[e] == key:
            e += 1
        m = e - k
        ties += m * (m - 1) // 2
        for t in range(k, e):
            out[t] = run
        run += 1
        k = e
    return ties


@numba.njit(**_JIT)
def tie_pairs_sorted(keys):
    """Number of pairs of equal elements of a sorted array."""
    N = keys.shape[0]
    ties = 0
    k = 0
    while k < N:
        e = k + 1
        key = keys[k]
        while e < N and keys[e] == key:
            e += 1
        m = e - k
        ties += m * (m - 1) // 2
        k = e
    return ties


@numba.njit(**_JIT)
def joint_tie_pairs(keys, s):
    """Pairs equal in both keys (sorted) and s (sorted within each run of equal keys)."""
    N = keys.shape[0]
    ties = 0
    k = 0
    while k < N:
        e = k + 1
        while e < N and keys[e] == keys[k] and s[e] == s[k]:
            e += 1
        m = e - k
        ties += m * (m - 1) // 2
        k = e
    return ties


@numba.njit(**_JIT)
def gather_keys(keys, order, out, lo, hi):
    """out[t] = keys[order[t]] for t in lo..hi-1."""
    for t in range(lo, hi):
        out[t] = keys[order[t]]


@numba.njit(**_JIT)
def _merge(a, b, lo, mid, hi):
    """Merge sorted a[lo:mid], a[mid:hi] into b[lo:hi] (stable); return the inversions across the halves.

    Merges from both ends at once (two independent dependency chains), branch-free. A right element at
    right-index r that lands at output offset q has q - r left elements before it (those <= it), so it
    forms (mid - lo) - (q - r) inversions; each end adds that for the right elements it places.
    """
    nL = mid - lo
    i = lo
    j = mid
    t = lo
    ib = mid - 1
    jb = hi - 1
    tb = hi - 1
    inv = 0
    total = hi - lo
    for _ in range(total // 2):
        x = a[i] if i < mid else a[lo]
        y = a[j] if j < hi else a[lo]
        r = (j < hi) and ((i >= mid) or (y < x))  # front: take the right element (left first on ties)
        b[t] = y if r else x
        inv += (nL - (t - lo) + (j - mid)) if r else 0
        j += r
        i += 1 - r
        t += 1
        xb = a[ib] if ib >= lo else a[lo]
        yb = a[jb] if jb >= mid else a[lo]
        le = (ib >= lo) and ((jb < mid) or (xb > yb))  # back: take the left element (right last on ties)
        b[tb] = xb if le else yb
        inv += 0 if le else (nL - (tb - lo) + (jb - mid))
        ib -= le
        jb -= 1 - le
        tb -= 1
    if total & 1:
        x = a[i] if i < mid else a[lo]
        y = a[j] if j < hi else a[lo]
        r = (j < hi) and ((i >= mid) or (y < x))
        b[t] = y if r else x
        inv += (nL - (t - lo) + (j - mid)) if r else 0
    return inv


@numba.njit(**_JIT)
def inversions_block(a, buf, lo, hi):
    """Sort a[lo:hi] ascending in place (buf: scratch of a's size) and return its inversion count.

    Insertion sort of runs of 16, then bottom-up merges, ping-ponging between a and buf.
    """
    inv = 0
    R = 16
    for s in range(lo, hi, R):
        e = min(s + R, hi)
        for i in range(s + 1, e):
            v = a[i]
            j = i - 1
            while j >= s and a[j] > v:
                a[j + 1] = a[j]
                j -= 1
            inv += i - 1 - j
            a[j + 1] = v
    width = R
    in_buf = False  # where the current runs live
    while width < hi - lo:
        for s in range(lo, hi, 2 * width):
            mid = min(s + width, hi)
            e = min(s + 2 * width, hi)
            if in_buf:
                inv += _merge(buf, a, s, mid, e)
            else:
                inv += _merge(a, buf, s, mid, e)
        in_buf = not in_buf
        width *= 2
    if in_buf:
        for t in range(lo, hi):
            a[t] = buf[t]
    return inv


@numba.njit(**_JIT)
def merge_count(a, buf, lo, mid, hi):
    """Merge the sorted blocks a[lo:mid], a[mid:hi] into a (via buf); return the inversions across them."""
    inv = _merge(a, buf, lo, mid, hi)
    for t in range(lo, hi):
        a[t] = buf[t]
    return inv


# ----------------------------------------------------------------- packed path (N < 2^32)
# A word holds a compressed key in its high 32 bits and a position in its low 32 bits:
# c(x) = (u(x) - u_min) >> shift keeps the order of x (ties in c only where x differ by less than the
# dropped bits), so one radix sort of the words over (at most) 4 bytes orders the positions by c, stably;
# runs of equal c are then ordered by the full keys, which is exact.

_LOW = np.uint64(0xFFFFFFFF)


@numba.njit(**_JIT)
def _key(b):
    """Order-preserving uint64 key of the float64 whose bits are b (-0.0 as +0.0)."""
    if b == _SIGN:
        b = np.uint64(0)
    if b & _SIGN:
        return b ^ _ALL
    return b | _SIGN


@numba.njit(**_JIT)
def key_range(bits, lo, hi):
    """(min, max) of the keys of bits[lo:hi] (hi > lo)."""
    kmin = _key(bits[lo])
    kmax = kmin
    for i in range(lo + 1, hi):
        k = _key(bits[i])
        if k < kmin:
            kmin = k
        if k > kmax:
            kmax = k
    return kmin, kmax


@numba.njit(**_JIT)
def pack(bits, kmin, shift, out, counts, lo, hi):
    """out[t] = c(x_t) << 32 | t for t in lo..hi-1; byte histograms of c into counts (4, 256)."""
    s = np.uint64(shift)
    for t in range(lo, hi):
        c = (_key(bits[t]) - kmin) >> s
        out[t] = (c << np.uint64(32)) | np.uint64(t)
        for j in range(4):
            counts[j, (c >> np.uint64(8 * j)) & np.uint64(255)] += 1


@numba.njit(**_JIT)
def scatter_words(src, dst, shift, offsets, lo, hi):
    """One stable LSD pass of words over positions lo..hi-1 by the byte at bit ``shift``."""
    s = np.uint64(shift)
    for i in range(lo, hi):
        w = src[i]
        d = (w >> s) & np.uint64(255)
        p = offsets[d]
        offsets[d] = p + 1
        dst[p] = w


@numba.njit(**_JIT)
def _run_order(words, bits, k, e, fk):
    """Full keys of the run words[k:e] into fk[:m] and their stable argsort (positions 0..m-1)."""
    m = e - k
    for j in range(m):
        fk[j] = _key(bits[np.int64(words[k + j] & _LOW)])
    if m <= 32:  # insertion sort of the indices: runs are short for continuous data
        perm = np.arange(m)
        for a in range(1, m):
            v = perm[a]
            kv = fk[v]
            b = a - 1
            while b >= 0 and fk[perm[b]] > kv:
                perm[b + 1] = perm[b]
                b -= 1
            perm[b + 1] = v
        return perm
    return np.argsort(fk[:m], kind="mergesort")


@numba.njit(**_JIT)
def ranks_from_words(words, bits, out):
    """out[t] = average rank of bits[t] (ties: mean rank) from words sorted by compressed key."""
    N = words.shape[0]
    fk = np.empty(64, dtype=np.uint64)
    k = 0
    while k < N:
        c = words[k] >> np.uint64(32)
        e = k + 1
        while e < N and (words[e] >> np.uint64(32)) == c:
            e += 1
        if e - k == 1:
            out[np.int64(words[k] & _LOW)] = k + 1.0
        else:
            if e - k > fk.shape[0]:
                fk = np.empty(2 * (e - k), dtype=np.uint64)
            perm = _run_order(words, bits, k, e, fk)
            a = 0
            m = e - k
            while a < m:
                b = a + 1
                while b < m and fk[perm[b]] == fk[perm[a]]:
                    b += 1
                r = k + 0.5 * (a + 1 + b)
                for j in range(a, b):
                    out[np.int64(words[k + perm[j]] & _LOW)] = r
                a = b
        k = e
