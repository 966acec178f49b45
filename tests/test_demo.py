"""``astroagent demo``: its judgement (pure, fast) and one real end-to-end run (slow, < 3 min)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from astroagent.demo import MIN_GAIN, plot_success_rate, segments, summarise
from astroagent.orchestration.state import ChangeRecord, ExperimentRecord, PipelineState


def _state(outcomes: list[tuple[str, bool]], changes: list[ChangeRecord]) -> PipelineState:
    state = PipelineState()
    for i, (version, ok) in enumerate(outcomes):
        state.record(ExperimentRecord(t=float(i), execution_id=f"e{i}", success=ok, code_version=version))
    state.changes = changes
    return state


def _phase(version: str, ok: int, failed: int) -> list[tuple[str, bool]]:
    return [(version, True)] * ok + [(version, False)] * failed


def test_a_kept_change_and_a_clear_climb_pass() -> None:
    state = _state(_phase("v1", 10, 6) + _phase("v2", 16, 0),
                   [ChangeRecord(id="chg-1", type="add_retry_mechanism", target="experimenter/fetch.py::fetch",
                                 verdict="kept", t=16.0)])
    summary = summarise(state, ledger=[])
    assert summary["passed"] and summary["reason"] is None
    assert summary["success_rate_before"] == pytest.approx(10 / 16)
    assert summary["success_rate_after"] == 1.0
    assert summary["improvements"][0]["verdict"] == "kept"


def test_the_ledger_has_the_last_word_on_a_verdict() -> None:
    state = _state(_phase("v1", 10, 6) + _phase("v2", 16, 0),
                   [ChangeRecord(id="chg-1", type="add_retry_mechanism", verdict="pending")])
    summary = summarise(state, ledger=[{"id": "chg-1", "status": "rolled_back", "verdict": "rolled_back"}])
    assert not summary["passed"]
    assert "no change was kept" in summary["reason"] and "rolled_back" in summary["reason"]


def test_no_change_or_too_small_a_gain_fails_with_the_reason() -> None:
    assert summarise(_state(_phase("v1", 8, 8), []), [])["reason"] == "the Lab Technician made no change"
    small = _state(_phase("v1", 10, 6) + _phase("v2", 12, 4), [ChangeRecord(id="c", type="t", verdict="kept")])
    summary = summarise(small, [])
    assert not summary["passed"] and "did not clearly climb" in summary["reason"]
    assert MIN_GAIN >= 0.1


def test_segments_follow_code_versions_in_order() -> None:
    state = _state(_phase("a", 2, 0) + _phase("b", 1, 1) + _phase("a", 1, 0), [])
    assert [(v, len(r)) for v, r in segments(state.history)] == [("a", 2), ("b", 2), ("a", 1)]


def test_the_plot_is_a_png_with_the_change_marked(tmp_path: Path) -> None:
    state = _state(_phase("v1", 10, 6) + _phase("v2", 16, 0), [])
    path = plot_success_rate(state, [{"id": "c", "type": "add_retry_mechanism", "target": "x", "verdict": "kept",
                                      "t": 16.0}], tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


@pytest.mark.slow
def test_demo_end_to_end_shows_the_loop_working(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "astroagent", "demo", "--json", "--workdir", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=240)
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert set(result) >= {"success_rate_before", "success_rate_after", "improvements", "report_path", "plot_path"}
    assert result["success_rate_after"] >= result["success_rate_before"] + MIN_GAIN
    assert any(i["verdict"] == "kept" for i in result["improvements"])
    assert all(set(i) == {"id", "type", "target", "verdict"} for i in result["improvements"])
    assert Path(result["report_path"]).is_file()
    assert Path(result["plot_path"]).read_bytes()[:4] == b"\x89PNG"
    assert wall < 180
