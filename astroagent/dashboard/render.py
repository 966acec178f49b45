"""Small formatting helpers the templates use: numbers, times, diffs, nested evidence."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from astroagent.dashboard.chart import fmt_seconds

__all__ = ["FILTERS", "diff_lines", "flatten", "analysis_summary", "method_rows", "version_rows"]


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.0f} %"


def _when(stamp: Any) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS UTC`` (or a wall-clock number of seconds)."""
    if stamp in (None, ""):
        return "–"
    try:
        if isinstance(stamp, (int, float)):
            moment = datetime.fromtimestamp(float(stamp), UTC)
        else:
            moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=moment.tzinfo or UTC)
    except (TypeError, ValueError, OverflowError):
        return str(stamp)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: Any, n: int = 10) -> str:
    return "–" if not value else str(value)[:n]


def _seconds(value: Any) -> str:
    return "–" if value is None else fmt_seconds(float(value))


FILTERS = {"pct": _pct, "when": _when, "short": _short, "seconds": _seconds}


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, text) for each line of a unified diff."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


def flatten(value: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Nested evidence as (dotted key, short value) rows; long lists are summarised."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, Mapping) and depth < 3:
                rows += flatten(item, name, depth + 1)
            else:
                rows.append((name, _value(item)))
        return rows
    return [(prefix or "value", _value(value))]


def _value(item: Any) -> str:
    if isinstance(item, float):
        return f"{item:.4g}"
    if isinstance(item, (list, tuple)):
        if len(item) > 8 and all(isinstance(v, (int, float)) for v in item):
            return f"{len(item)} values, min {min(item):.4g}, max {max(item):.4g}"
        text = ", ".join(_value(v) for v in item[:8]) + (f" … (+{len(item) - 8})" if len(item) > 8 else "")
        return text
    text = str(item)
    return text if len(text) <= 400 else text[:400] + "…"


def analysis_summary(analysis: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The headline figures of an analysis (``analysis_<ts>.json``)."""
    if not analysis:
        return None
    ex = analysis.get("executions") or {}
    return {"generated_at": analysis.get("generated_at"), "window_hours": analysis.get("window_hours"),
            "events": analysis.get("log_entries_analyzed"), "executions": ex.get("total", 0),
            "failed": ex.get("failed", 0), "success_rate": ex.get("success_rate"),
            "patterns": len(analysis.get("error_patterns") or []),
            "opportunities": len(analysis.get("opportunities") or []),
            "needs_intervention": analysis.get("needs_intervention"),
            "p50": analysis.get("execution_time_p50"), "p95": analysis.get("execution_time_p95"),
            "notes": list(analysis.get("notes") or [])[:6]}


def method_rows(analysis: Mapping[str, Any] | None) -> list[tuple[str, list[float], float, float, float]]:
    """(method, samples, p50, p95, mean) for the time chart, slowest first; samples pooled over versions."""
    if not analysis:
        return []
    samples: dict[str, list[float]] = {}
    for version in (analysis.get("per_version") or {}).values():
        for method, values in (version.get("method_durations") or {}).items():
            samples.setdefault(method, []).extend(float(v) for v in values)
    rows = []
    for name, stats in (analysis.get("methods") or {}).items():
        rows.append((name, samples.get(name, []), float(stats.get("p50") or 0), float(stats.get("p95") or 0),
                     float(stats.get("mean") or 0)))
    return sorted(rows, key=lambda r: -r[4])[:24]


def version_rows(versions: list[dict[str, Any]]) -> str:
    """The per-version table body (HTML), also sent with each live update."""
    rows = []
    for v in versions:
        rows.append(f"<tr><td><code>{escape(str(v['version'] or '?'))}</code></td><td class=num>{v['n']}</td>"
                    f"<td class=num>{v['n'] - v['ok']}</td><td class=num>{_pct(v['rate'])}</td>"
                    f"<td class=num>{fmt_seconds(v['first'])}</td><td class=num>{fmt_seconds(v['last'])}</td></tr>")
    return "".join(rows) or '<tr><td colspan=6 class="empty">no experiments yet</td></tr>'


FILTERS["version_rows"] = version_rows
