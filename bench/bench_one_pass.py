"""One pass for every measure: fc.compare with all registered measures vs one fc.compare call per measure.

Workload: two seeded MLPs with dropout (digits, 64 inputs -> width hidden
units x depth -> 10), N samples of scikit-learn's bundled digits (1797
images, tiled with small noise up to --n rows), batches of --batch. Every
hidden layer (GELU, then dropout: no exactly-constant dead units) of model A against every one of
model B, for all 18 registered measures. ``stochastic_shape`` needs repeated
stochastic passes, so the run uses ``stochastic_passes=R`` (dropout on, every
input repeated R times on the batch axis): every measure then sees the same
N * R stochastic rows.

Counted: forward calls of each model (a forward pre-hook on the model
itself), wall and CPU seconds. "all at once" is a single fc.compare call;
"one call per measure" runs fc.compare once per measure (what a user
combining one tool per measure does: each tool its own pass). Values of the
two runs must agree (same seed, same dropout draws), which the script checks.

    .venv/bin/python bench/bench_one_pass.py [--n 4000 --batch 500 --width 128 --depth 3 --passes 4]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import featcorr as fc


def mlp(seed: int, width: int, depth: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers, d = [], 64
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.GELU(), nn.Dropout(0.2)]
        d = width
    layers.append(nn.Linear(d, 10))
    return nn.Sequential(*layers)


def data(n: int, batch: int) -> DataLoader:
    X = load_digits().data.astype(np.float32) / 16.0
    rng = np.random.default_rng(0)
    reps = int(np.ceil(n / len(X)))
    X = np.concatenate([X + 0.05 * rng.standard_normal(X.shape).astype(np.float32) for _ in range(reps)])[:n]
    return DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=batch)


class CallCounter:
    def __init__(self, model: nn.Module) -> None:
        self.calls = 0
        self.handle = model.register_forward_pre_hook(self._count)

    def _count(self, *_: object) -> None:
        self.calls += 1


def run(models, loader, measures, args) -> tuple[fc.ComparisonResult, float, float]:
    hidden = [str(i) for i, m in enumerate(models[0]) if isinstance(m, nn.Dropout)]
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fc.compare(models[0], loader, models[1], layers_a=hidden, layers_b=hidden, measures=measures,
                         progress=False, stochastic_passes=args.passes, random_state=0)
    return res, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = fc.measures()["name"].tolist()
    # dead ReLU units are constant: per-unit R^2 is undefined for them, the variance-weighted mean is not
    options = {name: {} for name in names} | {"linear_predictivity": {"average": "variance_weighted"}}
    models = (mlp(0, args.width, args.depth), mlp(1, args.width, args.depth))
    loader = data(args.n, args.batch)
    # warm-up (lazy imports, numba/LAPACK first calls) on a small loader, not timed
    run(models, data(min(args.n, 2 * args.batch), args.batch), options, args)
    counters = [CallCounter(m) for m in models]
    n_batches = len(loader)

    res_all, wall_all, cpu_all = run(models, loader, options, args)
    calls_all = [c.calls for c in counters]

    for c in counters:
        c.calls = 0
    per_measure: dict[str, tuple[float, float]] = {}
    worst = 0.0
    for name in names:
        res_one, wall, cpu = run(models, loader, {name: options[name]}, args)
        per_measure[name] = (wall, cpu)
        diff = np.nanmax(np.abs(res_one.matrix(name).to_numpy() - res_all.matrix(name).to_numpy()))
        worst = max(worst, float(diff))
    calls_each = [c.calls for c in counters]
    wall_each = sum(w for w, _ in per_measure.values())
    cpu_each = sum(c for _, c in per_measure.values())

    rows = args.n * args.passes
    layers = len(res_all.layers_a)
    print(f"# One pass for all {len(names)} measures ({torch.__version__}, {torch.get_num_threads()} torch threads)\n")
    print(f"N = {args.n} digits rows x {args.passes} stochastic passes = {rows} rows per layer, batches of "
          f"{args.batch} ({n_batches} batches), {layers} x {layers} layer pairs (width {args.width}).\n")
    print("| run | forward calls model A / B | wall s | CPU s |")
    print("|---|---|---|---|")
    print(f"| all {len(names)} measures, one fc.compare | {calls_all[0]} / {calls_all[1]} | {wall_all:.2f} | "
          f"{cpu_all:.2f} |")
    print(f"| one fc.compare per measure ({len(names)} calls) | {calls_each[0]} / {calls_each[1]} | {wall_each:.2f} "
          f"| {cpu_each:.2f} |")
    print(f"\nForward calls per model in the single call: {calls_all[0]} = one per batch ({n_batches} batches). "
          f"Max |difference| between the two runs' values over all measures and pairs: {worst:.1e}.\n")
    print("| measure | its own fc.compare: wall s | CPU s |")
    print("|---|---|---|")
    for name, (wall, cpu) in per_measure.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
