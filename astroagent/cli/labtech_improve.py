"""``astroagent labtech improve | rollback | history``: change the Experimenter's code safely, undo, list."""

from __future__ import annotations

from pathlib import Path

import click

from astroagent.cli._app import emit_json
from astroagent.cli.labtech import labtech
from astroagent.errors import UsageError

__all__ = ["improve_cmd", "rollback_cmd", "history_cmd"]

_HISTORY_FIELDS = ("id", "created_at", "type", "target", "engine", "fix", "status", "verdict", "reason",
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
    from astroagent.labtech.changes.improve import default_targets, no_intervention_note, resolve_targets, run_improvements
    from astroagent.paths import agent_log_dir, lab_technician_dir

    workspace, config, data = _context()
    for target in targets:
        if not target.is_file():
            raise UsageError(f"--target {target}: no such file")
    if targets and workspace is None:
        raise UsageError("--target needs a workspace (a folder with astroagent.yaml); none found")
    if workspace is not None:
        resolve_targets(workspace, targets)
    log_dir = logs if logs is not None else agent_log_dir("experimenter", data)
    if logs is not None and not logs.is_dir():
        raise UsageError(f"--logs {logs}: not a directory")
    from astroagent.agents.lab_technician import opportunity_summary
    from astroagent.labtech.analysis.analyze import run_analysis
    from astroagent.labtech.reports.render import write_outputs

    lab = config.lab_technician
    state_dir = lab_technician_dir(data)
    analysis = run_analysis(lab, log_dir, state_dir, workspace=workspace,
                            targets=list(targets) or default_targets(workspace, config), force=force)
    needed = force or analysis.needs_intervention
    outcome = run_improvements(analysis, config=config, workspace=workspace, data_dir=data,
                               targets=list(targets) or None, test_command=test_command,
                               engine=engine or lab.engine, max_improvements=max_improvements if needed else 0,
                               dry_run=dry_run, force=force)
    notes = list(outcome.notes)
    if not needed:
        notes.append(no_intervention_note(analysis, config) + " (use --force to try anyway)")
    try:
        outputs = write_outputs(analysis, state_dir, improvements=outcome.improvements)
    except Exception as exc:  # the changes are made and in the ledger; a broken report must not hide them
        outputs = {}
        notes.append(f"report not written: {type(exc).__name__}: {exc}")
    report = str(outputs.get("report_path")) if outputs.get("report_path") else None
    if as_json:
        emit_json({"success": True, "dry_run": dry_run,
                   "opportunities": [opportunity_summary(o) for o in analysis.opportunities],
                   "improvements_made": [{k: i.get(k) for k in ("id", "type", "target", "status", "reason", "diff",
                                                                "fix", "engine")} for i in outcome.improvements],
                   "verdicts": list(outcome.verdicts), "notes": notes, "report_path": report,
                   "success_rate": analysis.executions.success_rate, "executions": analysis.executions.total})
        return 0
    click.echo(f"{analysis.executions.total} executions, success {analysis.executions.success_rate:.1%}; "
               f"{len(analysis.opportunities)} opportunities")
    for verdict in outcome.verdicts:
        click.echo(f"verdict {verdict['id']}: {verdict['verdict']} — {verdict['reason']}")
    for item in outcome.improvements:
        click.echo(f"{item['id']} {item['status']:<9} {item['fix'] or item['type']} on {item['target']}: {item['reason']}")
        if dry_run and item.get("diff"):
            click.echo(item["diff"].rstrip("\n"))
    if not outcome.improvements:
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
    from astroagent.labtech.changes.apply import labtech_lock, recover
    from astroagent.labtech.changes.rollback import rollback_change, rollback_last

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
    from astroagent.labtech.changes.ledger import Ledger

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
    for column in ("id", "when", "fix", "target", "status", "verdict", "reason"):
        table.add_column(column, overflow="fold")
    for c in changes:
        table.add_row(c["id"], str(c.get("created_at", ""))[:19], c.get("fix") or "", c.get("target") or "",
                      c.get("status") or "", c.get("verdict") or "", (c.get("verdict_reason") or c.get("reason") or "")[:160])
    Console(width=160).print(table)
    return 0
