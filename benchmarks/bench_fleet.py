"""Benchmark the worker fleet: experiments per second with 1 and 2 local workers and with 2 Ray
actors, on CPU-bound experiments (the real Experimenter, its analysis preceded by a fixed burn of
pure-Python work), plus the head's cost per shipped event (what bounds a large Ray fleet).

    python benchmarks/bench_fleet.py [--experiments N] [--burn N] [--no-ray] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from astroagent.config import load_config
from astroagent.config.models import ArchiveConfig
from astroagent.orchestration.fleet import FleetSpec, make_fleet
from astroagent.science.archive_server import ArchiveServer
from astroagent.science.projects import plan_projects
from astroagent.workspace import init_workspace

_BURN = '''

def _burn(n={n}):
    """Benchmark load: fixed CPU work before each analysis."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


_analyse = analyse


def analyse(project, inputs):
    _burn()
    return _analyse(project, inputs)
'''


def _workspace(root: Path, url: str, burn: int) -> Path:
    ws = init_workspace(root / "ws", archive_url=url)
    init = ws / "experimenter" / "__init__.py"
    init.write_text(init.read_text() + _BURN.format(n=burn))
    return ws


async def _rate(ws: Path, url: str, executor: str, workers: int, experiments: int) -> dict[str, float]:
    """Warm the workers up (one experiment each), then time ``experiments`` more."""
    fleet = make_fleet(FleetSpec(workspace=ws, data_dir=ws / "data", config=load_config(ws).pipeline,
                                 workers=workers, executor=executor))
    planned = [p for p in plan_projects(["stellar_evolution"], 4 * (experiments + workers), 5)
               if p.kind != "leavitt_law"]        # some of its planned cuts fail by design: keep the load even
    projects = [{"project": p.model_dump(mode="json"), "archive_url": url} for p in planned[:experiments + workers]]
    await fleet.start()
    try:
        warm = await asyncio.gather(*(fleet.run(p) for p in projects[:workers]))
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(fleet.run(p) for p in projects[workers:]))
        wall = time.perf_counter() - started
        drain_ms = await _drain_round_trip(fleet) if executor == "ray" else None
    finally:
        await fleet.close()
    failed = sum(not o.success for o in [*warm, *outcomes])
    return {"experiments": experiments, "wall_s": round(wall, 3), "per_s": round(experiments / wall, 3),
            "median_experiment_s": round(statistics.median(o.duration for o in outcomes), 3), "failed": failed,
            **({"drain_round_trip_ms": drain_ms} if drain_ms is not None else {})}


async def _drain_round_trip(fleet) -> float:  # noqa: ANN001  (a RayFleet)
    """Milliseconds of one empty event drain of an idle actor (the head's per-poll cost)."""
    actor = next(s.actor for s in fleet._slots if s.actor is not None)
    started = time.perf_counter()
    for _ in range(100):
        await actor.drain.remote()
    return round((time.perf_counter() - started) * 10, 3)


def _ship_cost(ws: Path) -> dict[str, float]:
    """The head's cost to append shipped events (µs per event), from the log the runs wrote."""
    from astroagent.orchestration.ray_executor import RayFleet

    logs = sorted((ws / "data" / "logs" / "experimenter").glob("execution_*.jsonl"))
    data = b"".join(p.read_bytes() for p in logs)
    lines = data.count(b"\n")
    executions = data.count(b'"execution_start"')
    fleet = RayFleet.__new__(RayFleet)
    fleet._log_dir = ws / "data" / "ship_bench"
    batch = [(logs[-1].name, data)]
    started = time.perf_counter()
    for _ in range(20):
        fleet._ship(batch)
    per_event = (time.perf_counter() - started) / (20 * lines)
    return {"events": lines, "events_per_experiment": round(lines / max(executions, 1), 1),
            "bytes_per_event": round(len(data) / lines), "head_append_us_per_event": round(per_event * 1e6, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=16)
    parser.add_argument("--burn", type=int, default=4_000_000, help="loop iterations of CPU work per experiment")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    archive = ArchiveServer(ArchiveConfig())
    url = archive.start()
    results: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [("local", 1), ("local", 2)] + ([] if args.no_ray else [("ray", 2)])
            for executor, workers in runs:
                ws = _workspace(Path(tmp) / f"{executor}{workers}", url, args.burn)
                results[f"{executor}_{workers}"] = asyncio.run(_rate(ws, url, executor, workers, args.experiments))
                if executor == "ray":
                    results["shipping"] = _ship_cost(ws)
    finally:
        archive.stop()
    one = results["local_1"]["per_s"]                     # type: ignore[index]
    for key in [k for k in results if k.startswith(("local_2", "ray_"))]:
        results[key]["speedup_vs_local_1"] = round(results[key]["per_s"] / one, 2)   # type: ignore[index]
    results["load_average_1min"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        for key, value in results.items():
            print(f"{key:10s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
