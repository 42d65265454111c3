"""Distance correlation and MRMR: featcorr side by side with dcor and mrmr-selection.

Run ``flock /tmp/featcorr-bench.lock .venv/bin/python bench/select_dependence.py [--only dcor|mrmr]
[--quick] [--repeats R] [--out FILE]`` (peers: ``pip install torch==2.13.0 -e '.[anchors]'``). Prints
the tables; without ``--only`` also writes them to ``bench/results/select_dependence.md``.

dCor workloads (seeded, generated in memory)
--------------------------------------------
- ``1 pair``: x ~ N(0, 1) + 3 (offset), y = x + 0.5 x^2 + N(0, 1), n = 10^6, as float64
  and as float32 arrays; also the bias-corrected estimator on float64.
  featcorr: ``fc.dependence(x[:, None], y, "dcor")`` (CPU: numba kernels, O(n log n):
  argsorts of x and y, then one radix partition of the y ranks per bit).
  dcor 0.7: ``dcor.distance_correlation(x, y)`` / ``u_distance_correlation_sqr`` (its
  ``method='auto'`` picks the O(n log n) AVL algorithm, numba-compiled for float64 and
  faster than its ``method='mergesort'``; float32 input falls back to uncompiled Python).
- ``20 features``: X (n = 10^5, p = 20) against y = X0 + X1^2 + N(0, 1): featcorr in one
  call (features in threads), dcor in a Python loop over columns, and dcor's own
  ``dcor.rowwise(dcor.distance_correlation, X.T, Y)`` (AVL algorithm, numba
  ``guvectorize(target='parallel')``).

Each workload is timed twice, peer and featcorr alternating, after one untimed warm-up
call of each (numba compilation, torch kernels):

- **CPU s, 1 thread**: ``time.process_time`` with ``torch.set_num_threads(1)``,
  ``numba.set_num_threads(1)`` and ``threadpool_limits(1)`` for both sides;
- **wall s, default threads**: ``time.perf_counter`` at the default thread counts.

Both are medians of ``--repeats`` runs (the slow dcor float32 path runs once). The
cold-start rows time the first ``fc.dependence(..., "dcor")`` call in a fresh process
(numba import + loading the on-disk cache, or compiling with an empty cache dir).

MRMR workload: 3-class labels, X (n = 10^5, D = 1000) float64 with 40 informative
and 200 redundant columns (linear mixes of the informative ones); select 20.
featcorr: ``MRMR(n_features=20)`` (FCQ). mrmr-selection 0.2.8:
``mrmr_classif(DataFrame, Series, K=20)`` with its defaults (F relevance,
Pearson redundancy, mean denominator, n_jobs=-1); wall time, median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import featcorr as fc
from featcorr.select import MRMR


def _time(fn, repeats):
    out = None
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


@contextmanager
def _one_thread():
    """torch, numba and BLAS/OpenMP pools at 1 thread (restored afterwards)."""
    import numba
    from threadpoolctl import threadpool_limits

    old_t, old_n = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(old_t)
        numba.set_num_threads(old_n)


def _side_by_side(fns, repeats, clock):
    """Median time per function over ``repeats`` alternating rounds; returns (medians, last outputs)."""
    times = [[] for _ in fns]
    outs = [None] * len(fns)
    for r in range(max(repeats)):
        for k, fn in enumerate(fns):
            if r < repeats[k]:
                t = clock()
                outs[k] = fn()
                times[k].append(clock() - t)
    return [statistics.median(t) for t in times], outs


def _dcor_workload(name, tools, repeats, rows):
    """tools: [(label, fn, repeats or None, warm-up fn)]; fills rows with (name, label, cpu1, wall, answer)."""
    for _, _, _, warm in tools:
        warm()
    reps = [r or repeats for _, _, r, _ in tools]
    fns = [fn for _, fn, _, _ in tools]
    wall, outs = _side_by_side(fns, reps, time.perf_counter)
    with _one_thread():
        cpu, _ = _side_by_side(fns, reps, time.process_time)
    ref = np.asarray(outs[0], dtype=np.float64)
    for (label, _, _, _), c, w, o in zip(tools, cpu, wall, outs):
        o = np.asarray(o, dtype=np.float64)
        ans = f"{o.ravel()[0]:.12f}" if o.size == 1 else f"{o.size} values"
        if label != "featcorr":
            ans += f" (max diff {np.abs(o - ref).max():.1e})"
        rows.append((name, label, c, w, ans))
    print(f"  {name}: done", flush=True)


def bench_dcor(n_pair, n_feat, p, repeats, rows):
    import dcor

    rng = np.random.default_rng(0)
    x = rng.normal(size=n_pair) + 3.0
    y = x + 0.5 * x**2 + rng.normal(size=n_pair)
    from featcorr.measures._dcor import dcor_from_terms, dcor_terms_univariate

    def torch_path(a, b):  # the pure-torch level scheme (GPU tensors; fallback without numba), on CPU
        X1, y1 = torch.from_numpy(a[:, None].astype(np.float64)), torch.from_numpy(b.astype(np.float64))
        return float(dcor_from_terms(dcor_terms_univariate(X1, y1, backend="torch"), a.shape[0])[0])

    for dtype in (np.float64, np.float32):
        xd, yd = x.astype(dtype), y.astype(dtype)
        extra = [("featcorr torch path", lambda: torch_path(xd, yd), None, lambda: torch_path(xd[:1000], yd[:1000]))]
        _dcor_workload(
            f"dCor, 1 pair, n={n_pair:.0e}, {np.dtype(dtype).name}",
            [
                ("featcorr", lambda: fc.dependence(xd[:, None], yd, "dcor")[0], None,
                 lambda: fc.dependence(xd[:1000, None], yd[:1000], "dcor")),
                ("dcor 0.7", lambda: dcor.distance_correlation(xd, yd), None if dtype == np.float64 else 1,
                 lambda: dcor.distance_correlation(xd[:1000], yd[:1000])),
            ] + (extra if dtype == np.float64 else []),
            repeats, rows,
        )
    _dcor_workload(
        f"u-dCor^2 (bias-corrected), 1 pair, n={n_pair:.0e}, float64",
        [
            ("featcorr", lambda: fc.dependence(x[:, None], y, "dcor", unbiased=True)[0], None,
             lambda: fc.dependence(x[:1000, None], y[:1000], "dcor", unbiased=True)),
            ("dcor 0.7", lambda: dcor.u_distance_correlation_sqr(x, y), None,
             lambda: dcor.u_distance_correlation_sqr(x[:1000], y[:1000])),
        ],
        repeats, rows,
    )
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n_feat, p))
    yf = X[:, 0] + X[:, 1] ** 2 + rng.normal(size=n_feat)
    XT, YT = np.ascontiguousarray(X.T), np.tile(yf, (p, 1))
    _dcor_workload(
        f"dCor, {p} features, n={n_feat:.0e}, float64",
        [
            ("featcorr", lambda: fc.dependence(X, yf, "dcor"), None, lambda: fc.dependence(X[:500], yf[:500], "dcor")),
            ("dcor 0.7 (loop)", lambda: [dcor.distance_correlation(X[:, j], yf) for j in range(p)], None,
             lambda: dcor.distance_correlation(X[:500, 0], yf[:500])),
            ("dcor 0.7 (rowwise)", lambda: dcor.rowwise(dcor.distance_correlation, XT, YT), None,
             lambda: dcor.rowwise(dcor.distance_correlation, XT[:, :500], YT[:, :500])),
        ],
        repeats, rows,
    )


_COLD = """
import time
t0 = time.perf_counter()
import numpy as np
import featcorr as fc
t1 = time.perf_counter()
rng = np.random.default_rng(0)
X, y = rng.normal(size=(200, 2)), rng.normal(size=200)
fc.dependence(X, y, "pearson")  # first-call costs shared by every method (lazy imports)
t2 = time.perf_counter()
fc.dependence(X, y, "dcor"); fc.dependence(X, y, "dcor", unbiased=True)
t3 = time.perf_counter()
fc.dependence(X, y, "dcor")
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def bench_cold_start(rows):
    """First dcor call in a fresh process: with the on-disk numba cache, and compiling (empty cache dir)."""
    for label, env in (("cached", {}), ("empty cache (compile)", {"NUMBA_CACHE_DIR": tempfile.mkdtemp()})):
        out = subprocess.run([sys.executable, "-c", _COLD], env={**os.environ, **env}, capture_output=True,
                             text=True, check=True).stdout.split()
        rows.append((label, *map(float, out)))
def _mrmr_data(n, D, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    inf = rng.normal(size=(n, 40)) + 0.6 * rng.normal(size=(3, 40))[y]
    red = inf @ rng.normal(size=(40, 200)) * 0.2 + rng.normal(size=(n, 200))
    noise = rng.normal(size=(n, D - 240))
    X = np.hstack([inf, red, noise]) + 5.0
    return X, y


def bench_mrmr(n, D, k, repeats, rows):
    import pandas as pd
    from mrmr import mrmr_classif

    X, y = _mrmr_data(n, D)
    cols = [f"f{i}" for i in range(D)]
    df, ys = pd.DataFrame(X, columns=cols), pd.Series(y)
    Xs, ys_ = X[:2000], y[:2000]
    MRMR(n_features=3).fit(Xs, ys_)  # warm-up
    mrmr_classif(pd.DataFrame(Xs, columns=cols), pd.Series(ys_), K=3, show_progress=False)
    t_fc, all_fc, m = _time(lambda: MRMR(n_features=k).fit(X, y), repeats)
    t_mr, all_mr, ref = _time(lambda: mrmr_classif(df, ys, K=k, show_progress=False), repeats)
    same = [cols[i] for i in m.order_] == ref
    rows.append((f"MRMR FCQ, {k} of {D}, n={n:.0e}", "featcorr", t_fc, all_fc, ""))
    rows.append((f"MRMR FCQ, {k} of {D}, n={n:.0e}", "mrmr-selection 0.2.8", t_mr, all_mr,
                 "same list" if same else f"DIFFERENT list: {ref[:5]}..."))


def _dcor_table(rows, cold, args):
    lines = [
        f"`flock /tmp/featcorr-bench.lock .venv/bin/python bench/select_dependence.py {' '.join(sys.argv[1:])}` on "
        f"{platform.machine()}, torch {torch.__version__}, default threads: torch {torch.get_num_threads()}; "
        f"medians of {args.repeats if not args.quick else 1} run(s).",
        "",
        "| workload | tool | CPU s, 1 thread | wall s, default threads | answer |",
        "|---|---|---:|---:|---|",
    ]
    groups: dict = {}
    for w, tool, c, t, ans in rows:
        groups.setdefault(w, []).append((tool, c, t))
        lines.append(f"| {w} | {tool} | {c:.3f} | {t:.3f} | {ans} |")
    lines.append("")
    for w, tools in groups.items():
        _, c0, t0 = tools[0]
        for tool, c, t in tools[1:]:
            lines.append(f"- {w}: {tool} / featcorr = **{c / c0:.1f}x** CPU (1 thread), **{t / t0:.1f}x** wall (default threads)")
    if cold:
        lines += ["", "Cold start, wall s, fresh process: `import featcorr`; a first `fc.dependence(X(200, 2), y, "
                  "'pearson')` (lazy imports every method pays); then the first dcor calls (biased + unbiased: "
                  "numba import + loading or compiling the kernels); then one more dcor call.", "",
                  "| numba cache | import featcorr | first pearson | first dcor calls | next dcor call |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {lab} | {a:.3f} | {b:.3f} | {c:.3f} | {d:.4f} |" for lab, a, b, c, d in cold]
    return lines


def _mrmr_table(rows, args):
    lines = [
        f"`bench/select_dependence.py {' '.join(sys.argv[1:])}`: wall time, median of {args.repeats} run(s).",
        "",
        "| workload | tool | median s | runs s | answer |",
        "|---|---|---:|---|---|",
    ]
    for w, tool, t, alls, ans in rows:
        lines.append(f"| {w} | {tool} | {t:.3f} | {', '.join(f'{a:.3f}' for a in alls)} | {ans} |")
    lines.append("")
    base = {w: t for w, tool, t, _, _ in rows if tool == "featcorr"}
    for w, tool, t, _, _ in rows:
        if tool != "featcorr" and w in base:
            lines.append(f"- {w}: featcorr is **{t / base[w]:.1f}x** faster than {tool}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n/10 everywhere, one repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None, help="markdown file (default: bench/results/select_dependence.md "
                    "when every workload runs, else print only)")
    ap.add_argument("--only", choices=["dcor", "mrmr"], default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the MRMR rows")
    args = ap.parse_args()
    reps = 1 if args.quick else args.repeats
    scale = 10 if args.quick else 1
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = ["# featcorr dependence / MRMR vs dcor and mrmr-selection", "", f"`uptime` at start: {up}", ""]
    if args.only in (None, "dcor"):
        rows: list = []
        cold: list = []
        bench_cold_start(cold)
        bench_dcor(10**6 // scale, 10**5 // scale, 20, reps, rows)
        lines += ["## dCor", ""] + _dcor_table(rows, cold, args) + [""]
    if args.only in (None, "mrmr"):
        rows = []
        if args.threads:
            torch.set_num_threads(args.threads)
        bench_mrmr(10**5 // scale, 1000, 20, reps, rows)
        lines += ["## MRMR", ""] + _mrmr_table(rows, args) + [""]
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines += [f"`uptime` at end: {up}"]
    text = "\n".join(lines) + "\n"
    print(text)
    out = args.out or (None if args.only else str(Path(__file__).parent / "results" / "select_dependence.md"))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)


if __name__ == "__main__":
    main()
