"""Change a file so that a kill at any instant leaves it wholly old or wholly new (DESIGN §5 rule 4).

    backup (atomic) → journal intent (atomic, fsynced) → temp file beside the target (fsync)
    → os.replace → fsync folder → ledger lines → journal cleared

``recover()`` runs at every start: with a journal left behind it removes the temp file, and
when the target already holds the new content it writes the ledger lines the crash cut off;
otherwise the target is still old and the intent is dropped. ``ASTROAGENT_CRASH_AT=<point>``
makes the process ``os._exit`` at a named point, so tests can kill it exactly there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from astroagent.atomic import atomic_write_bytes, fsync_dir
from astroagent.errors import AstroAgentError, PatchRejected
from astroagent.labtech.changes.ledger import Ledger
from astroagent.paths import lab_technician_dir
from astroagent.telemetry.code_version import workspace_code_version
from astroagent.telemetry.writer import utcnow

__all__ = [
    "sha256_bytes",
    "sha256_file",
    "atomic_replace",
    "backup_file",
    "journaled_write",
    "apply_recorded_change",
    "recover",
    "labtech_lock",
    "journal_path",
    "TMP_SUFFIX",
    "CRASH_ENV",
]

TMP_SUFFIX = ".astroagent-tmp"
CRASH_ENV = "ASTROAGENT_CRASH_AT"
JOURNAL_FILE = "journal.json"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(77)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    try:
        return sha256_bytes(Path(path).read_bytes())
    except FileNotFoundError:
        return None


def journal_path(data_dir: Path) -> Path:
    return lab_technician_dir(Path(data_dir)) / JOURNAL_FILE


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def atomic_replace(path: Path, data: bytes, *, mode: int | None = None, crash_prefix: str | None = None) -> None:
    """``atomic_write_bytes`` through this module's fixed temp name (so ``recover`` finds a stray one),
    with the crash points ``<crash_prefix>_tmp_half`` / ``_tmp_written`` / ``_replaced`` for tests."""
    path = Path(path)
    step = (lambda name: _crash_point(f"{crash_prefix}_{name}")) if crash_prefix else None
    atomic_write_bytes(path, data, mode=mode, tmp=_tmp_for(path), step=step)


def backup_file(path: Path, data_dir: Path, *, now: datetime | None = None) -> Path:
    """Copy ``path`` to ``backups/<name>_<timestamp>.py`` (never overwriting an earlier backup)."""
    path = Path(path)
    folder = lab_technician_dir(Path(data_dir)) / "backups"
    stamp = f"{(now or utcnow()):%Y%m%d_%H%M%S_%f}"
    backup = folder / f"{path.stem}_{stamp}{path.suffix}"
    n = 1
    while backup.exists():
        backup = folder / f"{path.stem}_{stamp}_{n}{path.suffix}"
        n += 1
    atomic_replace(backup, path.read_bytes(), mode=0o644, crash_prefix="backup")
    return backup


def _inside(path: Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def _write_ledger(data_dir: Path, workspace: Path, package: str | None, lines: list[dict[str, Any]]) -> str | None:
    """Append the journal's ledger lines (once each); lines marked ``fill_version`` get the code
    version of ``package`` as it is now on disk, and every change still in the package learns it."""
    ledger = Ledger(data_dir)
    version = workspace_code_version(workspace, package) if package else None
    for line in lines:
        if ledger.has_event(line.get("event_id", "")):
            continue
        if line.pop("fill_version", False) and version:
            line = {**line, "code_version_after": version, "code_versions_after": [version]}
        ledger.append_event(line)
        _crash_point("ledger_line_written")
    if version:
        for line in ledger.version_updates(package, version):
            ledger.append_event(line)
    return version


def journaled_write(target: Path, new_bytes: bytes, *, data_dir: Path, workspace: Path, expect_sha: str,
                    ledger_lines: list[dict[str, Any]], package: str | None = None) -> tuple[str, str | None]:
    """Replace ``target`` (inside ``workspace``) with ``new_bytes`` under a journal; append
    ``ledger_lines`` (each with an ``event_id``) once the file is new. Returns the new sha256 and
    the new code version of ``package`` (a folder relative to the workspace) when given."""
    target, workspace = Path(target), Path(workspace)
    if not _inside(target, workspace):
        raise PatchRejected(f"{target}: outside the workspace {workspace}; refusing to write")
    current = sha256_file(target)
    if current != expect_sha:
        raise PatchRejected(f"{target.name} changed on disk since it was read; nothing written")
    new_sha = sha256_bytes(new_bytes)
    journal = {
        "op": "write",
        "target": os.path.relpath(os.path.realpath(target), os.path.realpath(workspace)),
        "tmp": _tmp_for(target).name,
        "old_sha": current,
        "new_sha": new_sha,
        "ledger_lines": ledger_lines,
        "package": package,
        "started_at": utcnow().isoformat(),
        "pid": os.getpid(),
    }
    jpath = journal_path(data_dir)
    atomic_replace(jpath, orjson.dumps(journal, default=str), mode=0o644)
    _crash_point("journal_written")
    atomic_replace(target, new_bytes, crash_prefix="target")
    version = _write_ledger(data_dir, workspace, package, ledger_lines)
    jpath.unlink()
    fsync_dir(jpath.parent)
    _crash_point("journal_cleared")
    return new_sha, version


def apply_recorded_change(record: dict[str, Any], new_source: str, *, workspace: Path, data_dir: Path,
                          backup: bool = True, now: datetime | None = None) -> dict[str, Any]:
    """Back up ``record['file']``, write ``new_source`` over it and record the change in the ledger —
    as one journaled step. ``record`` needs ``id``, ``file`` (relative to the workspace),
    ``sha_before``; ``package`` names the folder whose code version the Experimenter reports."""
    target = Path(workspace) / record["file"]
    if sha256_file(target) != record["sha_before"]:
        raise PatchRejected(f"{record['file']} changed on disk since it was read; nothing written")
    new_bytes = new_source.encode("utf-8")
    stamp = (now or utcnow()).isoformat()
    full = {**record, "status": "applied", "verdict": "pending", "sha_after": sha256_bytes(new_bytes),
            "applied_at": stamp, "created_at": record.get("created_at", stamp), "updated_at": stamp,
            "backup": str(backup_file(target, data_dir, now=now)) if backup else None}
    line = {"event": "change", "event_id": uuid.uuid4().hex, "fill_version": True, **full}
    journaled_write(target, new_bytes, data_dir=data_dir, workspace=workspace, expect_sha=record["sha_before"],
                    ledger_lines=[line], package=record.get("package"))
    return Ledger(data_dir).get(record["id"]) or full


def recover(data_dir: Path, workspace: Path | None) -> tuple[str, ...]:
    """Finish or drop an interrupted write; returns what was done, in words (empty: nothing to do)."""
    jpath = journal_path(data_dir)
    notes: list[str] = []
    for stray in (_tmp_for(jpath), *(jpath.parent / "backups").glob(f".*{TMP_SUFFIX}")):
        if stray.exists():
            stray.unlink()                       # a backup or journal cut off before its rename
    if not jpath.exists():
        return ()
    try:
        journal = orjson.loads(jpath.read_bytes())
        rel, tmp_name = journal["target"], journal["tmp"]
        old_sha, new_sha, lines = journal["old_sha"], journal["new_sha"], journal.get("ledger_lines", [])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        aside = jpath.with_name(f"journal.corrupt-{int(time.time())}.json")
        os.replace(jpath, aside)
        return (f"recovery: unreadable journal moved to {aside.name}",)
    if workspace is None:
        return (f"recovery: an interrupted change to {rel} waits for its workspace; nothing done",)
    target = Path(workspace) / rel
    if not _inside(target, Path(workspace)):
        os.replace(jpath, jpath.with_name(f"journal.rejected-{int(time.time())}.json"))
        return (f"recovery: journal names {rel}, outside the workspace; ignored",)
    tmp = target.parent / tmp_name
    if tmp.exists():
        tmp.unlink()
        notes.append(f"recovery: removed the half-written {tmp.name}")
    current = sha256_file(target)
    if current == new_sha:
        missing = sum(not Ledger(data_dir).has_event(line.get("event_id", "")) for line in lines)
        _write_ledger(data_dir, Path(workspace), journal.get("package"), lines)
        notes.append(f"recovery: the change to {rel} was complete; {missing} missing ledger line(s) written")
    elif current == old_sha:
        notes.append(f"recovery: the change to {rel} never reached the file; it stays as it was")
    else:
        notes.append(f"recovery: {rel} matches neither side of the interrupted change; left untouched")
    if target.parent.exists():
        fsync_dir(target.parent)
    jpath.unlink()
    fsync_dir(jpath.parent)
    return tuple(notes)


@contextlib.contextmanager
def labtech_lock(data_dir: Path, *, wait: float = 30.0) -> Iterator[None]:
    """One Lab Technician changes code at a time (an advisory lock beside the ledger)."""
    folder = lab_technician_dir(Path(data_dir))
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AstroAgentError("another Lab Technician run is changing code; try again later") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)
