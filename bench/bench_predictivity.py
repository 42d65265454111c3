"""Benchmark: ``linear_predictivity`` (held-out ridge R^2 from per-fold moments) on wide layers.

Workload: n samples (default 10 000) of two seeded float32 "post-ReLU"
representations of width p = q (default 512 and 1024), non-zero means
(``make_data`` of bench_cca_procrustes.py).
``FoldMoments(n_folds=5)`` is accumulated once over batches of 1000 rows;
then ``linear_predictivity_from`` is timed on that snapshot:

- ``nested``: ``alpha=None``, the default grid of 7 relative penalties chosen
  per outer fold by inner 4-fold CV (5 outer + 10 inner training sets);
- ``fixed``: one given penalty (``alpha=10.0``), 5 training sets.

Times are CPU seconds (``time.process_time``) with torch and BLAS on one
thread (``torch.set_num_threads(1)``, ``threadpool_limits(1)``), the median
of ``--repeats`` runs in this process. Each run gets a fresh snapshot copy so
that no decomposition cached on the snapshot is reused. The value printed is
the R^2 itself, to compare runs of different versions of the code.

Compare two versions of the code side by side, one at a time under the
shared benchmark lock (``--label`` names the column of the results)::

    git archive <rev> featcorr | tar -x -C /tmp/fc_before
    flock /tmp/featcorr-bench.lock env PYTHONPATH=/tmp/fc_before \\
        .venv/bin/python bench/bench_predictivity.py --label before
    flock /tmp/featcorr-bench.lock .venv/bin/python bench/bench_predictivity.py --label after
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import time

import numpy as np
import torch
from bench_cca_procrustes import make_data  # the same seeded post-ReLU X, Y (n, p) float32
from threadpoolctl import threadpool_limits


def accumulate(X: np.ndarray, Y: np.ndarray, batch: int = 1000):
    """FoldMoments(5) of blocks x, y over batches; returns (statistic, CPU seconds)."""
    from featcorr.stats import FoldMoments

    t0 = time.process_time()
    fm = FoldMoments(5, pairs="all", blocks=("x", "y"))
    for lo in range(0, X.shape[0], batch):
        fm.update({"x": torch.from_numpy(X[lo : lo + batch]), "y": torch.from_numpy(Y[lo : lo + batch])})
    return fm, time.process_time() - t0


def time_measure(fm, repeats: int, **opts) -> tuple[float, float]:
    """Median CPU seconds of linear_predictivity_from on fresh snapshots, and the value."""
    from featcorr.measures import linear_predictivity_from

    times, value = [], None
    for _ in range(repeats):
        snap = copy.deepcopy(fm).finalize()
        t0 = time.process_time()
        value = linear_predictivity_from(snap, "x", "y", **opts)
        times.append(time.process_time() - t0)
    return statistics.median(times), value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--label", default="this version")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import featcorr

    print(f"# linear_predictivity ({args.label}: featcorr from {featcorr.__file__})")
    print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("| p = q | accumulate s | nested (alpha=None) s | value | fixed (alpha=10) s | value |")
    print("|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for p in args.widths:
            X, Y = make_data(args.n, p)
            fm, t_acc = accumulate(X, Y)
            t_nested, v_nested = time_measure(fm, args.repeats, alpha=None)
            t_fixed, v_fixed = time_measure(fm, args.repeats, alpha=10.0)
            print(f"| {p} | {t_acc:.2f} | {t_nested:.2f} | {v_nested:.15f} | {t_fixed:.2f} | {v_fixed:.15f} |",
                  flush=True)
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
