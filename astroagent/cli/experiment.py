"""``astroagent init``, ``astroagent experiment``, ``astroagent archive serve``: the Experimenter's commands."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from astroagent.cli._app import EXIT_FAILED, cli, emit_json, fail
from astroagent.errors import UsageError
from astroagent.paths import find_workspace

if TYPE_CHECKING:
    from astroagent.config.models import ArchiveConfig


@cli.command("init")
@click.argument("directory", type=click.Path(path_type=Path), required=False)
@click.option("--here", is_flag=True, help="Write a minimal astroagent.yaml for the existing project in this folder.")
@click.option("--archive-url", default=None, help="Archive URL to write into the workspace config.")
@click.option("--force", is_flag=True, help="Overwrite the workspace files in a non-empty directory.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def init_command(directory: Path | None, here: bool, archive_url: str | None, force: bool, as_json: bool) -> None:
    """Create a research workspace (config, data/, the Experimenter's code and its smoke tests), or with
    --here make the project in the current folder one, touching nothing but astroagent.yaml."""
    from astroagent.workspace import init_here, init_workspace

    if here == (directory is not None):
        raise UsageError("give a DIRECTORY for a new research workspace, or --here for the project in this folder")
    if here:
        if archive_url is not None:
            raise UsageError("--archive-url is for a research workspace (init DIR), not --here")
        config, packages = init_here(Path.cwd(), force=force)
        if as_json:
            emit_json({"workspace": str(config.parent), "config": str(config), "packages": packages})
        else:
            click.echo(f"wrote {config}: agent {packages[0]} ({', '.join(packages)}); "
                       "next: astroagent watch -- <the command that runs your program>")
        return
    path = init_workspace(directory, archive_url=archive_url, force=force)
    if as_json:
        emit_json({"workspace": str(path), "code": str(path / "experimenter"), "tests": str(path / "tests"),
                   "data": str(path / "data")})
    else:
        click.echo(f"workspace ready: {path}")
        click.echo(f"  research code: {path / 'experimenter'}   smoke tests: {path / 'tests'}")


@cli.command("experiment")
@click.option("--area", default=None, help="Research area (exoplanets, stellar_evolution); default from config.")
@click.option("--seed", type=int, default=None, help="Plan the project from this seed (default: a fresh one).")
@click.option("--archive-url", default=None, help="Fetch data from this archive (default: config, else local files).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def experiment_command(area: str | None, seed: int | None, archive_url: str | None, as_json: bool) -> int:
    """Run one research project and print where its results are."""
    from astroagent.agents import AgentExecutionContext, create_agent
    from astroagent.science.projects import AREAS

    if area is not None and area not in AREAS:
        raise UsageError(f"unknown research area {area!r}; known: {', '.join(sorted(AREAS))}")
    agent = create_agent("experimenter", workspace=find_workspace())
    data: dict[str, Any] = {"area": area, "seed": seed}
    if archive_url:
        data["archive_url"] = archive_url
    result = agent.run(AgentExecutionContext(agent_name="experimenter", state_name="experiment", input_data=data))
    if as_json:
        emit_json({"success": result.success, "execution_id": result.execution_id,
                   "execution_time": result.execution_time, "error_message": result.error_message,
                   **result.output_data})
        return 0 if result.success else EXIT_FAILED
    if not result.success:
        fail(f"experiment failed: {result.error_message}")
    out = result.output_data
    click.echo(f"{out['project_id']} ({out['area']}/{out['kind']}): {out['verdict']} — {out['verdict_reason']}")
    for key, item in out["results"].items():
        click.echo(f"  {key} = {item['value']:.6g} ± {item['error']:.2g} {item['unit']}".rstrip())
    click.echo(f"results: {out['output_dir']}")
    return 0


@cli.group("archive")
def archive_group() -> None:
    """The data archive (a real HTTP service on loopback, with fault injection)."""


def _archive_config(overrides: dict[str, Any]) -> ArchiveConfig:
    from pydantic import ValidationError  # pydantic loads when a command needs it, not at start-up

    from astroagent.config import load_config
    from astroagent.config.loader import first_error
    from astroagent.config.models import ArchiveConfig

    base = load_config().archive.model_dump()
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ArchiveConfig.model_validate(base)
    except ValidationError as exc:
        loc, what = first_error(exc)
        raise UsageError(f"--{'.'.join(loc).replace('_', '-')}: {what}") from None


@archive_group.command("serve")
@click.option("--port", type=int, default=None, help="Port (0: any free port).")
@click.option("--fault-rate", type=float, default=None, help="Shorthand: adds F/3 to each of the reset, stall and error rates.")
@click.option("--reset-rate", type=float, default=None, help="Fraction of requests answered by a connection reset.")
@click.option("--stall-rate", type=float, default=None, help="Fraction of requests stalled --stall-seconds first.")
@click.option("--error-rate", type=float, default=None, help="Fraction of requests answered 500/502/503.")
@click.option("--outage-rate", type=float, default=None, help="Chance per request to start an outage window.")
@click.option("--stall-seconds", type=float, default=None, help="Length of a stall.")
@click.option("--outage-seconds", type=float, default=None, help="Length of an outage window.")
@click.option("--seed", type=int, default=None, help="Seed of the fault sequence.")
def archive_serve(**options: Any) -> None:
    """Serve the datasets over HTTP on 127.0.0.1 until SIGINT/SIGTERM; prints the URL first."""
    from astroagent.science.archive_server import ArchiveServer

    config = _archive_config(options)
    server = ArchiveServer(config)
    done = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        url = server.start()
        click.echo(url)
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = server.stats()
    click.echo(f"archive stopped: {stats['requests']} requests, {stats['faults_total']} faults "
               f"({', '.join(f'{k} {v}' for k, v in stats['faults'].items())})", err=True)
