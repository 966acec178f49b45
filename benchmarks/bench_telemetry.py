"""Cost of an instrumented call over a bare call, per event written.

Every event is one ``os.write`` of a whole line on an O_APPEND file before the call
returns, so the figure includes reaching the operating system (not the disk: no fsync).

    python benchmarks/bench_telemetry.py [--calls N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from astroagent.telemetry import Telemetry, instrument


def bare(x: int) -> int:
    return x + 1


def bare_digest(x: int) -> int:
    return x + 1


instrumented = instrument(bare)                     # a function is logged under its own name
instrumented_digest = instrument(bare_digest, digest_args=True)


def _per_call(func, calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        func(i)
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tel = Telemetry("bench", Path(tmp))
        rows = {"bare call": [], "instrumented, no execution": [], "instrumented (1 event)": [],
                "instrumented + args_digest (1 event)": []}
        for _ in range(args.repeats):
            rows["bare call"].append(_per_call(bare, args.calls))
            rows["instrumented, no execution"].append(_per_call(instrumented, args.calls))
            with tel.execution(code_version="bench"):
                rows["instrumented (1 event)"].append(_per_call(instrumented, args.calls))
                rows["instrumented + args_digest (1 event)"].append(_per_call(instrumented_digest, args.calls))
        log = next((Path(tmp) / "logs" / "bench").glob("execution_*.jsonl"))
        lines = sum(1 for _ in log.open("rb"))
        base = statistics.median(rows["bare call"])
        print(f"{'case':40s} {'per call':>12s} {'over bare':>12s}")
        for name, values in rows.items():
            med = statistics.median(values)
            print(f"{name:40s} {med * 1e6:10.2f} µs {(med - base) * 1e6:10.2f} µs")
        print(f"lines written: {lines} (expected {2 * args.calls * args.repeats + 2 * args.repeats})")


if __name__ == "__main__":
    main()
