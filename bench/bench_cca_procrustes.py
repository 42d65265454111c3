"""Benchmark: featcorr's moment-based CCA family and Procrustes/shape metrics vs the fastest exact peers.

Workload: n samples (default 10 000) of two float32 "post-ReLU" representations
of width p = q in {512, 1024, 2048} (non-zero means). featcorr accumulates
Moments over batches of 1000 rows (float64 accumulation of centred batches)
and evaluates each measure from them; peers are exact float64 formulas on the
whole arrays in memory:

- CCA / PWCCA: thin QR of each centred array + SVD of Qx^T Qy (Kornblith's /
  anatome's ``cca_by_qr``); PWCCA adds Morcos et al.'s weights;
- SVCCA: SVD of each centred array, 99 % variance, then SVD of U_kx^T U_ky;
- Procrustes: netrep's formula (centre, unit Frobenius, nuclear norm of X^T Y);
- shape metric alpha=0.5: netrep ``LinearMetric`` when a local mirror of
  ahwillia/netrep exists (else its formula in numpy); featcorr with
  ``covariance="unnormalized"`` so that both compute the same number;
- cca-zoo ``CCA(n_components=p)`` (exact, PyPI) for widths <= --zoo-max.

LAPACK: both sides run their decompositions on one thread and GEMMs on all
threads (featcorr does this itself; peers get ``threadpool_limits(1)`` around
QR/SVD/eigh), because multi-threaded LAPACK is erratic on a loaded 2-core box.
Times are medians over --repeats runs in this process. Run:

    .venv/bin/python bench/bench_cca_procrustes.py --widths 512 1024 2048 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib
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
from featcorr.stats import Moments


def make_data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, p), dtype=np.float32)
    X = np.maximum(Z @ (rng.standard_normal((p, p), dtype=np.float32) / np.sqrt(p)), 0) + 0.5
    noise = rng.standard_normal((n, p), dtype=np.float32)
    Y = np.maximum(X @ (rng.standard_normal((p, p), dtype=np.float32) / np.sqrt(p)) + noise, 0) + 1.0
    return X.astype(np.float32), Y.astype(np.float32)


# ----------------------------------------------------------------- featcorr
def fc_accumulate(X, Y, batch=1000):
    m = Moments(pairs=[("x", "y")])
    for lo in range(0, X.shape[0], batch):
        m.update({"x": torch.from_numpy(X[lo : lo + batch]), "y": torch.from_numpy(Y[lo : lo + batch])})
    return m


FC = {
    "cca": lambda s: cca_from(s, "x", "y"),
    "svcca": lambda s: svcca_from(s, "x", "y"),
    "pwcca": lambda s: pwcca_from(s, "x", "y"),
    "procrustes": lambda s: procrustes_from(s, "x", "y"),
    "shape a=0.5": lambda s: shape_metric_from(s, "x", "y", alpha=0.5, covariance="unnormalized"),
}


# ----------------------------------------------------------------- peers
def _centre(A):
    A = A.astype(np.float64)
    return A - A.mean(0)


def peer_cca(X, Y):
    Xc, Yc = _centre(X), _centre(Y)
    with threadpool_limits(1):
        Qx, Qy = np.linalg.qr(Xc)[0], np.linalg.qr(Yc)[0]
    M = Qx.T @ Qy
    with threadpool_limits(1):
        return float(np.linalg.svd(M, compute_uv=False).mean())


def peer_svcca(X, Y, threshold=0.99):
    def reduce(A):
        with threadpool_limits(1):
            U, s, _ = np.linalg.svd(_centre(A), full_matrices=False)
        cum = np.cumsum(s**2) / np.sum(s**2)
        return U[:, : int(np.sum(cum < threshold)) + 1]

    M = reduce(X).T @ reduce(Y)
    with threadpool_limits(1):
        return float(np.linalg.svd(M, compute_uv=False).mean())


def peer_pwcca(X, Y):
    Xc, Yc = _centre(X), _centre(Y)
    with threadpool_limits(1):
        Qx, Qy = np.linalg.qr(Xc)[0], np.linalg.qr(Yc)[0]
    M = Qx.T @ Qy
    with threadpool_limits(1):
        U, rho, _ = np.linalg.svd(M)
    w = np.abs((Qx @ U).T @ Xc).sum(axis=1)
    return float(np.sum(w * rho) / np.sum(w))


def peer_procrustes(X, Y):
    Xc, Yc = _centre(X), _centre(Y)
    Xc /= np.linalg.norm(Xc)
    Yc /= np.linalg.norm(Yc)
    M = Xc.T @ Yc
    with threadpool_limits(1):
        return float(np.arccos(min(np.linalg.svd(M, compute_uv=False).sum(), 1.0)))


def _netrep():
    git_dir = Path("/work/.mirror/ahwillia+netrep/repo")
    if not git_dir.exists():
        return None
    d = tempfile.mkdtemp(prefix="netrep-")
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD", "netrep"], capture_output=True, check=True)
    subprocess.run(["tar", "x", "-C", d], input=archive.stdout, check=True)
    sys.path.insert(0, d)
    try:
        return importlib.import_module("netrep.metrics").LinearMetric
    except ImportError:
        return None


def peer_shape(X, Y, LinearMetric):
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    if LinearMetric is not None:
        with threadpool_limits(1):  # netrep's eigh/svd; its GEMMs run single-threaded too here
            return float(LinearMetric(alpha=0.5).fit_score(X64, Y64))
    raise RuntimeError("netrep mirror not available")


def peer_zoo(X, Y):
    from cca_zoo.linear import CCA

    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    model = CCA(n_components=min(X.shape[1], Y.shape[1])).fit([X64, Y64])
    return float(model.score([X64, Y64]))


def timed(f, *args):
    t = time.perf_counter()
    v = f(*args)
    return time.perf_counter() - t, v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--widths", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--zoo-max", type=int, default=1024, help="run cca-zoo only up to this width")
    ap.add_argument("--threads", type=int, default=None, help="threads for torch and numpy GEMMs (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)  # numpy's BLAS for the peers, for the whole run
    LinearMetric = _netrep()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, numpy {np.__version__}, n={args.n}, "
          f"repeats={args.repeats}, netrep={'mirror' if LinearMetric else 'absent'}")
    peers = {
        "cca": peer_cca,
        "svcca": peer_svcca,
        "pwcca": peer_pwcca,
        "procrustes": peer_procrustes,
        "shape a=0.5": lambda X, Y: peer_shape(X, Y, LinearMetric),
    }
    for p in args.widths:
        X, Y = make_data(args.n, p)
        t_acc, t_fc, t_peer, vals = [], {k: [] for k in FC}, {k: [] for k in peers}, {}
        t_zoo = []
        for _ in range(args.repeats):
            dt, m = timed(fc_accumulate, X, Y)
            t_acc.append(dt)
            # single measure: accumulation + that measure on a fresh snapshot (no shared decompositions)
            for k, f in FC.items():
                s = m.finalize()
                dt, v = timed(f, s)
                t_fc[k].append(dt)
                vals[("fc", k)] = v
            for k, f in peers.items():
                dt, v = timed(f, X, Y)
                t_peer[k].append(dt)
                vals[("peer", k)] = v
            if p <= args.zoo_max:
                dt, v = timed(peer_zoo, X, Y)
                t_zoo.append(dt)
                vals[("zoo", "cca")] = v
        # all five from one accumulation, spectra shared
        dt_all = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            s = fc_accumulate(X, Y).finalize()
            for f in FC.values():
                f(s)
            dt_all.append(time.perf_counter() - t0)
        acc = statistics.median(t_acc)
        print(f"\n## n={args.n}, p=q={p}: featcorr accumulation {acc:.2f} s (median)")
        print(f"| measure | featcorr (acc + measure) s | peer s | peer/featcorr | featcorr value | |diff| |")
        print("|---|---|---|---|---|---|")
        for k in FC:
            f_t = acc + statistics.median(t_fc[k])
            p_t = statistics.median(t_peer[k])
            diff = abs(vals[("fc", k)] - vals[("peer", k)])
            print(f"| {k} | {f_t:.2f} | {p_t:.2f} | {p_t / f_t:.1f}x | {vals[('fc', k)]:.10f} | {diff:.1e} |")
        if t_zoo:
            z = statistics.median(t_zoo)
            f_t = acc + statistics.median(t_fc["cca"])
            d = abs(vals[("zoo", "cca")] - vals[("fc", "cca")])
            print(f"| cca vs cca-zoo CCA | {f_t:.2f} | {z:.2f} | {z / f_t:.1f}x | {vals[('fc', 'cca')]:.10f} | {d:.1e} |")
        all_peer = sum(statistics.median(t_peer[k]) for k in peers)
        fa = statistics.median(dt_all)
        print(f"| all five, one pass | {fa:.2f} | {all_peer:.2f} (sum) | {all_peer / fa:.1f}x | | |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
