"""Server-side SVG charts: the success rate over time per code version, and method time distributions.

Plain SVG strings, escaped, sized by a viewBox so the browser scales them; each point and mark
carries a class and a ``<title>`` so a person can hover and a test can count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from astroagent.demo import by_version

__all__ = ["Point", "Mark", "success_chart", "time_distributions", "fmt_seconds"]

_W, _H = 960, 330
_L, _R, _T, _B = 52, 18, 50, 44      # the top margin holds the legend and the marks' labels
_VERDICT_CLASS = {"kept": "kept", "rolled_back": "rolled-back", "pending": "pending"}
_VERSION_CLASSES = 6                 # colours for code versions (v0..v5), reused in turn
_LEGEND = 4                          # the legend names the latest four versions


@dataclass(frozen=True)
class Point:
    t: float
    success: bool
    code_version: str | None
    label: str = ""


@dataclass(frozen=True)
class Mark:
    t: float
    change_id: str
    label: str
    verdict: str | None
    status: str | None


def fmt_seconds(seconds: float) -> str:
    if seconds <= 0:
        return "0 s"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10 and float(seconds).is_integer():
        return f"{seconds:.0f} s"
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _ticks(high: float, n: int = 6) -> list[float]:
    if high <= 0:
        return [0.0]
    raw = high / n
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * step:
            step *= mult
            break
    return [i * step for i in range(int(high // step) + 1)]


def _rolling(points: Sequence[Point], window: int) -> list[float]:
    out, total = [], 0
    for i, p in enumerate(points):
        total += p.success
        if i >= window:
            total -= points[i - window].success
        out.append(total / min(i + 1, window))
    return out


def _version_lines(points: Sequence[Point], window: int, x, y) -> list[str]:
    """One rolling success line per code version over its own experiments, and a legend with the
    latest versions' rates. A canary's experiments interleave with its baseline's: each line stays
    one version's (cutting the history into runs of one version gave a band per experiment)."""
    versions = list(by_version(list(points)).items())
    out: list[str] = []
    shown = max(0, len(versions) - _LEGEND)
    for n, (version, run) in enumerate(versions):
        name = escape(version or "?")
        rate = sum(p.success for p in run) / len(run)
        path = " ".join(f"{x(p.t)},{y(r)}" for p, r in zip(run, _rolling(run, window)))
        out.append(f'<g class="version v{n % _VERSION_CLASSES}" data-version="{name}" '
                   f'data-experiments="{len(run)}"><polyline class="rolling" points="{path}"><title>code {name}: '
                   f'{rate:.0%} of {len(run)}</title></polyline>')
        if n >= shown:
            kx = _L + 210 * (n - shown)
            out.append(f'<rect class="key" x="{kx}" y="6" width="10" height="10"/><text class="legend" '
                       f'x="{kx + 14}" y="15">{escape((version or "?")[:10])} · {rate:.0%} of {len(run)}</text>')
        out.append("</g>")
    return out


def success_chart(points: Sequence[Point], marks: Sequence[Mark] = (), *, window: int = 8) -> str:
    """Experiments as dots (top: succeeded, bottom: failed), each code version's rolling success rate
    as its own line with its rate in the legend, and each change as a vertical mark coloured by verdict."""
    t_max = max([p.t for p in points] + [m.t for m in marks] + [1.0])
    pw, ph = _W - _L - _R, _H - _T - _B

    def x(t: float) -> float:
        return round(_L + pw * max(0.0, t) / t_max, 1)

    def y(v: float) -> float:
        return round(_T + ph * (1 - v), 1)

    out = [f'<svg class="chart success-chart" viewBox="0 0 {_W} {_H}" role="img" '
           f'aria-label="success rate over time" data-points="{len(points)}" data-marks="{len(marks)}">']
    for v in (0, 0.25, 0.5, 0.75, 1):
        out.append(f'<line class="grid" x1="{_L}" x2="{_W - _R}" y1="{y(v)}" y2="{y(v)}"/>'
                   f'<text class="axis" x="{_L - 6}" y="{y(v) + 4}" text-anchor="end">{v:.0%}</text>')
    for t in _ticks(t_max):
        out.append(f'<text class="axis" x="{x(t)}" y="{_H - _B + 16}" text-anchor="middle">{fmt_seconds(t)}</text>')
    out.append(f'<text class="axis-title" x="{_L + pw / 2}" y="{_H - 6}" text-anchor="middle">'
               'time since the pipeline started</text>')
    out += _version_lines(points, window, x, y)
    out.append('<g class="points">')
    names: dict[tuple[str | None, str], str] = {}      # escaped once per version and label, not per point
    rows = {True: (f'<circle class="pt ok" cy="{y(1.0)}" r="3.2" cx="', "succeeded"),
            False: (f'<circle class="pt fail" cy="{y(0.0)}" r="3.2" cx="', "failed")}
    for i, p in enumerate(points):
        key = (p.code_version, p.label)
        name = names.get(key) or names.setdefault(key, escape(p.code_version or "?") + escape(p.label))
        head, said = rows[p.success]
        out.append(f'{head}{x(p.t)}"><title>#{i + 1} at {p.t:.0f} s: {said}, code {name}</title></circle>')
    out.append("</g>")
    for n, m in enumerate(marks):
        right = x(m.t) > _W - 240            # a label near the right edge reads leftwards
        anchor = f'x="{x(m.t) - 3}" text-anchor="end"' if right else f'x="{x(m.t) + 3}"'
        kind = "awaiting" if m.status == "awaiting_approval" else _VERDICT_CLASS.get(m.verdict or "", "other")
        state = "awaiting approval" if kind == "awaiting" else (m.verdict or m.status or "")
        out.append(f'<a href="/changes/{escape(m.change_id)}" class="mark {kind}"><line x1="{x(m.t)}" '
                   f'x2="{x(m.t)}" y1="{_T - 4}" y2="{_T + ph}"/><text {anchor} y="{_T - 8 - 11 * (n % 2)}">'
                   f'{escape(m.label)} ({escape(state)})</text><title>{escape(m.change_id)}: {escape(m.label)}, '
                   f'{escape(state)}</title></a>')
    out.append("</svg>")
    return "".join(out)


def time_distributions(rows: Sequence[tuple[str, Sequence[float], float, float, float]]) -> str:
    """One row per method (name, samples, p50, p95, mean) on a shared log-seconds axis: the samples as
    dots, the p50–p95 range as a box, the mean as a tick."""
    rows = [r for r in rows if r[1] or r[3]]
    if not rows:
        return '<p class="empty">No method timings in the latest analysis.</p>'
    values = [v for r in rows for v in (*r[1], r[2], r[3], r[4]) if v > 0]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 1e-3
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 1.0
    hi = hi if hi > lo else lo * 10
    left, width, row_h = 190, 740, 26
    height = 30 + row_h * len(rows)

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return round(left + width * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)), 1)

    out = [f'<svg class="chart times-chart" viewBox="0 0 {left + width + 20} {height}" role="img" '
           f'aria-label="method time distributions">']
    decade = lo
    while decade <= hi * 1.0001:
        out.append(f'<line class="grid" x1="{x(decade)}" x2="{x(decade)}" y1="8" y2="{height - 22}"/>'
                   f'<text class="axis" x="{x(decade)}" y="{height - 6}" text-anchor="middle">'
                   f'{fmt_seconds(decade)}</text>')
        decade *= 10
    for i, (name, samples, p50, p95, mean) in enumerate(rows):
        cy = 20 + i * row_h
        out.append(f'<g class="method"><text class="method-name" x="{left - 8}" y="{cy + 4}" text-anchor="end">'
                   f'{escape(name[:28])}</text>')
        step = max(1, len(samples) // 150)
        for v in list(samples)[::step]:
            if v > 0:
                out.append(f'<circle class="sample" cx="{x(v)}" cy="{cy}" r="2.2"/>')
        if p95 > 0:
            out.append(f'<rect class="iqr" x="{x(max(p50, lo))}" y="{cy - 7}" width="{max(2.0, x(p95) - x(max(p50, lo)))}" '
                       f'height="14"><title>{escape(name)}: p50 {fmt_seconds(p50)}, p95 {fmt_seconds(p95)}, mean '
                       f'{fmt_seconds(mean)}, {len(samples)} samples</title></rect>')
        if mean > 0:
            out.append(f'<line class="mean" x1="{x(mean)}" x2="{x(mean)}" y1="{cy - 9}" y2="{cy + 9}"/>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
