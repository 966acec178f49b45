"""The ContinuousPipeline's options as one typed, frozen object (defaults in one place).

``ContinuousPipeline(**fields)`` still takes each field as a keyword, as the seed's API does;
``ContinuousPipeline(options)`` takes them whole, and keywords given beside it override it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PipelineOptions", "VersionChooser", "Planner"]

VersionChooser = Callable[[dict[str, Any]], "str | None"]
"""Given a planned project, the code version to run it on (None: the code on disk now)."""

Planner = Callable[[Sequence[str], int, int], Sequence[Any]]
"""(research areas, how many, seed) → projects."""


@dataclass(frozen=True)
class PipelineOptions:
    """How one pipeline runs; ``None`` means "as the configuration (or the workspace) says"."""

    workspace: Path | None = None
    data_dir: Path | None = None
    config: Any = None                      # AstroAgentConfig; loaded from the workspace when None
    archive_url: str | None = None
    max_cycles: int | None = None
    duration: float | None = None
    projects_per_cycle: int | None = None
    seed: int | None = None
    force_lab_analysis: bool = False
    handle_signals: bool = True
    resume: bool = True
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    experimenter_target: str | None = None
    lab_technician_target: str | None = None
    planner: Planner | None = None
    workers: int | None = None              # pipeline.workers
    executor: str | None = None             # pipeline.executor: local | ray
    ray_address: str | None = None          # pipeline.ray_address
    choose_version: VersionChooser | None = None
