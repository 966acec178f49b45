"""Atomic file replacement, the one way astroagent writes a file it must never leave half-written:
temp file beside the target, fsync, rename over it, fsync the folder. A kill at any instant leaves
the target wholly old or wholly new."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write_bytes", "append_whole", "fsync_dir"]


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_tmp(path: Path, tmp: Path | None, mode: int) -> tuple[int, Path]:
    if tmp is None:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        return fd, Path(name)
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode), tmp


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None, tmp: Path | None = None,
                       step: Callable[[str], None] | None = None) -> None:
    """Replace ``path`` with ``data`` atomically. ``mode``: the file's permissions (default: the
    existing file's, else 0o644). ``tmp``: a fixed temp name (so recovery can find it), else a fresh
    one. ``step(name)`` is called at ``tmp_half``, ``tmp_written`` and ``replaced`` (crash tests)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = _open_tmp(path, tmp, mode)
    try:
        try:
            os.fchmod(fd, mode)
            half = len(data) // 2 if step else 0
            for part in (memoryview(data)[:half], memoryview(data)[half:]):
                while part:
                    part = part[os.write(fd, part):]
                if step and half:
                    step("tmp_half")
                    half = 0
            os.fsync(fd)
        finally:
            os.close(fd)
        if step:
            step("tmp_written")
        os.replace(tmp, path)
    except BaseException:
        if step is None:     # a fixed temp file of a crash-tested write is left for recovery to judge
            tmp.unlink(missing_ok=True)
        raise
    if step:
        step("replaced")
    fsync_dir(path.parent)


def append_whole(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Append ``data`` (whole lines) to ``path`` with one ``write(2)`` on an ``O_APPEND`` descriptor,
    so several writers sharing the file never interleave inside a line; ``fsync``: on disk before
    returning (when a checkpoint saved next must never run ahead of the data)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
