"""``astroagent labtech improve | rollback | history`` as a user runs them: exit codes, one-line errors, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _labtech_ws import COMPUTE, FETCH, TEST_FETCH, FlakyArchive, make_workspace, run_workload

from astroagent.cli import main
from astroagent.labtech.changes.apply import apply_recorded_change, sha256_file
from astroagent.labtech.changes.ledger import Ledger

FILE = "experimenter/compute.py"


def _apply(ws: Path, cid: str, new: str) -> None:
    apply_recorded_change({"id": cid, "file": FILE, "package": "experimenter", "signature": "s", "fix": "add_caching",
                           "engine": "rules", "type": "slow_method", "target": f"{FILE}::square",
                           "sha_before": sha256_file(ws / FILE)}, new, workspace=ws, data_dir=ws / "data")


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_history_and_rollback_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_workspace(tmp_path / "ws")
    monkeypatch.chdir(ws)
    assert main(["labtech", "history"]) == 0
    assert "no changes recorded" in capsys.readouterr().out
    _apply(ws, "chg-0000cafe", COMPUTE.replace("x * x", "x ** 2"))
    assert main(["labtech", "history", "--json"]) == 0
    [change] = _json(capsys)["changes"]
    assert change["id"] == "chg-0000cafe" and change["status"] == "applied" and change["verdict"] == "pending"
    assert main(["labtech", "history"]) == 0
    assert "chg-0000cafe" in capsys.readouterr().out
    assert main(["labtech", "rollback", "--last"]) == 0
    assert "rolled back chg-0000cafe" in capsys.readouterr().out
    assert (ws / FILE).read_text() == COMPUTE
    assert Ledger(ws / "data").get("chg-0000cafe")["status"] == "rolled_back"


def test_rollback_bad_input_and_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_workspace(tmp_path / "ws")
    monkeypatch.chdir(ws)
    assert main(["labtech", "rollback"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["labtech", "rollback", "chg-1", "--last"]) == 2
    capsys.readouterr()
    assert main(["labtech", "rollback", "chg-nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("astroagent: error: no change 'chg-nope'") and err.count("\n") == 1
    _apply(ws, "chg-0000beef", COMPUTE.replace("x * x", "x ** 2"))
    (ws / FILE).write_text("# mine now\n")
    assert main(["labtech", "rollback", "chg-0000beef"]) == 1
    assert "edited by someone else" in capsys.readouterr().err
    assert (ws / FILE).read_text() == "# mine now\n"
    assert main(["labtech", "rollback", "chg-0000beef", "--force"]) == 0
    assert (ws / FILE).read_text() == COMPUTE


def test_rollback_outside_a_workspace_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labtech", "rollback", "--last"]) == 2
    assert "no workspace" in capsys.readouterr().err


def test_improve_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_workspace(tmp_path / "ws")
    monkeypatch.chdir(ws)
    assert main(["labtech", "improve", "--target", "nope.py"]) == 2
    assert "--target nope.py: no such file" in capsys.readouterr().err
    assert main(["labtech", "improve", "--engine", "magic"]) == 2
    capsys.readouterr()
    assert main(["labtech", "improve", "--logs", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "outside.py").write_text("x = 1\n")
    assert main(["labtech", "improve", "--target", str(tmp_path / "outside.py")]) == 2
    assert "outside the workspace" in capsys.readouterr().err


def test_improve_json_applies_a_retry_from_real_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_workspace(tmp_path / "ws", {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH})
    with FlakyArchive(reset_rate=1 / 3, seed=5) as archive:
        before, _, _ = run_workload(ws, archive.url, 30)
    monkeypatch.chdir(ws)
    assert main(["labtech", "improve", "--dry-run", "--json"]) == 0
    dry = _json(capsys)
    assert dry["success"] is True and dry["report_path"]
    assert any(o["fix"] == "add_retry_mechanism" and o["target"] == "experimenter/fetch.py::fetch_dataset"
               for o in dry["opportunities"])
    [proposed] = [i for i in dry["improvements_made"] if i["target"].endswith("::fetch_dataset")]
    assert proposed["status"] == "proposed" and "tenacity" in proposed["diff"]
    assert (ws / "experimenter/fetch.py").read_text() == FETCH
    assert main(["labtech", "improve", "--json"]) == 0
    out = _json(capsys)
    [applied] = [i for i in out["improvements_made"] if i["target"].endswith("::fetch_dataset")]
    assert applied["status"] == "applied" and set(applied) >= {"id", "type", "target", "status", "reason", "diff"}
    assert "tenacity.retry" in (ws / "experimenter/fetch.py").read_text()
    assert Path(out["report_path"]).is_file()
    print(f"\nCLI: {before}/30 succeeded before; applied {applied['id']}")
