"""The live view of a running pipeline: a rich panel on a terminal, plain event lines otherwise.

It is a status callback: it folds each update into a small picture (cycle, experiments,
success rate, worker, last change and its verdict) and redraws it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

__all__ = ["LiveView", "ViewModel", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
_VERDICT_STYLE = {"kept": "green", "rolled_back": "red", "pending": "yellow"}


def sparkline(values: list[float]) -> str:
    """Success rates (0..1) as a one-line chart."""
    return "".join(_BARS[min(len(_BARS) - 1, int(v * (len(_BARS) - 1) + 0.5))] for v in values)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


@dataclass
class ViewModel:
    """What the view shows, folded from status updates."""

    title: str = "astroagent pipeline"
    cycle: int = 0
    experiments: int = 0
    successes: int = 0
    success_rate: float | None = None
    recent_success_rate: float | None = None
    code_version: str | None = None
    worker: str = "not started"
    lab: str = "waiting"
    lab_interval: float | None = None
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_version: dict[str, list[int]] = field(default_factory=dict)
    recent: deque = field(default_factory=lambda: deque(maxlen=40))
    events: deque = field(default_factory=lambda: deque(maxlen=6))

    def fold(self, update: dict[str, Any]) -> str | None:
        """Take one update; return a one-line description of it when it is worth a line."""
        stage, status = update.get("stage"), update.get("status")
        self.cycle = update.get("cycle", self.cycle) or self.cycle
        line: str | None = None
        if stage == "experiment" and status in ("completed", "failed"):
            self.experiments = update.get("experiments", self.experiments + 1)
            self.successes += status == "completed"
            self.success_rate = update.get("success_rate")
            self.recent_success_rate = update.get("recent_success_rate")
            self.code_version = update.get("code_version") or self.code_version
            self.recent.append(1.0 if status == "completed" else 0.0)
            tally = self.by_version.setdefault(update.get("code_version") or "?", [0, 0])
            tally[0] += status == "completed"
            tally[1] += 1
            what = f"{update.get('area')}/{update.get('project_id')}"
            line = (f"experiment {self.experiments} {what}: ok ({update.get('verdict')})" if status == "completed"
                    else f"experiment {self.experiments} {what}: FAILED {update.get('error') or ''}".rstrip())
        elif stage == "worker":
            agent = update.get("agent", "experimenter")
            if agent == "experimenter":
                self.worker = f"{status} pid {update.get('pid', '?')}"
                if update.get("code_version"):
                    self.code_version = update["code_version"]
            if status in ("crashed", "killed", "restarting", "backoff") or (status == "started" and agent == "experimenter"):
                detail = update.get("reason") or update.get("code_version") or update.get("returncode") or update.get("delay")
                line = f"{agent} worker {status}" + (f" ({detail})" if detail is not None else "")
        elif stage == "lab_technician":
            if status == "started":
                self.lab = "running…"
                line = "Lab Technician: analysing the logs"
            else:
                self.lab_interval = update.get("next_interval", self.lab_interval)
                applied = []
                for item in update.get("improvements_made") or []:
                    if item.get("id") and item.get("status") in ("applied", "rolled_back"):
                        verdict = "rolled_back" if item.get("status") == "rolled_back" else "pending"
                        self.changes[item["id"]] = {**item, "verdict": verdict}
                        self.changes[item["id"]]["type"] = item.get("fix") or item.get("type")
                        validation = (item.get("validation") or {}).get("detail")
                        applied.append(f"{item.get('fix') or item.get('type')} → {item.get('target')}"
                                       + (f" (validated: {validation})" if validation else ""))
                for verdict in update.get("verdicts") or []:
                    if verdict.get("id") in self.changes:
                        self.changes[verdict["id"]]["verdict"] = verdict.get("verdict")
                judged = [f"{v.get('id')} {v.get('verdict')}" + (f" ({v['reason']})" if v.get("reason") else "")
                          for v in update.get("verdicts") or []]
                self.lab = "done" if status == "completed" else f"failed: {update.get('error')}"
                parts = [f"applied {', '.join(applied)}" if applied else "no change applied"]
                if judged:
                    parts.append("verdicts " + ", ".join(judged))
                line = "Lab Technician: " + "; ".join(parts) if status == "completed" else f"Lab Technician {self.lab}"
        elif stage == "pipeline":
            line = f"pipeline {status}" + (f" ({update['signal']})" if update.get("signal") else "")
        if line:
            self.events.append(line)
        return line

    def render(self) -> Panel:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row("cycle", str(self.cycle))
        grid.add_row("experiments", f"{self.experiments} ({self.successes} ok)")
        grid.add_row("success rate", f"{_pct(self.success_rate)} overall · {_pct(self.recent_success_rate)} recent")
        grid.add_row("recent", sparkline(list(self.recent)) or "–")
        grid.add_row("code version", self.code_version or "–")
        if len(self.by_version) > 1:
            grid.add_row("by version", "  →  ".join(f"{v[:8]} {100 * ok / n:.0f} % of {n}"
                                                    for v, (ok, n) in list(self.by_version.items())[-4:]))
        grid.add_row("worker", self.worker)
        interval = f" · every {self.lab_interval:g} s" if self.lab_interval else ""
        grid.add_row("Lab Technician", self.lab + interval)
        last = list(self.changes.values())[-1] if self.changes else None
        if last is not None:
            verdict = last.get("verdict", "pending")
            grid.add_row("last change", Text.assemble(f"{last.get('type')} → {last.get('target')}  ",
                                                      (verdict, _VERDICT_STYLE.get(verdict, ""))))
        events = Text("\n".join(self.events), style="dim")
        return Panel(Group(grid, Text(""), events), title=self.title, border_style="cyan")


class LiveView:
    """Use as a context manager; pass ``view.update`` as a status callback."""

    def __init__(self, console: Console | None = None, *, title: str = "astroagent pipeline",
                 enabled: bool = True):
        self.console = console or Console()
        self.model = ViewModel(title=title)
        self.enabled = enabled
        self._live: Live | None = None

    def __enter__(self) -> "LiveView":
        if self.enabled and self.console.is_terminal:
            self._live = Live(self.model.render(), console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self.model.render(), refresh=True)
            self._live.__exit__(*exc)
            self._live = None

    def update(self, update: dict[str, Any]) -> None:
        line = self.model.fold(update)
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(self.model.render(), refresh=True)
        elif line:
            self.console.print(line, highlight=False, markup=False)
