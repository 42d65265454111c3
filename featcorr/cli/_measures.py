"""``featcorr measures``: the table of registered measures."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..errors import UnknownOptionError
from ._app import command

__all__ = ["measures_command"]

_FORMATS = ("table", "csv", "json")
_TABLE_COLUMNS = ["name", "statistic", "kind", "range", "invariances", "paper"]
#: Width of the table when stdout is not a terminal (a pipe or a file), so that
#: redirected output is not squeezed into rich's 80-column default.
_PIPE_WIDTH = 200


@command("measures", help="List every registered measure: statistic, kind, range, invariances, paper.")
def measures_command(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (default), csv or json: csv/json hold every column of featcorr.measures(), "
            "including the reference implementation each measure is tested against.",
        ),
    ] = "table",
) -> None:
    """Print the measure registry (what :func:`featcorr.measures` returns) as a table, CSV or JSON."""
    from ..measures import measures

    if fmt not in _FORMATS:
        raise UnknownOptionError(f"--format {fmt!r} is not one of {', '.join(_FORMATS)}.")
    frame = measures()
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(frame.to_dict(orient="records"), indent=2) + "\n")
        return
    from rich.console import Console

    from ._render import frame_table

    console = Console() if sys.stdout.isatty() else Console(width=_PIPE_WIDTH)
    console.print(frame_table(frame, title=f"featcorr measures ({len(frame)})", columns=_TABLE_COLUMNS))
