"""Rich tables that are never cut: as wide as the terminal, and folded rather than truncated.

Piped into a file or another program, rich would assume 80 columns and shorten cells with an
ellipsis; there a table is as wide as ``COLUMNS`` says, else wide enough for long targets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["console", "table"]

_PIPE_WIDTH = 200


def console() -> Console:
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    try:
        width = int(os.environ.get("COLUMNS") or _PIPE_WIDTH)
    except ValueError:
        width = _PIPE_WIDTH
    return Console(width=max(width, 40), soft_wrap=False)


def table(title: str, columns: Iterable[str]) -> Table:
    """A table whose every column folds long cells onto more lines instead of cutting them."""
    from rich.table import Table

    out = Table(title=title)
    for name in columns:
        out.add_column(name, overflow="fold")
    return out
