"""Supervise the Experimenter worker: start it, restart it with backoff when it crashes, kill it
when an experiment hangs past its timeout, and restart it between experiments when the
workspace code changed (never in the middle of one).

An experiment the worker never answered (hang, crash, abort) is logged as a failed execution
in the Experimenter's own log, so the Lab Technician sees it like any other failure. Every
outcome is also written to the supervisor's own record (``astroagent.telemetry.outcomes``): the
worker's answer, whether the result files are on disk, and whether the agent's events agree.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from astroagent.config import PipelineConfig
from astroagent.orchestration.stacks import DUMP_SIGNAL, parse_dump, read_dump, stack_file
from astroagent.orchestration.worker import kill_descendants
from astroagent.telemetry.code_version import workspace_code_version
from astroagent.telemetry import EventWriter
from astroagent.telemetry.outcomes import OutcomeRecorder

__all__ = ["WorkerSupervisor", "ExperimentOutcome", "restart_delay"]

_READ_LIMIT = 32 * 1024 * 1024
_TAIL_BYTES = 512 * 1024
_MAX_LOG_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ExperimentOutcome:
    """One experiment as the pipeline saw it; ``failure_kind`` says who failed it:
    ``agent`` (the experiment itself), ``timeout``, ``crash``, ``aborted``, ``start``, ``tampering``
    (the code changed the telemetry) or ``results`` (a success without its result files)."""

    execution_id: str
    success: bool
    duration: float
    code_version: str | None
    output: dict[str, Any]
    error: str | None = None
    failure_kind: str | None = None
    worker_pid: int | None = None


def restart_delay(consecutive_failures: int, base: float, cap: float) -> float:
    """Exponential backoff: 0 before the first failure, then base, 2·base, 4·base … up to cap."""
    if consecutive_failures <= 0 or base <= 0:
        return 0.0
    return min(cap, base * 2.0 ** (consecutive_failures - 1))


class _WorkerGone(Exception):
    """The worker's stdout closed: it exited or was killed."""


class WorkerSupervisor:
    """Runs one request at a time in a long-lived worker process; see the module docstring."""

    def __init__(self, *, workspace: Path | None, data_dir: Path, config: PipelineConfig,
                 agent: str = "experimenter", agent_target: str | None = None,
                 code_package: str = "experimenter", python: str = sys.executable,
                 env: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 start_timeout: float = 120.0, log_failures: bool = True):
        self.workspace = Path(workspace) if workspace is not None else None
        self.data_dir = Path(data_dir)
        self.config = config
        self.agent = agent
        self.agent_target = agent_target
        self.code_package = code_package
        self.python = python
        self.env = env
        self._clock = clock
        self._sleep = sleep
        self._on_event = on_event or (lambda update: None)
        self.start_timeout = start_timeout
        self.log_failures = log_failures
        self._proc: asyncio.subprocess.Process | None = None
        self.code_version: str | None = None
        self.starts = 0
        self.restarts = 0
        self.crashes = 0
        self.hangs = 0
        self._consecutive_failures = 0
        self._aborting = False
        self._busy = False
        self._writer = EventWriter(self.data_dir / "logs" / agent)
        self.outcomes = OutcomeRecorder(self.data_dir, agent, expect_results=agent == "experimenter" and not agent_target)

    # -- state -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def busy(self) -> bool:
        return self._busy

    def disk_code_version(self) -> str | None:
        return workspace_code_version(self.workspace, self.code_package)

    def _emit(self, status: str, **data: Any) -> None:
        self._on_event({"stage": "worker", "status": status, "agent": self.agent, **data})

    # -- lifecycle -------------------------------------------------------------------------

    def _command(self) -> list[str]:
        cmd = [self.python, "-m", "astroagent.orchestration.worker", "--agent", self.agent,
               "--data-dir", str(self.data_dir), "--code-package", self.code_package,
               "--parent-pid", str(os.getpid())]
        if self.workspace is not None:
            cmd += ["--workspace", str(self.workspace)]
        if self.agent_target:
            cmd += ["--agent-target", self.agent_target]
        return cmd

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        env["ASTROAGENT_DATA_DIR"] = str(self.data_dir)
        if self.workspace is not None:
            env["ASTROAGENT_WORKSPACE"] = str(self.workspace)
        env.setdefault("MPLBACKEND", "Agg")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def start(self) -> None:
        """Start a worker (after the backoff its recent failures call for) and wait until ready."""
        delay = restart_delay(self._consecutive_failures, self.config.restart_backoff_seconds,
                              self.config.max_restart_backoff_seconds)
        if delay > 0:
            self._emit("backoff", delay=delay, failures=self._consecutive_failures)
            await self._sleep(delay)
        log_dir = self.data_dir / "pipeline"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / f"{self.agent}_worker.log"
        try:
            if log_file.stat().st_size > _MAX_LOG_BYTES:   # keep one old generation, never grow for ever
                os.replace(log_file, log_file.with_suffix(".log.1"))
        except OSError:
            pass
        with open(log_file, "ab") as stderr:
            self._proc = await asyncio.create_subprocess_exec(
                *self._command(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=stderr, env=self._child_env(), start_new_session=True, limit=_READ_LIMIT)
        self.starts += 1
        try:
            hello = await asyncio.wait_for(self._read(), timeout=self.start_timeout)
        except (asyncio.TimeoutError, _WorkerGone) as exc:
            await self.kill()
            self._consecutive_failures += 1
            reason = "did not become ready in time" if isinstance(exc, asyncio.TimeoutError) else "exited at start"
            raise WorkerStartError(f"{self.agent} worker {reason} (see data/pipeline/{self.agent}_worker.log)")
        if hello.get("type") != "ready":
            await self.kill()
            self._consecutive_failures += 1
            raise WorkerStartError(f"{self.agent} worker failed to start: {hello.get('error', hello)}")
        self.code_version = hello.get("code_version")
        self._emit("started", pid=self._proc.pid, code_version=self.code_version)

    async def ensure_current(self) -> None:
        """Between experiments: (re)start a dead worker, or one whose code is no longer on disk."""
        if self._proc is None or self._proc.returncode is not None:
            if self._proc is not None:
                self.restarts += 1
            await self.start()
            return
        on_disk = self.disk_code_version()
        if on_disk != self.code_version:
            old = self.code_version
            self._emit("restarting", reason="code changed", old_code_version=old, new_code_version=on_disk)
            await self.shutdown(deadline=5.0)
            self.restarts += 1
            await self.start()

    async def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            line = await self._proc.stdout.readline()
            if not line:
                raise _WorkerGone()
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # never expected: the worker keeps stdout for the protocol alone
            if isinstance(message, dict):
                return message

    async def kill(self) -> None:
        """Kill the worker and everything it started (its own session), then reap it."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        kill_descendants(proc.pid)  # also those in sessions of their own (validation runs)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        await proc.wait()
        self._forget(proc.pid)

    def _forget(self, pid: int) -> None:
        stack_file(self.data_dir, pid).unlink(missing_ok=True)

    async def shutdown(self, deadline: float = 5.0) -> None:
        """Ask the idle worker to exit; kill it if it does not within ``deadline`` seconds."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b'{"type": "stop"}\n')
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass
        try:
            await asyncio.wait_for(proc.wait(), timeout=deadline)
        except asyncio.TimeoutError:
            await self.kill()
        self._forget(proc.pid)
        self._emit("stopped", pid=proc.pid, returncode=proc.returncode)

    async def abort(self) -> None:
        """Stop now: the running experiment (if any) ends as ``aborted``."""
        self._aborting = True
        await self.kill()

    # -- experiments -----------------------------------------------------------------------

    async def run(self, input_data: dict[str, Any], *, state_name: str = "experiment",
                  execution_id: str | None = None, timeout: float | None = None) -> ExperimentOutcome:
        """Run one request in the worker. Never raises for the worker's faults: they become
        a failed outcome (and a failed execution in the agent's log)."""
        execution_id = execution_id or uuid.uuid4().hex
        timeout = self.config.experiment_timeout_seconds if timeout is None else timeout
        self._aborting = False
        try:
            await self.ensure_current()
        except WorkerStartError as exc:
            return self._failed(execution_id, "start", f"WorkerStartFailed: {exc}", 0.0)
        assert self._proc is not None and self._proc.stdin is not None
        pid, version = self._proc.pid, self.code_version
        request = {"type": "run", "id": execution_id, "state_name": state_name, "input_data": input_data}
        started = self._clock()
        self._busy = True
        try:
            self._proc.stdin.write(orjson.dumps(request, default=str) + b"\n")
            await self._proc.stdin.drain()
            answer = await asyncio.wait_for(self._read_result(execution_id), timeout=timeout)
        except asyncio.TimeoutError:
            self.hangs += 1
            self._consecutive_failures += 1
            location, stacks = await self._where_stuck(pid)
            await self.kill()
            where = f" in {location['function']} ({location['file']}:{location['line']})" if location else ""
            self._emit("killed", pid=pid, reason=f"no result after {timeout:g} s{where}")
            return self._failed(execution_id, "timeout",
                                f"ExperimentTimeout: no result after {timeout:g} s{where}; worker {pid} killed",
                                self._clock() - started, version, pid, location=location, stacks=stacks)
        except (_WorkerGone, BrokenPipeError, ConnectionResetError):
            returncode = await self._proc.wait()
            self._forget(pid)
            if self._aborting:
                return self._failed(execution_id, "aborted", "ExperimentAborted: the pipeline stopped",
                                    self._clock() - started, version, pid)
            self.crashes += 1
            self._consecutive_failures += 1
            how = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
            self._emit("crashed", pid=pid, returncode=returncode)
            return self._failed(execution_id, "crash", f"WorkerCrashed: worker {pid} died ({how})",
                                self._clock() - started, version, pid)
        finally:
            self._busy = False
        self._consecutive_failures = 0
        result = answer.get("result") or {}
        output = result.get("output_data") or {}
        outcome = ExperimentOutcome(
            execution_id=execution_id, success=bool(result.get("success")),
            duration=self._clock() - started,
            code_version=output.get("code_version") or version, output=output,
            error=result.get("error_message"),
            failure_kind=None if result.get("success") else str(answer.get("failure_kind") or "agent"),
            worker_pid=pid)
        return self._settle(outcome, answer, input_data, version)

    def _settle(self, outcome: ExperimentOutcome, answer: dict[str, Any], input_data: dict[str, Any],
                version: str | None) -> ExperimentOutcome:
        """The supervisor's own verdict on an answered execution, recorded apart from the agent's events
        (``telemetry.outcomes``): tampering, or a success without its result files, fails it."""
        project = input_data.get("project")
        record = self.outcomes.settle(
            execution_id=outcome.execution_id, code_version=version, success=outcome.success,
            failure_kind=outcome.failure_kind, duration=outcome.duration, error=outcome.error,
            project_id=(project.get("id") if isinstance(project, dict) else None) or outcome.output.get("project_id"),
            tampering=tuple(str(t) for t in answer.get("tampering") or ()), worker_pid=outcome.worker_pid)
        if record["success"] == outcome.success and record["failure_kind"] not in ("tampering", "results"):
            return outcome
        self._emit("rejected", pid=outcome.worker_pid, reason=record["error"])
        if self.log_failures:
            self._log_failure(outcome.execution_id, record["failure_kind"], record["error"], outcome.duration, version)
        return replace(outcome, success=False, error=record["error"], failure_kind=record["failure_kind"])

    async def _read_result(self, execution_id: str) -> dict[str, Any]:
        while True:
            message = await self._read()
            if message.get("type") == "result" and message.get("id") == execution_id:
                return message

    async def _where_stuck(self, pid: int) -> tuple[dict[str, Any] | None, str]:
        """Ask the hung worker for its stacks (SIGUSR1 → faulthandler) and find the frame in the
        workspace code it is stuck in."""
        path = stack_file(self.data_dir, pid)
        try:
            os.kill(pid, DUMP_SIGNAL)
        except ProcessLookupError:
            return None, ""
        text = previous = ""
        for _ in range(20):       # until the dump stops growing (faulthandler writes it thread by thread)
            await asyncio.sleep(0.05)
            previous, text = text, read_dump(path)
            if text and text == previous and "File" in text:
                break
        code_root = self.workspace / self.code_package if self.workspace is not None else None
        return parse_dump(text, code_root, self.workspace), text

    def record_failure(self, execution_id: str, kind: str, message: str, duration: float = 0.0,
                       version: str | None = None, pid: int | None = None) -> ExperimentOutcome:
        """Log an execution that no worker answered as failed (a fleet's own faults, e.g. a lost actor)."""
        return self._failed(execution_id, kind, message, duration, version, pid)

    def _failed(self, execution_id: str, kind: str, message: str, duration: float,
                version: str | None = None, pid: int | None = None, *,
                location: dict[str, Any] | None = None, stacks: str = "") -> ExperimentOutcome:
        version = version or self.disk_code_version()
        if self.log_failures:
            self._log_failure(execution_id, kind, message, duration, version, location, stacks)
        self.outcomes.unanswered(execution_id=execution_id, code_version=version, failure_kind=kind,
                                 duration=duration, error=message, worker_pid=pid)
        return ExperimentOutcome(execution_id=execution_id, success=False, duration=duration,
                                 code_version=version, output={}, error=message, failure_kind=kind,
                                 worker_pid=pid)

    def _log_failure(self, execution_id: str, kind: str, message: str, duration: float,
                     version: str | None, location: dict[str, Any] | None = None, stacks: str = "") -> None:
        """Close the execution in the agent's log as failed (opening it first if it never started);
        a hang carries where it was stuck."""
        error_type = message.split(":", 1)[0]
        error: dict[str, Any] = {"method": location["function"] if location else "execution", "duration": duration,
                                 "error_type": error_type, "error": message, "failure_kind": kind,
                                 "written_by": "supervisor"}
        if location:
            error["location"] = location
        if stacks:
            error["traceback"] = stacks
        if not self._started_in_log(execution_id):
            self._writer.write(execution_id, "execution_start",
                               {"agent": self.agent, "code_version": version, "pid": None,
                                "written_by": "supervisor"})
        self._writer.write(execution_id, "execution_error", error)
        self._writer.write(execution_id, "execution_complete",
                           {"success": False, "duration": duration, "failure_type": error_type,
                            "failure": message, "written_by": "supervisor"})

    def _started_in_log(self, execution_id: str) -> bool:
        needle = execution_id.encode()
        files = sorted(self._writer.log_dir.glob("execution_*.jsonl"))[-2:]
        for path in files:
            try:
                with open(path, "rb") as handle:
                    size = handle.seek(0, os.SEEK_END)
                    handle.seek(max(0, size - _TAIL_BYTES))
                    if needle in handle.read():
                        return True
            except OSError:
                continue
        return False

    def close(self) -> None:
        self._writer.close()


class WorkerStartError(Exception):
    """The worker could not be started (it is retried with backoff at the next experiment)."""
