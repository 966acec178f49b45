"""Benchmark: full-window Lab Technician analysis vs. a plain orjson counting loop, as whole processes.

    python benchmarks/bench_ingest.py [--events 1000000] [--logs DIR] [--repeat 3] [--memory DIR ...]

Both sides run as fresh processes over the same logs (``gen_logs.py`` makes them when the
folder is empty). The baseline only counts executions, failures and error events; ours
runs ``run_analysis`` (ingest + analytics + opportunities, report writing excluded) from an
empty state and must report exactly the same counts. Then, with the state in place, a run
with no new events is timed in-process (and as a whole process). ``--memory`` runs ours once
more over each further folder (e.g. 0.5 M and 2 M events) for peak RSS. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BASELINE = r'''
import glob, sys, orjson
ex = fa = er = bad = 0
for p in sorted(glob.glob(sys.argv[1] + "/execution_*.jsonl")):
    with open(p, "rb") as f:
        for line in f:
            try:
                ev = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad += 1
                continue
            et = ev.get("event_type", "")
            d = ev.get("event_data") or {}
            if et == "execution_start":
                ex += 1
            elif et == "execution_complete" and d.get("success") is False:
                fa += 1
            if et.endswith(("_failed", "_error")) or "error_type" in d or "error" in d:
                er += 1
print(orjson.dumps({"executions": ex, "failed": fa, "errors": er, "malformed": bad}).decode())
'''

OURS = r'''
import sys, orjson
from datetime import UTC, datetime
from pathlib import Path
from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analyze import run_analysis
a = run_analysis(LabTechnicianConfig(ingest_engine=sys.argv[3]), Path(sys.argv[1]), Path(sys.argv[2]),
                 window_hours=float(sys.argv[4]))
errors = sum(p.count for p in a.error_patterns if p.error_type != "ExecutionNotClosed")
print(orjson.dumps({"executions": a.executions.total, "failed": a.executions.failed, "errors": errors,
                    "malformed": a.malformed_lines, "engines": a.trend["ingest"]["engines"]}).decode())
'''


def _run(args: list[str]) -> tuple[float, float, int, dict]:
    """Wall seconds, CPU seconds, peak RSS (MB) and the JSON the child printed."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:3]} failed: {err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss / 1024), orjson.loads(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "astroagent-bench-logs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", default="auto", choices=("auto", "duckdb", "python"))
    parser.add_argument("--memory", type=Path, nargs="*", default=[], help="more log folders: peak RSS of ours")
    args = parser.parse_args(argv)
    logs: Path = args.logs
    if not any(logs.glob("execution_*.jsonl")):
        from gen_logs import generate

        print(f"generating {args.events} events in {logs} ...", file=sys.stderr)
        generate(logs, args.events)
    size_mb = sum(p.stat().st_size for p in logs.glob("execution_*.jsonl")) / 1e6
    window = "100000"
    base, ours = [], []
    for _ in range(args.repeat):        # interleaved, so background load hits both alike
        base.append(_run([sys.executable, "-c", BASELINE, str(logs)]))
        with tempfile.TemporaryDirectory() as state:
            ours.append(_run([sys.executable, "-c", OURS, str(logs), state, args.engine, window]))
    b_counts = {k: base[0][3][k] for k in ("executions", "failed", "errors")}
    o_counts = {k: ours[0][3][k] for k in ("executions", "failed", "errors")}
    events = sum(1 for p in logs.glob("execution_*.jsonl") for _ in open(p, "rb"))
    best_b, best_o = min(r[0] for r in base), min(r[0] for r in ours)
    result = {
        "events": events, "megabytes": round(size_mb, 1), "cpus": os.cpu_count(),
        "baseline": {"wall_s": [round(r[0], 3) for r in base], "cpu_s": [round(r[1], 3) for r in base],
                     "peak_rss_mb": max(r[2] for r in base), "events_per_s": round(events / best_b)},
        "ours": {"wall_s": [round(r[0], 3) for r in ours], "cpu_s": [round(r[1], 3) for r in ours],
                 "peak_rss_mb": max(r[2] for r in ours), "events_per_s": round(events / best_o),
                 "engines": ours[0][3]["engines"]},
        "speedup_best": round(best_b / best_o, 2),
        "speedup_median": round(statistics.median(r[0] for r in base) / statistics.median(r[0] for r in ours), 2),
        "counts_equal": b_counts == o_counts, "counts": o_counts,
    }
    result["no_new_events"] = _no_new_events(logs, window, args.engine)
    result["memory"] = {}
    for folder in args.memory:
        with tempfile.TemporaryDirectory() as state:
            wall, cpu, rss, out = _run([sys.executable, "-c", OURS, str(folder), state, args.engine, window])
        n = sum(1 for p in folder.glob("execution_*.jsonl") for _ in open(p, "rb"))
        result["memory"][str(folder)] = {"events": n, "peak_rss_mb": rss, "wall_s": round(wall, 3),
                                         "cpu_s": round(cpu, 3), "executions": out["executions"]}
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0 if result["counts_equal"] else 1


def _no_new_events(logs: Path, window: str, engine: str) -> dict:
    """With the state of a full run in place: run_analysis in-process, and the whole process."""
    from astroagent.config.models import LabTechnicianConfig
    from astroagent.labtech.analysis.analyze import run_analysis

    with tempfile.TemporaryDirectory() as state:
        config = LabTechnicianConfig(ingest_engine=engine)
        run_analysis(config, logs, Path(state), window_hours=float(window))
        times = []
        for _ in range(7):
            start = time.perf_counter()
            run_analysis(config, logs, Path(state), window_hours=float(window))
            times.append(time.perf_counter() - start)
        day = []
        for _ in range(7):
            start = time.perf_counter()
            run_analysis(config, logs, Path(state), window_hours=24.0)
            day.append(time.perf_counter() - start)
        proc = [_run([sys.executable, "-c", OURS, str(logs), state, engine, window])[0] for _ in range(3)]
        state_kb = sum(p.stat().st_size for p in Path(state).rglob("*") if p.is_file()) // 1024   # with state/
    return {"in_process_ms_median": round(1000 * statistics.median(times), 1),
            "in_process_ms_min": round(1000 * min(times), 1),
            "in_process_24h_window_ms_median": round(1000 * statistics.median(day), 1),
            "whole_process_s_min": round(min(proc), 3), "state_kb": state_kb}


if __name__ == "__main__":
    raise SystemExit(main())
