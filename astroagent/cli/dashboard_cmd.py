"""``astroagent dashboard``: the web dashboard over a data directory, live or finished."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click

from astroagent.cli._app import EXIT_USAGE, cli, fail

__all__ = ["dashboard_command", "require_dashboard_extra", "dashboard_beside"]

INSTALL_HINT = "the dashboard needs its extra: pip install 'astroagent[dashboard]'"


def require_dashboard_extra() -> None:
    """One line and exit 2 when starlette, uvicorn or jinja2 is missing."""
    try:
        import jinja2  # noqa: F401
        import python_multipart  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        fail(INSTALL_HINT, EXIT_USAGE)


@cli.command("dashboard")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any but loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True)
@click.option("--read-only", is_flag=True, help="Show everything, offer no controls.")
@click.option("--token", default=None, help="The token state-changing requests must carry (default: generated).")
def dashboard_command(host: str, port: int, read_only: bool, token: str | None) -> int:
    """Watch and steer the pipeline in a browser (controls reach a running `astroagent run`)."""
    require_dashboard_extra()
    from astroagent.dashboard.server import DashboardSettings, serve_forever
    from astroagent.paths import data_dir, find_workspace

    workspace = find_workspace()
    settings = DashboardSettings.create(data_dir=data_dir(workspace), workspace=workspace, host=host, port=port,
                                        read_only=read_only, token=token)
    serve_forever(settings, say=lambda line: click.echo(line, err=True))
    return 0


@contextlib.contextmanager
def dashboard_beside(pipeline, port: int | None, say: Callable[[str], None]) -> Iterator[None]:  # noqa: ANN001
    """``run --dashboard``: the dashboard on a thread of this process, over the pipeline's data
    directory, for as long as the pipeline runs (``port`` None: no dashboard)."""
    if port is None:
        yield
        return
    require_dashboard_extra()
    from astroagent.dashboard.server import DashboardSettings, DashboardThread, announce

    settings = DashboardSettings.create(data_dir=pipeline.data_dir, workspace=pipeline.workspace, port=port)
    with DashboardThread(settings) as server:
        for line in announce(settings, server.port):
            say(line)
        yield
