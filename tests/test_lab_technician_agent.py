"""The Lab Technician agent through the public API of DESIGN §2, on a real workspace whose
Experimenter fetches from a real loopback archive that resets about a third of connections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _labtech_ws import FETCH, TEST_FETCH, FlakyArchive, make_workspace, run_workload

from astroagent.agents import create_agent
from astroagent.agents.common import AgentExecutionContext
from astroagent.config.models import ArchiveConfig
from astroagent.labtech.changes.ledger import Ledger

REPO = Path(__file__).resolve().parents[1]


def _experiments(n: int, seed0: int) -> int:
    ok = 0
    for i in range(n):
        result = create_agent("experimenter").run(AgentExecutionContext(
            agent_name="experimenter", input_data={"seed": seed0 + i, "area": "stellar_evolution"}))
        ok += result.success
    return ok


def _manual_example():
    lab_tech = create_agent('lab_technician')
    context = AgentExecutionContext(agent_name='lab_technician', state_name='manual_analysis',
                                    input_data={'force_analysis': True})
    return lab_tech.run(context)


def test_manual_example_on_a_flaky_fetch_applies_a_retry_then_keeps_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_workspace(tmp_path / "ws", {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH})
    with FlakyArchive(reset_rate=1 / 3, seed=21) as archive:
        before, _, _ = run_workload(ws, archive.url, 30)
        monkeypatch.chdir(ws)
        result = _manual_example()
        assert result.success, result.error_message
        [retry] = result.output_data["improvements_made"]
        assert (retry["fix"], retry["status"], retry["target"]) == \
            ("add_retry_mechanism", "applied", "experimenter/fetch.py::fetch_dataset")
        assert result.output_data["success_rate"] == pytest.approx(before / 30)
        after, _, _ = run_workload(ws, archive.url, 30)
        judged = _manual_example()
    print(f"\nmanual example (hand-made workspace): success {before}/30 before, {after}/30 after")
    assert before <= 24 and after >= 29
    [verdict] = judged.output_data["verdicts"]
    assert verdict["id"] == retry["id"] and verdict["verdict"] == "kept", verdict
    assert verdict["evidence"]["success"]["p_better"] < 0.05
    assert judged.output_data["improvements_made"] == []


@pytest.mark.slow
def test_seed_manual_example_applies_a_retry_and_the_next_runs_succeed(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from astroagent.science.archive_server import ArchiveServer
    from astroagent.workspace import init_workspace

    with ArchiveServer(ArchiveConfig(reset_rate=0.33, seed=4)) as archive:
        ws = init_workspace(tmp_path / "ws", archive_url=archive.url)
        monkeypatch.chdir(ws)
        before = _experiments(16, 0)
        result = _manual_example()
        assert result.success, result.error_message
        out = result.output_data
        retries = [i for i in out["improvements_made"] if i["fix"] == "add_retry_mechanism"]
        assert retries and retries[0]["status"] == "applied", out["improvements_made"]
        assert retries[0]["target"] == "experimenter/fetch.py::fetch_dataset"
        assert "tenacity" in (ws / "experimenter/fetch.py").read_text()
        assert Path(out["report_path"]).is_file() and out["success_rate"] == pytest.approx(before / 16)
        after = _experiments(16, 100)
        verdict_run = _manual_example()
    print(f"\nmanual example: Experimenter success {before}/16 before, {after}/16 after the retry")
    assert before <= 13 and after >= 15
    assert verdict_run.success
    [verdict] = [v for v in verdict_run.output_data["verdicts"] if v["id"] == retries[0]["id"]]
    assert verdict["verdict"] == "kept", verdict
    assert Ledger(ws / "data").get(retries[0]["id"])["verdict"] == "kept"


def test_the_repo_script_runs_the_manual_example(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    run = subprocess.run([sys.executable, str(REPO / "test_lab_technician.py")], cwd=ws, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "success: True" in run.stdout and "report:" in run.stdout


def test_bad_input_fails_with_the_cause_and_no_workspace_changes_nothing(tmp_path: Path) -> None:
    bad = create_agent("lab_technician").run(AgentExecutionContext(agent_name="lab_technician",
                                                                   input_data={"forse_analysis": True}))
    assert not bad.success and "forse_analysis" in bad.error_message
    result = _manual_example()          # cwd is an empty folder: no workspace
    assert result.success, result.error_message
    assert result.output_data["improvements_made"] == []
    assert any("no workspace" in n for n in result.output_data["notes"])
