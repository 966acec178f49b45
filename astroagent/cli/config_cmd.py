"""``astroagent config``: the effective configuration after every override."""

from __future__ import annotations

import click
import yaml

from astroagent.cli._app import cli, emit_json
from astroagent.config import load_config


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def config_command(as_json: bool) -> None:
    """Show the effective configuration (packaged defaults, workspace file, ASTROAGENT_ variables)."""
    data = load_config().model_dump(mode="json")
    if as_json:
        emit_json(data)
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
