"""``astroagent run``: bounded runs, the Lab Technician switch, bad input as one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from astroagent.cli import main
from astroagent.config import ArchiveConfig
from astroagent.orchestration.state import load_state
from astroagent.science.archive_server import ArchiveServer


@pytest.fixture()
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from astroagent.workspace import init_workspace

    with ArchiveServer(ArchiveConfig()) as server:
        ws = init_workspace(tmp_path / "ws", archive_url=server.url)
        monkeypatch.chdir(ws)
        monkeypatch.setenv("ASTROAGENT_PIPELINE__PROJECTS_PER_CYCLE", "2")
        yield ws


def test_run_bounded_by_cycles_then_resumed_with_the_lab_technician(workspace: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--cycles", "1", "--no-lab-technician"]) == 0
    out = capsys.readouterr().out
    assert "stopped after 1 cycle(s): 2 experiments, success rate 100 %" in out
    state = load_state(workspace / "data")
    assert state.status == "stopped" and state.cycle == 1 and state.experiments == 2 and state.lab_runs == 0
    assert not (workspace / "data" / "logs" / "lab_technician" / "ledger.jsonl").exists()

    assert main(["run", "--cycles", "2", "--lab-interval", "0.01", "--area", "exoplanets"]) == 0
    assert "Lab Technician" in capsys.readouterr().out
    state = load_state(workspace / "data")
    assert state.cycle == 3 and state.experiments == 6 == len(state.history)   # resumed, not restarted
    assert state.lab_runs >= 1 and {r.area for r in state.history[2:]} == {"exoplanets"}
    assert len({r.project_id for r in state.history}) == 6                      # new cycles plan new projects
    assert [r.t for r in state.history] == sorted(r.t for r in state.history)


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--cycles", "1", "--duration", "5"], "give --cycles or --duration, not both"),
    (["run", "--cycles", "1", "--area", "alchemy"], "unknown research area 'alchemy'"),
    (["run", "--lab-interval", "0"], "--lab-interval"),
    (["run", "--cycles", "0"], "--cycles"),
    (["demo", "--cycles", "1"], "--cycles"),
    (["run", "--duration", "nan"], "finite number of seconds"),      # would run for ever
    (["run", "--lab-interval", "inf"], "finite number of seconds"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture,
                                          tmp_path: Path) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_path_that_cannot_be_made_is_one_line_not_an_internal_error(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["init", str(tmp_path / "file" / "ws")]) == 1
    err = capsys.readouterr().err
    assert "Not a directory" in err and "internal error" not in err and err.count("\n") == 1


def test_demo_refuses_a_workdir_that_is_not_empty(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("precious")
    assert main(["demo", "--workdir", str(tmp_path / "busy")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "busy" / "thesis.tex").read_text() == "precious"


def test_the_live_view_shows_the_climb_and_the_last_change_with_its_verdict() -> None:
    from rich.console import Console

    from astroagent.cli.live_view import ViewModel

    model = ViewModel()
    for i in range(10):
        version, ok = ("aaaaaaaaaaaa", i % 3 != 0) if i < 6 else ("bbbbbbbbbbbb", True)
        model.fold({"stage": "experiment", "status": "completed" if ok else "failed", "cycle": 3,
                    "experiments": i + 1, "code_version": version, "success_rate": 0.8, "area": "exoplanets",
                    "project_id": f"p{i}", "verdict": "supported", "error": None if ok else "ConnectionResetError"})
    line = model.fold({"stage": "lab_technician", "status": "completed", "improvements_made": [
        {"id": "chg-1", "type": "frequent_error", "fix": "add_retry_mechanism", "status": "applied",
         "target": "experimenter/fetch.py::fetch_dataset", "validation": {"detail": "the workspace tests passed"}}],
        "verdicts": []})
    assert "add_retry_mechanism" in line and "validated: the workspace tests passed" in line
    model.fold({"stage": "lab_technician", "status": "completed", "improvements_made": [],
                "verdicts": [{"id": "chg-1", "verdict": "kept", "reason": "better: success 67% → 100%"}]})
    console = Console(width=120, record=True)
    console.print(model.render())
    text = console.export_text()
    assert "aaaaaaaa 67 % of 6  →  bbbbbbbb 100 % of 4" in text
    assert "add_retry_mechanism → experimenter/fetch.py::fetch_dataset  kept" in text
    assert "cycle" in text and "10 (8 ok)" in text
