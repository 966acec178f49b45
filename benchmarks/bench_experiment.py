"""Benchmark the Experimenter: BLS over a Kepler quarter, one experiment of each kind, the
speed-up a cache would give the pure slow method, and failures under a resetting archive.

    python benchmarks/bench_experiment.py [--repeats N] [--json]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from astroagent.agents import AgentExecutionContext, create_agent
from astroagent.agents.experimenter import load_research_code
from astroagent.config.models import ArchiveConfig
from astroagent.science.archive_server import ArchiveServer
from astroagent.science.datasets import parse_dataset, read_packaged
from astroagent.science.projects import plan_projects
from astroagent.science.transits import bls_search, detrend
from astroagent.workspace import init_workspace


def bench_bls(repeats: int) -> dict[str, float]:
    out = {}
    for dataset_id in ("kepler1_q1", "kepler10_q1"):
        lc = parse_dataset(dataset_id, read_packaged(dataset_id))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            bls_search(lc.time, detrend(lc.time, lc.flux, 0.75), lc.flux_err / lc.flux)
            times.append(time.perf_counter() - start)
        out[dataset_id] = statistics.median(times)
    return out


def bench_experiments(workspace: Path, count: int) -> dict[str, list[float]]:
    agent = create_agent("experimenter", workspace=workspace)
    by_kind: dict[str, list[float]] = {}
    for project in plan_projects(["exoplanets", "stellar_evolution"], count, seed=101):
        ctx = AgentExecutionContext(agent_name="experimenter", input_data={"project": project.model_dump()})
        start = time.perf_counter()
        result = agent.run(ctx)
        if result.success:
            by_kind.setdefault(project.kind, []).append(time.perf_counter() - start)
    return by_kind


def bench_cache(workspace: Path) -> dict[str, float]:
    code = load_research_code(workspace / "experimenter")
    from experimenter.models import zams_grid  # the workspace's module, just loaded
    from experimenter.stellar import ZAMS_RANGE

    start = time.perf_counter()
    plain = [zams_grid(*ZAMS_RANGE) for _ in range(5)]
    uncached = (time.perf_counter() - start) / 5
    cached_fn = functools.lru_cache(maxsize=32)(zams_grid)
    start = time.perf_counter()
    cached = [cached_fn(*ZAMS_RANGE) for _ in range(5)]
    per_call = (time.perf_counter() - start) / 5
    assert cached[0] == plain[0], "cache changed the result"
    del code
    return {"uncached_s": uncached, "cached_s": per_call, "speedup": uncached / per_call}


def bench_resets(workspace: Path, count: int) -> dict[str, float]:
    agent = create_agent("experimenter", workspace=workspace)
    failures = 0
    with ArchiveServer(ArchiveConfig(reset_rate=1 / 3, seed=9)) as server:
        for project in plan_projects(["exoplanets", "stellar_evolution"], count, seed=202):
            ctx = AgentExecutionContext(agent_name="experimenter",
                                        input_data={"project": project.model_dump(), "archive_url": server.url})
            failures += not agent.run(ctx).success
    return {"executions": count, "failed": failures, "failure_rate": failures / count}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--experiments", type=int, default=24)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = init_workspace(Path(tmp) / "ws")
        report = {"bls_median_s": bench_bls(args.repeats)}
        start = time.perf_counter()
        kinds = bench_experiments(workspace, args.experiments)
        report["experiments_wall_s"] = time.perf_counter() - start
        report["experiment_s"] = {k: {"n": len(v), "median": statistics.median(v), "max": max(v)}
                                  for k, v in sorted(kinds.items())}
        report["zams_grid_cache"] = bench_cache(workspace)
        report["archive_reset_one_third"] = bench_resets(workspace, 30)
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
