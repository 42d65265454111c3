"""featcorr minibatch_cka vs pytorch-cka's minibatch CKA on the same MLP layers and batches.

Workload: two seeded MLPs (post-ReLU outputs of every hidden layer), N samples
in batches of B, every layer of model A against every layer of model B.
Each tool does its own forward passes (end-to-end from models and a loader);
the time of the forward passes alone is measured too, so the HSIC part of each
tool is (total - forward). Runs are interleaved and repeated; medians reported.

Reference ("exact"): the same estimator computed independently in float64
numpy (Kornblith's U-centred Grams, HSIC averaged over the same batches).
With --full-exact, also the full-data debiased CKA (the population target).

    flock /tmp/featcorr-bench.lock .venv/bin/python bench/bench_minibatch_cka.py \
        [--n 10000 --batch 500 --depth 6 --width 512 --threads 1 --route auto]

--threads N sets torch's threads AND the BLAS pools (threadpoolctl: scipy's OpenBLAS, which featcorr's
?syrk calls use) for both tools. --route gram|features forces featcorr's route to the pair traces
(default auto: the cheaper by flop count, featcorr.stats._linear_traces.choose_route).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import numpy as np
import scipy.linalg.blas  # noqa: F401  (loads scipy's OpenBLAS, featcorr's ?syrk, before threadpoolctl limits it)
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

import featcorr.stats._minibatch_hsic as mb_module
from featcorr.measures import debiased_cka_from, minibatch_cka_from
from featcorr.stats import DebiasedMoments, MinibatchHSIC


def mlp(depth: int, width: int, d_in: int) -> nn.Sequential:
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers).eval()


def relu_names(model: nn.Sequential) -> list[str]:
    return [name for name, mod in model.named_modules() if isinstance(mod, nn.ReLU)]


class Recorder:
    """Forward hooks that keep the latest output of the chosen modules (bench helper)."""

    def __init__(self, model, names, prefix):
        self.out = {}
        mods = dict(model.named_modules())
        self.handles = [mods[n].register_forward_hook(self._hook(prefix + n)) for n in names]

    def _hook(self, key):
        def hook(_mod, _inp, output):
            self.out[key] = output.detach()

        return hook

    def close(self):
        for h in self.handles:
            h.remove()


class Clock:
    """Wall-clock and process CPU time of a block (CPU time is steadier on a shared machine)."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def run_forward(m1, m2, loader):
    with Clock() as c, torch.inference_mode():
        for (x,) in loader:
            m1(x)
            m2(x)
    return c, None


def run_pytorch_cka(m1, m2, loader, names):
    import cka

    with Clock() as c:
        mat = cka.compute_cka(m1, m2, loader, layers=names, device="cpu", progress=False)[0]
    return c, mat.double().numpy()


def run_featcorr(m1, m2, loader, names, gemm_dtype):
    with Clock() as c:
        ra, rb = Recorder(m1, names, "a/"), Recorder(m2, names, "b/")
        A, B = tuple("a/" + n for n in names), tuple("b/" + n for n in names)
        stat = MinibatchHSIC(pairs=("cross", A, B), gemm_dtype=gemm_dtype)
        try:
            with torch.inference_mode():
                for (x,) in loader:
                    m1(x)
                    m2(x)
                    stat.update({**ra.out, **rb.out})
        finally:
            ra.close()
            rb.close()
        snap = stat.finalize()
        mat = np.array([[minibatch_cka_from(snap, a, b) for b in B] for a in A])
    return c, mat


def collect_tensors(m1, m2, loader, names):
    """The hooked float32 activations of every batch (for the --hsic-only timing)."""
    ra, rb = Recorder(m1, names, "a/"), Recorder(m2, names, "b/")
    batches = []
    with torch.inference_mode():
        for (x,) in loader:
            m1(x)
            m2(x)
            batches.append({k: v.clone() for k, v in {**ra.out, **rb.out}.items()})
    ra.close()
    rb.close()
    return batches


def hsic_only_pytorch_cka(batches, names):
    """pytorch-cka's per-batch work on recorded activations, as its CKA._accumulate_hsic (two models) does it."""
    from cka.hsic import hsic

    A, B = ["a/" + n for n in names], ["b/" + n for n in names]
    with Clock() as c:
        hxy = hxx = hyy = 0
        for bt in batches:
            g1 = torch.stack([torch.mm(bt[k], bt[k].T) for k in A])
            g2 = torch.stack([torch.mm(bt[k], bt[k].T) for k in B])
            xy, xx, yy = hsic(g1, g2)
            hxy, hxx, hyy = hxy + xy, hxx + xx, hyy + yy
        mat = torch.clamp(hxy / torch.sqrt(torch.clamp(hxx[:, None] * hyy[None, :], min=0.0)), 0.0, 1.0)
    return c, mat.double().numpy()


def hsic_only_featcorr(batches, names, gemm_dtype):
    A, B = tuple("a/" + n for n in names), tuple("b/" + n for n in names)
    with Clock() as c:
        stat = MinibatchHSIC(pairs=("cross", A, B), gemm_dtype=gemm_dtype)
        for bt in batches:
            stat.update(bt)
        snap = stat.finalize()
        mat = np.array([[minibatch_cka_from(snap, a, b) for b in B] for a in A])
    return c, mat


def collect(m1, m2, loader, names):
    ra, rb = Recorder(m1, names, "a/"), Recorder(m2, names, "b/")
    batches = []
    with torch.inference_mode():
        for (x,) in loader:
            m1(x)
            m2(x)
            batches.append({k: v.double().numpy() for k, v in {**ra.out, **rb.out}.items()})
    ra.close()
    rb.close()
    return batches


def u_centre(K):
    K = K.copy()
    n = K.shape[0]
    np.fill_diagonal(K, 0.0)
    means = K.sum(0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    K -= means[:, None]
    K -= means[None, :]
    np.fill_diagonal(K, 0.0)
    return K


def numpy_reference(batches, names):
    """Minibatch CKA in float64 numpy: U-centred Grams, HSIC summed over the batches, then the ratio."""
    A, B = ["a/" + n for n in names], ["b/" + n for n in names]
    keys = A + B
    H = np.zeros((len(keys), len(keys)))
    for bt in batches:
        m = next(iter(bt.values())).shape[0]
        if m < 4:
            continue
        G = np.stack([u_centre(bt[k] @ bt[k].T).ravel() for k in keys])
        H += G @ G.T / (m * (m - 3))
    L = len(A)
    return H[:L, L:] / np.sqrt(np.outer(np.diag(H)[:L], np.diag(H)[L:]))


def full_exact(batches, names):
    A, B = tuple("a/" + n for n in names), tuple("b/" + n for n in names)
    st = DebiasedMoments(pairs=("cross", A, B))
    for bt in batches:
        st.update(bt)
    snap = st.finalize()
    return np.array([[debiased_cka_from(snap, a, b) for b in B] for a in A])


def bench_hsic_only(args, m1, m2, loader, names, ref):
    """Time only the per-batch HSIC work of both tools on the same recorded activations (no forward passes)."""
    batches = collect_tensors(m1, m2, loader, names)
    pk = "pytorch-cka 1.1.3 (Grams + cka.hsic.hsic per batch)"
    runs = {pk: lambda: hsic_only_pytorch_cka(batches, names)}
    for dt in args.dtypes.split(","):
        runs[f"featcorr MinibatchHSIC.update, gemm {dt}"] = lambda dt=dt: hsic_only_featcorr(batches, names, dt)
    wall = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    mats = {}
    for _ in range(args.repeats):
        for k, f in runs.items():
            c, mats[k] = f()
            wall[k].append(c.wall)
            cpu[k].append(c.cpu)
    pw, pc = statistics.median(wall[pk]), statistics.median(cpu[pk])
    print(f"\nHSIC work only, on recorded activations; medians of {args.repeats} interleaved runs; "
          "ratio = pytorch-cka time / this tool's time")
    print("| tool | wall s | CPU s | ratio wall | ratio CPU | max abs err vs float64 reference |")
    print("|---|---|---|---|---|---|")
    for k in runs:
        w, c = statistics.median(wall[k]), statistics.median(cpu[k])
        print(f"| {k} | {w:.3f} | {c:.3f} | {pw / w:.2f} | {pc / c:.2f} | {np.abs(mats[k] - ref).max():.1e} |")
    print(f"\nCPU runs: {', '.join(f'{k}: ' + ' '.join(f'{t:.3f}' for t in v) for k, v in cpu.items())}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--d-in", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full-exact", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch and BLAS threads (default: the libraries' choice)")
    ap.add_argument("--route", choices=("auto", "gram", "features"), default="auto")
    ap.add_argument("--dtypes", default="float64,float32,bfloat16", help="featcorr Gram dtypes to run")
    ap.add_argument("--hsic-only", action="store_true", help="time only the HSIC work on recorded activations")
    args = ap.parse_args()
    print(f"uptime: {os.popen('uptime').read().strip()}")
    with contextlib.ExitStack() as stack:
        if args.threads:
            from threadpoolctl import threadpool_limits

            torch.set_num_threads(args.threads)
            stack.enter_context(threadpool_limits(args.threads))
        if args.route != "auto":
            mb_module.choose_route = lambda m, widths, dtype=None: "gram" if dtype == torch.bfloat16 else args.route
        bench(args)
    print(f"uptime: {os.popen('uptime').read().strip()}")


def bench(args):
    torch.manual_seed(0)
    m1, m2 = mlp(args.depth, args.width, args.d_in), mlp(args.depth, args.width, args.d_in)
    X = torch.randn(args.n, args.d_in)
    loader = DataLoader(TensorDataset(X), batch_size=args.batch)
    names = relu_names(m1)
    print(f"workload: 2 MLPs depth {args.depth} width {args.width} d_in {args.d_in}, {len(names)}x{len(names)} "
          f"layer pairs, N={args.n}, batch {args.batch}, torch threads {torch.get_num_threads()}, "
          f"featcorr route {args.route}")

    ref = numpy_reference(collect(m1, m2, loader, names), names)
    if args.hsic_only:
        return bench_hsic_only(args, m1, m2, loader, names, ref)
    runs = {
        "forward passes only": lambda: run_forward(m1, m2, loader),
        "pytorch-cka 1.1.3 compute_cka": lambda: run_pytorch_cka(m1, m2, loader, names),
    }
    for dt in args.dtypes.split(","):
        runs[f"featcorr minibatch_cka, gemm {dt}"] = lambda dt=dt: run_featcorr(m1, m2, loader, names, dt)
    wall = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    mats = {}
    for _ in range(args.repeats):  # interleaved, so load changes hit every tool alike
        for k, f in runs.items():
            c, mats[k] = f()
            wall[k].append(c.wall)
            cpu[k].append(c.cpu)
    full = full_exact(collect(m1, m2, loader, names), names) if args.full_exact else None
    fw, fc_ = statistics.median(wall["forward passes only"]), statistics.median(cpu["forward passes only"])
    pk = "pytorch-cka 1.1.3 compute_cka"
    pw, pc = statistics.median(wall[pk]), statistics.median(cpu[pk])

    print(f"\nmedians of {args.repeats} interleaved runs; 'HSIC part' = total - forward passes; "
          "ratio = pytorch-cka time / this tool's time")
    print("| tool | wall s | CPU s | HSIC part wall s | HSIC part CPU s | ratio wall (total / HSIC part) | "
          "ratio CPU (total / HSIC part) | max abs err vs float64 reference |"
          + (" max abs diff vs full-data debiased CKA |" if full is not None else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if full is not None else ""))
    for k in runs:
        w, c = statistics.median(wall[k]), statistics.median(cpu[k])
        if mats[k] is None:
            print(f"| {k} | {w:.3f} | {c:.3f} | | | | | |" + (" |" if full is not None else ""))
            continue
        line = (f"| {k} | {w:.3f} | {c:.3f} | {w - fw:.3f} | {c - fc_:.3f} | {pw / w:.2f} / {(pw - fw) / (w - fw):.2f} | "
                f"{pc / c:.2f} / {(pc - fc_) / (c - fc_):.2f} | {np.abs(mats[k] - ref).max():.1e} |")
        if full is not None:
            line += f" {np.abs(mats[k] - full).max():.3f} |"
        print(line)
    print(f"\nwall runs: {', '.join(f'{k}: ' + ' '.join(f'{t:.2f}' for t in v) for k, v in wall.items())}")
    neg = int((ref < 0).sum())
    print(f"reference minibatch CKA: min {ref.min():.4f}, max {ref.max():.4f}, {neg} negative entries; "
          f"pytorch-cka entries clamped to 0: {int((mats[pk] == 0).sum())}")


if __name__ == "__main__":
    main()
