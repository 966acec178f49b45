"""One watched process: its telemetry, the executions it opens, and what it reports to the runner.

Events go through ``astroagent.telemetry`` (the same writer, executions and error records as
``@instrument``), so the Lab Technician reads both alike. The hot path only writes events;
the daily metrics file is merged at most once a second, at exit, and when a multiprocessing
child ends. A telemetry failure (disk full, log folder removed) never reaches the program: it
is reported to the runner once.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from astroagent.telemetry import Execution, Telemetry, code_version, package_code_version
from astroagent.telemetry.instrument import ACTIVE_EXECUTION  # shared with @instrument: one sees the other's
from astroagent.watch.hook import ROOTS, WatchConfig, mark

__all__ = ["Session", "session", "MUTED", "ACTIVE"]

ACTIVE = ACTIVE_EXECUTION
_FLUSH_EVERY = 1.0  # seconds between merges of the metrics file


class _NullTelemetry:
    """Records nothing: the active execution while watch itself runs package code (``repr`` of
    arguments for their digest, ``str`` of an exception), so that code is not logged as calls."""

    id = "muted"

    def record_success(self, *args: Any, **kwargs: Any) -> None:
        return None

    def record_failure(self, *args: Any, **kwargs: Any) -> None:
        return None


MUTED = Execution(_NullTelemetry(), "muted")  # type: ignore[arg-type]


def _failure_text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:2000]
    except Exception:  # a __str__ that raises
        return type(exc).__name__


class Session:
    """The watch state of this process (rebuilt in a forked child)."""

    def __init__(self, cfg: WatchConfig):
        self.cfg = cfg
        self._versions: dict[str, str | None] = {}
        self._lost = False
        self._open()
        atexit.register(self.flush)
        os.register_at_fork(after_in_child=self._after_fork)
        self._arm_multiprocessing()

    def _open(self) -> None:
        self.telemetry = Telemetry(self.cfg.agent, Path(self.cfg.data_dir), location_base=Path(self.cfg.base))
        self._last_flush = time.monotonic()
        self._flush_lock = threading.Lock()
        self.process_run: Execution | None = None
        if self.cfg.mode == "process" and self.cfg.execution_id:
            self.process_run = Execution(self.telemetry, self.cfg.execution_id)
            if mark("started", exclusive=True):
                self.write(self.process_run.id, "execution_start", {
                    "agent": self.cfg.agent, "code_version": self.combined_version(), "pid": os.getpid(),
                    "packages": list(self.cfg.packages), "command": sys.argv[:8]})

    def _after_fork(self) -> None:
        """A forked child starts with its own writer and metrics, outside the parent's execution."""
        self._open()
        ACTIVE.set(None)
        self._arm_multiprocessing()

    def _arm_multiprocessing(self) -> None:
        """Merge metrics when a multiprocessing child ends (it leaves by ``os._exit``, skipping atexit)."""
        util = sys.modules.get("multiprocessing.util")
        if util is not None:
            util.register_after_fork(self, Session._arm_finalizer)
            Session._arm_finalizer(self)

    def _arm_finalizer(self) -> None:
        sys.modules["multiprocessing.util"].Finalize(self, self.flush, exitpriority=10)

    # --- code versions -------------------------------------------------------------------

    def version(self, package: str) -> str | None:
        """``package_code_version`` of the package's folder (a module: of its file), once per process."""
        if package not in self._versions:
            root = ROOTS.get(package) or self._find_root(package)
            version = None
            if root and os.path.isdir(root):
                version = package_code_version(Path(root))
            elif root and os.path.isfile(root):
                version = code_version([Path(root)], root=Path(root).parent)
            self._versions[package] = version
        return self._versions[package]

    @staticmethod
    def _find_root(package: str) -> str | None:
        import importlib.util

        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        locations = spec.submodule_search_locations
        return os.path.realpath(locations[0] if locations else spec.origin) if (locations or spec.origin) else None

    def combined_version(self) -> str | None:
        versions = [(p, self.version(p)) for p in self.cfg.packages]
        if len(versions) == 1:
            return versions[0][1]
        text = "|".join(f"{p}={v}" for p, v in versions)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    # --- events --------------------------------------------------------------------------

    def write(self, execution_id: str, event_type: str, data: dict[str, Any]) -> None:
        try:
            self.telemetry.writer.write(execution_id, event_type, data)
        except Exception as exc:
            self.lost(exc)

    def lost(self, exc: BaseException) -> None:
        """Events could not be written: tell the runner once, never the program."""
        if not self._lost:
            self._lost = True
            mark("lost", _failure_text(exc))

    def succeeded(self, run: Execution, method: str, duration: float, digest: str | None) -> None:
        try:
            run.telemetry.record_success(run.id, method, duration, digest)
        except Exception as exc:
            self.lost(exc)

    def failed(self, run: Execution, method: str, exc: BaseException, duration: float, digest: str | None) -> None:
        """``method_failed`` for an ``Exception`` (not for KeyboardInterrupt, SystemExit, GeneratorExit)."""
        if not isinstance(exc, Exception):
            return
        token = ACTIVE.set(MUTED)
        try:
            self.telemetry.code_roots = tuple(ROOTS.values())
            run.telemetry.record_failure(run.id, method, exc, duration, digest)
        except Exception as err:
            self.lost(err)
        finally:
            ACTIVE.reset(token)

    def begin(self, package: str, method: str) -> Execution:
        """Open the execution of an outermost call into a watched package."""
        run = Execution(self.telemetry, uuid.uuid4().hex)
        self.write(run.id, "execution_start", {"agent": self.cfg.agent, "code_version": self.version(package),
                                               "pid": os.getpid(), "package": package, "entry": method})
        return run

    def end(self, run: Execution, duration: float, cpu: float, exc: BaseException | None) -> None:
        ok = exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0))
        data: dict[str, Any] = {"success": ok, "duration": duration}
        if not ok and exc is not None:
            token = ACTIVE.set(MUTED)
            try:
                data.update(failure_type=type(exc).__name__, failure=_failure_text(exc))
            finally:
                ACTIVE.reset(token)
        self.write(run.id, "execution_complete", data)
        self.telemetry.metrics.record_usage(cpu_seconds=cpu, executions=1)
        if time.monotonic() - self._last_flush >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self._flush_lock.acquire(blocking=False):
            return
        try:
            self._last_flush = time.monotonic()
            self.telemetry.metrics.flush()
        except Exception as exc:
            self.lost(exc)
        finally:
            self._flush_lock.release()


_SESSION: list[Session] = []


def session(cfg: WatchConfig) -> Session:
    """This process's session, made on first use."""
    if not _SESSION:
        _SESSION.append(Session(cfg))
    return _SESSION[0]
