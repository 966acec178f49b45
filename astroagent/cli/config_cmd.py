"""``astroagent config``: the effective configuration after every override."""

from __future__ import annotations

import click

from astroagent.cli._app import cli, emit_json


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def config_command(as_json: bool) -> None:
    """Show the effective configuration (packaged defaults, workspace file, ASTROAGENT_ variables)."""
    import yaml

    from astroagent.config import load_config  # pydantic loads when a command needs it, not at start-up

    data = load_config().model_dump(mode="json")
    if as_json:
        emit_json(data)
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
