"""The Experimenter's commands, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from astroagent.cli import main


def test_init_then_experiment_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["init", str(tmp_path / "ws")]) == 0
    assert "workspace ready" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path / "ws")
    assert main(["experiment", "--area", "stellar_evolution", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["success"] and out["verdict"] in ("supported", "refuted", "inconclusive")
    assert Path(out["output_dir"]).parent == (tmp_path / "ws" / "data" / "projects").resolve()
    assert main(["init", str(tmp_path / "ws")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_experiment_bad_area_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "--area", "cosmology"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "known: exoplanets, stellar_evolution" in err


def test_experiment_failure_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    main(["init", str(tmp_path / "ws")])
    monkeypatch.chdir(tmp_path / "ws")
    capsys.readouterr()
    assert main(["experiment", "--seed", "1", "--archive-url", "http://127.0.0.1:9"]) == 1
    assert "experiment failed: URLError" in capsys.readouterr().err


def test_archive_serve_prints_url_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from astroagent.cli import main; main()", "archive", "serve",
                             "--error-rate", "0",
                             "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/datasets/debcat", timeout=5) as response:
            assert response.read().startswith(b"# System")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "archive stopped: 1 requests" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_archive_serve_bad_rate_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["archive", "serve", "--reset-rate", "1.5"]) == 2
    assert "--reset-rate" in capsys.readouterr().err
