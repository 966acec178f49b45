"""The pipeline's own state, ``data/pipeline/state.json``: what ran, how it went, what changed.

Written atomically after every experiment and Lab Technician run, so a kill at any instant
leaves the previous whole state or the new one, and the counts always add up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from astroagent.telemetry import atomic_write_bytes

__all__ = ["PipelineState", "ExperimentRecord", "ChangeRecord", "load_state", "save_state", "state_path"]

MAX_HISTORY = 2000


class ExperimentRecord(BaseModel):
    """One experiment: when (seconds since the pipeline started), which code, and the outcome."""

    model_config = ConfigDict(extra="ignore")

    t: float
    execution_id: str
    project_id: str | None = None
    area: str | None = None
    success: bool
    code_version: str | None = None
    duration: float = 0.0
    failure_kind: str | None = None
    error: str | None = None


class ChangeRecord(BaseModel):
    """A change the Lab Technician made, with its latest verdict."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str | None = None
    fix: str | None = None
    target: str | None = None
    status: str | None = None
    verdict: str = "pending"
    t: float = 0.0
    reason: str | None = None
    code_version_before: str | None = None


class PipelineState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str = "idle"
    started_at: str | None = None
    updated_at: str | None = None
    stopped_at: str | None = None
    pid: int | None = None
    cycle: int = 0
    experiments: int = 0
    successes: int = 0
    failures: int = 0
    lab_runs: int = 0
    lab_interval: float | None = None
    worker_restarts: int = 0
    worker_crashes: int = 0
    worker_hangs: int = 0
    code_version: str | None = None
    last_error: str | None = None
    history: list[ExperimentRecord] = Field(default_factory=list)
    changes: list[ChangeRecord] = Field(default_factory=list)
    lab_runs_at: list[float] = Field(default_factory=list)
    lab_started_at: list[float] = Field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.experiments if self.experiments else None

    def record(self, item: ExperimentRecord) -> None:
        self.experiments += 1
        if item.success:
            self.successes += 1
        else:
            self.failures += 1
        self.history.append(item)
        if len(self.history) > MAX_HISTORY:
            del self.history[: len(self.history) - MAX_HISTORY]

    def recent_success_rate(self, window: int = 20) -> float | None:
        tail = self.history[-window:]
        return sum(r.success for r in tail) / len(tail) if tail else None

    def upsert_change(self, change: ChangeRecord) -> None:
        for i, known in enumerate(self.changes):
            if known.id == change.id:
                self.changes[i] = known.model_copy(update={k: v for k, v in change.model_dump().items()
                                                           if v is not None and k != "t"})
                return
        self.changes.append(change)

    def record_lab_output(self, output: dict[str, Any], t: float) -> list[dict[str, Any]]:
        """Fold a Lab Technician run in: the changes it applied or rolled back, the verdicts it
        reached. Returns its ``improvements_made``."""
        improvements = [i for i in (output.get("improvements_made") or []) if isinstance(i, dict)]
        for item in improvements:
            status = item.get("status")
            if item.get("id") and status in ("applied", "rolled_back"):
                self.upsert_change(ChangeRecord(
                    id=str(item["id"]), type=item.get("type"), fix=item.get("fix"), target=item.get("target"),
                    status=status, verdict="rolled_back" if status == "rolled_back" else "pending",
                    t=float(item["t"]) if isinstance(item.get("t"), (int, float)) else t,
                    reason=item.get("reason"), code_version_before=self.code_version))
        for verdict in output.get("verdicts") or []:
            if isinstance(verdict, dict) and verdict.get("id") and verdict.get("verdict"):
                self.set_verdict(str(verdict["id"]), str(verdict["verdict"]))
        return improvements

    def set_verdict(self, change_id: str, verdict: str) -> bool:
        for i, known in enumerate(self.changes):
            if known.id == change_id:
                self.changes[i] = known.model_copy(update={"verdict": verdict})
                return True
        return False


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / "pipeline" / "state.json"


def load_state(data_dir: Path) -> PipelineState | None:
    """The saved state, or None when there is none (or it cannot be read)."""
    path = state_path(data_dir)
    try:
        return PipelineState.model_validate(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, ValueError):
        return None


def save_state(data_dir: Path, state: PipelineState) -> Path:
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = state.model_dump(mode="json")
    atomic_write_bytes(path, orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    return path
