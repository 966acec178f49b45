from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from astroagent.telemetry import (
    EventWriter,
    Telemetry,
    args_digest,
    code_version,
    instrument,
    merge_metrics,
    package_code_version,
)


def _events(folder: Path) -> list[dict]:
    lines = []
    for path in sorted(folder.glob("execution_*.jsonl")):
        lines.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return lines


def test_execution_and_spans_write_the_log_contract(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "calc.py").write_text(textwrap.dedent("""
        from astroagent.telemetry import instrument

        @instrument(digest_args=True)
        def ratio(a, b):
            return a / b
    """))
    sys.path.insert(0, str(code))
    try:
        import calc  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(code))
    tel = Telemetry("experimenter", tmp_path / "data", code_roots=[code], location_base=tmp_path)
    with tel.execution(code_version="v1", project="p1") as run:
        assert calc.ratio(1, 2) == 0.5
        with pytest.raises(ZeroDivisionError):
            calc.ratio(1, 0)
        with run.span("write_results"):
            pass
    with pytest.raises(ZeroDivisionError), tel.execution(code_version="v1"):
        calc.ratio(3, 0)
    events = _events(tmp_path / "data" / "logs" / "experimenter")
    kinds = [e["event_type"] for e in events]
    assert kinds == ["execution_start", "method_complete", "method_failed", "method_complete",
                     "execution_complete", "execution_start", "method_failed", "execution_complete"]
    assert all(e["timestamp"].endswith("Z") for e in events)
    start = events[0]["event_data"]
    assert start["code_version"] == "v1" and start["project"] == "p1"
    failed = events[2]["event_data"]
    assert failed["method"] == "ratio"
    assert failed["error_type"] == "ZeroDivisionError"
    assert failed["error"] == "ZeroDivisionError: division by zero"
    assert failed["location"] == {"file": "code/calc.py", "function": "ratio", "line": 6}
    assert "Traceback" in failed["traceback"]
    assert events[1]["event_data"]["args_digest"] == args_digest(1, 2)
    assert failed["args_digest"] == args_digest(1, 0)
    assert events[4]["event_data"]["success"] is True
    closing = events[7]["event_data"]
    assert closing["success"] is False and closing["failure_type"] == "ZeroDivisionError"
    # the span logged the error; the execution does not log it a second time
    assert kinds.count("execution_error") == 0


def test_unlogged_exception_becomes_execution_error(tmp_path: Path) -> None:
    tel = Telemetry("x", tmp_path)
    with pytest.raises(KeyError), tel.execution():
        {}["missing"]
    events = _events(tmp_path / "logs" / "x")
    assert [e["event_type"] for e in events] == ["execution_start", "execution_error", "execution_complete"]
    assert events[1]["event_data"]["error_type"] == "KeyError"


def test_instrument_is_transparent_without_an_execution(tmp_path: Path) -> None:
    @instrument
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
    assert double.__name__ == "double"
    assert not (tmp_path / "logs").exists()


def test_fail_marks_the_execution_failed_without_raising(tmp_path: Path) -> None:
    tel = Telemetry("x", tmp_path)
    with tel.execution() as run:
        run.fail("result out of range", "ResultValidationError")
    closing = _events(tmp_path / "logs" / "x")[-1]["event_data"]
    assert closing == {**closing, "success": False, "failure_type": "ResultValidationError"}


def test_oversized_event_is_still_one_valid_line(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.write("e1", "method_failed", {"error": "x" * 1_000_000, "blob": list(range(100_000))})
    (line,) = (tmp_path / next(p.name for p in tmp_path.iterdir())).read_bytes().splitlines()
    event = orjson.loads(line)
    assert event["event_data"]["truncated"] is True
    assert len(line) < 64_000


def test_daily_file_follows_the_utc_date_of_the_event(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.write("e", "a", timestamp=datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
    writer.write("e", "b", timestamp=datetime(2026, 1, 2, 0, 1, tzinfo=UTC))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["execution_20260101.jsonl", "execution_20260102.jsonl"]


def test_real_clock_stamps_are_the_text_orjson_writes_and_pick_the_day_file(tmp_path: Path, monkeypatch) -> None:
    """The stamp formatted from time_ns (a cached second, table microseconds) is exactly the
    datetime's text, a whole second included, and a new UTC day opens a new file."""
    from astroagent.telemetry import writer as writer_module

    instants = [datetime(2026, 1, 1, 23, 59, 59, 999_999, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
                datetime(2026, 1, 2, 0, 0, 0, 1, tzinfo=UTC), datetime(2026, 1, 2, 0, 0, 0, 1000, tzinfo=UTC),
                datetime(2026, 1, 2, 0, 0, 0, 765_370, tzinfo=UTC), datetime(2026, 1, 2, 0, 0, 1, tzinfo=UTC)]
    clock = iter([int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000 + 999 for t in instants])
    monkeypatch.setattr(writer_module, "_time_ns", lambda: next(clock))
    writer = EventWriter(tmp_path)
    for _ in instants:
        writer.write("e", "tick", {"n": 1})
    stamps = [e["timestamp"] for e in _events(tmp_path)]
    assert stamps == [orjson.dumps(t, option=orjson.OPT_UTC_Z).decode().strip('"') for t in instants]
    assert stamps[1] == "2026-01-02T00:00:00Z"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["execution_20260101.jsonl", "execution_20260102.jsonl"]


_WRITER = """
import sys
from astroagent.telemetry import Telemetry
tel = Telemetry("load", sys.argv[1])
tag = sys.argv[2]
for i in range(int(sys.argv[3])):
    with tel.execution(code_version=tag) as run:
        with run.span("work", args_digest=str(i % 7)):
            run.event("note", text=tag * (i % 300), i=i)
"""


def test_concurrent_writers_produce_only_whole_lines_and_merged_metrics(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    n, writers = 300, 4
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), f"w{k}", str(n)])
             for k in range(writers)]
    assert [p.wait(timeout=120) for p in procs] == [0] * writers
    log_dir = tmp_path / "logs" / "load"
    raw = b"".join(p.read_bytes() for p in log_dir.glob("execution_*.jsonl"))
    assert raw.endswith(b"\n")
    events = [orjson.loads(line) for line in raw.splitlines()]  # raises on any torn line
    assert len(events) == writers * n * 4
    for k in range(writers):
        notes = [e for e in events if e["event_type"] == "note" and e["event_data"]["text"][:2] == f"w{k}"]
        assert sorted(e["event_data"]["i"] for e in notes) == [i for i in range(n) if i % 300]
    (metrics_file,) = log_dir.glob("performance_metrics_*.json")
    metrics = orjson.loads(metrics_file.read_bytes())
    assert metrics["error_counts"]["work"] == {"success": writers * n, "error": 0}
    assert metrics["success_rates"]["work"] == 1.0
    assert len(metrics["method_execution_times"]["work"]) == writers * n
    assert metrics["resource_usage"]["executions"] == writers * n
    assert not list(log_dir.glob("*.tmp"))


def test_merge_survives_a_broken_metrics_file() -> None:
    delta = {"method_execution_times": {"m": [1.0]}, "error_counts": {"m": {"success": 0, "error": 1}}}
    for existing in (None, [], "garbage", {"error_counts": {"m": "x"}, "method_execution_times": {"m": ["a"]}}):
        merged = merge_metrics(existing, delta)
        assert merged["success_rates"] == {"m": 0.0}
        assert merged["method_execution_times"]["m"] == [1.0]


def test_code_version_changes_with_the_code(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    first = package_code_version(pkg)
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    assert package_code_version(pkg) == first
    (pkg / "a.py").write_text("x = 2\n")
    assert package_code_version(pkg) != first
    assert len(first) == 12
    assert code_version([pkg / "a.py"], root=tmp_path) == code_version([pkg / "a.py"], root=tmp_path)


def test_args_digest_is_stable_and_distinguishes_arguments() -> None:
    assert args_digest(1, "a", k=2) == args_digest(1, "a", k=2)
    assert args_digest(1, "a", k=2) != args_digest(1, "a", k=3)
    assert args_digest(object()) != ""  # unserialisable arguments fall back to repr
    # the same digests as every earlier release wrote (logs of older code versions stay comparable)
    assert args_digest(1, "a", k=2) == "08fd3d609cfab64d"
    assert args_digest() == "450def80253df014"
    assert args_digest(1.5, None, True, b"x", "é", k=[1, 2], j={"a": 1}) == "a547d012db2e2208"


def test_arguments_json_cannot_hold_still_digest_and_never_fail_the_call(tmp_path: Path) -> None:
    big, deep, cyclic = 2 ** 70, [], []
    node = deep
    for _ in range(300):            # deeper than orjson writes
        node.append([])
        node = node[0]
    cyclic.append(cyclic)
    assert args_digest(big) == args_digest(2 ** 70) != args_digest(2 ** 70 + 1)
    assert len(args_digest(deep)) == 16 and len(args_digest(cyclic)) == 16

    @instrument(digest_args=True)
    def double(x):
        return 2 * x

    tel = Telemetry("experimenter", tmp_path / "data")
    with tel.execution(code_version="v1"):
        assert double(big) == 2 ** 71          # the call returns as without the decorator
    [complete] = [e for e in _events(tmp_path / "data" / "logs" / "experimenter")
                  if e["event_type"] == "method_complete"]
    assert complete["event_data"]["args_digest"] == args_digest(big)
