"""The control channel: a dashboard (or any program) steers a running pipeline through files.

    <data>/pipeline/control/requests/<stamp>-<id>.json   a request, written atomically by the asker
    <data>/pipeline/control/claimed/…                    a request being handled (claimed by rename)
    <data>/pipeline/control/results/<id>.json            the pipeline's answer (state running | done)
    <data>/pipeline/control/pipeline.json                what the pipeline says of itself, as a heartbeat

Files rather than a socket: the dashboard and the pipeline may be separate processes started at
different times, and a request survives either being restarted. A rename is atomic, so each
request is consumed exactly once even with two pollers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from astroagent.errors import UsageError
from astroagent.orchestration.scheduling import seconds_until_due
from astroagent.telemetry import atomic_write_bytes, utcnow

if TYPE_CHECKING:
    from astroagent.orchestration.continuous_pipeline import ContinuousPipeline

__all__ = ["ACTIONS", "control_dir", "submit", "result_of", "recent_results", "read_status", "PipelineControl",
           "HEARTBEAT_SECONDS"]

ACTIONS = ("run_lab_technician", "enable_lab_technician", "disable_lab_technician", "set_lab_interval")
HEARTBEAT_SECONDS = 5.0
KEEP_RESULTS = 50
log = logging.getLogger("astroagent.pipeline")


def control_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "pipeline" / "control"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, orjson.dumps(doc, default=str))


def _checked_args(action: str, args: dict[str, Any]) -> dict[str, Any]:
    if action not in ACTIONS:
        raise UsageError(f"unknown control action {action!r}; known: {', '.join(ACTIONS)}")
    if action == "set_lab_interval":
        try:
            seconds = float(args.get("seconds"))
        except (TypeError, ValueError):
            raise UsageError(f"set_lab_interval: seconds must be a number, got {args.get('seconds')!r}") from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise UsageError(f"set_lab_interval: seconds must be a finite number above 0, got {seconds!r}")
        return {"seconds": seconds}
    if action == "run_lab_technician":
        return {"force": bool(args.get("force"))}
    return {}


def submit(data_dir: Path, action: str, args: dict[str, Any] | None = None, *, by: str = "dashboard") -> str:
    """Queue a request for the pipeline; returns its id (its answer appears under ``result_of``)."""
    clean = _checked_args(action, dict(args or {}))
    request_id = uuid.uuid4().hex[:12]
    doc = {"id": request_id, "action": action, "args": clean, "by": by, "created_at": utcnow().isoformat()}
    _write(control_dir(data_dir) / "results" / f"{request_id}.json", {**doc, "state": "queued"})
    _write(control_dir(data_dir) / "requests" / f"{time.time_ns():020d}-{request_id}.json", doc)
    _prune(control_dir(data_dir) / "results")
    return request_id


def _prune(folder: Path, keep: int = KEEP_RESULTS) -> None:
    """Answers are for the person who asked: keep the newest few, not every one ever given."""
    answers = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for old in answers[:-keep]:
        old.unlink(missing_ok=True)


def recent_results(data_dir: Path, n: int = 8) -> list[dict[str, Any]]:
    """The newest answers, newest first."""
    folder = control_dir(data_dir) / "results"
    paths = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True) if folder.is_dir() else []
    return [doc for doc in (_read(p) for p in paths[:n]) if doc]


def result_of(data_dir: Path, request_id: str) -> dict[str, Any] | None:
    if not request_id.isalnum():
        return None
    return _read(control_dir(data_dir) / "results" / f"{request_id}.json")


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The pipeline's last heartbeat (``lab_enabled``, ``lab_interval``, ``next_lab_run_at``, ``updated_at``)."""
    return _read(control_dir(data_dir) / "pipeline.json")


class PipelineControl:
    """Polls the control folder for a running pipeline and acts on each request once."""

    def __init__(self, pipeline: ContinuousPipeline, *, interval: float = 0.25):
        self.pipeline = pipeline
        self.folder = control_dir(pipeline.data_dir)
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._last_status: tuple[Any, ...] | None = None
        self._last_beat = 0.0

    def start(self) -> PipelineControl:
        self._task = asyncio.get_running_loop().create_task(self._poll())
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            self.write_status(running=False)
        except OSError as exc:        # a heartbeat that cannot be written must not stop a shutdown
            log.warning("control channel: %s", exc)

    async def _poll(self) -> None:
        while True:          # a background poll of a folder: real sleeps, never the pipeline's clock
            try:
                self.poll_once()
            except OSError as exc:
                log.warning("control channel: %s", exc)
            await asyncio.sleep(self.interval)

    def poll_once(self) -> int:
        """Handle every queued request, oldest first; write the heartbeat. Returns how many were handled."""
        handled = 0
        requests = self.folder / "requests"
        for path in sorted(requests.glob("*.json")) if requests.is_dir() else ():
            claimed = self.folder / "claimed" / path.name
            claimed.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                continue                       # another poller took it
            request = _read(claimed) or {"id": path.stem.rsplit("-", 1)[-1], "action": None}
            self._answer(request, self._handle(request))
            claimed.unlink(missing_ok=True)
            handled += 1
        self.write_status()
        return handled

    def _answer(self, request: dict[str, Any], outcome: tuple[bool, str, str]) -> None:
        ok, state, message = outcome
        _write(self.folder / "results" / f"{request.get('id')}.json",
               {**request, "state": state, "ok": ok, "message": message, "answered_at": utcnow().isoformat()})

    def _handle(self, request: dict[str, Any]) -> tuple[bool, str, str]:
        pipe = self.pipeline
        try:
            args = _checked_args(str(request.get("action")), dict(request.get("args") or {}))
        except UsageError as exc:
            return False, "done", str(exc)
        action = request["action"]
        if action == "enable_lab_technician":
            pipe.enable_lab_technician()
            return True, "done", "the Lab Technician is enabled"
        if action == "disable_lab_technician":
            pipe.disable_lab_technician()
            return True, "done", "the Lab Technician is disabled"
        if action == "set_lab_interval":
            pipe.set_lab_technician_interval(args["seconds"])
            return True, "done", f"the Lab Technician runs every {args['seconds']:g} s"
        return self._run_lab(request, args["force"])

    def _run_lab(self, request: dict[str, Any], force: bool) -> tuple[bool, str, str]:
        pipe = self.pipeline
        if pipe._lab_task is not None and not pipe._lab_task.done():
            return False, "done", "a Lab Technician run is already in progress"
        task = asyncio.ensure_future(pipe.run_lab_technician_now(force=force))
        # the pipeline's own slot for a Lab Technician run: no scheduled run starts beside it, a
        # bounded run waits for it and a shutdown aborts it, exactly as for a scheduled one
        pipe._lab_task = task
        task.add_done_callback(pipe._lab_task_done)
        task.add_done_callback(lambda t: self._answer(request, _lab_outcome(t)))
        return True, "running", "the Lab Technician is running"

    def write_status(self, *, running: bool = True) -> None:
        """The heartbeat: written when something changed, else every ``HEARTBEAT_SECONDS``."""
        pipe = self.pipeline
        wait = seconds_until_due(pipe._schedule, pipe._clock())
        status = (running, pipe.lab_technician_enabled, pipe.lab_technician_interval, os.getpid())
        now = time.monotonic()
        if status == self._last_status and now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_status, self._last_beat = status, now
        stamp = utcnow()
        _write(self.folder / "pipeline.json", {
            "running": running, "pid": os.getpid(), "lab_enabled": pipe.lab_technician_enabled,
            "lab_interval": pipe.lab_technician_interval, "lab_running": pipe._lab_task is not None
            and not pipe._lab_task.done(), "next_lab_run_at": (stamp.timestamp() + wait) if running else None,
            "updated_at": stamp.isoformat()})


def _lab_outcome(task: asyncio.Future) -> tuple[bool, str, str]:
    if task.cancelled():
        return False, "done", "the Lab Technician run was stopped"
    if task.exception() is not None:
        exc = task.exception()
        return False, "done", f"the Lab Technician run failed: {type(exc).__name__}: {exc}"
    result = task.result()
    made = result.output_data.get("improvements_made") or []
    counts: dict[str, int] = {}
    for item in made:
        counts[str(item.get("status"))] = counts.get(str(item.get("status")), 0) + 1
    said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no change"
    if not result.success:
        return False, "done", f"the Lab Technician run failed: {result.error_message}"
    return True, "done", f"the Lab Technician ran: {said}"
