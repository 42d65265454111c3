"""Reproduce Kornblith et al. (2019)'s layer-identification test at small scale.

The test (Section 6.1, Table 2 of the paper): train several architecturally
identical networks from different random initialisations; for every layer of
one network, find the most similar layer of another network; a similarity
index "passes" when that layer sits at the same depth. The paper used ten
10-layer CNNs on CIFAR-10 and found CKA near 99 % while the CCA family and
linear regression stayed far lower.

Here: ``--nets`` (default 5) MLPs with ``--depth`` (default 8) hidden layers of
``--width`` units trained on scikit-learn's bundled digits (no download);
the held-out split (540 images) is the comparison data. Every ordered pair of
networks is compared with ``featcorr.compare`` in one pass per pair for all
measures at once; the logits layer is excluded as in the paper.

Run::

    .venv/bin/python examples/layer_identification.py            # ~1-2 min on 2 cores
    .venv/bin/python examples/layer_identification.py --nets 10  # closer to the paper

It prints the accuracy per measure beside the paper's Table 2 and writes the
table to ``examples/results/layer_identification.md``.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import featcorr as fc
from featcorr.measures import get_measure

# Kornblith et al. 2019, Table 2 (ten 10-layer CIFAR-10 CNNs, logits excluded), accuracy in %.
PAPER = {
    "cca": ("CCA (mean rho)", 1.4),
    "cca_r2": ("CCA (R2_CCA)", 10.6),
    "svcca": ("SVCCA (mean rho)", 9.9),
    "pwcca": ("PWCCA", 11.1),
    "linear_predictivity": ("Linear Reg.", 45.4),
    "linear_cka": ("CKA (linear)", 99.3),
    "rbf_cka": ("CKA (RBF 0.4)", 99.1),
}

# (label, registry name, options); measures not registered in this build are reported as skipped.
MEASURES = [
    ("linear_cka", "linear_cka", {}),
    ("rbf_cka", "rbf_cka", {"threshold": 0.4, "sample_size": 1000}),
    ("debiased_cka", "debiased_cka", {}),
    ("cca", "cca", {}),
    ("cca_r2", "cca", {"summary": "r2"}),
    ("svcca", "svcca", {}),
    ("pwcca", "pwcca", {}),
    ("linear_predictivity", "linear_predictivity", {"average": "variance_weighted"}),  # dead units have no R^2
    ("procrustes", "procrustes", {}),
    ("rsa", "rsa", {"sample_size": 1000}),  # sample measures: O(m^2) on a 1000-row uniform sample
    ("mutual_knn", "mutual_knn", {"sample_size": 1000}),
]


def make_net(depth: int, width: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    d_in = 64
    for _ in range(depth):
        layers += [nn.Linear(d_in, width), nn.ReLU()]
        d_in = width
    layers.append(nn.Linear(d_in, 10))
    return nn.Sequential(*layers)


def make_cnn(depth: int, width: int, seed: int) -> nn.Sequential:
    """A 1-D CNN for MNIST-1D: ``depth`` conv+ReLU layers (stride 2 at every third), mean pool, linear."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    c_in = 1
    for i in range(depth):
        stride = 2 if i % 3 == 2 else 1
        layers += [nn.Conv1d(c_in, width, 3, stride=stride, padding=1), nn.ReLU()]
        c_in = width
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, 10)]
    return nn.Sequential(*layers)


def train(net: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(X), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(X[idx]), y[idx]).backward()
            opt.step()
    net.eval()


def available_measures() -> list[tuple[str, str, dict]]:
    known = set(fc.measures()["name"])
    out = []
    for label, name, opts in MEASURES:
        if name not in known:
            continue
        try:  # options this build does not support: skip rather than fail
            get_measure(name).resolve_options(opts, caller="layer_identification")
        except fc.FeatcorrError:
            continue
        out.append((label, name, opts))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["cnn", "mlp"], default="cnn",
                    help="cnn: 1-D CNNs on MNIST-1D (generated offline); mlp: MLPs on sklearn digits")
    ap.add_argument("--pool", default="flatten", help="how conv maps become vectors (featcorr pool option)")
    ap.add_argument("--data", choices=["all", "test"], default="all",
                    help="inputs the layers are compared on: the held-out split, or train + held-out")
    ap.add_argument("--skip", default="", help="comma-separated measure labels to leave out (e.g. linear_predictivity, "
                    "whose nested CV on the moments costs O(p^3) per fold and penalty for wide flattened layers)")
    ap.add_argument("--nets", type=int, default=5)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "layer_identification.md")
    args = ap.parse_args()
    torch.set_num_threads(2)
    # dead ReLU units make CCA-family blocks rank deficient: featcorr drops those directions and says so
    warnings.filterwarnings("ignore", message=".*numerical rank.*")

    if args.arch == "mlp":
        Xd, yd = load_digits(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(Xd / 16.0, yd, test_size=0.3, random_state=0, stratify=yd)
        build = make_net
    else:
        from mnist1d.data import get_dataset_args, make_dataset  # generated locally, no download

        d = make_dataset(get_dataset_args())
        Xtr, Xte, ytr, yte = d["x"][:, None, :], d["x_test"][:, None, :], d["y"], d["y_test"]
        build = make_cnn
    Xtr_t, ytr_t = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
    Xte_t = torch.tensor(Xte, dtype=torch.float32)
    Xcmp = Xte_t if args.data == "test" else torch.cat([Xte_t, Xtr_t])
    loader = DataLoader(TensorDataset(Xcmp), batch_size=500)

    t0 = time.perf_counter()
    nets = []
    for seed in range(args.nets):
        net = build(args.depth, args.width, seed)
        train(net, Xtr_t, ytr_t, epochs=args.epochs, seed=seed)
        acc = (net(Xte_t).argmax(1).numpy() == yte).mean()
        print(f"net {seed}: test accuracy {acc:.3f}", flush=True)
        nets.append(net)
    t_train = time.perf_counter() - t0

    # the post-ReLU output of every hidden layer (the logits layer is excluded, as in the paper)
    layers = [str(2 * i + 1) for i in range(args.depth)]
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    measures = [m for m in available_measures() if m[0] not in skip]
    kinds = fc.measures().set_index("name")["kind"].to_dict()
    hits = {label: 0 for label, _, _ in measures}
    total = 0
    t1 = time.perf_counter()
    # one compare (one forward pass per net) serves every measure; a measure asked twice with
    # different options (cca's mean rho and R2) goes to a second round
    rounds: list[list[tuple[str, str, dict]]] = []
    for m in measures:
        for rnd in rounds:
            if all(m[1] != other[1] for other in rnd):
                rnd.append(m)
                break
        else:
            rounds.append([m])
    for i, j in itertools.permutations(range(args.nets), 2):
        for rnd in rounds:
            r = fc.compare(nets[i], loader, nets[j], layers_a=layers, layers_b=layers,
                           measures={name: opts for _, name, opts in rnd}, pool=args.pool, progress=False)
            for label, name, _ in rnd:
                M = r.matrix(name).to_numpy()
                best = M.argmin(axis=1) if kinds[name] == "distance" else M.argmax(axis=1)
                hits[label] += int((best == np.arange(len(layers))).sum())
        total += len(layers)
    t_compare = time.perf_counter() - t1

    lines = [
        f"Layer identification, {args.nets} {args.arch.upper()}s ({args.depth} hidden layers x {args.width}, "
        f"{'digits' if args.arch == 'mlp' else 'MNIST-1D'}, {len(Xcmp)} inputs ({args.data}), pool={args.pool!r}), "
        f"{total} layer queries over {args.nets * (args.nets - 1)} ordered net pairs.",
        "",
        "| measure | featcorr accuracy (%) | paper, Table 2 (%) |",
        "|---|---|---|",
    ]
    for label, _, _ in measures:
        paper = PAPER.get(label)
        lines.append(
            f"| {label} | {100 * hits[label] / total:.1f} | "
            + (f"{paper[1]:.1f} ({paper[0]})" if paper else "—")
            + " |"
        )
    lines += ["", f"training {t_train:.1f} s, comparisons {t_compare:.1f} s"]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
