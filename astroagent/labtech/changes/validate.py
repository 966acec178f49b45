"""Validate a proposed file in a scratch copy of the workspace: compile, import, run the pinned tests.

The workspace itself is never touched: the target's package, the tests and the config are
copied to a temporary folder, the proposal is written there, and every check runs in a fresh
process group that is killed whole on timeout (DESIGN section 5, rule 3). Every Python process
of a check runs under the audit hook of ``sandbox_hook`` (installed as ``sitecustomize`` before
any user code): writes and deletions outside the scratch copy, process spawning, non-loopback
sockets and native libraries are refused, and any refusal rejects the change. The import check
ends with a telemetry self-test (``selftest``): a failure of a probe must still reach the log.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from astroagent.labtech.changes import sandbox_hook, selftest
from astroagent.paths import import_root, module_of

__all__ = ["ValidationResult", "validate_change", "run_command", "has_tests"]

_COPY_FILES = ("astroagent.yaml", "conftest.py", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis", ".git", "data")
_TAIL_CHARS = 1500
_SANDBOX = ".astroagent-sandbox"


@dataclass(frozen=True)
class ValidationResult:
    """``ok`` or the first stage that failed (copy | compile | import | self-test | tests) and why."""

    ok: bool
    stage: str
    detail: str
    duration: float


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _TAIL_CHARS else "..." + text[-_TAIL_CHARS:]


def run_command(argv: list[str] | str, *, cwd: Path, env: dict[str, str], timeout: float,
                shell: bool = False, input_bytes: bytes | None = None) -> tuple[int | None, str]:
    """Run in a new session; on timeout kill the whole process group. Returns (code or None, output)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, shell=shell,
                            stdin=subprocess.DEVNULL if input_bytes is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(input=input_bytes, timeout=timeout)
        return proc.returncode, out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return None, out.decode("utf-8", "replace")
    finally:
        if proc.poll() is None:  # pragma: no cover - interrupted from outside
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def has_tests(tests_dir: Path) -> bool:
    """Whether ``tests_dir`` holds tests pytest would collect (what a change is judged by without a test command)."""
    return tests_dir.is_dir() and (any(tests_dir.rglob("test_*.py")) or any(tests_dir.rglob("*_test.py")))


def _make_scratch(workspace: Path, rel_path: str, scratch: Path) -> None:
    top = PurePosixPath(rel_path).parts[0]
    source_top = workspace / top
    if source_top.is_dir():
        shutil.copytree(source_top, scratch / top, ignore=_IGNORE, symlinks=False)
    if (workspace / "tests").is_dir() and top != "tests":
        shutil.copytree(workspace / "tests", scratch / "tests", ignore=_IGNORE, symlinks=False)
    for package in workspace.iterdir():   # sibling packages the tests may import
        if package.name not in (top, "tests", "data") and (package / "__init__.py").is_file():
            shutil.copytree(package, scratch / package.name, ignore=_IGNORE, symlinks=False)
    for name in _COPY_FILES:
        if (workspace / name).is_file():
            shutil.copy2(workspace / name, scratch / name)
    if not (workspace / top).is_dir():  # a top-level module
        shutil.copy2(workspace / rel_path, scratch / rel_path)
    (scratch / "data").mkdir(exist_ok=True)


def _make_sandbox(scratch: Path) -> Path:
    """The hook as ``sitecustomize.py`` in its own folder, plus private temp / home / cache folders."""
    folder = scratch / _SANDBOX
    folder.mkdir()
    shutil.copyfile(sandbox_hook.__file__, folder / "sitecustomize.py")
    for name in sandbox_hook.WRITABLE_FOLDERS:
        (folder / name).mkdir()
    return folder


def _refusals(scratch: Path) -> str:
    log = scratch / _SANDBOX / "refusals.log"
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    unique = list(dict.fromkeys(line for line in lines if line.strip()))
    return "; ".join(unique[:3]) + (f" (+{len(unique) - 3} more)" if len(unique) > 3 else "")


def _judge(scratch: Path, what: str, code: int | None, out: str, timeout: float) -> str | None:
    """Why a check failed (a sandbox refusal first, then a timeout, then its exit code), or None."""
    if refused := _refusals(scratch):
        return f"{what} did what validation forbids: {refused}"
    if code is None:
        return f"{what} timed out after {timeout:g}s"
    if code != 0:
        return f"{what} failed (exit {code}): {_tail(out)}"
    return None


def _env(scratch: Path, root: str = ".") -> dict[str, str]:
    """The checks' environment: the sandbox hook first, then the scratch copy's import root (a src
    layout's ``src`` before an editable install of the original), the scratch, then the caller's path."""
    env = dict(os.environ)
    sandbox = scratch / _SANDBOX
    first = [str(sandbox), *([str(scratch / root)] if root != "." else []), str(scratch)]
    env["PYTHONPATH"] = os.pathsep.join([*first, *filter(None, [env.get("PYTHONPATH")])])
    env[sandbox_hook.ROOTS_ENV] = str(scratch.resolve())
    env[sandbox_hook.LOG_ENV] = str(sandbox / "refusals.log")
    for key, sub in (("TMPDIR", "tmp"), ("TEMP", "tmp"), ("TMP", "tmp"), ("HOME", "home"),
                     ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config"), ("MPLCONFIGDIR", "config")):
        env[key] = str(sandbox / sub)   # what libraries write for themselves stays inside the scratch
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONINSPECT", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["ASTROAGENT_DATA_DIR"] = str(scratch / "data")   # whatever the checks log stays in the scratch
    env["ASTROAGENT_WORKSPACE"] = str(scratch)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def validate_change(workspace: Path, rel_path: str, new_source: str, *, test_command: str | None = None,
                    import_timeout: float = 30.0, test_timeout: float = 120.0, require_tests: bool = True,
                    python: str | None = None) -> ValidationResult:
    """Check ``new_source`` as the new ``workspace/rel_path`` without touching the workspace."""
    start = time.perf_counter()
    workspace = Path(workspace).resolve()
    python = python or sys.executable

    def result(ok: bool, stage: str, detail: str) -> ValidationResult:
        return ValidationResult(ok, stage, detail, round(time.perf_counter() - start, 3))

    try:
        compile(new_source, rel_path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return result(False, "compile", f"{type(exc).__name__}: {exc}")
    if not (workspace / rel_path).is_file():
        return result(False, "copy", f"{rel_path}: no such file in the workspace")
    scratch = Path(tempfile.mkdtemp(prefix="astroagent-validate-"))
    try:
        try:
            _make_scratch(workspace, rel_path, scratch)
            (scratch / rel_path).write_text(new_source, encoding="utf-8")
            _make_sandbox(scratch)
        except OSError as exc:
            return result(False, "copy", f"cannot build the scratch copy: {exc}")
        root = import_root(workspace, rel_path)
        env = _env(scratch, root)
        module = module_of(workspace, rel_path)
        nonce, probe = selftest.new_nonce(), selftest.probe_folder(scratch)
        code, out = run_command([python, "-c", selftest.SCRIPT.format(marker=sandbox_hook.MARKER), module,
                                 str(probe)], cwd=scratch, env=env, timeout=import_timeout,
                                input_bytes=nonce.encode() + b"\n")
        if problem := _judge(scratch, f"importing {module}", code, out, import_timeout):
            return result(False, "import", problem)
        if problem := selftest.problem(probe, nonce, out):
            return result(False, "self-test", problem)
        if test_command:
            code, out = run_command(test_command, cwd=scratch, env=env, timeout=test_timeout, shell=True)
            what = f"test command {test_command!r}"
        elif has_tests(scratch / "tests"):
            code, out = run_command([python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests"],
                                    cwd=scratch, env=env, timeout=test_timeout)
            what = "the workspace tests"
        elif require_tests:
            return result(False, "tests", "no tests to judge the change (tests/ is empty; "
                                          "give --test-command or set safety_constraints.require_tests: false)")
        else:
            return result(True, "done", f"compiled and imported {module}; no tests configured")
        if problem := _judge(scratch, what, code, out, test_timeout):
            return result(False, "tests", problem)
        return result(True, "done", f"compiled, imported {module}, {what} passed")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
