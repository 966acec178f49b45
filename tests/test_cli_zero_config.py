"""Issue 14 at the command line: an existing project without astroagent.yaml (init --here, --target in the
project above it, protected targets, no tests, missing logs), several watched agents, forget, wide tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from astroagent.cli import main
from astroagent.labtech import Ledger

SEED = Path(__file__).parent / "data" / "seed_logs"
CODE = "def fetch(url):\n    return url\n"


def _project(root: Path, *, tests: bool = True) -> Path:
    (root / "spectra").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "spectra"\nversion = "0.1"\n')
    (root / "spectra" / "__init__.py").write_text("")
    (root / "spectra" / "net.py").write_text(CODE)
    if tests:
        (root / "tests").mkdir()
        (root / "tests" / "test_net.py").write_text("from spectra.net import fetch\n\n\ndef test_fetch():\n"
                                                    "    assert fetch('a') == 'a'\n")
    return root


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line (after at most the line saying which workspace was taken)."""
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("astroagent: workspace")]
    assert len(lines) == 1 and lines[0].startswith("astroagent: error: "), lines
    return lines[0]


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_init_here_writes_only_astroagent_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path / "p")
    before = _files(project)
    monkeypatch.chdir(project)
    assert main(["init", "--here"]) == 0
    assert "agent spectra" in capsys.readouterr().out
    assert _files(project) == before | {"astroagent.yaml"}
    from astroagent.config import load_config
    agent = load_config(project, env={}).agents["spectra"]
    assert agent.code_package == "spectra" and agent.test_command is None
    assert main(["init", "--here"]) == 2 and "already exists" in _err_line(capsys)
    assert main(["init", "--here", "elsewhere"]) == 2 and "DIRECTORY" in _err_line(capsys)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    assert main(["init", "--here"]) == 2 and "no Python package found" in _err_line(capsys)


def test_target_without_yaml_takes_the_project_and_refuses_what_it_must(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path / "p")
    other = _project(tmp_path / "q")
    shutil.copytree(SEED, project / "data" / "logs" / "spectra")
    monkeypatch.chdir(project)
    assert main(["labtech", "improve", "--target", "spectra/net.py", "--dry-run", "--json"]) == 0
    out = capsys.readouterr()
    assert f"astroagent: workspace {project} (the nearest folder above the targets with pyproject.toml" in out.err
    assert orjson.loads(out.out)["agents"][0]["agent"] == "spectra"
    both = ["--target", "spectra/net.py", "--target", str(other / "spectra" / "net.py")]
    assert main(["labtech", "improve", *both]) == 2       # no project above both: the current folder, p
    assert f"net.py: outside the workspace {project}" in capsys.readouterr().err
    assert main(["labtech", "improve", "--target", "tests/test_net.py"]) == 2
    assert "--target tests/test_net.py: refused, tests/test_net.py is tests" in capsys.readouterr().err.splitlines()[-1]
    (project / "test_top.py").write_text("def test_x():\n    pass\n")
    assert main(["labtech", "improve", "--target", "test_top.py"]) == 2
    assert "protected (test_*.py)" in capsys.readouterr().err


def test_no_tests_is_refused_with_how_to_give_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path / "p", tests=False)
    shutil.copytree(SEED, project / "data" / "logs" / "spectra")
    monkeypatch.chdir(project)
    assert main(["labtech", "improve", "--target", "spectra/net.py"]) == 2
    err = _err_line(capsys)
    assert "no tests to judge a change" in err and "--test-command" in err
    assert main(["labtech", "improve", "--target", "spectra/net.py", "--test-command", "true", "--json"]) == 0


def test_missing_default_logs_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["labtech", "improve"]) == 2
    err = _err_line(capsys)
    assert "logs/experimenter does not exist" in err and "0 executions" not in err
    assert main(["labtech", "analyze"]) == 2 and "does not exist" in _err_line(capsys)


def test_several_agents_each_analysed_with_its_own_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "astroagent.yaml").write_text("agents:\n  survey:\n    code_package: survey\n    logs: survey-logs\n")
    shutil.copytree(SEED, ws / "data" / "logs" / "experimenter")
    shutil.copytree(SEED, ws / "survey-logs")           # the agent's log folder, set once in the config
    monkeypatch.chdir(ws)
    assert main(["labtech", "analyze", "--window-hours", "1000000", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["agent"] == "experimenter" and [a["agent"] for a in out["agents"]] == ["experimenter", "survey"]
    survey_report = Path(out["agents"][1]["report_path"])
    assert survey_report.parent == ws / "data" / "logs" / "lab_technician" / "agents" / "survey"
    assert "agent **survey**" in survey_report.read_text()
    assert main(["labtech", "analyze", "--agent", "survey", "--window-hours", "1000000", "--json"]) == 0
    one = orjson.loads(capsys.readouterr().out)
    assert one["agent"] == "survey" and one["executions"]["total"] == out["executions"]["total"]
    assert main(["labtech", "analyze", "--agent", "nobody"]) == 2
    assert "no such agent; known: experimenter, survey" in _err_line(capsys)


def test_forget_lifts_a_bar_by_id_or_by_fix_and_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    ledger = Ledger(tmp_path / "data")
    for cid in ("chg-00000001", "chg-00000002"):
        ledger.record_change({"id": cid, "signature": "s", "fix": "add_retry_mechanism", "status": "rolled_back",
                              "verdict": "rolled_back", "target": "spectra/net.py::fetch"})
    ledger.record_change({"id": "chg-00000003", "signature": "t", "fix": "add_caching", "status": "applied",
                          "target": "spectra/net.py::fetch"})
    assert ledger.already_tried("s", "add_retry_mechanism")
    assert main(["labtech", "forget", "chg-00000001"]) == 0
    assert "chg-00000001: add_retry_mechanism on spectra/net.py::fetch may be tried again" in capsys.readouterr().out
    assert ledger.already_tried("s", "add_retry_mechanism")            # chg-00000002 still bars it
    assert main(["labtech", "forget", "--fix", "add_retry_mechanism", "--target", "spectra/net.py"]) == 0
    assert "chg-00000001: add_retry_mechanism on spectra/net.py::fetch was already forgotten" in capsys.readouterr().out
    assert not ledger.already_tried("s", "add_retry_mechanism")
    for argv, message in ((["chg-00000003"], "chg-00000003 is applied, not rolled back"),
                          (["chg-nope"], "no change 'chg-nope'"), ([], "give a CHANGE_ID"),
                          (["--fix", "add_caching"], "--fix and --target go together"),
                          (["--fix", "add_timeout", "--target", "x.py"], "no rolled-back add_timeout on x.py")):
        assert main(["labtech", "forget", *argv]) == 2
        assert message in _err_line(capsys)


def test_tables_fold_long_cells_instead_of_cutting_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    data = tmp_path / "data"
    shutil.copytree(SEED, data / "logs" / "experimenter")
    assert main(["--data-dir", str(data), "labtech", "analyze", "--window-hours", "1000000"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and max(len(line) for line in out.splitlines()) > 80
