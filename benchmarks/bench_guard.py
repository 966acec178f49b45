"""In-process time of one ``labtech check`` on a 500-line module (the goal: under 0.5 s).

The module is generated: functions with loops, handlers, log calls and a class, like Experimenter
code. Three proposals are judged: an LLM change of one function body (every function allowed, the
CLI's default), a retry rule's output (its kind), and a hostile LLM change (refused). Each is timed
``--repeat`` times in this process; the median and the worst are printed.

    python benchmarks/bench_guard.py [--lines 500] [--repeat 20]
"""

from __future__ import annotations

import argparse
import time
from statistics import median

from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.models import Opportunity

HEADER = '''"""Generated Experimenter-like module."""
import logging
import math
import urllib.request

import numpy as np

from astroagent.telemetry import instrument

log = logging.getLogger(__name__)
ARCHIVE = "http://127.0.0.1:8750"
'''

FUNCTION = '''

@instrument
def fetch_{i}(name, retries=3, *, timeout=10.0):
    """Download item {i}."""
    log.info("fetching %s", name)
    try:
        with urllib.request.urlopen(f"{{ARCHIVE}}/{i}/{{name}}", timeout=timeout) as response:
            return response.read()
    except ConnectionResetError:
        log.warning("reset %s", name)
        raise


def clip_{i}(values, nsigma=3.0):
    data = list(values)
    while len(data) > 2:
        mean = sum(data) / len(data)
        std = math.sqrt(sum((v - mean) ** 2 for v in data) / len(data))
        outliers = [v for v in data if abs(v - mean) > nsigma * std]
        if not outliers:
            break
        for v in outliers:
            data.remove(v)
    return float(np.mean(data)) if data else None
'''


def module(lines: int) -> str:
    parts, i = [HEADER], 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(FUNCTION.format(i=i))
        i += 1
    return "".join(parts)


def timed(old: str, new: str, repeat: int, **kwargs) -> tuple[float, float, bool]:
    times, ok = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        report = check_change(old, new, **kwargs)
        times.append(time.perf_counter() - start)
        ok = report.ok
    return median(times), max(times), bool(ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    old = module(args.lines)
    llm = old.replace("    return float(np.mean(data)) if data else None\n",
                      "    if not data:\n        raise ValueError('empty')\n    return float(np.mean(data))\n", 1)
    opp = Opportunity(type="frequent_error", priority="high", description="d", signature="s",
                      fix="add_retry_mechanism", error_types=("ConnectionResetError",))
    rule = apply_fix(old, "fetch_0", opp).new_source
    hostile = old.replace("    data = list(values)\n", "    data = list(values)\n    __import__('os').remove('x')\n", 1)
    check_change(old, llm)   # imports and first-use caches are not part of one check
    print(f"module: {old.count(chr(10))} lines, {len(old)} characters")
    for name, new, kwargs in (("llm (all functions)", llm, {}),
                              ("rule:add_retry_mechanism", rule, {"kind": "rule:add_retry_mechanism",
                                                                  "functions": ("fetch_0",)}),
                              ("hostile llm", hostile, {})):
        mid, worst, ok = timed(old, new, args.repeat, **kwargs)
        print(f"{name:26s} median {mid * 1000:7.1f} ms   max {worst * 1000:7.1f} ms   ok={ok}")


if __name__ == "__main__":
    main()
