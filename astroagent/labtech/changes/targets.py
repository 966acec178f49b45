"""Which files the Lab Technician may change (DESIGN §5 rule 1): ``--target`` files resolved inside
the workspace, the paths never changed whatever the allow-list says (outside, astroagent itself,
tests, telemetry, protected patterns), then the allow-list or the agent's package."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import astroagent
from astroagent.config.models import AstroAgentConfig
from astroagent.errors import UsageError

__all__ = ["resolve_targets", "protected_reason", "refuse_target"]

_ASTROAGENT_DIR = os.path.realpath(Path(astroagent.__file__).parent)
_NEVER_PARTS = {"tests", "test", "telemetry", "data", ".git", "__pycache__"}


def resolve_targets(workspace: Path, targets: Sequence[Path | str]) -> tuple[str, ...]:
    """Turn ``--target`` files into paths relative to the workspace; refuse any outside it."""
    rels = []
    root = os.path.realpath(workspace)
    for target in targets:
        path = Path(target)
        full = os.path.realpath(path if path.is_absolute() else Path.cwd() / path)
        if not Path(full).is_file() and not path.is_absolute():
            full = os.path.realpath(Path(workspace) / path)
        if not Path(full).is_relative_to(root):
            raise UsageError(f"--target {target}: outside the workspace {workspace}")
        if not Path(full).is_file():
            raise UsageError(f"--target {target}: no such file")
        rels.append(Path(full).relative_to(root).as_posix())
    return tuple(rels)


def protected_reason(workspace: Path, rel: str, config: AstroAgentConfig) -> str | None:
    """Why ``rel`` may never change whatever the allow-list says (outside, astroagent, tests, protected), or None."""
    safety = config.lab_technician.safety_constraints
    posix = PurePosixPath(rel)
    full = os.path.realpath(Path(workspace) / rel)
    if posix.is_absolute() or ".." in posix.parts or not Path(full).is_relative_to(os.path.realpath(workspace)):
        return f"{rel} lies outside the workspace"
    if Path(full).is_relative_to(_ASTROAGENT_DIR):
        return f"{rel} is astroagent itself"
    if posix.suffix != ".py":
        return f"{rel} is not a Python file"
    if _NEVER_PARTS & set(posix.parts[:-1]):
        return f"{rel} is tests, telemetry or data"
    for pattern in safety.protected_paths:
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(posix.name, pattern):
            return f"{rel} is protected ({pattern})"
    return None


def refuse_target(workspace: Path, rel: str, config: AstroAgentConfig, allow: tuple[str, ...],
                   code_package: str | None = None) -> str | None:
    """None when the Lab Technician may change ``rel``; otherwise why not (DESIGN §5 rule 1)."""
    if (protected := protected_reason(workspace, rel, config)) is not None:
        return protected
    safety = config.lab_technician.safety_constraints
    posix = PurePosixPath(rel)
    full = os.path.realpath(Path(workspace) / rel)
    package = code_package or config.experimenter.code_package
    if allow and rel not in allow:
        return f"{rel} is not on the target allow-list ({', '.join(allow)})"
    if not allow and posix.parts[0] != package:
        return f"{rel} is outside the agent's package {package}/ (give --target FILE to allow it)"
    if not Path(full).is_file():
        return f"{rel} does not exist"
    if Path(full).stat().st_size > safety.max_file_kb * 1024:
        return f"{rel} is larger than safety_constraints.max_file_kb ({safety.max_file_kb} KB)"
    return None
