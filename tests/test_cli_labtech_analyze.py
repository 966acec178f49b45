"""``astroagent labtech analyze`` and ``labtech report`` as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from astroagent.cli import main

SEED = Path(__file__).parent / "data" / "seed_logs"


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(SEED, root / "logs" / "experimenter")
    return root


def test_analyze_json_prints_the_design_keys_and_writes_outputs(data: Path, capsys) -> None:
    code = main(["--data-dir", str(data), "labtech", "analyze", "--window-hours", "1000000", "--json"])
    assert code == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["executions"] == {"total": 20, "failed": 5, "success_rate": 0.75}
    assert out["log_entries_analyzed"] == 90 and out["malformed_lines"] == 0
    assert out["error_patterns"][0]["error_type"] == "ConnectionError"
    assert Path(out["report_path"]).is_file() and Path(out["analysis_path"]).is_file()
    assert (data / "logs" / "lab_technician" / "analysis_state.json").is_file()


def test_analyze_prints_tables_without_json(data: Path, capsys) -> None:
    assert main(["--data-dir", str(data), "labtech", "analyze", "--window-hours", "1000000"]) == 0
    out = capsys.readouterr().out
    assert "Error patterns" in out and "ConnectionError" in out and "Opportunities" in out


def test_missing_log_dir_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    code = main(["--data-dir", str(tmp_path), "labtech", "analyze", "--logs", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


@pytest.mark.parametrize("hours", ["0", "-1", "nan", "inf", "1e300"])
def test_unusable_window_is_one_line_and_exit_2(data: Path, hours: str, capsys) -> None:
    code = main(["--data-dir", str(data), "labtech", "analyze", "--window-hours", hours])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--window-hours must be positive" in err


def test_report_prints_or_writes_the_newest(data: Path, tmp_path: Path, capsys) -> None:
    assert main(["--data-dir", str(data), "labtech", "report"]) == 0   # no report yet: analyses first
    assert "# Lab Technician Report" in capsys.readouterr().out
    target = tmp_path / "out" / "report.md"
    assert main(["--data-dir", str(data), "labtech", "report", "--output", str(target)]) == 0
    assert target.read_text().startswith("# Lab Technician Report")


def test_real_process_without_logs_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "ASTROAGENT_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-c", "from astroagent.cli import main; main()", "labtech", "analyze", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr


def test_a_target_that_matches_no_file_is_one_line_naming_the_key(tmp_path: Path, capsys,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    (ws / "experimenter").mkdir(parents=True)
    (ws / "experimenter" / "fetch.py").write_text("def fetch():\n    return 1\n")
    (ws / "astroagent.yaml").write_text("lab_technician:\n  targets: [experimentr/fetch.py]\n")
    shutil.copytree(SEED, ws / "data" / "logs" / "experimenter")
    monkeypatch.chdir(ws)
    code = main(["labtech", "analyze", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "lab_technician.targets: 'experimentr/fetch.py' matches no file" in err
