"""``astroagent labtech forget (CHANGE_ID | --fix NAME --target T)``: lift the bar on a rolled-back fix.

A fix rolled back (by a verdict or by hand) is never tried again for the same failure; after
the cause is mended (a test added, a dependency up again) a person may lift that bar. The
ledger keeps the change and gains an update line ``forgotten: true``.
"""

from __future__ import annotations

from pathlib import Path

import click

from astroagent.cli.labtech import labtech
from astroagent.errors import UsageError

__all__ = ["forget_cmd"]


def _target_key(target: str) -> str:
    """``--target`` as the ledger names it: ``path::qualname`` or a path relative to the workspace."""
    from astroagent.paths import find_project, workspace_relative

    file, sep, qualname = target.partition("::")
    path = Path(file)
    if path.exists():
        file = workspace_relative(path, find_project([path]))
    return f"{file}{sep}{qualname}"


@labtech.command("forget")
@click.argument("change_id", required=False)
@click.option("--fix", default=None, metavar="NAME", help="The fix whose bar to lift (with --target).")
@click.option("--target", default=None, metavar="T", help="PATH or PATH::QUALNAME the fix was rolled back on.")
def forget_cmd(change_id: str | None, fix: str | None, target: str | None) -> int:
    """Let a rolled-back fix be tried again (by CHANGE_ID, or every one of --fix NAME on --target T)."""
    from astroagent.labtech import Ledger
    from astroagent.paths import data_dir

    if bool(change_id) == bool(fix or target):
        raise UsageError("give a CHANGE_ID, or --fix NAME with --target T (one of them)")
    if not change_id and not (fix and target):
        raise UsageError("--fix and --target go together: --fix NAME --target PATH[::QUALNAME]")
    ledger = Ledger(data_dir())
    changes = ledger.barring(change_id=change_id, fix=fix, target=_target_key(target) if target else None)
    lifted = ledger.forget(changes)
    for change in changes:
        state = "may be tried again" if change in lifted else "was already forgotten"
        click.echo(f"{change.id}: {change.fix} on {change.target} {state}")
    return 0
