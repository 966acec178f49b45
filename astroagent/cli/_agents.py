"""What ``labtech analyze | improve | report`` share: the workspace (or, for ``--target`` files of a
project without ``astroagent.yaml``, the project folder), the data folder, the config, and the
agents a command runs over — each refused with one line when it cannot be used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from astroagent.errors import UsageError
from astroagent.labtech import LOG_FORMATS

if TYPE_CHECKING:
    from astroagent.config.models import AstroAgentConfig
    from astroagent.config.watched import WatchedAgent

__all__ = ["Context", "context", "agents_for", "check_targets", "FORMAT_OPTION"]

FORMAT_OPTION = click.option(
    "--format", "log_format", type=click.Choice(LOG_FORMATS), default="auto", show_default=True,
    help="What the log folder holds: the JSONL contract, OpenTelemetry spans (OTLP JSON lines or the console "
         "exporter's output), or auto (spans when it has no execution_*.jsonl).")


@dataclass(frozen=True)
class Context:
    workspace: Path | None      # the safety boundary (None: nothing may change)
    config: AstroAgentConfig
    data: Path


def context(targets: Sequence[Path] = ()) -> Context:
    """The workspace with ``astroagent.yaml``; without one, the project above the targets (said in one line)."""
    from astroagent.config import load_config
    from astroagent.paths import PROJECT_MARKERS, data_dir, find_project, find_workspace

    workspace = find_workspace()
    config = load_config(workspace)
    data = data_dir(workspace)
    if workspace is None and targets:
        workspace = find_project(list(targets))
        marked = [m for m in PROJECT_MARKERS if (workspace / m).exists()]
        why = f"the nearest folder above the targets with {marked[0]}" if marked else "the current folder"
        click.echo(f"astroagent: workspace {workspace} ({why}; no astroagent.yaml)", err=True)
    return Context(workspace, config, data)


def check_targets(ctx: Context, targets: Sequence[Path]) -> None:
    """Every ``--target`` exists, lies inside the workspace, and is not protected (tests, telemetry …)."""
    from astroagent.labtech import protected_reason, resolve_targets

    for target in targets:
        if not target.is_file():
            raise UsageError(f"--target {target}: no such file")
    if ctx.workspace is None or not targets:
        return
    for target, rel in zip(targets, resolve_targets(ctx.workspace, targets)):
        if (why := protected_reason(ctx.workspace, rel, ctx.config)) is not None:
            raise UsageError(f"--target {target}: refused, {why}; tests and telemetry judge every change "
                             "and are never changed")


def agents_for(ctx: Context, agent: str | None, logs: Path | None) -> list[WatchedAgent]:
    """The agents to run over: ``--agent``'s, the one ``--logs`` belongs to (else the Experimenter on
    that folder), or every agent with logs — refused when there are no logs to read."""
    from astroagent.config.watched import DEFAULT_AGENT, select_agents, watched_agents

    known = watched_agents(ctx.config, workspace=ctx.workspace, data_dir=ctx.data)
    if logs is not None:
        if not logs.is_dir():
            _no_logs(logs)
        owner = [a for a in known if a.log_dir == logs.resolve()]
        return select_agents(known, agent or (owner[0].name if owner else DEFAULT_AGENT))
    chosen = select_agents(known, agent)
    if agent is not None and not chosen[0].log_dir.is_dir():
        _no_logs(chosen[0].log_dir)
    if not chosen:      # no agent has logs: the Experimenter's folder, when there is one, says "0 executions"
        default = select_agents(known, DEFAULT_AGENT)
        if not default[0].log_dir.is_dir():
            _no_logs(default[0].log_dir)
        return default
    return chosen


def _no_logs(folder: Path) -> None:
    what = "is not a directory" if folder.exists() else "does not exist"
    raise UsageError(f"log directory {folder} {what} (run an experiment or `astroagent watch` first, "
                     "or pass --logs DIR)")
