"""The ContinuousPipeline: plan research projects, run them on a fleet of Experimenter workers,
and let the Lab Technician improve the Experimenter's code on an adaptive schedule.

    pipeline = ContinuousPipeline()
    pipeline.set_lab_technician_interval(3600); pipeline.enable_lab_technician()
    pipeline.status_callbacks.append(cb)   # cb(update): update['stage'], update['status'], ...
    await pipeline.run_continuous({'domain': 'astrophysics', 'research_areas': ['exoplanets']})

Experiments run on a worker fleet (``pipeline.workers`` at a time; local processes or Ray
actors), each on the code version ``choose_version`` picks (default: the code on disk). The Lab
Technician runs in its own process (the event loop stays free for signals, callbacks and the
live view); a code change it makes is picked up by restarting a worker before its next
experiment, never in the middle of one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from astroagent.agents.common import AgentResult
from astroagent.config import load_config
from astroagent.errors import UsageError
from astroagent.orchestration._lab_runs import LabTechnicianRuns
from astroagent.orchestration._lifecycle import PipelineLifecycle
from astroagent.orchestration.control import PipelineControl
from astroagent.orchestration.fleet import Fleet, FleetSpec, make_fleet
from astroagent.orchestration.options import PipelineOptions
from astroagent.orchestration.rollout import CanaryRollout
from astroagent.orchestration.scheduling import LabSchedule
from astroagent.orchestration.status import StatusBroadcaster, StatusCallback
from astroagent.orchestration.state import ExperimentRecord, PipelineState, load_state, save_state, state_path
from astroagent.orchestration.supervisor import ExperimentOutcome, WorkerSupervisor
from astroagent.orchestration.versions import CodeGate
from astroagent.paths import data_dir as default_data_dir
from astroagent.paths import find_workspace
from astroagent.telemetry import utcnow

__all__ = ["ContinuousPipeline", "PipelineOptions", "StatusCallback", "SUPPORTED_DOMAINS"]

SUPPORTED_DOMAINS = ("astrophysics",)
log = logging.getLogger("astroagent.pipeline")


class ContinuousPipeline(LabTechnicianRuns, PipelineLifecycle):
    """Runs the Experimenter and the Lab Technician until stopped (or a cycle / time bound)."""

    def __init__(self, options: PipelineOptions | None = None, /, **fields: Any):
        opts = replace(options or PipelineOptions(), **fields)   # an unknown keyword is a TypeError
        self.options = opts
        self.workspace = Path(opts.workspace).resolve() if opts.workspace is not None else find_workspace()
        self.config = opts.config if opts.config is not None else load_config(self.workspace)
        self.data_dir = (Path(opts.data_dir).resolve() if opts.data_dir is not None
                         else default_data_dir(self.workspace))
        pipe = self.config.pipeline
        self.archive_url = opts.archive_url or self.config.experimenter.archive_url
        self.max_cycles = opts.max_cycles
        self.duration = opts.duration
        self.projects_per_cycle = opts.projects_per_cycle or pipe.projects_per_cycle
        self.seed = self.config.experimenter.seed if opts.seed is None else opts.seed
        self.force_lab_analysis = opts.force_lab_analysis
        self.handle_signals = opts.handle_signals
        self.choose_version = opts.choose_version
        self._planner = opts.planner
        self.status_callbacks: list[StatusCallback] = []
        self._notes: list[str] = []
        self.state = self._resumed_state(opts.resume, pipe.lab_technician_interval)
        self.last_lab_result: AgentResult | None = None
        self._clock = opts.clock
        self._sleep = opts.sleep
        # a resumed pipeline continues its own time line (and its cycle count, so new projects)
        self._t0 = self._clock() - (self.state.history[-1].t if self.state.history else 0.0)
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
        self._code_gate: CodeGate | None = None
        self._lab_lock: asyncio.Lock | None = None
        self._lab_task: asyncio.Task | None = None
        self._status = StatusBroadcaster(self.status_callbacks)
        spec = FleetSpec(workspace=self.workspace, data_dir=self.data_dir, config=pipe, clock=self._clock,
                         sleep=self._sleep, on_event=self._emit)
        self.fleet: Fleet = make_fleet(replace(
            spec, workers=opts.workers or pipe.workers, executor=opts.executor or pipe.executor,
            ray_address=opts.ray_address or pipe.ray_address, agent_target=opts.experimenter_target,
            code_package=self.config.experimenter.code_package))
        self.rollout = self._canary_rollout(pipe)
        self._judge_now = False          # the canary cannot run: the Lab Technician judges it at once
        self._lab_worker = WorkerSupervisor(agent="lab_technician", agent_target=opts.lab_technician_target,
                                            log_failures=False, workspace=self.workspace, data_dir=self.data_dir,
                                            config=pipe, clock=self._clock, sleep=self._sleep, on_event=self._emit)

    def _canary_rollout(self, pipe: Any) -> CanaryRollout | None:
        """With ``pipeline.rollout: canary`` (and no version chooser of the caller's), each change
        is run beside its baseline until judged (orchestration/rollout.py)."""
        if pipe.rollout != "canary" or self.choose_version is not None or self.workspace is None:
            return None
        rollout = CanaryRollout(self.data_dir, self.fleet.store, workspace=self.workspace,
                                package=self.config.experimenter.code_package, fraction=pipe.canary_fraction,
                                rng=random.Random(self.seed))
        self.choose_version = rollout.choose
        return rollout

    def _resumed_state(self, resume: bool, lab_interval: float) -> PipelineState:
        """The saved state to go on from; an unreadable one is kept aside, never overwritten."""
        previous = load_state(self.data_dir) if resume else None
        if resume and previous is None and state_path(self.data_dir).exists():
            kept = state_path(self.data_dir).with_suffix(".json.unreadable")
            os.replace(state_path(self.data_dir), kept)
            self._notes.append(f"could not read the saved state; started afresh and kept it as {kept}")
            log.warning(self._notes[-1])
        return previous or PipelineState(lab_interval=lab_interval)

    @property
    def worker(self) -> WorkerSupervisor | None:
        """The first local worker (a one-worker pipeline's only one); None on Ray."""
        return getattr(self.fleet, "primary", None)

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
        counts = self.fleet.counts()
        self.state.worker_restarts = counts.get("restarts", 0)
        self.state.worker_crashes = counts.get("crashes", 0)
        self.state.worker_hangs = counts.get("hangs", 0)
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
        await self.fleet.start()            # e.g. joins the Ray cluster: an unreachable one fails here
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._stop_requested = self._abort_requested = False
        self._code_gate = self._code_gate or CodeGate()
        self._running = True
        started = self._now()
        self._schedule = LabSchedule.create(
            self._schedule.base, min_interval=self._schedule.min_interval, max_interval=self._schedule.max_interval,
            threshold=self._schedule.threshold, min_new_experiments=self._schedule.min_new_experiments,
            now=self._clock())
        self.state.status, self.state.pid = "running", os.getpid()
        self.state.started_at = self.state.started_at or utcnow().isoformat()
        self.state.code_version = self.fleet.store.current()
        if self.rollout is not None:
            self.rollout.refresh()           # a resumed pipeline goes on judging its canary
        self._save()
        installed = self._install_signals()
        control = PipelineControl(self).start()     # requests from a dashboard (orchestration/control.py)
        self._emit({"stage": "pipeline", "status": "started", "research_areas": list(areas),
                    "lab_technician": self._lab_enabled, "lab_interval": self._schedule.interval,
                    "workers": self.fleet.size, **({"notes": self._notes} if self._notes else {})})
        cycles_run = 0
        try:
            while not self._stopping():
                self.state.cycle += 1
                cycles_run += 1
                projects = plan_projects(areas, self.projects_per_cycle, self.seed + self.state.cycle)
                self._emit({"stage": "cycle", "status": "started", "projects": len(projects)})
                await self._run_cycle([_as_dict(p) for p in projects], duration, started)
                self._emit({"stage": "cycle", "status": "completed", "experiments": self.state.experiments,
                            "success_rate": self.state.success_rate})
                self._save()
                if (max_cycles is not None and cycles_run >= max_cycles) or self._out_of_time(duration, started):
                    break
            if self._lab_task is not None:   # a bounded run ends once the Lab Technician has finished
                await asyncio.gather(self._lab_task, return_exceptions=True)
        finally:
            await control.close()
            await self._shutdown(installed)
        return self.state

    async def _run_cycle(self, projects: list[dict[str, Any]], duration: float | None, started: float) -> None:
        """Run one cycle's projects ``fleet.size`` at a time; after each experiment the Lab
        Technician starts if it is due."""
        running: set[asyncio.Future] = set()
        try:
            for project in projects:
                while len(running) >= self.fleet.size:
                    running = await self._one_finished(running)
                if self._stopping() or self._out_of_time(duration, started):
                    break
                running.add(asyncio.ensure_future(self._experiment(project)))
            while running:
                running = await self._one_finished(running)
        finally:
            for task in running:             # only on an error: never leave an experiment behind
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _one_finished(self, running: set[asyncio.Future]) -> set[asyncio.Future]:
        done, pending = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()                    # an error in the pipeline itself is not swallowed
        if self._lab_due() and not self._stopping():
            await self._start_scheduled_lab_run()
        return set(pending)

    def _stopping(self) -> bool:
        return self._stop_requested or (self._stop is not None and self._stop.is_set())

    def _out_of_time(self, duration: float | None, started: float) -> bool:
        return duration is not None and self._now() - started >= duration

    async def _guarded(self, work: Awaitable[Any], supervisor: WorkerSupervisor | Fleet, deadline: float) -> Any:
        """Await ``work``; on stop give it ``deadline`` seconds more, then abort the worker(s)."""
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
        assert self._code_gate is not None
        input_data = {"project": project, "archive_url": self.archive_url}
        version = self.choose_version(project) if self.choose_version is not None else None
        async with self._code_gate.reading():
            self._emit({"stage": "experiment", "status": "started", "project_id": project.get("id"),
                        "area": project.get("area"), "kind": project.get("kind"),
                        **({"requested_version": version} if version else {})})
            outcome: ExperimentOutcome = await self._guarded(
                self.fleet.run(input_data, version=version, state_name="experiment"), self.fleet,
                self.config.pipeline.shutdown_deadline_seconds)
        self.state.code_version = outcome.code_version or self.state.code_version
        if self.rollout is not None and self.rollout.observe(outcome.code_version, outcome.success,
                                                             outcome.failure_kind):
            self._judge_now = True
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
                    **({"arm": self._arm(outcome.code_version)} if self.rollout and self.rollout.active else {}),
                    "duration": outcome.duration, "experiments": self.state.experiments,
                    "success_rate": self.state.success_rate,
                    "recent_success_rate": self.state.recent_success_rate()})
        return outcome

    def _arm(self, version: str | None) -> str:
        active = self.rollout.active if self.rollout is not None else None
        return "canary" if active is not None and version == active.canary else "baseline"


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
