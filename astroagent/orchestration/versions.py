"""Code versions the fleet can run: the workspace's current files, or a snapshot of an earlier
version kept as a folder of its own so old and new code can run side by side (a canary).

A snapshot is ``data/pipeline/versions/<code_version>/`` holding a copy of the code package
(and the workspace's ``astroagent.yaml``), so a worker started with that folder as its
workspace imports exactly that version and reports the same ``code_version`` as the original
(the hash covers paths relative to the package). A snapshot is written to a temp folder and
renamed into place, so a half-made one is never used.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from astroagent.paths import data_dir as default_data_dir
from astroagent.telemetry import package_code_version

__all__ = ["snapshot_version", "snapshot_before_change", "VersionStore", "versions_root", "KEEP_SNAPSHOTS",
           "CodeGate"]

KEEP_SNAPSHOTS = 12
_CONFIG_FILES = ("astroagent.yaml",)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")


def versions_root(data_dir: Path) -> Path:
    return Path(data_dir) / "pipeline" / "versions"


def snapshot_version(workspace: Path, package: str, *, data_dir: Path | None = None,
                     replace: Mapping[str, Path] | None = None) -> tuple[str, Path]:
    """Copy ``workspace/package`` into a version folder; returns ``(code_version, folder)``.

    ``replace`` maps files (relative to the workspace) to the bytes they had in the wanted
    version, e.g. the ledger's backup of a file a change rewrote: the snapshot is then the
    version *before* that change."""
    workspace = Path(workspace)
    source = workspace / package
    if not (source / "__init__.py").is_file():
        raise FileNotFoundError(f"no code package {package!r} in {workspace}")
    root = versions_root(data_dir if data_dir is not None else default_data_dir(workspace))
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=root))
    try:
        shutil.copytree(source, staging / package, ignore=_IGNORE)
        for relative, content in (replace or {}).items():
            target = (staging / relative).resolve()
            if not target.is_relative_to(staging / package):
                raise ValueError(f"{relative} is not a file of the code package {package!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(content, target)
        for name in _CONFIG_FILES:
            if (workspace / name).is_file():
                shutil.copyfile(workspace / name, staging / name)
        version = package_code_version(staging / package)
        final = root / version
        if final.is_dir():                       # made before: the same code, keep the first copy
            shutil.rmtree(staging, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(root, keep=final)
    return version, final


def snapshot_before_change(change: Mapping[str, Any], workspace: Path, package: str, *,
                           data_dir: Path | None = None) -> tuple[str, Path]:
    """The version a ledger change replaced: today's package with the changed file restored
    from the change's backup (the ledger's ``file`` and ``backup`` fields)."""
    backup, relative = change.get("backup"), change.get("file")
    if not backup or not relative or not Path(backup).is_file():
        raise FileNotFoundError(f"change {change.get('id')} has no backup to rebuild its old version from")
    return snapshot_version(workspace, package, data_dir=data_dir, replace={str(relative): Path(backup)})


def _prune(root: Path, *, keep: Path) -> None:
    """Keep the newest ``KEEP_SNAPSHOTS`` version folders (and the one just made)."""
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[KEEP_SNAPSHOTS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


class VersionStore:
    """Which folder runs which code version: the workspace for the code on disk, a snapshot
    folder for any version registered with ``add``."""

    def __init__(self, workspace: Path | None, package: str):
        self.workspace = Path(workspace) if workspace is not None else None
        self.package = package
        self._folders: dict[str, Path] = {}

    def current(self) -> str | None:
        """The version of the files on disk now (None without a workspace)."""
        if self.workspace is None or not (self.workspace / self.package).is_dir():
            return None
        return package_code_version(self.workspace / self.package)

    def add(self, version: str, folder: Path) -> None:
        self._folders[version] = Path(folder)

    def snapshot_current(self, data_dir: Path | None = None) -> str:
        """Snapshot the files on disk and register them; returns their version."""
        if self.workspace is None:
            raise FileNotFoundError("no workspace: there is no code to snapshot")
        current = self.current()
        if current in self._folders and self._folders[current].is_dir():
            return current
        version, folder = snapshot_version(self.workspace, self.package, data_dir=data_dir)
        self.add(version, folder)
        return version

    def shippable(self, version: str | None, data_dir: Path | None = None) -> tuple[str | None, Path | None]:
        """``(version, folder)`` with a folder that holds only that version's code (what may be
        sent to another machine: never the workspace with its data); no workspace: no folder."""
        if self.workspace is None:
            return version, None
        if version is None or version == self.current():
            version = self.snapshot_current(data_dir)
        return version, self.folder_for(version) if version != self.current() else self._folders[version]

    @property
    def versions(self) -> dict[str, Path | None]:
        """Every runnable version and its folder (the workspace's current version included)."""
        known: dict[str, Path | None] = {v: f for v, f in self._folders.items() if f.is_dir()}
        current = self.current()
        if current is not None:
            known[current] = self.workspace
        return known

    def folder_for(self, version: str | None) -> Path | None:
        """The workspace to run ``version`` from (None or the disk version: the workspace itself)."""
        if version is None:
            return self.workspace
        if version == self.current():
            return self.workspace
        folder = self._folders.get(version)
        if folder is None or not folder.is_dir():
            raise KeyError(f"code version {version} is neither on disk nor snapshotted")
        return folder


class CodeGate:
    """Experiments read the workspace code together; a change to it (a Lab Technician run that
    may not overlap experiments) waits until none is running, and new ones wait for it."""

    def __init__(self) -> None:
        self._readers = 0
        self._writing = False
        self._queued = 0                 # writers waiting: new readers let them go first
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._writing and not self._queued)
            self._readers += 1
        try:
            yield
        finally:
            async with self._changed:
                self._readers -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        async with self._changed:
            self._queued += 1
            try:
                await self._changed.wait_for(lambda: not self._writing and self._readers == 0)
            finally:
                self._queued -= 1
            self._writing = True
        try:
            yield
        finally:
            async with self._changed:
                self._writing = False
                self._changed.notify_all()
