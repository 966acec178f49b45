"""Canary rollout: while a change is judged, each experiment runs at random on the change's code
(the canary, the files on disk) or on the version it replaced (the baseline, a snapshot rebuilt
from the ledger's backup), so both arms meet the same archive, load and faults at the same time.

    rollout = CanaryRollout(data_dir, store, workspace=ws, package="experimenter", fraction=0.5)
    rollout.refresh()                      # after every Lab Technician run: which change is on canary
    version = rollout.choose(project)      # per experiment: baseline or canary (None: no canary)
    if rollout.observe(outcome): ...       # the canary cannot even run: judge it now

Kept → nothing is pending, every experiment runs the files on disk (the new version). Rolled back
→ the Lab Technician restored the file, the disk is the baseline again, and so is every experiment.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astroagent.orchestration.fleet import assign_version
from astroagent.orchestration.versions import VersionStore, snapshot_before_change

__all__ = ["CanaryRollout", "Canary"]

log = logging.getLogger("astroagent.pipeline")


@dataclass(frozen=True)
class Canary:
    """The change on canary and the two versions it is judged between."""

    change_id: str
    baseline: str
    canary: str


class CanaryRollout:
    """Which version each experiment runs while a concurrent change is judged; see the module docstring."""

    def __init__(self, data_dir: Path, store: VersionStore, *, workspace: Path | None, package: str,
                 fraction: float = 0.5, agent: str = "experimenter", rng: random.Random | None = None):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"pipeline.canary_fraction must lie strictly between 0 and 1, got {fraction!r}")
        self.data_dir, self.store, self.workspace, self.package = Path(data_dir), store, workspace, package
        self.fraction, self.agent = fraction, agent
        self.rng = rng or random.Random()
        self.active: Canary | None = None
        self.notes: list[str] = []
        self._streak = 0

    def refresh(self) -> Canary | None:
        """Read the ledger: the newest pending concurrent change of this agent whose code is on disk
        becomes the canary (its baseline snapshotted once); none pending, none on canary."""
        from astroagent.labtech import CONCURRENT, Ledger

        pending = [c for c in Ledger(self.data_dir).pending()
                   if c.get("design") == CONCURRENT and (c.get("agent") or "experimenter") == self.agent]
        previous, self.active, self._streak = self.active, None, 0
        if not pending or self.workspace is None:
            return None
        change = pending[-1]
        before, after = change.get("code_version_before"), change.get("code_version_after")
        if not before or not after or after != self.store.current():
            self._note(f"{change['id']}: its code is not what is on disk; no canary until it is judged")
            return None
        if before not in self.store.versions and not self._snapshot(change, before):
            return None
        self.active = Canary(change["id"], before, after)
        if previous != self.active:
            log.info("canary %s: baseline %s, canary %s, %.0f %% of experiments on the canary",
                     change["id"], before, after, 100 * self.fraction)
        return self.active

    def _snapshot(self, change: dict[str, Any], before: str) -> bool:
        try:
            version, folder = snapshot_before_change(change, self.workspace, self.package, data_dir=self.data_dir)
        except (OSError, ValueError) as exc:
            self._note(f"{change['id']}: no baseline to run ({exc}); every experiment runs the new code")
            return False
        if version != before:
            self._note(f"{change['id']}: the rebuilt baseline is {version}, not {before}; no canary")
            return False
        self.store.add(version, folder)
        return True

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log.warning(text)

    def choose(self, project: dict[str, Any] | None = None) -> str | None:
        """The version the next experiment runs: baseline or canary at random (None: no canary)."""
        if self.active is None:
            return None
        return assign_version(self.active.baseline, self.active.canary, self.fraction, self.rng)

    def observe(self, code_version: str | None, success: bool, failure_kind: str | None) -> bool:
        """Count the canary's runs that could not even start or crashed; True once enough in a row
        did (labtech's CANNOT_RUN_STREAK: its verdict then rolls the change back without statistics)."""
        from astroagent.labtech import CANNOT_RUN, CANNOT_RUN_STREAK

        if self.active is None or code_version != self.active.canary:
            return False
        self._streak = self._streak + 1 if not success and failure_kind in CANNOT_RUN else 0
        return self._streak >= CANNOT_RUN_STREAK
