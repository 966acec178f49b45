"""``astroagent watch``: run a Python command with a package's functions instrumented, unchanged on disk.

    parent (runner.py)                       each Python process of the command
    ──────────────────                       ───────────────────────────────────
    PYTHONPATH=_bootstrap:… + env  ──spawn──▶ sitecustomize → hook.install_from_env()
    waits, passes exit code through           import of a watched module → _source adds
    reads the report folder: warnings         @__astroagent_watch__ to its defs → wrap.py
    (process mode) execution_complete         events → <data>/logs/<agent>/ via astroagent.telemetry

Only ``hook`` is imported at interpreter start; the rest loads when a watched module runs.
"""

from __future__ import annotations

# no typing import: this package's __init__ runs at every watched interpreter's start (typing ≈ 2 ms)
__all__ = ["WatchResult", "run_watched", "project_packages", "is_python_command"]


def __getattr__(name: str) -> object:
    """The runner's names, imported on first use (the child's start-up imports only ``hook``)."""
    if name in ("WatchResult", "run_watched", "is_python_command"):
        from astroagent.watch import runner

        return getattr(runner, name)
    if name == "project_packages":
        from astroagent.watch.discover import project_packages

        return project_packages
    raise AttributeError(name)
