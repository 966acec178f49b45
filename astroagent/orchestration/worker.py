"""The agent worker process: ``python -m astroagent.orchestration.worker``.

It speaks JSON lines: one request on stdin, one answer on stdout. A persistent worker builds
its agent once, so the workspace code it imports stays the code of that process: a new
``code_version`` needs a new worker (the supervisor restarts it between experiments).

    → {"type": "run", "id": EXECUTION_ID, "state_name": "experiment", "input_data": {...}}
    ← {"type": "result", "id": EXECUTION_ID, "result": {AgentResult}}

The telemetry is snapshotted before the workspace code is imported and compared after the import
and after every execution (``astroagent.telemetry.integrity``): if the code changed it, the answer
is failed with ``"failure_kind": "tampering"`` and ``"tampering": [what changed, ...]``.

At start it announces ``{"type": "ready", "pid", "agent", "code_version", "tampering"}``; EOF on stdin or
``{"type": "stop"}`` ends it. Anything the agent prints goes to stderr, never into the protocol.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import psutil   # imported up front: the SIGTERM handler must not import (it may interrupt an import)

from astroagent.orchestration.stacks import arm_stack_dump
from astroagent.telemetry.integrity import compare, snapshot
from astroagent.telemetry.code_version import workspace_code_version

__all__ = ["main", "PROTOCOL_VERSION", "kill_descendants"]

PROTOCOL_VERSION = 1
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM us when the pipeline dies, so a killed pipeline leaves no orphan."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def kill_descendants(pid: int | None = None) -> None:
    """Kill every process below ``pid`` (default: this one), also those in sessions of their own."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass


def _end_with_descendants(signum: int, frame: Any) -> None:
    """SIGTERM (the pipeline died, or a user): take every process we started down with us, so
    nothing is orphaned."""
    try:
        kill_descendants()
    finally:
        os._exit(128 + signum)


def _protocol_stream() -> BinaryIO:
    """Keep the real stdout for the protocol; point fd 1 at stderr for everything else."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "wb", buffering=0)


def _send(stream: BinaryIO, message: dict[str, Any]) -> None:
    stream.write(orjson.dumps(message, default=str, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")


def _build_agent(name: str, target: str | None, workspace: Path | None, data_dir: Path | None) -> Any:
    from astroagent.agents import create_agent, register_agent

    if target:
        register_agent(name, target)
    return create_agent(name, workspace=workspace, data_dir=data_dir)


def _warm_up(agent: Any) -> None:
    """Import the workspace code now, once, so the first experiment does not pay for it."""
    for hook in ("load_code", "warm_up", "prepare"):
        method = getattr(agent, hook, None)
        if callable(method):
            method()
            return
    loader = getattr(sys.modules.get(type(agent).__module__), "load_research_code", None)
    code_dir = getattr(agent, "code_dir", None)
    if callable(loader) and code_dir is not None:
        loader(code_dir, write_bytecode=not getattr(agent, "read_only", False))


def _run_one(agent: Any, name: str, request: dict[str, Any]) -> dict[str, Any]:
    from astroagent.agents.common import AgentExecutionContext, AgentResult

    execution_id = str(request.get("id") or "")
    try:
        context = AgentExecutionContext(agent_name=name, state_name=str(request.get("state_name") or "default"),
                                        input_data=dict(request.get("input_data") or {}),
                                        **({"execution_id": execution_id} if execution_id else {}))
        result = agent.run(context)
    except Exception as exc:  # the agent's run() already catches; this is the protocol's own edge
        result = AgentResult(agent_name=name, execution_id=execution_id or "unknown", success=False,
                             error_message=f"{type(exc).__name__}: {exc}")
    return {"type": "result", "id": execution_id, "result": result.model_dump(mode="json")}


class _Watch:
    """The telemetry as loaded (``integrity.snapshot``); ``check`` names what the code changed since.
    Sticky: once tampered with, every later execution of this process is failed too."""

    def __init__(self, data_dir: Path | None, agent: str):
        self._where = {"data_dir": data_dir, "agent": agent}
        self._baseline = snapshot(**self._where, extra=_own_functions())
        self._problems: list[str] = []

    def check(self) -> list[str]:
        if not self._problems:
            self._problems = compare(self._baseline, snapshot(**self._where, extra=_own_functions()))
        return self._problems


def _own_functions() -> dict[str, Any]:
    """The worker's own protocol functions (looked up now: a replaced one shows)."""
    return {"worker._run_one": _run_one, "worker._send": _send, "worker._tampered": _tampered,
            "worker._Watch.check": _Watch.check}


def _tampered(answer: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The answer of an execution whose telemetry was tampered with: failed, whatever it claimed."""
    result = {**answer.get("result", {}), "success": False,
              "error_message": "tampering: " + "; ".join(problems[:8])}
    return {**answer, "result": result, "failure_kind": "tampering", "tampering": problems}


def serve(name: str, *, target: str | None, workspace: Path | None, data_dir: Path | None,
          code_package: str, once: bool) -> int:
    out = _protocol_stream()
    code = workspace_code_version(workspace, code_package)
    dump = arm_stack_dump(data_dir) if data_dir is not None else None  # noqa: F841 - kept open while we serve
    try:
        agent = _build_agent(name, target, workspace, data_dir)
        watch = _Watch(getattr(agent, "data_dir", data_dir), name)   # before the workspace code is imported
        _warm_up(agent)
    except Exception as exc:
        _send(out, {"type": "fatal", "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-4000:]})
        return 3
    _send(out, {"type": "ready", "pid": os.getpid(), "agent": name, "code_version": code,
                "protocol": PROTOCOL_VERSION, "tampering": watch.check()})
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            _send(out, {"type": "error", "error": f"bad request: {exc}"})
            continue
        if not isinstance(request, dict) or request.get("type") == "stop":
            break
        if request.get("type") != "run":
            _send(out, {"type": "error", "error": f"unknown request type {request.get('type')!r}"})
            continue
        answer = _run_one(agent, name, request)
        _send(out, _tampered(answer, problems) if (problems := watch.check()) else answer)
        if once:
            break
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m astroagent.orchestration.worker")
    parser.add_argument("--agent", default="experimenter")
    parser.add_argument("--agent-target", default=None, help="module:Class to register under --agent")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--code-package", default="experimenter")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--once", action="store_true", help="answer one request, then exit")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pipeline decides when an experiment stops
    signal.signal(signal.SIGTERM, _end_with_descendants)
    if args.parent_pid:
        _die_with_parent(args.parent_pid)
    importlib.invalidate_caches()
    return serve(args.agent, target=args.agent_target, workspace=args.workspace, data_dir=args.data_dir,
                 code_package=args.code_package, once=args.once)


if __name__ == "__main__":
    sys.exit(main())
