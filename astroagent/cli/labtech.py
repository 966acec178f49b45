"""``astroagent labtech …``: the Lab Technician's commands (each in its own module)."""

from __future__ import annotations

from astroagent.cli._app import cli


@cli.group("labtech")
def labtech() -> None:
    """Analyse the Experimenter's logs and improve its code, safely."""
