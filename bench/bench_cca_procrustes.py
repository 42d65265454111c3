"""Benchmark: featcorr's moment-based CCA family and Procrustes/shape metrics vs the fastest exact peers.

Workload: n samples (default 10 000) of two float32 "post-ReLU" representations
of width p = q (non-zero means). featcorr accumulates, over batches of 1000
rows, the statistic the registry requests for the measure (full-self-block
``Moments`` for the CCA family and the shape metric at alpha < 1; cross block
plus self-block *diagonals*, ``self_blocks="diagonal"``, for Procrustes) and
evaluates the measure from a fresh snapshot; "featcorr" time = accumulation +
measure. The "all five, one pass" row accumulates one full ``Moments`` and
evaluates all five measures from it (decompositions shared). Peers are exact
float64 computations on the whole arrays in memory:

- cca / pwcca: thin QR of each centred array + SVD of Qx^T Qy (Kornblith's /
  anatome's ``cca_by_qr``; a formula, no package offers a faster exact one);
  pwcca adds Morcos et al.'s weights;
- svcca: SVD of each centred array, 99 % variance, then SVD of U_kx^T U_ky;
- procrustes: netrep ``LinearMetric(alpha=1.0, score_method="angular")``
  ``fit_score`` (the package a user would run), and, as a second row, the bare
  formula (centre, unit Frobenius, nuclear norm of X^T Y: a formula, not a
  package; it has the same leading flop count as featcorr, 2 n p q);
- shape metric alpha=0.5: netrep ``LinearMetric(alpha=0.5)``; featcorr with
  ``covariance="unnormalized"`` so that both compute the same number;
- optionally cca-zoo ``CCA(n_components=p)`` (exact, PyPI) for widths <= --zoo-max.

netrep is imported from a local mirror of ahwillia/netrep (``fetch
github:ahwillia/netrep``), unpacked to a temporary directory (never committed).

Modes (run each under the shared lock, one benchmark at a time):

- ``--mode cpu1``: torch and BLAS/LAPACK on one thread for both sides
  (``torch.set_num_threads(1)`` and ``threadpool_limits(1)``), CPU time
  (``time.process_time``): comparable on a loaded machine;
- ``--mode wall``: default threads, wall time (only meaningful when the machine
  is quiet: ``uptime`` load < 2.5). featcorr's decompositions use
  ``--lapack-threads`` (default: featcorr's default, "auto").

    flock /tmp/featcorr-bench.lock .venv/bin/python bench/bench_cca_procrustes.py --widths 512 1024 --mode cpu1
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from featcorr.measures import cca_from, procrustes_from, pwcca_from, shape_metric_from, svcca_from
from featcorr.measures._linalg import set_lapack_threads
from featcorr.stats import Moments


def make_data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, p), dtype=np.float32)
    X = np.maximum(Z @ (rng.standard_normal((p, p), dtype=np.float32) / np.sqrt(p)), 0) + 0.5
    noise = rng.standard_normal((n, p), dtype=np.float32)
    Y = np.maximum(X @ (rng.standard_normal((p, p), dtype=np.float32) / np.sqrt(p)) + noise, 0) + 1.0
    return X.astype(np.float32), Y.astype(np.float32)


# ----------------------------------------------------------------- featcorr
def fc_accumulate(X, Y, self_blocks="full", batch=1000):
    m = Moments(pairs=[("x", "y")], self_blocks=self_blocks)
    for lo in range(0, X.shape[0], batch):
        m.update({"x": torch.from_numpy(X[lo : lo + batch]), "y": torch.from_numpy(Y[lo : lo + batch])})
    return m


#: measure -> (self blocks the registry requests for it alone, function of the snapshot)
FC = {
    "cca": ("full", lambda s: cca_from(s, "x", "y")),
    "svcca": ("full", lambda s: svcca_from(s, "x", "y")),
    "pwcca": ("full", lambda s: pwcca_from(s, "x", "y")),
    "procrustes": ("diagonal", lambda s: procrustes_from(s, "x", "y")),
    "shape a=0.5": ("full", lambda s: shape_metric_from(s, "x", "y", alpha=0.5, covariance="unnormalized")),
}


# ----------------------------------------------------------------- peers
def _centre(A):
    A = A.astype(np.float64)
    return A - A.mean(0)


def peer_cca(X, Y):
    Qx, Qy = np.linalg.qr(_centre(X))[0], np.linalg.qr(_centre(Y))[0]
    return float(np.linalg.svd(Qx.T @ Qy, compute_uv=False).mean())


def peer_svcca(X, Y, threshold=0.99):
    def reduce(A):
        U, s, _ = np.linalg.svd(_centre(A), full_matrices=False)
        cum = np.cumsum(s**2) / np.sum(s**2)
        return U[:, : int(np.sum(cum < threshold)) + 1]

    return float(np.linalg.svd(reduce(X).T @ reduce(Y), compute_uv=False).mean())


def peer_pwcca(X, Y):
    Xc, Yc = _centre(X), _centre(Y)
    Qx, Qy = np.linalg.qr(Xc)[0], np.linalg.qr(Yc)[0]
    U, rho, _ = np.linalg.svd(Qx.T @ Qy)
    w = np.abs((Qx @ U).T @ Xc).sum(axis=1)
    return float(np.sum(w * rho) / np.sum(w))


def formula_procrustes(X, Y):
    Xc, Yc = _centre(X), _centre(Y)
    Xc /= np.linalg.norm(Xc)
    Yc /= np.linalg.norm(Yc)
    return float(np.arccos(min(np.linalg.svd(Xc.T @ Yc, compute_uv=False).sum(), 1.0)))


def _netrep():
    git_dir = Path("/work/.mirror/ahwillia+netrep/repo")
    if not git_dir.exists():
        return None, None
    d = tempfile.mkdtemp(prefix="netrep-")
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD", "netrep"], capture_output=True, check=True)
    subprocess.run(["tar", "x", "-C", d], input=archive.stdout, check=True)
    head = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    sys.path.insert(0, d)
    try:
        return importlib.import_module("netrep.metrics").LinearMetric, head
    except ImportError:
        return None, None


def peer_zoo(X, Y):
    from cca_zoo.linear import CCA

    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    model = CCA(n_components=min(X.shape[1], Y.shape[1])).fit([X64, Y64])
    return float(model.score([X64, Y64]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--widths", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--mode", choices=["cpu1", "wall"], default="cpu1")
    ap.add_argument("--lapack-threads", default="auto",
                    help="featcorr's decomposition threads in wall mode: an int or 'auto' (featcorr's default)")
    ap.add_argument("--measures", nargs="+", default=list(FC), help=f"subset of {list(FC)}")
    ap.add_argument("--no-all", action="store_true", help="skip the 'all five, one pass' row")
    ap.add_argument("--zoo-max", type=int, default=0, help="run cca-zoo only up to this width (0: never)")
    args = ap.parse_args()
    if args.mode == "cpu1":
        torch.set_num_threads(1)
        threadpool_limits(1)  # numpy's BLAS/LAPACK for the peers, for the whole run
        clock = time.process_time
    else:
        set_lapack_threads(args.lapack_threads if args.lapack_threads == "auto" else int(args.lapack_threads))
        clock = time.perf_counter
    LinearMetric, netrep_head = _netrep()
    if LinearMetric is None:
        raise SystemExit("netrep mirror not found: run the fetch tool (github:ahwillia/netrep) first")
    peers = {
        "cca": [("numpy QR+SVD (formula)", peer_cca)],
        "svcca": [("numpy SVD+SVD (formula)", peer_svcca)],
        "pwcca": [("numpy QR+SVD+weights (formula)", peer_pwcca)],
        "procrustes": [
            ("netrep LinearMetric(alpha=1) fit_score",
             lambda X, Y: float(LinearMetric(alpha=1.0, score_method="angular").fit_score(
                 X.astype(np.float64), Y.astype(np.float64)))),
            ("numpy formula X^T Y + svdvals", formula_procrustes),
        ],
        "shape a=0.5": [("netrep LinearMetric(alpha=0.5) fit_score",
                         lambda X, Y: float(LinearMetric(alpha=0.5).fit_score(X.astype(np.float64),
                                                                               Y.astype(np.float64))))],
    }
    load = os.getloadavg()
    print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, numpy {np.__version__}, "
          f"netrep mirror @{netrep_head}, mode {args.mode} ({'CPU time' if args.mode == 'cpu1' else 'wall time'}), "
          f"n={args.n}, repeats={args.repeats}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for p in args.widths:
        X, Y = make_data(args.n, p)
        t_acc = {"full": [], "diagonal": []}
        t_fc = {k: [] for k in args.measures}
        t_peer = {(k, lab): [] for k in args.measures for lab, _ in peers[k]}
        vals: dict = {}
        t_zoo, t_all = [], []
        for _ in range(args.repeats):
            for mode in {FC[k][0] for k in args.measures}:
                t0 = clock()
                m = fc_accumulate(X, Y, mode)
                t_acc[mode].append(clock() - t0)
                for k in args.measures:
                    if FC[k][0] != mode:
                        continue
                    s = m.finalize()  # a fresh snapshot: no decomposition shared with another measure
                    t0 = clock()
                    vals[("fc", k)] = FC[k][1](s)
                    t_fc[k].append(clock() - t0)
                del m
            for k in args.measures:
                for lab, f in peers[k]:
                    t0 = clock()
                    vals[(k, lab)] = f(X, Y)
                    t_peer[(k, lab)].append(clock() - t0)
            if p <= args.zoo_max:
                t0 = clock()
                vals["zoo"] = peer_zoo(X, Y)
                t_zoo.append(clock() - t0)
            if not args.no_all:
                t0 = clock()
                s = fc_accumulate(X, Y).finalize()
                for _, f in FC.values():
                    f(s)
                t_all.append(clock() - t0)
        med = statistics.median
        accs = {mode: med(v) for mode, v in t_acc.items() if v}
        print(f"\n## n={args.n}, p=q={p}: accumulation " + ", ".join(f"{m} self blocks {t:.2f} s" for m, t in accs.items()))
        print("| measure | featcorr s (acc + measure) | peer | peer s | peer / featcorr | featcorr value | abs diff |")
        print("|---|---|---|---|---|---|---|")
        for k in args.measures:
            f_t = accs[FC[k][0]] + med(t_fc[k])
            for lab, _ in peers[k]:
                p_t = med(t_peer[(k, lab)])
                diff = abs(vals[("fc", k)] - vals[(k, lab)])
                print(f"| {k} | {f_t:.2f} ({accs[FC[k][0]]:.2f} + {med(t_fc[k]):.2f}) | {lab} | {p_t:.2f} | "
                      f"**{p_t / f_t:.1f}x** | {vals[('fc', k)]:.10f} | {diff:.1e} |")
        if t_zoo:
            f_t = accs["full"] + med(t_fc["cca"])
            z = med(t_zoo)
            print(f"| cca | {f_t:.2f} | cca-zoo CCA | {z:.2f} | **{z / f_t:.1f}x** | | "
                  f"{abs(vals['zoo'] - vals[('fc', 'cca')]):.1e} |")
        if t_all:
            fa = med(t_all)
            all_peer = sum(med(t_peer[(k, peers[k][0][0])]) for k in FC if k in args.measures)
            print(f"| all five, one pass | {fa:.2f} | sum of the first peer rows | {all_peer:.2f} | "
                  f"**{all_peer / fa:.1f}x** | | |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
