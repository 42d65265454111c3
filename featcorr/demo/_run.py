"""run_demo: train two small MLPs on digits, compare every layer pair in one pass, write the result."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FeatcorrError

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """What :func:`run_demo` produced (a dataclass; the parameters are its attributes).

    Parameters
    ----------
    result : featcorr.compare.ComparisonResult
        Linear CKA of every layer of ``net_a`` (rows) against every layer of ``net_b`` (columns).
    accuracy : dict of str to float
        Held-out accuracy of each net.
    epochs : dict of str to int
        Training epochs each net ran within its time budget.
    timings : dict of str to float
        Wall seconds: ``train``, ``compare``, ``total``.
    out : pathlib.Path
        Directory written.
    files : list of pathlib.Path
        Files written into ``out``.
    models : dict of str to torch.nn.Module
        The two trained nets (eval mode).
    data : tuple of torch.Tensor
        ``(X_test, y_test)``, the held-out split the comparison ran on.
    """

    result: Any
    accuracy: dict[str, float]
    epochs: dict[str, int]
    timings: dict[str, float]
    out: Path
    files: list[Path]
    models: dict[str, Any] = field(repr=False)
    data: tuple[Any, Any] = field(repr=False)


def run_demo(
    out: str | Path = "featcorr-demo",
    *,
    quiet: bool = False,
    seconds: float = 3.0,
    max_epochs: int = 30,
    seed: int = 0,
) -> DemoResult:
    """Train two MLPs with different seeds on digits and compare all their layers with linear CKA.

    Both 64-128-128-64-10 ReLU nets train on 75 % of scikit-learn's bundled
    8x8 digits (no download) for at most ``seconds`` each; then
    :func:`featcorr.compare` runs both over the held-out 25 % (a DataLoader,
    batches of 128) in one pass and computes linear CKA for all 7 x 7 layer
    pairs. Writes ``result.json``, ``linear_cka.csv``, ``values.csv``,
    ``linear_cka.png`` (annotated heatmap) and ``demo.json`` (accuracies,
    epochs, timings) into ``out``.

    Parameters
    ----------
    out : str or path-like, default="featcorr-demo"
        Output directory (created).
    quiet : bool, default=False
        No progress bars. The function itself never prints; ``featcorr demo`` prints the tables.
    seconds : float, default=3.0
        Training time budget per net, in seconds (> 0; at least one epoch always runs).
    max_epochs : int, default=30
        Training stops after this many epochs even within the budget.
    seed : int, default=0
        Seed of the data split and of net A; net B uses ``seed + 1``.

    Returns
    -------
    DemoResult
        The comparison, accuracies, timings, files, trained nets and held-out data.

    Notes
    -----
    The diagonal of the CKA matrix is high (same-depth layers of two nets
    trained from different seeds learn similar representations) and CKA
    falls off with depth difference, as in Kornblith et al. 2019, Fig. 2.
    tests/demo/test_demo.py checks the matrix against a float64 Gram-space
    CKA of activations recorded independently with forward hooks.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise FeatcorrError(f"run_demo: seconds={seconds!r} is not a positive number of seconds; pass e.g. seconds=3.")
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise FeatcorrError(f"run_demo: max_epochs={max_epochs!r} must be an integer >= 1.")
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from ..compare import ComparisonResult, compare
    from ._digits import accuracy, digits_split, make_mlp, one_cpu_thread, train

    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FeatcorrError(f"run_demo: out={str(out)!r} is an existing file, not a directory; pass a directory.")
    X_tr, y_tr, X_te, y_te = digits_split(seed=seed)
    seeds = {"net_a": seed, "net_b": seed + 1}
    models = {name: make_mlp(s) for name, s in seeds.items()}
    epochs: dict[str, int] = {}
    with _progress(quiet) as progress:
        for name, model in models.items():
            task = progress.add_task(f"training {name}", total=max_epochs) if progress is not None else None

            def tick(epoch: int, loss: float, task=task, name=name) -> None:
                if progress is not None:
                    progress.update(task, completed=epoch, description=f"training {name} (loss {loss:.3f})")

            epochs[name] = train(
                model, X_tr, y_tr, seconds=float(seconds), max_epochs=max_epochs, seed=seeds[name], on_epoch=tick
            )
            if progress is not None:
                progress.update(task, completed=max_epochs)
    t_train = time.perf_counter() - t0
    acc = {name: accuracy(m, X_te, y_te) for name, m in models.items()}

    t1 = time.perf_counter()
    loader = DataLoader(TensorDataset(X_te, y_te), batch_size=128, shuffle=False)
    with torch.no_grad(), one_cpu_thread():  # 7+7 layers of width <= 128: threads cost more than they save
        result = compare(models["net_a"], loader, models["net_b"], measures=("linear_cka",), progress=not quiet)
    t_compare = time.perf_counter() - t1
    # name the two nets in the metadata (heatmap axis labels, result.json) instead of "Sequential" twice
    meta = result.metadata
    meta["models"] = {"a": f"net_a (seed {seeds['net_a']})", "b": f"net_b (seed {seeds['net_b']})"}
    result = ComparisonResult(
        {m: result.matrix(m).to_numpy() for m in result.measures}, result.layers_a, result.layers_b, metadata=meta
    )

    result.save(out)
    fig = result.plot("linear_cka")
    fig.savefig(out / "linear_cka.png", dpi=130, bbox_inches="tight")
    timings = {"train": t_train, "compare": t_compare, "total": time.perf_counter() - t0}
    summary = {
        "dataset": f"sklearn digits, {len(X_tr)} train / {len(X_te)} held-out images",
        "architecture": "64-128-128-64-10 ReLU MLP",
        "seeds": seeds,
        "test_accuracy": acc,
        "epochs": epochs,
        "seconds_budget_per_net": float(seconds),
        "timings_s": timings,
    }
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    csvs = json.loads((out / "result.json").read_text())["files"].values()
    files = [
        out / "result.json",
        *(out / name for name in csvs),
        out / "values.csv",
        out / "linear_cka.png",
        out / "demo.json",
    ]
    return DemoResult(result, acc, epochs, timings, out, files, models, (X_te, y_te))


class _progress:
    """A transient rich Progress on stderr, or None under ``quiet`` or when stderr is not a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.progress = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        if not console.is_terminal:  # no bar in logs and pipes
            return None
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
        )
        self.progress.__enter__()
        return self.progress

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)
