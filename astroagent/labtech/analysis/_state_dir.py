"""The analysis' internal files and their folder, ``paths.lab_technician_state_dir``.

Earlier releases kept them beside the results, where a user's ``analysis_*.json`` glob (and
the report pruning) matched them; ``migrate`` moves them in on the first run. The checkpoints,
``analysis_state.json``, stay where the seed puts them.
"""

from __future__ import annotations

import os
from pathlib import Path

from astroagent.paths import lab_technician_state_dir

__all__ = ["HOURS_FILE", "ANALYSIS_CACHE_FILE", "STATIC_CACHE_FILE", "CLASSES_CACHE_FILE", "state_file", "migrate"]

HOURS_FILE = "analysis_hours.json"            # the per-hour aggregates (the bulk of the state)
ANALYSIS_CACHE_FILE = "analysis_cache.json"   # the last analysis, reused while nothing it depends on changed
STATIC_CACHE_FILE = "static_cache.json"       # static facts of the target code, by file content
CLASSES_CACHE_FILE = "classes_cache.json"     # the exception classes the program's code defines, by file content
_INTERNAL = (HOURS_FILE, ANALYSIS_CACHE_FILE, STATIC_CACHE_FILE)


def state_file(lab_dir: Path, name: str) -> Path:
    return lab_technician_state_dir(Path(lab_dir)) / name


def migrate(lab_dir: Path) -> list[str]:
    """Move what an earlier release left in ``lab_dir`` into the state folder; notes for what could not move.

    A rename within one file system is atomic (the file is never missing, its size and mtime, which
    the checkpoints record, are kept). When both places hold a copy, the newer one is kept.
    """
    notes: list[str] = []
    for name in _INTERNAL:
        old = Path(lab_dir) / name
        try:
            old_mtime = old.stat().st_mtime_ns
        except OSError:
            continue   # the common case: nothing left there
        new = state_file(lab_dir, name)
        try:
            new.parent.mkdir(parents=True, exist_ok=True)
            try:
                keep_new = new.stat().st_mtime_ns >= old_mtime
            except FileNotFoundError:
                keep_new = False
            if keep_new:
                old.unlink()
            else:
                os.replace(old, new)
        except FileNotFoundError:
            continue   # another run moved it first
        except OSError as exc:
            notes.append(f"could not move {old} into {new.parent} ({exc.strerror or exc}); left where it was")
    return notes
