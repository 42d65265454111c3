"""``featcorr measures``: the table of registered measures."""

from __future__ import annotations

from ._app import command

__all__ = ["measures_command"]


@command("measures", help="List every registered measure: statistic, kind, range, invariances, paper.")
def measures_command() -> None:
    """Print the measure registry as a table (what :func:`featcorr.measures` returns)."""
    from rich.console import Console

    from ..measures import measures

    frame = measures()
    from ._render import frame_table

    Console().print(
        frame_table(
            frame,
            title=f"featcorr measures ({len(frame)})",
            columns=["name", "statistic", "kind", "range", "invariances", "paper"],
        )
    )
