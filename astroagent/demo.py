"""``astroagent demo``: the whole loop in a few minutes, offline.

A fresh workspace with the Experimenter's plain first version, a loopback archive that resets
about a third of its connections and answers some requests with 5xx, the pipeline with the
Lab Technician on a short interval. The timeline: a first phase of experiments on the plain
code, a Lab Technician run that applies a validated change, then a canary phase in which each
experiment runs at random on the new code or on the old (rebuilt from the backup), and Lab
Technician runs that judge the change on both arms of the same period. The demo passes only when
a change was kept and the success rate of the kept version clearly beats the first one's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from astroagent.errors import UsageError
from astroagent.orchestration.state import ChangeRecord, ExperimentRecord, PipelineState
from astroagent.paths import WORKSPACE_FILE

__all__ = ["DemoResult", "run_demo", "segments", "by_version", "summarise", "plot_success_rate", "DEMO_ARCHIVE",
           "MIN_GAIN"]

DEMO_ARCHIVE = {"reset_rate": 0.33, "error_rate": 0.03, "stall_rate": 0.0, "outage_rate": 0.0, "seed": 11}
PHASE_EXPERIMENTS = 14
TIME_BUDGET_SECONDS = 160.0   # no new experiment after this (the demo's three minutes, less its summary)
HARD_STOP_SECONDS = 172.0     # whatever still runs then (a Lab Technician run) is aborted
PROJECTS_PER_CYCLE = 4
MIN_GAIN = 0.15
_VERSION_COLOURS = ("tab:gray", "tab:blue", "tab:purple", "tab:brown", "tab:cyan")
_OVERRIDES: dict[str, Any] = {
    "lab_technician": {"engine": "rules", "improvement_threshold": 0.9,
                       "safety_constraints": {"max_improvements": 1},
                       "verdict": {"min_executions": 12}},
    "experimenter": {"request_timeout_seconds": 5},
    "pipeline": {"lab_technician_interval": 1, "min_lab_interval": 1, "max_lab_interval": 5,
                 "min_experiments_between_lab": PHASE_EXPERIMENTS, "projects_per_cycle": PROJECTS_PER_CYCLE,
                 "experiment_timeout_seconds": 60, "restart_backoff_seconds": 0.5,
                 "lab_technician_timeout_seconds": 150, "shutdown_deadline_seconds": 10},
}


@dataclass(frozen=True)
class DemoResult:
    success_rate_before: float | None
    success_rate_after: float | None
    experiments_before: int
    experiments_after: int
    improvements: list[dict[str, Any]]
    report_path: str | None
    plot_path: str | None
    passed: bool
    reason: str | None
    time_to_first_kept: float | None
    wall_time: float
    workdir: str
    archive_stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``demo --json`` object (DESIGN §4) plus a few figures a script may want."""
        return asdict(self)


def segments(history: list[ExperimentRecord]) -> list[tuple[str | None, list[ExperimentRecord]]]:
    """The experiments cut into runs of one code version, in order."""
    runs: list[tuple[str | None, list[ExperimentRecord]]] = []
    for record in history:
        if runs and runs[-1][0] == record.code_version:
            runs[-1][1].append(record)
        else:
            runs.append((record.code_version, [record]))
    return runs


def _rate(records: list[ExperimentRecord]) -> float | None:
    return sum(r.success for r in records) / len(records) if records else None


def _improvements(changes: list[ChangeRecord], ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each change with its final verdict; the ledger has the last word when it knows the change."""
    by_id = {c.get("id"): c for c in ledger if c.get("id")}
    items = []
    for change in changes:
        known = by_id.get(change.id, {})
        status = known.get("status", change.status)
        verdict = known.get("verdict") or change.verdict
        if status == "rolled_back":
            verdict = "rolled_back"
        if verdict not in ("kept", "rolled_back", "pending"):
            verdict = "pending"
        kind = change.fix or known.get("fix") or change.type or known.get("type")
        items.append({"id": change.id, "type": kind,
                      "target": change.target or known.get("target"), "verdict": verdict, "t": change.t})
    return items


def by_version(history: list[ExperimentRecord]) -> dict[str | None, list[ExperimentRecord]]:
    """Each code version's experiments in time order (a canary's and its baseline's interleave)."""
    out: dict[str | None, list[ExperimentRecord]] = {}
    for record in history:
        out.setdefault(record.code_version, []).append(record)
    return out


def _before_after(state: PipelineState, improvements: list[dict[str, Any]],
                  ledger: list[dict[str, Any]]) -> tuple[list[ExperimentRecord], list[ExperimentRecord]]:
    """Before: the first code version until the first change landed. After: the version the demo
    ended on (the kept change's), from then on — canary executions included, baseline ones not."""
    history = state.history
    if not history:
        return [], []
    landed = min((i["t"] for i in improvements if i.get("t") is not None), default=float("inf"))
    first = history[0].code_version
    kept = [c.get("code_version_after") for c in ledger if c.get("verdict") == "kept" and c.get("code_version_after")]
    final = kept[-1] if kept else history[-1].code_version
    before = [r for r in history if r.code_version == first and r.t <= landed]
    after = [r for r in history if r.code_version == final and r.t > landed] if final != first else []
    return before, after


def summarise(state: PipelineState, ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """Before (first code version) against after (the kept one), the changes, and whether it passed."""
    improvements = _improvements(state.changes, ledger)
    before, after = _before_after(state, improvements, ledger)
    rate_before, rate_after = _rate(before), _rate(after)
    kept = [i for i in improvements if i["verdict"] == "kept"]
    reason = None
    if not state.experiments:
        reason = "no experiment ran"
    elif not improvements:
        reason = "the Lab Technician made no change"
    elif not kept:
        reason = "no change was kept (verdicts: " + ", ".join(i["verdict"] for i in improvements) + ")"
    elif rate_after is None or rate_before is None:
        reason = "no experiments ran on the changed code"
    elif rate_after - rate_before < MIN_GAIN:
        reason = (f"the success rate did not clearly climb ({100 * rate_before:.0f} % → {100 * rate_after:.0f} %, "
                  f"needs +{100 * MIN_GAIN:.0f} points)")
    return {"success_rate_before": rate_before, "success_rate_after": rate_after,
            "experiments_before": len(before), "experiments_after": len(after), "improvements": improvements,
            "passed": reason is None, "reason": reason}


def plot_success_rate(state: PipelineState, improvements: list[dict[str, Any]], path: Path,
                      window: int = 8) -> Path:
    """Success rate over time (rolling over ``window`` experiments), one line per code version (a
    canary and its baseline run side by side), each change marked with its type and verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"kept": "tab:green", "rolled_back": "tab:red", "pending": "tab:orange"}
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    history = state.history
    times = [r.t for r in history]
    outcomes = [1.0 if r.success else 0.0 for r in history]
    for n, (version, records) in enumerate(by_version(history).items()):
        wins = [1.0 if r.success else 0.0 for r in records]
        rolling = [sum(wins[max(0, i - window + 1): i + 1]) / (i + 1 - max(0, i - window + 1))
                   for i in range(len(wins))]
        rate = _rate(records) or 0.0
        ax.step([r.t for r in records], rolling, where="post", lw=2, color=_VERSION_COLOURS[n % len(_VERSION_COLOURS)],
                label=f"code {version or '?'}: {100 * rate:.0f} % of {len(records)} (last {window})")
    ok = [(t, o) for t, o in zip(times, outcomes) if o]
    bad = [(t, o) for t, o in zip(times, outcomes) if not o]
    if ok:
        ax.scatter(*zip(*ok), s=10, color="tab:blue", alpha=0.5, label="experiment succeeded")
    if bad:
        ax.scatter(*zip(*bad), s=10, color="tab:red", alpha=0.6, label="experiment failed")
    for n, (begin, end) in enumerate(zip(state.lab_started_at, state.lab_runs_at)):
        ax.plot([begin, end], [1.035, 1.035], color="tab:purple", lw=4, solid_capstyle="butt",
                label="Lab Technician at work" if n == 0 else None)
    for item in improvements:
        colour = colours.get(item["verdict"], "0.4")
        ax.axvline(item["t"], color=colour, ls="--", lw=1.5)
        ax.text(item["t"], 1.06, f" {item['type']} ({item['verdict']})", rotation=0, fontsize=8, color=colour,
                ha="left", va="bottom", clip_on=False)
    ax.set_xlabel("time since the pipeline started [s]")
    ax.set_ylabel("experiment success rate")
    ax.set_ylim(-0.05, 1.12)
    ax.set_title("astroagent demo: the Experimenter's success rate as the Lab Technician changes its code",
                 fontsize=10, pad=22)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _write_overrides(workspace: Path) -> None:
    """Merge the demo's settings into the workspace's config file."""
    config_file = workspace / WORKSPACE_FILE
    data = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}

    def merge(base: dict[str, Any], over: dict[str, Any]) -> None:
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    merge(data, _OVERRIDES)
    config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _prepare_workdir(workdir: Path | None) -> Path:
    import tempfile

    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="astroagent-demo-")).resolve()
    workdir = Path(workdir).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        raise UsageError(f"--workdir {workdir}: not empty; the demo needs a new or empty folder")
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def _run_pipeline(pipeline: Any, areas: list[str], *, cycles: int | None, started: float,
                  clock: Callable[[], float]) -> tuple[PipelineState, list[float]]:
    """Run the pipeline until its first kept change (or the cycle / time bound, or the hard stop);
    returns the final state and when the first change was kept."""
    first_kept: list[float] = []

    def stop_at_first_kept(update: dict[str, Any]) -> None:
        if update.get("stage") == "lab_technician" and update.get("status") in ("completed", "failed"):
            if any(c.verdict == "kept" for c in pipeline.state.changes):
                first_kept.append(clock() - started)
                pipeline.stop()

    pipeline.status_callbacks.append(stop_at_first_kept)

    async def bounded() -> PipelineState:
        hard_stop = None
        if not cycles:
            hard_stop = asyncio.get_running_loop().call_later(
                max(1.0, HARD_STOP_SECONDS - (clock() - started)), pipeline.abort)
        try:
            return await pipeline.run_continuous({"domain": "astrophysics", "research_areas": areas})
        finally:
            if hard_stop is not None:
                hard_stop.cancel()

    return asyncio.run(bounded()), first_kept


def run_demo(*, cycles: int | None = None, workdir: Path | None = None,
             on_update: Callable[[dict[str, Any]], None] | None = None,
             say: Callable[[str], None] | None = None,
             clock: Callable[[], float] = time.monotonic) -> DemoResult:
    """Run the demo end to end and judge it (see the module docstring)."""
    from astroagent.config import ArchiveConfig, load_config
    from astroagent.labtech import Ledger
    from astroagent.orchestration.continuous_pipeline import ContinuousPipeline
    from astroagent.science.archive_server import ArchiveServer
    from astroagent.workspace import init_workspace

    started = clock()
    say = say or (lambda text: None)
    workspace = _prepare_workdir(workdir)
    archive = ArchiveServer(ArchiveConfig(**DEMO_ARCHIVE))
    url = archive.start()
    try:
        say(f"archive on {url}: ~{100 * DEMO_ARCHIVE['reset_rate']:.0f} % connection resets, "
            f"~{100 * DEMO_ARCHIVE['error_rate']:.0f} % 5xx answers")
        init_workspace(workspace, archive_url=url, force=True)
        _write_overrides(workspace)
        config = load_config(workspace)
        data = workspace / "data"
        pipeline = ContinuousPipeline(workspace=workspace, data_dir=data, config=config, archive_url=url,
                                      max_cycles=cycles,
                                      duration=None if cycles else TIME_BUDGET_SECONDS - (clock() - started))
        pipeline.enable_lab_technician()
        if on_update is not None:
            pipeline.status_callbacks.append(on_update)
        state, first_kept = _run_pipeline(pipeline, list(config.pipeline.research_areas), cycles=cycles,
                                          started=started, clock=clock)
        stats = archive.stats()
    finally:
        archive.stop()
    summary = summarise(state, Ledger(data).history())
    plot_path = plot_success_rate(state, summary["improvements"], data / "pipeline" / "demo_success_rate.png")
    report = pipeline.last_lab_result.output_data.get("report_path") if pipeline.last_lab_result else None
    improvements = [{k: i[k] for k in ("id", "type", "target", "verdict")} for i in summary["improvements"]]
    return DemoResult(
        success_rate_before=summary["success_rate_before"], success_rate_after=summary["success_rate_after"],
        experiments_before=summary["experiments_before"], experiments_after=summary["experiments_after"],
        improvements=improvements, report_path=str(report) if report else None, plot_path=str(plot_path),
        passed=summary["passed"], reason=summary["reason"],
        time_to_first_kept=first_kept[0] if first_kept else None, wall_time=clock() - started,
        workdir=str(workspace), archive_stats=stats)
