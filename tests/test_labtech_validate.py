"""Validation runs compile, import and the pinned tests in a scratch copy and never touches the workspace."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import orjson
from _labtech_ws import COMPUTE, make_workspace

from astroagent.labtech.changes.validate import validate_change
from astroagent.paths import import_root, module_name_for, package_of


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
    hang = "import time\ntime.sleep(60)\n" + COMPUTE
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


def _deleting_tests(canary: Path, how: str) -> str:
    """A proposal whose code deletes ``canary`` (outside the workspace) when the pinned tests call it."""
    body = {"remove": f"os.remove({str(canary)!r})",
            "swallowed": f"exec(\"try:\\n    os.unlink({str(canary)!r})\\nexcept OSError:\\n    pass\")",
            "rmtree": f"shutil.rmtree({str(canary.parent)!r})",
            "write": f"open({str(canary)!r}, 'w').write('owned')"}[how]
    return "import os\nimport shutil\n" + COMPUTE.replace("    return x * x", f"    {body}\n    return x * x")


def test_an_answer_deleting_a_file_outside_the_workspace_during_its_tests_is_rejected(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    before = _tree_digest(ws)
    for how in ("remove", "swallowed", "rmtree", "write"):
        canary = tmp_path / f"outside-{how}" / "keep.txt"
        canary.parent.mkdir()
        canary.write_text("still here")
        result = validate_change(ws, "experimenter/compute.py", _deleting_tests(canary, how))
        assert not result.ok and result.stage == "tests", (how, result)
        assert "sandbox refused" in result.detail and str(canary.parent) in result.detail, (how, result.detail)
        assert canary.read_text() == "still here", how
    assert _tree_digest(ws) == before


def test_processes_network_and_native_code_are_refused_at_import(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    hostile = {"process": "import subprocess\nsubprocess.run(['true'])\n",
               "system": "import os\nos.system('true')\n",
               "network": "import socket\nsocket.socket().connect_ex(('192.0.2.1', 80))\n",
               "ctypes": "import ctypes\nctypes.CDLL(None).system\n",
               "fork": "import os\nos.fork()\n"}
    for name, code in hostile.items():
        result = validate_change(ws, "experimenter/compute.py", code + COMPUTE)
        assert not result.ok and result.stage == "import", (name, result)
        assert "sandbox refused" in result.detail, (name, result.detail)


def test_loopback_and_scratch_writes_are_allowed(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    allowed = ("import socket, tempfile, pathlib\n"
               "s = socket.socket()\ns.connect_ex(('127.0.0.1', 9))\ns.close()\n"
               "with tempfile.NamedTemporaryFile('w') as f:\n    f.write('x')\n"
               "pathlib.Path('data/out.txt').write_text('x')\npathlib.Path('data/out.txt').unlink()\n")
    result = validate_change(ws, "experimenter/compute.py", allowed + COMPUTE)
    assert result.ok, result.detail


def test_an_answer_cannot_switch_the_sandbox_off_for_the_tests(tmp_path: Path) -> None:
    """Rewriting the hook (sitecustomize) or emptying the refusals log at import is itself refused, so
    the subprocess its tests then start is still caught."""
    ws = make_workspace(tmp_path / "ws")
    folder = "os.path.dirname(os.environ['ASTROAGENT_SANDBOX_LOG'])"
    for target in ("sitecustomize.py", "refusals.log"):
        tamper = (f"import os\ntry:\n    open(os.path.join({folder}, {target!r}), 'w').write('')\n"
                  "except OSError:\n    pass\n")
        result = validate_change(ws, "experimenter/compute.py",
                                 tamper + COMPUTE.replace("    return x * x",
                                                          "    import subprocess\n    subprocess.run(['true'])\n"
                                                          "    return x * x"))
        assert not result.ok and "sandbox refused" in result.detail, (target, result)


def test_a_change_that_silences_the_telemetry_fails_the_self_test(tmp_path: Path) -> None:
    """A probe of the check's own that raises must reach the log from the changed code's process; the
    workspace tests would pass (they never look at the log), the self-test does not."""
    ws = make_workspace(tmp_path / "ws")
    for tamper, named in (
            ("from astroagent.telemetry.writer import EventWriter\n"
             "EventWriter.write = lambda self, *args, **kwargs: None\n", "EventWriter.write"),
            ("import astroagent.telemetry\n"
             "astroagent.telemetry.instrument = lambda func=None, **kwargs: func\n", "astroagent.telemetry.instrument")):
        result = validate_change(ws, "experimenter/compute.py", tamper + COMPUTE)
        assert not result.ok and result.stage == "self-test"
        assert result.detail.startswith("tampering: telemetry self-test failed") and named in result.detail


def test_a_change_that_drops_failures_on_the_floor_fails_the_self_test(tmp_path: Path) -> None:
    """The same function object with its code swapped in place: caught as a rewritten __code__."""
    ws = make_workspace(tmp_path / "ws")
    tamper = ("from astroagent.telemetry.instrument import Telemetry\n"
              "_keep = Telemetry.record_error\n"
              "def _quiet(self, execution_id, method, exc, **kwargs):\n"
              "    return None\n"
              "Telemetry.record_error.__code__ = _quiet.__code__\n")
    result = validate_change(ws, "experimenter/compute.py", tamper + COMPUTE)
    assert not result.ok and result.stage == "self-test"
    assert "Telemetry.record_error: __code__ rewritten" in result.detail


def test_the_self_test_fails_when_the_probe_event_is_missing_or_forged(tmp_path: Path) -> None:
    from astroagent.labtech.changes import selftest

    nonce = selftest.new_nonce()
    assert selftest.problem(tmp_path, nonce, "").endswith("the probe's method_failed event never reached the log")
    logs = tmp_path / "logs" / selftest.PROBE_AGENT
    logs.mkdir(parents=True)
    forged = {"event_type": "method_failed", "event_data": {"method": "telemetry_probe", "error_type":
              "TelemetryProbeError", "error": "TelemetryProbeError: guessed"}}
    (logs / "execution_20261202.jsonl").write_bytes(orjson.dumps(forged) + b"\n")
    assert selftest.problem(tmp_path, nonce, "") is not None       # a line without this run's nonce
    real = {**forged, "event_data": {**forged["event_data"], "error": f"TelemetryProbeError: {nonce}"}}
    with open(logs / "execution_20261202.jsonl", "ab") as handle:
        handle.write(orjson.dumps(real) + b"\n")
    assert selftest.problem(tmp_path, nonce, "") is None
    assert "x replaced" in selftest.problem(tmp_path, nonce, "astroagent-integrity: x replaced\n")


def _src_layout(root: Path) -> Path:
    """A user's project laid out with src/: pyproject, src/spectra/, tests/ (no astroagent.yaml)."""
    (root / "src" / "spectra").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "spectra"\nversion = "0.1"\n')
    (root / "src" / "spectra" / "__init__.py").write_text("")
    (root / "src" / "spectra" / "lines.py").write_text("def width(a, b):\n    return b - a\n")
    (root / "tests" / "test_lines.py").write_text(
        "from spectra.lines import width\n\n\ndef test_width():\n    assert width(1, 3) == 2\n")
    return root


def test_a_src_layout_is_validated_on_the_scratch_copy_not_the_installed_original(
        tmp_path: Path, monkeypatch) -> None:
    ws = _src_layout(tmp_path / "proj")
    # the original on the path, as an editable install puts it (after PYTHONPATH's own entries)
    monkeypatch.setenv("PYTHONPATH", str(ws / "src"))
    good = validate_change(ws, "src/spectra/lines.py", "def width(a, b):\n    return abs(b - a)\n")
    assert good.ok, good.detail
    broken = validate_change(ws, "src/spectra/lines.py", "def width(a, b):\n    return a - b\n")
    assert not broken.ok and broken.stage == "tests" and "test_width" in broken.detail
    unimportable = validate_change(ws, "src/spectra/lines.py", "import no_such_module_xyz\n")
    assert not unimportable.ok and unimportable.stage == "import" and "spectra.lines" in unimportable.detail


def test_a_namespace_package_is_imported_in_its_package(tmp_path: Path) -> None:
    """A flat package without ``__init__.py`` (PEP 420) whose module imports its sibling relatively:
    validated as ``spectra.lines`` and versioned as ``spectra``, not as a top-level ``lines``."""
    ws = tmp_path / "proj"
    (ws / "spectra").mkdir(parents=True)
    (ws / "tests").mkdir()
    (ws / "pyproject.toml").write_text('[project]\nname = "spectra"\nversion = "0.1"\n')
    (ws / "spectra" / "util.py").write_text("def span(a, b):\n    return b - a\n")
    (ws / "spectra" / "lines.py").write_text("from . import util\n\n\ndef width(a, b):\n    return util.span(a, b)\n")
    (ws / "tests" / "test_lines.py").write_text(
        "from spectra.lines import width\n\n\ndef test_width():\n    assert width(1, 3) == 2\n")
    assert (import_root(ws, "spectra/lines.py"), package_of(ws, "spectra/lines.py")) == (".", "spectra")
    good = validate_change(ws, "spectra/lines.py",
                           "from . import util\n\n\ndef width(a, b):\n    return abs(util.span(a, b))\n")
    assert good.ok and "imported spectra.lines" in good.detail, good.detail
    src = _src_layout(tmp_path / "src-proj")
    assert (import_root(src, "src/spectra/lines.py"), package_of(src, "src/spectra/lines.py")) == ("src", "spectra")
