"""Moments accumulation: this tree's ``featcorr/stats/_moments.py`` vs an older revision, in one process.

Run ``.venv/bin/python bench/bench_moments_versions.py [--rev f1ff00a] [--threads 1] [--repeats 2]``.
The old module is read with ``git show REV:featcorr/stats/_moments.py`` and
imported beside the current one; both accumulate the same float32 activations
in batches of 500, their runs interleaved (old, new, old, new, ...), and the
medians of wall and CPU seconds are printed with the speed-up. Workloads:
the arrays of bench_cka.py's size (n = 20 000, 1024 vs 768 features, cross
pairs), two 7-layer MLPs' widths (512, 512, 512, 256, 256, 128, 10; A x B
pairs plus self tiles, N = 10 000) and one model's 7 layers with all pairs.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_old(rev: str):
    src = subprocess.run(["git", "show", f"{rev}:featcorr/stats/_moments.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    src = src.replace("from ..", "from featcorr.").replace("from ._base", "from featcorr.stats._base")
    path = Path(tempfile.mkdtemp()) / "moments_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("moments_old", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["moments_old"] = mod
    spec.loader.exec_module(mod)
    return mod


def workloads():
    g = torch.Generator().manual_seed(0)
    n = 20_000
    X = torch.relu(torch.randn(n, 1024, generator=g) + 0.5) * 2 + 3
    Y = torch.relu(torch.randn(n, 768, generator=g)) + 1
    yield "arrays 20k, 1024 x 768, cross", {"x": X, "y": Y}, ("cross", ["x"], ["y"])
    widths = [512, 512, 512, 256, 256, 128, 10]
    D = {f"{s}{i}": torch.relu(torch.randn(10_000, p, generator=g) + 0.3) for s in "ab" for i, p in enumerate(widths)}
    yield "two MLPs 10k, 7 x 7 layers, cross", D, ("cross", [f"a{i}" for i in range(7)], [f"b{i}" for i in range(7)])
    yield "one MLP 10k, 7 layers, all pairs", {k: v for k, v in D.items() if k[0] == "a"}, "all"


def run(mod, D, pairs, gemm):
    m = mod.Moments(pairs=pairs, gemm_dtype=gemm)
    n = next(iter(D.values())).shape[0]
    t0, c0 = time.perf_counter(), time.process_time()
    for lo in range(0, n, 500):
        m.update({k: v[lo : lo + 500] for k, v in D.items()})
    m.finalize()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="f1ff00a", help="git revision of the old _moments.py (default: f1ff00a)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from featcorr.stats import _moments as new

    old = load_old(args.rev)
    print(f"torch threads {torch.get_num_threads()}, old = {args.rev}, new = working tree, median of {args.repeats}")
    for name, D, pairs in workloads():
        for gemm in ("float64", "float32"):
            res = {"old": [], "new": []}
            for _ in range(args.repeats):
                for label, mod in (("old", old), ("new", new)):
                    res[label].append(run(mod, D, pairs, gemm))
            med = {k: np.median(np.array(v), axis=0) for k, v in res.items()}
            print(f"{name}, gemm {gemm}: old {med['old'][0]:.2f} s wall / {med['old'][1]:.2f} s cpu, new "
                  f"{med['new'][0]:.2f} s / {med['new'][1]:.2f} s -> {med['old'][0] / med['new'][0]:.2f}x wall, "
                  f"{med['old'][1] / med['new'][1]:.2f}x cpu", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
