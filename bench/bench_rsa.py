"""RSA: featcorr side by side with rsatoolbox 0.3.2 (``calc_rdm`` + ``rdm.compare``).

Run ``.venv/bin/python bench/bench_rsa.py [--quick] [--repeats R] [--out FILE]``
(rsatoolbox comes with ``pip install torch==2.13.0 -e '.[anchors]'``). Prints
one table and writes it to ``bench/results/rsa.md``.

Workload (seeded, nothing downloaded): n samples (conditions) x p = 512
features, X = max(N(0, 1), 0) (post-ReLU-like, many exact zeros), Y = X W / 20
+ N(0, 1) (q = 512, depends on X), both float64. n = 1 000 and 5 000
(``--quick``: 1 000 only). Cases: the default correlation RDM + Spearman,
rsatoolbox's "euclidean" (featcorr ``sq_euclidean_per_feature``) + Pearson
("corr"), correlation + Kendall tau-a, and correlation + whitened cosine
("cosine_cov").

Every (tool, case, n) runs in a fresh subprocess of this script
(``--worker``): after imports and data generation the kernel's peak-RSS mark is
reset (``/proc/self/clear_refs``); seconds are the wall-clock time of the RDM
construction and comparison of both representations, peak memory is ``VmHWM``
minus the RSS before the call. Times are medians over ``--repeats`` processes
(one process for runs over 60 s). Both tools must return the same number
(|difference| is reported). The machine is shared and noisy: compare the
ratio of the two tools within one run, not absolute seconds across runs.
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
}
P = 512
#: featcorr with torch's default intra-op threads, featcorr with torch.set_num_threads(1), rsatoolbox
TOOLS = ("featcorr", "featcorr-1t", "rsatoolbox")


def _data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    X = np.maximum(rng.normal(size=(n, P)), 0.0)
    Y = X @ rng.normal(size=(P, P)) / 20 + rng.normal(size=(n, P))
    return X, Y


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def worker(tool: str, case: str, n: int) -> dict:
    X, Y = _data(n)
    rdm_fc, cmp_fc, rdm_tb, cmp_tb = CASES[case]
    if tool.startswith("featcorr"):
        import torch

        import featcorr as fc

        if tool == "featcorr-1t":
            torch.set_num_threads(1)

        def run():
            return fc.similarity(X, Y, measure="rsa", rdm=rdm_fc, comparison=cmp_fc, sample_size=n)
    else:
        from rsatoolbox.data import Dataset
        from rsatoolbox.rdm import calc_rdm, compare

        def run():
            r1 = calc_rdm(Dataset(X), method=rdm_tb)
            r2 = calc_rdm(Dataset(Y), method=rdm_tb)
            return float(compare(r1, r2, method=cmp_tb)[0, 0])

    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = _rss_kb("VmRSS:")
    t = time.perf_counter()
    value = run()
    sec = time.perf_counter() - t
    peak = _rss_kb("VmHWM:")
    return {"tool": tool, "case": case, "n": n, "value": value, "sec": sec, "mem_mb": (peak - before) / 1024}


def spawn(tool: str, case: str, n: int, tries: int = 2) -> dict:
    for attempt in range(tries):
        out = subprocess.run([sys.executable, __file__, "--worker", tool, case, str(n)], capture_output=True, text=True)
        if out.returncode == 0:
            return json.loads(out.stdout.strip().splitlines()[-1])
        print(f"worker {tool} {case} n={n} failed (exit {out.returncode}, attempt {attempt + 1}):\n{out.stderr[-2000:]}",
              file=sys.stderr, flush=True)
    raise RuntimeError(f"worker {tool} {case} n={n} failed {tries} times")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rsa.md"))
    ap.add_argument("--worker", nargs=3, metavar=("TOOL", "CASE", "N"))
    ap.add_argument("--sizes", type=int, nargs="+", help="override the sample sizes (default 1000 5000)")
    ap.add_argument("--cases", nargs="+", choices=sorted(CASES), help="run only these cases")
    args = ap.parse_args()
    if args.worker:
        tool, case, n = args.worker
        print(json.dumps(worker(tool, case, int(n))))
        return
    sizes = args.sizes or ([1000] if args.quick else [1000, 5000])
    rows = []
    for n in sizes:
        for case in args.cases or CASES:
            res = {}
            for tool in TOOLS:
                runs = [spawn(tool, case, n)]
                while len(runs) < args.repeats and runs[0]["sec"] < 60:
                    runs.append(spawn(tool, case, n))
                res[tool] = {
                    "value": runs[0]["value"],
                    "sec": statistics.median(r["sec"] for r in runs),
                    "all": [round(r["sec"], 2) for r in runs],
                    "mem_mb": statistics.median(r["mem_mb"] for r in runs),
                }
                print(f"n={n} {case:28s} {tool:10s} {res[tool]['all']} s  value={res[tool]['value']:.15f}", flush=True)
            rows.append((n, case, res))
    lines = [
        "# RSA: featcorr vs rsatoolbox 0.3.2",
        "",
        f"`{' '.join(['.venv/bin/python', 'bench/bench_rsa.py'] + sys.argv[1:])}` on {platform.machine()}, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. p = {P}, float64 inputs; "
        "seconds = median wall time over fresh processes (each process's runs listed), memory = peak RSS "
        "growth during the call. The machine is shared: read the ratio, not the absolute seconds.",
        "",
        "| n | RDM + comparison | featcorr s | featcorr, 1 torch thread, s | rsatoolbox s | speed-up (default / 1 thread) "
        "| featcorr MB | rsatoolbox MB | max |difference| |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, case, res in rows:
        f, f1, r = res["featcorr"], res["featcorr-1t"], res["rsatoolbox"]
        diff = max(abs(f["value"] - r["value"]), abs(f1["value"] - r["value"]))
        lines.append(
            f"| {n} | {case} | {f['sec']:.2f} {f['all']} | {f1['sec']:.2f} {f1['all']} | {r['sec']:.2f} {r['all']} | "
            f"{r['sec'] / f['sec']:.1f}x / {r['sec'] / f1['sec']:.1f}x | {f['mem_mb']:.0f} | {r['mem_mb']:.0f} | {diff:.1e} |"
        )
    lines.append("")
    lines.append(f"Load average at the end: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores.")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + NOTES)


NOTES = """
## Where the time goes

- featcorr builds each condensed RDM block of rows by block of rows against
  the rows after them (one float64 GEMM, half of the n x n Gram, never an
  n x n matrix), and builds and ranks the two RDMs in two threads;
  Spearman ranks come from one `argsort` of the N = n(n-1)/2 entries per RDM.
- rsatoolbox `calc_rdm(method="correlation")` computes the n x n matrix with
  `np.einsum('ik,jk')` (no BLAS), and `compare(method="spearman")` ranks with
  `scipy.stats.rankdata` on the vectors.
- Kendall tau-a: both use an O(N log N) merge-sort count (rsatoolbox a private
  SciPy helper, featcorr SciPy's public `kendalltau`, converted from tau-b
  with the tie counts), so the speed-up there comes from the RDMs only.
- torch's intra-op (OpenMP) threads: on a box whose load exceeds its cores,
  every parallel torch kernel waits for descheduled threads, and featcorr
  with the default 2 threads ran up to 20x slower than with
  `torch.set_num_threads(1)` (which still uses both cores here: the two RDMs
  are built in two Python threads). The "1 thread" column is that setting.
- Whitened cosine needs the n x n matrices (double centring), so featcorr
  builds full RDMs for it.
"""


if __name__ == "__main__":
    main()
