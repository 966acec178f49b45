"""Tamper evidence: is the telemetry the judge relies on still the telemetry that was loaded?

    baseline = snapshot(data_dir=data_dir, agent="experimenter")   # before the judged code is imported
    ... import and run the judged code ...
    problems = compare(baseline, snapshot(data_dir=data_dir, agent="experimenter"))

A snapshot holds the objects themselves (the event writer, the ``Telemetry``/``Execution``/``Span``
methods, the ``instrument`` decorator, the logging functions), their code and defaults, the state of
the loggers in use (level, handlers, filters, ``logging.disable``) and where events go (the data
directory, its environment variables and the agent's log folder). ``compare`` names every object
replaced, every ``__code__`` or defaults rewritten, every logger reconfigured and every folder
redirected. Code that runs in the same process could still hide from any check it can reach, so
this is evidence, not a sandbox: the supervisor's own record of outcomes is the other half.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import astroagent.telemetry.instrument  # noqa: F401 - loaded before any snapshot, so it is watched
import astroagent.telemetry.metrics  # noqa: F401
import astroagent.telemetry.writer  # noqa: F401

__all__ = ["Snapshot", "snapshot", "compare", "WATCHED", "ENV_VARS"]

_TELEMETRY_NAMES = ("Telemetry", "Execution", "Span", "EventWriter", "MetricsRecorder", "instrument",
                    "current_execution", "error_location", "atomic_write_bytes")
_LOG_METHODS = ("_log", "handle", "callHandlers", "isEnabledFor", "getEffectiveLevel", "makeRecord", "debug",
                "info", "warning", "error", "exception", "critical", "log", "addHandler", "removeHandler")
# (module, attribute path) of everything an event passes through on its way to the log file
WATCHED: tuple[tuple[str, str], ...] = (
    *(("astroagent.telemetry.writer", f"EventWriter.{m}") for m in ("__init__", "write", "_open_for", "_shrink",
                                                                   "close", "_close")),
    *(("astroagent.telemetry.writer", name) for name in ("EventWriter", "utcnow", "_now_utc", "log_file_name",
                                                         "_fallback", "os", "orjson", "_time_ns", "_second_of",
                                                         "_MILLIS", "_MICROS_Z")),
    *(("astroagent.telemetry.instrument", f"Telemetry.{m}") for m in ("__init__", "execution", "record_success",
                                                                      "record_failure", "record_error", "close")),
    *(("astroagent.telemetry.instrument", f"Execution.{m}") for m in ("__init__", "span", "event", "fail")),
    *(("astroagent.telemetry.instrument", f"Span.{m}") for m in ("__init__", "__enter__", "__exit__")),
    *(("astroagent.telemetry.instrument", f"_ExecutionScope.{m}") for m in ("__init__", "__enter__", "__exit__")),
    *(("astroagent.telemetry.instrument", name) for name in (
        "Telemetry", "Execution", "Span", "_ExecutionScope", "EventWriter", "MetricsRecorder", "instrument",
        "_qualified", "current_execution", "error_location", "_format_tb", "ACTIVE_EXECUTION", "_LOGGED_ATTR")),
    *(("astroagent.telemetry.metrics", f"MetricsRecorder.{m}") for m in ("__init__", "record", "sample_sink",
                                                                         "record_usage", "flush")),
    *(("astroagent.telemetry.metrics", name) for name in ("MetricsRecorder", "merge_metrics", "atomic_write_bytes")),
    *(("astroagent.telemetry", name) for name in _TELEMETRY_NAMES),
    ("astroagent.telemetry.integrity", "snapshot"), ("astroagent.telemetry.integrity", "compare"),
    ("astroagent.agents.common", "BaseAgent.run"),
    *(("astroagent.agents.experimenter", name) for name in ("Telemetry", "load_research_code", "validate_outcome",
                                                            "write_results", "ExperimenterAgent.execute")),
    ("astroagent.paths", "data_dir"),
    *(("os", name) for name in ("write", "open", "close", "replace", "fsync", "makedirs", "getpid")),
    ("orjson", "dumps"),
    *(("logging", f"Logger.{m}") for m in _LOG_METHODS),
    *(("logging", name) for name in ("getLogger", "disable", "root", "Logger", "Handler.handle", "Handler.emit",
                                     "StreamHandler.emit", "FileHandler.emit", "Filterer.filter")),
)
ENV_VARS = ("ASTROAGENT_DATA_DIR", "ASTROAGENT_WORKSPACE")
_MISSING = object()


@dataclass(frozen=True)
class Snapshot:
    """What was watched, by name: ``("same", objects)`` compared by identity, ``("equal", value)`` by value."""

    entries: tuple[tuple[str, str, Any], ...]

    def as_dict(self) -> dict[str, tuple[str, Any]]:
        return {name: (kind, value) for name, kind, value in self.entries}


def _resolve(module: str, path: str) -> Any:
    obj: Any = sys.modules.get(module, _MISSING)
    for part in path.split("."):
        if obj is _MISSING:
            return _MISSING
        try:
            obj = vars(obj)[part] if isinstance(obj, type) and part in vars(obj) else getattr(obj, part)
        except (AttributeError, TypeError):
            return _MISSING
    return obj


def _fingerprint(obj: Any) -> tuple[Any, ...]:
    """The object and what would change its behaviour in place: code, defaults, the wrapped function."""
    func = getattr(obj, "__func__", obj)           # staticmethod / classmethod / bound method
    return (obj, func, getattr(func, "__code__", None), getattr(func, "__defaults__", None),
            getattr(func, "__kwdefaults__", None), getattr(func, "__closure__", None))


def _logger_state(name: str, logger: logging.Logger) -> list[tuple[str, str, Any]]:
    label = f"logger {name or 'root'!r}"
    handlers = tuple(logger.handlers)
    return [(f"{label} object", "same", (logger,)),
            (f"{label} level", "equal", logger.level),
            (f"{label} disabled", "equal", bool(logger.disabled)),
            (f"{label} propagate", "equal", bool(logger.propagate)),
            (f"{label} handlers", "same", handlers),
            (f"{label} handler levels", "equal", tuple(h.level for h in handlers)),
            (f"{label} filters", "same", tuple(logger.filters))]


def _loggers() -> list[tuple[str, logging.Logger]]:
    """The root logger and astroagent's own (the ones the pipeline and agents log through)."""
    found = [("", logging.getLogger())]
    for name, logger in sorted(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and (name == "astroagent" or name.startswith("astroagent.")):
            found.append((name, logger))
    return found


def _real(path: Path) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return str(path)


def snapshot(*, data_dir: Path | None = None, agent: str | None = None,
             extra: Mapping[str, Any] | None = None) -> Snapshot:
    """The watched objects, the loggers' state and the event folders now; ``extra``: more objects by name."""
    entries: list[tuple[str, str, Any]] = []
    for module, path in WATCHED:
        obj = _resolve(module, path)
        if obj is not _MISSING:
            entries.append((f"{module}.{path}", "same", _fingerprint(obj)))
    for module in sorted({m for m, _ in WATCHED}):
        if module in sys.modules:
            entries.append((f"sys.modules[{module!r}]", "same", (sys.modules[module],)))
    for name, obj in (extra or {}).items():
        entries.append((name, "same", _fingerprint(obj)))
    entries.append(("logging.disable level", "equal", logging.root.manager.disable))
    for name, logger in _loggers():
        entries.extend(_logger_state(name, logger))
    for var in ENV_VARS:
        entries.append((f"${var}", "equal", os.environ.get(var)))
    if data_dir is not None:
        entries.append(("data directory", "equal", _real(Path(data_dir))))
        if agent:
            entries.append((f"log folder of {agent}", "equal", _real(Path(data_dir) / "logs" / agent)))
    return Snapshot(tuple(entries))


def _describe(name: str, kind: str, old: Any, new: Any) -> str | None:
    if kind == "equal":
        return None if old == new else f"{name} changed: {old!r} → {new!r}"
    if len(old) != len(new):
        return f"{name} changed ({len(old)} → {len(new)})"
    if old and old[0] is not new[0]:
        return f"{name} replaced"
    parts = ("object", "function", "__code__", "__defaults__", "__kwdefaults__", "__closure__")
    for label, a, b in zip(parts if len(old) == len(parts) else (), old, new):
        if a is not b:
            return f"{name}: {label} rewritten"
    if any(a is not b for a, b in zip(old, new)):
        return f"{name} changed"
    return None


def compare(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs from ``before``, one line each (empty: untouched). Something watched in ``before``
    that is gone counts; something only ``after`` has (a module imported since) does not."""
    now = after.as_dict()
    problems: list[str] = []
    for name, kind, old in before.entries:
        if name not in now:
            problems.append(f"{name} removed")
            continue
        new_kind, new = now[name]
        if new_kind != kind:
            problems.append(f"{name} changed")
        elif (text := _describe(name, kind, old, new)) is not None:
            problems.append(text)
    return problems
