"""RSA: featcorr side by side with rsatoolbox 0.3.2 (``calc_rdm`` + ``rdm.compare``).

Run ``flock /tmp/featcorr-bench.lock .venv/bin/python bench/bench_rsa.py [--quick] [--repeats R] [--out FILE]``
(rsatoolbox comes with ``pip install torch==2.13.0 -e '.[anchors]'``). Prints
one table and writes it to ``bench/results/rsa.md``.

Workload (seeded, nothing downloaded): n samples (conditions) x p features,
X = max(N(0, 1), 0) (post-ReLU-like, many exact zeros), Y = X W / 20 + N(0, 1)
(q = p, depends on X), both float64. Default grid: n = 1 000, 5 000, 10 000
at p = 512 and n = 10 000 at p = 2 048 (``--quick``: n = 1 000 only). Cases:
the default correlation RDM + Spearman, rsatoolbox's "euclidean" (featcorr
``sq_euclidean_per_feature``) + Pearson ("corr"), correlation + Kendall
tau-a, correlation + whitened cosine ("cosine_cov"), correlation + cosine
(rsatoolbox 0.3.2 has no cosine RDM), and rsatoolbox's "euclidean" + Spearman.

Tools: ``featcorr`` (torch's default intra-op threads), ``featcorr-1t``
(``torch.set_num_threads(1)`` and ``threadpoolctl.threadpool_limits(1)``) and
``rsatoolbox`` (numpy's default BLAS threads; its RDMs use einsum and its
comparisons SciPy, single-threaded, except the BLAS product of "euclidean").
Every (tool, case, n, p) runs in a fresh subprocess of this script
(``--worker``): after imports, data generation and a warm-up call on 300
samples (numba's cached kernels load once per process), the kernel's
peak-RSS mark is reset (``/proc/self/clear_refs``); seconds are the wall-clock
time and CPU seconds (``time.process_time``, all threads) of the RDM
construction and comparison of both representations, peak memory is
``VmHWM`` minus the RSS before the call. Times are medians over ``--repeats``
processes (one process for runs over 60 s). Both tools must return the same
number (|difference| is reported). Speed-ups: "cpu" = rsatoolbox CPU s /
featcorr-1t CPU s (one core each, least sensitive to other jobs); "wall" =
rsatoolbox wall s / featcorr wall s at the default threads. The machine is
shared: compare ratios within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "correlation+spearman": ("correlation", "spearman", "correlation", "spearman"),
    "euclidean/p+pearson": ("sq_euclidean_per_feature", "pearson", "euclidean", "corr"),
    "correlation+tau_a": ("correlation", "kendall_tau_a", "correlation", "tau-a"),
    "correlation+whitened_cosine": ("correlation", "whitened_cosine", "correlation", "cosine_cov"),
    "correlation+cosine": ("correlation", "cosine", "correlation", "cosine"),
    "euclidean/p+spearman": ("sq_euclidean_per_feature", "spearman", "euclidean", "spearman"),
}
#: (n, p) grid
GRID = ((1000, 512), (5000, 512), (10000, 512), (10000, 2048))
#: featcorr with torch's default intra-op threads, featcorr with one thread everywhere, rsatoolbox
TOOLS = ("featcorr", "featcorr-1t", "rsatoolbox")


def _data(n: int, p: int):
    import numpy as np

    rng = np.random.default_rng(0)
    X = np.maximum(rng.normal(size=(n, p)), 0.0)
    Y = X @ rng.normal(size=(p, p)) / 20 + rng.normal(size=(n, p))
    return X, Y


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def worker(tool: str, case: str, n: int, p: int) -> dict:
    import numpy as np

    X, Y = _data(n, p)
    rdm_fc, cmp_fc, rdm_tb, cmp_tb = CASES[case]
    if tool.startswith("featcorr"):
        import torch

        import featcorr as fc

        if tool == "featcorr-1t":
            from threadpoolctl import threadpool_limits

            torch.set_num_threads(1)
            threadpool_limits(1)

        def run(A, B):
            return fc.similarity(A, B, measure="rsa", rdm=rdm_fc, comparison=cmp_fc, sample_size=A.shape[0])

        from featcorr.measures import _rank_sort

        if _rank_sort.available():  # load the cached kernels (once per process, ~0.8 s)
            v = np.random.default_rng(1).normal(size=50_000)
            _rank_sort.average_ranks(v, threads=torch.get_num_threads())
            _rank_sort.kendall_tau_a(v, -v, threads=torch.get_num_threads())
    else:
        from rsatoolbox.data import Dataset
        from rsatoolbox.rdm import calc_rdm, compare

        def run(A, B):
            r1 = calc_rdm(Dataset(A), method=rdm_tb)
            r2 = calc_rdm(Dataset(B), method=rdm_tb)
            return float(compare(r1, r2, method=cmp_tb)[0, 0])

    run(X[:300], Y[:300])  # warm-up: imports, numba's cached kernels (300 samples: 44 850 RDM entries, the compiled rank path)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = _rss_kb("VmRSS:")
    t, c = time.perf_counter(), time.process_time()
    value = run(X, Y)
    sec, cpu = time.perf_counter() - t, time.process_time() - c
    peak = _rss_kb("VmHWM:")
    return {"tool": tool, "case": case, "n": n, "p": p, "value": value, "sec": sec, "cpu": cpu,
            "mem_mb": (peak - before) / 1024}


def spawn(tool: str, case: str, n: int, p: int, tries: int = 2) -> dict:
    for attempt in range(tries):
        out = subprocess.run([sys.executable, __file__, "--worker", tool, case, str(n), str(p)], capture_output=True,
                             text=True)
        if out.returncode == 0:
            return json.loads(out.stdout.strip().splitlines()[-1])
        print(f"worker {tool} {case} n={n} p={p} failed (exit {out.returncode}, attempt {attempt + 1}):\n"
              f"{out.stderr[-2000:]}", file=sys.stderr, flush=True)
    raise RuntimeError(f"worker {tool} {case} n={n} p={p} failed {tries} times")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rsa.md"))
    ap.add_argument("--worker", nargs=4, metavar=("TOOL", "CASE", "N", "P"))
    ap.add_argument("--grid", nargs="+", metavar="NxP", help="override the (n, p) grid, e.g. 10000x512")
    ap.add_argument("--cases", nargs="+", choices=sorted(CASES), help="run only these cases")
    ap.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    args = ap.parse_args()
    if args.worker:
        tool, case, n, p = args.worker
        print(json.dumps(worker(tool, case, int(n), int(p))))
        return
    grid = [tuple(int(v) for v in g.split("x")) for g in args.grid] if args.grid else (
        [(1000, 512)] if args.quick else list(GRID))
    load_start = os.getloadavg()
    rows = []
    for n, p in grid:
        for case in args.cases or CASES:
            res = {}
            for tool in args.tools:
                runs = [spawn(tool, case, n, p)]
                while len(runs) < args.repeats and runs[0]["sec"] < 60:
                    runs.append(spawn(tool, case, n, p))
                res[tool] = {
                    "value": runs[0]["value"],
                    "sec": statistics.median(r["sec"] for r in runs),
                    "cpu": statistics.median(r["cpu"] for r in runs),
                    "all": [round(r["sec"], 2) for r in runs],
                    "mem_mb": statistics.median(r["mem_mb"] for r in runs),
                }
                print(f"n={n} p={p} {case:28s} {tool:11s} wall {res[tool]['all']} s cpu {res[tool]['cpu']:.2f} s "
                      f"mem {res[tool]['mem_mb']:.0f} MB value={res[tool]['value']:.15f}", flush=True)
            if "rsatoolbox" in res:
                r = res["rsatoolbox"]
                parts = [f"{t}: cpu {r['cpu'] / res[t]['cpu']:.1f}x wall {r['sec'] / res[t]['sec']:.1f}x"
                         for t in res if t != "rsatoolbox"]
                print(f"   rsatoolbox / featcorr  {'; '.join(parts)}", flush=True)
            rows.append((n, p, case, res))
    lines = [
        "| n | p | RDM + comparison | featcorr wall s | featcorr-1t wall s | featcorr-1t cpu s | rsatoolbox wall s "
        "| rsatoolbox cpu s | speed-up cpu (1t) | speed-up wall (default) | featcorr MB | rsatoolbox MB "
        "| max abs difference |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, p, case, res in rows:
        f, f1, r = res.get("featcorr"), res.get("featcorr-1t"), res.get("rsatoolbox")

        def cell(x, key):
            return "" if x is None else (f"{x[key]:.2f} {x['all']}" if key == "sec" else f"{x[key]:.2f}")

        ratio_cpu = f"{r['cpu'] / f1['cpu']:.1f}x" if r and f1 else ""
        ratio_wall = f"{r['sec'] / f['sec']:.1f}x" if r and f else ""
        diff = max((abs(x["value"] - r["value"]) for x in (f, f1) if x and r), default=float("nan"))
        mem_f = f if f else f1
        lines.append(
            f"| {n} | {p} | {case} | {cell(f, 'sec')} | {cell(f1, 'sec')} | {cell(f1, 'cpu')} | {cell(r, 'sec')} | "
            f"{cell(r, 'cpu')} | {ratio_cpu} | {ratio_wall} | {mem_f['mem_mb']:.0f} | "
            f"{'' if r is None else format(r['mem_mb'], '.0f')} | {diff:.1e} |"
        )
    header = (
        f"`{' '.join(['flock /tmp/featcorr-bench.lock .venv/bin/python', 'bench/bench_rsa.py'] + sys.argv[1:])}` "
        f"on {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average (1/5/15 min) {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f}/{os.getloadavg()[1]:.2f}/{os.getloadavg()[2]:.2f} at the end. Float64 inputs; "
        "wall s = median over fresh processes (each listed), cpu s = process CPU time, memory = peak RSS growth "
        "during the call."
    )
    text = header + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("# RSA: featcorr vs rsatoolbox 0.3.2\n\n" + text)


if __name__ == "__main__":
    main()
