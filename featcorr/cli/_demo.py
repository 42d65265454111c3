"""``featcorr demo``: train two small MLPs on digits, compare all their layers, print and save the result."""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import OutOption, QuietOption, command

__all__ = ["demo_command"]


@command("demo")
def demo_command(
    out: OutOption = "featcorr-demo",
    quiet: QuietOption = False,
    seconds: Annotated[float, typer.Option("--seconds", help="Training time budget per net, in seconds.")] = 3.0,
) -> None:
    """Train two 64-128-128-64-10 MLPs (different seeds) on scikit-learn's digits and compare every layer pair.

    Both nets run over the held-out images in one pass; linear CKA of all
    7 x 7 layer pairs is printed and written to --out as JSON + CSV + heatmap PNG.
    """
    from rich.console import Console

    from ..demo import run_demo
    from ._render import matrix_table

    demo = run_demo(out, quiet=quiet, seconds=seconds)
    if quiet:
        return
    console = Console()
    meta = demo.result.metadata
    n = meta.get("n_samples", len(demo.data[0]))
    console.print(
        matrix_table(demo.result.matrix("linear_cka"), title=f"linear CKA, net_a x net_b ({n} held-out digits)")
    )
    for name, acc in demo.accuracy.items():
        console.print(f"{name}: test accuracy {acc:.3f} after {demo.epochs[name]} epochs", highlight=False)
    t = demo.timings
    console.print(
        f"train {t['train']:.1f} s, compare {t['compare']:.2f} s, total {t['total']:.1f} s; "
        f"wrote {', '.join(str(p) for p in demo.files)}",
        highlight=False,
        soft_wrap=True,
    )
