"""``astroagent labtech approve ID | reject ID [--why TEXT]``: a person's decision on a waiting change
(approval mode, ``lab_technician.approval: manual``)."""

from __future__ import annotations

import click

from astroagent.cli.labtech import labtech
from astroagent.errors import UsageError

__all__ = ["approve_cmd", "reject_cmd"]


@labtech.command("approve")
@click.argument("change_id")
def approve_cmd(change_id: str) -> int:
    """Apply a change awaiting approval (refused when its file changed since, or it no longer validates)."""
    from astroagent.config import load_config
    from astroagent.labtech import approve_change
    from astroagent.paths import data_dir, find_workspace

    workspace = find_workspace()
    if workspace is None:
        raise UsageError("no workspace (a folder with astroagent.yaml) found; run inside one or set ASTROAGENT_WORKSPACE")
    change = approve_change(change_id, data_dir=data_dir(workspace), workspace=workspace,
                            config=load_config(workspace), by="cli")
    click.echo(f"approved and applied {change['id']} ({change.get('fix')} on {change.get('target')}); "
               f"code version {change.get('code_version_after') or '?'}, verdict pending")
    return 0


@labtech.command("reject")
@click.argument("change_id")
@click.option("--why", default=None, help="Why not, for the ledger.")
def reject_cmd(change_id: str, why: str | None) -> int:
    """Refuse a change awaiting approval; nothing is touched."""
    from astroagent.labtech import reject_change
    from astroagent.paths import data_dir, find_workspace

    change = reject_change(change_id, data_dir=data_dir(find_workspace()), why=why, by="cli")
    click.echo(f"rejected {change['id']} ({change.get('fix')} on {change.get('target')}): {change.get('reason')}")
    return 0
