"""Instrument code so it writes the log contract: executions, timed methods, errors.

    tel = Telemetry("experimenter", data_dir, code_roots=[workspace / "experimenter"])
    with tel.execution(code_version=package_code_version(...)) as run:
        with run.span("fetch_data"):
            ...

    @instrument                      # times the call when an execution is active,
    def fetch(url): ...              # a plain call (no cost but a lookup) otherwise

A failed span writes ``method_failed`` with ``error_type``, ``error``, ``location`` (the
innermost frame inside the instrumented code) and a bounded ``traceback``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import resource
import sys
import sysconfig
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import orjson

from astroagent.telemetry.metrics import MetricsRecorder
from astroagent.telemetry.writer import EventWriter, utcnow

__all__ = [
    "ACTIVE_EXECUTION",
    "Telemetry",
    "Execution",
    "Span",
    "instrument",
    "current_execution",
    "args_digest",
    "call_digest",
    "error_location",
]

F = TypeVar("F", bound=Callable[..., Any])

# the execution running in this context; public so other instrumenters (astroagent watch) share it
ACTIVE_EXECUTION: ContextVar["Execution | None"] = ContextVar("astroagent_execution", default=None)
_LOGGED_ATTR = "__astroagent_logged__"
_MAX_TRACEBACK = 8000
_TELEMETRY_DIR = str(Path(__file__).resolve().parent)
_LIB_DIRS = tuple({str(Path(p).resolve()) for p in (
    sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("purelib"),
    sysconfig.get_paths().get("platlib")) if p})


_DIGEST_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_BLAKE2B_8 = hashlib.blake2b(digest_size=8)  # copied for each digest: cheaper than making one


def args_digest(*args: Any, **kwargs: Any) -> str:
    """A stable hash of call arguments: equal arguments give equal digests across processes."""
    return call_digest(args, kwargs)


def call_digest(args: tuple[Any, ...], kwargs: dict[str, Any], default: Callable[[Any], Any] = repr) -> str:
    """``args_digest(*args, **kwargs)`` without unpacking the call; ``default`` turns an argument
    JSON cannot hold into something it can (``repr``: the digest's contract)."""
    call = [args, sorted(kwargs.items()) if kwargs else []]
    try:
        payload = orjson.dumps(call, default=default, option=_DIGEST_OPTS)
    except (TypeError, orjson.JSONEncodeError):   # an int beyond 64 bits, nesting too deep, a cycle: by repr
        try:
            payload = repr(call).encode("utf-8", "surrogatepass")
        except Exception:  # noqa: BLE001 - a digest never fails the call it describes
            payload = b"<unrepresentable>"
    digest = _BLAKE2B_8.copy()
    digest.update(payload)
    return digest.hexdigest()


def _is_under(filename: str, roots: tuple[str, ...]) -> bool:
    return any(filename == root or filename.startswith(root + os.sep) for root in roots)


def error_location(exc: BaseException, code_roots: tuple[str, ...] = (),
                   base: str | None = None) -> dict[str, Any] | None:
    """``{file, function, line}`` of the innermost frame of ``exc`` in the instrumented code."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    resolved = [(os.path.realpath(f.filename), f) for f in frames]
    chosen = None
    if code_roots:
        chosen = next((item for item in reversed(resolved) if _is_under(item[0], code_roots)), None)
    if chosen is None:
        chosen = next((item for item in reversed(resolved)
                       if not _is_under(item[0], _LIB_DIRS) and not item[0].startswith(_TELEMETRY_DIR)), None)
    filename, frame = chosen or resolved[-1]
    if base and _is_under(filename, (base,)):
        filename = os.path.relpath(filename, base)
    return {"file": filename, "function": frame.name, "line": frame.lineno}


def _format_tb(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-30))
    return text if len(text) <= _MAX_TRACEBACK else "..." + text[-_MAX_TRACEBACK:]


class Span:
    """Times one method call; writes ``method_complete`` or ``method_failed``."""

    __slots__ = ("_execution", "method", "digest", "_start")

    def __init__(self, execution: "Execution", method: str, digest: str | None = None):
        self._execution = execution
        self.method = method
        self.digest = digest

    def __enter__(self) -> "Span":
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        duration = time.perf_counter() - self._start
        if exc is None:
            self._execution.telemetry.record_success(self._execution.id, self.method, duration, self.digest)
        elif isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not the method's fault
            self._execution.telemetry.record_failure(self._execution.id, self.method, exc, duration, self.digest)


class Execution:
    """One execution: ``execution_start`` … ``execution_complete``; the active one is in a ContextVar."""

    def __init__(self, telemetry: "Telemetry", execution_id: str):
        self.telemetry = telemetry
        self.id = execution_id
        self.failure: str | None = None
        self.failure_type: str | None = None

    def span(self, method: str, *, args_digest: str | None = None) -> Span:
        return Span(self, method, args_digest)

    def event(self, event_type: str, **data: Any) -> None:
        self.telemetry.writer.write(self.id, event_type, data)

    def fail(self, message: str, failure_type: str = "ExecutionFailed") -> None:
        """Mark the execution failed without raising (e.g. a result that did not validate)."""
        self.failure, self.failure_type = message, failure_type


class _ExecutionScope:
    def __init__(self, telemetry: "Telemetry", execution_id: str, data: dict[str, Any]):
        self._run = Execution(telemetry, execution_id)
        self._data = data

    def __enter__(self) -> Execution:
        self._start = time.perf_counter()
        self._cpu = time.process_time()
        self._token = ACTIVE_EXECUTION.set(self._run)
        self._run.event("execution_start", **self._data)
        return self._run

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        run, tel = self._run, self._run.telemetry
        ACTIVE_EXECUTION.reset(self._token)
        duration = time.perf_counter() - self._start
        if exc is not None:
            if getattr(exc, _LOGGED_ATTR, None) is None and isinstance(exc, Exception):
                tel.record_error(run.id, "execution", exc, duration=duration, event_type="execution_error")
            run.failure = run.failure or f"{type(exc).__name__}: {exc}"
            run.failure_type = run.failure_type or type(exc).__name__
        data: dict[str, Any] = {"success": run.failure is None, "duration": duration}
        if run.failure is not None:
            data.update(failure_type=run.failure_type, failure=run.failure[:2000])
        run.event("execution_complete", **data)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        tel.metrics.record_usage(peak_rss_mb=peak_rss_mb, cpu_seconds=time.process_time() - self._cpu,
                                 executions=1)
        try:
            tel.metrics.flush()
        except OSError:
            pass  # metrics are a summary; the event log already holds the truth


class Telemetry:
    """Writes one agent's events to ``<data_dir>/logs/<agent>/`` and its daily metrics file."""

    def __init__(self, agent: str, data_dir: Path, *, code_roots: Iterable[Path] = (),
                 location_base: Path | None = None, clock: Callable[[], datetime] = utcnow):
        self.agent = agent
        self.log_dir = Path(data_dir) / "logs" / agent
        self.writer = EventWriter(self.log_dir, clock=clock)
        self.metrics = MetricsRecorder(self.log_dir, clock=clock)
        self._record_sample = self.metrics.sample_sink()  # the hot path skips a method call
        self.code_roots = tuple(os.path.realpath(p) for p in code_roots)
        self.location_base = os.path.realpath(location_base) if location_base else None

    def execution(self, execution_id: str | None = None, *, code_version: str | None = None,
                  **data: Any) -> _ExecutionScope:
        payload = {"agent": self.agent, "code_version": code_version, "pid": os.getpid(), **data}
        return _ExecutionScope(self, execution_id or uuid.uuid4().hex, payload)

    def record_success(self, execution_id: str, method: str, duration: float, digest: str | None = None) -> None:
        data: dict[str, Any] = {"method": method, "duration": duration, "success": True}
        if digest is not None:
            data["args_digest"] = digest
        self.writer.write(execution_id, "method_complete", data)
        self._record_sample((method, duration, True))

    def record_failure(self, execution_id: str, method: str, exc: BaseException, duration: float,
                       digest: str | None = None) -> None:
        """A failed call; an exception already logged by an inner span only counts in the metrics."""
        if getattr(exc, _LOGGED_ATTR, None) is None:
            self.record_error(execution_id, method, exc, duration=duration, digest=digest)
        else:
            self.metrics.record(method, duration, False)

    def record_error(self, execution_id: str, method: str, exc: BaseException, *, duration: float,
                     digest: str | None = None, event_type: str = "method_failed") -> None:
        data: dict[str, Any] = {
            "method": method,
            "duration": duration,
            "error_type": type(exc).__name__,
            "error": f"{type(exc).__name__}: {exc}"[:2000],
            "location": error_location(exc, self.code_roots, self.location_base),
            "traceback": _format_tb(exc),
        }
        if digest is not None:
            data["args_digest"] = digest
        self.writer.write(execution_id, event_type, data)
        self.metrics.record(method, duration, False)
        try:
            setattr(exc, _LOGGED_ATTR, method)
        except (AttributeError, TypeError):
            pass

    def close(self) -> None:
        try:
            self.metrics.flush()
        finally:
            self.writer.close()


def current_execution() -> Execution | None:
    return ACTIVE_EXECUTION.get()


def _qualified(func: Callable[..., Any]) -> str:
    """The function's own qualified name, from its code object when it has one (not a writable attribute)."""
    code = getattr(func, "__code__", None)
    name = getattr(code, "co_qualname", None) or getattr(func, "__qualname__", getattr(func, "__name__", "call"))
    return str(name).replace(".<locals>", "")


def instrument(func: F | None = None, *, name: str | None = None, digest_args: bool = False) -> Any:
    """Decorator: time each call and record success or the error, inside the active execution.

    The method it logs is always the function's own qualified name: ``name``, if given, must be that
    name (or its last part), so no function can log its calls under another one's name and dilute
    that method's failure rate or timings (ValueError at decoration otherwise)."""

    def decorate(target: F) -> F:
        method = _qualified(target)
        if name is not None and name not in (method, method.rsplit(".", 1)[-1]):
            raise ValueError(f"instrument(name={name!r}) on {method}: a function is logged under its own name")
        skip_self = "self" in inspect.signature(target).parameters or "cls" in inspect.signature(target).parameters

        perf_counter = time.perf_counter

        @functools.wraps(target)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = ACTIVE_EXECUTION.get()
            if run is None:
                return target(*args, **kwargs)
            digest = call_digest(args[1:] if skip_self else args, kwargs) if digest_args else None
            start = perf_counter()
            try:
                result = target(*args, **kwargs)
            except Exception as exc:
                run.telemetry.record_failure(run.id, method, exc, perf_counter() - start, digest)
                raise
            run.telemetry.record_success(run.id, method, perf_counter() - start, digest)
            return result

        wrapper.__astroagent_instrumented__ = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate
