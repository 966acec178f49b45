"""The daily metrics files (``performance_metrics_YYYYMMDD.json``), summarised once per version.

A broken file is noted and skipped; its summary is cached in the ingest state by size and
mtime, so a run with nothing new does not open it again.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

__all__ = ["regular_files", "scan_metrics"]


def _metrics_summary(doc: Any) -> dict[str, Any]:
    """The usable part of one metrics document (the seed's shape); raises ValueError when none is."""
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    out: dict[str, Any] = {}
    times = doc.get("method_execution_times")
    counts = doc.get("error_counts")
    for method, values in (times.items() if isinstance(times, dict) else ()):
        if isinstance(values, list):
            nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v)]
            out.setdefault(str(method), {"times": [], "success": 0, "error": 0})["times"] = nums[-64:]
    for method, pair in (counts.items() if isinstance(counts, dict) else ()):
        if isinstance(pair, dict):
            row = out.setdefault(str(method), {"times": [], "success": 0, "error": 0})
            for k in ("success", "error"):
                v = pair.get(k, 0)
                row[k] = int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0
    return out


def regular_files(log_dir: Path, pattern: str, notes: list[str] | None = None) -> Iterator[tuple[Path, os.stat_result]]:
    """Each regular file matching ``pattern`` in name order, with its stat; others are skipped (noted if asked)."""
    for path in sorted(log_dir.glob(pattern)):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            if notes is not None:
                notes.append(f"{path.name}: not a regular file, skipped")
            continue
        yield path, st


def scan_metrics(log_dir: Path, state: dict[str, Any], result: Any) -> None:
    """Summarise each ``performance_metrics_YYYYMMDD.json`` once per (size, mtime); broken ones are noted."""
    cache = state["metrics"]
    seen: set[str] = set()
    for path, st in regular_files(log_dir, "performance_metrics_*.json"):
        name = path.name
        seen.add(name)
        old = cache.get(name)
        if old is not None and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
            continue
        entry: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "day": name[20:28],
                                 "methods": {}, "error": None}
        try:
            entry["methods"] = _metrics_summary(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError, ValueError) as exc:
            entry["error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
            result.notes.append(f"{name}: broken metrics file ignored ({entry['error']})")
        cache[name] = entry
        result.changed = True
    for name in [n for n in cache if n not in seen]:
        del cache[name]
        result.changed = True
