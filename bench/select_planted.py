"""Planted-truth benchmark of feature selectors: featcorr beside mrmr-selection, pyHSICLasso, NNI and scikit-learn.

Run ``.venv/bin/python bench/select_planted.py [--quick] [--threads T] [--out FILE]`` (peers:
``pip install torch==2.13.0 -e '.[anchors]'``). Writes ``bench/results/select_planted.md``.

Part 1, planted kinds. y = x0 + 0.8 x1 (linear main effects) + x2^2 (square) + 2 (x3 - x4) (suppressor
pair: x4 is x3's shared noise, corr(x3, x4) ~ 0.95, x4 alone uncorrelated with y) + 1.5 sign(x5 x6) (XOR
pair) + 0.3 N(0, 1); x7 = x0 + 0.05 N(0, 1) and x8 = x1 + 0.05 N(0, 1) are redundant near-copies; the rest
is noise. k = 7 (the planted set {0..6}). N > D: n = 2000, D = 50; N < D: n = 300, D = 1000 (quick: 400).
Reported: which kinds each method finds (all members of the kind selected), precision/recall of the
planted set, near-copies picked, held-out R^2 of a gradient-boosted model on the selected features, time.

Part 2, real data with noise appended: breast_cancer (+50 noise, k = 10), digits (+64, k = 20), diabetes
(+50, k = 5): fraction of selected features that are real, held-out accuracy / R^2.

Part 3, speed at equal answers: HSICLasso vs pyHSICLasso (n = 1000, d = 500, 20 features, same list);
FeatureGradients vs NNI's FeatureGradientSelector (same defaults, shuffle=False so both see the same
minibatches: same top-k); FeatureGradients scaling in N and D (time per minibatch row x feature), and the
N = 10^6 x D = 1000 stream (full mode only) with its peak memory.

Every time is the median of ``--repeats`` runs (1 for slow peers) in this process; the machine is shared
and noisy, so each comparison runs side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_THREADS = torch.get_num_threads()
sys.path.insert(0, str(ROOT / "tests" / "anchors"))

KINDS = {"main": [0, 1], "square": [2], "suppressor": [3, 4], "xor": [5, 6]}
PLANTED = [0, 1, 2, 3, 4, 5, 6]
COPIES = [7, 8]


def planted(n, D, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    shared = rng.normal(size=n)
    X[:, 3] = np.sqrt(0.108) * rng.normal(size=n) + shared
    X[:, 4] = shared + 0.05 * rng.normal(size=n)
    X[:, 7] = X[:, 0] + 0.05 * rng.normal(size=n)
    X[:, 8] = X[:, 1] + 0.05 * rng.normal(size=n)
    y = X[:, 0] + 0.8 * X[:, 1] + X[:, 2] ** 2 + 2 * (X[:, 3] - X[:, 4]) + 1.5 * np.sign(X[:, 5] * X[:, 6])
    y = y + 0.3 * rng.normal(size=n)
    return X, y


def timed_cpu(fn, repeats=1):
    """(result, median CPU seconds, median wall seconds) of ``repeats`` calls."""
    cpu, wall, out = [], [], None
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return out, statistics.median(cpu), statistics.median(wall)


def timed(fn, repeats=1):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def quiet(fn):
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# ---------------------------------------------------------------- methods: (X, y, k, task) -> selected indices
def fc_method(name, **kw):
    def run(X, y, k, task):
        import featcorr.select as s

        sel = getattr(s, name)(n_features=k, target=task, **kw)
        sel.fit(X, y)
        return list(np.argsort(sel.ranking_)[:k])

    return run


def fc_fg(X, y, k, task):
    from featcorr.select import FeatureGradients

    n = X.shape[0]
    bs = min(1000, n)
    ep = max(1, -(-200 // max(1, n // bs)))
    sel = FeatureGradients(n_features=k, target=task, batch_size=bs, n_epochs=ep, penalty=0.3, random_state=0)
    return list(np.argsort(sel.fit(X, y).ranking_)[:k])


def mrmr_peer(X, y, k, task):
    import pandas as pd
    from mrmr import mrmr_classif, mrmr_regression

    f = mrmr_classif if task == "classification" else mrmr_regression
    df = pd.DataFrame(X, columns=[str(i) for i in range(X.shape[1])])
    return [int(c) for c in quiet(lambda: f(df, pd.Series(y), K=k, show_progress=False))]


def pyhsic_peer(X, y, k, task):
    from pyHSICLasso import HSICLasso

    def go():
        h = HSICLasso()
        h.input(X, y)
        getattr(h, task)(k, B=20, M=3)
        return [int(i) for i in h.get_index()]

    return quiet(go)


def nni_peer(X, y, k, task):
    from _nni_shim import load_nni_selector, nni_fit

    n = X.shape[0]
    bs = min(1000, n)
    ep = max(1, -(-200 // max(1, n // bs)))
    sel = load_nni_selector()(n_features=k, classification=task == "classification", batch_size=bs, n_epochs=ep,
                              penalty=0.3)
    if task == "classification":
        y = np.unique(y, return_inverse=True)[1]
    quiet(lambda: nni_fit(sel, X.astype(np.float32), y.astype(np.float32)))
    return [int(i) for i in np.argsort(-sel.scores_, kind="stable")[:k]]


def sk_mi(X, y, k, task):
    from sklearn.feature_selection import SelectKBest, mutual_info_classif, mutual_info_regression

    f = mutual_info_classif if task == "classification" else mutual_info_regression
    s = SelectKBest(lambda A, b: f(A, b, random_state=0), k=k).fit(X, y)
    return list(np.argsort(-s.scores_, kind="stable")[:k])


def sk_sfs(X, y, k, task):
    from sklearn.feature_selection import SequentialFeatureSelector
    from sklearn.linear_model import LinearRegression, RidgeClassifier

    est = RidgeClassifier() if task == "classification" else LinearRegression()
    s = SequentialFeatureSelector(est, n_features_to_select=k, cv=3, n_jobs=1).fit(X, y)
    return list(np.flatnonzero(s.get_support()))


def sk_rfe(X, y, k, task):
    from sklearn.feature_selection import RFE
    from sklearn.linear_model import LinearRegression, RidgeClassifier
    from sklearn.preprocessing import StandardScaler

    est = RidgeClassifier() if task == "classification" else LinearRegression()
    s = RFE(est, n_features_to_select=k, step=0.1).fit(StandardScaler().fit_transform(X), y)
    return list(np.argsort(s.ranking_, kind="stable")[:k])


METHODS = {
    "fc rank (pearson)": fc_method("Rank"),
    "fc rank (dcor)": fc_method("Rank", method="dcor"),
    "fc mrmr": fc_method("MRMR"),
    "fc hsic_lasso": fc_method("HSICLasso"),
    "fc disco (greedy dCor)": fc_method("DisCo", random_state=0),
    "fc sequential_attention": fc_method("SequentialAttention", random_state=0),
    "fc feature_gradients": fc_fg,
    "mrmr-selection": mrmr_peer,
    "pyHSICLasso": pyhsic_peer,
    "NNI FeatureGradientSelector": nni_peer,
    "sklearn SelectKBest(MI)": sk_mi,
    "sklearn SequentialFS (linear)": sk_sfs,
    "sklearn RFE (linear)": sk_rfe,
}
#: What each method is blind to by construction (from its docstring / definition).
BLIND = {
    "fc rank (pearson)": "x^2, xor, suppressor partner",
    "fc rank (dcor)": "xor, suppressor partner",
    "fc mrmr": "x^2, xor, suppressor partner",
    "fc hsic_lasso": "xor, suppressor partner",
    "fc disco (greedy dCor)": "none in principle (pair start finds xor)",
    "fc sequential_attention": "what the MLP fails to fit",
    "fc feature_gradients": "x^2, xor (linear learnability; feature_map adds them)",
    "mrmr-selection": "x^2, xor, suppressor partner",
    "pyHSICLasso": "xor, suppressor partner",
    "NNI FeatureGradientSelector": "x^2, xor",
    "sklearn SelectKBest(MI)": "xor, suppressor partner",
    "sklearn SequentialFS (linear)": "x^2, xor",
    "sklearn RFE (linear)": "x^2, xor",
}


def downstream(X, y, sel, task, seed=0):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    Xs = X[:, sel]
    strat = y if task == "classification" else None
    a, b, ya, yb = train_test_split(Xs, y, test_size=0.3, random_state=seed, stratify=strat)
    m = (HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor)(
        max_iter=150, random_state=seed
    )
    return float(m.fit(a, ya).score(b, yb))


def part1(args, lines):
    D_small = 400 if args.quick else 1000
    cfgs = [("N > D", 2000, 50), ("N < D", 300, D_small)]
    skip_slow = {"sklearn SequentialFS (linear)"} if args.quick else set()
    for label, n, D in cfgs:
        X, y = planted(n, D, seed=1)
        lines += [f"\n### Planted kinds, {label}: n = {n}, D = {D}, k = 7\n",
                  "| method | main | x^2 | suppressor | xor | precision | recall | copies picked | held-out R^2 | "
                  "time (s) | blind by construction |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, fn in METHODS.items():
            if name in skip_slow or (name == "sklearn SequentialFS (linear)" and D > 200 and args.quick):
                continue
            try:
                sel, t = timed(lambda: quiet(lambda: fn(X, y, 7, "regression")))
            except Exception as exc:  # a peer failing is a result, not a crash of the benchmark
                lines.append(f"| {name} | error: {type(exc).__name__}: {str(exc)[:60]} |||||||||")
                continue
            sset = set(int(i) for i in sel)
            kinds = ["yes" if set(v) <= sset else "no" for v in KINDS.values()]
            tp = len(sset & set(PLANTED))
            r2 = downstream(X, y, sorted(sset), "regression")
            lines.append(
                f"| {name} | {' | '.join(kinds)} | {tp / max(1, len(sset)):.2f} | {tp / 7:.2f} | "
                f"{len(sset & set(COPIES))} | {r2:.3f} | {t:.2f} | {BLIND[name]} |"
            )
            print(lines[-1], flush=True)


def part2(args, lines):
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    sets = [("breast_cancer", load_breast_cancer, 50, 10, "classification"),
            ("digits", load_digits, 64, 20, "classification"),
            ("diabetes", load_diabetes, 50, 5, "regression")]
    for label, loader, n_noise, k, task in sets:
        d = loader()
        rng = np.random.default_rng(0)
        X0 = d.data.astype(np.float64)
        keep = X0.std(0) > 0  # digits has constant pixels
        X0 = X0[:, keep]
        Xn = rng.normal(size=(X0.shape[0], n_noise)) * X0.std() + X0.mean()
        X = np.column_stack([X0, Xn])
        y = d.target
        p_real = X0.shape[1]
        metric = "accuracy" if task == "classification" else "R^2"
        lines += [f"\n### {label}: {X0.shape[0]} samples, {p_real} real + {n_noise} noise features, k = {k}, {task}\n",
                  f"| method | real among selected | held-out {metric} | time (s) |", "|---|---|---|---|"]
        base = downstream(X, y, list(range(p_real)), task)
        for name, fn in METHODS.items():
            if args.quick and name == "sklearn SequentialFS (linear)" and label == "digits":
                continue
            try:
                sel, t = timed(lambda: quiet(lambda: fn(X, y, k, task)))
            except Exception as exc:
                lines.append(f"| {name} | error: {type(exc).__name__}: {str(exc)[:60]} |||")
                continue
            real = sum(1 for i in sel if int(i) < p_real) / len(sel)
            lines.append(f"| {name} | {real:.2f} | {downstream(X, y, sorted(int(i) for i in sel), task):.3f} | {t:.2f} |")
            print(lines[-1], flush=True)
        lines.append(f"| (all {p_real} real features) | 1.00 | {base:.3f} | |")


def part3(args, lines):
    from featcorr.select import FeatureGradients, HSICLasso

    lines += ["\n### Speed at equal answers\n", "| comparison | featcorr (s) | peer (s) | speed-up | same answer |",
              "|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    n, d = 1000, 500
    X = rng.normal(size=(n, d))
    y = X[:, 0] + X[:, 1] + X[:, 2] ** 2 + np.sign(X[:, 3] * X[:, 4]) + 0.2 * rng.normal(size=n)
    ours, t_o = timed(lambda: list(np.argsort(HSICLasso(n_features=20).fit(X, y).ranking_)[:20]), args.repeats)
    peer, t_p = timed(lambda: pyhsic_peer(X, y, 20, "regression"), max(1, args.repeats - 2))
    lines.append(f"| HSICLasso vs pyHSICLasso (n_jobs=-1), n=1000, d=500, 20 features | {t_o:.2f} | {t_p:.2f} | "
                 f"{t_p / t_o:.1f}x | {[int(i) for i in ours] == peer} |")
    print(lines[-1], flush=True)
    from _nni_shim import load_nni_selector, nni_fit
    from threadpoolctl import threadpool_limits

    quiet(load_nni_selector)  # import NNI outside the timed runs (~1.5 s of imports)
    warm = np.random.default_rng(99)
    FeatureGradients(n_features=1).fit(warm.normal(size=(50, 3)), warm.normal(size=50))  # and ours
    load = os.getloadavg()[0]
    lines += ["", f"FeatureGradients vs NNI: `uptime` load {load:.2f} at the start of these rows. CPU time "
              "(`time.process_time`) with torch.set_num_threads(1) and threadpool_limits(1) on both sides; wall "
              f"time with the default {DEFAULT_THREADS} threads on both sides (meaningful only when the load is "
              "< 2.5). featcorr: median of the repeats; NNI: one run.", "",
              "| comparison | featcorr CPU (s) | NNI CPU (s) | NNI/featcorr CPU | featcorr wall (s) | NNI wall (s) | "
              "NNI/featcorr wall | same selection | load |", "|---|---|---|---|---|---|---|---|---|"]
    for n, D in ([(20000, 1000)] if args.quick else [(20000, 1000), (100000, 1000)]):
        X = rng.normal(size=(n, D)).astype(np.float32)
        yv = (X[:, 0] - X[:, 1] + 0.5 * X[:, 2] + rng.normal(size=n)).astype(np.float32)

        def peer_fit():
            p = load_nni_selector()(n_features=10, classification=False, shuffle=False)
            quiet(lambda: nni_fit(p, X, yv))
            return p

        res = {}
        for threads in (1, DEFAULT_THREADS):
            with threadpool_limits(threads):
                torch.set_num_threads(threads)
                ours, c_o, w_o = timed_cpu(lambda: FeatureGradients(n_features=10, shuffle=False).fit(X, yv),
                                           args.repeats)
                peer, c_p, w_p = timed_cpu(peer_fit, 1)
            res[threads] = (c_o, c_p, w_o, w_p)
        torch.set_num_threads(args.threads)
        same = set(ours.get_support(indices=True)) == set(peer.selected_features_)
        c_o, c_p = res[1][:2]
        w_o, w_p = res[DEFAULT_THREADS][2:]
        lines.append(f"| FeatureGradients vs NNI FeatureGradientSelector (defaults, shuffle=False), N={n}, D={D}, "
                     f"{ours.n_steps_} steps | {c_o:.2f} | {c_p:.2f} | {c_p / c_o:.1f}x | {w_o:.2f} | {w_p:.2f} | "
                     f"{w_p / w_o:.1f}x | {same} | {os.getloadavg()[0]:.2f} |")
        print(lines[-1], flush=True)


def _slope(xs, ts):
    """Least-squares slope of log(time) against log(size)."""
    return float(np.polyfit(np.log(xs), np.log(ts), 1)[0])


def part4(args, lines):
    from featcorr.select import FeatureGradients
    from featcorr.select._fg_solver import data_statistics
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(1)
    lines += ["\n### FeatureGradients scaling (defaults: batch 1000, order 4; one epoch)\n",
              f"CPU time at 1 thread (torch and BLAS), median of {args.repeats}; `uptime` load "
              f"{os.getloadavg()[0]:.2f} at the start. 'statistics' is the preprocessing pass alone (means, stds, "
              "top singular value from the smaller Gram matrix), 'search' = total - statistics.\n",
              "| N | D | total (s) | statistics (s) | search (s) | search us per N x D entry |",
              "|---|---|---|---|---|---|"]
    Ns = [10000, 30000, 100000] if not args.quick else [10000, 30000]
    Ds = [250, 500, 1000, 2000] if not args.quick else [250, 500, 1000]
    grid = [(n, 1000) for n in Ns] + [(30000, D) for D in Ds if D != 1000 or 30000 not in Ns]
    rows = {}
    with threadpool_limits(1):
        torch.set_num_threads(1)
        for n, D in grid:
            X = rng.normal(size=(n, D)).astype(np.float32)
            yv = (X[:, 0] - X[:, 1] + rng.normal(size=n)).astype(np.float32)
            _, t, _ = timed_cpu(lambda: FeatureGradients(n_features=10).fit(X, yv), args.repeats)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(yv)

            def stats():
                return data_statistics(lambda: ((Xt[i : i + 8192], yt[i : i + 8192]) for i in range(0, n, 8192)),
                                       preprocess="zscore", classification=False, device=torch.device("cpu"),
                                       rows=Xt)

            _, ts, _ = timed_cpu(stats, args.repeats)
            rows[(n, D)] = (t, ts, t - ts)
            lines.append(f"| {n} | {D} | {t:.2f} | {ts:.2f} | {t - ts:.2f} | {(t - ts) / (n * D) * 1e6:.4f} |")
            print(lines[-1], flush=True)
        torch.set_num_threads(args.threads)
    for label, keys, var in (("N (D = 1000)", [(n, 1000) for n in Ns], 0),
                             ("D (N = 30000)", [(30000, D) for D in Ds], 1)):
        xs = [k[var] for k in keys]
        sl = [_slope(xs, [rows[k][j] for k in keys]) for j in range(3)]
        lines.append(f"\nlog-log slope in {label}: total {sl[0]:.2f}, statistics {sl[1]:.2f}, search {sl[2]:.2f}")
        print(lines[-1], flush=True)
    X = rng.normal(size=(500, 20000)).astype(np.float32)
    yv = (X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=500)).astype(np.float32)
    fg, t, _ = timed_cpu(lambda: FeatureGradients(n_features=2, n_epochs=50, penalty=0.3).fit(X, yv))
    lines.append(f"\nN = 500, D = 20 000, 50 epochs (threads {args.threads}): {t:.2f} s CPU, "
                 f"{t / (500 * 20000 * 50) * 1e6:.4f} us per N x D x epoch; selected "
                 f"{sorted(fg.get_support(indices=True).tolist())} (planted [0, 1]).")
    print(lines[-1], flush=True)


def part5(args, lines):
    """The N = 10^6 x D = 1000 stream; run it alone (--parts 5) so that peak RSS is its own."""
    from featcorr.select import FeatureGradients

    if not args.quick:
        n_total, D, chunk = 1_000_000, 1000, 50_000

        class Stream:
            """Chunks generated on the fly (seeded per chunk): the data never exist in memory at once."""

            def __iter__(self):
                for c in range(n_total // chunk):
                    g = torch.Generator().manual_seed(c)
                    x = torch.randn(chunk, D, generator=g)
                    yield x, x[:, 0] - x[:, 1] + 0.5 * x[:, 2] + torch.randn(chunk, generator=g)

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        fg, t = timed(lambda: FeatureGradients(n_features=3).fit(Stream()))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        lines.append(f"\nN = 10^6 x D = 1000 streamed in 50 000-row chunks: {t:.1f} s, {fg.n_steps_} Adam steps, "
                     f"peak RSS {rss:.2f} GiB (before: {rss0:.2f} GiB; the data would be 4 GiB as float32); "
                     f"selected {sorted(fg.get_support(indices=True).tolist())} (planted [0, 1, 2]).")
        print(lines[-1], flush=True)


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "select_planted.md"))
    ap.add_argument("--parts", default="12345",
                    help="1 planted kinds, 2 real data, 3 speed vs peers, 4 scaling, 5 the 10^6 x 1000 stream")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
    torch.set_num_threads(args.threads)
    t0 = time.time()
    lines = ["# Feature selection on planted truth: featcorr vs peers\n",
             f"`{' '.join(sys.argv)}` on {platform.machine()}, torch {torch.__version__}, "
             f"{args.threads} torch thread(s), numpy {np.__version__}.",
             "Machine shared with other jobs: times are noisy (medians of the repeats).",
             f"`uptime` load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; git commit "
             f"{_commit()}."]
    if "1" in args.parts:
        part1(args, lines)
    if "2" in args.parts:
        part2(args, lines)
    if "3" in args.parts:
        part3(args, lines)
    if "4" in args.parts:
        part4(args, lines)
    if "5" in args.parts:
        part5(args, lines)
    lines.append(f"\nTotal run time {time.time() - t0:.0f} s.")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
