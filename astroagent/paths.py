"""Where things live: the workspace, the one data directory, and the log folders below it.

Everything astroagent writes goes below ``data_dir()``: ``--data-dir`` on the command line
sets ``ASTROAGENT_DATA_DIR`` for the process and its children; without it a workspace's own
``data/`` is used, else ``./data``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

__all__ = [
    "WORKSPACE_FILE",
    "find_workspace",
    "find_project",
    "PROJECT_MARKERS",
    "data_dir",
    "agent_log_dir",
    "lab_technician_dir",
    "lab_technician_state_dir",
    "workspace_relative",
    "module_name_for",
    "import_root",
    "module_of",
]

WORKSPACE_FILE = "astroagent.yaml"
DATA_DIR_ENV = "ASTROAGENT_DATA_DIR"
WORKSPACE_ENV = "ASTROAGENT_WORKSPACE"


def find_workspace(start: Path | None = None) -> Path | None:
    """The research workspace: ``ASTROAGENT_WORKSPACE``, else the nearest folder upwards
    holding ``astroagent.yaml``; None when there is none."""
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / WORKSPACE_FILE).is_file():
            return folder
    return None


PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")


def find_project(files: Sequence[Path], cwd: Path | None = None) -> Path:
    """The safety boundary for files of a project with no ``astroagent.yaml``: the nearest folder above
    all ``files`` holding ``pyproject.toml``, ``setup.cfg``, ``setup.py`` or ``.git``, else ``cwd``."""
    here = (cwd or Path.cwd()).resolve()
    folders = [Path(os.path.realpath(here / f)).parent for f in files] or [here]
    common = Path(os.path.commonpath([str(f) for f in folders]))
    for folder in (common, *common.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return here


def data_dir(workspace: Path | None = None) -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).resolve()
    ws = workspace if workspace is not None else find_workspace()
    if ws is not None:
        return (ws / "data").resolve()
    return (Path.cwd() / "data").resolve()


def agent_log_dir(agent: str, root: Path | None = None) -> Path:
    return (root or data_dir()) / "logs" / agent


def lab_technician_dir(root: Path | None = None) -> Path:
    return agent_log_dir("lab_technician", root)


def lab_technician_state_dir(lab_dir: Path | None = None) -> Path:
    """The Lab Technician's internal state (aggregates, caches) below its folder ``lab_dir``: apart from
    the results, so globbing ``analysis_*.json`` finds analyses, not state."""
    return (lab_dir if lab_dir is not None else lab_technician_dir()) / "state"


def workspace_relative(file: Path, workspace: Path | None) -> str:
    """``file`` as a POSIX path relative to the workspace when inside it (how targets are named)."""
    if workspace is not None:
        try:
            return Path(file).resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return Path(file).as_posix()


def module_name_for(rel_path: str) -> str:
    """``experimenter/fetch.py`` → ``experimenter.fetch``; a package's ``__init__.py`` → the package."""
    parts = list(PurePosixPath(rel_path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts:
        raise ValueError(f"{rel_path}: not a module path")
    return ".".join(parts)


def import_root(workspace: Path, rel_path: str) -> str:
    """The folder (relative, POSIX) that must be on ``sys.path`` to import ``rel_path``: ``src`` for a
    src layout's ``src/spectra/net.py`` (then the module is ``spectra.net``, not ``src.spectra.net``),
    else the workspace (``.``), so a namespace package without ``__init__.py`` keeps its name
    (``spectra/net.py`` is ``spectra.net``, its relative imports work) — the two layouts
    ``workspace_code_version`` looks in."""
    parts = PurePosixPath(rel_path).parts
    if len(parts) > 2 and parts[0] == "src" and not (Path(workspace) / "src" / "__init__.py").is_file():
        return "src"
    return "."


def module_of(workspace: Path, rel_path: str) -> str:
    """The module a workspace file is imported as: ``src/spectra/net.py`` → ``spectra.net``."""
    root = import_root(workspace, rel_path)
    return module_name_for(rel_path if root == "." else PurePosixPath(rel_path).relative_to(root).as_posix())


def package_of(workspace: Path, rel_path: str) -> str:
    """The top-level package (or module file) ``rel_path`` belongs to, below its import root:
    ``experimenter/fetch.py`` → ``experimenter``, ``src/spectra/net.py`` → ``spectra``, ``flaky.py`` → itself."""
    root = import_root(workspace, rel_path)
    inner = PurePosixPath(rel_path) if root == "." else PurePosixPath(rel_path).relative_to(root)
    return inner.parts[0]
