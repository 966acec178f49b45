"""Ingest: the log contract in both styles, tolerance, incremental checkpoints, both engines."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from astroagent.labtech.analysis import _duck
from astroagent.labtech.analysis.analytics import summarize, window_keys
from astroagent.labtech.analysis.ingest import STATE_FILE, ingest
from astroagent.paths import lab_technician_state_dir
from astroagent.telemetry import Telemetry

SEED = Path(__file__).parent / "data" / "seed_logs"
MESSY = Path(__file__).parent / "data" / "messy_logs"
NOW = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
T0 = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)


def line(ts: datetime | str, eid: str | None, et: str, data: dict | None = None) -> bytes:
    stamp = ts if isinstance(ts, str) else ts.isoformat()
    return orjson.dumps({"timestamp": stamp, "execution_id": eid, "event_type": et, "event_data": data or {}}) + b"\n"


def run(eid: str, t: datetime, *, ok: bool = True, version: str = "v1") -> bytes:
    out = line(t, eid, "execution_start", {"code_version": version})
    out += line(t + timedelta(seconds=1), eid, "method_complete", {"method": "fetch", "duration": 0.5, "success": True})
    if not ok:
        out += line(t + timedelta(seconds=2), eid, "method_failed",
                    {"method": "fit", "duration": 0.1, "error_type": "KeyError", "error": "KeyError: 'x'"})
    out += line(t + timedelta(seconds=3), eid, "execution_complete", {"success": ok, "duration": 3.0})
    return out


def totals(state: dict, now: datetime = NOW, window: float = 24.0):
    hours = state["hours"]
    return summarize((k, hours[k]) for k in window_keys(hours, now.timestamp(), window))


def test_seed_style_logs_are_understood(tmp_path: Path) -> None:
    result = ingest(SEED, tmp_path, now=NOW)
    stats = totals(result.state)
    assert (stats.executions.total, stats.executions.failed) == (20, 5)
    assert stats.methods["data_fetch"].calls == 20 and stats.methods["data_fetch"].errors == 5
    assert stats.methods["analysis"].mean > 0  # from analysis_time on analysis_success
    [pattern] = stats.patterns
    assert pattern.error_type == "ConnectionError" and pattern.method == "data_fetch"
    assert pattern.template == "Failed to connect to <host> after <n> attempts" and pattern.transient


def test_our_telemetry_is_understood_and_execution_errors_count_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tel = Telemetry("experimenter", data)
    for i in range(3):
        with tel.execution(code_version="abc") as exe:
            with exe.span("fetch", args_digest="d1"):
                pass
    with pytest.raises(ZeroDivisionError):
        with tel.execution(code_version="abc") as exe:
            with exe.span("fit"):
                1 / 0
    with pytest.raises(ValueError):
        with tel.execution(code_version="abc"):
            raise ValueError("bad input 42")
    with tel.execution(code_version="abc") as exe:
        exe.fail("result did not validate")
    tel.close()
    log_dir = data / "logs" / "experimenter"
    result = ingest(log_dir, tmp_path / "state", now=datetime.now(UTC))
    stats = totals(result.state, datetime.now(UTC))
    assert (stats.executions.total, stats.executions.failed) == (6, 3)
    by_type = {p.error_type: p for p in stats.patterns}
    assert by_type["ZeroDivisionError"].count == 1 and by_type["ZeroDivisionError"].method == "fit"
    assert by_type["ValueError"].method == "execution" and by_type["ValueError"].template == "bad input <n>"
    assert by_type["ZeroDivisionError"].location is not None
    assert stats.per_version["abc"].executions == 6
    assert stats.methods["fetch"].calls == 3 and stats.methods["fetch"].repeated_args == pytest.approx(2 / 3)


def test_messy_folder_counts_bad_lines_and_never_crashes(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(MESSY, logs)
    (logs / "execution_20240116.jsonl").mkdir()          # a folder named like a log file
    (logs / "execution_20240117.jsonl").touch()           # empty
    huge = line(T0, "big", "progress", {"blob": "x" * (3 * 1024 * 1024)})
    (logs / "execution_20240118.jsonl").write_bytes(huge + b"{" + b"y" * (2 * 1024 * 1024) + b"\n")
    result = ingest(logs, tmp_path / "state", now=NOW)
    expected = orjson.loads((MESSY / "expected.json").read_bytes())
    stats = totals(result.state, NOW, 24 * 7)
    assert result.new_malformed == expected["malformed_lines"] + 1
    assert stats.executions.total == expected["executions"]
    assert stats.executions.failed == expected["failed"]
    assert any("not a regular file" in n for n in result.notes)
    assert any("performance_metrics_20240115.json" in n for n in result.notes)


def test_duplicated_closing_events_count_once_also_across_reads(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "execution_20240115.jsonl"
    log.parent.mkdir()
    complete = line(T0 + timedelta(seconds=5), "e1", "execution_complete", {"success": False})
    log.write_bytes(line(T0, "e1", "execution_start", {"code_version": "v"}) + complete + complete)
    ingest(log.parent, tmp_path / "s", now=NOW)
    with open(log, "ab") as fh:
        fh.write(complete)
    stats = totals(ingest(log.parent, tmp_path / "s", now=NOW).state)
    assert (stats.executions.total, stats.executions.failed) == (1, 1)


def test_unclosed_execution_is_a_failure_only_after_the_timeout(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "execution_20240115.jsonl"
    log.parent.mkdir()
    log.write_bytes(line(T0, "hung", "execution_start", {"code_version": "v"}))
    early = ingest(log.parent, tmp_path / "s", now=T0 + timedelta(minutes=5), execution_timeout=900)
    assert totals(early.state, T0 + timedelta(minutes=5)).executions.total == 0
    late = ingest(log.parent, tmp_path / "s", now=T0 + timedelta(minutes=20), execution_timeout=900)
    stats = totals(late.state, T0 + timedelta(minutes=20))
    assert (stats.executions.total, stats.executions.failed) == (1, 1)
    assert stats.patterns[0].error_type == "ExecutionNotClosed"


def test_incremental_reads_only_new_bytes_and_waits_for_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "execution_20240115.jsonl"
    SOON = T0 + timedelta(minutes=5)  # the open execution is not timed out yet
    log.parent.mkdir()
    first = run("a", T0) + run("b", T0 + timedelta(minutes=1), ok=False)
    log.write_bytes(first)
    r1 = ingest(log.parent, tmp_path / "s", now=SOON)
    assert r1.bytes_read == len(first)
    nothing = ingest(log.parent, tmp_path / "s", now=SOON)
    assert nothing.bytes_read == 0 and nothing.files_read == 0
    more = run("c", T0 + timedelta(minutes=2))
    with open(log, "ab") as fh:
        fh.write(more[:-20])                       # a writer mid-line
    r2 = ingest(log.parent, tmp_path / "s", now=SOON)
    assert r2.new_malformed == 0
    with open(log, "ab") as fh:
        fh.write(more[-20:])
    r3 = ingest(log.parent, tmp_path / "s", now=SOON)
    assert r2.bytes_read + r3.bytes_read == len(more)
    stats = totals(r3.state, SOON)
    assert (stats.executions.total, stats.executions.failed) == (3, 1)
    assert stats.events == 10
    assert stats.malformed == 0


def test_truncated_or_replaced_file_is_read_afresh(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "execution_20240115.jsonl"
    log.parent.mkdir()
    log.write_bytes(run("a", T0) + run("b", T0 + timedelta(minutes=1)))
    ingest(log.parent, tmp_path / "s", now=NOW)
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(run("z", T0 + timedelta(minutes=3), ok=False))
    os.replace(replacement, log)                  # rotated: a new, shorter file under the same name
    result = ingest(log.parent, tmp_path / "s", now=NOW)
    assert any("read afresh" in n for n in result.notes)
    stats = totals(result.state)
    assert (stats.executions.total, stats.executions.failed) == (3, 1)


def test_window_is_honoured_after_incremental_reads(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "execution_20240115.jsonl"
    log.parent.mkdir()
    log.write_bytes(run("old", NOW - timedelta(hours=30), ok=False))
    ingest(log.parent, tmp_path / "s", now=NOW)
    with open(log, "ab") as fh:
        fh.write(run("new", NOW - timedelta(hours=1)))
    state = ingest(log.parent, tmp_path / "s", now=NOW).state
    assert totals(state, NOW, 24).executions.total == 1
    assert totals(state, NOW, 48).executions.failed == 1
    assert (tmp_path / "s" / STATE_FILE).is_file()


def test_corrupt_state_file_starts_afresh(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / STATE_FILE).write_bytes(b"\x00not json")
    stats = totals(ingest(SEED, tmp_path / "s", now=NOW).state)
    assert stats.executions.total == 20


@pytest.mark.skipif(not _duck.available(), reason="duckdb not installed")
def test_duckdb_and_python_engines_agree(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(MESSY, logs)
    shutil.copy(SEED / "execution_20240115.jsonl", logs / "execution_20240114.jsonl")
    (logs / "execution_20240113.jsonl").write_bytes(   # a timing field nobody declared in advance
        line(T0, "c1", "execution_start") + line(T0, "c1", "crunch_success", {"crunch_time": 2.5})
        + line(T0, "c1", "execution_complete", {"success": True}))
    results = {}
    for engine in ("python", "duckdb"):
        r = ingest(logs, tmp_path / engine, now=NOW, engine=engine)
        assert r.engines.get(engine), r.notes
        s = totals(r.state, NOW, 24 * 7)
        results[engine] = (r.new_events, r.new_malformed, s.executions, s.avg_execution_time,
                           {m: (v.calls, v.errors, round(v.total, 6)) for m, v in s.methods.items()},
                           sorted((p.error_type, p.template, p.method, p.count, p.transient) for p in s.patterns),
                           {v: (x.executions, x.failed) for v, x in s.per_version.items()})
    assert results["python"] == results["duckdb"]
    assert results["duckdb"][4]["crunch"] == (1, 0, 2.5)


def test_lost_aggregates_mean_the_logs_are_read_again(tmp_path: Path) -> None:
    ingest(SEED, tmp_path, now=NOW)
    (lab_technician_state_dir(tmp_path) / "analysis_hours.json").unlink()
    again = ingest(SEED, tmp_path, now=NOW)
    assert again.bytes_read > 0 and totals(again.state).executions.total == 20


def test_a_run_with_nothing_new_reuses_the_last_analysis(tmp_path: Path) -> None:
    from astroagent.config.models import LabTechnicianConfig
    from astroagent.labtech.analysis.analyze import run_analysis

    logs = tmp_path / "logs"
    shutil.copytree(SEED, logs)
    first = run_analysis(LabTechnicianConfig(), logs, tmp_path / "s", now=NOW)
    second = run_analysis(LabTechnicianConfig(), logs, tmp_path / "s", now=NOW + timedelta(minutes=1))
    assert second.trend["ingest"]["bytes_read"] == 0 and second.executions == first.executions
    assert second.error_patterns == first.error_patterns and second.generated_at > first.generated_at
    with open(logs / "execution_20240115.jsonl", "ab") as fh:
        fh.write(run("late", NOW - timedelta(minutes=10), ok=False))
    third = run_analysis(LabTechnicianConfig(), logs, tmp_path / "s", now=NOW + timedelta(minutes=2))
    assert third.executions.total == 21 and third.executions.failed == 6


def _outage_calls(t: datetime, plan: list[tuple[int, bool]], step: float = 0.45) -> list[bytes]:
    """``fetch_cepheids`` called every ``step`` s: ``plan`` is (how many calls, whether they fail) in order."""
    out, i = [], 0
    for count, fail in plan:
        for _ in range(count):
            ts = t + timedelta(seconds=i * step)
            data = {"method": "fetch_cepheids", "duration": 0.2}
            if fail:
                data.update(error_type="ConnectionError", error="ConnectionError: archive:8080 refused")
            out.append(line(ts, "x1", "method_failed" if fail else "method_complete", data))
            i += 1
    return out


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_outages_shorter_than_a_minute_are_counted_call_by_call(tmp_path: Path, engine: str) -> None:
    if engine == "duckdb" and not _duck.available():
        pytest.skip("duckdb not installed")
    # down ~40 s at a time, straddling minute boundaries: every minute also holds successes
    t = T0 + timedelta(seconds=30)
    calls = _outage_calls(t, [(50, False), (87, True), (60, False), (93, True), (40, False), (5, True), (3, False)])
    logs = tmp_path / "logs"
    logs.mkdir()
    body = line(t - timedelta(seconds=1), "x1", "execution_start", {"code_version": "v1"}) + b"".join(calls)
    (logs / "execution_20240115.jsonl").write_bytes(body)
    r = ingest(logs, tmp_path / "s", now=NOW, engine=engine)
    assert r.engines.get(engine), r.notes
    stats = totals(r.state)
    assert stats.streaks["fetch_cepheids"] == 93
    n, first, last = stats.streak_spans["fetch_cepheids"]
    assert n == 93 and last - first == pytest.approx(92 * 0.45, abs=0.01)   # the outage lasted ~41 s


def test_a_failure_run_is_joined_across_incremental_reads(tmp_path: Path) -> None:
    t = T0 + timedelta(seconds=50)
    calls = _outage_calls(t, [(10, False), (87, True), (3, False)])
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "execution_20240115.jsonl"
    log.write_bytes(b"".join(calls[:40]))          # the read ends in the middle of the outage
    first = ingest(logs, tmp_path / "s", now=NOW, engine="python")
    assert first.state["streak"]["fetch_cepheids"][0] == 30
    with open(log, "ab") as fh:
        fh.write(b"".join(calls[40:]))
    second = ingest(logs, tmp_path / "s", now=NOW, engine="python")
    assert totals(second.state).streaks["fetch_cepheids"] == 87 and not second.state["streak"]


def test_an_error_read_in_two_runs_stays_one_pattern_with_its_traceback_location(tmp_path: Path) -> None:
    tb = ('Traceback (most recent call last):\n  File "/ws/experimenter/fetch.py", line 10, in fetch\n'
          '    x()\nConnectionResetError: reset')
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "execution_20240115.jsonl"

    def failures(first: int) -> bytes:
        return b"".join(line(T0 + timedelta(minutes=first + i), f"e{first + i}", "data_fetch_failed",
                             {"error": "ConnectionResetError: connection reset by peer", "traceback": tb})
                        for i in range(3))

    log.write_bytes(failures(0))
    ingest(logs, tmp_path / "state", now=NOW, engine="python")
    with open(log, "ab") as fh:
        fh.write(failures(10))           # the same error, same hour, read by the next run
    state = ingest(logs, tmp_path / "state", now=NOW, engine="python").state
    [pattern] = totals(state).patterns
    assert pattern.count == 6 and pattern.location is not None


OLD_RELEASE_STATE = Path(__file__).parent / "data" / "labtech_state_v2"   # written by the release before typed rows


def _with_old_release_state(tmp_path: Path) -> tuple[Path, Path]:
    """The messy logs and the state an earlier release left after analysing them: checkpoints,
    per-hour aggregates in the one-letter layout and the cached analysis, all beside each other."""
    logs, lab = tmp_path / "logs", tmp_path / "lab_technician"
    shutil.copytree(MESSY, logs)
    lab.mkdir()
    for item in OLD_RELEASE_STATE.iterdir():
        (lab / item.name).write_bytes(item.read_bytes().replace(b"<LOGS>", str(logs).encode()))
    state = orjson.loads((lab / STATE_FILE).read_bytes())
    size, mtime_ns = state["hours_stat"]   # the aggregates file as that release left it on disk
    assert (lab / "analysis_hours.json").stat().st_size == size
    os.utime(lab / "analysis_hours.json", ns=(mtime_ns, mtime_ns))
    return logs, lab


def test_state_written_by_the_previous_release_loads_without_reading_the_logs_again(tmp_path: Path) -> None:
    from astroagent.config.models import LabTechnicianConfig
    from astroagent.labtech.analysis.analyze import run_analysis

    logs, lab = _with_old_release_state(tmp_path)
    later = datetime(2024, 1, 16, 6, 0, tzinfo=UTC)
    resumed = run_analysis(LabTechnicianConfig(), logs, lab, window_hours=24 * 7, now=later)
    fresh = run_analysis(LabTechnicianConfig(), logs, tmp_path / "fresh", window_hours=24 * 7, now=later)
    assert resumed.trend["ingest"]["bytes_read"] == 0 and fresh.trend["ingest"]["bytes_read"] > 0
    assert (resumed.executions.total, resumed.executions.failed) == (3, 2)
    state_dir = lab_technician_state_dir(lab)   # moved beside nothing a results glob matches
    assert sorted(p.name for p in lab.iterdir()) == [STATE_FILE, "state"]
    assert (state_dir / "analysis_hours.json").read_bytes() == (OLD_RELEASE_STATE / "analysis_hours.json").read_bytes()
    for field in ("executions", "avg_execution_time", "error_patterns", "slow_methods", "methods", "per_version",
                  "opportunities", "malformed_lines", "log_entries_analyzed"):
        assert getattr(resumed, field) == getattr(fresh, field), field


def test_hour_rows_keep_the_previous_releases_layout_on_disk() -> None:
    from astroagent.labtech.analysis._hours import hours_from_doc, hours_to_doc

    doc = orjson.loads((OLD_RELEASE_STATE / "analysis_hours.json").read_bytes())
    rows = hours_from_doc(doc["hours"])
    [hour] = rows.values()
    assert (hour.events, hour.malformed) == (15, 11) and hour.versions["v2"].failures == 1
    assert hour.runs["data_fetch"][0] == 1
    assert orjson.dumps({"generation": doc["generation"], "hours": hours_to_doc(rows)}) == \
        (OLD_RELEASE_STATE / "analysis_hours.json").read_bytes()


def test_first_run_moves_the_internal_files_into_the_state_folder_and_keeps_the_newer_copy(tmp_path: Path) -> None:
    from astroagent.labtech.analysis._state_dir import migrate

    lab = tmp_path / "lab_technician"
    lab.mkdir()
    for name in ("analysis_hours.json", "analysis_cache.json", "static_cache.json"):
        (lab / name).write_bytes(name.encode())
    state_dir = lab_technician_state_dir(lab)
    state_dir.mkdir()
    (state_dir / "static_cache.json").write_bytes(b"written later by this release")
    os.utime(lab / "static_cache.json", ns=(1, 1))       # the copy left beside is the older one
    assert migrate(lab) == []
    assert sorted(p.name for p in lab.iterdir()) == ["state"]
    assert (state_dir / "analysis_hours.json").read_bytes() == b"analysis_hours.json"
    assert (state_dir / "analysis_cache.json").read_bytes() == b"analysis_cache.json"
    assert (state_dir / "static_cache.json").read_bytes() == b"written later by this release"
    assert migrate(lab) == [] and len(list(state_dir.iterdir())) == 3   # a second run has nothing to move


def _call(t: datetime, eid: str | None, method: str, ok: bool) -> bytes:
    if ok:
        return line(t, eid, "method_complete", {"method": method, "duration": 0.1, "success": True})
    return line(t, eid, "method_failed", {"method": method, "duration": 0.1, "error_type": "ConnectionError",
                                          "error": "ConnectionError: reset"})


def _absorbed(state: dict) -> dict[str, tuple[int, int, int, int, int, int]]:
    """Per method: calls, errors, absorbed (method rows); count, absorbed, absorbed executions (error groups)."""
    out: dict[str, list[int]] = {}
    for h in state["hours"].values():
        for v in h.versions.values():
            for m, r in v.methods.items():
                acc = out.setdefault(m, [0] * 6)
                acc[0], acc[1], acc[2] = acc[0] + r.calls, acc[1] + r.errors, acc[2] + r.absorbed
        for g in h.errors.values():
            acc = out.setdefault(g.method or "", [0] * 6)
            acc[3], acc[4], acc[5] = acc[3] + g.count, acc[4] + g.absorbed, acc[5] + g.absorbed_executions
    return {m: tuple(v) for m, v in out.items()}


def _waiting(state: dict) -> list[str]:
    """Executions with failures that a later read's success may still absorb."""
    return sorted(eid for eid, rec in state["retrying"].items() if rec["wait"])


ENGINES = ["python", pytest.param("duckdb", marks=pytest.mark.skipif(not _duck.available(), reason="no duckdb"))]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failure_is_absorbed_by_a_success_of_its_method_in_its_execution_at_the_same_time_or_later(
        tmp_path: Path, engine: str) -> None:
    t = [T0 + timedelta(seconds=s) for s in range(6)]
    starts = b"".join(line(T0, e, "execution_start", {"code_version": "v1"}) for e in ("e1", "e2", "e3", "e4", "e5", "e6"))
    body = (starts
            + _call(t[1], "e1", "fetch", False) + _call(t[1], "e1", "fetch", True)       # same time: absorbed
            + _call(t[1], "e2", "fetch", True) + _call(t[2], "e2", "fetch", False)       # success before: not
            + _call(t[1], "e3", "fetch", False) + _call(t[2], "e3", "fit", True)         # another method: not
            + _call(t[1], "e4", "fetch", False) + _call(t[2], "e5", "fetch", True)       # another execution: not
            + _call(t[1], None, "fetch", False) + _call(t[2], None, "fetch", True)       # no execution: not
            + _call(t[4], "e6", "fetch", True) + _call(t[3], "e6", "fetch", False))      # written after, earlier: absorbed
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "execution_20240115.jsonl").write_bytes(body)
    r = ingest(logs, tmp_path / "s", now=T0 + timedelta(minutes=5), engine=engine)
    assert r.engines.get(engine), r.notes
    assert _absorbed(r.state)["fetch"] == (11, 6, 2, 6, 2, 2)
    assert _waiting(r.state) == ["e2", "e3", "e4"]     # still open: a later read may hold their success
    with open(logs / "execution_20240115.jsonl", "ab") as fh:
        fh.write(_call(t[5], "e3", "fetch", True) + b"".join(
            line(t[5], e, "execution_complete", {"success": True}) for e in ("e1", "e2", "e3", "e4", "e5", "e6")))
    r = ingest(logs, tmp_path / "s", now=T0 + timedelta(minutes=5), engine=engine)
    assert _absorbed(r.state)["fetch"] == (12, 6, 3, 6, 3, 3) and r.state["retrying"] == {}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_retry_split_over_two_reads_or_files_is_absorbed_while_its_execution_is_open(tmp_path: Path,
                                                                                      engine: str) -> None:
    t = [T0 + timedelta(seconds=s) for s in range(5)]
    first = (line(t[0], "open", "execution_start", {}) + _call(t[1], "open", "fetch", False)
             + _call(t[2], "open", "fetch", False)
             + _call(t[1], "nostart", "fetch", False)          # its start was never read: only the same read counts
             + line(t[0], "done", "execution_start", {}) + _call(t[1], "done", "fetch", False)
             + line(t[2], "done", "execution_complete", {"success": False})
             + line(t[0], "tie", "execution_start", {}) + _call(t[2], "tie", "fetch", True))
    second = (_call(t[3], "open", "fetch", True) + _call(t[3], "nostart", "fetch", True)
              + _call(t[2], "tie", "fetch", False)              # read later, at the success's time: absorbed
              + line(t[4], "open", "execution_complete", {"success": True})
              + line(t[4], "tie", "execution_complete", {"success": True}))
    now = T0 + timedelta(minutes=5)
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "execution_20240115.jsonl"
    log.write_bytes(first)
    r = ingest(logs, tmp_path / "reads", now=now, engine=engine)
    assert _waiting(r.state) == ["open"] and _absorbed(r.state)["fetch"][2] == 0
    with open(log, "ab") as fh:
        fh.write(second)
    r = ingest(logs, tmp_path / "reads", now=now, engine=engine)
    assert _absorbed(r.state)["fetch"] == (8, 5, 3, 5, 3, 2) and r.state["retrying"] == {}
    # the same lines in two daily files: DuckDB reads both at once, the Python engine one after the other
    files = tmp_path / "files"
    files.mkdir()
    (files / "execution_20240115.jsonl").write_bytes(first)
    (files / "execution_20240116.jsonl").write_bytes(second.replace(b'"nostart"', b'"other"'))
    r = ingest(files, tmp_path / "files_state", now=now, engine=engine)
    assert _absorbed(r.state)["fetch"] == (8, 5, 3, 5, 3, 2)


def test_hour_rows_store_absorbed_counts_only_where_there_are_some() -> None:
    from astroagent.labtech.analysis._hours import ErrorEvent, HourRow

    row = HourRow()
    row.version("v1").method("fetch").add_call(True, 0.1, absorbed=True)
    row.version("v1").method("fit").add_call(True, 0.1)
    row.add_error(ErrorEvent("v1", "fetch", "ConnectionError", "reset", 1.0, 1.0, absorbed=1, absorbed_executions=1))
    row.add_error(ErrorEvent("v1", "fit", "KeyError", "x", 1.0, 1.0))
    doc = row.to_doc()
    assert doc["v"]["v1"]["m"]["fetch"][5] == 1 and len(doc["v"]["v1"]["m"]["fit"]) == 5
    assert [(g.get("ab"), g.get("ax")) for g in doc["e"].values()] == [(1, 1), (None, None)]
    assert HourRow.from_doc(orjson.loads(orjson.dumps(doc))) == row
