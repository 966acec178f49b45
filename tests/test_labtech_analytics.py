"""Analytics over windows: outcomes per code version, timings, located patterns, trend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analytics import resolve_location
from astroagent.labtech.analysis.analyze import run_analysis

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)


def _write(path: Path, events: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        for t, eid, et, data in events:
            fh.write(orjson.dumps({"timestamp": t.isoformat(), "execution_id": eid, "event_type": et,
                                   "event_data": data}) + b"\n")


def _execution(t: datetime, eid: str, version: str, ok: bool, fit_time: float) -> list[tuple]:
    out = [(t, eid, "execution_start", {"code_version": version}),
           (t, eid, "method_complete", {"method": "fit", "duration": fit_time, "success": True})]
    if not ok:
        out.append((t, eid, "method_failed", {
            "method": "fetch", "duration": 0.1, "error_type": "TimeoutError", "error": "TimeoutError: timed out",
            "traceback": 'Traceback (most recent call last):\n  File "/usr/lib/python3.11/socket.py", line 5, in x\n'
                         '  File "/ws/experimenter/fetch.py", line 12, in fetch\n'
                         '  File "/usr/lib/python3.11/http/client.py", line 9, in read\nTimeoutError: timed out\n'}))
    out.append((t + timedelta(seconds=4), eid, "execution_complete", {"success": ok, "duration": 4.0}))
    return out


def test_versions_timings_patterns_and_trend(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "execution_20240502.jsonl"
    events: list[tuple] = []
    for i in range(10):   # previous window: old version, 50% failures
        events += _execution(NOW - timedelta(hours=30, minutes=i), f"old{i}", "v1", i % 2 == 0, 1.0)
    for i in range(20):   # current window: new version, 10% failures, slower fit
        events += _execution(NOW - timedelta(hours=2, minutes=i), f"new{i}", "v2", i % 10 != 0, 3.0 + i / 10)
    _write(log, events)
    a = run_analysis(LabTechnicianConfig(), log.parent, tmp_path / "state", now=NOW, window_hours=24)
    assert (a.executions.total, a.executions.failed, a.executions.success_rate) == (20, 2, 0.9)
    assert a.avg_execution_time == pytest.approx(4.0)
    v2 = a.per_version["v2"]
    assert (v2.executions, v2.failed, v2.method_calls["fit"], v2.method_errors["fetch"]) == (20, 2, 20, 2)
    assert len(v2.method_durations["fit"]) == 20 and "v1" not in a.per_version
    fit = a.methods["fit"]
    assert fit.p50 == pytest.approx(3.95) and fit.p95 > fit.p50
    assert [s.method for s in a.slow_methods] == ["fit"]
    [pattern] = a.error_patterns
    assert pattern.location.file == "/ws/experimenter/fetch.py" and pattern.location.function == "fetch"
    assert pattern.transient and pattern.count == 2
    assert a.trend["previous_executions"] == 10 and a.trend["direction"] == "improving"
    assert a.trend["success_rate_change"] == pytest.approx(0.4)
    wide = run_analysis(LabTechnicianConfig(), log.parent, tmp_path / "state", now=NOW, window_hours=48)
    assert wide.executions.total == 30 and set(wide.per_version) == {"v1", "v2"}


def test_location_prefers_the_innermost_frame_in_target_code() -> None:
    frames = [["/ws/experimenter/run.py", 3, "main"], ["/ws/experimenter/fetch.py", 12, "fetch"],
              ["/venv/lib/python3.11/site-packages/requests/api.py", 59, "get"]]
    loc = resolve_location(None, None, None, frames, ["experimenter/run.py"], "/ws")
    assert (loc.file, loc.function, loc.line) == ("experimenter/run.py", "main", 3)
    loc = resolve_location(None, None, None, frames, [], "/ws")
    assert (loc.file, loc.function) == ("experimenter/fetch.py", "fetch")
    given = resolve_location("/ws/experimenter/a.py", "f", 1, frames, [], "/ws")
    assert given.file == "experimenter/a.py"


def test_missing_log_dir_is_an_empty_analysis_with_a_note(tmp_path: Path) -> None:
    a = run_analysis(LabTechnicianConfig(), tmp_path / "nope", tmp_path / "s", now=NOW)
    assert a.executions.total == 0 and "no log directory" in a.notes[0]


def test_stale_logs_are_analysed_up_to_their_newest_event(tmp_path: Path) -> None:
    seed = Path(__file__).parent / "data" / "seed_logs"      # January 2024, analysed with today's clock
    a = run_analysis(LabTechnicianConfig(), seed, tmp_path / "s")
    assert a.executions.total == 20 and a.error_patterns[0].error_type == "ConnectionError"
    assert any("newest event" in n for n in a.notes)
