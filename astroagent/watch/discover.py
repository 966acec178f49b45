"""Which packages "the current project" means when ``watch`` is given no ``--package``.

Read from ``pyproject.toml`` (setuptools, Poetry, Hatch, ``[project] name``) and ``setup.cfg``;
each name must exist as a package folder or module file in the project (flat or ``src``
layout). Without configuration, the top-level package folders are taken.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["project_packages", "valid_package_name"]

_NOT_CODE = {"tests", "test", "docs", "doc", "benchmarks", "examples", "build", "dist", "scripts", "venv"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def valid_package_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def _exists(folder: Path, name: str) -> bool:
    for base in (folder, folder / "src"):
        path = base.joinpath(*name.split("."))
        if (path / "__init__.py").is_file() or path.with_suffix(".py").is_file():
            return True
    return False


def _from_pyproject(data: dict[str, Any]) -> list[str]:
    tool = data.get("tool", {}) if isinstance(data.get("tool"), dict) else {}
    names: list[str] = []
    setuptools = tool.get("setuptools", {})
    if isinstance(setuptools, dict):
        for key in ("packages", "py-modules"):
            if isinstance(setuptools.get(key), list):
                names += [str(n) for n in setuptools[key]]
    poetry = tool.get("poetry", {})
    if isinstance(poetry, dict) and isinstance(poetry.get("packages"), list):
        names += [str(p.get("include")) for p in poetry["packages"] if isinstance(p, dict) and p.get("include")]
    wheel = tool.get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {}) if isinstance(
        tool.get("hatch"), dict) else {}
    if isinstance(wheel, dict) and isinstance(wheel.get("packages"), list):
        names += [Path(str(p)).name for p in wheel["packages"]]
    project = data.get("project", {})
    if not names and isinstance(project, dict) and isinstance(project.get("name"), str):
        names.append(re.sub(r"[-.]+", "_", project["name"]).lower())
    return names


def _from_setup_cfg(path: Path) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    names: list[str] = []
    for key in ("packages", "py_modules"):
        value = parser.get("options", key, fallback="").strip()
        if value and not value.startswith("find"):
            names += value.replace(",", " ").split()
    if not names and parser.get("metadata", "name", fallback=""):
        names.append(re.sub(r"[-.]+", "_", parser.get("metadata", "name")).lower())
    return names


def _package_folders(folder: Path) -> list[str]:
    found: list[str] = []
    for base in (folder, folder / "src"):
        if base.is_dir():
            found += [p.name for p in sorted(base.iterdir())
                      if (p / "__init__.py").is_file() and p.name not in _NOT_CODE and valid_package_name(p.name)]
    return found


def project_packages(folder: Path) -> tuple[list[str], str]:
    """The project's top-level importable names and where they were read from."""
    named: list[str] = []
    source = "its package folders"
    pyproject, setup_cfg = folder / "pyproject.toml", folder / "setup.cfg"
    if pyproject.is_file():
        try:
            named = _from_pyproject(tomllib.loads(pyproject.read_text(encoding="utf-8")))
            source = "pyproject.toml"
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError, AttributeError):
            named = []
    if not named and setup_cfg.is_file():
        try:
            named, source = _from_setup_cfg(setup_cfg), "setup.cfg"
        except (configparser.Error, OSError, UnicodeDecodeError):
            named = []
    tops = list(dict.fromkeys(n.split(".")[0] for n in named if valid_package_name(n) and _exists(folder, n)))
    if not tops:
        tops, source = list(dict.fromkeys(_package_folders(folder))), "its package folders"
    return tops, source
