"""The Ray executor: each worker is a Ray actor that supervises one worker process on its node.

The code of a version reaches the actor through Ray's runtime environment (the snapshot folder
as ``working_dir``: Ray packs and ships it, no shared file system). The actor runs the worker
with that folder as its workspace and its own temp folder as its data folder, so the worker's
events land on the node; the head drains them while the experiment runs and appends them,
byte for byte, to its own ``data/logs/<agent>/`` (the log contract is unchanged). A worker
process that dies is the actor's supervisor's business (a failed execution, as locally); an
actor that dies is the head's: its execution is logged failed (``crash``) and the events
drained before are kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
import shutil
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayError, RuntimeEnvSetupError

from astroagent.orchestration.fleet import FleetSpec, FleetStartError
from astroagent.atomic import append_whole
from astroagent.orchestration.supervisor import ExperimentOutcome, WorkerSupervisor
from astroagent.orchestration.versions import VersionStore

__all__ = ["RayFleet", "ExperimentActor", "check_reachable", "DRAIN_SECONDS"]

DRAIN_SECONDS = 0.25           # how often the head collects the events of a running experiment
_ACTOR_GRACE_SECONDS = 180.0  # beyond the experiment timeout (which the actor enforces): a lost actor
CONNECT_SECONDS = 5.0          # a cluster address that does not answer within this is unreachable
_LOG_NAME = re.compile(r"(execution|outcomes)_\d{8}\.jsonl")   # events, and the actor's supervisor's record


class _EventTail:
    """Whole new lines of the execution logs and outcome records below ``log_dir`` since the last call
    (the outcome record is written by the actor's supervisor, not by the judged code)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.offsets: dict[str, int] = {}

    def take(self) -> list[tuple[str, bytes]]:
        batches = []
        for path in sorted(p for p in self.log_dir.glob("*.jsonl") if _LOG_NAME.fullmatch(p.name)):
            start = self.offsets.get(path.name, 0)
            with open(path, "rb") as handle:
                handle.seek(start)
                data = handle.read()
            end = data.rfind(b"\n") + 1            # a line being written waits for the next call
            if end:
                self.offsets[path.name] = start + end
                batches.append((path.name, data[:end]))
        return batches


@ray.remote(num_cpus=1, max_restarts=0)
class ExperimentActor:
    """One fleet worker on a Ray node: a supervised worker process running this version's code."""

    def __init__(self, spec: dict[str, Any]):
        self.root = Path(tempfile.mkdtemp(prefix="astroagent-actor-"))
        workspace = Path.cwd() if spec["has_code"] else None   # the runtime env's working_dir
        self.supervisor = WorkerSupervisor(
            workspace=workspace, data_dir=self.root, config=spec["config"], agent=spec["agent"],
            agent_target=spec["agent_target"], code_package=spec["code_package"])
        self.tail = _EventTail(self.root / "logs" / spec["agent"])

    async def run(self, input_data: dict[str, Any], state_name: str, execution_id: str) -> dict[str, Any]:
        outcome = await self.supervisor.run(input_data, state_name=state_name, execution_id=execution_id)
        return {"outcome": dataclasses.asdict(outcome), "events": self.tail.take()}

    async def drain(self) -> list[tuple[str, bytes]]:
        return self.tail.take()

    async def ready(self) -> str | None:
        return self.supervisor.disk_code_version()

    async def close(self) -> list[tuple[str, bytes]]:
        await self.supervisor.shutdown(deadline=2.0)
        self.supervisor.close()
        events = self.tail.take()
        shutil.rmtree(self.root, ignore_errors=True)
        return events


def check_reachable(address: str, timeout: float = CONNECT_SECONDS) -> None:
    """Fail fast on a ``HOST:PORT`` nobody answers on (``ray.init`` would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise FleetStartError(f"--ray-address must be auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise FleetStartError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


@dataclasses.dataclass
class _Slot:
    actor: Any = None
    version: str | None = None


class RayFleet:
    """N experiment actors on a Ray cluster (a local instance when no address is given)."""

    def __init__(self, spec: FleetSpec, *, store: VersionStore | None = None):
        self.spec = spec
        self.size = spec.workers
        self.agent = spec.agent
        self.store = store or VersionStore(spec.workspace, spec.code_package)
        self._slots = [_Slot() for _ in range(spec.workers)]
        self._idle = list(self._slots)
        self._freed: asyncio.Condition | None = None
        self._started_ray = False
        self._aborting = False
        self._uris: dict[Path, str] = {}
        self._log_dir = Path(spec.data_dir) / "logs" / spec.agent
        self._recorder = WorkerSupervisor(workspace=spec.workspace, data_dir=spec.data_dir, config=spec.config,
                                          agent=spec.agent, code_package=spec.code_package)
        self.crashes = self.restarts = 0

    # -- cluster ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the cluster (or start a local, loopback-only instance); nothing is left running
        when that fails."""
        if ray.is_initialized():
            return
        address = self.spec.ray_address
        if address and address != "auto":
            check_reachable(address)
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": "WARNING",
                                   "namespace": "astroagent"}
        if not address:
            options.update(num_cpus=self.size, include_dashboard=False, _node_ip_address="127.0.0.1")
        try:
            ray.init(address=address or None, **options)
        except (ConnectionError, RayError, RuntimeError, ValueError) as exc:
            ray.shutdown()
            raise FleetStartError(f"cannot start or join Ray ({address or 'local'}): {exc}") from None
        self._started_ray = not address

    @property
    def versions(self) -> dict[str, Path | None]:
        return self.store.versions

    def counts(self) -> dict[str, int]:
        return {"restarts": self.restarts, "crashes": self.crashes, "hangs": 0}

    def _new_actor(self, version: str | None) -> tuple[Any, str | None]:
        """A new actor running ``version`` (None: the code on disk, snapshotted to ship it)."""
        version, folder = self.store.shippable(version, self.spec.data_dir)
        runtime_env: dict[str, Any] = {"env_vars": {"MPLBACKEND": "Agg"}}
        if folder is not None:
            runtime_env["working_dir"] = self._uploaded(folder)
        spec = {"config": self.spec.config, "agent": self.spec.agent, "agent_target": self.spec.agent_target,
                "code_package": self.spec.code_package, "has_code": folder is not None}
        return ExperimentActor.options(runtime_env=runtime_env).remote(spec), version

    def _uploaded(self, folder: Path) -> str:
        """The cluster's URI for ``folder``'s contents, uploaded once (content-addressed).

        Ray takes a local folder as ``working_dir`` only for a whole job; for an actor it needs
        a package in the cluster's store, which is what Ray's own job-level upload makes."""
        uri = self._uris.get(folder)
        if uri is None:
            from ray._private.runtime_env.working_dir import upload_working_dir_if_needed

            options: dict[str, Any] = {"scratch_dir": tempfile.gettempdir()}
            if "include_gitignore" in inspect.signature(upload_working_dir_if_needed).parameters:
                options["include_gitignore"] = False
            uri = upload_working_dir_if_needed({"working_dir": str(folder)}, **options)["working_dir"]
            self._uris[folder] = uri
        return uri

    # -- experiments ------------------------------------------------------------------------

    async def _take_slot(self, version: str | None) -> _Slot:
        self._freed = self._freed or asyncio.Condition()
        async with self._freed:
            await self._freed.wait_for(lambda: bool(self._idle))
            same = [s for s in self._idle if s.actor is not None and s.version == version]
            slot = (same or self._idle)[0]
            self._idle.remove(slot)
            return slot

    async def _give_back(self, slot: _Slot) -> None:
        assert self._freed is not None
        async with self._freed:
            self._idle.append(slot)
            self._freed.notify()

    async def run(self, input_data: dict[str, Any], *, version: str | None = None,
                  state_name: str = "experiment", execution_id: str | None = None) -> ExperimentOutcome:
        """Run one request on an idle actor of ``version`` (replacing the actor to change
        version); a lost actor becomes a failed outcome, never an exception."""
        execution_id = execution_id or uuid.uuid4().hex
        wanted = version or self.store.current()
        slot = await self._take_slot(wanted)
        try:
            if slot.actor is None or slot.version != wanted:
                if slot.actor is not None:
                    self.restarts += 1
                    await self._retire(slot)
                try:
                    slot.actor, slot.version = self._new_actor(version)
                except KeyError as exc:
                    return self._recorder.record_failure(execution_id, "start",
                                                         f"UnknownCodeVersion: {exc.args[0]}", version=version)
            return await self._run_on(slot, input_data, state_name, execution_id)
        finally:
            await self._give_back(slot)

    async def _run_on(self, slot: _Slot, input_data: dict[str, Any], state_name: str,
                      execution_id: str) -> ExperimentOutcome:
        """Await the actor's answer, shipping its events every ``DRAIN_SECONDS`` meanwhile."""
        started = self.spec.clock()
        ceiling = started + self.spec.config.experiment_timeout_seconds + _ACTOR_GRACE_SECONDS
        answer = asyncio.ensure_future(_awaited(slot.actor.run.remote(input_data, state_name, execution_id)))
        try:
            while True:
                done, _ = await asyncio.wait({answer}, timeout=DRAIN_SECONDS)
                if done:
                    break
                self._ship(await _awaited(slot.actor.drain.remote()))
                if self.spec.clock() > ceiling:       # the actor itself stopped answering
                    ray.kill(slot.actor, no_restart=True)
            result = answer.result()
        except RayError as exc:
            slot.actor = None
            if isinstance(exc, RuntimeEnvSetupError):
                return self._recorder.record_failure(execution_id, "start", "WorkerStartFailed: Ray could not "
                                                     f"set up the code's runtime environment: {_short(exc)}",
                                                     self.spec.clock() - started, slot.version)
            if self._aborting:
                return self._recorder.record_failure(execution_id, "aborted", "ExperimentAborted: the pipeline "
                                                     "stopped", self.spec.clock() - started, slot.version)
            self.crashes += 1
            self.spec.on_event({"stage": "worker", "status": "crashed", "agent": self.agent, "executor": "ray"})
            return self._recorder.record_failure(execution_id, "crash", f"WorkerCrashed: the Ray actor died "
                                                 f"({type(exc).__name__}: {_short(exc)})",
                                                 self.spec.clock() - started, slot.version)
        finally:
            if not answer.done():
                answer.cancel()
        self._ship(result["events"])
        return ExperimentOutcome(**result["outcome"])

    def _ship(self, batches: list[tuple[str, bytes]]) -> None:
        """Append the actor's whole lines to the head's log of the same day (one write each)."""
        for name, data in batches:
            if not _LOG_NAME.fullmatch(name) or not data:
                continue                         # never a path an actor chose
            self._log_dir.mkdir(parents=True, exist_ok=True)
            append_whole(self._log_dir / name, data)

    # -- stopping ---------------------------------------------------------------------------

    async def _retire(self, slot: _Slot, deadline: float = 5.0) -> None:
        """Let the actor stop its worker and hand over its last events, then end the actor."""
        actor, slot.actor = slot.actor, None
        if actor is None:
            return
        try:
            self._ship(await asyncio.wait_for(_awaited(actor.close.remote()), timeout=deadline))
        except (asyncio.TimeoutError, RayError, GetTimeoutError):
            pass
        ray.kill(actor, no_restart=True)

    async def abort(self) -> None:
        """Kill every actor now (their worker processes die with them): experiments in flight
        end as ``aborted``."""
        self._aborting = True
        for slot in self._slots:
            if slot.actor is not None:
                ray.kill(slot.actor, no_restart=True)

    async def close(self, deadline: float = 5.0) -> None:
        """Stop every actor, then the local Ray instance if this fleet started it."""
        try:
            await asyncio.gather(*(self._retire(s, deadline) for s in self._slots if s.actor is not None))
        finally:
            self._recorder.close()
            if self._started_ray and ray.is_initialized():
                await asyncio.to_thread(ray.shutdown)
                self._started_ray = False


async def _awaited(ref: Any) -> Any:
    return await ref


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
