"""The supervisor's own record of each execution's outcome, kept apart from the agent's events.

    <data>/logs/<agent>/outcomes_YYYYMMDD.jsonl      one JSON object a line, UTC date of recording

The supervisor (another process than the code being judged) writes one line per execution: what
the worker call returned or how it failed, whether the result files it expects are on disk, and
what the agent's own events claimed. Verdicts count executions from this record where it exists,
and an execution whose events disagree with it is tampering (docs/log-format.md, "Outcomes").

    recorder = OutcomeRecorder(data_dir, "experimenter", expect_results=True)
    record = recorder.settle(execution_id=..., code_version=..., success=True, failure_kind=None,
                             duration=1.2, error=None, project_id="...", tampering=())
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from astroagent.atomic import append_whole
from astroagent.telemetry.writer import epoch_seconds, utcnow

__all__ = ["OutcomeRecorder", "outcome_file_name", "read_outcomes", "events_view", "results_problem",
           "OUTCOMES_GLOB", "RECORDED_BY"]

OUTCOMES_GLOB = "outcomes_*.jsonl"
RECORDED_BY = "supervisor"
_TAIL_BYTES = 1024 * 1024
_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE


def outcome_file_name(day: datetime) -> str:
    return f"outcomes_{day:%Y%m%d}.jsonl"


def results_problem(data_dir: Path, project_id: Any, execution_id: str) -> str | None:
    """Why ``<data>/projects/<project>/results.json`` is not this execution's result, or None."""
    if not isinstance(project_id, str) or not project_id or Path(project_id).name != project_id \
            or project_id in (".", ".."):
        return f"no usable project id ({project_id!r}) to find the results by"
    path = Path(data_dir) / "projects" / project_id / "results.json"
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return f"projects/{project_id}/results.json is missing"
    except (OSError, orjson.JSONDecodeError) as exc:
        return f"projects/{project_id}/results.json is unreadable ({type(exc).__name__})"
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        return f"projects/{project_id}/results.json holds no results"
    if document.get("execution_id") != execution_id:
        return f"projects/{project_id}/results.json was written by execution {document.get('execution_id')!r}"
    return None


def events_view(log_dir: Path, execution_id: str, *, tail_bytes: int = _TAIL_BYTES) -> str:
    """What the agent's own events say about an execution that just ended: ``success``, ``failure``,
    ``conflicting`` (closed both ways) or ``missing`` (never closed in the recent log)."""
    needle = execution_id.encode()
    claims: set[bool] = set()
    for path in sorted(Path(log_dir).glob("execution_*.jsonl"))[-2:]:
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - tail_bytes))
                chunk = handle.read()
        except OSError:
            continue
        for line in chunk.split(b"\n"):
            if needle not in line or b"execution_complete" not in line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            data = event.get("event_data") if isinstance(event, dict) else None
            if event.get("execution_id") == execution_id and event.get("event_type") == "execution_complete" \
                    and isinstance(data, dict) and isinstance(data.get("success"), bool):
                claims.add(data["success"])
    if len(claims) > 1:
        return "conflicting"
    return ("success" if claims.pop() else "failure") if claims else "missing"


def _agree(events: str, success: bool) -> bool | None:
    if events == "missing":
        return None
    return events == ("success" if success else "failure")


class OutcomeRecorder:
    """Writes one agent's outcome record; ``settle`` judges an answered execution from outside the worker."""

    def __init__(self, data_dir: Path, agent: str, *, expect_results: bool = False,
                 clock: Callable[[], datetime] = utcnow):
        self.data_dir = Path(data_dir)
        self.log_dir = self.data_dir / "logs" / agent
        self.expect_results = expect_results
        self._clock = clock
        self._lock = threading.Lock()

    def settle(self, *, execution_id: str, code_version: str | None, success: bool, failure_kind: str | None,
               duration: float, error: str | None, project_id: Any = None, tampering: Sequence[str] = (),
               worker_pid: int | None = None) -> dict[str, Any]:
        """The outcome of an execution the worker answered: failed when the telemetry was tampered
        with or the expected results are not on disk; compared with the events; recorded."""
        results = None
        if tampering:
            success, failure_kind = False, "tampering"
            error = "tampering: " + "; ".join(tampering[:8])
        elif success and self.expect_results:
            if (results := results_problem(self.data_dir, project_id, execution_id)) is not None:
                success, failure_kind, error = False, "results", f"ResultsMissing: {results}"
        events = events_view(self.log_dir, execution_id)
        record = self._record(execution_id, code_version, success, failure_kind, duration, error, worker_pid,
                              results="ok" if self.expect_results and success else results,
                              events=events, agree=_agree(events, success))
        if tampering:
            record["tampering"] = list(tampering)
        self.write(record)
        return record

    def unanswered(self, *, execution_id: str, code_version: str | None, failure_kind: str, duration: float,
                   error: str, worker_pid: int | None = None) -> dict[str, Any]:
        """A failure only the supervisor saw (no start, a hang, a crash, an abort): recorded as it is."""
        record = self._record(execution_id, code_version, False, failure_kind, duration, error, worker_pid,
                              results=None, events=None, agree=None)
        self.write(record)
        return record

    def _record(self, execution_id: str, code_version: str | None, success: bool, failure_kind: str | None,
                duration: float, error: str | None, worker_pid: int | None, **checks: Any) -> dict[str, Any]:
        return {"timestamp": self._clock(), "execution_id": execution_id, "code_version": code_version,
                "success": bool(success), "failure_kind": None if success else (failure_kind or "agent"),
                "duration": round(float(duration), 6), "error": (error or None) and str(error)[:2000],
                "worker_pid": worker_pid, **checks, "recorded_by": RECORDED_BY}

    def write(self, record: dict[str, Any]) -> Path:
        """Append one whole line with one ``write(2)`` on an ``O_APPEND`` file (several supervisors share it)."""
        stamp = record["timestamp"]
        line = orjson.dumps(record, default=str, option=_OPTS)
        with self._lock:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            path = self.log_dir / outcome_file_name(stamp.astimezone(UTC) if stamp.tzinfo else stamp)
            append_whole(path, line)
        return path


def _days(log_dir: Path, start: float, end: float) -> Iterable[str]:
    """The outcome files on disk whose day lies in the range (listed, not probed day by day: a
    window of years would otherwise open thousands of missing files)."""
    first = outcome_file_name(datetime.fromtimestamp(max(start, 0.0), UTC))
    last = outcome_file_name(datetime.fromtimestamp(min(end, 253402300799.0), UTC))
    try:
        names = sorted(p.name for p in Path(log_dir).glob(OUTCOMES_GLOB))
    except OSError:
        return []
    return [name for name in names if first <= name <= last and len(name) == len(first)]


def read_outcomes(log_dir: Path, start: float, end: float) -> list[dict[str, Any]]:
    """Records stamped in ``(start, end]`` (Unix seconds), oldest first; unusable lines are skipped."""
    out: list[tuple[float, dict[str, Any]]] = []
    for name in _days(log_dir, start, end):
        try:
            raw = (Path(log_dir) / name).read_bytes()
        except OSError:
            continue
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            ts = epoch_seconds(record.get("timestamp")) if isinstance(record, dict) else None
            if ts is None or not start < ts <= end or not isinstance(record.get("execution_id"), str) \
                    or not isinstance(record.get("success"), bool):
                continue
            out.append((ts, record))
    out.sort(key=lambda item: item[0])
    return [record for _, record in out]

