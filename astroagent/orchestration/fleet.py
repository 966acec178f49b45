"""The worker fleet: N experiments at a time, each on a chosen code version.

    fleet = make_fleet(FleetSpec(...))                 # local processes (default) or Ray actors
    outcome = await fleet.run(input_data, version=v)   # None: the code on disk now
    await fleet.close(deadline)

``LocalFleet`` keeps N supervised worker processes (``WorkerSupervisor``: crash and hang
supervision, restarts with backoff). A worker runs one version at a time; asked for another,
it is restarted between experiments with that version's folder as its workspace. Which
version an experiment gets is the caller's choice; ``assign_version`` is the random
baseline/canary split a canary rollout uses.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from astroagent.config import PipelineConfig
from astroagent.errors import AstroAgentError, UsageError
from astroagent.orchestration.supervisor import ExperimentOutcome, WorkerSupervisor
from astroagent.orchestration.versions import VersionStore

__all__ = ["Fleet", "FleetSpec", "LocalFleet", "FleetStartError", "make_fleet", "assign_version",
           "RAY_MISSING"]

RAY_MISSING = "the ray executor needs Ray: pip install 'astroagent[ray]'"


class FleetStartError(AstroAgentError):
    """The fleet could not be started (e.g. a Ray cluster that cannot be reached)."""


def assign_version(baseline: str | None, canary: str | None, fraction: float,
                   rng: random.Random | None = None) -> str | None:
    """The version one experiment runs: ``canary`` with probability ``fraction``, else ``baseline``
    (no canary: always the baseline). Independent draws, so both arms cover the same period."""
    if canary is None or canary == baseline:
        return baseline
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"canary fraction must lie strictly between 0 and 1, got {fraction!r}")
    return canary if (rng or random).random() < fraction else baseline


@dataclass(frozen=True)
class FleetSpec:
    """What every executor needs to start workers for one agent."""

    workspace: Path | None
    data_dir: Path
    config: PipelineConfig
    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None
    agent: str = "experimenter"
    agent_target: str | None = None
    code_package: str = "experimenter"
    python: str = sys.executable
    env: dict[str, str] | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_event: Callable[[dict[str, Any]], None] = field(default=lambda update: None)


class Fleet(Protocol):
    """What the pipeline needs from an executor."""

    size: int
    agent: str
    store: VersionStore

    async def start(self) -> None: ...

    async def run(self, input_data: dict[str, Any], *, version: str | None = None,
                  state_name: str = "experiment", execution_id: str | None = None) -> ExperimentOutcome: ...

    @property
    def versions(self) -> dict[str, Path | None]: ...

    def counts(self) -> dict[str, int]: ...

    async def abort(self) -> None: ...

    async def close(self, deadline: float = 5.0) -> None: ...


class LocalFleet:
    """N supervised worker processes on this machine; see the module docstring."""

    def __init__(self, spec: FleetSpec, *, store: VersionStore | None = None):
        if spec.workers < 1:
            raise UsageError(f"a fleet needs at least one worker, got {spec.workers}")
        self.spec = spec
        self.size = spec.workers
        self.agent = spec.agent
        self.store = store or VersionStore(spec.workspace, spec.code_package)
        env = _thread_share(spec.env, spec.workers)
        self.workers = [WorkerSupervisor(
            workspace=spec.workspace, data_dir=spec.data_dir, config=spec.config, agent=spec.agent,
            agent_target=spec.agent_target, code_package=spec.code_package, python=spec.python, env=env,
            clock=spec.clock, sleep=spec.sleep, on_event=spec.on_event) for _ in range(spec.workers)]
        self._idle = list(self.workers)
        self._freed: asyncio.Condition | None = None

    async def start(self) -> None:
        """Nothing to do: each worker starts before its first experiment (and after a crash)."""

    @property
    def primary(self) -> WorkerSupervisor:
        """The first worker (a one-worker fleet's only one)."""
        return self.workers[0]

    @property
    def versions(self) -> dict[str, Path | None]:
        return self.store.versions

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.pid is not None]

    def counts(self) -> dict[str, int]:
        """Restarts, crashes and hangs summed over the workers (for the pipeline's state)."""
        return {name: sum(getattr(w, name) for w in self.workers) for name in ("restarts", "crashes", "hangs")}

    @asynccontextmanager
    async def _worker_for(self, folder: Path | None) -> AsyncIterator[WorkerSupervisor]:
        """An idle worker, preferring one already running ``folder``'s code (no restart)."""
        self._freed = self._freed or asyncio.Condition()
        async with self._freed:
            await self._freed.wait_for(lambda: bool(self._idle))
            same = [w for w in self._idle if w.workspace == folder and w.pid is not None]
            worker = (same or self._idle)[0]
            self._idle.remove(worker)
        try:
            yield worker
        finally:
            async with self._freed:
                self._idle.append(worker)
                self._freed.notify()

    async def run(self, input_data: dict[str, Any], *, version: str | None = None,
                  state_name: str = "experiment", execution_id: str | None = None) -> ExperimentOutcome:
        """Run one request on an idle worker, on ``version`` (restarting the worker to change
        version); never raises for a worker's fault: it becomes a failed outcome."""
        execution_id = execution_id or uuid.uuid4().hex
        try:
            folder = self.store.folder_for(version)
        except KeyError as exc:
            return self.primary.record_failure(execution_id, "start", f"UnknownCodeVersion: {exc.args[0]}",
                                               version=version)
        async with self._worker_for(folder) as worker:
            worker.workspace = folder      # a different version's folder: ensure_current restarts it
            return await worker.run(input_data, state_name=state_name, execution_id=execution_id)

    async def abort(self) -> None:
        """Kill every worker now: experiments in flight end as ``aborted``."""
        await asyncio.gather(*(w.abort() for w in self.workers))

    async def close(self, deadline: float = 5.0) -> None:
        """Stop the idle workers (each gets ``deadline`` seconds, then is killed)."""
        try:
            await asyncio.gather(*(w.shutdown(deadline=deadline) for w in self.workers))
        finally:
            for worker in self.workers:
                worker.close()


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _thread_share(env: dict[str, str] | None, workers: int) -> dict[str, str] | None:
    """Give each of several workers its share of the cores for numpy's thread pools (as Ray
    does for an actor): N workers each running a pool as wide as the machine thrash it."""
    if workers <= 1:
        return env
    env = dict(os.environ if env is None else env)
    share = str(max(1, (os.cpu_count() or 1) // workers))
    for name in _THREAD_VARS:
        env.setdefault(name, share)       # a setting of the user's wins
    return env


def make_fleet(spec: FleetSpec, *, store: VersionStore | None = None) -> Fleet:
    """The executor ``spec.executor`` names; ``ray`` needs the optional extra."""
    if spec.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {spec.workers}")
    if spec.executor == "local":
        return LocalFleet(spec, store=store)
    if spec.executor == "ray":
        try:
            from astroagent.orchestration.ray_executor import RayFleet
        except ImportError as exc:
            if "ray" in str(exc).lower():
                raise UsageError(RAY_MISSING) from None
            raise
        return RayFleet(spec, store=store)
    raise UsageError(f"unknown executor {spec.executor!r}; choose local or ray")
