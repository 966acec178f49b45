"""Cost of ``astroagent watch``: per watched call, and for a program that nothing matches.

1. Per call: a package written to a temporary folder is imported twice in this process,
   once watched (the real import hook, as in a watched child) and once not; a loop inside the
   package calls a trivial function N times. Each watched inner call writes one
   ``method_complete`` event (with ``args_digest``); an outermost call (an execution) writes three.
2. Whole process: a Python program run plainly and run with watch's environment (the
   sitecustomize hook loaded, no package matched), and the same through the ``astroagent
   watch`` command (which adds the runner's own start-up).

    python benchmarks/bench_watch.py [--calls N] [--repeats R] [--runs R]
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from astroagent.telemetry import Telemetry, instrument
from astroagent.watch import hook
from astroagent.watch.runner import BOOTSTRAP_DIR, watch_env

CODE = '''
def bare(x):
    return x + 1


def loop(n):
    for i in range(n):
        bare(i)
'''

PROGRAM = '''
import json, email.parser, http.client, decimal, fractions, statistics
data = [{"i": i, "v": str(i) * 3} for i in range(40000)]
for _ in range(12):
    json.loads(json.dumps(data))
print(sum(statistics.mean([d["i"] for d in data[:1000]]) for _ in range(3)))
'''


def _per_call(func, calls: int) -> float:
    start = time.perf_counter()
    func(calls)
    return (time.perf_counter() - start) / calls


def _each_call(func, calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        func(i)
    return (time.perf_counter() - start) / calls


def per_call(tmp: Path, calls: int, repeats: int) -> dict[str, float]:
    for name in ("benchwatched", "benchplain"):
        (tmp / name).mkdir()
        (tmp / name / "__init__.py").write_text(textwrap.dedent(CODE))
    sys.path.insert(0, str(tmp))
    os.environ.update({hook.ENV["packages"]: "benchwatched", hook.ENV["data"]: str(tmp / "data"),
                       hook.ENV["report"]: str(tmp)})
    hook.install_from_env()
    watched, plain = importlib.import_module("benchwatched"), importlib.import_module("benchplain")
    assert getattr(watched.bare, "__astroagent_instrumented__", False), "the hook did not watch the package"
    tel = Telemetry("reference", tmp / "data")
    reference, no_digest = instrument(digest_args=True)(plain.bare), instrument(plain.bare)
    rows: dict[str, list[float]] = {"bare call": [], "@instrument (1 event)": [],
                                    "@instrument(digest_args=True) (1 event)": [],
                                    "watched inner call (1 event)": [],
                                    "watched outermost call (1 execution, 3 events)": []}
    for _ in range(repeats):
        rows["bare call"].append(_per_call(plain.loop, calls))
        with tel.execution(code_version="bench"):
            rows["@instrument (1 event)"].append(_each_call(no_digest, calls))
            rows["@instrument(digest_args=True) (1 event)"].append(_each_call(reference, calls))
        rows["watched inner call (1 event)"].append(_per_call(watched.loop, calls))
        rows["watched outermost call (1 execution, 3 events)"].append(_each_call(watched.bare, calls // 10))
    log = next((tmp / "data" / "logs" / "benchwatched").glob("execution_*.jsonl"))
    lines = sum(1 for _ in log.open("rb"))
    expected = repeats * (2 + calls + 1) + repeats * 3 * (calls // 10)
    print(f"lines written: {lines} (expected {expected})")
    return {name: (min(values), statistics.median(values)) for name, values in rows.items()}


def _walls(cases: list[tuple[list[str], dict[str, str]]], runs: int) -> list[float]:
    """Median wall time of each case, the cases interleaved run by run (so load drifts hit all alike)."""
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(runs):
        for (command, env), out in zip(cases, times):
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def whole_process(tmp: Path, runs: int) -> None:
    compileall.compile_dir(str(BOOTSTRAP_DIR.parent), quiet=1)  # as an installed package has its .pyc files
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_") and k != "PYTHONDONTWRITEBYTECODE"}
    script = tmp / "program.py"
    script.write_text(textwrap.dedent(PROGRAM))
    hooked = watch_env(["nosuchpkg"], agent="bench", mode="call", data_root=tmp / "data", base=tmp,
                       report_dir=tmp, execution_id=None)
    hooked.pop("PYTHONDONTWRITEBYTECODE", None)
    cli = [sys.executable, "-m", "astroagent", "--data-dir", str(tmp / "data"), "watch", "--package", "nosuchpkg",
           "--"]
    print(f"\n{'program':28s} {'plain':>9s} {'hook only':>17s} {'astroagent watch':>19s}")
    for name, command in (("python -c pass", [sys.executable, "-c", "pass"]),
                          ("json/statistics workload", [sys.executable, str(script)])):
        plain, with_hook, through = _walls([(command, env), (command, hooked), (cli + command, env)], runs)
        print(f"{name:28s} {plain * 1e3:7.1f}ms {with_hook * 1e3:8.1f}ms {(with_hook / plain - 1):+6.1%}"
              f" {through * 1e3:9.1f}ms {(through / plain - 1):+7.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=21, help="runs of each whole-process case (0: per call only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = per_call(Path(tmp), args.calls, args.repeats)
        base, base_median = results["bare call"]
        print(f"{'case (min | median of the repeats)':48s} {'per call':>12s} {'over bare':>12s} {'median over':>12s}")
        for name, (value, median) in results.items():
            print(f"{name:48s} {value * 1e6:10.2f} µs {(value - base) * 1e6:10.2f} µs"
                  f" {(median - base_median) * 1e6:9.2f} µs")
    if args.runs <= 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        whole_process(Path(tmp), args.runs)


if __name__ == "__main__":
    main()
