"""``astroagent labtech improve | rollback | history``: change the Experimenter's code safely, undo, list."""

from __future__ import annotations

from pathlib import Path

import click

from astroagent.cli._app import emit_json
from astroagent.cli.labtech import labtech
from astroagent.errors import UsageError

__all__ = ["improve_cmd", "rollback_cmd", "history_cmd"]

_HISTORY_FIELDS = ("id", "created_at", "applied_at", "agent", "design", "type", "target", "engine", "fix", "status",
                   "verdict", "reason",
                   "verdict_reason", "code_version_before", "code_version_after", "code_versions_after",
                   "sha_before", "sha_after", "backup", "signature", "verdict_evidence", "diff")


def _context() -> tuple[Path | None, object, Path]:
    from astroagent.config import load_config
    from astroagent.paths import data_dir, find_workspace
    workspace = find_workspace()
    return workspace, load_config(workspace), data_dir(workspace)


@labtech.command("improve")
@click.option("--target", "targets", multiple=True, type=click.Path(path_type=Path),
              help="A file the Lab Technician may change (repeatable; default: the Experimenter's package).")
@click.option("--logs", type=click.Path(path_type=Path), default=None, help="Log folder (default data/logs/experimenter).")
@click.option("--test-command", default=None, help="Command that judges a change (default: pytest on tests/).")
@click.option("--engine", type=click.Choice(["auto", "rules", "llm"]), default=None)
@click.option("--max-improvements", type=click.IntRange(0, 20), default=None)
@click.option("--force", is_flag=True, help="Improve even when the success rate needs no intervention.")
@click.option("--dry-run", is_flag=True, help="Show the validated diffs; apply nothing.")
@click.option("--json", "as_json", is_flag=True)
def improve_cmd(targets: tuple[Path, ...], logs: Path | None, test_command: str | None, engine: str | None,
                max_improvements: int | None, force: bool, dry_run: bool, as_json: bool) -> int:
    """Analyse the logs, judge earlier changes, and apply the best validated fixes."""
    from astroagent.labtech import resolve_targets
    from astroagent.labtech import SessionRequest, opportunity_summary, run_session

    workspace, config, data = _context()
    for target in targets:
        if not target.is_file():
            raise UsageError(f"--target {target}: no such file")
    if targets and workspace is None:
        raise UsageError("--target needs a workspace (a folder with astroagent.yaml); none found")
    if workspace is not None:
        resolve_targets(workspace, targets)
    if logs is not None and not logs.is_dir():
        raise UsageError(f"--logs {logs}: not a directory")
    request = SessionRequest(log_dir=logs, targets=targets, test_command=test_command, engine=engine,
                             max_improvements=max_improvements, force=force, dry_run=dry_run)
    result = run_session(request, config=config, workspace=workspace, data_dir=data,
                         no_intervention_hint=" (use --force to try anyway)")
    analysis, notes, report = result.analysis, result.notes, result.report_path
    if as_json:
        emit_json({"success": True, "dry_run": dry_run,
                   "opportunities": [opportunity_summary(o) for o in analysis.opportunities],
                   "improvements_made": [{k: i.get(k) for k in ("id", "type", "target", "status", "reason", "diff",
                                                                "fix", "engine")} for i in result.improvements],
                   "verdicts": list(result.verdicts), "notes": list(notes), "report_path": report,
                   "success_rate": analysis.executions.success_rate, "executions": analysis.executions.total})
        return 0
    click.echo(f"{analysis.executions.total} executions, success {analysis.executions.success_rate:.1%}; "
               f"{len(analysis.opportunities)} opportunities")
    for verdict in result.verdicts:
        click.echo(f"verdict {verdict['id']}: {verdict['verdict']} — {verdict['reason']}")
    for item in result.improvements:
        click.echo(f"{item['id']} {item['status']:<9} {item['fix'] or item['type']} on {item['target']}: {item['reason']}")
        if dry_run and item.get("diff"):
            click.echo(item["diff"].rstrip("\n"))
    if not result.improvements:
        click.echo("no changes made")
    for note in notes:
        click.echo(f"note: {note}")
    if report:
        click.echo(f"report: {report}")
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
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"Lab Technician changes ({len(changes)})")
    for column in ("id", "when", "fix", "target", "status", "verdict", "reason", "evidence"):
        table.add_column(column, overflow="fold")
    for c in changes:
        table.add_row(c["id"], str(c.get("created_at", ""))[:19], c.get("fix") or "", c.get("target") or "",
                      c.get("status") or "", c.get("verdict") or "", (c.get("verdict_reason") or c.get("reason") or "")[:160],
                      evidence_line(c.get("verdict_evidence")))
    Console(width=160).print(table)
    return 0
