"""Profile: CPU time of featcorr's moment accumulation and of each CCA-family / Procrustes measure, one thread.

Same data as bench_cca_procrustes.py. Prints the accumulation time (full and,
when the checkout supports it, diagonal self blocks) and the time of each
measure on a fresh snapshot, so two checkouts can be compared side by side
(run it with ``PYTHONPATH=<other checkout>`` for the other one):

    flock /tmp/featcorr-bench.lock .venv/bin/python bench/profile_cca_decompositions.py 1024 2048
    git archive <commit> featcorr | tar -x -C /tmp/fc_base
    PYTHONPATH=/tmp/fc_base flock /tmp/featcorr-bench.lock .venv/bin/python bench/profile_cca_decompositions.py 1024 2048
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import featcorr
from featcorr.measures import cca_from, procrustes_from, pwcca_from, shape_metric_from, svcca_from
from featcorr.stats import Moments

MEASURES = {
    "cca": lambda s: cca_from(s, "x", "y"),
    "svcca": lambda s: svcca_from(s, "x", "y"),
    "pwcca": lambda s: pwcca_from(s, "x", "y"),
    "procrustes": lambda s: procrustes_from(s, "x", "y"),
    "shape a=0.5": lambda s: shape_metric_from(s, "x", "y", alpha=0.5, covariance="unnormalized"),
}


def make_data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The data of bench_cca_procrustes.py (repeated here so that older checkouts can run this script)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, p), dtype=np.float32)
    X = np.maximum(Z @ (rng.standard_normal((p, p), dtype=np.float32) / np.sqrt(p)), 0) + 0.5
    noise = rng.standard_normal((n, p), dtype=np.float32)
    Y = np.maximum(X @ (rng.standard_normal((p, p), dtype=np.float32) / np.sqrt(p)) + noise, 0) + 1.0
    return X.astype(np.float32), Y.astype(np.float32)


def main() -> None:
    torch.set_num_threads(1)
    threadpool_limits(1)
    warnings.simplefilter("ignore")

    print(f"featcorr from {featcorr.__file__}; torch {torch.__version__}, 1 thread, CPU time (s)")
    for p in [int(a) for a in sys.argv[1:]] or [1024]:
        X, Y = make_data(10_000, p)

        def acc(**opts):
            m = Moments(pairs=[("x", "y")], **opts)
            for lo in range(0, X.shape[0], 1000):
                m.update({"x": torch.from_numpy(X[lo : lo + 1000]), "y": torch.from_numpy(Y[lo : lo + 1000])})
            return m

        t = time.process_time()
        m = acc()
        row = [f"p={p}: accumulate full {time.process_time() - t:.2f}"]
        try:
            t = time.process_time()
            acc(self_blocks="diagonal")
            row.append(f"diagonal {time.process_time() - t:.2f}")
        except TypeError:
            row.append("diagonal n/a")
        print(", ".join(row))
        for name, f in MEASURES.items():
            s = m.finalize()
            t = time.process_time()
            v = f(s)
            print(f"  {name:12s} {time.process_time() - t:6.2f}  value {v:.12f}")
        s = m.finalize()
        t = time.process_time()
        for f in MEASURES.values():
            f(s)
        print(f"  all five from one snapshot {time.process_time() - t:.2f}", flush=True)


if __name__ == "__main__":
    main()
