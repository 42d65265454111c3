"""``featcorr select DATA --target COL --method NAME -k K``: rank the features of a table against a target."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import FeatcorrError, close_matches_hint
from ._app import OutOption, QuietOption, command

__all__ = ["select_command", "SELECT_METHODS", "read_table"]

#: CLI method name -> (selector class name in featcorr.select, one-line description).
SELECT_METHODS: dict[str, tuple[str, str]] = {
    "rank": ("Rank", "univariate dependence ranking (Pearson; --dependence picks the measure)"),
    "mrmr": ("MRMR", "max relevance, min redundancy (mrmr-selection's FCQ)"),
    "hsic_lasso": ("HSICLasso", "block HSIC Lasso: main and nonlinear marginal effects, non-redundant"),
    "disco": ("DisCo", "greedy multivariate distance correlation (DisCo-FFS); finds interaction pairs"),
    "sequential_attention": ("SequentialAttention", "MLP with sequential attention; nonlinear and interactions"),
    "feature_gradients": ("FeatureGradients", "learnability gradient search; jointly linear sets (suppressors)"),
}

_METHOD_HELP = "Selector: " + "; ".join(f"{k} = {v[1]}" for k, v in SELECT_METHODS.items()) + "."


def read_table(path: str) -> Any:
    """Read a .csv, .parquet or .npz file into a pandas DataFrame (npz: equal-length 1-D arrays, or X + names)."""
    import numpy as np
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise FeatcorrError(f"featcorr select: file {path!r} does not exist.")
    ext = p.suffix.lower()
    try:
        if ext == ".csv":
            return pd.read_csv(p)
        if ext == ".parquet":
            try:
                return pd.read_parquet(p)
            except ImportError as exc:
                raise FeatcorrError(
                    f"featcorr select: reading parquet needs pyarrow ({exc}); `pip install pyarrow` or pass a CSV."
                ) from None
        if ext == ".npz":
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if "X" in arrays and arrays["X"].ndim == 2:
                X = arrays.pop("X")
                names = arrays.pop("feature_names", None)
                names = [str(s) for s in names] if names is not None else [f"x{i}" for i in range(X.shape[1])]
                frame = pd.DataFrame(X, columns=names)
                for k, v in arrays.items():
                    if v.ndim == 1 and v.shape[0] == X.shape[0]:
                        frame[k] = v
                return frame
            lengths = {k: v.shape for k, v in arrays.items()}
            if not arrays or any(len(s) != 1 for s in lengths.values()) or len({s[0] for s in lengths.values()}) != 1:
                raise FeatcorrError(
                    f"featcorr select: {path!r} must hold equal-length 1-D arrays (one per column) or a 2-D 'X' "
                    f"with optional 'feature_names'; found {lengths}."
                )
            return pd.DataFrame(arrays)
    except FeatcorrError:
        raise
    except Exception as exc:  # unreadable file of the right extension
        raise FeatcorrError(f"featcorr select: could not read {path!r} as {ext[1:]}: {exc}") from None
    raise FeatcorrError(f"featcorr select: {path!r} has extension {ext!r}; pass a .csv, .parquet or .npz file.")


def _make_selector(method: str, k: int, n: int, seed: int, dependence: str | None):
    from .. import select

    name = SELECT_METHODS[method][0]
    cls = getattr(select, name)
    kw: dict[str, Any] = {"n_features": k}
    if method == "rank" and dependence:
        kw["method"] = dependence
    if method in ("disco", "sequential_attention", "feature_gradients"):
        kw["random_state"] = seed
    if method == "feature_gradients":  # at least ~200 Adam steps, whatever n
        batch = min(1000, n)
        kw["batch_size"] = batch
        kw["n_epochs"] = max(1, math.ceil(200 / max(1, n // batch)))
    if method == "hsic_lasso" and n < 20:
        kw["B"] = 0
    return cls(**kw)


def _plot(frame: Any, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = frame.sort_values("rank").head(30)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(top) + 1.2))
    colors = ["tab:blue" if s else "tab:gray" for s in top["selected"]]
    ax.barh(top["name"].astype(str)[::-1], top["score"].astype(float)[::-1], color=colors[::-1])
    ax.set_xlabel("score (blue = selected)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@command("select", no_args_is_help=True, help="Rank the features of a table against a target column.")
def select_command(
    data: Annotated[str, typer.Argument(help="Table: .csv, .parquet or .npz (one column per feature).")],
    target: Annotated[str, typer.Option("--target", "-t", help="Name of the target column.")],
    method: Annotated[str, typer.Option("--method", "-m", help=_METHOD_HELP)] = "rank",
    k: Annotated[int | None, typer.Option("-k", help="Number of features to select [default: min(10, #features)].")] = None,
    dependence: Annotated[
        str | None, typer.Option("--dependence", help="For --method rank: pearson, spearman, kendall, dcor, hsic, mi.")
    ] = None,
    task: Annotated[str, typer.Option("--task", help="auto, classification or regression.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="random_state of the stochastic selectors.")] = 0,
    out: OutOption = "featcorr-select",
    quiet: QuietOption = False,
) -> None:
    """Select K features of DATA that carry the signal in --target; write select.csv/.json/.png into --out."""
    import numpy as np
    import pandas as pd

    if method not in SELECT_METHODS:
        raise FeatcorrError(
            f"--method {method!r} is not a selector; choose one of {', '.join(SELECT_METHODS)}."
            + close_matches_hint(method, SELECT_METHODS)
        )
    frame = read_table(data)
    if target not in frame.columns:
        raise FeatcorrError(
            f"target column {target!r} is not in {data} ({frame.shape[1]} columns)."
            + close_matches_hint(target, [str(c) for c in frame.columns])
        )
    y = frame[target].to_numpy()
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise FeatcorrError(f"{data} has no feature column besides the target {target!r}.")
    if k is None:
        k = min(10, X.shape[1])
    if not 1 <= k <= X.shape[1]:
        raise FeatcorrError(f"-k {k} must be between 1 and the number of feature columns ({X.shape[1]}).")
    if task not in ("auto", "classification", "regression"):
        raise FeatcorrError(f"--task {task!r} is not supported; choose auto, classification or regression.")
    from sklearn.utils._param_validation import InvalidParameterError

    sel = _make_selector(method, k, X.shape[0], seed, dependence)
    sel.set_params(target=task)
    try:
        if quiet:
            sel.fit(X, y)
        else:
            from rich.console import Console

            with Console(stderr=True).status(f"featcorr select: {method} on {X.shape[0]} x {X.shape[1]} ..."):
                sel.fit(X, y)
    except InvalidParameterError as exc:
        if isinstance(exc, FeatcorrError):
            raise
        raise FeatcorrError(str(exc)) from None
    names = [str(c) for c in X.columns]
    scores = np.asarray(getattr(sel, "scores_", np.full(len(names), np.nan)), dtype=float)
    result = pd.DataFrame(
        {"name": names, "score": scores, "rank": sel.ranking_.astype(int), "selected": sel.support_.astype(bool)}
    ).sort_values("rank", kind="stable")
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    result.to_csv(outdir / "select.csv", index=False)
    payload = {
        "data": str(data),
        "target": target,
        "method": method,
        "selector": repr(sel),
        "task": getattr(sel, "task_", None),
        "k": k,
        "n_samples": int(X.shape[0]),
        "features": [
            {"name": r.name, "score": None if not np.isfinite(r.score) else float(r.score), "rank": int(r.rank),
             "selected": bool(r.selected)}
            for r in result.itertuples(index=False)
        ],
    }
    (outdir / "select.json").write_text(json.dumps(payload, indent=2))
    _plot(result, outdir / "select.png", f"{method}: {target}")
    if not quiet:
        from rich.console import Console

        from ._render import frame_table

        shown = result.head(max(k, 10)).assign(score=lambda f: f["score"].map(lambda v: f"{v:.4g}"))
        Console().print(frame_table(shown, title=f"featcorr select --method {method} (top {len(shown)})"))
        Console().print(f"wrote {outdir}/select.csv, select.json, select.png")
