"""One analysis, end to end: ingest what is new, window the aggregates, read the target code,
find opportunities, decide whether to intervene. The only entry point others need."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from astroagent.config.models import LabTechnicianConfig
from astroagent.errors import ConfigError
from astroagent.labtech.analysis._facts_digest import facts_digest
from astroagent.labtech.analysis._state_dir import ANALYSIS_CACHE_FILE, STATIC_CACHE_FILE, state_file
from astroagent.labtech.analysis.analytics import WindowStats, summarize, trend, window_keys
from astroagent.labtech.analysis.classes import workspace_classes
from astroagent.labtech.analysis.ingest import ingest, load_hours
from astroagent.labtech.analysis.otel_source import otel_source
from astroagent.labtech.analysis.outcomes import with_outcomes
from astroagent.labtech.knowledge.hierarchy import Hierarchy
from astroagent.labtech.models import Analysis
from astroagent.labtech.analysis.opportunities import find_opportunities, needs_intervention
from astroagent.paths import package_of, workspace_relative as _rel
from astroagent.atomic import atomic_write_bytes

__all__ = ["run_analysis", "default_targets", "STATIC_CACHE_FILE"]


def default_targets(config: LabTechnicianConfig, workspace: Path | None, *,
                    code_package: str = "experimenter") -> list[Path]:
    """``lab_technician.targets`` (relative to the workspace; ``path::qualname`` and folders allowed),
    else every .py of the research package ``workspace/<code_package>/``."""
    if workspace is None:
        return []
    workspace = Path(workspace).resolve()
    if config.targets:
        out: list[Path] = []
        for entry in config.targets:
            path = (workspace / entry.split("::", 1)[0]).resolve()
            if path.is_dir():
                out.extend(sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts))
            elif path.is_file():
                out.append(path)
            else:   # a typo here would silently leave the Lab Technician nothing it may change
                raise ConfigError(f"lab_technician.targets: {entry!r} matches no file or folder in {workspace}")
        return out
    folder = workspace / code_package
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts) if folder.is_dir() else []


def _metrics_in_window(cache: Mapping[str, Any], now: datetime, window_hours: float) -> dict[str, Any]:
    first_day = (now - timedelta(hours=window_hours)).strftime("%Y%m%d")
    last_day = now.strftime("%Y%m%d")
    out: dict[str, dict[str, Any]] = {}
    for entry in cache.values():
        if not entry.get("methods") or not first_day <= entry.get("day", "") <= last_day:
            continue
        for method, row in entry["methods"].items():
            acc = out.setdefault(method, {"times": [], "success": 0, "error": 0})
            acc["times"].extend(row.get("times", []))
            acc["success"] += row.get("success", 0)
            acc["error"] += row.get("error", 0)
    return out


def _static(targets: Sequence[Path], workspace: Path | None, state_dir: Path) -> dict[str, dict[str, Any]]:
    """Static facts of the targets, parsed only for files whose bytes changed since the last run."""
    if not targets:
        return {}
    cache_path = state_file(state_dir, STATIC_CACHE_FILE)
    try:
        cache = orjson.loads(cache_path.read_bytes())
        cache = cache if isinstance(cache, dict) else {}
    except (OSError, orjson.JSONDecodeError):
        cache = {}
    facts: dict[str, dict[str, Any]] = {}
    stale: list[Path] = []
    for file in targets:
        try:
            digest = facts_digest(Path(file).read_bytes())
        except OSError:
            continue
        hit = cache.get(_rel(Path(file), workspace))
        if isinstance(hit, dict) and hit.get("hash") == digest and isinstance(hit.get("facts"), dict):
            facts.update(hit["facts"])
        else:
            stale.append(Path(file))
    if stale:
        from astroagent.labtech.analysis.static import analyze_files  # libcst is slow to import: only when needed

        facts.update(analyze_files(stale, workspace, cache))
        try:
            atomic_write_bytes(cache_path, orjson.dumps(cache))
        except OSError:
            pass  # a cache: the next run parses again
    return facts


def run_analysis(config: LabTechnicianConfig, log_dir: Path, state_dir: Path, *, workspace: Path | None = None,
                 targets: Sequence[Path] = (), window_hours: float | None = None, force: bool = False,
                 now: datetime | None = None, log_format: str = "auto") -> Analysis:
    """Analyse the last ``window_hours`` of ``log_dir`` (incrementally; state in ``state_dir``): contract
    logs, or OpenTelemetry spans (``log_format`` ``otel``, or ``auto`` when it holds no contract logs)."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    window = float(window_hours or config.analysis_window_hours)
    log_dir, state_dir = Path(log_dir), Path(state_dir)
    notes: list[str] = []
    if not log_dir.is_dir():
        return Analysis(generated_at=now, window_hours=window, log_dir=str(log_dir), needs_intervention=force,
                        notes=(f"no log directory at {log_dir}",))
    read_dir, otel_notes = otel_source(log_dir, state_dir, log_format, now_ts=now.timestamp(),
                                       timeout=config.execution_timeout_seconds)
    notes.extend(otel_notes)
    result = ingest(read_dir, state_dir, now=now, execution_timeout=config.execution_timeout_seconds,
                    retention_hours=max(14 * 24.0, 2 * window + 2), engine=config.ingest_engine)
    notes.extend(result.notes)
    state = result.state
    static = _static(list(targets), workspace, state_dir)
    classes = workspace_classes(targets, workspace, state_dir=state_dir)
    now_ts = _window_end(state.get("last_ts"), now.timestamp(), window, notes)
    ingest_info = {"files_read": result.files_read, "bytes_read": result.bytes_read,
                   "new_events": result.new_events, "engines": result.engines}
    key = _cache_key(state, config, now_ts, window, static, bool(targets), notes, classes.key())
    cached = _cached(state_dir, key)
    if cached is not None:  # nothing new and the same hours in the window: the last answer stands
        return with_outcomes(cached.model_copy(update={
            "generated_at": now, "needs_intervention": force or cached.needs_intervention,
            "trend": {**cached.trend, "ingest": ingest_info}}), log_dir, now_ts, window)
    current, previous = _windows(config, state, state_dir, now_ts, window, static, workspace, classes)
    # the packages' versions on disk, read only when the logs gave something new to analyse: code
    # changed since is the current version only once it has run (then its events are new)
    current.on_disk = on_disk = _on_disk(targets, workspace)
    opportunities = find_opportunities(current, config, static, spans=read_dir != log_dir)
    if not targets:
        notes.append("no target code: opportunities are listed, nothing maps to a file the Lab Technician may change")
    broken = [n for n, e in state["metrics"].items() if e.get("error")]
    analysis = Analysis(
        generated_at=now, window_hours=window, log_dir=str(log_dir),
        log_entries_analyzed=current.events, malformed_lines=current.malformed + len(broken),
        executions=current.executions, avg_execution_time=round(current.avg_execution_time, 6),
        execution_time_p50=round(current.p50, 6), execution_time_p95=round(current.p95, 6),
        error_patterns=tuple(current.patterns), slow_methods=tuple(current.slow_methods),
        methods=current.methods, per_version=current.per_version, on_disk=on_disk,
        trend={**trend(current, previous), "hourly": current.hourly,
               "ingest": ingest_info},
        static=static, opportunities=opportunities,
        needs_intervention=needs_intervention(current, opportunities, config, force=False), notes=tuple(notes))
    try:
        atomic_write_bytes(state_file(state_dir, ANALYSIS_CACHE_FILE),
                           orjson.dumps({"key": key, "analysis": analysis.model_dump(mode="json")}))
    except OSError:
        pass  # a cache: the next run computes again
    analysis = with_outcomes(analysis, log_dir, now_ts, window)    # the supervisor's record, never cached
    return analysis.model_copy(update={"needs_intervention": True}) if force else analysis


def _on_disk(targets: Sequence[Path], workspace: Path | None) -> tuple[str, ...]:
    """The code versions of the targets' packages as they are on disk (what runs next)."""
    if workspace is None or not targets:
        return ()
    from astroagent.telemetry.code_version import workspace_code_version  # not at the CLI's start
    rels = [rel for t in targets if not Path(rel := _rel(Path(t), workspace)).is_absolute()]   # inside it only
    packages = {package_of(workspace, rel) for rel in rels}
    return tuple(sorted(v for p in packages if (v := workspace_code_version(workspace, p))))


def _window_end(newest: float | None, now_ts: float, window: float, notes: list[str]) -> float:
    """Where the window ends: now, or just after the newest event when the logs are older than a window."""
    if newest is not None and newest < now_ts - window * 3600:
        notes.append(f"no events in the last {window:g} h; analysed the {window:g} h up to the newest event "
                     f"({datetime.fromtimestamp(newest, UTC):%Y-%m-%d %H:%M:%S} UTC)")
        return newest + 1e-3
    return now_ts


def _windows(config: LabTechnicianConfig, state: dict[str, Any], state_dir: Path, now_ts: float, window: float,
             static: Mapping[str, Any], workspace: Path | None, classes: Hierarchy
             ) -> tuple[WindowStats, WindowStats]:
    """Statistics of the window ending at ``now_ts`` and of the one before it (for the trend)."""
    hours = load_hours(state, state_dir)
    common = {"slow_method_seconds": config.slow_method_seconds, "min_pattern_count": config.min_pattern_count,
              "classes": classes,
              "targets": sorted({k.split("::", 1)[0] for k in static}),
              "workspace": str(Path(workspace).resolve()) if workspace is not None else None}
    current = summarize(((k, hours[k]) for k in window_keys(hours, now_ts, window)),
                        metrics=_metrics_in_window(state["metrics"], datetime.fromtimestamp(now_ts, UTC), window),
                        **common)
    previous = summarize(((k, hours[k]) for k in window_keys(hours, now_ts, window, offset_windows=1)), **common)
    return current, previous


def _cache_key(state: Mapping[str, Any], config: LabTechnicianConfig, now_ts: float, window: float,
               static: Mapping[str, Any], has_targets: bool, notes: Sequence[str], classes: Sequence[Any] = ()) -> str:
    """What an analysis depends on besides the clock: the data generation and which hours with data
    fall in the current and the previous window (an idle clock moving on changes neither)."""
    if state.get("hour_keys") is not None:
        present = dict.fromkeys(str(k) for k in state["hour_keys"])
        span: list[Any] = [window_keys(present, now_ts, window), window_keys(present, now_ts, window, offset_windows=1)]
    else:
        span = [now_ts // 3600, window]
    days = [datetime.fromtimestamp(now_ts - window * 3600, UTC).strftime("%Y%m%d"),
            datetime.fromtimestamp(now_ts, UTC).strftime("%Y%m%d")]
    parts = [state.get("generation"), state.get("log_dir"), span, days, window, config.model_dump(mode="json"),
             sorted(static), has_targets, classes,
             list(notes), sorted((n, e.get("size"), e.get("mtime_ns")) for n, e in state["metrics"].items()),
             hashlib.blake2b(orjson.dumps(static, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()]
    return hashlib.blake2b(orjson.dumps(parts, default=str), digest_size=16).hexdigest()


def _cached(state_dir: Path, key: str) -> Analysis | None:
    try:
        doc = orjson.loads(state_file(state_dir, ANALYSIS_CACHE_FILE).read_bytes())
        if isinstance(doc, dict) and doc.get("key") == key:
            return Analysis.model_validate(doc["analysis"])
    except (OSError, orjson.JSONDecodeError, ValueError):
        pass
    return None
