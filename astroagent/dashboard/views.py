"""What each page shows, read from what the pipeline and the Lab Technician already keep.

    pipeline state (data/pipeline/state.json)  → overview, success over time
    control heartbeat (orchestration/control)  → Lab Technician enabled, interval, next run
    ledger (labtech/changes/ledger)             → changes, marks on the chart
    latest analysis (analysis_<ts>.json)        → failures, method time distributions
    data/projects/<id>/results.json             → experiments

Never a log scan: every file read here is bounded by what its writer keeps (the state's history
is trimmed, the analysis is a summary), and parsed files are cached by size and mtime.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psutil

from astroagent.dashboard.chart import Mark, Point
from astroagent.labtech import Ledger
from astroagent.orchestration.control import HEARTBEAT_SECONDS, read_status, recent_results
from astroagent.orchestration.state import PipelineState, state_path
from astroagent.paths import lab_technician_dir
from astroagent.telemetry.writer import epoch_seconds

__all__ = ["DataView", "inside"]

RECENT = 20


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks resolved) lies below ``root``."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


class _FileCache:
    """Parsed JSON files, re-read only when their size or mtime changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[tuple[int, int], Any]] = {}

    def stamp(self, path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def load(self, path: Path, parse: Any = orjson.loads) -> Any:
        stamp = self.stamp(path)
        if stamp is None:
            return None
        with self._lock:
            hit = self._entries.get(path)
            if hit and hit[0] == stamp:
                return hit[1]
        try:
            value = parse(path.read_bytes())
        except (OSError, ValueError):
            return None
        with self._lock:
            if len(self._entries) > 512:
                self._entries.clear()
            self._entries[path] = (stamp, value)
        return value


class DataView:
    """The dashboard's read model over one data directory."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.lab_dir = lab_technician_dir(self.data_dir)
        self.projects_dir = self.data_dir / "projects"
        self.ledger = Ledger(self.data_dir)
        self._cache = _FileCache()

    # -- the pipeline -----------------------------------------------------------------------------
    def state(self) -> PipelineState | None:
        return self._cache.load(state_path(self.data_dir),
                                lambda raw: PipelineState.model_validate(orjson.loads(raw)))

    def pipeline(self) -> dict[str, Any]:
        """Running or not, and why we think so, with the Lab Technician's schedule from the heartbeat."""
        state, beat = self.state(), read_status(self.data_dir) or {}
        alive = bool(state and state.status == "running" and state.pid and psutil.pid_exists(state.pid))
        fresh = (epoch_seconds(beat.get("updated_at")) or 0) > datetime.now().timestamp() - 3 * HEARTBEAT_SECONDS
        if state is None:
            phase = "never run here"
        elif alive:
            phase = "running"
        elif state.status == "running":
            phase = "stopped unexpectedly"
        else:
            phase = state.status
        info: dict[str, Any] = {"phase": phase, "running": alive, "state": state,
                                "heartbeat": beat if beat.get("running") and fresh else None,
                                "requests": recent_results(self.data_dir, 6)}
        if state is not None:
            info["recent_rate"] = state.recent_success_rate(RECENT)
            info["recent_n"] = min(RECENT, len(state.history))
            info["versions"] = self._versions(state)
        return info

    def _versions(self, state: PipelineState) -> list[dict[str, Any]]:
        rows: dict[str | None, dict[str, Any]] = {}
        for r in state.history:
            row = rows.setdefault(r.code_version, {"version": r.code_version, "n": 0, "ok": 0, "first": r.t})
            row["n"] += 1
            row["ok"] += r.success
            row["last"] = r.t
        return [{**row, "rate": row["ok"] / row["n"]} for row in rows.values()]

    def series(self) -> tuple[list[Point], list[Mark]]:
        """The experiments on the pipeline's time line, and the changes placed on it."""
        state = self.state()
        if state is None:
            return [], []
        points = [Point(r.t, r.success, r.code_version, f" ({r.area})" if r.area else "") for r in state.history]
        known = {c.id: c.t for c in state.changes}
        t_last = state.history[-1].t if state.history else 0.0
        wall_last = epoch_seconds(state.updated_at)
        marks = []
        for change in self.history():
            if change.get("status") not in ("applied", "rolled_back", "awaiting_approval"):
                continue
            t = known.get(change["id"])
            if t is None:       # not in the pipeline's own record (approved later, or made by the CLI)
                wall = epoch_seconds(change.get("applied_at") or change.get("created_at"))
                if wall is None or wall_last is None:
                    continue
                t = min(t_last, max(0.0, t_last - (wall_last - wall)))
            marks.append(Mark(t, change["id"], change.get("fix") or change.get("type") or "change",
                              change.get("verdict"), change.get("status")))
        return points, marks

    def series_stamp(self) -> str:
        """Changes whenever the chart would: the state file and the ledger."""
        parts = [self._cache.stamp(state_path(self.data_dir)), self._cache.stamp(self.ledger.path)]
        return "-".join("x" if p is None else f"{p[0]}.{p[1]}" for p in parts)

    # -- the Lab Technician ------------------------------------------------------------------------
    def history(self) -> list[dict[str, Any]]:
        """The ledger folded (oldest first), folded again only when the file changed."""
        found = self._cache.load(self.ledger.path, lambda raw: self.ledger.history())
        return found or []

    def changes(self) -> list[dict[str, Any]]:
        """Every change, newest first."""
        return list(reversed(self.history()))

    def change(self, change_id: str) -> dict[str, Any] | None:
        return next((c for c in self.history() if c.get("id") == change_id), None)

    def backup_text(self, change: dict[str, Any]) -> str | None:
        """The backup of a change, only when it lies inside the data directory."""
        backup = change.get("backup")
        if not backup or not inside(Path(backup), self.data_dir) or not Path(backup).is_file():
            return None
        return Path(backup).read_text(encoding="utf-8", errors="replace")

    def analysis(self) -> dict[str, Any] | None:
        """The newest analysis the Lab Technician wrote (its results, not its internal state)."""
        from astroagent.labtech import ANALYSIS_RESULTS

        found = sorted(self.lab_dir.glob(ANALYSIS_RESULTS)) if self.lab_dir.is_dir() else []
        return self._cache.load(found[-1]) if found else None

    # -- experiments -------------------------------------------------------------------------------
    def experiments(self) -> list[dict[str, Any]]:
        """Every finished experiment, newest first."""
        if not self.projects_dir.is_dir():
            return []
        out = []
        for folder in self.projects_dir.iterdir():
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            doc = self._cache.load(folder / "results.json")
            if isinstance(doc, dict):
                out.append({"name": folder.name, **doc})
        return sorted(out, key=lambda d: str(d.get("created") or ""), reverse=True)

    def experiment_dir(self, name: str) -> Path | None:
        """The folder of experiment ``name`` — only a real entry of data/projects, never a path."""
        if not self.projects_dir.is_dir() or name.startswith(".") or name not in os.listdir(self.projects_dir):
            return None
        folder = self.projects_dir / name
        return folder if folder.is_dir() and inside(folder, self.projects_dir) else None

    def experiment(self, name: str) -> dict[str, Any] | None:
        folder = self.experiment_dir(name)
        doc = self._cache.load(folder / "results.json") if folder else None
        if not isinstance(doc, dict):
            return None
        md = folder / "results.md"
        return {"name": name, **doc, "markdown": md.read_text(encoding="utf-8", errors="replace")
                if md.is_file() else None, "has_plot": (folder / "plot.png").is_file()}
