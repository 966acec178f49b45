from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from astroagent.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_unknown_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bogus"]) == 2
    err = capsys.readouterr().err
    assert err == "astroagent: error: No such option: --bogus\n" or err.count("\n") == 1


def test_unknown_command_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["teleport"]) == 2
    assert "teleport" in capsys.readouterr().err


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "f"
    afile.write_text("x")
    assert main(["--data-dir", str(afile), "config"]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "labtech" in capsys.readouterr().out


def test_console_script_runs_in_a_real_process() -> None:
    done = subprocess.run([sys.executable, "-m", "astroagent", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    assert "astroagent" in done.stdout


def test_readme_starts_with_the_two_commands_ci_runs() -> None:
    lines = [line.strip() for line in (REPO / "README.md").read_text().splitlines()[:5] if line.startswith("    ")]
    assert len(lines) == 2
    assert lines[0].endswith("astroagent demo")
    assert "pytest" in lines[1]
    assert "README.md" in (REPO / ".ci" / "run").read_text()
