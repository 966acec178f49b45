"""Approval mode (``lab_technician.approval: manual``): a validated change waits for a person.

    improve: guard → validate → record_awaiting (ledger ``awaiting_approval`` + the proposed file)
    approve: the file still holds the bytes the change was computed from (sha_before) → guard and
             validate again → backup + journaled apply (as in auto mode) → ledger ``applied``
    reject:  ledger ``rejected`` with the person's reason; nothing touched

A change whose file was edited since it was computed is stale: approving it is refused (and
recorded as rejected, ``stale``), since applying it would overwrite that edit.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from astroagent.config.models import AstroAgentConfig
from astroagent.errors import PatchRejected, UsageError, ValidationFailed
from astroagent.labtech.changes.apply import apply_recorded_change, atomic_replace, labtech_lock, recover
from astroagent.labtech.changes.apply import sha256_bytes, sha256_file
from astroagent.labtech.changes.ledger import Ledger
from astroagent.paths import lab_technician_dir
from astroagent.telemetry import package_code_version
from astroagent.telemetry.writer import utcnow

__all__ = ["AWAITING", "proposal_path", "record_awaiting", "approve_change", "reject_change", "awaiting_changes"]

AWAITING = "awaiting_approval"
_PROPOSALS = "proposals"


def proposal_path(data_dir: Path, change_id: str) -> Path:
    """Where the proposed new version of a waiting change is kept (the ledger keeps its diff)."""
    return lab_technician_dir(Path(data_dir)) / _PROPOSALS / f"{change_id}.py"


def record_awaiting(record: dict[str, Any], new_source: str, *, data_dir: Path, reason: str) -> dict[str, Any]:
    """Keep the proposal, then record the change as waiting; nothing in the workspace is touched."""
    data = new_source.encode("utf-8")
    atomic_replace(proposal_path(data_dir, record["id"]), data, mode=0o644)
    record.update(status=AWAITING, verdict=None, reason=reason, sha_proposed=sha256_bytes(data))
    Ledger(data_dir).record_change(record)
    return record


def awaiting_changes(data_dir: Path) -> list[dict[str, Any]]:
    """Changes waiting for approval, oldest first."""
    return [c for c in Ledger(data_dir).history() if c.get("status") == AWAITING]


def _waiting(ledger: Ledger, change_id: str) -> dict[str, Any]:
    change = ledger.get(change_id)
    if change is None:
        raise UsageError(f"no change {change_id!r} in the ledger ({ledger.path})")
    if change.get("status") != AWAITING:
        raise UsageError(f"{change_id} is {change.get('status')}, not awaiting approval")
    return change


def _refuse(data_dir: Path, change: dict[str, Any], why: str, now: datetime | None, **fields: Any) -> None:
    Ledger(data_dir).update(change["id"], status="rejected", reason=why, verdict=None, **fields, now=now)
    proposal_path(data_dir, change["id"]).unlink(missing_ok=True)


def _proposal(data_dir: Path, change: dict[str, Any]) -> str:
    try:
        data = proposal_path(data_dir, change["id"]).read_bytes()
    except FileNotFoundError:
        raise PatchRejected(f"{change['id']}: its proposed version is missing; reject it") from None
    if sha256_bytes(data) != change.get("sha_proposed"):
        raise PatchRejected(f"{change['id']}: its proposed version was altered since it was validated; reject it")
    return data.decode("utf-8")


def _recheck(change: dict[str, Any], workspace: Path, new_source: str, config: AstroAgentConfig) -> str | None:
    """Guard and validation again, on the file as it is now: why not, or None."""
    from astroagent.labtech.changes.guard import check_change
    from astroagent.labtech.changes.validate import validate_change

    rel = change["file"]
    guard = check_change((workspace / rel).read_text(encoding="utf-8"), new_source, path=rel, workspace=workspace)
    if not guard.ok:
        return "guard: " + "; ".join(guard.violations)
    safety = config.lab_technician.safety_constraints
    if not safety.require_validation:
        return None
    result = validate_change(workspace, rel, new_source, test_command=config.lab_technician.test_command,
                             import_timeout=safety.import_timeout_seconds, test_timeout=safety.test_timeout_seconds,
                             require_tests=safety.require_tests)
    return None if result.ok else f"validation failed ({result.stage}): {result.detail}"


def approve_change(change_id: str, *, data_dir: Path, workspace: Path, config: AstroAgentConfig,
                   by: str = "cli", now: datetime | None = None) -> dict[str, Any]:
    """Apply a waiting change after checking it is still current and still valid; the change as stored."""
    data_dir, workspace = Path(data_dir), Path(workspace).resolve()
    ledger = Ledger(data_dir)
    with labtech_lock(data_dir):
        recover(data_dir, workspace)
        change = _waiting(ledger, change_id)
        new_source = _proposal(data_dir, change)
        rel = change["file"]
        if sha256_file(workspace / rel) != change.get("sha_before"):
            why = (f"stale: {rel} changed since the change was computed (its bytes are not the ones the "
                   "diff was made from); nothing applied")
            _refuse(data_dir, change, why, now, stale=True)
            raise PatchRejected(f"{change_id}: {why}")
        problem = _recheck(change, workspace, new_source, config)
        if problem:
            _refuse(data_dir, change, f"approved but not applied: {problem}", now)
            raise ValidationFailed(f"{change_id}: {problem}; nothing applied")
        record = {k: v for k, v in change.items() if k not in ("status", "verdict", "updated_at")}
        package = change.get("package")
        version = package_code_version(workspace / package) if package and (workspace / package).is_dir() else None
        if version and version != change.get("code_version_before"):
            record.update(code_version_before=version, baseline=None)   # the code moved on since
        record.update(approved_at=(now or utcnow()).isoformat(), approved_by=by)
        stored = apply_recorded_change(record, new_source, workspace=workspace, data_dir=data_dir,
                                       backup=config.lab_technician.backup_before_changes, now=now)
        proposal_path(data_dir, change_id).unlink(missing_ok=True)
    return stored


def reject_change(change_id: str, *, data_dir: Path, why: str | None = None, by: str = "cli",
                  now: datetime | None = None) -> dict[str, Any]:
    """Record a person's no; the workspace is not touched (so no lock: a running Lab Technician
    never makes a person wait for it to say no)."""
    ledger = Ledger(data_dir)
    change = _waiting(ledger, change_id)
    reason = f"rejected on review: {why.strip()}" if why and why.strip() else "rejected on review"
    _refuse(Path(data_dir), change, reason, now, rejected_by=by, rejected_at=(now or utcnow()).isoformat())
    return ledger.get(change_id) or change
