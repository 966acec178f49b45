"""A short, stable hash of the source code that ran, so outcomes can be attributed to versions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["code_version", "package_code_version", "workspace_code_version"]

_SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache", ".hypothesis"}


def code_version(files: Iterable[Path], *, root: Path | None = None) -> str:
    """Hash of the files' paths (relative to ``root``) and contents; 12 hex characters."""
    digest = hashlib.sha256()
    paths = sorted(Path(f) for f in files)
    for path in paths:
        name = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else path.name
        digest.update(name.encode())
        digest.update(b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def package_code_version(folder: Path) -> str:
    """Hash of every ``.py`` file below ``folder`` (tests and caches excluded)."""
    folder = Path(folder)
    files = [p for p in folder.rglob("*.py")
             if not (_SKIP_DIRS & set(p.relative_to(folder).parts))]
    return code_version(files, root=folder)


def workspace_code_version(workspace: Path | None, package: str) -> str | None:
    """The ``code_version`` of a workspace's improvable package; None without one (the one place
    the worker, the Lab Technician and the journal compute the version a change is judged on)."""
    if workspace is None:
        return None
    for folder in (Path(workspace) / package, Path(workspace) / "src" / package):   # flat or src layout
        if folder.is_dir():
            return package_code_version(folder)
    return None
