"""Distance correlation and MRMR: featcorr side by side with dcor and mrmr-selection.

Run ``.venv/bin/python bench/select_dependence.py [--quick] [--repeats R] [--threads T] [--out FILE]``
(peers: ``pip install torch==2.13.0 -e '.[anchors]'``). Prints one table and
writes it to ``bench/results/select_dependence.md``.

Workloads (seeded, generated in memory)
---------------------------------------
- ``dcor 1 pair``: x ~ N(0, 1) + 3 (offset), y = x + 0.5 x^2 + N(0, 1), n = 10^6,
  one univariate pair, as float64 and as float32 arrays.
  featcorr: ``fc.dependence(x[:, None], y, "dcor")`` (O(n log n), one sort +
  log2(n) vectorised partition passes). dcor 0.7: ``dcor.distance_correlation(x, y)``
  (its ``method='auto'`` picks the O(n log n) mergesort/AVL algorithm, numba-compiled
  for float64; float32 input falls back to plain Python).
- ``dcor 20 features``: X (n = 10^5, p = 20) against y: featcorr in one call
  (features vectorised), dcor in a loop over columns.
- ``mrmr``: 3-class labels, X (n = 10^5, D = 1000) float64 with 40 informative
  and 200 redundant columns (linear mixes of the informative ones); select 20.
  featcorr: ``MRMR(n_features=20)`` (FCQ). mrmr-selection 0.2.8:
  ``mrmr_classif(DataFrame, Series, K=20)`` with its defaults (F relevance,
  Pearson redundancy, mean denominator, n_jobs=-1).

Every timing is the median of ``--repeats`` runs in this one process (peer
and featcorr alternate), after one untimed warm-up call of each (numba
compilation, torch kernels); the slow dcor float32 path runs once. The
answers are compared (dCor difference, identical MRMR list).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
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


def bench_dcor_pair(n, repeats, rows):
    import dcor

    rng = np.random.default_rng(0)
    x = rng.normal(size=n) + 3.0
    y = x + 0.5 * x**2 + rng.normal(size=n)
    for dtype in (np.float64, np.float32):
        xd, yd = x.astype(dtype), y.astype(dtype)
        fc.dependence(xd[:1000, None], yd[:1000], "dcor")  # warm-up
        dcor.distance_correlation(x[:1000], y[:1000])
        t_fc, all_fc, v_fc = _time(lambda: fc.dependence(xd[:, None], yd, "dcor")[0], repeats)
        reps = repeats if dtype == np.float64 else 1
        t_dc, all_dc, v_dc = _time(lambda: dcor.distance_correlation(xd, yd), reps)
        rows.append((f"dCor, 1 pair, n={n:.0e}, {np.dtype(dtype).name}", "featcorr", t_fc, all_fc, f"{v_fc:.12f}"))
        rows.append((f"dCor, 1 pair, n={n:.0e}, {np.dtype(dtype).name}", "dcor 0.7", t_dc, all_dc,
                     f"{float(v_dc):.12f} (diff {abs(float(v_dc) - v_fc):.1e})"))


def bench_dcor_features(n, p, repeats, rows):
    import dcor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, p))
    y = X[:, 0] + X[:, 1] ** 2 + rng.normal(size=n)
    fc.dependence(X[:500], y[:500], "dcor")
    t_fc, all_fc, v_fc = _time(lambda: fc.dependence(X, y, "dcor"), repeats)
    t_dc, all_dc, v_dc = _time(lambda: np.array([dcor.distance_correlation(X[:, j], y) for j in range(p)]), repeats)
    rows.append((f"dCor, {p} features, n={n:.0e}, float64", "featcorr", t_fc, all_fc, ""))
    rows.append((f"dCor, {p} features, n={n:.0e}, float64", "dcor 0.7 (loop)", t_dc, all_dc,
                 f"max diff {np.abs(v_dc - v_fc).max():.1e}"))


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n/10 everywhere, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "select_dependence.md"))
    ap.add_argument("--only", choices=["dcor", "mrmr"], default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = 1 if args.quick else args.repeats
    scale = 10 if args.quick else 1
    rows: list = []
    if args.only in (None, "dcor"):
        bench_dcor_pair(10**6 // scale, reps, rows)
        bench_dcor_features(10**5 // scale, 20, reps, rows)
    if args.only in (None, "mrmr"):
        bench_mrmr(10**5 // scale, 1000, 20, reps, rows)
    lines = [
        "# featcorr dependence / MRMR vs dcor and mrmr-selection",
        "",
        f"`{' '.join(['bench/select_dependence.py'] + [a for a in __import__('sys').argv[1:]])}` on "
        f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}; "
        f"median of {reps} run(s) (all runs listed). Shared, loaded machine: compare within a row group.",
        "",
        "| workload | tool | median s | runs s | answer |",
        "|---|---|---:|---|---|",
    ]
    groups: dict = {}
    for w, tool, t, alls, ans in rows:
        groups.setdefault(w, []).append((tool, t))
        lines.append(f"| {w} | {tool} | {t:.3f} | {', '.join(f'{a:.3f}' for a in alls)} | {ans} |")
    lines.append("")
    for w, tools in groups.items():
        base = dict(tools).get("featcorr")
        for tool, t in tools:
            if tool != "featcorr" and base:
                lines.append(f"- {w}: featcorr is **{t / base:.1f}x** faster than {tool}")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
