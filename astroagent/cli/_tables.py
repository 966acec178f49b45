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


def table(title: str, columns: Iterable[str], *, whole: Iterable[str] = ("id", "when", "count", "calls")) -> Table:
    """A table whose columns fold long cells onto more lines instead of cutting them; the ``whole``
    columns (short ids, counts) never break, so an id can be copied from the output."""
    from rich.table import Table

    keep = set(whole)
    out = Table(title=title)
    for name in columns:
        out.add_column(name, overflow="fold", no_wrap=name in keep, min_width=12 if name == "id" else None)
    return out
