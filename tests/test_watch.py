"""``astroagent watch``: a user's package, unchanged on disk, run for real and watched.

Every test runs the real command line in a subprocess on a small package written into
``tmp_path`` and compares what the user sees (exit code, stdout, stderr) with the same
command run without watch, then reads the events it logged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import orjson
import pytest

from astroagent.telemetry import package_code_version

CORE = '''
import asyncio
import functools
import math
from math import sqrt          # a C function: must stay math.sqrt itself

CALLS = [0]


class ArchiveReset(ConnectionError):
    pass


def fetch(item):
    """Fails on every third call (a flaky archive)."""
    CALLS[0] += 1
    if CALLS[0] % 3 == 0:
        raise ArchiveReset(f"connection reset fetching {item}")
    return item * 2


def slow_total(n):
    return sum(i * i for i in range(n))


def countdown(n):
    while n > 0:
        step = yield n
        n -= 1 if step is None else step
    return "liftoff"


async def average(values):
    await asyncio.sleep(0)
    return sum(values) / len(values)


async def ticks(n):
    for i in range(n):
        got = yield i
        if got:
            yield f"got {got}"


class Shape:
    def __init__(self, size):
        self._size = size

    @property
    def size(self):
        return self._size

    @size.setter
    def size(self, value):
        self._size = value

    @classmethod
    def square(cls, size):
        return cls(size)

    @staticmethod
    def sides(kind):
        return {"square": 4, "triangle": 3}[kind]


def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)


def square(x):
    return x * x


HANDLERS = {"square": square}          # captured while the module runs
cached = functools.lru_cache(maxsize=None)(slow_total)


def broken(x):
    return helper(x)


def helper(x):
    return 1 / x
'''

MAIN = '''
import asyncio
import inspect
import math
import pickle
import sys

from wpkg import core

facts = {}
results = []
for i in range(9):
    try:
        results.append(core.fetch(i))
    except ConnectionError as exc:
        results.append(str(exc))
facts["fetch"] = results
facts["slow"] = [core.slow_total(20000) for _ in range(3)]
gen = core.countdown(5)
facts["gen"] = [next(gen), gen.send(2), next(gen)]
try:
    gen.throw(KeyError("stop"))
except KeyError as exc:
    facts["gen_throw"] = repr(exc)
gen2 = core.countdown(2)
facts["gen_all"] = list(gen2)
def ret():
    value = yield from core.countdown(1)
    return value
r = ret(); next(r)
try:
    next(r)
except StopIteration as stop:
    facts["gen_return"] = stop.value
closed = core.countdown(3); next(closed); closed.close()
facts["gen_closed"] = inspect.getgeneratorstate(closed)


async def main():
    out = [await core.average([1, 2, 3, 4])]
    agen = core.ticks(3)
    out.append(await agen.__anext__())
    out.append(await agen.asend("x"))
    out.append([i async for i in core.ticks(2)])
    await agen.aclose()
    return out


facts["async"] = asyncio.run(main())
s = core.Shape.square(3)
s.size = 5
facts["shape"] = [s.size, core.Shape.sides("triangle"), type(s).__name__]
facts["fact"] = core.fact(6)
facts["kinds"] = [inspect.isgeneratorfunction(core.countdown), inspect.iscoroutinefunction(core.average),
                  inspect.isasyncgenfunction(core.ticks), isinstance(core.Shape.__dict__["square"], classmethod),
                  isinstance(core.Shape.__dict__["sides"], staticmethod),
                  isinstance(core.Shape.__dict__["size"], property)]
facts["meta"] = [core.fetch.__name__, core.fetch.__doc__, core.fetch.__module__, str(inspect.signature(core.fetch)),
                 core.Shape.square.__qualname__, inspect.getsourcelines(core.fact)[1]]
facts["c_function"] = core.sqrt is math.sqrt
facts["pickle"] = pickle.loads(pickle.dumps(core.square)) is core.square
facts["pickle_registry"] = pickle.loads(pickle.dumps(core.HANDLERS["square"]))(7)
facts["cache"] = [core.cached(100), core.cached(100), core.cached.cache_info().hits]
print(facts)
if len(sys.argv) > 1 and sys.argv[1] == "crash":
    core.broken(0)
'''

POOL = '''
import multiprocessing
import sys

from wpkg import core

if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        print(pool.map(core.square, range(6)))
    print(core.HANDLERS["square"](3))
'''

CHILD = '''
import subprocess
import sys

from wpkg import core

print(core.square(4), flush=True)
subprocess.run([sys.executable, "-c", "from wpkg import core; print(core.fact(3))"], check=True)
'''


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    pkg = root / "wpkg"
    pkg.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "wpkg"\nversion = "0.1"\n')
    (pkg / "__init__.py").write_text("")
    (pkg / "core.py").write_text(textwrap.dedent(CORE))
    (pkg / "__main__.py").write_text(textwrap.dedent(MAIN))
    (pkg / "pool.py").write_text(textwrap.dedent(POOL))
    (pkg / "child.py").write_text(textwrap.dedent(CHILD))
    return root


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    env["PYTHONPATH"] = str(project)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``args`` as a command, in the project, with its package importable."""
    return subprocess.run(list(args), cwd=project, env=_env(project), capture_output=True, text=True, timeout=120)


def watch(project: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, sys.executable, "-m", "astroagent", "--data-dir", str(data), "watch", *args)


def events(data: Path, agent: str = "wpkg") -> list[dict]:
    files = sorted((data / "logs" / agent).glob("execution_*.jsonl"))
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]


def by_type(evs: list[dict], kind: str) -> list[dict]:
    return [e for e in evs if e["event_type"] == kind]


def test_the_program_sees_no_difference_and_every_call_is_logged(project: Path, tmp_path: Path) -> None:
    plain = run(project, sys.executable, "-m", "wpkg")
    watched = watch(project, tmp_path / "data", "--package", "wpkg", "--", sys.executable, "-m", "wpkg")
    assert plain.returncode == 0, plain.stderr
    assert (watched.returncode, watched.stdout, watched.stderr) == (0, plain.stdout, "")
    assert "'pickle_registry': 49" in plain.stdout and "'c_function': True" in plain.stdout

    evs = events(tmp_path / "data")
    starts, completes = by_type(evs, "execution_start"), by_type(evs, "execution_complete")
    assert len(starts) == len(completes) > 20
    assert {s["event_data"]["code_version"] for s in starts} == {package_code_version(project / "wpkg")}
    failures = Counter(f["event_data"]["error_type"] for f in by_type(evs, "method_failed"))
    assert failures == {"ArchiveReset": 3, "KeyError": 1}        # KeyError: thrown into the generator
    failure = next(f["event_data"] for f in by_type(evs, "method_failed")
                   if f["event_data"]["error_type"] == "ArchiveReset")
    assert failure["location"] == {"file": "wpkg/core.py", "function": "fetch", "line": 18}
    assert "astroagent" not in failure["traceback"] and "wpkg/core.py" in failure["traceback"]
    assert failure["args_digest"] and failure["duration"] >= 0
    failed_runs = [c for c in completes if not c["event_data"]["success"]]
    assert Counter(c["event_data"]["failure_type"] for c in failed_runs) == {"ArchiveReset": 3, "KeyError": 1}

    methods = Counter(e["event_data"]["method"] for e in by_type(evs, "method_complete"))
    assert methods["fetch"] == 6 and methods["slow_total"] == 4 and methods["fact"] == 6   # 4: one cache miss
    assert methods["countdown"] == 3 and methods["average"] == 1 and methods["ticks"] == 2
    assert methods["Shape.square"] == 1 and methods["Shape.sides"] == 1 and methods["Shape.size"] == 2
    slow = [e["event_data"] for e in evs if e["event_data"].get("method") == "slow_total"]
    assert sorted(Counter(e["args_digest"] for e in slow).values()) == [1, 3]   # equal arguments, equal digests
    # recursion: the outermost call is the execution, the inner ones are its method events
    fact_runs = [s["execution_id"] for s in starts if s["event_data"]["entry"] == "fact"]
    assert len(fact_runs) == 1
    assert sum(1 for e in evs if e["execution_id"] == fact_runs[0] and e["event_data"].get("method") == "fact") == 6
    assert not list(project.rglob("__pycache__"))               # the package's folders are untouched


def test_a_crash_prints_the_same_traceback(project: Path, tmp_path: Path) -> None:
    plain = run(project, sys.executable, "-m", "wpkg", "crash")
    watched = watch(project, tmp_path / "data", "--package", "wpkg", "--", sys.executable, "-m", "wpkg", "crash")
    assert plain.returncode == watched.returncode == 1
    assert "ZeroDivisionError" in plain.stderr
    assert (watched.stdout, watched.stderr) == (plain.stdout, plain.stderr)
    failed = by_type(events(tmp_path / "data"), "method_failed")
    helper = [f["event_data"] for f in failed if f["event_data"]["error_type"] == "ZeroDivisionError"]
    assert [h["method"] for h in helper] == ["helper"]           # logged once, where it was raised
    assert helper[0]["location"]["function"] == "helper"


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_children_are_watched(project: Path, tmp_path: Path, method: str) -> None:
    plain = run(project, sys.executable, "-m", "wpkg.pool", method)
    watched = watch(project, tmp_path / "data", "--package", "wpkg", "--", sys.executable, "-m", "wpkg.pool", method)
    assert (watched.returncode, watched.stdout, watched.stderr) == (0, plain.stdout, "")
    evs = events(tmp_path / "data")
    squares = [e for e in by_type(evs, "method_complete") if e["event_data"]["method"] == "square"]
    assert len(squares) == 7
    pids = {s["event_data"]["pid"] for s in by_type(evs, "execution_start")}
    assert len(pids) >= 2                                        # the pool's workers wrote their own executions


def test_a_python_subprocess_is_watched_and_process_mode_makes_one_execution(project: Path, tmp_path: Path) -> None:
    watched = watch(project, tmp_path / "data", "--package", "wpkg", "--execution", "process", "--agent", "svc",
                    "--", sys.executable, "-m", "wpkg.child")
    assert (watched.returncode, watched.stdout, watched.stderr) == (0, "16\n6\n", "")
    evs = events(tmp_path / "data", "svc")
    assert len(by_type(evs, "execution_start")) == 1 and len(by_type(evs, "execution_complete")) == 1
    assert len({e["execution_id"] for e in evs}) == 1
    assert by_type(evs, "execution_complete")[0]["event_data"]["success"] is True
    methods = Counter(e["event_data"]["method"] for e in by_type(evs, "method_complete"))
    assert methods == {"square": 1, "fact": 3}                  # fact ran in the child process


def test_exit_code_and_streams_pass_through(project: Path, tmp_path: Path) -> None:
    code = "import sys; from wpkg import core; print(core.square(3)); print('to err', file=sys.stderr); sys.exit(7)"
    watched = watch(project, tmp_path / "data", "--package", "wpkg", "--execution", "process",
                    "--", sys.executable, "-c", code)
    assert (watched.returncode, watched.stdout, watched.stderr) == (7, "9\n", "to err\n")
    done = by_type(events(tmp_path / "data"), "execution_complete")
    assert [d["event_data"]["success"] for d in done] == [False] and done[0]["event_data"]["exit_code"] == 7


def test_without_package_the_project_is_watched_and_analysed(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    watched = watch(project, data, sys.executable, "-m", "wpkg")
    assert watched.returncode == 0
    assert watched.stderr.splitlines() == [f"astroagent watch: watching wpkg (the project in {project}, "
                                           "from pyproject.toml)"]
    analysis = run(project, sys.executable, "-m", "astroagent", "--data-dir", str(data), "labtech", "analyze",
                   "--logs", str(data / "logs" / "wpkg"), "--json")
    assert analysis.returncode == 0, analysis.stderr
    report = orjson.loads(analysis.stdout)
    assert report["malformed_lines"] == 0 and report["executions"]["failed"] == 4
    pattern = next(p for p in report["error_patterns"] if p["error_type"] == "ArchiveReset")
    assert pattern["count"] == 3 and pattern["location"]["file"] == "wpkg/core.py"
    assert "slow_total" in [m["method"] for m in report["slow_methods"]]


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus", "--", "python"], "No such option '--bogus'"),
    ([], "watch needs a command to run"),
    (["--package", "wpkg", "--"], "watch needs a command to run"),
    (["--package", "not-a-name", "--", "python"], "not an importable name"),
    (["--execution", "thread", "--", "python"], "--execution"),
    (["--package", "wpkg", "--", "no-such-program-xyz"], "no-such-program-xyz: command not found"),
])
def test_bad_input_is_one_line_and_exit_2(project: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = watch(project, tmp_path / "data", *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_package_never_imported_is_a_warning_at_the_end(project: Path, tmp_path: Path) -> None:
    done = watch(project, tmp_path / "data", "--package", "wpkg", "--package", "absentpkg",
                 "--", sys.executable, "-c", "import sys; from wpkg import core; core.square(2); sys.exit(3)")
    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        "astroagent watch: warning: package absentpkg was never imported; nothing of it was watched"]


def test_a_command_that_is_not_python_runs_unwatched(project: Path, tmp_path: Path) -> None:
    done = watch(project, tmp_path / "data", "--package", "wpkg", "--", "sh", "-c", "echo hi; exit 4")
    assert (done.returncode, done.stdout) == (4, "hi\n")
    assert done.stderr.splitlines() == ["astroagent watch: warning: sh is not a Python program; it ran unwatched"]
    assert not (tmp_path / "data" / "logs" / "wpkg").exists()


def test_a_syntax_error_and_the_users_own_sitecustomize_look_as_without_watch(project: Path, tmp_path: Path) -> None:
    (project / "sitecustomize.py").write_text("import sys\nsys.own_site = 'ran'\n")
    (project / "wpkg" / "bad.py").write_text("def broken(:\n    pass\n")
    code = "import sys; print(getattr(sys, 'own_site', 'not run')); import wpkg.bad"
    plain = run(project, sys.executable, "-c", code)
    watched = watch(project, tmp_path / "data", "--package", "wpkg", "--", sys.executable, "-c", code)
    assert plain.returncode == watched.returncode == 1
    assert plain.stdout == watched.stdout == "ran\n"
    assert "SyntaxError" in plain.stderr and watched.stderr == plain.stderr


def test_the_public_front_resolves() -> None:
    import astroagent.watch as watch_pkg

    assert sorted(watch_pkg.__all__) == ["WatchResult", "is_python_command", "project_packages", "run_watched"]
    assert all(callable(getattr(watch_pkg, name)) for name in watch_pkg.__all__)
    assert watch_pkg.is_python_command("python3.11") and not watch_pkg.is_python_command("sh")


def test_sigterm_to_watch_reaches_the_command(project: Path, tmp_path: Path) -> None:
    import signal

    code = "import sys; from wpkg import core; print(core.square(2), flush=True); sys.stdin.read()"
    proc = subprocess.Popen([sys.executable, "-m", "astroagent", "--data-dir", str(tmp_path / "data"), "watch",
                             "--package", "wpkg", "--", sys.executable, "-c", code], cwd=project, env=_env(project),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "4\n"            # the command runs and is blocked reading stdin
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
