"""The Lab Technician's outputs: the markdown report, ``analysis_<ts>.json`` and PNG plots.

The report keeps the seed's layout (summary, performance analysis, opportunities,
improvements applied); ``latest_report.md`` is always a copy of the newest one, so
``astroagent labtech report`` finds it without scanning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from astroagent.labtech.analysis.analytics import current_version
from astroagent.labtech.models import Analysis
from astroagent.labtech.reports.plots import plot_method_times, plot_success_rate
from astroagent.atomic import atomic_write_bytes

__all__ = ["write_outputs", "render_markdown", "latest_report", "analyze_json", "version_split", "version_line",
           "absorbed_line", "LATEST_REPORT", "KEEP_RUNS", "ANALYSIS_RESULTS"]

LATEST_REPORT = "latest_report.md"
KEEP_RUNS = 100    # timestamped reports, analyses and plots kept per kind; older ones are removed
ANALYSIS_RESULTS = "analysis_[0-9]*Z.json"   # the timestamped analyses, not the seed's analysis_state.json
_KINDS = (ANALYSIS_RESULTS, "lab_technician_report_*.md", "plots/success_rate_*.png", "plots/method_times_*.png")


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _s(x: float) -> str:
    return f"{x:.3f}s" if x < 10 else f"{x:.1f}s"


def _cell(text: Any) -> str:
    return str(text if text is not None else "—").replace("|", "\\|").replace("\n", " ")


def version_split(analysis: Analysis) -> dict[str, Any] | None:
    """The code version that ran last apart from all older ones: after a change, the window mixes
    both, and the old code's failures must not read as the new code's."""
    current = current_version(analysis.per_version, analysis.on_disk)
    if current is None:
        return None
    older = [v for v in analysis.per_version.values() if v is not current]
    runs, failed = sum(v.executions for v in older), sum(v.failed for v in older)
    return {"current": {"code_version": current.code_version, "executions": current.executions,
                        "failed": current.failed, "success_rate": current.success_rate},
            "older": {"versions": len(older), "executions": runs, "failed": failed,
                      "success_rate": (runs - failed) / runs if runs else None}}


def version_line(analysis: Analysis) -> str | None:
    """``version_split`` in words (None when the logs name no version)."""
    split = version_split(analysis)
    if split is None:
        return None
    cur, old = split["current"], split["older"]
    line = (f"current code version {cur['code_version']}: {cur['executions']} executions, "
            f"success {_pct(cur['success_rate'])}")
    if old["versions"]:
        rate = _pct(old["success_rate"]) if old["success_rate"] is not None else "n/a"
        line += f" (older versions: {old['executions']} executions, success {rate})"
    return line


def absorbed_line(analysis: Analysis) -> str | None:
    """The failed calls retries absorbed, in words (None when there were none)."""
    absorbed = {m.method: m.absorbed for m in analysis.methods.values() if m.absorbed}
    if not absorbed:
        return None
    where = ", ".join(f"{m} {n}" for m, n in sorted(absorbed.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
    return (f"{sum(absorbed.values())} failed attempts absorbed by retries ({where}): the method succeeded later "
            "in the same execution, so they are not counted as failures")


def analyze_json(analysis: Analysis) -> dict[str, Any]:
    """The ``labtech analyze --json`` object (DESIGN §4 keys, plus a few more)."""
    return {
        "log_entries_analyzed": analysis.log_entries_analyzed,
        "malformed_lines": analysis.malformed_lines,
        "executions": analysis.executions.model_dump(),
        "avg_execution_time": analysis.avg_execution_time,
        "absorbed_attempts": sum(m.absorbed for m in analysis.methods.values()),
        "error_patterns": [{"error_type": p.error_type, "template": p.template, "count": p.count,
                            "absorbed": p.absorbed, "code_versions": p.code_versions,
                            "failed_versions": p.failed_versions, "method": p.method, "location": p.location.model_dump() if p.location else None,
                            "transient": p.transient, "deterministic": p.deterministic,
                            "derives_from": p.derives_from,
                            "signature": p.signature, "evidence": list(p.evidence)}
                           for p in analysis.error_patterns],
        "slow_methods": [{"method": s.method, "calls": s.calls, "mean": s.mean, "p50": s.p50, "p95": s.p95}
                         for s in analysis.slow_methods],
        "opportunities": [{"type": o.type, "priority": o.priority, "description": o.description,
                           "target": o.target, "fix": o.fix, "signature": o.signature}
                          for o in analysis.opportunities],
        "needs_intervention": analysis.needs_intervention,
        "agent": analysis.agent,
        "code_versions": version_split(analysis),
        "window_hours": analysis.window_hours,
        "trend": {k: v for k, v in analysis.trend.items() if k not in ("hourly", "patterns")},
        "notes": list(analysis.notes),
    }


def render_markdown(analysis: Analysis, improvements: Sequence[Mapping[str, Any]] = (),
                    plots: Sequence[Path] = (), base: Path | None = None,
                    verdicts: Sequence[Mapping[str, Any]] = ()) -> str:
    """The report in the seed's layout: summary, performance, error patterns, opportunities,
    improvements, and the verdicts on earlier changes with the evidence they rest on."""
    lines = [*_summary(analysis), *_performance(analysis), *_error_patterns(analysis),
             *_opportunities(analysis), *_improvements(improvements), *_verdicts(verdicts)]
    if plots:
        lines += ["", "## Plots", ""]
        for p in plots:
            rel = p.relative_to(base).as_posix() if base and p.is_relative_to(base) else str(p)
            lines.append(f"![{p.stem}]({rel})")
    if analysis.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in analysis.notes]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _summary(analysis: Analysis) -> list[str | None]:
    ex = analysis.executions
    t = analysis.trend
    return [
        "# Lab Technician Report", "",
        f"Generated {analysis.generated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC · window {analysis.window_hours:g} h "
        f"· logs `{analysis.log_dir}`" + (f" · agent **{analysis.agent}**" if analysis.agent else ""), "",
        "## Summary", "",
        f"- Log entries analysed: **{analysis.log_entries_analyzed}** (malformed lines skipped: {analysis.malformed_lines})",
        f"- Executions: **{ex.total}**, failed **{ex.failed}**, success rate **{_pct(ex.success_rate)}**"
        if ex.total else "- Executions: none in this window",
        f"- {line[0].upper()}{line[1:]}" if (line := version_line(analysis)) else None,
        f"- {line[0].upper()}{line[1:]}" if (line := absorbed_line(analysis)) else None,
        f"- Execution time: mean {_s(analysis.avg_execution_time)}, p50 {_s(analysis.execution_time_p50)}, "
        f"p95 {_s(analysis.execution_time_p95)}" if ex.total else None,
        f"- Trend against the previous window: {t.get('direction', 'n/a')}"
        + (f" (success rate {t['success_rate_change']:+.1%})" if t.get("success_rate_change") is not None else ""),
        f"- Error patterns: {len(analysis.error_patterns)} · opportunities: {len(analysis.opportunities)} · "
        f"intervention needed: **{'yes' if analysis.needs_intervention else 'no'}**", "",
    ]


def _performance(analysis: Analysis) -> list[str]:
    """Method timings, slow methods, and outcomes per code version."""
    lines = ["## Performance Analysis", ""]
    if analysis.methods:
        lines += ["| method | calls | errors | absorbed by retries | success | mean | p50 | p95 | total |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m in sorted(analysis.methods.values(), key=lambda m: -m.total):
            lines.append(f"| {_cell(m.method)} | {m.calls} | {m.unabsorbed} | {m.absorbed} | "
                         f"{_pct(m.success_rate)} | {_s(m.mean)} | {_s(m.p50)} | {_s(m.p95)} | {_s(m.total)} |")
    else:
        lines.append("No method timings in this window.")
    if analysis.slow_methods:
        lines += ["", "Slow methods: " + ", ".join(f"`{s.method}` (mean {_s(s.mean)}, {s.share:.0%} of timed "
                                                    f"seconds)" for s in analysis.slow_methods)]
    if analysis.per_version:
        lines += ["", "| code version | executions | failed | success | first seen | last seen |",
                  "|---|---:|---:|---:|---|---|"]
        for v in sorted(analysis.per_version.values(), key=lambda v: v.first_seen or analysis.generated_at):
            lines.append(f"| `{v.code_version}` | {v.executions} | {v.failed} | {_pct(v.success_rate)} | "
                         f"{v.first_seen:%Y-%m-%d %H:%M} | {v.last_seen:%Y-%m-%d %H:%M} |"
                         if v.first_seen and v.last_seen else
                         f"| `{v.code_version}` | {v.executions} | {v.failed} | {_pct(v.success_rate)} | — | — |")
    return lines


def _error_patterns(analysis: Analysis) -> list[str]:
    lines = ["", "### Error patterns", ""]
    if not analysis.error_patterns:
        return [*lines, "No errors in this window."]
    lines += ["| failed | absorbed by retries | type | kind | method | location | template |",
              "|---:|---:|---|---|---|---|---|"]
    for p in analysis.error_patterns[:25]:
        kind = "transient" if p.transient else "deterministic" if p.deterministic else "unclassified"
        loc = f"{p.location.file}:{p.location.line or ''} {p.location.function or ''}" if p.location else None
        lines.append(f"| {p.unabsorbed} | {p.absorbed} | {_cell(p.error_type)} | {kind} | {_cell(p.method)} | "
                     f"{_cell(loc)} | {_cell(p.template[:140])} |")
    return lines + [""] + [f"- `{p.error_type}` in `{p.method}`: " + "; ".join(p.evidence)
                           for p in analysis.error_patterns[:10]]


def _opportunities(analysis: Analysis) -> list[str]:
    lines = ["", "## Improvement Opportunities", ""]
    if not analysis.opportunities:
        return [*lines, "Nothing worth changing was found."]
    for i, o in enumerate(analysis.opportunities, 1):
        lines.append(f"{i}. **[{o.priority}] {o.type}** — {o.description}  ")
        lines.append(f"   target: `{o.target or 'none (not in the target code)'}` · fix: `{o.fix or 'report only'}`")
    return lines


def _improvements(improvements: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["", "## Improvements Applied", ""]
    if not improvements:
        return [*lines, "None in this run."]
    lines += ["| id | type | target | status | verdict | reason |", "|---|---|---|---|---|---|"]
    for imp in improvements:
        lines.append(f"| {_cell(imp.get('id'))} | {_cell(imp.get('type'))} | {_cell(imp.get('target'))} | "
                     f"{_cell(imp.get('status'))} | {_cell(imp.get('verdict'))} | {_cell(imp.get('reason'))} |")
    return lines


def _verdicts(verdicts: Sequence[Mapping[str, Any]]) -> list[str]:
    if not verdicts:
        return []
    from astroagent.labtech.changes.record import evidence_line

    lines = ["", "## Verdicts on Earlier Changes", "", "| id | type | target | verdict | reason | evidence |",
             "|---|---|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {_cell(v.get('id'))} | {_cell(v.get('type'))} | {_cell(v.get('target'))} | "
                     f"{_cell(v.get('verdict'))} | {_cell(v.get('reason'))} | {_cell(evidence_line(v.get('evidence')))} |")
    return lines


def write_outputs(analysis: Analysis, out_dir: Path, *, improvements: Sequence[dict] = (),
                  verdicts: Sequence[dict] = (), now: datetime | None = None) -> dict[str, Any]:
    """Write report, analysis json and plots below ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(now or datetime.now(UTC))
    plots: list[Path] = []
    for make, name in ((plot_success_rate, "success_rate"), (plot_method_times, "method_times")):
        made = make(analysis, out_dir / "plots" / f"{name}_{stamp}.png")
        if made is not None:
            plots.append(made)
    analysis_path = out_dir / f"analysis_{stamp}.json"
    payload = {**analysis.model_dump(mode="json"), "improvements": [dict(i) for i in improvements],
               "plots": [str(p) for p in plots]}
    atomic_write_bytes(analysis_path, orjson.dumps(payload, default=str, option=orjson.OPT_INDENT_2))
    text = render_markdown(analysis, improvements, plots, base=out_dir, verdicts=verdicts).encode()
    report_path = out_dir / f"lab_technician_report_{stamp}.md"
    atomic_write_bytes(report_path, text)
    atomic_write_bytes(out_dir / LATEST_REPORT, text)
    _prune(out_dir)
    return {"report_path": report_path, "analysis_path": analysis_path, "plots": plots}


def _prune(out_dir: Path) -> None:
    """A pipeline runs the Lab Technician every few minutes for hours: keep the newest ``KEEP_RUNS``
    outputs of each kind (the stamp in the name sorts by time) so the folder does not grow for ever."""
    for pattern in _KINDS:
        for old in sorted(out_dir.glob(pattern))[:-KEEP_RUNS]:
            old.unlink(missing_ok=True)


def latest_report(out_dir: Path) -> Path | None:
    """The newest report in ``out_dir`` (``latest_report.md``, else the newest timestamped one)."""
    latest = Path(out_dir) / LATEST_REPORT
    if latest.is_file():
        return latest
    reports = sorted(Path(out_dir).glob("lab_technician_report_*.md"))
    return reports[-1] if reports else None
