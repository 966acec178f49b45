"""Undo a change the Lab Technician made, from its backup — and only if nobody edited the file since.

A rollback is written like any change (journal, atomic replace, ledger), and refuses with one
line when the file's sha256 is not the one the Lab Technician left, unless forced.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from astroagent.errors import RollbackFailed
from astroagent.labtech.changes.apply import journaled_write, sha256_bytes, sha256_file
from astroagent.labtech.changes.ledger import Ledger
from astroagent.telemetry.writer import utcnow

__all__ = ["rollback_change", "rollback_last"]


def _later_change_on(ledger: Ledger, change: dict[str, Any], current_sha: str | None) -> str | None:
    for other in ledger.history():
        if other["id"] != change["id"] and other.get("file") == change.get("file") \
                and other.get("status") == "applied" and other.get("sha_after") == current_sha:
            return other["id"]
    return None


def rollback_change(change_id: str, *, data_dir: Path, workspace: Path, force: bool = False,
                    reason: str = "rolled back on request", verdict_evidence: dict[str, Any] | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Restore the file of ``change_id`` from its backup; returns the change as now recorded."""
    ledger = Ledger(data_dir)
    change = ledger.get(change_id)
    if change is None:
        raise RollbackFailed(f"no change {change_id!r} in the ledger ({ledger.path})")
    if change.get("status") != "applied":
        raise RollbackFailed(f"{change_id} is {change.get('status')}, not applied; nothing to roll back")
    backup = Path(change.get("backup") or "")
    if not change.get("backup") or not backup.is_file():
        raise RollbackFailed(f"{change_id}: its backup {change.get('backup') or '(none made)'} is missing")
    old_bytes = backup.read_bytes()
    if sha256_bytes(old_bytes) != change.get("sha_before"):
        raise RollbackFailed(f"{change_id}: the backup {backup.name} does not match the file as it was")
    target = Path(workspace) / change["file"]
    current = sha256_file(target)
    if current is None:
        raise RollbackFailed(f"{change['file']} no longer exists in {workspace}")
    if current != change.get("sha_after") and not force:
        later = _later_change_on(ledger, change, current)
        why = f"{later} changed it later (roll that back first)" if later else "it was edited by someone else"
        raise RollbackFailed(f"{change['file']} is not as the Lab Technician left it after {change_id}: "
                             f"{why}; use --force to overwrite")
    stamp = (now or utcnow()).isoformat()
    fields: dict[str, Any] = {"status": "rolled_back", "verdict": "rolled_back", "reason": reason,
                              "rolled_back_at": stamp}
    if verdict_evidence is not None:
        fields["verdict_evidence"] = verdict_evidence
    lines = [{"event": "update", "event_id": uuid.uuid4().hex, "id": change_id, "updated_at": stamp, **fields}]
    package = change.get("package")
    journaled_write(target, old_bytes, data_dir=data_dir, workspace=workspace, expect_sha=current,
                    ledger_lines=lines, package=package if package and (Path(workspace) / package).is_dir() else None)
    return ledger.get(change_id) or change


def rollback_last(*, data_dir: Path, workspace: Path, force: bool = False,
                  reason: str = "rolled back on request", now: datetime | None = None) -> dict[str, Any]:
    """Roll back the most recent change still in place."""
    last = Ledger(data_dir).last_applied()
    if last is None:
        raise RollbackFailed("no applied change to roll back")
    return rollback_change(last["id"], data_dir=data_dir, workspace=workspace, force=force, reason=reason, now=now)
