"""``astroagent init DIR``: a research workspace; ``init --here``: a minimal one for an existing project.

    DIR/astroagent.yaml   a small override of the packaged configuration
    DIR/data/             everything the agents write (logs, projects, pipeline state)
    DIR/experimenter/     the Experimenter's own improvable research code
    DIR/tests/            the smoke tests that judge any change to that code (offline, fast)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import yaml

from astroagent.errors import UsageError
from astroagent.paths import WORKSPACE_FILE

__all__ = ["init_workspace", "init_here", "template_root", "TEMPLATE_PARTS"]

TEMPLATE_PARTS = ("experimenter", "tests")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def template_root() -> Path:
    """The packaged Experimenter code and its smoke tests (read-only)."""
    return Path(str(resources.files("astroagent").joinpath("workspace_template")))


def _config_text(archive_url: str | None) -> str:
    body = {"experimenter": {"archive_url": archive_url}}
    return ("# astroagent workspace: overrides of the packaged configuration (astroagent config shows all).\n"
            "# The Lab Technician may change only experimenter/; tests/ judge every change.\n"
            + yaml.safe_dump(body, sort_keys=False))


def init_workspace(directory: Path, *, archive_url: str | None = None, force: bool = False) -> Path:
    """Create the workspace in ``directory``; UsageError if it already holds files (unless force).

    The parts are built in a temporary folder beside the target and moved in, so an
    interrupted init leaves no half-copied code.
    """
    target = Path(directory).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(f"{target}: directory is not empty (use --force to overwrite the workspace files)")
    source = template_root()
    if not (source / "experimenter" / "__init__.py").is_file():
        raise UsageError(f"the packaged workspace template is missing ({source}); reinstall astroagent")
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".astroagent-init-", dir=target))
    try:
        for part in TEMPLATE_PARTS:
            shutil.copytree(source / part, staging / part, ignore=_IGNORE)
        (staging / WORKSPACE_FILE).write_text(_config_text(archive_url), encoding="utf-8")
        for name in (*TEMPLATE_PARTS, WORKSPACE_FILE):
            destination = target / name
            if destination.is_dir():
                shutil.rmtree(destination)
            os.replace(staging / name, destination)
        (target / "data").mkdir(exist_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _here_text(folder: Path, packages: list[str]) -> str:
    from astroagent.labtech import has_tests

    flat = [p for p in packages if (folder / p).is_dir() or (folder / f"{p}.py").is_file()]
    entry: dict[str, object] = ({"code_package": packages[0]} if flat == packages[:1] == packages
                                else {"targets": [p if p in flat else f"src/{p}" for p in packages]})
    entry["test_command"] = None
    tests = "tests found there" if has_tests(folder / "tests") else \
        "none found: set a command here, e.g. 'python -m pytest -q', or add tests"
    body = yaml.safe_dump({"agents": {packages[0]: entry}}, sort_keys=False).rstrip("\n")
    body = body.replace("test_command: null", f"test_command: null     # null: pytest on tests/ ({tests})")
    return ("# astroagent settings for this project (`astroagent config` shows every key and its default).\n"
            "# The Lab Technician may change only the code named below; tests and telemetry never change.\n"
            f"# `astroagent watch -- COMMAND` logs its calls into data/logs/{packages[0]}/ below this folder.\n"
            + body + "\n")


def init_here(folder: Path, *, force: bool = False) -> tuple[Path, list[str]]:
    """Write a minimal ``astroagent.yaml`` into the existing project ``folder`` (its packages as one agent,
    how changes are judged) and touch nothing else; returns the file and the packages."""
    from astroagent.watch.discover import project_packages

    folder = Path(folder).resolve()
    config = folder / WORKSPACE_FILE
    if config.exists() and not force:
        raise UsageError(f"{config} already exists (use --force to replace it)")
    packages, _source = project_packages(folder)
    if not packages:
        raise UsageError(f"no Python package found in {folder} (a folder with __init__.py, flat or under src/, "
                         "or one named in pyproject.toml / setup.cfg)")
    staging = folder / f".{WORKSPACE_FILE}.tmp"
    staging.write_text(_here_text(folder, packages), encoding="utf-8")
    os.replace(staging, config)
    return config, packages

