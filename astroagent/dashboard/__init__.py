"""The web dashboard: watch and steer the pipeline (``astroagent dashboard``, ``astroagent run --dashboard``).

Starlette + uvicorn + Jinja2, a thin view over what already exists (pipeline state, control
heartbeat, ledger, latest analysis, experiment results); see ``views``. Charts are SVG drawn on
the server (``chart``), not a vendored JavaScript library: the pages then work without scripts,
screenshots and tests see exactly what a person sees, there is no third-party code to audit or
update, and the live view only swaps in a new SVG (one small vendored script polls for it).
Everything is served from the package: no CDN, works offline.
"""

from astroagent.dashboard.security import DashboardSettings

__all__ = ["DashboardSettings", "create_app"]


def create_app(settings: DashboardSettings):  # noqa: ANN201  (a Starlette app; starlette loads lazily)
    """The ASGI app over ``settings.data_dir``."""
    from astroagent.dashboard.app import create_app as make

    return make(settings)
