"""Benchmark: what reading the program's exception classes adds to one analysis.

    python benchmarks/bench_classes.py [--package astroagent] [--workspace .] [--repeat 5]

``workspace_classes`` over every .py of the package (what ``run_analysis`` reads when no targets are
configured): cold (no cache: every file parsed with ``ast``) and cached (bytes read and hashed, the
classes from ``classes_cache.json``). Prints one JSON object with the medians in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from astroagent.labtech.analysis.classes import workspace_classes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", default="astroagent")
    parser.add_argument("--workspace", type=Path, default=Path("."))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = sorted(p for p in (args.workspace / args.package).rglob("*.py") if "__pycache__" not in p.parts)
    cold, cached = [], []
    with tempfile.TemporaryDirectory() as state:
        for _ in range(args.repeat):
            for stale in Path(state).rglob("classes_cache.json"):
                stale.unlink()
            start = time.perf_counter()
            found = workspace_classes(files, args.workspace, state_dir=Path(state))
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            workspace_classes(files, args.workspace, state_dir=Path(state))
            cached.append(time.perf_counter() - start)
    print(json.dumps({"files": len(files), "lines": sum(len(p.read_bytes().splitlines()) for p in files),
                      "classes": len(found.classes), "cold_ms": round(statistics.median(cold) * 1000, 1),
                      "cached_ms": round(statistics.median(cached) * 1000, 1)}))


if __name__ == "__main__":
    main()
