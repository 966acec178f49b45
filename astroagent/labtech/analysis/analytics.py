"""Pure analytics over the persisted per-hour aggregates of a time window.

Executions and outcomes (overall and per ``code_version``), method timings, error patterns
(grouped, located, classified), and the trend against the previous window. No I/O here:
``ingest`` produced the hours, ``analyze`` decides which window to look at.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from astroagent.labtech.models import ErrorPattern, ExecutionStats, Location, MethodStats, SlowMethod, VersionStats
from astroagent.labtech.analysis.patterns import classify, signature

__all__ = ["WindowStats", "window_keys", "summarize", "trend", "resolve_location", "VERSION_SAMPLES", "percentile"]

VERSION_SAMPLES = 1000     # per version: execution times and per-method durations kept for verdicts


def window_keys(hours: Mapping[str, Any], now_ts: float, window_hours: float, *, offset_windows: int = 0) -> list[str]:
    """Hour keys overlapping ``[now - (k+1)·window, now - k·window)``, oldest first (k = ``offset_windows``)."""
    hi = now_ts - offset_windows * window_hours * 3600
    lo = hi - window_hours * 3600
    keys = [k for k in hours if int(k) * 3600 + 3600 > lo and int(k) * 3600 <= hi]
    return sorted(keys, key=int)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) without importing numpy (0.2-0.3 s)."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def resolve_location(file: str | None, function: str | None, line: int | None, frames: Sequence[Sequence[Any]],
                     targets: Sequence[str] = (), workspace: str | None = None) -> Location | None:
    """``event_data.location``, else the innermost traceback frame in the target code (else outside libraries)."""
    if file:
        return Location(file=_relative(file, workspace), function=function, line=line)
    if not frames:
        return None
    rel_frames = [(_relative(str(f), workspace), fn, int(ln)) for f, ln, fn in frames]
    if targets:
        for rel, fn, ln in reversed(rel_frames):
            if any(rel == t or rel.endswith("/" + t) for t in targets):
                return Location(file=rel, function=fn, line=ln)
    for rel, fn, ln in reversed(rel_frames):
        if "site-packages" not in rel and "/lib/python" not in rel and not rel.startswith("<"):
            return Location(file=rel, function=fn, line=ln)
    rel, fn, ln = rel_frames[-1]
    return Location(file=rel, function=fn, line=ln)


def _relative(path: str, workspace: str | None) -> str:
    if workspace and os.path.isabs(path):
        try:
            rel = os.path.relpath(path, workspace)
        except ValueError:
            return path
        if not rel.startswith(".."):
            return rel.replace(os.sep, "/")
    return path.replace("\\", "/")


@dataclass
class WindowStats:
    """Everything analytics found in one window."""

    events: int = 0
    malformed: int = 0
    executions: ExecutionStats = field(default_factory=ExecutionStats)
    avg_execution_time: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    methods: dict[str, MethodStats] = field(default_factory=dict)
    slow_methods: list[SlowMethod] = field(default_factory=list)
    per_version: dict[str, VersionStats] = field(default_factory=dict)
    patterns: list[ErrorPattern] = field(default_factory=list)
    digests: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    streaks: dict[str, int] = field(default_factory=dict)
    streak_spans: dict[str, list[float]] = field(default_factory=dict)   # method -> [n, first_ts, last_ts] of the longest
    hourly: dict[str, dict[str, list[int]]] = field(default_factory=dict)   # version -> [[hour, n, failed], ...]


def summarize(hours: Iterable[tuple[str, Mapping[str, Any]]], *, slow_method_seconds: float = 2.0,
              min_pattern_count: int = 3, targets: Sequence[str] = (), workspace: str | None = None,
              metrics: Mapping[str, Any] | None = None) -> WindowStats:
    """Reduce ``(hour_key, hour)`` pairs (oldest first) to the window's statistics."""
    out = WindowStats()
    n = failed = tn = 0
    tsum = 0.0
    exec_times: list[float] = []
    versions: dict[str, dict[str, Any]] = {}
    mtot: dict[str, list[Any]] = {}
    groups: dict[tuple, dict[str, Any]] = {}
    for key, hour in hours:
        out.events += hour["events"]
        out.malformed += hour["malformed"]
        for ver, slot in hour["v"].items():
            v = versions.setdefault(ver, {"n": 0, "f": 0, "t": [], "first": None, "last": None,
                                          "m": defaultdict(list), "calls": defaultdict(int),
                                          "errors": defaultdict(int)})
            v["n"] += slot["n"]
            v["f"] += slot["f"]
            v["t"].extend(slot["t"])
            for k, fn in (("first", min), ("last", max)):
                if slot[k] is not None:
                    v[k] = slot[k] if v[k] is None else fn(v[k], slot[k])
            if slot["n"]:
                out.hourly.setdefault(ver, []).append([int(key), slot["n"], slot["f"]])
            n, failed = n + slot["n"], failed + slot["f"]
            tsum, tn = tsum + slot["tsum"], tn + slot["tn"]
            exec_times.extend(slot["t"])
            for method, (calls, errs, dsum, dn, samples) in slot["m"].items():
                v["m"][method].extend(samples)
                v["calls"][method] += calls
                v["errors"][method] += errs
                t = mtot.setdefault(method, [0, 0, 0.0, 0, []])
                t[0] += calls
                t[1] += errs
                t[2] += dsum
                t[3] += dn
                t[4].extend(samples)
        for method, digests in hour["d"].items():
            acc = out.digests.setdefault(method, {})
            for dg, (ok, bad) in digests.items():
                pair = acc.setdefault(dg, [0, 0])
                pair[0] += ok
                pair[1] += bad
        for method, s in hour["s"].items():
            out.streaks[method] = max(out.streaks.get(method, 0), s)
        for method, run in hour.get("sd", {}).items():
            if run[0] >= out.streak_spans.get(method, [0])[0]:
                out.streak_spans[method] = run
        for g in hour["e"].values():
            loc = resolve_location(g["file"], g["func"], g["line"], g.get("frames") or (), targets, workspace)
            gkey = (g["type"], g["tmpl"], g["method"], loc.file if loc else None, loc.function if loc else None)
            acc = groups.get(gkey)
            if acc is None:
                acc = groups[gkey] = {"n": 0, "x": 0, "first": g["first"], "last": g["last"], "ex": [], "dg": set(),
                                      "v": defaultdict(int), "loc": loc}
            acc["n"] += g["n"]
            acc["x"] += g["x"]
            acc["first"], acc["last"] = min(acc["first"], g["first"]), max(acc["last"], g["last"])
            if g["last"] >= acc["last"]:
                acc["loc"] = loc
            acc["ex"].extend(m for m in g["ex"] if m not in acc["ex"])
            acc["dg"].update(g["dg"])
            acc["v"][g["version"]] += g["n"]
    out.executions = ExecutionStats(total=n, failed=failed, success_rate=round(1 - failed / n, 6) if n else 1.0)
    out.avg_execution_time = tsum / tn if tn else 0.0
    out.p50, out.p95 = percentile(exec_times, 50), percentile(exec_times, 95)
    _metrics_only(mtot, metrics or {})
    total_time = sum(t[2] for m, t in mtot.items())
    for method, (calls, errs, dsum, dn, samples) in mtot.items():
        digests = out.digests.get(method, {})
        with_digest = sum(ok + bad for ok, bad in digests.values())
        out.methods[method] = MethodStats(
            method=method, calls=calls, errors=errs, success_rate=round(1 - errs / calls, 6) if calls else 1.0,
            mean=dsum / dn if dn else 0.0, p50=percentile(samples, 50), p95=percentile(samples, 95), total=dsum,
            repeated_args=round((with_digest - len(digests)) / with_digest, 6) if with_digest else 0.0,
            distinct_args=len(digests))
    for m in sorted(out.methods.values(), key=lambda s: -s.total):
        share = m.total / total_time if total_time else 0.0
        if m.calls and m.mean and (m.mean >= slow_method_seconds or (share >= 0.5 and len(out.methods) > 1)):
            out.slow_methods.append(SlowMethod(method=m.method, calls=m.calls, mean=m.mean, p50=m.p50, p95=m.p95,
                                               total=m.total, share=round(share, 6)))
    for ver, v in versions.items():
        out.per_version[ver] = VersionStats(
            code_version=ver, executions=v["n"], failed=v["f"],
            success_rate=round(1 - v["f"] / v["n"], 6) if v["n"] else 1.0,
            first_seen=_dt(v["first"]), last_seen=_dt(v["last"]),
            execution_times=tuple(v["t"][-VERSION_SAMPLES:]),
            method_durations={m: tuple(d[-VERSION_SAMPLES:]) for m, d in v["m"].items()},
            method_errors={m: c for m, c in v["errors"].items() if c},
            method_calls=dict(v["calls"]))
    out.patterns = _patterns(groups, out.digests, min_pattern_count)
    return out


def _metrics_only(mtot: dict[str, list[Any]], metrics: Mapping[str, Any]) -> None:
    """Methods seen only in metrics files (a writer without event timings) still get their numbers."""
    for method, row in metrics.items():
        if method in mtot or method == "execution":
            continue
        times = [float(t) for t in row.get("times", [])]
        calls = int(row.get("success", 0)) + int(row.get("error", 0)) or len(times)
        if calls:
            mtot[method] = [calls, int(row.get("error", 0)), float(sum(times)), len(times), times[-VERSION_SAMPLES:]]


def _patterns(groups: Mapping[tuple, dict[str, Any]], digests: Mapping[str, Mapping[str, list[int]]],
              min_count: int) -> list[ErrorPattern]:
    out: list[ErrorPattern] = []
    for (etype, tmpl, method, _file, _func), g in groups.items():
        method_digests = digests.get(method or "", {})
        seen = {d: tuple(method_digests.get(d, (0, 0))) for d in g["dg"]}
        verdict = classify(etype, g["ex"], seen, min_repeats=2)
        loc = g["loc"]
        out.append(ErrorPattern(
            signature=signature(etype, tmpl, method, loc.file if loc else None, loc.function if loc else None),
            error_type=etype, template=tmpl, count=g["n"], executions=g["x"], method=method, location=loc,
            transient=verdict.transient, deterministic=verdict.deterministic, evidence=verdict.evidence,
            first_seen=_dt(g["first"]), last_seen=_dt(g["last"]), examples=tuple(g["ex"][:3]),
            code_versions=dict(g["v"])))
    out.sort(key=lambda p: (-p.count, p.signature))
    return out


def trend(current: WindowStats, previous: WindowStats) -> dict[str, Any]:
    """Current window against the one before it: rates, times, and each pattern's count."""
    prev_patterns = {p.signature: p.count for p in previous.patterns}
    cur, old = current.executions, previous.executions
    out: dict[str, Any] = {
        "previous_executions": old.total,
        "previous_failed": old.failed,
        "previous_success_rate": old.success_rate if old.total else None,
        "success_rate_change": round(cur.success_rate - old.success_rate, 6) if cur.total and old.total else None,
        "previous_avg_execution_time": previous.avg_execution_time if old.total else None,
        "avg_execution_time_change": (round(current.avg_execution_time - previous.avg_execution_time, 6)
                                      if cur.total and old.total else None),
        "patterns": {p.signature: {"count": p.count, "previous": prev_patterns.get(p.signature, 0)}
                     for p in current.patterns},
    }
    if cur.total and old.total:
        delta = out["success_rate_change"]
        out["direction"] = "improving" if delta > 0.01 else "worsening" if delta < -0.01 else "stable"
    else:
        out["direction"] = "no previous data" if not old.total else "no current data"
    return out

