"""Linear CKA: featcorr side by side with pytorch-cka, torch-cka and ckatorch.

Run ``.venv/bin/python bench/bench_cka.py [--quick] [--repeats R] [--out FILE]``
(the peers come with ``pip install torch==2.13.0 -e '.[anchors]'``). Prints one
table and writes it to ``bench/results/cka.md``.

Workloads (all seeded; no weights or data sets are downloaded)
--------------------------------------------------------------
- ``mlp``: two randomly initialised 7-layer MLPs (seeds 0 and 1), 784 -> 512
  -> 512 -> 512 -> 256 -> 256 -> 128 -> 10; the 6 ReLU outputs and the logits
  are the layers (P = 2186 features per model), all 7 x 7 layer pairs of model
  A vs model B. Inputs are uniform [0, 1) "images" of 784 pixels, generated
  batch by batch from a seed, so no tool holds the data set in memory.
- ``cnn``: two small random CNNs on 1 x 28 x 28 inputs: conv 8 / 16 / 32
  channels (3 x 3, stride 2, ReLU) then fc 128 (ReLU) and fc 10; conv maps are
  flattened (1568, 784, 512 features), P = 3002 per model, 5 x 5 pairs.
- ``arrays``: plain float32 arrays, n = 20 000, X (p = 1024) vs Y (q = 768),
  post-ReLU-like with non-zero column means (Y depends on X).

N = 10 000 and 100 000 samples for the models, always in batches of 500
(every tool gets the same batches in the same order). ``--quick`` runs N =
2 000 and 10 000, one repeat, and skips the slowest peers.

Tools
-----
- ``featcorr`` (exact, one pass): ``featcorr.compare(..., measures=("linear_cka",))``
  (arrays: ``featcorr.similarity``), falling back to ``featcorr.stats.Moments``
  fed by forward hooks in this script when ``compare`` is unavailable (the
  "how" column says which); ``-f32`` is ``gemm_dtype="float32"`` (float32
  product of each *centred* batch, float64 sums); ``featcorr-mb`` is
  ``minibatch_cka`` (the peers' estimator, float64, unclamped);
  ``featcorr-stream`` feeds ``Moments`` batches of 500 directly, to time the
  accumulation alone (GFLOP/s); ``featcorr-debiased`` is ``debiased_cka``.
- ``pytorch-cka`` ``compute_cka``: minibatch CKA (unbiased HSIC averaged over
  batches, Nguyen et al. 2021), float32, clamped to [0, 1]; on arrays
  ``cka_from_features`` (full-data unbiased HSIC, float32 Grams, clamped).
- ``torch-cka`` ``CKA.compare``: the same minibatch estimator, float32, with
  a Python double loop over layer pairs.
- ``ckatorch`` ``CKA(...)(loader)``: its minibatch path (run to show whether it
  works on these models); ``ckatorch-base`` = ``cka_base``: exact float64 Gram
  CKA (arrays only: on the models it would take one call, two n x n Grams,
  per layer pair, slower than ``gram64`` by construction).
- ``gram64``: our own Gram-space float64 reference (centred n x n Grams,
  tr(KHLH)/sqrt(tr(KHKH) tr(LHLH)); the A side's Grams are kept, the B side's
  streamed), the fastest exact Gram method we know. Skipped at N = 100 000
  (one 100k x 100k float64 Gram is 75 GiB).
- ``exact`` (the truth every error is measured against): an independent
  two-pass float64 numpy computation (pass 1: exact column means; pass 2:
  centred feature-space cross-products), not featcorr code. It also gives the
  exact value of the other estimators: debiased CKA (feature-space form of
  U-centred HSIC) and minibatch CKA (U-centred Gram of every batch of 500).

What is measured, and how
-------------------------
Every (tool, workload, N) runs in a *fresh subprocess* of this script
(``--worker``), so no tool inherits another's caches, thread pools or heap.
Inside it, after imports, model construction and (for ``arrays``) the input
arrays, the kernel's peak-RSS mark is reset (``echo 5 > /proc/self/clear_refs``)
and the RSS is read (``VmRSS``); after the tool returns, ``VmHWM`` gives the
peak resident memory of the whole process during the tool. We report that
peak and ``delta`` = peak - RSS before the tool (the tool's own working
memory). RSS sees torch's allocations, which ``tracemalloc`` does not. If
clear_refs is unavailable, ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is
used instead (the table says so). Seconds are wall-clock time of the tool
call (forward passes included for the model workloads), median over
``--repeats`` fresh processes (1 for tools slower than 60 s). Forward passes
are counted by wrapping each model's ``forward``. The GEMM roofline is
``torch.mm`` (and ``addmm_`` of a (500 x P)^T (500 x P) product, the shape
Moments uses) measured in its own subprocess in the same run, float64 and
float32; ``featcorr.stats.moments_flops`` gives the flops Moments performed,
and its achieved GFLOP/s is measured on the ``arrays`` workload (accumulation
only: no forward passes). The machine is shared and noisy: medians, and the
ratios between tools run in the same invocation, are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BATCH = 500
ARR_N, ARR_P, ARR_Q = 20_000, 1024, 768
SLOW_SECONDS = 60.0


# --------------------------------------------------------------------------- models and data
def build_model(kind: str, seed: int):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    if kind == "mlp":
        widths = [784, 512, 512, 512, 256, 256, 128]
        mods = []
        for i in range(6):
            mods += [(f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1])), (f"relu{i + 1}", nn.ReLU())]
        mods.append(("fc7", nn.Linear(128, 10)))
        return nn.Sequential(OrderedDict(mods)).eval(), ["relu1", "relu2", "relu3", "relu4", "relu5", "relu6", "fc7"]
    if kind == "cnn":
        mods = [
            ("conv1", nn.Conv2d(1, 8, 3, stride=2, padding=1)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(8, 16, 3, stride=2, padding=1)), ("relu2", nn.ReLU()),
            ("conv3", nn.Conv2d(16, 32, 3, stride=2, padding=1)), ("relu3", nn.ReLU()),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(32 * 4 * 4, 128)), ("relu4", nn.ReLU()),
            ("fc2", nn.Linear(128, 10)),
        ]
        return nn.Sequential(OrderedDict(mods)).eval(), ["relu1", "relu2", "relu3", "relu4", "fc2"]
    raise ValueError(kind)


def make_loader(kind: str, n: int, seed: int = 1234):
    """A DataLoader whose items are whole (x, y) batches, regenerated from (seed, index)."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    shape = (784,) if kind == "mlp" else (1, 28, 28)

    class Batches(Dataset):
        def __len__(self):
            return n // BATCH

        def __getitem__(self, i):
            if not 0 <= i < len(self):
                raise IndexError(i)
            g = torch.Generator().manual_seed(seed * 1_000_003 + i)
            x = torch.rand((BATCH, *shape), generator=g)
            return x, torch.randint(0, 10, (BATCH,), generator=g)

        def __repr__(self):
            return f"SyntheticBatches({kind}, n={n})"

    return DataLoader(Batches(), batch_size=None, shuffle=False)


def count_forwards(model):
    calls = [0]
    inner = model.forward

    def forward(*a, **k):
        calls[0] += 1
        return inner(*a, **k)

    model.forward = forward
    return calls


def make_arrays(seed: int = 0):
    """float32 (n, p), (n, q), post-ReLU-like, non-zero column means; Y depends on X."""
    import torch

    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(ARR_N, 256, generator=g)
    X = torch.relu(Z @ torch.randn(256, ARR_P, generator=g) / 16 + torch.randn(ARR_N, ARR_P, generator=g) + 0.5)
    Y = torch.relu(Z[:, :128] @ torch.randn(128, ARR_Q, generator=g) / 11 + torch.randn(ARR_N, ARR_Q, generator=g))
    return (X * 2 + 3).contiguous(), (Y + 1).contiguous()


# --------------------------------------------------------------------------- memory probes
def _status(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024  # MiB
    return float("nan")


def reset_peak() -> str:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return "VmHWM"
    except OSError:
        return "ru_maxrss"


def peak_mb(method: str) -> float:
    if method == "VmHWM":
        return _status("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- tools (run in a worker)
def collect_features(model, layers, loader, dtype):
    """Run the model over the loader; return {layer: (N, p) tensor} (for Gram tools and the truth)."""
    import torch

    store = {name: [] for name in layers}
    mods = dict(model.named_modules())
    hooks = [mods[name].register_forward_hook(_saver(store, name, dtype)) for name in layers]
    try:
        with torch.inference_mode():
            for x, _ in loader:
                model(x)
    finally:
        for h in hooks:
            h.remove()
    return {k: torch.cat(v) for k, v in store.items()}


def _saver(store, name, dtype):
    def hook(_m, _i, out):
        store[name].append(out.detach().flatten(1).to(dtype))

    return hook


def run_featcorr_models(task, model_a, model_b, la, lb, loader):
    """Exact linear CKA of every (A, B) layer pair in one pass; fc.compare if present."""
    import featcorr as fc

    gemm = task.get("gemm", "float64")
    measure = task.get("measure", "linear_cka")
    try:
        res = fc.compare(
            model_a, loader, model_b=model_b, layers_a=la, layers_b=lb, measures=(measure,),
            progress=False, gemm_dtype=gemm,
        )
        M = res.matrix(measure).loc[la, lb].to_numpy(dtype=np.float64)
        return M, f"fc.compare {measure}" + (" gemm f32" if gemm == "float32" else "")
    except (ImportError, AttributeError, NotImplementedError) as exc:  # compare() not landed yet
        fallback = f"Moments+hooks ({type(exc).__name__})"
    import torch
    from featcorr.measures import linear_cka_from
    from featcorr.stats import Moments

    A = [f"a.{x}" for x in la]
    B = [f"b.{x}" for x in lb]
    m = Moments(pairs=("cross", A, B), gemm_dtype=gemm)
    feats: dict = {}
    hooks = []
    for prefix, model, layers in (("a", model_a, la), ("b", model_b, lb)):
        mods = dict(model.named_modules())
        for name in layers:
            hooks.append(mods[name].register_forward_hook(_grab(feats, f"{prefix}.{name}")))
    try:
        with torch.inference_mode():
            for x, _ in loader:
                model_a(x)
                model_b(x)
                m.update(feats)
                feats.clear()
    finally:
        for h in hooks:
            h.remove()
    snap = m.finalize()
    return np.array([[linear_cka_from(snap, a, b) for b in B] for a in A]), fallback


def _grab(store, name):
    def hook(_m, _i, out):
        store[name] = out.detach().flatten(1)

    return hook


def run_pytorch_cka(task, model_a, model_b, la, lb, loader):
    from cka import compute_cka

    (M,) = compute_cka(model_a, model_b, loader, layers=la, model2_layers=lb, device="cpu", progress=False)
    return M.double().numpy(), "compute_cka (minibatch, f32, clamped)"


def run_torch_cka(task, model_a, model_b, la, lb, loader):
    import warnings

    import torch_cka

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = torch_cka.CKA(model_a, model_b, model1_name="A", model2_name="B", model1_layers=la,
                          model2_layers=lb, device="cpu")
        c.compare(loader)
    return c.export()["CKA"].double().numpy(), "CKA.compare (minibatch, f32)"


def run_ckatorch_minibatch(task, model_a, model_b, la, lb, loader):
    import warnings

    import ckatorch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = ckatorch.CKA(model_a, model_b, layers=la, second_layers=lb, device="cpu")
        M = c(loader, epochs=1)
    return M.double().numpy(), "CKA(...)(loader, epochs=1)"


def run_ckatorch_base_models(task, model_a, model_b, la, lb, loader):
    import torch
    from ckatorch import cka_base

    fa = collect_features(model_a, la, loader, torch.float64)
    fb = collect_features(model_b, lb, loader, torch.float64)
    M = np.array([[float(cka_base(fa[a], fb[b])) for b in lb] for a in la])
    return M, "cka_base per pair (f64 Gram)"


def gram64_matrix(feats_a, feats_b):
    """Our float64 Gram reference: normalised centred Grams of A kept, B streamed one at a time."""
    import torch

    def centred(F):
        K = F @ F.T
        m = K.mean(dim=0)
        K -= m[None, :]
        K -= m[:, None]
        K += m.mean()
        K /= torch.linalg.vector_norm(K)
        return K

    Ka = [centred(F) for F in feats_a]
    out = np.empty((len(feats_a), len(feats_b)))
    for j, G in enumerate(feats_b):
        L = centred(G)
        for i, K in enumerate(Ka):
            out[i, j] = float(torch.dot(K.reshape(-1), L.reshape(-1)))
        del L
    return out


def run_gram64_models(task, model_a, model_b, la, lb, loader):
    import torch

    fa = collect_features(model_a, la, loader, torch.float64)
    fb = collect_features(model_b, lb, loader, torch.float64)
    return gram64_matrix([fa[a] for a in la], [fb[b] for b in lb]), "own f64 centred Grams"


def _u_centred(K):
    """Kornblith's unbiased (U-) centring of a Gram matrix, diagonal zeroed (float64)."""
    m = K.shape[0]
    K = K.copy()
    np.fill_diagonal(K, 0.0)
    r = K.sum(axis=0) / (m - 2)
    r -= r.sum() / (2 * (m - 1))
    K -= r[:, None]
    K -= r[None, :]
    np.fill_diagonal(K, 0.0)
    return K


def exact_two_pass(blocks_a, blocks_b, chunks, *, minibatch=False):
    """The truth, float64 numpy, two passes; ``chunks()`` yields ({a: arr}, {b: arr}) numpy chunks.

    Returns {"cka": biased linear CKA on all rows (Kornblith), "debiased": debiased linear CKA on all rows
    (feature-space form of U-centred HSIC, METHODS.md A3), and with ``minibatch`` "minibatch": unbiased HSIC
    of each chunk (U-centred Grams) summed over chunks, then the ratio (Nguyen et al. 2021)}.
    """
    names = [*blocks_a, *blocks_b]
    sums, n = {}, 0
    for ca, cb in chunks():
        for k, v in {**ca, **cb}.items():
            sums[k] = sums.get(k, 0.0) + v.astype(np.float64).sum(axis=0)
        n += next(iter(ca.values())).shape[0]
    mu = {k: s / n for k, s in sums.items()}
    pairs = [(a, b) for a in blocks_a for b in blocks_b]
    Sab = dict.fromkeys(pairs, 0.0)
    Saa = dict.fromkeys(names, 0.0)
    sa = dict.fromkeys(names, 0.0)  # sum_i a_i, a_i = ||x_i - mu||^2
    sab = dict.fromkeys(pairs + [(k, k) for k in names], 0.0)  # sum_i a_i b_i
    hs = dict.fromkeys(pairs + [(k, k) for k in names], 0.0)  # minibatch unbiased HSIC sums
    for ca, cb in chunks():
        x = {k: v.astype(np.float64) - mu[k] for k, v in {**ca, **cb}.items()}
        nrm = {k: np.einsum("ij,ij->i", v, v) for k, v in x.items()}
        for k, v in x.items():
            Saa[k] = Saa[k] + v.T @ v
            sa[k] += nrm[k].sum()
        for a, b in sab:
            sab[(a, b)] += float(nrm[a] @ nrm[b])
        for a, b in pairs:
            Sab[(a, b)] = Sab[(a, b)] + x[a].T @ x[b]
        if minibatch:
            U = {k: _u_centred(v @ v.T) for k, v in x.items()}
            for a, b in hs:
                hs[(a, b)] += float(np.sum(U[a] * U[b]))
    fro2 = {k: float(np.sum(S**2)) for k, S in Saa.items()}
    cka = np.array([[np.sum(Sab[(a, b)] ** 2) / np.sqrt(fro2[a] * fro2[b]) for b in blocks_b] for a in blocks_a])

    def uhsic(a, b, cross):
        return cross - n / (n - 2) * sab[(a, b)] + sa[a] * sa[b] / ((n - 1) * (n - 2))

    self_u = {k: uhsic(k, k, fro2[k]) for k in names}
    deb = np.array([[uhsic(a, b, float(np.sum(Sab[(a, b)] ** 2))) / np.sqrt(self_u[a] * self_u[b])
                     for b in blocks_b] for a in blocks_a])
    out = {"cka": cka, "debiased": deb}
    if minibatch:
        out["minibatch"] = np.array([[hs[(a, b)] / np.sqrt(hs[(a, a)] * hs[(b, b)]) for b in blocks_b]
                                     for a in blocks_a])
    return out


def run_exact_models(task, model_a, model_b, la, lb, loader):
    import torch

    def chunks():
        mods_a, mods_b = dict(model_a.named_modules()), dict(model_b.named_modules())
        fa, fb = {}, {}
        hooks = [mods_a[x].register_forward_hook(_grab(fa, x)) for x in la]
        hooks += [mods_b[x].register_forward_hook(_grab(fb, x)) for x in lb]
        try:
            with torch.inference_mode():
                for x, _ in loader:
                    model_a(x)
                    model_b(x)
                    yield ({f"a.{k}": v.numpy() for k, v in fa.items()},
                           {f"b.{k}": v.numpy() for k, v in fb.items()})
        finally:
            for h in hooks:
                h.remove()

    return exact_two_pass([f"a.{x}" for x in la], [f"b.{x}" for x in lb], chunks, minibatch=True), "two-pass numpy f64"


MODEL_TOOLS = {
    "featcorr": run_featcorr_models,
    "pytorch-cka": run_pytorch_cka,
    "torch-cka": run_torch_cka,
    "ckatorch": run_ckatorch_minibatch,
    "ckatorch-base": run_ckatorch_base_models,
    "gram64": run_gram64_models,
    "exact": run_exact_models,
}


# arrays workload: one pair (X, Y)
def run_arrays(task, X, Y):
    import torch

    tool = task["tool"]
    if tool == "featcorr":
        import featcorr as fc

        measure = task.get("measure", "linear_cka")
        return (np.array([[fc.similarity(X, Y, measure=measure, gemm_dtype=task.get("gemm", "float64"))]]),
                f"fc.similarity {measure}" + (" gemm f32" if task.get("gemm") == "float32" else ""))
    if tool == "featcorr-stream":
        from featcorr.measures import linear_cka_from
        from featcorr.stats import Moments, moments_flops

        m = Moments(pairs=("cross", ["x"], ["y"]), gemm_dtype=task.get("gemm", "float64"))
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, X.shape[0], BATCH):
            m.update({"x": X[i : i + BATCH], "y": Y[i : i + BATCH]})
        snap = m.finalize()
        dt, dc = time.perf_counter() - t0, (time.process_time() - c0) / torch.get_num_threads()
        task["_gflops"] = moments_flops(m) / dt / 1e9
        task["_gflops_full"] = moments_flops(m, performed=False) / dt / 1e9
        task["_gflops_cpu"] = moments_flops(m) / dc / 1e9
        task["_gflops_full_cpu"] = moments_flops(m, performed=False) / dc / 1e9
        return np.array([[linear_cka_from(snap, "x", "y")]]), f"Moments, batches of {BATCH}"
    if tool == "pytorch-cka":
        from cka import cka_from_features

        return cka_from_features(X, Y).double().numpy().reshape(1, 1), "cka_from_features (debiased, f32, clamped)"
    if tool == "ckatorch-base":
        from ckatorch import cka_base

        return np.array([[float(cka_base(X, Y))]]), "cka_base (f64 Gram)"
    if tool == "gram64":
        return gram64_matrix([X.double()], [Y.double()]), "own f64 centred Grams"
    if tool == "exact":
        def chunks():
            for i in range(0, X.shape[0], 5000):
                yield {"x": X[i : i + 5000].numpy()}, {"y": Y[i : i + 5000].numpy()}

        return exact_two_pass(["x"], ["y"], chunks), "two-pass numpy f64"
    raise ValueError(tool)


def run_gemm(task):
    """GFLOP/s of torch GEMMs by wall clock and by process CPU time (per thread-second x threads)."""
    import torch

    out = {}
    thr = torch.get_num_threads()
    for dt in (torch.float64, torch.float32):
        a, b = torch.randn(4096, 4096, dtype=dt), torch.randn(4096, 4096, dtype=dt)
        x = torch.randn(BATCH, 2186, dtype=dt)
        S = torch.zeros(2186, 2186, dtype=dt)
        for name, f, fl in (
            ("mm 4096^3", lambda: torch.mm(a, b), 2 * 4096**3),
            ("addmm (500x2186)^T(500x2186)", lambda: S.addmm_(x.T, x), 2 * BATCH * 2186**2),
        ):
            f()
            ts, cs = [], []
            for _ in range(5):
                t0, c0 = time.perf_counter(), time.process_time()
                f()
                ts.append(time.perf_counter() - t0)
                cs.append(time.process_time() - c0)
            out[f"{str(dt)[6:]} {name}"] = fl / float(np.median(ts)) / 1e9
            out[f"{str(dt)[6:]} {name} cpu"] = fl / (float(np.median(cs)) / thr) / 1e9
    out["threads"] = thr
    return out


def _import_tool(task: dict) -> None:
    import importlib

    mods = {"pytorch-cka": ["cka"], "torch-cka": ["torch_cka"], "ckatorch": ["ckatorch"],
            "ckatorch-base": ["ckatorch"], "gram64": [], "exact": []}.get(
        task["tool"], ["featcorr", "featcorr.compare", "featcorr.measures", "featcorr.stats"])
    for m in mods:
        try:
            importlib.import_module(m)
        except ImportError:
            pass


def worker(task: dict) -> None:
    import torch

    if task.get("threads"):
        torch.set_num_threads(task["threads"])
    res = {"task": task}
    if task["workload"] == "gemm":
        res["gflops"] = run_gemm(task)
        print("RESULT " + json.dumps(res), flush=True)
        return
    if task["workload"] == "arrays":
        X, Y = make_arrays()
        calls_a = calls_b = None
        job = lambda: run_arrays(task, X, Y)  # noqa: E731
    else:
        model_a, la = build_model(task["workload"], 0)
        model_b, lb = build_model(task["workload"], 1)
        loader = make_loader(task["workload"], task["n"])
        calls_a, calls_b = count_forwards(model_a), count_forwards(model_b)
        job = lambda: MODEL_TOOLS[task["tool"]](task, model_a, model_b, la, lb, loader)  # noqa: E731
    _import_tool(task)  # imports are not timed, for any tool
    method = reset_peak()
    rss0 = _status("VmRSS")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    try:
        M, how = job()
    except Exception as exc:  # a peer that cannot run this workload: report it, do not stop the bench
        res["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
        M, how = None, None
    res["seconds"] = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    res["cpu_seconds"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    res["forwards"] = None if calls_a is None else [calls_a[0], calls_b[0]]
    res["peak_mb"] = peak_mb(method)
    res["delta_mb"] = res["peak_mb"] - rss0
    res["mem_method"] = method
    res["how"] = how
    res["gflops"] = task.get("_gflops")
    res["gflops_full"] = task.get("_gflops_full")
    res["gflops_cpu"] = task.get("_gflops_cpu")
    res["gflops_full_cpu"] = task.get("_gflops_full_cpu")
    if M is not None:
        if isinstance(M, dict):
            np.savez(task["matrix_path"], **M)
        else:
            np.save(task["matrix_path"], M)
    print("RESULT " + json.dumps(res), flush=True)


def mem_available_gb() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) / 2**20
    return float("nan")


THREADS: list = [None]


def spawn(task: dict, timeout: float) -> dict:
    if THREADS[0]:
        task = dict(task, threads=THREADS[0])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(task)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"task": task, "error": f"timed out after {timeout:.0f} s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (p.stderr.strip().splitlines() or ["?"])[-1]
    return {"task": task, "error": f"worker failed (rc={p.returncode}): {tail[:100]}"}


def combine(runs: list[dict]) -> dict:
    """Median over repeats (seconds, cpu seconds, memory, GFLOP/s)."""
    ok = [r for r in runs if not r.get("error")]
    if not ok:
        return runs[-1]
    ok.sort(key=lambda r: r["seconds"])
    best = dict(ok[len(ok) // 2])
    best["runs"] = [round(r["seconds"], 2) for r in ok]
    for key in ("cpu_seconds", "peak_mb", "delta_mb", "gflops", "gflops_full", "gflops_cpu", "gflops_full_cpu"):
        vals = [r[key] for r in ok if r.get(key) is not None]
        if vals:
            best[key] = float(np.median(vals))
    return best


#: which estimator each tool implements (errors are also given against that estimator's exact value)
ESTIMATOR = {
    "featcorr": "cka", "featcorr-f32": "cka", "featcorr-stream": "cka", "featcorr-stream-f32": "cka",
    "gram64": "cka", "ckatorch-base": "cka", "featcorr-mb": "minibatch", "torch-cka": "minibatch",
    "ckatorch": "minibatch", "featcorr-debiased": "debiased",
}
SLOW_TOOLS = ("exact", "gram64", "ckatorch-base", "ckatorch", "torch-cka")
#: on the arrays workload pytorch-cka forms three 20k x 20k Grams: one run
SLOW_ARRAY_TOOLS = ("pytorch-cka",)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 2k/10k, one repeat, skip the slowest peers")
    ap.add_argument("--repeats", type=int, default=None, help="fresh processes per measurement (default 3)")
    ap.add_argument("--out", default=str(HERE / "results" / "cka.md"))
    ap.add_argument("--only", default=None, help="comma-separated workloads: mlp,cnn,arrays")
    ap.add_argument("--sizes", default=None, help="comma-separated N for the model workloads")
    ap.add_argument("--big-repeats", type=int, default=1, help="repeats for N > 10 000 (default 1)")
    ap.add_argument("--skip", default="", help="comma-separated tools not to run")
    ap.add_argument("--cnn-sizes", default=None, help="comma-separated N for the CNN (default: as --sizes)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads in every worker (default: torch's own, = cores); 1 is steadier on a "
                         "machine shared with other jobs")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0

    repeats = args.repeats or (1 if args.quick else 3)
    THREADS[0] = args.threads
    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000)
    if args.sizes:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    workloads = args.only.split(",") if args.only else ["arrays", "mlp", "cnn"]
    tmp = Path(tempfile.mkdtemp(prefix="featcorr-bench-"))
    lines: list[str] = []

    def emit(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    out = Path(args.out)

    def save(partial: bool) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines) + "\n"
        if partial:
            text += "\n(partial: the run was still going when this was written)\n\n" + _targets(summary, gemm) + "\n"
        out.write_text(text)
        raw = {" | ".join(map(str, k)): (v if not isinstance(v, dict) or "task" in v else None)
               for k, v in summary.items()}
        (tmp / "raw.json").write_text(json.dumps(raw, default=str))

    import torch

    load0 = os.getloadavg()[0]
    emit(f"# Linear CKA benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    emit()
    emit(f"`.venv/bin/python bench/bench_cka.py {' '.join(argv if argv is not None else sys.argv[1:])}`: "
         f"torch {torch.__version__}, {os.cpu_count()} cores, torch threads {args.threads or torch.get_num_threads()}, "
         f"batch {BATCH}, load average {load0:.1f} at start. Each row: median of {repeats} fresh process(es) "
         f"({min(repeats, args.big_repeats)} for N > 10 000), the "
         f"tools' repeats interleaved so that they share the machine's load (1 run for the slow peers and the "
         "truth). seconds = wall clock of the tool call (forward passes included), cpu = user+sys CPU seconds "
         "(less sensitive to other processes on this shared 2-core machine). Memory: peak RSS of the tool's "
         "process (VmHWM after clear_refs), delta = peak - RSS just before the tool. err = max over layer pairs "
         "of |value - exact float64 linear CKA|; err (own) = the same against the exact float64 value of the "
         "estimator the tool implements (minibatch: unbiased HSIC summed over the same batches; debiased: "
         "full-data unbiased HSIC).")
    emit()
    gemm = spawn({"workload": "gemm"}, 600).get("gflops", {})
    emit("GEMM roofline (torch, this run): " + ", ".join(f"{k}: {v:.0f} GFLOP/s" for k, v in gemm.items()
                                                          if k != "threads"))
    emit()
    emit("| workload | N | tool | how | seconds | cpu s | time / featcorr | peak MB | delta MB | err | err (own) "
         "| fwd A/B |")
    emit("|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary: dict = {}

    def row(wl, n, tool, r, truth, fc_time):
        fwd = "/".join(map(str, r.get("forwards") or []))
        if r.get("error"):
            secs = f" after {r['seconds']:.1f} s" if r.get("seconds") else ""
            emit(f"| {wl} | {n} | {tool} | fails{secs}: {r['error']} | | | | | | | | {fwd} |")
            return
        path = r["task"]["matrix_path"]
        M = np.load(path if path.endswith(".npy") else path + ".npz")
        est = ESTIMATOR.get(tool, "minibatch" if wl != "arrays" else "debiased")
        if isinstance(M, np.lib.npyio.NpzFile):
            M = M["cka"]
            est = "cka"
        err = float(np.max(np.abs(M - truth["cka"]))) if truth is not None else float("nan")
        own = float(np.max(np.abs(M - truth[est]))) if truth is not None and est in truth else float("nan")
        ratio = f"{r['seconds'] / fc_time:.2f}x" if fc_time else ""
        emit(f"| {wl} | {n} | {tool} | {r['how']} | {r['seconds']:.2f} | {r['cpu_seconds']:.1f} | {ratio} | "
             f"{r['peak_mb']:.0f} | {r['delta_mb']:.0f} | {err:.1e} | {own:.1e} ({est}) | {fwd} |")
        summary[(wl, n, tool)] = dict(r, err=err, err_own=own)

    jobs = []
    for wl in workloads:
        ns = [ARR_N] if wl == "arrays" else list(sizes)
        if wl == "cnn" and args.cnn_sizes:
            ns = [int(x) for x in args.cnn_sizes.split(",")]
        jobs += [(wl, n) for n in ns]
    jobs.sort(key=lambda j: (j[1] > 10_000, ["arrays", "mlp", "cnn"].index(j[0])))  # the big N last
    for wl, n in jobs:
        if True:
            if wl == "arrays":
                tools = ["gemm", "featcorr", "featcorr-f32", "featcorr-stream", "featcorr-stream-f32",
                         "featcorr-debiased", "pytorch-cka", "gram64", "ckatorch-base"]
            else:
                # ckatorch cka_base (one call, two n x n Grams per layer pair) is slower than gram64 by
                # construction; it runs on the arrays workload.
                tools = ["featcorr", "featcorr-f32", "featcorr-mb", "pytorch-cka", "torch-cka", "ckatorch",
                         "gram64"]
            r = spawn({"workload": wl, "n": n, "tool": "exact", "matrix_path": str(tmp / f"{wl}-{n}-exact")}, 3600)
            if r.get("error"):
                emit(f"| {wl} | {n} | exact | fails: {r['error']} | | | | | | | | |")
                continue
            truth = dict(np.load(str(tmp / f"{wl}-{n}-exact.npz")))
            summary[(wl, n, "truth")] = truth
            row(wl, n, "exact", r, truth, None)
            runs: dict[str, list] = {}
            skipped: dict[str, str] = {}
            for rep in range(repeats if n <= 10_000 else min(repeats, args.big_repeats)):
                for tool in tools:
                    if tool == "gemm":  # the roofline, measured between the tools it is compared with
                        runs.setdefault(tool, []).append(spawn({"workload": "gemm"}, 600))
                        continue
                    if tool in args.skip.split(","):
                        skipped[tool] = "--skip"
                        continue
                    if tool in skipped or (rep and (tool in SLOW_TOOLS or (wl == "arrays" and tool in SLOW_ARRAY_TOOLS) or
                                                    any((x.get("seconds") or 0) > SLOW_SECONDS for x in runs[tool]))):
                        continue
                    base_tool = tool.replace("-f32", "")
                    task = {"workload": wl, "n": n, "tool": base_tool,
                            "matrix_path": str(tmp / f"{wl}-{n}-{tool}-{rep}.npy")}
                    if tool.endswith("-f32"):
                        task["gemm"] = "float32"
                    if base_tool == "featcorr-mb":
                        task.update(tool="featcorr", measure="minibatch_cka")
                    if base_tool == "featcorr-debiased":
                        task.update(tool="featcorr", measure="debiased_cka")
                    big = n > 10_000 and wl != "arrays"
                    if big and base_tool in ("gram64", "ckatorch-base"):
                        skipped[tool] = f"n x n float64 Grams need {n * n * 8 / 2**30:.0f} GiB each"
                        continue
                    if args.quick and base_tool == "ckatorch-base" and wl != "arrays":
                        skipped[tool] = "--quick"
                        continue
                    n_layers = 2 if wl == "arrays" else len(build_model(wl, 0)[1]) + 2
                    need = {"gram64": n_layers * n * n * 8 / 2**30, "ckatorch-base": 6 * n * n * 8 / 2**30,
                            "pytorch-cka": (3 * n * n * 4 / 2**30) if wl == "arrays" else 0}.get(base_tool, 0)
                    if need and need + 3 > mem_available_gb():
                        skipped[tool] = f"needs ~{need:.0f} GiB, {mem_available_gb():.0f} GiB available"
                        continue
                    runs.setdefault(tool, []).append(spawn(task, 3600))
            fc_time = None
            for tool in tools:
                if tool == "gemm":
                    g = [r["gflops"] for r in runs.get("gemm", []) if "gflops" in r]
                    if g:
                        gemm.clear()
                        gemm.update({k: float(np.median([x[k] for x in g])) for k in g[0]})
                        emit(f"| {wl} | | torch GEMM (roofline, median of {len(g)} runs interleaved with these rows) | "
                             + ", ".join(f"{k}: {v:.0f} GFLOP/s" for k, v in gemm.items() if k != "threads")
                             + " | | | | | | | | |")
                    continue
                if tool in skipped:
                    emit(f"| {wl} | {n} | {tool} | skipped: {skipped[tool]} | | | | | | | | |")
                    continue
                r = combine(runs[tool])
                if tool == "featcorr" and not r.get("error"):
                    fc_time = r["seconds"]
                row(wl, n, tool, r, truth, fc_time)
            save(partial=True)
    emit()
    emit(_targets(summary, gemm))
    save(partial=False)
    print(f"\nwritten to {out}")
    return 0


def _targets(s: dict, gemm: dict) -> str:
    out = ["## Targets", "",
           "Ratios by wall clock and by CPU seconds (user+sys of the tool's process; with --threads 1 on a "
           "shared machine the CPU ratio is the steadier one).", ""]

    def t(key, what="seconds"):
        r = s.get(key)
        return None if r is None or not isinstance(r, dict) or r.get(what) is None else r[what]

    def both(a_key, b_key):
        a, b = t(a_key), t(b_key)
        ac, bc = t(a_key, "cpu_seconds"), t(b_key, "cpu_seconds")
        return a, b, ac, bc

    for wl in ("mlp", "cnn"):
        for n in sorted({k[1] for k in s if k[0] == wl}):
            for tool in ("featcorr", "featcorr-f32"):
                a, b, ac, bc = both((wl, n, tool), (wl, n, "pytorch-cka"))
                if a and b:
                    ok = "met" if (ac or a) <= (bc or b) else "MISSED"
                    out.append(f"- exact {tool} vs pytorch-cka minibatch estimate, {wl} N={n}: wall {a:.2f} s vs "
                               f"{b:.2f} s ({b / a:.2f}x), cpu {ac:.1f} s vs {bc:.1f} s ({bc / ac:.2f}x) -> {ok} "
                               f"(target >= 1x); err vs exact CKA: featcorr {s[(wl, n, tool)]['err']:.1e}, pytorch-cka "
                               f"{s[(wl, n, 'pytorch-cka')]['err']:.2g}")
            a, b, ac, bc = both((wl, n, "featcorr-mb"), (wl, n, "pytorch-cka"))
            if a and b:
                out.append(f"- {wl} N={n}: featcorr minibatch_cka vs pytorch-cka (same estimator): wall {a:.2f} s vs "
                           f"{b:.2f} s ({b / a:.2f}x), cpu {ac:.1f} s vs {bc:.1f} s ({bc / ac:.2f}x); error vs the exact "
                           f"minibatch value: featcorr {s[(wl, n, 'featcorr-mb')]['err_own']:.1e}, pytorch-cka "
                           f"{s[(wl, n, 'pytorch-cka')]['err_own']:.2g}")
    for wl in ("mlp", "cnn", "arrays"):
        for n in sorted({k[1] for k in s if k[0] == wl}):
            peers = [(t((wl, n, p)), t((wl, n, p), "cpu_seconds"), p) for p in ("gram64", "ckatorch-base")
                     if t((wl, n, p))]
            a, ac = t((wl, n, "featcorr")), t((wl, n, "featcorr", ), "cpu_seconds")
            if peers and a:
                tp, tpc, p = min(peers)
                ok = "met" if min(tp / a, tpc / ac) >= 5 else "MISSED"
                out.append(f"- {wl} N={n}: exact featcorr (float64) vs fastest exact peer {p}: wall {a:.2f} s vs "
                           f"{tp:.2f} s ({tp / a:.0f}x), cpu {ac:.1f} s vs {tpc:.1f} s ({tpc / ac:.0f}x) -> {ok} "
                           "(target >= 5x)")
    for tool in ("featcorr-stream", "featcorr-stream-f32"):
        r = s.get(("arrays", ARR_N, tool))
        if r and r.get("gflops"):
            dt = "float32" if tool.endswith("f32") else "float64"
            for clock, suffix in (("wall", ""), ("cpu", " cpu")):
                roof = max(gemm.get(f"{dt} addmm (500x2186)^T(500x2186){suffix}", 0),
                           gemm.get(f"{dt} mm 4096^3{suffix}", 0))
                got = r.get("gflops" + ("_cpu" if suffix else ""))
                full = r.get("gflops_full" + ("_cpu" if suffix else ""))
                if roof and got:
                    out.append(f"- Moments accumulation ({dt} GEMM, arrays n={ARR_N}, batches of {BATCH}, by {clock}): "
                               f"{got:.0f} GFLOP/s performed = {100 * got / roof:.0f}% of torch's {roof:.0f} GFLOP/s "
                               f"({'met' if got >= 0.6 * roof else 'MISSED'}: target >= 60%); {full:.0f} GFLOP/s "
                               "counting full tiles (symmetry saves the rest)")
    for wl in ("mlp", "cnn"):
        ns = sorted({k[1] for k in s if k[0] == wl and k[2] == "featcorr"})
        if len(ns) >= 2:
            a, b = s[(wl, ns[0], "featcorr")], s[(wl, ns[-1], "featcorr")]
            out.append(f"- memory flat in N ({wl}, featcorr): delta {a['delta_mb']:.0f} MB at N={ns[0]} vs "
                       f"{b['delta_mb']:.0f} MB at N={ns[-1]}; peak RSS {a['peak_mb']:.0f} vs {b['peak_mb']:.0f} MB")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
