"""Pure analytics over the persisted per-hour aggregates of a time window.

Executions and outcomes (overall and per ``code_version``), method timings, error patterns
(grouped, located, classified), and the trend against the previous window. No I/O here:
``ingest`` produced the hours, ``analyze`` decides which window to look at.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from astroagent.labtech.analysis._hours import ErrorGroup, HourRow, MethodRow, VersionRow
from astroagent.labtech.models import ErrorPattern, ExecutionStats, Location, MethodStats, SlowMethod, VersionStats
from astroagent.labtech.analysis.patterns import classify, signature
from astroagent.labtech.knowledge.hierarchy import Hierarchy

__all__ = ["WindowStats", "window_keys", "summarize", "current_version", "trend", "resolve_location", "VERSION_SAMPLES", "percentile"]

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
    on_disk: tuple[str, ...] = ()     # code versions of the analysed packages as they are on disk now


@dataclass(slots=True)
class _VersionTotals:
    """One code version's executions and calls across the window's hours."""

    executions: int = 0
    failures: int = 0
    times: list[float] = field(default_factory=list)
    first: float | None = None
    last: float | None = None
    durations: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    calls: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    absorbed: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def stats(self, version: str) -> VersionStats:
        return VersionStats(
            code_version=version, executions=self.executions, failed=self.failures,
            success_rate=round(1 - self.failures / self.executions, 6) if self.executions else 1.0,
            first_seen=_dt(self.first), last_seen=_dt(self.last),
            execution_times=tuple(self.times[-VERSION_SAMPLES:]),
            method_durations={m: tuple(d[-VERSION_SAMPLES:]) for m, d in self.durations.items()},
            method_errors={m: c for m, c in self.errors.items() if c},
            method_absorbed={m: c for m, c in self.absorbed.items() if c}, method_calls=dict(self.calls))


class _Fold:
    """The window's hour rows added up, oldest first: totals, per version, per method, error groups."""

    def __init__(self, targets: Sequence[str], workspace: str | None) -> None:
        self.out = WindowStats()
        self.targets, self.workspace = targets, workspace
        self.executions = self.failures = self.timed = 0
        self.duration_sum = 0.0
        self.times: list[float] = []
        self.versions: dict[str, _VersionTotals] = {}
        self.methods: dict[str, MethodRow] = {}     # all versions; samples not capped
        self.groups: dict[tuple, dict[str, Any]] = {}

    def add(self, key: str, hour: HourRow) -> None:
        out = self.out
        out.events += hour.events
        out.malformed += hour.malformed
        for name, row in hour.versions.items():
            self._version(key, name, row)
        for method, digests in hour.digests.items():
            acc = out.digests.setdefault(method, {})
            for dg, (ok, bad) in digests.items():
                pair = acc.setdefault(dg, [0, 0])
                pair[0] += ok
                pair[1] += bad
        for method, run in hour.runs.items():
            out.streaks[method] = max(out.streaks.get(method, 0), run[0])
            if run[0] >= out.streak_spans.get(method, [0])[0]:
                out.streak_spans[method] = run
        for g in hour.errors.values():
            self._error(g)

    def _version(self, key: str, name: str, row: VersionRow) -> None:
        v = self.versions.get(name)
        if v is None:
            v = self.versions[name] = _VersionTotals()
        v.executions += row.executions
        v.failures += row.failures
        v.times.extend(row.samples)
        if row.first is not None:
            v.first = row.first if v.first is None else min(v.first, row.first)
        if row.last is not None:
            v.last = row.last if v.last is None else max(v.last, row.last)
        if row.executions:
            self.out.hourly.setdefault(name, []).append([int(key), row.executions, row.failures])
        self.executions, self.failures = self.executions + row.executions, self.failures + row.failures
        self.duration_sum, self.timed = self.duration_sum + row.duration_sum, self.timed + row.timed
        self.times.extend(row.samples)
        for method, m in row.methods.items():
            v.durations[method].extend(m.samples)
            v.calls[method] += m.calls
            v.errors[method] += m.errors
            v.absorbed[method] += m.absorbed
            t = self.methods.get(method)
            if t is None:
                t = self.methods[method] = MethodRow()
            t.calls += m.calls
            t.errors += m.errors
            t.absorbed += m.absorbed
            t.duration_sum += m.duration_sum
            t.timed += m.timed
            t.samples.extend(m.samples)

    def _error(self, g: ErrorGroup) -> None:
        """Error groups of all versions and hours join when type, template, method and location agree."""
        loc = resolve_location(g.file, g.function, g.line, g.frames, self.targets, self.workspace)
        gkey = (g.error_type, g.template, g.method, loc.file if loc else None, loc.function if loc else None)
        acc = self.groups.get(gkey)
        if acc is None:
            acc = self.groups[gkey] = {"n": 0, "x": 0, "ab": 0, "ax": 0, "first": g.first, "last": g.last, "ex": [],
                                       "dg": set(), "v": defaultdict(int), "fv": defaultdict(int), "loc": loc}
        acc["n"] += g.count
        acc["x"] += g.executions
        acc["ab"] += g.absorbed
        acc["ax"] += g.absorbed_executions
        acc["first"], acc["last"] = min(acc["first"], g.first), max(acc["last"], g.last)
        if g.last >= acc["last"]:
            acc["loc"] = loc
        acc["ex"].extend(m for m in g.examples if m not in acc["ex"])
        acc["dg"].update(g.digests)
        acc["v"][g.version] += g.count
        acc["fv"][g.version] += g.count - g.absorbed


def current_version(per_version: Mapping[str, VersionStats], on_disk: Collection[str] = ()) -> VersionStats | None:
    """The current code version: the one on disk now when it ran in the window (with a canary,
    baseline and canary alternate as the last to run), else the one that ran last."""
    if not per_version:
        return None
    pool = [v for v in per_version.values() if v.code_version in on_disk] or list(per_version.values())
    return max(pool, key=lambda v: (v.last_seen is not None, v.last_seen or datetime.min.replace(tzinfo=UTC),
                                    v.code_version))


def summarize(hours: Iterable[tuple[str, HourRow]], *, slow_method_seconds: float = 2.0,
              min_pattern_count: int = 3, targets: Sequence[str] = (), workspace: str | None = None,
              metrics: Mapping[str, Any] | None = None, classes: Hierarchy | None = None) -> WindowStats:
    """Reduce ``(hour_key, hour)`` pairs (oldest first) to the window's statistics (``classes``: the
    program's exception classes, to judge an error type it defines by its base)."""
    fold = _Fold(targets, workspace)
    for key, hour in hours:
        fold.add(key, hour)
    out = fold.out
    n, failed = fold.executions, fold.failures
    out.executions = ExecutionStats(total=n, failed=failed, success_rate=round(1 - failed / n, 6) if n else 1.0)
    out.avg_execution_time = fold.duration_sum / fold.timed if fold.timed else 0.0
    out.p50, out.p95 = percentile(fold.times, 50), percentile(fold.times, 95)
    _metrics_only(fold.methods, metrics or {})
    out.methods = _method_stats(fold.methods, out.digests)
    out.slow_methods = _slow_methods(out.methods, slow_method_seconds)
    out.per_version = {name: v.stats(name) for name, v in fold.versions.items()}
    out.patterns = _patterns(fold.groups, out.digests, min_pattern_count, classes or Hierarchy())
    return out


def _method_stats(totals: Mapping[str, MethodRow], digests: Mapping[str, Mapping[str, list[int]]]
                  ) -> dict[str, MethodStats]:
    out: dict[str, MethodStats] = {}
    for method, t in totals.items():
        seen = digests.get(method, {})
        with_digest = sum(ok + bad for ok, bad in seen.values())
        out[method] = MethodStats(
            method=method, calls=t.calls, errors=t.errors, absorbed=t.absorbed,
            success_rate=round(1 - (t.errors - t.absorbed) / t.calls, 6) if t.calls else 1.0,
            mean=t.duration_sum / t.timed if t.timed else 0.0, p50=percentile(t.samples, 50),
            p95=percentile(t.samples, 95), total=t.duration_sum,
            repeated_args=round((with_digest - len(seen)) / with_digest, 6) if with_digest else 0.0,
            distinct_args=len(seen))
    return out


def _slow_methods(methods: Mapping[str, MethodStats], slow_method_seconds: float) -> list[SlowMethod]:
    """Slow on average, or (with more than one method) half of all timed seconds; the costliest first."""
    total_time = sum(m.total for m in methods.values())
    out: list[SlowMethod] = []
    for m in sorted(methods.values(), key=lambda s: -s.total):
        share = m.total / total_time if total_time else 0.0
        if m.calls and m.mean and (m.mean >= slow_method_seconds or (share >= 0.5 and len(methods) > 1)):
            out.append(SlowMethod(method=m.method, calls=m.calls, mean=m.mean, p50=m.p50, p95=m.p95,
                                  total=m.total, share=round(share, 6)))
    return out


def _metrics_only(totals: dict[str, MethodRow], metrics: Mapping[str, Any]) -> None:
    """Methods seen only in metrics files (a writer without event timings) still get their numbers."""
    for method, row in metrics.items():
        if method in totals or method == "execution":
            continue
        times = [float(t) for t in row.get("times", [])]
        calls = int(row.get("success", 0)) + int(row.get("error", 0)) or len(times)
        if calls:
            totals[method] = MethodRow(calls, int(row.get("error", 0)), float(sum(times)), len(times),
                                       times[-VERSION_SAMPLES:])


def _patterns(groups: Mapping[tuple, dict[str, Any]], digests: Mapping[str, Mapping[str, list[int]]],
              min_count: int, classes: Hierarchy) -> list[ErrorPattern]:
    out: list[ErrorPattern] = []
    for (etype, tmpl, method, _file, _func), g in groups.items():
        method_digests = digests.get(method or "", {})
        seen = {d: tuple(method_digests.get(d, (0, 0))) for d in g["dg"]}
        derived = classes.derivation(etype)
        verdict = classify(etype, g["ex"], seen, min_repeats=2, derived=derived)
        loc = g["loc"]
        out.append(ErrorPattern(
            signature=signature(etype, tmpl, method, loc.file if loc else None, loc.function if loc else None),
            error_type=etype, template=tmpl, count=g["n"], executions=g["x"], absorbed=g["ab"],
            absorbed_executions=g["ax"], method=method, location=loc,
            transient=verdict.transient, deterministic=verdict.deterministic, evidence=verdict.evidence,
            first_seen=_dt(g["first"]), last_seen=_dt(g["last"]), examples=tuple(g["ex"][:3]),
            code_versions=dict(g["v"]), failed_versions={v: n for v, n in g["fv"].items() if n},
            derives_from=derived.base if derived else None))
    out.sort(key=lambda p: (-p.unabsorbed, -p.count, p.signature))   # the most failures for good first
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

