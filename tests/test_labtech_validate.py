"""Validation runs compile, import and the pinned tests in a scratch copy and never touches the workspace."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from _labtech_ws import COMPUTE, make_workspace

from astroagent.labtech.validate import module_name_for, validate_change


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_module_names() -> None:
    assert module_name_for("experimenter/fetch.py") == "experimenter.fetch"
    assert module_name_for("experimenter/__init__.py") == "experimenter"


def test_a_good_change_passes_and_the_workspace_is_untouched(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    before = _tree_digest(ws)
    new = COMPUTE.replace('"""The square of x."""', '"""The square of x (documented)."""')
    result = validate_change(ws, "experimenter/compute.py", new)
    assert result.ok, result.detail
    assert result.stage == "done" and "passed" in result.detail
    assert _tree_digest(ws) == before


def test_syntax_error_is_rejected_at_compile(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    result = validate_change(ws, "experimenter/compute.py", "def square(x:\n")
    assert not result.ok and result.stage == "compile"


def test_import_failure_is_rejected(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    result = validate_change(ws, "experimenter/compute.py", "import no_such_module_xyz\n" + COMPUTE)
    assert not result.ok and result.stage == "import"
    assert "no_such_module_xyz" in result.detail


def test_a_change_that_breaks_the_tests_is_rejected(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    before = _tree_digest(ws)
    result = validate_change(ws, "experimenter/compute.py", COMPUTE.replace("return x * x", "return x + x"))
    assert not result.ok and result.stage == "tests"
    assert "test_square" in result.detail
    assert _tree_digest(ws) == before


def test_hanging_import_is_killed_on_timeout(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    hang = "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n" \
           "time.sleep(60)\n" + COMPUTE
    start = time.monotonic()
    result = validate_change(ws, "experimenter/compute.py", hang, import_timeout=1.5)
    assert time.monotonic() - start < 10
    assert not result.ok and result.stage == "import" and "timed out" in result.detail


def test_test_command_overrides_and_no_tests_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    assert not validate_change(ws, "experimenter/compute.py", COMPUTE, test_command="exit 3").ok
    assert validate_change(ws, "experimenter/compute.py", COMPUTE, test_command="true").ok
    (ws / "tests" / "test_compute.py").unlink()
    refused = validate_change(ws, "experimenter/compute.py", COMPUTE)
    assert not refused.ok and "no tests" in refused.detail
    assert validate_change(ws, "experimenter/compute.py", COMPUTE, require_tests=False).ok
