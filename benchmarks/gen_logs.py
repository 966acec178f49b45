"""Generate a realistic execution-log history for the ingest benchmark.

    python benchmarks/gen_logs.py OUT_DIR [--events 1000000] [--days 7] [--seed 1]

Writes ``OUT_DIR/execution_YYYYMMDD.jsonl`` (one file per UTC day) in the log contract:
mostly our telemetry's style (execution_start / method_complete / method_failed /
execution_complete), with a share of the seed's style (``data_fetch_failed`` with ``error``,
``<stage>_success`` with ``<x>_time``). Clean data only, so a naive counting loop and the
real analysis must agree exactly. Prints the expected counts as JSON.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

__all__ = ["generate"]

_METHODS = ("fetch_dataset", "clean_light_curve", "bls_search", "fit_transit", "summarise")
_VERSIONS = ("a1b2c3d4e5f6", "0f9e8d7c6b5a")
_TRANSIENT = (
    ("ConnectionError", "HTTPConnectionPool(host='127.0.0.1', port={port}): Max retries exceeded with url: /data/{name}.csv"),
    ("TimeoutError", "timed out after {n} seconds reading /data/{name}.csv"),
    ("HTTPError", "HTTP Error 503: Service Unavailable for request {hex}"),
)
_DETERMINISTIC = (("ZeroDivisionError", "float division by zero"), ("KeyError", "'{name}'"))
_TB = ('Traceback (most recent call last):\n  File "/ws/experimenter/fetch.py", line {line}, in fetch_dataset\n'
       '    raise {etype}(msg)\n{etype}: {msg}\n')


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def generate(out: Path, events: int = 1_000_000, days: float = 7.0, seed: int = 1,
             end: datetime | None = None) -> dict[str, int]:
    """Write about ``events`` events spread over ``days`` ending at ``end``; returns true counts."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    per_exec = 7.74
    n_exec = max(1, int(events / per_exec))
    step = (end - start) / n_exec
    counts = {"events": 0, "executions": 0, "failed": 0, "errors": 0}
    handles: dict[str, object] = {}
    try:
        t = start
        for i in range(n_exec):
            t = start + step * i
            day = t.strftime("%Y%m%d")
            fh = handles.get(day)
            if fh is None:
                for old in handles.values():
                    old.close()  # type: ignore[attr-defined]
                handles.clear()
                fh = handles[day] = open(out / f"execution_{day}.jsonl", "ab")
            lines = _execution(rng, i, t, counts)
            fh.write(b"".join(lines))  # type: ignore[attr-defined]
    finally:
        for fh in handles.values():
            fh.close()  # type: ignore[attr-defined]
    return counts


def _execution(rng: random.Random, i: int, t: datetime, counts: dict[str, int]) -> list[bytes]:
    eid = f"{rng.getrandbits(64):016x}{i:08x}"
    version = _VERSIONS[0] if i % 3 else _VERSIONS[1]
    seed_style = i % 10 == 0
    out: list[dict] = []
    clock = t

    def emit(event_type: str, data: dict) -> None:
        nonlocal clock
        clock += timedelta(milliseconds=rng.randint(5, 400))
        out.append({"timestamp": _stamp(clock), "execution_id": eid, "event_type": event_type, "event_data": data})

    emit("execution_start", {"agent": "experimenter", "code_version": version, "pid": 4242,
                             "research_area": rng.choice(("exoplanets", "stellar_evolution"))})
    failed = False
    if seed_style:
        if rng.random() < 0.2:
            port = rng.choice((8080, 8081, 9000))
            emit("data_fetch_failed", {"error": f"ConnectionError: Failed to connect to archive.example.org:{port}",
                                      "error_type": "ConnectionError", "fetch_time": round(rng.uniform(5, 30), 3)})
            counts["errors"] += 1
            failed = True
        else:
            emit("data_fetch_success", {"fetch_time": round(rng.uniform(0.2, 3), 3), "records": rng.randint(10, 9999)})
            for stage in ("processing", "analysis"):
                emit(f"{stage}_success", {f"{stage}_time": round(rng.uniform(0.1, 4), 3)})
        for _ in range(4):
            emit("progress", {"step": rng.randint(1, 100), "note": "still working"})
    else:
        for method in _METHODS:
            name = f"kplr{rng.randint(1, 40):09d}"
            digest = f"{_METHODS.index(method) * 1_000_003 + int(name[4:]):016x}"
            roll = rng.random()
            if method == "fetch_dataset" and roll < 0.08:
                etype, tmpl = rng.choice(_TRANSIENT)
                msg = tmpl.format(port=rng.randint(40000, 60000), name=name, n=rng.randint(5, 30),
                                  hex=f"{rng.getrandbits(48):012x}")
            elif method == "fit_transit" and roll < 0.04:
                etype, tmpl = rng.choice(_DETERMINISTIC)
                msg = tmpl.format(name=name)
            else:
                emit("method_complete", {"method": method, "duration": round(rng.lognormvariate(-1, 1), 6),
                                         "success": True, "args_digest": digest})
                continue
            emit("method_failed", {"method": method, "duration": round(rng.uniform(0.01, 10), 6),
                                   "error_type": etype, "error": f"{etype}: {msg}",
                                   "location": {"file": "experimenter/fetch.py", "function": method,
                                                "line": 40 + _METHODS.index(method)},
                                   "traceback": _TB.format(line=40, etype=etype, msg=msg), "args_digest": digest})
            counts["errors"] += 1
            failed = True
            break
        emit("result_saved", {"path": f"data/projects/p{i}/result.json", "bytes": rng.randint(100, 99999)})
    data: dict = {"success": not failed, "duration": round(rng.uniform(1, 30), 4)}
    if failed:
        data.update(failure_type="ExecutionFailed", failure="a step failed")
    emit("execution_complete", data)
    counts["executions"] += 1
    counts["failed"] += failed
    counts["events"] += len(out)
    return [orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in out]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    counts = generate(args.out, args.events, args.days, args.seed)
    sys.stdout.write(orjson.dumps(counts).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
