"""``astroagent labtech analyze`` and ``astroagent labtech report``: the Lab Technician's eyes.

Thin edge: parse options, call ``run_analysis`` / ``write_outputs``, format.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from astroagent.cli._app import EXIT_USAGE, emit_json, fail
from astroagent.cli.labtech import labtech
from astroagent.paths import agent_log_dir, data_dir, find_workspace, lab_technician_dir

if TYPE_CHECKING:
    from astroagent.labtech import Analysis

__all__ = ["analyze_command", "report_command"]

_MAX_WINDOW_HOURS = 24 * 365 * 1000  # two windows back must stay inside the datetime range


def _analyze(logs: Path | None, window_hours: float | None) -> tuple[Analysis, dict]:
    from astroagent.config import load_config
    from astroagent.labtech import default_targets, run_analysis  # loaded only when analysing
    from astroagent.labtech import write_outputs

    workspace = find_workspace()
    full = load_config(workspace)
    config = full.lab_technician
    root = data_dir(workspace)
    log_dir = logs if logs is not None else agent_log_dir("experimenter", root)
    if not log_dir.is_dir():
        what = "is not a directory" if log_dir.exists() else "does not exist"
        fail(f"log directory {log_dir} {what} (run an experiment first, or pass --logs DIR)", EXIT_USAGE)
    if window_hours is not None and not 0 < window_hours <= _MAX_WINDOW_HOURS:
        fail(f"--window-hours must be positive and at most {_MAX_WINDOW_HOURS} (1000 years), got {window_hours:.10g}",
             EXIT_USAGE)
    out_dir = lab_technician_dir(root)
    analysis = run_analysis(config, log_dir.resolve(), out_dir, workspace=workspace,
                            targets=default_targets(config, workspace, code_package=full.experimenter.code_package),
                            window_hours=window_hours)
    return analysis, write_outputs(analysis, out_dir)


@labtech.command("analyze")
@click.option("--logs", type=click.Path(path_type=Path), default=None,
              help="Execution log folder (default: <data>/logs/experimenter).")
@click.option("--window-hours", type=float, default=None, help="How far back to look (default: config).")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as one JSON object.")
def analyze_command(logs: Path | None, window_hours: float | None, as_json: bool) -> None:
    """Analyse the Experimenter's logs: executions, error patterns, slow methods, opportunities."""
    from astroagent.labtech import analyze_json

    analysis, paths = _analyze(logs, window_hours)
    if as_json:
        emit_json({**analyze_json(analysis), "report_path": str(paths["report_path"]),
                   "analysis_path": str(paths["analysis_path"]), "plots": [str(p) for p in paths["plots"]]})
        return
    _print_tables(analysis, paths)


def _print_tables(analysis: Analysis, paths: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ex = analysis.executions
    console.print(f"[bold]Lab Technician analysis[/] — last {analysis.window_hours:g} h of {analysis.log_dir}")
    console.print(f"{analysis.log_entries_analyzed} log entries, {analysis.malformed_lines} malformed; "
                  f"{ex.total} executions, {ex.failed} failed, success rate {ex.success_rate:.1%}, "
                  f"mean {analysis.avg_execution_time:.2f}s")
    if analysis.error_patterns:
        table = Table(title="Error patterns")
        for col in ("count", "type", "kind", "method", "location", "template"):
            table.add_column(col, overflow="fold")
        for p in analysis.error_patterns[:15]:
            kind = "transient" if p.transient else "deterministic" if p.deterministic else "?"
            loc = f"{p.location.file}:{p.location.line or ''}" if p.location else "—"
            table.add_row(str(p.count), p.error_type, kind, p.method or "—", loc, p.template[:80])
        console.print(table)
    if analysis.slow_methods:
        table = Table(title="Slow methods")
        for col in ("method", "calls", "mean", "p50", "p95", "share"):
            table.add_column(col)
        for s in analysis.slow_methods:
            table.add_row(s.method, str(s.calls), f"{s.mean:.3f}", f"{s.p50:.3f}", f"{s.p95:.3f}", f"{s.share:.0%}")
        console.print(table)
    table = Table(title="Opportunities")
    for col in ("priority", "type", "target", "fix", "description"):
        table.add_column(col, overflow="fold")
    for o in analysis.opportunities:
        table.add_row(o.priority, o.type, o.target or "—", o.fix or "report", o.description)
    console.print(table if analysis.opportunities else "No opportunities found.")
    console.print(f"intervention needed: {'yes' if analysis.needs_intervention else 'no'}")
    console.print(f"report: {paths['report_path']}")


@labtech.command("report")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the newest report here instead of printing it.")
def report_command(output: Path | None) -> None:
    """Print (or write) the newest Lab Technician report; analyse first when there is none yet."""
    from astroagent.labtech import latest_report

    root = data_dir(find_workspace())
    report = latest_report(lab_technician_dir(root))
    if report is None:
        if not agent_log_dir("experimenter", root).is_dir():
            fail(f"no report yet and no logs at {agent_log_dir('experimenter', root)} to analyse", EXIT_USAGE)
        report = _analyze(None, None)[1]["report_path"]
    if output is None:
        click.echo(report.read_text(encoding="utf-8"), nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report, output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE)
    click.echo(str(output))
