"""``featcorr compare A [B]``: every layer of A against every layer of B, from activation files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import OutOption, QuietOption, command

__all__ = ["compare_command"]


@command("compare", no_args_is_help=True)
def compare_command(
    a: Annotated[str, typer.Argument(help="Activations of model A: .npz (one array per layer), .npy, .pt/.pth.")],
    b: Annotated[
        str | None, typer.Argument(help="Activations of model B, same samples in the same order (default: A).")
    ] = None,
    measure: Annotated[
        list[str] | None,
        typer.Option(
            "--measure", "-m", help="Measure name (repeatable; see `featcorr measures`). Default: linear_cka."
        ),
    ] = None,
    pool: Annotated[
        str,
        typer.Option("--pool", help="How (n, c, h, w) / (n, t, d) arrays become 2-D: flatten, mean, last, samples."),
    ] = "flatten",
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="A measure option as MEASURE.KEY=VALUE, e.g. rbf_cka.threshold=0.4 or rsa.compare=kendall_tau_a "
            "(repeatable).",
        ),
    ] = None,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Permutation test per layer pair: adds p_value to values.csv.")
    ] = 0,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap replicates per layer pair: adds ci_low/ci_high.")
    ] = 0,
    confidence: Annotated[float, typer.Option("--confidence", help="Level of the bootstrap interval.")] = 0.95,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the significance tests.")] = None,
    out: OutOption = "featcorr-compare",
    quiet: QuietOption = False,
) -> None:
    """Compare every layer in file A with every layer in file B (or A with itself).

    Rows of every array are samples and must pair up across files. Writes the
    result (JSON + CSV, reloadable with featcorr.load) and one heatmap PNG per
    measure into --out, and prints each matrix unless --quiet.
    """
    from ..compare import compare_activations
    from ..io import load_activations

    measures = tuple(measure) if measure else ("linear_cka",)
    options = parse_measure_options(option or [], measures)
    acts_a = load_activations(a)
    acts_b = load_activations(b) if b is not None else None
    result = compare_activations(
        acts_a,
        acts_b,
        measures={name: options.get(name, {}) for name in measures},
        progress=not quiet,
        pool=pool,
        n_permutations=permutations,
        n_bootstrap=bootstrap,
        confidence=confidence,
        random_state=seed,
    )
    files = write_result(result, Path(out), measures)
    if not quiet:
        show_result(result, measures, files, self_comparison=b is None)


def parse_measure_options(items: list[str], measures: tuple[str, ...]) -> dict[str, dict[str, object]]:
    """``["rbf_cka.threshold=0.4", ...]`` -> ``{"rbf_cka": {"threshold": 0.4}}`` (numbers, true/false, none, text)."""
    from ..errors import UnknownOptionError

    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        name, dot, opt = key.partition(".")
        if not (sep and dot and name and opt):
            raise UnknownOptionError(
                f"--option {item!r} is not MEASURE.KEY=VALUE (e.g. rbf_cka.threshold=0.4)."
            )
        if name not in measures:
            raise UnknownOptionError(
                f"--option {item!r} is for measure {name!r}, which is not requested; add --measure {name}."
            )
        out.setdefault(name, {})[opt] = _parse_value(raw)
    return out


def _parse_value(raw: str) -> object:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def write_result(result, out: Path, measures: tuple[str, ...]) -> list[Path]:
    """Save ``result`` (JSON + CSV) and one heatmap PNG per measure into ``out``; return every path written."""
    import json

    result.save(out)
    csvs = json.loads((out / "result.json").read_text())["files"].values()
    files = [out / "result.json", *(out / name for name in csvs), out / "values.csv"]
    for name in dict.fromkeys(measures):
        fig = result.plot(name)  # a matplotlib Figure, never shown
        path = out / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        files.append(path)
    return files


def show_result(result, measures: tuple[str, ...], files: list[Path], *, self_comparison: bool = False) -> None:
    """Print each measure's matrix (or, when wide, each row's best match) as a table, then the files written."""
    from rich.console import Console

    from ..measures import get_measure
    from ._render import MAX_MATRIX_COLUMNS, best_match_table, matrix_table

    console = Console()
    n = result.metadata.get("n_samples")
    for name in dict.fromkeys(measures):
        spec = get_measure(name)
        matrix = result.matrix(name)
        header = f"{name}: {spec.kind} in {spec.value_range}" + ("" if n is None else f", {n} samples")
        if matrix.shape[1] <= MAX_MATRIX_COLUMNS:
            console.print(header, style="bold", highlight=False)
            console.print(matrix_table(matrix, title=None))
        else:
            console.print(
                f"{header}; {matrix.shape[0]} x {matrix.shape[1]} layers, best match per row "
                "(full matrix in the CSV and PNG)",
                style="bold",
                highlight=False,
            )
            console.print(best_match_table(matrix, kind=spec.kind, exclude_self=self_comparison))
    console.print("wrote: " + ", ".join(str(p) for p in files), highlight=False, soft_wrap=True)
