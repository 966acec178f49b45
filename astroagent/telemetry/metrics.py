"""The daily metrics file ``performance_metrics_YYYYMMDD.json``.

Shape (the seed's)::

    {"method_execution_times": {method: [seconds, ...]},
     "success_rates": {method: fraction},
     "error_counts": {method: {"success": n, "error": n}},
     "resource_usage": {"peak_rss_mb": x, "cpu_seconds": x, "samples": n}}

A recorder keeps what it saw since its last flush; ``flush`` merges that into the file
under an exclusive lock and replaces the file atomically (temp file, fsync, rename), so
several writers on one day add up and a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from astroagent.atomic import atomic_write_bytes
from astroagent.telemetry.writer import utcnow

__all__ = ["MetricsRecorder", "merge_metrics", "empty_metrics", "MAX_TIMES_PER_METHOD"]

MAX_TIMES_PER_METHOD = 5000


def empty_metrics() -> dict[str, Any]:
    return {"method_execution_times": {}, "success_rates": {}, "error_counts": {}, "resource_usage": {}}


def _clean(existing: Any) -> dict[str, Any]:
    """The usable part of a metrics document; anything malformed is dropped, not fatal."""
    out = empty_metrics()
    if not isinstance(existing, dict):
        return out
    times = existing.get("method_execution_times")
    if isinstance(times, dict):
        for method, values in times.items():
            if isinstance(values, list):
                out["method_execution_times"][str(method)] = [
                    float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    counts = existing.get("error_counts")
    if isinstance(counts, dict):
        for method, pair in counts.items():
            if isinstance(pair, dict):
                out["error_counts"][str(method)] = {
                    k: int(pair.get(k, 0)) if isinstance(pair.get(k, 0), (int, float)) else 0
                    for k in ("success", "error")}
    usage = existing.get("resource_usage")
    if isinstance(usage, dict):
        out["resource_usage"] = {k: v for k, v in usage.items() if isinstance(v, (int, float))}
    return out


def merge_metrics(existing: Any, delta: dict[str, Any]) -> dict[str, Any]:
    """``existing`` (possibly malformed) plus ``delta``; success rates recomputed from counts."""
    out = _clean(existing)
    for method, values in delta.get("method_execution_times", {}).items():
        merged = out["method_execution_times"].setdefault(method, [])
        merged.extend(values)
        if len(merged) > MAX_TIMES_PER_METHOD:
            del merged[: len(merged) - MAX_TIMES_PER_METHOD]
    for method, pair in delta.get("error_counts", {}).items():
        target = out["error_counts"].setdefault(method, {"success": 0, "error": 0})
        target["success"] += pair.get("success", 0)
        target["error"] += pair.get("error", 0)
    usage = out["resource_usage"]
    for key, value in delta.get("resource_usage", {}).items():
        if key.startswith("peak_"):
            usage[key] = max(usage.get(key, 0), value)
        else:
            usage[key] = usage.get(key, 0) + value
    out["success_rates"] = {
        method: round(pair["success"] / total, 6)
        for method, pair in out["error_counts"].items()
        if (total := pair["success"] + pair["error"]) > 0}
    return out


class MetricsRecorder:
    """Collects method timings and outcomes in memory; ``flush`` merges them into the day's file."""

    def __init__(self, metrics_dir: Path, *, clock: Callable[[], datetime] = utcnow):
        self.metrics_dir = Path(metrics_dir)
        self._clock = clock
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._samples: deque[tuple[str, float, bool]] = deque()
        self._usage: dict[str, float] = {}

    def record(self, method: str, duration: float, success: bool) -> None:
        self._samples.append((method, duration, success))  # deque.append is atomic: no lock on the hot path

    def sample_sink(self) -> Callable[[tuple[str, float, bool]], None]:
        """A callable taking ``(method, duration, success)``; same as ``record``, one call cheaper."""
        return self._samples.append

    def record_usage(self, **values: float) -> None:
        with self._lock:
            for key, value in values.items():
                if key.startswith("peak_"):
                    self._usage[key] = max(self._usage.get(key, 0), value)
                else:
                    self._usage[key] = self._usage.get(key, 0) + value

    def path_for(self, day: datetime) -> Path:
        return self.metrics_dir / f"performance_metrics_{day:%Y%m%d}.json"

    def flush(self) -> Path | None:
        with self._lock:
            times: dict[str, list[float]] = defaultdict(list)
            counts: dict[str, dict[str, int]] = defaultdict(lambda: {"success": 0, "error": 0})
            for _ in range(len(self._samples)):
                method, duration, success = self._samples.popleft()
                times[method].append(round(duration, 6))
                counts[method]["success" if success else "error"] += 1
            usage, self._usage = self._usage, {}
            if not times and not usage:
                return None
            delta = {"method_execution_times": dict(times), "error_counts": dict(counts), "resource_usage": usage}
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        path = self.path_for(self._clock())
        with open(self.metrics_dir / ".metrics.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                existing: Any = None
                try:
                    existing = orjson.loads(path.read_bytes())
                except (OSError, orjson.JSONDecodeError):
                    existing = None
                merged = merge_metrics(existing, delta)
                atomic_write_bytes(path, orjson.dumps(merged, option=orjson.OPT_INDENT_2))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return path
