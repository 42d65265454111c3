"""The ``featcorr`` command line (typer).

``featcorr --help`` lists the commands, e.g. ``compare`` (activation
files), ``measures`` (the registry), ``demo``; one module per command.

Adding a command
----------------
1. Write ``featcorr/cli/_<name>.py`` with one function decorated by
   :func:`featcorr.cli._app.command`::

       from typing import Annotated
       import typer
       from ._app import OutOption, QuietOption, command

       @command("select", help="One line shown by featcorr --help.")
       def select_command(path: str, out: OutOption = "featcorr-select", quiet: QuietOption = False) -> None:
           from ..select import ...   # import heavy things inside the function
           ...

   ``command`` turns any :class:`featcorr.errors.FeatcorrError` into its
   message on stderr and exit code 2 (no traceback). Write JSON + CSV + PNG
   into ``--out``; print tables (``featcorr.cli._render``) unless ``--quiet``.
2. Add one line ``from . import _<name>  # noqa: F401`` below, next to the others.
3. Test it in ``tests/cli/test_<name>.py`` with ``typer.testing.CliRunner``
   on :data:`app` (see tests/cli/test_cli.py).
"""

from __future__ import annotations

from ._app import app, command

# One line per command module; importing it registers its command on `app`.
from . import _compare  # noqa: F401
from . import _measures  # noqa: F401
from . import _demo  # noqa: F401
from . import _select  # noqa: F401

__all__ = ["app", "command", "main"]


def main() -> None:
    """Run the ``featcorr`` command line (the console script's entry point).

    Exit codes: 0 on success, 2 on bad input (a
    :class:`featcorr.errors.FeatcorrError`, or a usage error), 1 on a bug.
    """
    app()
