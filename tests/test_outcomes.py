"""Outcomes recorded outside the changed code: the supervisor's own record, what analysis and
verdicts make of it, the result-file check, and method names that cannot be borrowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from test_integrity import _lines, _run, _supervisor, _workspace

from astroagent.config import load_config
from astroagent.config.models import LabTechnicianConfig, VerdictConfig
from astroagent.labtech.analysis.analyze import run_analysis
from astroagent.labtech.changes.verdicts import judge
from astroagent.telemetry import Telemetry, instrument, package_code_version
from astroagent.telemetry.outcomes import OutcomeRecorder, read_outcomes

# the call raises, but the code first closes its own execution as a success
FAKES_SUCCESS = ("from astroagent.telemetry import current_execution\n"
                 "def run(data):\n"
                 "    current_execution().event('execution_complete', success=True, duration=0.01)\n"
                 "    raise RuntimeError('the fit did not converge')\n")


def test_events_that_claim_success_for_a_failed_call_are_tampering_and_roll_the_change_back(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, FAKES_SUCCESS)
    version = package_code_version(ws / "experimenter")
    outcomes = _run(_supervisor(tmp_path, ws), count=2)
    assert [o.success for o in outcomes] == [False, False]
    logs = tmp_path / "data" / "logs" / "experimenter"
    records = _lines(logs, "outcomes_*.jsonl")
    assert [(r["success"], r["events"], r["agree"], r["recorded_by"]) for r in records] == \
        [(False, "conflicting", False, "supervisor")] * 2

    config = load_config(ws).lab_technician
    analysis = run_analysis(config, logs, tmp_path / "state", workspace=ws)
    assert analysis.per_version[version].executions == 2 and analysis.per_version[version].failed == 2
    assert analysis.executions.failed == 2
    next(logs.glob("outcomes_*.jsonl")).rename(tmp_path / "outcomes.aside")
    events_only = run_analysis(config, logs, tmp_path / "state-events-only", workspace=ws)
    assert events_only.per_version[version].failed == 0    # without the record the faked closes would win

    [pattern] = [p for p in analysis.error_patterns if p.error_type == "tampering"]
    assert pattern.code_versions == {version: 2} and "disagree" in pattern.template
    [opp] = [o for o in analysis.opportunities if o.type == "tampering"]
    assert opp.priority == "critical" and analysis.needs_intervention

    change = {"id": "chg-1", "code_version_after": version, "code_versions_after": [version],
              "method": "run", "fix": "llm_rewrite", "type": "frequent_error"}
    verdict = judge(change, analysis, VerdictConfig())
    assert verdict.verdict == "rolled_back" and verdict.reason.startswith("tampering: 2 executions")
    other = {**change, "code_version_after": "0123456789ab", "code_versions_after": ["0123456789ab"]}
    assert judge(other, analysis, VerdictConfig()).verdict == "pending"   # another version is not blamed


def _results(data: Path, project: str, execution_id: str, body: bytes | None = None) -> None:
    folder = data / "projects" / project
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"execution_id": execution_id, "results": {"slope": {"value": 3.9, "error": 0.1}}}
    (folder / "results.json").write_bytes(body if body is not None else orjson.dumps(doc))


@pytest.mark.parametrize(("written", "expected"), [
    (None, "results.json is missing"),
    (b"{not json", "results.json is unreadable"),
    ("e-other", "written by execution 'e-other'"),
])
def test_a_claimed_success_without_its_own_results_file_is_a_failure(tmp_path: Path, written, expected) -> None:
    recorder = OutcomeRecorder(tmp_path, "experimenter", expect_results=True)
    if isinstance(written, bytes):
        _results(tmp_path, "p1", "e1", written)
    elif written is not None:
        _results(tmp_path, "p1", written)
    record = recorder.settle(execution_id="e1", code_version="v1", success=True, failure_kind=None, duration=0.5,
                             error=None, project_id="p1")
    assert record["success"] is False and record["failure_kind"] == "results" and expected in record["error"]


def test_a_success_with_its_results_is_recorded_as_one(tmp_path: Path) -> None:
    _results(tmp_path, "p1", "e1")
    recorder = OutcomeRecorder(tmp_path, "experimenter", expect_results=True)
    record = recorder.settle(execution_id="e1", code_version="v1", success=True, failure_kind=None, duration=0.5,
                             error=None, project_id="p1")
    assert record["success"] is True and record["results"] == "ok" and record["events"] == "missing"
    assert recorder.settle(execution_id="e2", code_version="v1", success=True, failure_kind=None, duration=0.5,
                           error=None, project_id="../p1")["failure_kind"] == "results"   # no path escapes


def test_read_outcomes_keeps_the_window_and_skips_junk(tmp_path: Path) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    stamps = iter([now - timedelta(hours=30), now - timedelta(hours=1), now])
    recorder = OutcomeRecorder(tmp_path, "experimenter", clock=lambda: next(stamps))
    for i in range(3):
        recorder.unanswered(execution_id=f"e{i}", code_version="v", failure_kind="crash", duration=1.0, error="x")
    path = tmp_path / "logs" / "experimenter" / "outcomes_20261202.jsonl"
    with open(path, "ab") as handle:
        handle.write(b"\x00\xffjunk\n[1, 2]\n{\"timestamp\": \"yesterday\"}\n")
    got = read_outcomes(tmp_path / "logs" / "experimenter", (now - timedelta(hours=24)).timestamp(), now.timestamp())
    assert [r["execution_id"] for r in got] == ["e1", "e2"]
    assert got[0]["failure_kind"] == "crash" and got[0]["recorded_by"] == "supervisor"


@instrument
def fetch() -> None:
    raise ConnectionError("archive unreachable")


def _always_ok() -> bool:
    return True


def test_a_function_logged_under_its_own_name_does_not_dilute_another_methods_failure_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="logged under its own name"):
        instrument(name="fetch")(_always_ok)          # borrowing fetch's name is refused at decoration
    always_ok = instrument(name="_always_ok")(_always_ok)

    def impostor() -> bool:
        return True
    impostor.__name__ = impostor.__qualname__ = "fetch"   # the decorator reads the code's own name
    impostor = instrument(impostor)
    telemetry = Telemetry("experimenter", tmp_path / "data")
    for i in range(4):
        with pytest.raises(ConnectionError), telemetry.execution(f"e{i}", code_version="v1"):
            for _ in range(10):
                always_ok()
                impostor()
            fetch()
    telemetry.close()
    analysis = run_analysis(LabTechnicianConfig(), tmp_path / "data" / "logs" / "experimenter", tmp_path / "state")
    assert analysis.methods["fetch"].calls == 4 and analysis.methods["fetch"].success_rate == 0.0
    assert analysis.methods["_always_ok"].calls == 40
