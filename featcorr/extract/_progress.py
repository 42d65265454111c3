"""A rich progress bar over batches, silent when disabled or not on a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["batch_progress"]


@contextlib.contextmanager
def batch_progress(total: int | None, enabled: bool, description: str) -> Iterator[Callable[[], None]]:
    """Context manager yielding ``advance()``; draws on stderr only when ``enabled`` and on a terminal."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)
