"""``init_workspace``: the layout, refusing to clobber, and smoke tests that pass on the plain code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from astroagent.config import load_config
from astroagent.errors import UsageError
from astroagent.workspace import init_workspace, template_root


def test_layout_and_config(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", archive_url="http://127.0.0.1:8765")
    assert sorted(p.name for p in ws.iterdir()) == ["astroagent.yaml", "data", "experimenter", "tests"]
    assert (ws / "experimenter" / "fetch.py").is_file() and (ws / "tests" / "test_smoke.py").is_file()
    assert not list(ws.rglob("__pycache__"))
    assert yaml.safe_load((ws / "astroagent.yaml").read_text())["experimenter"]["archive_url"] == "http://127.0.0.1:8765"
    assert load_config(ws).experimenter.archive_url == "http://127.0.0.1:8765"


def test_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        init_workspace(target)
    init_workspace(target, force=True)
    assert (target / "notes.txt").read_text() == "mine" and (target / "experimenter").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        init_workspace(tmp_path / "file")


def test_template_carries_the_faults_the_lab_technician_fixes() -> None:
    code = template_root() / "experimenter"
    fetch = (code / "fetch.py").read_text()
    assert "urlopen(url)" in fetch and "timeout" not in fetch and "retry" not in fetch
    assert "@instrument(digest_args=True)\ndef fetch_dataset" in fetch
    assert "@instrument(digest_args=True)\ndef zams_grid" in (code / "models.py").read_text()
    assert "@instrument(digest_args=True)\ndef bootstrap_valley" in (code / "exoplanets.py").read_text()
    assert "def load_dataset" in fetch and "@instrument\ndef load_dataset" not in fetch


def test_smoke_tests_pass_on_the_plain_code(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"], cwd=ws,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "9 passed" in proc.stdout
