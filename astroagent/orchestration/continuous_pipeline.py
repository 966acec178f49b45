"""The ContinuousPipeline: plan research projects, run them in a supervised Experimenter worker,
and let the Lab Technician improve the Experimenter's code on an adaptive schedule.

    pipeline = ContinuousPipeline()
    pipeline.set_lab_technician_interval(3600); pipeline.enable_lab_technician()
    pipeline.status_callbacks.append(cb)   # cb(update): update['stage'], update['status'], ...
    await pipeline.run_continuous({'domain': 'astrophysics', 'research_areas': ['exoplanets']})

The Lab Technician runs in its own process between experiments (the event loop stays free for
signals, callbacks and the live view); a code change it makes is picked up by restarting the
worker before the next experiment, never in the middle of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import replace
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from astroagent.agents.common import AgentResult
from astroagent.config import AstroAgentConfig, load_config
from astroagent.errors import UsageError
from astroagent.orchestration.ledger_view import pending_change_ids, with_ledger_facts
from astroagent.orchestration.scheduling import LabSchedule, after_run, is_due
from astroagent.orchestration.status import StatusBroadcaster, StatusCallback
from astroagent.orchestration.state import ExperimentRecord, PipelineState, load_state, save_state, state_path
from astroagent.orchestration.supervisor import ExperimentOutcome, WorkerSupervisor
from astroagent.paths import data_dir as default_data_dir
from astroagent.paths import find_workspace
from astroagent.telemetry import utcnow

__all__ = ["ContinuousPipeline", "StatusCallback", "SUPPORTED_DOMAINS"]

SUPPORTED_DOMAINS = ("astrophysics",)
log = logging.getLogger("astroagent.pipeline")


class ContinuousPipeline:
    """Runs the Experimenter and the Lab Technician until stopped (or a cycle / time bound)."""

    def __init__(self, *, workspace: Path | None = None, data_dir: Path | None = None,
                 config: AstroAgentConfig | None = None, archive_url: str | None = None,
                 max_cycles: int | None = None, duration: float | None = None,
                 projects_per_cycle: int | None = None, seed: int | None = None,
                 force_lab_analysis: bool = False, handle_signals: bool = True, resume: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 experimenter_target: str | None = None, lab_technician_target: str | None = None,
                 planner: Callable[[Sequence[str], int, int], Sequence[Any]] | None = None):
        self.workspace = Path(workspace).resolve() if workspace is not None else find_workspace()
        self.config = config if config is not None else load_config(self.workspace)
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else default_data_dir(self.workspace)
        pipe = self.config.pipeline
        self.archive_url = archive_url or self.config.experimenter.archive_url
        self.max_cycles = max_cycles
        self.duration = duration
        self.projects_per_cycle = projects_per_cycle or pipe.projects_per_cycle
        self.seed = self.config.experimenter.seed if seed is None else seed
        self.force_lab_analysis = force_lab_analysis
        self.handle_signals = handle_signals
        self._planner = planner
        self.status_callbacks: list[StatusCallback] = []
        previous = load_state(self.data_dir) if resume else None
        self._notes: list[str] = []
        if resume and previous is None and state_path(self.data_dir).exists():
            kept = state_path(self.data_dir).with_suffix(".json.unreadable")
            os.replace(state_path(self.data_dir), kept)     # never overwritten by the first save
            self._notes.append(f"could not read the saved state; started afresh and kept it as {kept}")
            log.warning(self._notes[-1])
        self.state = previous or PipelineState(lab_interval=pipe.lab_technician_interval)
        self.last_lab_result: AgentResult | None = None
        self._clock = clock
        self._sleep = sleep
        # a resumed pipeline continues its own time line (and its cycle count, so new projects)
        self._t0 = clock() - (self.state.history[-1].t if self.state.history else 0.0)
        self._lab_enabled = True
        self._schedule = LabSchedule.create(
            pipe.lab_technician_interval, min_interval=pipe.min_lab_interval, max_interval=pipe.max_lab_interval,
            threshold=self.config.lab_technician.improvement_threshold,
            min_new_experiments=pipe.min_experiments_between_lab, now=self._t0)
        # a resumed pipeline's earlier experiments were seen by earlier Lab Technician runs
        self._schedule = replace(self._schedule, experiments_at_last_run=self.state.experiments)
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._abort_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._code_lock: asyncio.Lock | None = None
        self._lab_lock: asyncio.Lock | None = None
        self._lab_task: asyncio.Task | None = None
        self._status = StatusBroadcaster(self.status_callbacks)
        common = dict(workspace=self.workspace, data_dir=self.data_dir, config=pipe, clock=clock, sleep=sleep,
                      on_event=self._emit)
        self.worker = WorkerSupervisor(agent="experimenter", agent_target=experimenter_target,
                                       code_package=self.config.experimenter.code_package, **common)
        self._lab_worker = WorkerSupervisor(agent="lab_technician", agent_target=lab_technician_target,
                                            log_failures=False, **common)

    # -- the seed's controls -----------------------------------------------------------------

    def set_lab_technician_interval(self, seconds: float) -> None:
        """Run the Lab Technician every ``seconds`` (adapted within bounds as the success rate moves)."""
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
            raise UsageError(f"lab technician interval must be a positive number of seconds, got {seconds!r}")
        self._schedule = self._schedule.with_base(float(seconds))
        self.state.lab_interval = self._schedule.interval

    def enable_lab_technician(self) -> None:
        self._lab_enabled = True

    def disable_lab_technician(self) -> None:
        self._lab_enabled = False

    @property
    def lab_technician_enabled(self) -> bool:
        return self._lab_enabled

    @property
    def lab_technician_interval(self) -> float:
        return self._schedule.interval

    @property
    def running(self) -> bool:
        return self._running

    def stop(self) -> None:
        """Stop gracefully: the current experiment may finish within ``shutdown_deadline_seconds``.
        Safe to call from a signal handler, another thread or a callback."""
        self._stop_requested = True
        loop, event = self._loop, self._stop
        if loop is None or event is None:
            return
        if threading.current_thread() is threading.main_thread() and _running_loop() is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    def abort(self) -> None:
        """Stop now: kill the worker; the experiment in flight is logged as aborted."""
        self._abort_requested = True
        self.stop()

    # -- status updates ----------------------------------------------------------------------

    @property
    def callback_errors(self) -> int:
        """How often a status callback raised (each was reported once and otherwise ignored)."""
        return self._status.errors

    def _emit(self, update: dict[str, Any]) -> None:
        self._status.emit({"cycle": self.state.cycle, **update})

    # -- running -------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock() - self._t0

    def _save(self) -> None:
        self.state.updated_at = utcnow().isoformat()
        self.state.lab_interval = self._schedule.interval
        self.state.worker_restarts = self.worker.restarts
        self.state.worker_crashes = self.worker.crashes
        self.state.worker_hangs = self.worker.hangs
        try:
            save_state(self.data_dir, self.state)
        except OSError as exc:
            log.warning("could not save pipeline state: %s", exc)

    def _areas(self, research_config: dict[str, Any]) -> tuple[str, ...]:
        domain = research_config.get("domain", "astrophysics")
        if domain not in SUPPORTED_DOMAINS:
            raise UsageError(f"unknown research domain {domain!r}; supported: {', '.join(SUPPORTED_DOMAINS)}")
        areas = research_config.get("research_areas") or self.config.pipeline.research_areas
        if isinstance(areas, str):
            areas = [areas]
        return tuple(str(a) for a in areas)

    async def run_continuous(self, research_config: dict[str, Any] | None = None) -> PipelineState:
        """Run cycles until ``stop()``, a signal, or the cycle / duration bound; return the final state."""
        plan_projects = self._planner or _default_planner()
        research_config = dict(research_config or {})
        areas = self._areas(research_config)
        plan_projects(areas, 1, self.seed)  # an unknown area fails here, before anything starts
        max_cycles = research_config.get("max_cycles", self.max_cycles)
        duration = research_config.get("duration", self.duration)
        if self._running:
            raise UsageError("this pipeline is already running")
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._stop_requested = self._abort_requested = False
        self._code_lock = self._code_lock or asyncio.Lock()
        self._running = True
        started = self._now()
        self._schedule = LabSchedule.create(
            self._schedule.base, min_interval=self._schedule.min_interval, max_interval=self._schedule.max_interval,
            threshold=self._schedule.threshold, min_new_experiments=self._schedule.min_new_experiments,
            now=self._clock())
        self.state.status, self.state.pid = "running", os.getpid()
        self.state.started_at = self.state.started_at or utcnow().isoformat()
        self.state.code_version = self.worker.disk_code_version()
        self._save()
        installed = self._install_signals()
        self._emit({"stage": "pipeline", "status": "started", "research_areas": list(areas),
                    "lab_technician": self._lab_enabled, "lab_interval": self._schedule.interval,
                    **({"notes": self._notes} if self._notes else {})})
        cycles_run = 0
        try:
            while not self._stopping():
                self.state.cycle += 1
                cycles_run += 1
                cycle = self.state.cycle
                projects = plan_projects(areas, self.projects_per_cycle, self.seed + cycle)
                self._emit({"stage": "cycle", "status": "started", "projects": len(projects)})
                for project in projects:
                    if self._stopping() or self._out_of_time(duration, started):
                        break
                    await self._experiment(_as_dict(project))
                    if self._lab_due() and not self._stopping():
                        await self._start_scheduled_lab_run()
                self._emit({"stage": "cycle", "status": "completed", "experiments": self.state.experiments,
                            "success_rate": self.state.success_rate})
                self._save()
                if max_cycles is not None and cycles_run >= max_cycles:
                    break
                if self._out_of_time(duration, started):
                    break
            if self._lab_task is not None:   # a bounded run ends once the Lab Technician has finished
                await asyncio.gather(self._lab_task, return_exceptions=True)
        finally:
            await self._shutdown(installed)
        return self.state

    async def _start_scheduled_lab_run(self) -> None:
        """Run the Lab Technician; with ``experiments_during_lab`` experiments go on meanwhile
        (on the code in place until its change lands, then on the new code after a restart)."""
        run = self._lab_run("scheduled_analysis", self.force_lab_analysis)
        if not self.config.pipeline.experiments_during_lab:
            await run
            return
        self._lab_task = asyncio.ensure_future(run)
        self._lab_task.add_done_callback(self._lab_task_done)

    def _lab_task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.warning("Lab Technician run failed: %s: %s", type(exc).__name__, exc)
            self._emit({"stage": "lab_technician", "status": "failed", "error": f"{type(exc).__name__}: {exc}"})

    def _stopping(self) -> bool:
        return self._stop_requested or (self._stop is not None and self._stop.is_set())

    def _out_of_time(self, duration: float | None, started: float) -> bool:
        return duration is not None and self._now() - started >= duration

    def _lab_due(self) -> bool:
        if self._lab_task is not None and not self._lab_task.done():
            return False
        return self._lab_enabled and is_due(self._schedule, now=self._clock(), experiments=self.state.experiments)

    async def _guarded(self, work: Awaitable[Any], supervisor: WorkerSupervisor, deadline: float) -> Any:
        """Await ``work``; on stop give it ``deadline`` seconds more, then abort the worker."""
        assert self._stop is not None
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not task.done():
            if self._abort_requested:
                await supervisor.abort()
            else:
                self._emit({"stage": "pipeline", "status": "waiting", "deadline": deadline,
                            "waiting_for": supervisor.agent})
                done, _ = await asyncio.wait({task}, timeout=deadline)
                if not done:
                    await supervisor.abort()
        return await task

    async def _experiment(self, project: dict[str, Any]) -> ExperimentOutcome:
        assert self._code_lock is not None
        input_data = {"project": project, "archive_url": self.archive_url}
        async with self._code_lock:
            self._emit({"stage": "experiment", "status": "started", "project_id": project.get("id"),
                        "area": project.get("area"), "kind": project.get("kind")})
            outcome: ExperimentOutcome = await self._guarded(
                self.worker.run(input_data, state_name="experiment"), self.worker,
                self.config.pipeline.shutdown_deadline_seconds)
        self.state.code_version = outcome.code_version or self.state.code_version
        self.state.record(ExperimentRecord(
            t=self._now(), execution_id=outcome.execution_id, project_id=project.get("id"),
            area=project.get("area"), success=outcome.success, code_version=outcome.code_version,
            duration=outcome.duration, failure_kind=outcome.failure_kind,
            error=(outcome.error or "")[:500] or None))
        if not outcome.success:
            self.state.last_error = (outcome.error or "failed")[:500]
        self._save()
        self._emit({"stage": "experiment", "status": "completed" if outcome.success else "failed",
                    "project_id": project.get("id"), "area": project.get("area"),
                    "verdict": outcome.output.get("verdict"), "error": outcome.error,
                    "failure_kind": outcome.failure_kind, "code_version": outcome.code_version,
                    "duration": outcome.duration, "experiments": self.state.experiments,
                    "success_rate": self.state.success_rate,
                    "recent_success_rate": self.state.recent_success_rate()})
        return outcome

    async def run_lab_technician_now(self, *, force: bool = False) -> AgentResult:
        """Run the Lab Technician once, now, whatever the schedule (between experiments unless
        ``experiments_during_lab``). ``force`` lets it change code even when the success rate is fine."""
        return await self._lab_run("manual_analysis", force)

    async def _lab_run(self, state_name: str, force: bool) -> AgentResult:
        self._code_lock = self._code_lock or asyncio.Lock()
        self._lab_lock = self._lab_lock or asyncio.Lock()
        new = self.state.experiments - self._schedule.experiments_at_last_run   # the history is trimmed:
        since = self.state.history[-new:] if new > 0 else []                      # count back from its end
        rate_seen = (sum(r.success for r in since) / len(since)) if since else self.state.recent_success_rate()
        concurrent = self._running and self.config.pipeline.experiments_during_lab
        async with self._lab_lock, (contextlib.nullcontext() if concurrent else self._code_lock):
            self.state.lab_started_at.append(self._now())
            self._emit({"stage": "lab_technician", "status": "started", "state_name": state_name})
            inputs: dict[str, Any] = {"force_analysis": force}
            waiting = self._pending_changes() if state_name == "scheduled_analysis" else []
            if waiting and self.config.pipeline.judge_before_changing:
                inputs["max_improvements"] = 0   # judge the change in place before stacking another
            work = self._lab_worker.run(inputs, state_name=state_name,
                                        timeout=self.config.pipeline.lab_technician_timeout_seconds)
            if self._running and self._stop is not None:
                outcome = await self._guarded(work, self._lab_worker, self.config.pipeline.shutdown_deadline_seconds)
            else:
                outcome = await work
            await self._lab_worker.shutdown(deadline=5.0)
        result = AgentResult(agent_name="lab_technician", execution_id=outcome.execution_id,
                             success=outcome.success, output_data=outcome.output, error_message=outcome.error,
                             execution_time=outcome.duration)
        self.last_lab_result = result
        self._schedule = after_run(self._schedule, now=self._clock(), success_rate=rate_seen,
                                   experiments=self.state.experiments)
        self.state.lab_runs += 1
        self.state.lab_runs_at.append(self._now())
        improvements = with_ledger_facts(self.data_dir, result.output_data.get("improvements_made") or [],
                                         now_t=self._now(), now_wall=utcnow())
        self.state.record_lab_output({**result.output_data, "improvements_made": improvements}, self._now())
        self._save()
        update: dict[str, Any] = {"stage": "lab_technician", "status": "completed" if result.success else "failed",
                                  "improvements_made": improvements,
                                  "verdicts": list(result.output_data.get("verdicts") or []),
                                  "report_path": result.output_data.get("report_path"),
                                  "success_rate": rate_seen, "next_interval": self._schedule.interval}
        if not result.success:
            update["error"] = result.error_message
        self._emit(update)
        return result

    def _pending_changes(self) -> list[str]:
        return pending_change_ids(self.data_dir, [c.id for c in self.state.changes if c.verdict == "pending"])

    # -- signals and shutdown ---------------------------------------------------------------------

    def _install_signals(self) -> list[signal.Signals]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return []
        assert self._loop is not None
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        return installed

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop_requested:
            self._emit({"stage": "pipeline", "status": "aborting", "signal": sig.name})
            self._abort_requested = True
            if self._loop is not None:
                self._loop.create_task(self.worker.abort())
                self._loop.create_task(self._lab_worker.abort())
        else:
            self._emit({"stage": "pipeline", "status": "stopping", "signal": sig.name})
        self.stop()

    async def _shutdown(self, installed: list[signal.Signals]) -> None:
        try:
            if self._lab_task is not None and not self._lab_task.done():
                await self._lab_worker.abort()
                await asyncio.gather(self._lab_task, return_exceptions=True)
            self._lab_task = None
            await self.worker.shutdown(deadline=min(5.0, self.config.pipeline.shutdown_deadline_seconds))
            await self._lab_worker.shutdown(deadline=1.0)
        finally:
            self._running = False
            self._stop = None
            self.state.status = "stopped"
            self.state.stopped_at = utcnow().isoformat()
            self._save()
            self.worker.close()
            for sig in installed:
                assert self._loop is not None
                self._loop.remove_signal_handler(sig)
            self._emit({"stage": "pipeline", "status": "stopped", "experiments": self.state.experiments,
                        "success_rate": self.state.success_rate, "cycles": self.state.cycle})


def _default_planner() -> Callable[[Sequence[str], int, int], Sequence[Any]]:
    from astroagent.science.projects import plan_projects

    return plan_projects


def _as_dict(project: Any) -> dict[str, Any]:
    return project.model_dump(mode="json") if hasattr(project, "model_dump") else dict(project)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
