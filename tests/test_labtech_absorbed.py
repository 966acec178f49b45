"""Failed attempts a retry absorbed are not failures: ``labtech analyze`` shows them apart and does not
call for an intervention over them, with either ingest engine; failures that end the execution still do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from astroagent.cli import main
from astroagent.labtech.analysis import _duck

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)   # inside the default window
ENGINES = [pytest.param("python"),
           pytest.param("duckdb", marks=pytest.mark.skipif(not _duck.available(), reason="duckdb not installed"))]


def _line(ts: datetime, eid: str, et: str, data: dict) -> bytes:
    return orjson.dumps({"timestamp": ts.isoformat(), "execution_id": eid, "event_type": et, "event_data": data}) + b"\n"


def _execution(eid: str, t: datetime, *, failed_attempts: int, recovered: bool) -> bytes:
    """One execution calling fetch_dataset: some attempts fail (a reset), then one succeeds or the execution fails."""
    out = _line(t, eid, "execution_start", {"code_version": "c0ffee"})
    for i in range(failed_attempts):
        out += _line(t + timedelta(seconds=1 + i), eid, "method_failed",
                     {"method": "fetch_dataset", "duration": 0.01, "error_type": "ConnectionResetError",
                      "error": "ConnectionResetError: [Errno 104] Connection reset by peer",
                      "location": {"file": "experimenter/fetch.py", "function": "fetch_dataset", "line": 12}})
    t_end = t + timedelta(seconds=1 + failed_attempts)
    if recovered:
        out += _line(t_end, eid, "method_complete", {"method": "fetch_dataset", "duration": 0.02, "success": True})
    return out + _line(t_end, eid, "execution_complete", {"success": recovered, "duration": failed_attempts + 1.0})


def _analyze(tmp_path: Path, monkeypatch, capsys, engine: str, *, recovered: bool) -> tuple[dict, str]:
    logs = tmp_path / "logs"
    logs.mkdir()
    body = b"".join(_execution(f"run{i}", T0 + timedelta(minutes=i), failed_attempts=2, recovered=recovered)
                    for i in range(3))
    (logs / f"execution_{T0:%Y%m%d}.jsonl").write_bytes(body)
    monkeypatch.setenv("ASTROAGENT_LAB_TECHNICIAN__INGEST_ENGINE", engine)
    base = ["--data-dir", str(tmp_path / "data"), "labtech", "analyze", "--logs", str(logs)]
    assert main([*base, "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["trend"]["ingest"]["engines"] == {engine: 1}
    assert main(base) == 0                 # the tables a user reads (the same analysis, from the cache)
    return out, capsys.readouterr().out


@pytest.mark.parametrize("engine", ENGINES)
def test_attempts_a_retry_absorbed_are_shown_apart_and_need_no_intervention(tmp_path: Path, monkeypatch, capsys,
                                                                            engine: str) -> None:
    out, text = _analyze(tmp_path, monkeypatch, capsys, engine, recovered=True)
    assert out["executions"] == {"total": 3, "failed": 0, "success_rate": 1.0}
    assert out["absorbed_attempts"] == 6
    [pattern] = out["error_patterns"]
    assert (pattern["count"], pattern["absorbed"]) == (6, 6)
    assert not [o for o in out["opportunities"] if o["type"] == "frequent_error" or o["priority"] == "critical"]
    assert out["needs_intervention"] is False
    assert "6 failed attempts absorbed by retries" in text and "intervention needed: no" in text
    assert "critical" not in text
    report = Path(out["report_path"]).read_text()
    assert "6 failed attempts absorbed by retries" in report and "intervention needed: **no**" in report
    assert "| fetch_dataset | 9 | 0 | 6 | 100.0% |" in report     # calls, errors, absorbed, success


@pytest.mark.parametrize("engine", ENGINES)
def test_failures_that_end_the_execution_are_still_critical(tmp_path: Path, monkeypatch, capsys,
                                                            engine: str) -> None:
    out, text = _analyze(tmp_path, monkeypatch, capsys, engine, recovered=False)
    assert out["executions"]["failed"] == 3 and out["absorbed_attempts"] == 0
    [pattern] = out["error_patterns"]
    assert (pattern["count"], pattern["absorbed"]) == (6, 0)
    [frequent] = [o for o in out["opportunities"] if o["type"] == "frequent_error"]
    assert frequent["priority"] == "critical" and "6x in fetch_dataset" in frequent["description"]
    assert out["needs_intervention"] is True
    assert "intervention needed: yes" in text and "absorbed by retries" not in text


def _versioned(eid: str, t: datetime, version: str, *, failed_attempts: int, recovered: bool) -> bytes:
    return _execution(eid, t, failed_attempts=failed_attempts, recovered=recovered).replace(
        b'"code_version":"c0ffee"', b'"code_version":"' + version.encode() + b'"')


@pytest.mark.parametrize("engine", ENGINES)
def test_after_a_retry_the_old_code_s_failures_are_named_as_the_old_code_s(tmp_path: Path, monkeypatch, capsys,
                                                                            engine: str) -> None:
    """The user's case: 20 executions of the old code, 7 lost to resets; then 20 of the new code, whose
    retry absorbs every reset. The window mixes both: it must not call for an intervention over the old."""
    logs = tmp_path / "logs"
    logs.mkdir()
    old = b"".join(_versioned(f"old{i}", T0 + timedelta(minutes=i), "old", failed_attempts=int(i % 3 == 0),
                              recovered=i % 3 != 0) for i in range(20))
    new = b"".join(_versioned(f"new{i}", T0 + timedelta(minutes=30 + i), "new", failed_attempts=i % 3,
                              recovered=True) for i in range(20))
    (logs / f"execution_{T0:%Y%m%d}.jsonl").write_bytes(old + new)
    monkeypatch.setenv("ASTROAGENT_LAB_TECHNICIAN__INGEST_ENGINE", engine)
    base = ["--data-dir", str(tmp_path / "data"), "labtech", "analyze", "--logs", str(logs)]
    assert main([*base, "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["executions"] == {"total": 40, "failed": 7, "success_rate": 0.825}
    [pattern] = out["error_patterns"]
    assert pattern["failed_versions"] == {"old": 7} and pattern["code_versions"] == {"old": 7, "new": 19}
    by_type = {o["type"]: o for o in out["opportunities"]}
    assert by_type["frequent_error"]["priority"] == "low"
    assert "none in the current code version new (20 executions): older code only" in \
        by_type["frequent_error"]["description"]
    assert by_type["low_success_rate"]["priority"] == "low"
    assert "the current code version new succeeds 100.0% over 20 executions" in \
        by_type["low_success_rate"]["description"]
    assert out["needs_intervention"] is False
    # the same old failures with too few executions of the new code to tell: still an intervention
    few = old + b"".join(_versioned(f"few{i}", T0 + timedelta(minutes=30 + i), "new", failed_attempts=1,
                                    recovered=True) for i in range(5))
    (logs / f"execution_{T0:%Y%m%d}.jsonl").write_bytes(few)
    assert main(["--data-dir", str(tmp_path / "data2"), *base[2:], "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["needs_intervention"] is True
    assert {o["type"]: o["priority"] for o in out["opportunities"]}["frequent_error"] in ("critical", "high")


@pytest.mark.parametrize("last", ["disk", "other"])
def test_the_current_code_version_is_the_one_on_disk_when_a_canary_interleaves(tmp_path: Path, last: str) -> None:
    """A canary and its baseline alternate: whichever ran last, the current code is what is on disk."""
    from _labtech_ws import make_workspace
    from astroagent.config.models import LabTechnicianConfig
    from astroagent.labtech.analysis.analyze import default_targets, run_analysis
    from astroagent.labtech.reports.render import version_split
    from astroagent.telemetry import workspace_code_version
    ws = make_workspace(tmp_path / "ws")
    disk = workspace_code_version(ws, "experimenter")
    logs = tmp_path / "logs"
    logs.mkdir()
    body = b""
    for i in range(40):     # the baseline ("base") loses a third to resets, the canary (on disk) none
        version = disk if (i % 2 == 0) == (last == "other") else "base"
        body += _versioned(f"r{i}", T0 + timedelta(minutes=i), version, failed_attempts=int(version == "base"
                           and i % 3 == 0), recovered=not (version == "base" and i % 3 == 0))
    (logs / f"execution_{T0:%Y%m%d}.jsonl").write_bytes(body)
    config = LabTechnicianConfig()
    analysis = run_analysis(config, logs, tmp_path / "state", workspace=ws, targets=default_targets(config, ws))
    assert analysis.on_disk == (disk,)
    assert version_split(analysis)["current"]["code_version"] == disk
    [frequent] = [o for o in analysis.opportunities if o.type == "frequent_error"]
    assert frequent.priority == "low" and f"none in the current code version {disk}" in frequent.description


def test_old_failures_are_not_called_old_when_the_new_code_never_reaches_the_method(tmp_path: Path, monkeypatch,
                                                                                     capsys) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    old = b"".join(_versioned(f"old{i}", T0 + timedelta(minutes=i), "old", failed_attempts=int(i % 3 == 0),
                              recovered=i % 3 != 0) for i in range(20))
    new = b"".join(_line(T0 + timedelta(minutes=30 + i), f"new{i}", "execution_start", {"code_version": "new"})
                   + _line(T0 + timedelta(minutes=30 + i, seconds=1), f"new{i}", "execution_complete",
                           {"success": True, "duration": 1.0}) for i in range(20))   # fetch_dataset never called
    (logs / f"execution_{T0:%Y%m%d}.jsonl").write_bytes(old + new)
    assert main(["--data-dir", str(tmp_path / "data"), "labtech", "analyze", "--logs", str(logs), "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    [frequent] = [o for o in out["opportunities"] if o["type"] == "frequent_error"]
    assert "older code only" not in frequent["description"] and frequent["priority"] != "low"
