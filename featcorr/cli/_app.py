"""The typer app every ``featcorr`` subcommand registers on, and its error handling."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer

from .. import __version__
from ..errors import FeatcorrError

__all__ = ["EXIT_BAD_INPUT", "OutOption", "QuietOption", "app", "command"]

#: Exit code for bad input (a FeatcorrError), the same code click uses for usage errors.
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="featcorr",
    help="How features correlate in deep learning: compare layers and models from one streaming pass.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # bugs show a plain traceback; bad input never does (see `command`)
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Shared option types, so every subcommand spells them the same way.
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no tables; errors still print.")]
OutOption = Annotated[str, typer.Option("--out", "-o", help="Directory to write JSON + CSV + PNG into (created).")]


def command(name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a function as the subcommand ``featcorr <name>``.

    Parameters
    ----------
    name : str
        Subcommand name, e.g. ``"select"``.
    **kwargs
        Passed to :meth:`typer.Typer.command` (``help``, ``no_args_is_help``, ...).

    Returns
    -------
    callable
        A decorator that registers ``fn`` on :data:`app` and returns ``fn``
        unchanged (still callable from Python, where errors propagate).

    Notes
    -----
    In the command line, any :class:`featcorr.errors.FeatcorrError` raised by
    the command prints ``featcorr <name>: error: <message>`` on stderr and
    exits with code 2, without a traceback; other exceptions are bugs and
    keep their traceback. Tested in tests/cli/test_cli.py and
    tests/cli/test_subprocess.py.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kw: Any) -> Any:
            try:
                return fn(*args, **kw)
            except FeatcorrError as exc:
                typer.echo(f"featcorr {name}: error: {exc}", err=True)
                raise typer.Exit(EXIT_BAD_INPUT) from None

        app.command(name, **kwargs)(run)
        return fn

    return decorate


def _version(value: bool) -> None:
    if value:
        typer.echo(f"featcorr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """featcorr: representational similarity of layers and models, from one streaming pass.

    Every command that computes writes JSON + CSV + PNG into --out and is silent under --quiet.
    Bad input prints one line to stderr and exits with code 2.
    """
