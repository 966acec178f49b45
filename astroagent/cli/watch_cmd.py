"""``astroagent watch``: run a Python command with a package's functions watched (thin edge)."""

from __future__ import annotations

from pathlib import Path

import click

from astroagent.cli._app import cli
from astroagent.errors import UsageError
from astroagent.paths import data_dir

__all__ = ["watch_command"]

_EXAMPLE = "astroagent watch [--package NAME] -- python -m NAME"


def _packages(given: tuple[str, ...], cwd: Path) -> list[str]:
    from astroagent.watch.discover import project_packages, valid_package_name

    for name in given:
        if not valid_package_name(name):
            raise UsageError(f"--package {name!r}: not an importable name (like mypkg or mypkg.sub)")
    packages = list(dict.fromkeys(given))
    if not packages:
        packages, source = project_packages(cwd)
        if not packages:
            raise UsageError(f"no Python package found in {cwd}; say which to watch: {_EXAMPLE}")
        click.echo(f"astroagent watch: watching {', '.join(packages)} (the project in {cwd}, from {source})",
                   err=True)
    if any(p == "astroagent" or p.startswith("astroagent.") for p in packages):
        raise UsageError("astroagent cannot watch itself; its own telemetry is already built in")
    return packages


@cli.command("watch", context_settings={"allow_interspersed_args": False})
@click.option("--package", "packages", multiple=True, metavar="NAME",
              help="A package (or module) to watch; repeat for several (default: the current project's).")
@click.option("--agent", default=None, metavar="NAME", help="Log folder under <data>/logs (default: the first package).")
@click.option("--execution", type=click.Choice(["call", "process"]), default="call", show_default=True,
              help="call: each outermost call into a package is one execution; process: the whole command is one.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND ...")
def watch_command(packages: tuple[str, ...], agent: str | None, execution: str, command: tuple[str, ...]) -> int:
    """Run a Python COMMAND with every function of the packages timed and its errors logged,
    without changing their files; the command's exit code and output pass through."""
    from astroagent.watch.runner import run_watched

    if not command:
        raise UsageError(f"watch needs a command to run: {_EXAMPLE}")
    cwd = Path.cwd()
    names = _packages(packages, cwd)
    agent = agent if agent is not None else names[0]
    if not agent or agent in (".", "..") or "/" in agent or "\\" in agent:
        raise UsageError(f"--agent {agent!r}: must be a plain folder name")
    result = run_watched(command, names, agent=agent, mode=execution, data_root=data_dir(), base=cwd)
    for line in result.warnings:
        click.echo(f"astroagent watch: warning: {line}", err=True)
    return result.exit_code
