"""Incremental, tolerant ingest of execution logs into persisted per-hour aggregates.

Each log file has a checkpoint (device+inode, size, offset, a hash of its head) in
``analysis_state.json``; a run reads only bytes past the offset, up to the last whole line.
A file whose head changed or that shrank was replaced or truncated and is read afresh.
What was read lives on as per-hour aggregates, so any window can be analysed without
re-reading: a run with nothing new costs a state load and a few ``stat`` calls.

Large ranges go to DuckDB (``_duck``), small ones and hosts without duckdb to the
pure-Python engine (``_batch``); both implement the same rules.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from astroagent.labtech.analysis import _duck
from astroagent.labtech.analysis._absorb import carry_absorbed
from astroagent.labtech.analysis._batch import Batch, parse_range
from astroagent.labtech.analysis._hours import ErrorEvent, HourRow, hour_of, hours_from_doc, hours_to_doc
from astroagent.labtech.analysis._metrics_files import regular_files, scan_metrics
from astroagent.labtech.analysis._state_dir import HOURS_FILE, migrate, state_file
from astroagent.atomic import atomic_write_bytes

__all__ = ["STATE_FILE", "HOURS_FILE", "IngestResult", "ingest", "load_state", "load_hours", "scan_metrics",
           "DUCKDB_MIN_BYTES", "Engine"]

STATE_FILE = "analysis_state.json"
STATE_FORMAT = 2   # 2: failure runs counted call by call, carried as [n, first, last]
DUCKDB_MIN_BYTES = 8 * 1024 * 1024   # below this the Python engine wins (duckdb import + setup ~0.2 s)
RECENT_CLOSED = 20_000
GROUP_BYTES = 256 * 1024 * 1024    # whole files read by one DuckDB query at most: memory stays bounded
_HEAD = 512
Engine = Literal["auto", "duckdb", "python"]


@dataclass
class IngestResult:
    state: dict[str, Any]
    files_read: int = 0
    bytes_read: int = 0
    new_events: int = 0
    new_malformed: int = 0
    engines: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    changed: bool = False
    hours_changed: bool = False


def _empty_state(log_dir: Path) -> dict[str, Any]:
    return {"format": STATE_FORMAT, "log_dir": str(log_dir), "generation": 0, "hours_stat": None, "files": {},
            "open": {}, "closed": {}, "streak": {}, "metrics": {}, "hours": {}}


def load_state(state_dir: Path, log_dir: Path, *, with_hours: bool = True) -> dict[str, Any]:
    """The persisted state for ``log_dir``; unreadable, foreign or old states start afresh.

    Checkpoints live in ``analysis_state.json``; the per-hour aggregates (the bulk) in
    ``state/analysis_hours.json``, read only when needed (``load_hours``).
    """
    try:
        state = orjson.loads((state_dir / STATE_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return _empty_state(log_dir)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or state.get("log_dir") != str(log_dir):
        return _empty_state(log_dir)
    try:
        st = os.stat(state_file(state_dir, HOURS_FILE))
        same = state.get("hours_stat") == [st.st_size, st.st_mtime_ns]
    except OSError:
        same = False
    if not same:  # aggregates lost or out of step with the checkpoints: read every file again
        return _empty_state(log_dir)
    state["hours"] = None
    if with_hours:
        load_hours(state, state_dir)
    return state


def load_hours(state: dict[str, Any], state_dir: Path) -> dict[str, HourRow]:
    """The per-hour aggregates of ``state`` (loaded on first use; a mismatch starts afresh)."""
    if state.get("hours") is not None:
        return state["hours"]
    try:
        doc = orjson.loads(state_file(state_dir, HOURS_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        doc = None
    ok = isinstance(doc, dict) and doc.get("generation") == state.get("generation") and isinstance(doc.get("hours"), dict)
    state["hours"] = hours_from_doc(doc["hours"]) if ok else {}
    return state["hours"]


def _save_state(state_dir: Path, state: dict[str, Any], hours_changed: bool) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    if hours_changed:
        state["generation"] = state.get("generation", 0) + 1
        hours_path = state_file(state_dir, HOURS_FILE)
        atomic_write_bytes(hours_path,
                           orjson.dumps({"generation": state["generation"], "hours": hours_to_doc(state["hours"])}))
        st = os.stat(hours_path)
        state["hours_stat"] = [st.st_size, st.st_mtime_ns]
        state["hour_keys"] = sorted(int(k) for k in state["hours"])
    small = {k: v for k, v in state.items() if k != "hours"}
    atomic_write_bytes(state_dir / STATE_FILE, orjson.dumps(small))


def _head_hash(path: Path, size: int) -> tuple[str, int]:
    n = min(size, _HEAD)
    with open(path, "rb") as fh:
        return hashlib.blake2b(fh.read(n), digest_size=8).hexdigest(), n


def _last_newline(path: Path, start: int, size: int) -> int:
    """Offset just past the last newline in ``path[start:size]``; ``start`` when there is none."""
    with open(path, "rb") as fh:
        pos = size
        block = 1 << 16
        while pos > start:
            lo = max(start, pos - block)
            fh.seek(lo)
            chunk = fh.read(pos - lo)
            idx = chunk.rfind(b"\n")
            if idx != -1:
                return lo + idx + 1
            pos = lo
            block = min(block * 4, 1 << 24)
    return start


def _hour(hours: dict[str, HourRow], key: str) -> HourRow:
    row = hours.get(key)
    if row is None:
        row = hours[key] = HourRow()
    return row


def _apply(state: dict[str, Any], batch: Batch, now_ts: float) -> None:
    """Fold one batch into the state: hours, open executions, duplicates, absorbed failures, failure streaks."""
    hours = state["hours"]
    for key, row in batch.hours.items():
        mine = hours.get(key)
        if mine is None:
            hours[key] = row
        else:
            mine.merge(row)
    if batch.last_ts is not None:
        state["last_ts"] = max(state.get("last_ts") or batch.last_ts, batch.last_ts)
    mark = hour_of(batch.last_ts if batch.last_ts is not None else now_ts)
    if batch.malformed:
        _hour(hours, mark).malformed += batch.malformed
    _resolve(state, batch)
    carry_absorbed(state, batch)
    _join_runs(state, batch)


def _resolve(state: dict[str, Any], batch: Batch) -> None:
    """Executions this batch saw only part of: opened (kept open), closed (counted, once), or errored."""
    hours, opened, closed = state["hours"], state["open"], state["closed"]
    for rec in batch.pending:
        if rec.start_ts is not None:  # opened here, closes later
            if rec.eid in closed:
                continue
            old = opened.get(rec.eid)
            if old is None or rec.start_ts < old[0]:
                opened[rec.eid] = [rec.start_ts, rec.version, bool(rec.exec_error or (old and old[2]))]
            continue
        if rec.close_ts is None:  # only an execution_error here
            if rec.exec_error and rec.eid in opened:
                opened[rec.eid][2] = True
            continue
        if rec.eid in closed:
            continue  # a duplicated closing event
        start = opened.pop(rec.eid, None)
        failed = int(rec.success is False or rec.exec_error or bool(start and start[2]))
        if start is not None:
            duration = rec.duration if rec.duration is not None else rec.close_ts - start[0]
            _hour(hours, hour_of(start[0])).version(start[1] or "unknown").add_execution(
                start[0], failed=failed, duration=duration, last_ts=start[0])
        else:
            _hour(hours, hour_of(rec.close_ts)).version("unknown").add_execution(
                rec.close_ts, failed=failed, duration=rec.duration)
        closed[rec.eid] = rec.close_ts
    for eid, close_ts in batch.closed_ids:
        closed[eid] = close_ts


def _join_runs(state: dict[str, Any], batch: Batch) -> None:
    """Failure runs continue across reads: the run open at the end of the last read joins this one's lead."""
    hours, streak = state["hours"], state["streak"]
    for method, (lead, best, trail, any_ok) in batch.streaks.items():
        n0, first0, last0 = streak.get(method) or (0, None, None)
        joined = (n0 + lead[0], first0 if n0 else lead[1], lead[2] if lead[0] else last0)
        for run in (joined, best):
            if run[0]:
                _hour(hours, hour_of(run[2])).record_run(method, run)
        carry = trail if any_ok else joined
        if carry[0]:
            streak[method] = list(carry)
        else:
            streak.pop(method, None)


def _expire(state: dict[str, Any], now_ts: float, timeout: float) -> bool:
    """Executions never closed within ``timeout`` seconds are failures (a crash or a hang)."""
    expired = [eid for eid, (start, _v, _e) in state["open"].items() if now_ts - start > timeout]
    for eid in expired:
        start, version, _ = state["open"].pop(eid)
        hour = _hour(state["hours"], hour_of(start))
        hour.version(version or "unknown").add_execution(start, failed=True, duration=None)
        hour.add_error(ErrorEvent(version or "unknown", "execution", "ExecutionNotClosed",
                                  f"no execution_complete within {timeout:g} s (crash or hang)", start, start,
                                  examples=[f"execution {eid} never closed"]))
        state["closed"][eid] = now_ts
    return bool(expired)


def _prune(state: dict[str, Any], now_ts: float, retention_hours: float) -> None:
    oldest = math.floor(now_ts / 3600) - math.ceil(retention_hours)
    for key in [k for k in state["hours"] if int(k) < oldest]:
        del state["hours"][key]
    closed = state["closed"]
    if len(closed) > RECENT_CLOSED:
        keep = sorted(closed.items(), key=lambda kv: kv[1])[-RECENT_CLOSED:]
        state["closed"] = dict(keep)


def _read(jobs: list[tuple[Path, int, int]], state: dict[str, Any], engine: Engine,
          result: IngestResult, now_ts: float) -> Batch:
    """One batch from one range, or from several whole files read by DuckDB in one go."""
    open_versions = {eid: rec[1] for eid, rec in state["open"].items()}
    size = sum(end - start for _, start, end in jobs)
    use_duck = engine == "duckdb" or (engine == "auto" and size >= DUCKDB_MIN_BYTES)
    if use_duck and _duck.available():
        try:
            if len(jobs) == 1:
                path, start, end = jobs[0]
                batch = _duck.parse_range_duckdb(path, start, end, open_versions)
            else:
                batch = _duck.parse_range_duckdb([p for p, _, _ in jobs], 0, 0, open_versions)
            result.engines["duckdb"] = result.engines.get("duckdb", 0) + len(jobs)
            return batch
        except Exception as exc:  # noqa: BLE001 - any engine failure falls back to the reference engine
            result.notes.append(f"DuckDB could not read {jobs[0][0].name} ({type(exc).__name__}); used Python")
    if len(jobs) > 1:  # the Python engine reads one range at a time
        batch = Batch()
        for job in jobs:
            part = _read([job], state, "python", result, now_ts)
            _apply(state, part, now_ts)
            batch.events += part.events
            batch.malformed += part.malformed
        batch.applied = True
        return batch
    result.engines["python"] = result.engines.get("python", 0) + 1
    path, start, end = jobs[0]
    return parse_range(path, start, end, open_versions)


def _groups(jobs: list[tuple[Path, int, int, int]], engine: Engine) -> list[list[tuple[Path, int, int]]]:
    """Consecutive whole-file jobs share one DuckDB read (parallel, one plan) up to GROUP_BYTES."""
    groups: list[list[tuple[Path, int, int]]] = []
    current: list[tuple[Path, int, int]] = []
    total = 0
    for path, start, end, size in jobs:
        whole = start == 0 and end == size and engine != "python" and _duck.available()
        if whole and current and total + end <= GROUP_BYTES:
            current.append((path, start, end))
            total += end
            continue
        if current:
            groups.append(current)
        current, total = [(path, start, end)], end - start
        if not whole:
            groups.append(current)
            current, total = [], 0
    if current:
        groups.append(current)
    return groups


def _new_ranges(log_dir: Path, state: dict[str, Any], result: Any,
                listing: Iterable[tuple[Path, os.stat_result]] | None = None) -> list[tuple[Path, int, int, int]]:
    """``(path, start, end, size)`` of the whole lines each log file (``listing``, default its
    ``execution_*.jsonl``) gained since its checkpoint; the checkpoints move on, and files gone from
    the folder lose theirs. ``result`` takes ``notes`` and ``changed`` (the span reader's too)."""
    files = state["files"]
    seen: set[str] = set()
    jobs: list[tuple[Path, int, int, int]] = []
    for path, st in listing if listing is not None else regular_files(log_dir, "execution_*.jsonl", result.notes):
        name = path.name
        seen.add(name)
        cp = files.get(name)
        if cp is not None and cp["size"] == st.st_size and cp["ino"] == st.st_ino and cp["dev"] == st.st_dev \
                and cp["mtime_ns"] == st.st_mtime_ns:
            continue  # unchanged since the last run: not even opened
        try:
            head, head_n = _head_hash(path, st.st_size)
            start = 0
            if cp is not None and st.st_size >= cp["offset"] and head_n >= cp["head_n"] and (
                    head_n == cp["head_n"] and head == cp["head"]
                    or _head_hash(path, cp["head_n"])[0] == cp["head"]):
                start = cp["offset"]
            elif cp is not None:
                result.notes.append(f"{name}: replaced or truncated since the last run, read afresh")
            end = _last_newline(path, start, st.st_size)
        except OSError as exc:
            result.notes.append(f"{name}: unreadable ({exc.strerror or exc}), skipped")
            continue
        if end > start:
            jobs.append((path, start, end, st.st_size))
        files[name] = {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                       "offset": end, "head": head, "head_n": head_n}
        result.changed = True
    for name in [n for n in files if n not in seen]:
        del files[name]
        result.changed = True
    return jobs


def ingest(log_dir: Path, state_dir: Path, *, now: datetime | None = None, execution_timeout: float = 900.0,
           retention_hours: float = 14 * 24, engine: Engine = "auto") -> IngestResult:
    """Read what is new in ``log_dir``, fold it into the state in ``state_dir``, save, return it."""
    log_dir, state_dir = Path(log_dir), Path(state_dir)
    now_ts = (now or datetime.now(UTC)).timestamp()
    notes = migrate(state_dir)   # an earlier release kept the aggregates beside the checkpoints
    state = load_state(state_dir, log_dir, with_hours=False)
    result = IngestResult(state=state, notes=notes)
    jobs = _new_ranges(log_dir, state, result)
    expiring = any(now_ts - rec[0] > execution_timeout for rec in state["open"].values())
    if jobs or expiring:
        load_hours(state, state_dir)
        result.hours_changed = True
    for group in _groups(jobs, engine):
        try:
            batch = _read(group, state, engine, result, now_ts)
        except OSError as exc:
            result.notes.append(f"{group[0][0].name}: unreadable ({exc.strerror or exc}), skipped")
            continue
        if not batch.applied:
            _apply(state, batch, now_ts)
        result.files_read += len(group)
        result.bytes_read += sum(end - start for _, start, end in group)
        result.new_events += batch.events
        result.new_malformed += batch.malformed
    scan_metrics(log_dir, state, result)
    if result.hours_changed and _expire(state, now_ts, execution_timeout):
        result.changed = True
    if result.changed:
        if result.hours_changed:  # retention counts back from the newest event when the logs are stale
            _prune(state, min(now_ts, state.get("last_ts") or now_ts), retention_hours)
        try:
            _save_state(state_dir, state, result.hours_changed)
        except OSError as exc:
            result.notes.append(f"could not save {STATE_FILE}: {exc.strerror or exc}")
    return result
