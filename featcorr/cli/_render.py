"""Rich tables for the terminal: a layer x layer matrix, a DataFrame."""

from __future__ import annotations

from typing import Any

__all__ = ["frame_table", "matrix_table"]


def matrix_table(matrix: Any, *, title: str | None, digits: int = 3) -> Any:
    """A rich Table of a (rows x columns) pandas DataFrame of floats; row labels in the first column."""
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    corner = f"{matrix.index.name or ''} \\ {matrix.columns.name or ''}".strip(" \\")
    table.add_column(corner, style="bold", no_wrap=True)
    for col in matrix.columns:
        table.add_column(str(col), justify="right", no_wrap=True)
    for label, row in matrix.iterrows():
        table.add_row(str(label), *(_fmt(v, digits) for v in row.tolist()))
    return table


def frame_table(frame: Any, *, title: str, columns: list[str] | None = None) -> Any:
    """A rich Table of selected columns of a pandas DataFrame, one row per record."""
    from rich.table import Table

    table = Table(title=title, header_style="bold", show_lines=False)
    columns = list(frame.columns) if columns is None else columns
    for i, col in enumerate(columns):
        table.add_column(col, style="bold" if i == 0 else None, no_wrap=i == 0, overflow="fold")
    for record in frame[columns].itertuples(index=False):
        table.add_row(*(str(v) for v in record))
    return table


def _fmt(value: Any, digits: int) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)
