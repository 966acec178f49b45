"""Benchmark: reading OpenTelemetry spans vs. the JSONL contract, on the same executions.

    python benchmarks/bench_otel.py [--executions 20000] [--repeat 3] [--engine python|duckdb|auto]

Generates N executions (a root span and three children: ``load``, ``fetch`` and, inside it,
``connect``, which fails one time in five and fails its execution) four ways: the contract as
``@instrument`` writes it, OTLP/JSON with one export request a span (the SDK's
SimpleSpanProcessor), OTLP/JSON batched 512 spans a request (BatchSpanProcessor), and the Python
SDK's console output. Each is analysed whole (``run_analysis`` from an empty state; the OTLP
folders are translated first), the fastest of ``--repeat`` runs kept, and the answers must agree.
Prints one JSON object: seconds, contract events per second, spans per second, translation share.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analyze import run_analysis
from astroagent.labtech.analysis.otel_source import translate

STACK = ('Traceback (most recent call last):\n  File "/srv/spectra/net.py", line 9, in connect\n'
         '    raise ConnectionError(msg)\nConnectionError: connection reset by the archive\n')


def _executions(n: int, seed: int = 7):
    """Per execution: trace id, root span id, start (s), and its calls (name, span id, parent, start, end, failed)."""
    rng = random.Random(seed)
    t0 = datetime.now(UTC).timestamp() - 3600
    for i in range(n):
        start = t0 + i * 0.1
        trace, root = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"
        fetch, load, connect = (f"{rng.getrandbits(64):016x}" for _ in range(3))
        failed = rng.random() < 0.2
        calls = [("load", load, root, start + 0.001, start + 0.004, False),
                 ("connect", connect, fetch, start + 0.005, start + 0.02, failed),
                 ("fetch", fetch, root, start + 0.0045, start + 0.021, failed)]
        yield trace, root, start, start + 0.03, calls, failed


def _kv(attrs: dict) -> list:
    return [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]


def _exception_attrs() -> dict:
    return {"exception.type": "ConnectionError", "exception.message": "connection reset by the archive",
            "exception.stacktrace": STACK, "exception.escaped": "False"}


def _otlp_span(trace, span, parent, name, start, end, failed) -> dict:
    out = {"traceId": trace, "spanId": span, "name": name, "kind": 1, "startTimeUnixNano": str(int(start * 1e9)),
           "endTimeUnixNano": str(int(end * 1e9)), "status": {}}
    if parent:
        out["parentSpanId"] = parent
    if failed:
        out["events"] = [{"timeUnixNano": str(int(end * 1e9)), "name": "exception", "attributes": _kv(_exception_attrs())}]
        out["status"] = {"message": "ConnectionError: connection reset by the archive", "code": 2}
    return out


def _spans(n: int):
    """Every span in export order (children end first)."""
    for trace, root, start, end, calls, failed in _executions(n):
        for name, span, parent, s, e, f in calls:
            yield trace, span, parent, name, s, e, f
        yield trace, root, None, "survey", start, end, failed


def write_contract(folder: Path, n: int) -> None:
    def stamp(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")

    with open(folder / "execution_bench.jsonl", "wb") as fh:
        for trace, _root, start, end, calls, failed in _executions(n):
            lines = [{"timestamp": stamp(start), "execution_id": trace, "event_type": "execution_start",
                      "event_data": {"code_version": "v1", "agent": "bench"}}]
            for name, _s, _p, s, e, f in sorted(calls, key=lambda c: c[4]):
                data = {"method": name, "duration": e - s}
                if f:
                    data.update(error_type="ConnectionError", error="ConnectionError: connection reset by the archive",
                                traceback=STACK)
                else:
                    data["success"] = True
                lines.append({"timestamp": stamp(e), "execution_id": trace,
                              "event_type": "method_failed" if f else "method_complete", "event_data": data})
            done = {"success": not failed, "duration": end - start}
            if failed:
                done.update(failure_type="ConnectionError", failure="ConnectionError: connection reset by the archive")
            lines.append({"timestamp": stamp(end), "execution_id": trace, "event_type": "execution_complete",
                          "event_data": done})
            fh.write(b"".join(orjson.dumps(x) + b"\n" for x in lines))


def write_otlp(folder: Path, n: int, batch: int) -> None:
    resource = {"attributes": _kv({"service.name": "bench", "service.version": "v1"})}
    with open(folder / "spans.jsonl", "wb") as fh:
        chunk: list = []
        for span in _spans(n):
            chunk.append(_otlp_span(*span))
            if len(chunk) == batch:
                fh.write(orjson.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [
                    {"scope": {"name": "bench"}, "spans": chunk}]}]}) + b"\n")
                chunk = []
        if chunk:
            fh.write(orjson.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [
                {"scope": {"name": "bench"}, "spans": chunk}]}]}) + b"\n")


def write_console(folder: Path, n: int) -> None:
    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    resource = {"attributes": {"service.name": "bench", "service.version": "v1"}, "schema_url": ""}
    with open(folder / "console.log", "w", encoding="utf-8") as fh:
        for trace, span, parent, name, s, e, f in _spans(n):
            obj = {"name": name, "context": {"trace_id": f"0x{trace}", "span_id": f"0x{span}", "trace_state": "[]"},
                   "kind": "SpanKind.INTERNAL", "parent_id": f"0x{parent}" if parent else None,
                   "start_time": iso(s), "end_time": iso(e),
                   "status": {"status_code": "ERROR", "description": "ConnectionError: connection reset by the archive"}
                   if f else {"status_code": "UNSET"}, "attributes": {},
                   "events": [{"name": "exception", "timestamp": iso(e), "attributes": _exception_attrs()}] if f else [],
                   "links": [], "resource": resource}
            fh.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode().replace("\n  ", "\n    ") + "\n")


def _time(folder: Path, log_format: str, engine: str, repeat: int) -> tuple[float, float, dict]:
    best, best_translate, answer = float("inf"), 0.0, {}
    for _ in range(repeat):
        state = Path(tempfile.mkdtemp(prefix="bench-otel-state-"))
        try:
            t = time.perf_counter()
            if log_format == "otel":   # the translation alone, then a whole analysis from a fresh state
                translate(folder, state / "t", now_ts=time.time(), timeout=900)
            t_translate = time.perf_counter() - t
            t = time.perf_counter()
            a = run_analysis(LabTechnicianConfig(ingest_engine=engine), folder, state / "a", log_format=log_format)
            elapsed = time.perf_counter() - t
        finally:
            shutil.rmtree(state, ignore_errors=True)
        if elapsed < best:
            best, best_translate = elapsed, t_translate
        answer = {"executions": a.executions.total, "failed": a.executions.failed, "events": a.log_entries_analyzed,
                  "malformed": a.malformed_lines,
                  "patterns": sorted((p.method, p.error_type, p.count) for p in a.error_patterns)}
    return best, best_translate, answer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--executions", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", default="python", choices=("python", "duckdb", "auto"))
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-otel-"))
    forms = {"contract": (write_contract, "contract"), "otlp_per_span": (lambda f, n: write_otlp(f, n, 1), "otel"),
             "otlp_batched_512": (lambda f, n: write_otlp(f, n, 512), "otel"), "console": (write_console, "otel")}
    out: dict = {"executions": args.executions, "spans": 4 * args.executions, "engine": args.engine,
                 "load_average": os.getloadavg(), "results": {}}
    try:
        answers = {}
        for name, (write, log_format) in forms.items():
            folder = root / name
            folder.mkdir()
            write(folder, args.executions)
            size = sum(p.stat().st_size for p in folder.iterdir())
            seconds, translate_s, answers[name] = _time(folder, log_format, args.engine, args.repeat)
            events = answers[name]["events"]
            out["results"][name] = {"bytes": size, "seconds": round(seconds, 3), "events": events,
                                    "events_per_s": round(events / seconds), "spans_per_s": round(4 * args.executions / seconds),
                                    "translation_alone_s": round(translate_s, 3) if log_format == "otel" else None}
        reference = answers["contract"]
        out["agree"] = {name: answer == reference for name, answer in answers.items()}
        out["answer"] = reference
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["load_average_after"] = os.getloadavg()
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if all(out["agree"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
