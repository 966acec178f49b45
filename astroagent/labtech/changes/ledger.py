"""The ledger: every change the Lab Technician made or proposed, its evidence, diff and verdict.

An append-only JSON-lines file (``data/logs/lab_technician/ledger.jsonl``): a ``change`` line
records a change, ``update`` lines record later state (verdict, rollback). Each line is one
``os.write`` on an ``O_APPEND`` descriptor followed by ``fsync``, so a kill loses at most the line
being written and never corrupts the ones before; a torn last line is skipped when read.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from pydantic import ValidationError

from astroagent.errors import UsageError
from astroagent.labtech.changes.record import STATUSES, VERDICTS, Change
from astroagent.paths import lab_technician_dir
from astroagent.telemetry.writer import utcnow

__all__ = ["Ledger", "Change", "new_change_id", "bar_note", "LEDGER_FILE", "STATUSES", "VERDICTS", "BARRING"]

LEDGER_FILE = "ledger.jsonl"
BARRING = ("applied", "rolled_back", "awaiting_approval")   # the statuses that bar the same fix again
_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def new_change_id() -> str:
    return f"chg-{uuid.uuid4().hex[:8]}"


def bar_note(change: Change, fix: str, target: str | None, method: str | None) -> str:
    """Why ``fix`` is not tried on ``target`` again, naming fix, target and method (and how to lift the bar)."""
    what = f"{fix} on {target}" + (f" (method {method})" if method else "")
    if change.status == "awaiting_approval":
        return f"{what} awaits approval as {change.id}; not proposed twice"
    if change.status == "applied":
        return f"{what} was tried before: {change.id} is in place; not again"
    why = change.verdict_reason or change.reason
    return (f"{what} was tried before and rolled back ({change.id}" + (f": {why}" if why else "")
            + f"); not again until `astroagent labtech forget {change.id}`")


def _iso(stamp: datetime | None) -> str:
    return (stamp or utcnow()).isoformat().replace("+00:00", "Z")


def _rejected_by_a_person(change: Change) -> bool:
    return change.status == "rejected" and bool(change.rejected_by)


def _liftable(change: Change) -> bool:
    """What ``labtech forget`` lifts: a rollback, or a person's rejection."""
    return change.status == "rolled_back" or _rejected_by_a_person(change)


def _bars(change: Change) -> bool:
    return not change.forgotten and (change.status in BARRING or _rejected_by_a_person(change))


class Ledger:
    """Reads and appends ``ledger.jsonl`` below ``data_dir``; every query folds the whole file."""

    def __init__(self, data_dir: Path):
        self.path = lab_technician_dir(Path(data_dir)) / LEDGER_FILE

    # ---- writing -------------------------------------------------------------------------------
    def _append(self, line: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = orjson.dumps(line, default=str, option=_OPTS | orjson.OPT_APPEND_NEWLINE)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                payload = b"\n" + payload        # a torn line from a kill stays isolated
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def record_change(self, record: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """Append a new change (needs ``id``); returns the record as stored."""
        if not record.get("id"):
            raise ValueError("a ledger change needs an id")
        line = {"event": "change", "event_id": event_id or uuid.uuid4().hex, **record}
        line.setdefault("created_at", _iso(None))
        line.setdefault("updated_at", line["created_at"])
        self._append(line)
        return record

    def update(self, change_id: str, *, event_id: str | None = None, now: datetime | None = None,
               **fields: Any) -> None:
        """Append new values for some fields of a change (status, verdict, evidence, …)."""
        self._append({"event": "update", "event_id": event_id or uuid.uuid4().hex, "id": change_id,
                      "updated_at": _iso(now), **fields})

    def append_event(self, line: dict[str, Any]) -> None:
        """Append a line prepared earlier (what the apply journal replays after a crash)."""
        self._append(line)

    # ---- reading -------------------------------------------------------------------------------
    def _lines(self) -> Iterable[dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        for chunk in raw.split(b"\n"):
            if not chunk.strip():
                continue
            try:
                line = orjson.loads(chunk)
            except orjson.JSONDecodeError:
                continue
            if isinstance(line, dict) and isinstance(line.get("id"), str):
                yield line

    def _fold(self) -> tuple[dict[str, dict[str, Any]], set[str]]:
        changes: dict[str, dict[str, Any]] = {}
        events: set[str] = set()
        for line in self._lines():
            if line.get("event_id") in events:
                continue                       # a replayed line after recovery counts once
            events.add(line.get("event_id", ""))
            fields = {k: v for k, v in line.items() if k not in ("event", "event_id")}
            if line.get("event") == "change":
                changes[line["id"]] = fields
            elif line.get("event") == "update" and line["id"] in changes:
                changes[line["id"]].update(fields)
        return changes, events

    def changes(self) -> list[Change]:
        """Every change, oldest first, with its current state, typed (a record that no longer
        validates is skipped rather than failing every reader)."""
        out = []
        for fields in self._fold()[0].values():
            try:
                out.append(Change.model_validate(fields))
            except ValidationError:
                continue
        return out

    def history(self) -> list[dict[str, Any]]:
        """Every change, oldest first, as JSON-ready dicts (``Change.as_dict``)."""
        return [change.as_dict() for change in self.changes()]

    def get(self, change_id: str) -> dict[str, Any] | None:
        change = self.find(change_id)
        return change.as_dict() if change is not None else None

    def find(self, change_id: str) -> Change | None:
        return next((c for c in self.changes() if c.id == change_id), None)

    def has_event(self, event_id: str) -> bool:
        return event_id in self._fold()[1]

    def bar(self, signature: str | None, fix: str | None) -> Change | None:
        """The change that bars ``fix`` for ``signature``: one in place or awaiting approval (never
        twice the same fix), one rolled back (by a verdict or by hand), or one a person rejected on
        review — each until forgotten. A refusal by the guard or validation, or a dry run, bars
        nothing: the next run may try again."""
        for change in reversed(self.changes()):
            if change.signature == signature and change.fix == fix and _bars(change):
                return change
        return None

    def already_tried(self, signature: str | None, fix: str | None) -> bool:
        return self.bar(signature, fix) is not None

    def barring(self, *, change_id: str | None = None, fix: str | None = None,
                target: str | None = None) -> list[Change]:
        """The rolled-back changes ``forget`` would lift: ``change_id``, or every one of ``fix`` on
        ``target`` (``path::qualname`` or a file). UsageError when none matches, saying why."""
        changes = self.changes()
        if change_id is not None:
            found = next((c for c in changes if c.id == change_id), None)
            if found is None:
                raise UsageError(f"no change {change_id!r} in the ledger ({self.path})")
            if not _liftable(found):
                raise UsageError(f"{change_id} is {found.status}, not rolled back or rejected on review: "
                                 "it bars nothing")
            return [found]
        hits = [c for c in changes if _liftable(c) and c.fix == fix and target in (c.target, c.file)]
        if not hits:
            raise UsageError(f"no rolled-back {fix} on {target} in the ledger (labtech history lists the changes)")
        return hits

    def forget(self, changes: Iterable[Change], *, now: datetime | None = None) -> list[Change]:
        """Lift the bar of each rolled-back change (an update line ``forgotten: true``); the ones it lifted."""
        lifted = [c for c in changes if not c.forgotten]
        for change in lifted:
            self.update(change.id, forgotten=True, forgotten_at=_iso(now), now=now)
        return lifted

    def last_applied(self) -> dict[str, Any] | None:
        """The most recent change still in place."""
        applied = [c for c in self.changes() if c.status == "applied"]
        return applied[-1].as_dict() if applied else None

    def pending(self) -> list[dict[str, Any]]:
        """Applied changes still waiting for a verdict."""
        return [c.as_dict() for c in self.changes() if c.status == "applied" and c.verdict == "pending"]

    def version_updates(self, package: str | None, version: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """Update lines telling every change still in ``package`` that ``version`` contains it
        (verdicts judge a change on every code version that includes it)."""
        lines = []
        for change in self.changes():
            if change.status != "applied" or change.package != package:
                continue
            versions = list(change.code_versions_after)
            if version not in versions:
                lines.append({"event": "update", "event_id": uuid.uuid4().hex, "id": change.id,
                              "code_versions_after": [*versions, version], "updated_at": _iso(now)})
        return lines
