"""The parent side of ``astroagent watch``: start the command with the hook in its environment,
pass its exit code through, and say afterwards what could not be watched.

The command inherits stdin, stdout and stderr, so its output is untouched; watch's own lines
go to stderr before it starts and after it ends. In process mode the runner writes the
execution's end itself: the outcome is recorded outside the watched code.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astroagent.errors import UsageError
from astroagent.watch.hook import ENV

__all__ = ["WatchResult", "run_watched", "is_python_command", "BOOTSTRAP_DIR"]

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "_bootstrap"
_PYTHON_NAME = re.compile(r"(python|pypy)[0-9.]*(-dbg)?(\.exe)?")
_FORWARDED = (signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class WatchResult:
    """How the command ended and what watch has to say about it (one line each)."""

    exit_code: int
    warnings: tuple[str, ...]


def is_python_command(program: str) -> bool:
    """A Python interpreter (by name, e.g. a pyenv shim) or a script whose ``#!`` line runs Python."""
    if _PYTHON_NAME.fullmatch(os.path.basename(program)):
        return True
    path = shutil.which(program)
    if path is None:
        return False
    try:
        with open(path, "rb") as handle:
            first = handle.readline(512)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def _runner_paths() -> list[str]:
    """Where this astroagent and its dependencies are importable from (for an interpreter without them)."""
    import orjson

    here = Path(__file__).resolve().parents[2]
    return list(dict.fromkeys([str(here), str(Path(orjson.__file__).resolve().parents[1])]))


def watch_env(packages: Sequence[str], *, agent: str, mode: str, data_root: Path, base: Path,
              report_dir: Path, execution_id: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BOOTSTRAP_DIR), *filter(None, [env.get("PYTHONPATH")])])
    env.update({ENV["packages"]: ",".join(packages), ENV["agent"]: agent, ENV["mode"]: mode,
                ENV["data"]: str(data_root), ENV["base"]: str(base), ENV["report"]: str(report_dir),
                ENV["syspath"]: os.pathsep.join(_runner_paths()), ENV["tag"]: sys.implementation.cache_tag})
    env.pop(ENV["execution"], None)
    if execution_id:
        env[ENV["execution"]] = execution_id
    return env


def _run(command: Sequence[str], env: dict[str, str] | None) -> int:
    """Run ``command`` in the foreground; SIGTERM/SIGHUP are passed on, Ctrl-C reaches it from the terminal."""
    try:
        proc = subprocess.Popen(list(command), env=env)
    except FileNotFoundError:
        raise UsageError(f"{command[0]}: command not found") from None
    except PermissionError:
        raise UsageError(f"{command[0]}: not executable") from None

    def forward(signum: int, frame: Any) -> None:
        if signum != signal.SIGINT:
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (*_FORWARDED, signal.SIGINT)}
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell says


def _finish_process_execution(log_dir: Path, execution_id: str, code: int, duration: float) -> None:
    from astroagent.telemetry import EventWriter

    data: dict[str, Any] = {"success": code == 0, "duration": duration, "exit_code": code}
    if code != 0:
        data.update(failure_type="ExitStatus", failure=f"the command exited with status {code}")
    writer = EventWriter(log_dir)
    try:
        writer.write(execution_id, "execution_complete", data)
    finally:
        writer.close()


def _read(path: Path) -> str:
    try:
        return " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return ""


def _warnings(report: Path, packages: Sequence[str]) -> list[str]:
    lines = [text for name in ("nohook", "lost") if (text := _read(report / name))]
    if not (report / "hooked").exists():
        if not lines:
            lines.append("no Python process of the command loaded the watch hook "
                         "(started with -E or -I, or with its own environment?); nothing was watched")
        return lines
    for name in packages:
        if not (report / f"imported-{name}").exists():
            lines.append(f"package {name} was never imported; nothing of it was watched")
    return lines


def run_watched(command: Sequence[str], packages: Sequence[str], *, agent: str, mode: str,
                data_root: Path, base: Path) -> WatchResult:
    """Run ``command`` with ``packages`` watched; events go to ``<data_root>/logs/<agent>/``."""
    if not is_python_command(command[0]):
        code = _run(command, None)
        return WatchResult(code, (f"{command[0]} is not a Python program; it ran unwatched",))
    report = Path(tempfile.mkdtemp(prefix="astroagent-watch-"))
    try:
        execution_id = uuid.uuid4().hex if mode == "process" else None
        env = watch_env(packages, agent=agent, mode=mode, data_root=data_root, base=base,
                        report_dir=report, execution_id=execution_id)
        start = time.perf_counter()
        code = _run(command, env)
        duration = time.perf_counter() - start
        if execution_id and (report / "started").exists():
            _finish_process_execution(data_root / "logs" / agent, execution_id, code, duration)
        return WatchResult(code, tuple(_warnings(report, packages)))
    finally:
        shutil.rmtree(report, ignore_errors=True)
