"""The ``astroagent`` command line. Each command lives in its own module and registers on ``cli``."""

from astroagent.cli._app import cli, emit_json, fail, main
from astroagent.cli import config_cmd as _config_cmd  # noqa: F401  (each import registers commands)
from astroagent.cli import labtech as _labtech  # noqa: F401
from astroagent.cli import labtech_check as _labtech_check  # noqa: F401
from astroagent.cli import labtech_analyze as _labtech_analyze  # noqa: F401
from astroagent.cli import experiment as _experiment  # noqa: F401
from astroagent.cli import labtech_improve as _labtech_improve  # noqa: F401
from astroagent.cli import labtech_approval as _labtech_approval  # noqa: F401
from astroagent.cli import labtech_forget as _labtech_forget  # noqa: F401
from astroagent.cli import dashboard_cmd as _dashboard_cmd  # noqa: F401
from astroagent.cli import run_cmd as _run_cmd  # noqa: F401
from astroagent.cli import watch_cmd as _watch_cmd  # noqa: F401

__all__ = ["cli", "main", "emit_json", "fail"]
