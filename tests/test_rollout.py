"""Canary rollout: after a concurrent change lands, experiments run on its code or its baseline."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from _labtech_ws import FETCH, TEST_FETCH, make_workspace

from astroagent.config import AstroAgentConfig
from astroagent.labtech.changes.improve import run_improvements
from astroagent.labtech.changes.ledger import Ledger
from astroagent.labtech.models import Analysis, ErrorPattern, Opportunity
from astroagent.orchestration.rollout import CanaryRollout
from astroagent.orchestration.versions import VersionStore
from astroagent.telemetry import package_code_version


def _applied_canary(tmp_path: Path) -> tuple[Path, dict]:
    ws = make_workspace(tmp_path / "ws", {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH})
    opp = Opportunity(type="frequent_error", priority="high", score=10.0, fix="add_retry_mechanism",
                      target="experimenter/fetch.py::fetch_dataset", signature="sig", method="fetch_dataset",
                      error_types=("ConnectionResetError",), description="resets")
    analysis = Analysis(generated_at=datetime.now(UTC), window_hours=24, log_dir="logs", opportunities=(opp,),
                        error_patterns=(ErrorPattern(signature="sig", error_type="ConnectionResetError",
                                                     template="reset", count=20, transient=True),),
                        needs_intervention=True)
    run_improvements(analysis, config=AstroAgentConfig(), workspace=ws, data_dir=ws / "data", design="concurrent")
    [change] = Ledger(ws / "data").pending()
    return ws, change


def test_a_concurrent_change_runs_beside_its_rebuilt_baseline(tmp_path: Path) -> None:
    ws, change = _applied_canary(tmp_path)
    store = VersionStore(ws, "experimenter")
    rollout = CanaryRollout(ws / "data", store, workspace=ws, package="experimenter", rng=random.Random(3))
    active = rollout.refresh()
    assert active is not None and active.canary == package_code_version(ws / "experimenter")
    assert active.baseline == change["code_version_before"] != active.canary
    baseline_folder = store.folder_for(active.baseline)
    assert "tenacity" not in (baseline_folder / "experimenter/fetch.py").read_text()   # the old code, runnable
    picks = [rollout.choose({}) for _ in range(200)]
    assert 70 <= picks.count(active.canary) <= 130 and set(picks) == {active.canary, active.baseline}


def test_the_canary_that_cannot_start_asks_for_a_verdict_and_a_verdict_ends_the_canary(tmp_path: Path) -> None:
    ws, change = _applied_canary(tmp_path)
    rollout = CanaryRollout(ws / "data", VersionStore(ws, "experimenter"), workspace=ws, package="experimenter")
    active = rollout.refresh()
    assert not rollout.observe(active.canary, False, "start")
    assert not rollout.observe(active.baseline, False, "start")       # the baseline's faults are not the canary's
    assert not rollout.observe(active.canary, False, "crash")
    assert rollout.observe(active.canary, False, "start")
    Ledger(ws / "data").update(change["id"], verdict="kept")
    assert rollout.refresh() is None and rollout.choose({}) is None
