"""``astroagent`` start-up stays light: each command imports what it needs when it runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pydantic", "rich", "numpy", "scipy", "astropy", "matplotlib", "libcst", "yaml", "asyncio")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = ("import sys, astroagent.cli; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""


def test_help_still_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "astroagent", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("config", "init", "experiment", "archive", "labtech", "run", "demo"):
        assert command in out.stdout
