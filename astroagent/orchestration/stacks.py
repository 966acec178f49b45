"""Where a hung experiment was stuck: the worker dumps its Python stacks on SIGUSR1
(``faulthandler``, which works even when the interpreter is blocked in C code); the supervisor
asks for that dump before it kills the worker and logs the innermost frame in the workspace code
as the failure's location, so the Lab Technician knows which function hangs."""

from __future__ import annotations

import faulthandler
import os
import re
import signal
from pathlib import Path
from typing import Any, TextIO

__all__ = ["arm_stack_dump", "stack_file", "parse_dump", "read_dump", "DUMP_SIGNAL"]

DUMP_SIGNAL = signal.SIGUSR1
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')
_MAX_TEXT = 8000


def stack_file(data_dir: Path, pid: int) -> Path:
    return Path(data_dir) / "pipeline" / f"stacks_{pid}.txt"


def arm_stack_dump(data_dir: Path) -> TextIO | None:
    """In the worker: dump every thread's stack to ``stack_file`` on SIGUSR1. Keep the handle open."""
    path = stack_file(data_dir, os.getpid())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - must stay open for faulthandler
    except OSError:
        return None
    faulthandler.register(DUMP_SIGNAL, file=handle, all_threads=True, chain=False)
    return handle


def parse_dump(text: str, code_root: Path | None, base: Path | None) -> dict[str, Any] | None:
    """``{file, function, line}`` of the most recent frame that lies in ``code_root`` (paths
    relative to ``base``), the thread that handled the signal first; None when no frame does."""
    if code_root is None:
        return None
    root = os.path.realpath(code_root)
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", text.strip())
    blocks.sort(key=lambda block: not block.startswith("Current thread"))
    for block in blocks:
        for raw in block.splitlines():  # faulthandler lists the most recent call first
            match = _FRAME.match(raw)
            if not match:
                continue
            filename = os.path.realpath(match["file"])
            if filename == root or filename.startswith(root + os.sep):
                shown = os.path.relpath(filename, base) if base is not None else filename
                return {"file": shown, "function": match["function"], "line": int(match["line"])}
    return None


def read_dump(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-_MAX_TEXT:]
    except OSError:
        return ""
