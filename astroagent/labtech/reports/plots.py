"""PNG plots of an analysis: success rate over time per code version, method time distributions.

matplotlib is imported lazily (it is slow to import) with the non-interactive Agg backend.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from astroagent.labtech.models import Analysis

__all__ = ["plot_success_rate", "plot_method_times"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def _mpl_at_least(major: int, minor: int) -> bool:
    import matplotlib

    parts = matplotlib.__version__.split(".")
    return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= (major, minor)


def plot_success_rate(analysis: Analysis, path: Path) -> Path | None:
    """Hourly success rate, one line per ``code_version`` (marker area ~ executions); None without data."""
    hourly = analysis.trend.get("hourly") or {}
    if not any(hourly.values()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    try:
        for version, rows in sorted(hourly.items(), key=lambda kv: kv[1][0][0] if kv[1] else 0):
            rows = sorted(rows)
            xs = [datetime.fromtimestamp(h * 3600, UTC) for h, _, _ in rows]
            ys = [100.0 * (1 - f / n) for _, n, f in rows]
            sizes = [12 + 4 * min(n, 60) for _, n, _ in rows]
            total = sum(n for _, n, _ in rows)
            failed = sum(f for _, _, f in rows)
            label = f"{version[:12]} ({total} runs, {100 * (1 - failed / total):.0f}% ok)"
            line, = ax.plot(xs, ys, "-", alpha=0.6, label=label)
            ax.scatter(xs, ys, s=sizes, color=line.get_color(), alpha=0.8)
        ax.axhline(100, color="0.85", lw=0.8)
        ax.set_ylim(-5, 105)
        ax.set_ylabel("success rate per hour (%)")
        ax.set_xlabel("hour (UTC)")
        ax.set_title(f"Experimenter success rate by code version — last {analysis.window_hours:g} h")
        ax.legend(loc="lower left", fontsize=8)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        _save(fig, path)
    finally:
        plt.close(fig)
    return path


def plot_method_times(analysis: Analysis, path: Path, *, max_methods: int = 12) -> Path | None:
    """Box plots of each method's durations (all code versions together); None without timings."""
    samples: dict[str, list[float]] = defaultdict(list)
    for stats in analysis.per_version.values():
        for method, values in stats.method_durations.items():
            samples[method].extend(values)
    samples = {m: v for m, v in samples.items() if v}
    if not samples:
        return None
    order = sorted(samples, key=lambda m: -sum(samples[m]))[:max_methods]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(order) + 1.8), dpi=110)
    try:
        horizontal = {"orientation": "horizontal"} if _mpl_at_least(3, 10) else {"vert": False}
        ax.boxplot([samples[m] for m in order], showfliers=True, flierprops={"markersize": 3, "alpha": 0.5},
                   **horizontal)
        ax.set_yticks(range(1, len(order) + 1), order)
        positive = all(min(samples[m]) > 0 for m in order)
        spread = max(max(v) for v in samples.values()) / max(min(min(v) for v in samples.values()), 1e-9)
        if positive and spread > 100:
            ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("duration (s)")
        ax.set_title("Method time distributions")
        ax.grid(alpha=0.3, axis="x")
        _save(fig, path)
    finally:
        plt.close(fig)
    return path
