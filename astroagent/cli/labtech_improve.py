"""``astroagent labtech improve | rollback | history``: change the Experimenter's code safely, undo, list."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from astroagent.cli._agents import FORMAT_OPTION, Context, agents_for, check_targets, context
from astroagent.cli._app import emit_json
from astroagent.cli.labtech import labtech
from astroagent.errors import UsageError

__all__ = ["improve_cmd", "rollback_cmd", "history_cmd"]

_HISTORY_FIELDS = ("id", "created_at", "applied_at", "agent", "design", "type", "target", "engine", "fix", "status",
                   "verdict", "reason",
                   "verdict_reason", "code_version_before", "code_version_after", "code_versions_after",
                   "sha_before", "sha_after", "backup", "signature", "verdict_evidence", "forgotten", "diff")


def _context() -> tuple[Path | None, object, Path]:
    from astroagent.config import load_config
    from astroagent.paths import data_dir, find_workspace
    workspace = find_workspace()
    return workspace, load_config(workspace), data_dir(workspace)


def _require_tests(ctx: Context, test_command: str | None, agents: list) -> None:
    """Refuse before any work when a change would have nothing to judge it (``require_tests``)."""
    from astroagent.labtech import has_tests

    safety = ctx.config.lab_technician.safety_constraints
    if ctx.workspace is None or not (safety.require_validation and safety.require_tests):
        return
    if test_command or any(a.test_command for a in agents) or has_tests(ctx.workspace / "tests"):
        return
    raise UsageError(f"no tests to judge a change in {ctx.workspace} (no test_*.py under tests/); give one with "
                     "--test-command 'python -m pytest -q' (or agents.<name>.test_command in astroagent.yaml)")


@labtech.command("improve")
@click.option("--agent", default=None, metavar="NAME", help="One agent of the config (default: every agent with logs).")
@click.option("--target", "targets", multiple=True, type=click.Path(path_type=Path),
              help="A file the Lab Technician may change (repeatable; default: the agent's package). "
                   "Without astroagent.yaml the project above the targets is the workspace.")
@click.option("--logs", type=click.Path(path_type=Path), default=None, help="Log folder (default: the agent's).")
@FORMAT_OPTION
@click.option("--test-command", default=None, help="Command that judges a change (default: pytest on tests/).")
@click.option("--engine", type=click.Choice(["auto", "rules", "llm"]), default=None)
@click.option("--max-improvements", type=click.IntRange(0, 20), default=None, help="Changes per agent at most.")
@click.option("--force", is_flag=True, help="Improve even when the success rate needs no intervention.")
@click.option("--dry-run", is_flag=True, help="Show the validated diffs; apply nothing.")
@click.option("--json", "as_json", is_flag=True)
def improve_cmd(agent: str | None, targets: tuple[Path, ...], logs: Path | None, log_format: str,
                test_command: str | None,
                engine: str | None, max_improvements: int | None, force: bool, dry_run: bool, as_json: bool) -> int:
    """Analyse the logs, judge earlier changes, and apply the best validated fixes."""
    from astroagent.labtech import SessionRequest, absorbed_line, combined_output, run_session, version_line

    ctx = context(targets)
    check_targets(ctx, targets)
    agents = agents_for(ctx, agent, logs)
    if max_improvements != 0:
        _require_tests(ctx, test_command, agents)
    request = SessionRequest(log_dir=logs, log_format=log_format, targets=targets, test_command=test_command, engine=engine,
                             max_improvements=max_improvements, force=force, dry_run=dry_run)
    results = [run_session(replace(request, agent=a.name), config=ctx.config, workspace=ctx.workspace,
                           data_dir=ctx.data, no_intervention_hint=" (use --force to try anyway)") for a in agents]
    out = combined_output(results)
    if as_json:
        keys = ("id", "type", "target", "status", "reason", "diff", "fix", "engine", "agent")
        emit_json({"success": True, "dry_run": dry_run, "agent": out["agent"], "agents": out["agents"],
                   "opportunities": out["opportunities"],
                   "improvements_made": [{k: i.get(k) for k in keys} for i in out["improvements_made"]],
                   "verdicts": out["verdicts"], "notes": out["notes"], "report_path": out["report_path"],
                   "success_rate": out["success_rate"], "executions": out["executions"]})
        return 0
    for result in results:
        ex, opps = result.analysis.executions, result.analysis.opportunities
        click.echo(f"{result.agent}: {ex.total} executions, success {ex.success_rate:.1%}; {len(opps)} opportunities")
        for line in (version_line(result.analysis), absorbed_line(result.analysis)):
            if line:
                click.echo(f"  {line}")
    for verdict in out["verdicts"]:
        click.echo(f"verdict {verdict['id']}: {verdict['verdict']} — {verdict['reason']}")
    for item in out["improvements_made"]:
        click.echo(f"{item['id']} {item['status']:<9} {item['fix'] or item['type']} on {item['target']}: {item['reason']}")
        if dry_run and item.get("diff"):
            click.echo(item["diff"].rstrip("\n"))
    if not out["improvements_made"]:
        click.echo("no changes made")
    for note in out["notes"]:
        click.echo(f"note: {note}")
    for result in results:
        if result.report_path:
            click.echo(f"report: {result.report_path}")
    return 0


@labtech.command("rollback")
@click.argument("change_id", required=False)
@click.option("--last", is_flag=True, help="Roll back the most recent change still in place.")
@click.option("--force", is_flag=True, help="Overwrite the file even if someone else edited it since.")
def rollback_cmd(change_id: str | None, last: bool, force: bool) -> int:
    """Undo a change the Lab Technician made, from its backup."""
    from astroagent.labtech import labtech_lock, recover
    from astroagent.labtech import rollback_change, rollback_last

    if bool(change_id) == bool(last):
        raise UsageError("give a CHANGE_ID or --last (one of them)")
    workspace, _config, data = _context()
    if workspace is None:
        raise UsageError("no workspace (a folder with astroagent.yaml) found; run inside one or set ASTROAGENT_WORKSPACE")
    with labtech_lock(data):
        recover(data, workspace)
        if last:
            change = rollback_last(data_dir=data, workspace=workspace, force=force)
        else:
            change = rollback_change(change_id, data_dir=data, workspace=workspace, force=force)
    click.echo(f"rolled back {change['id']} ({change.get('fix')} on {change.get('target')}); "
               f"{change.get('file')} restored")
    return 0


@labtech.command("history")
@click.option("--json", "as_json", is_flag=True)
def history_cmd(as_json: bool) -> int:
    """Every change the Lab Technician made or proposed, with its verdict."""
    from astroagent.labtech import Ledger, evidence_line

    _workspace, _config, data = _context()
    changes = Ledger(data).history()
    if as_json:
        emit_json({"changes": [{k: c.get(k) for k in _HISTORY_FIELDS} for c in changes]})
        return 0
    if not changes:
        click.echo("no changes recorded yet")
        return 0
    from astroagent.cli import _tables as tables
    table = tables.table(f"Lab Technician changes ({len(changes)})",
                         ("id", "when", "agent", "fix", "target", "status", "verdict", "reason", "evidence"))
    for c in changes:
        table.add_row(c["id"], str(c.get("created_at", ""))[:19], c.get("agent") or "", c.get("fix") or "",
                      c.get("target") or "", c.get("status") or "", c.get("verdict") or "",
                      (c.get("verdict_reason") or c.get("reason") or "")[:160], evidence_line(c.get("verdict_evidence")))
    tables.console().print(table)
    return 0
