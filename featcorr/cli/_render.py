"""Rich tables for the terminal: a layer x layer matrix, a DataFrame."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_MATRIX_COLUMNS", "best_match_table", "frame_table", "matrix_table"]

#: Wider matrices print as one best match per row (the full matrix is in the CSV and PNG).
MAX_MATRIX_COLUMNS = 12


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


def best_match_table(matrix: Any, *, kind: str, exclude_self: bool = False, digits: int = 3) -> Any:
    """A rich Table with, for each row of ``matrix``, its best column: largest similarity or smallest distance.

    ``exclude_self`` skips the diagonal (a square self-comparison), so each row shows its best *other* column.
    """
    import numpy as np
    from rich.table import Table

    values = matrix.to_numpy(dtype=float)
    search = values.copy()
    if exclude_self:
        np.fill_diagonal(search, -np.inf if kind == "similarity" else np.inf)
    best = search.argmax(axis=1) if kind == "similarity" else search.argmin(axis=1)
    row_name = matrix.index.name or "row"
    col_name = matrix.columns.name or "column"
    word = "most similar" if kind == "similarity" else "closest"
    table = Table(header_style="bold")
    table.add_column(row_name, style="bold", no_wrap=True)
    other = "other " if exclude_self else ""
    table.add_column(f"{word} {other}{col_name}", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for i, label in enumerate(matrix.index):
        table.add_row(str(label), str(matrix.columns[best[i]]), _fmt(values[i, best[i]], digits))
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
