"""``astroagent labtech analyze`` and ``astroagent labtech report``: the Lab Technician's eyes.

Thin edge: parse options, call ``run_analysis`` / ``write_outputs``, format.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from astroagent.cli import _tables as tables
from astroagent.cli._agents import FORMAT_OPTION, Context, agents_for, context
from astroagent.cli._app import EXIT_USAGE, emit_json, fail
from astroagent.cli.labtech import labtech

if TYPE_CHECKING:
    from astroagent.config.watched import WatchedAgent
    from astroagent.labtech import Analysis

__all__ = ["analyze_command", "report_command"]

_MAX_WINDOW_HOURS = 24 * 365 * 1000  # two windows back must stay inside the datetime range


def _analyze(agent: WatchedAgent, ctx: Context, logs: Path | None, window_hours: float | None,
             log_format: str = "auto") -> tuple[Analysis, dict]:
    from astroagent.config.watched import agent_lab_dir
    from astroagent.labtech import agent_code, run_analysis, write_outputs  # loaded only when analysing

    if window_hours is not None and not 0 < window_hours <= _MAX_WINDOW_HOURS:
        fail(f"--window-hours must be positive and at most {_MAX_WINDOW_HOURS} (1000 years), got {window_hours:.10g}",
             EXIT_USAGE)
    out_dir = agent_lab_dir(agent.name, ctx.data)
    log_dir = logs if logs is not None else agent.log_dir
    analysis = run_analysis(ctx.config.lab_technician, log_dir.resolve(), out_dir, workspace=ctx.workspace,
                            targets=agent_code(agent, ctx.config, ctx.workspace)[0], window_hours=window_hours,
                            log_format=log_format)
    analysis = analysis.model_copy(update={"agent": agent.name})
    return analysis, write_outputs(analysis, out_dir)


@labtech.command("analyze")
@click.option("--agent", default=None, metavar="NAME", help="One agent of the config (default: every agent with logs).")
@click.option("--logs", type=click.Path(path_type=Path), default=None,
              help="Execution log folder (default: the agent's, <data>/logs/<agent>).")
@FORMAT_OPTION
@click.option("--window-hours", type=float, default=None, help="How far back to look (default: config).")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as one JSON object.")
def analyze_command(agent: str | None, logs: Path | None, log_format: str, window_hours: float | None,
                    as_json: bool) -> None:
    """Analyse the agents' logs: executions, error patterns, slow methods, opportunities."""
    from astroagent.labtech import analyze_json

    ctx = context()
    runs = [(a.name, *_analyze(a, ctx, logs, window_hours, log_format)) for a in agents_for(ctx, agent, logs)]
    if as_json:
        name, analysis, paths = runs[0]
        emit_json({**analyze_json(analysis), "report_path": str(paths["report_path"]),
                   "analysis_path": str(paths["analysis_path"]), "plots": [str(p) for p in paths["plots"]],
                   "agents": [{"agent": n, "executions": a.executions.total,
                               "success_rate": a.executions.success_rate,
                               "needs_intervention": a.needs_intervention, "report_path": str(p["report_path"])}
                              for n, a, p in runs]})
        return
    for _name, analysis, paths in runs:
        _print_tables(analysis, paths)


def _print_tables(analysis: Analysis, paths: dict) -> None:
    from astroagent.labtech import absorbed_line, version_line

    console = tables.console()
    ex = analysis.executions
    who = f" of agent {analysis.agent}" if analysis.agent else ""
    console.print(f"[bold]Lab Technician analysis[/]{who} — last {analysis.window_hours:g} h of {analysis.log_dir}")
    console.print(f"{analysis.log_entries_analyzed} log entries, {analysis.malformed_lines} malformed; "
                  f"{ex.total} executions, {ex.failed} failed, success rate {ex.success_rate:.1%}, "
                  f"mean {analysis.avg_execution_time:.2f}s")
    if line := version_line(analysis):
        console.print(line)
    if line := absorbed_line(analysis):
        console.print(line)
    if analysis.error_patterns:
        table = tables.table("Error patterns", ("failed", "absorbed", "type", "kind", "method", "location", "template"))
        for p in analysis.error_patterns[:15]:
            kind = "transient" if p.transient else "deterministic" if p.deterministic else "?"
            loc = f"{p.location.file}:{p.location.line or ''}" if p.location else "—"
            table.add_row(str(p.unabsorbed), str(p.absorbed), p.error_type, kind, p.method or "—", loc,
                          p.template[:160])
        console.print(table)
    if analysis.slow_methods:
        table = tables.table("Slow methods", ("method", "calls", "mean", "p50", "p95", "share"))
        for s in analysis.slow_methods:
            table.add_row(s.method, str(s.calls), f"{s.mean:.3f}", f"{s.p50:.3f}", f"{s.p95:.3f}", f"{s.share:.0%}")
        console.print(table)
    table = tables.table("Opportunities", ("priority", "type", "target", "fix", "description"))
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
    from astroagent.config.watched import DEFAULT_AGENT, agent_lab_dir
    from astroagent.labtech import latest_report

    ctx = context()
    report = latest_report(agent_lab_dir(DEFAULT_AGENT, ctx.data))
    if report is None:
        [agent] = agents_for(ctx, DEFAULT_AGENT, None)      # one line when there are no logs either
        report = _analyze(agent, ctx, None, None)[1]["report_path"]
    if output is None:
        click.echo(report.read_text(encoding="utf-8"), nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report, output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE)
    click.echo(str(output))
