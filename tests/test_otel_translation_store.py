"""The translated copy of a span folder: two translations at once (the pipeline's Lab Technician and
a user's ``labtech analyze``) must not both append the same spans, and old days do not pile up."""

from __future__ import annotations

import fcntl
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from astroagent.labtech.analysis import otel_source
from astroagent.labtech.analysis.otel_source import LOCK_NAME, translate

TRACE = "ab" * 16


def _spans(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "spans.jsonl", "ab") as fh:
        for i in range(n):
            span = {"traceId": f"{i + 1:032x}", "spanId": "cd" * 8, "name": "run",
                    "startTimeUnixNano": str(1_700_000_000_000_000_000 + i), "endTimeUnixNano":
                    str(1_700_000_001_000_000_000 + i)}
            fh.write(orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + b"\n")


def _held(lock: Path) -> bool:
    """Whether another open file of ``lock`` holds it (flock locks belong to the open file)."""
    with open(lock, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def test_the_translation_holds_its_lock_from_loading_the_state_to_saving_it(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _spans(tmp_path / "spans", 3)
    seen: list[tuple[str, bool]] = []
    for name in ("_load", "_commit"):
        real = getattr(otel_source, name)

        def probe(home: Path, *args, _real=real, _name=name):
            seen.append((_name, _held(home / LOCK_NAME)))
            return _real(home, *args)

        monkeypatch.setattr(otel_source, name, probe)
    done = translate(tmp_path / "spans", tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert done.executions == 3
    assert seen == [("_load", True), ("_commit", True)]
    assert not _held(done.folder.parent / LOCK_NAME)        # released when it returns



def _root_at(folder: Path, trace: int, seconds: float) -> None:
    ns = str(int(seconds * 1e9))
    span = {"traceId": f"{trace:032x}", "spanId": "cd" * 8, "name": "run", "startTimeUnixNano": ns,
            "endTimeUnixNano": ns}
    with open(folder / "spans.jsonl", "ab") as fh:
        fh.write(orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + b"\n")


def test_translated_days_long_before_the_newest_are_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "spans"
    folder.mkdir()
    newest = datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()
    _root_at(folder, 1, newest - (otel_source.KEEP_DAYS + 5) * 86400)     # 2026-01-25
    _root_at(folder, 2, newest - 2 * 86400)
    first = translate(folder, tmp_path / "lab", now_ts=newest, timeout=900)
    assert sorted(p.name for p in first.folder.glob("execution_*.jsonl")) == [
        "execution_20260125.jsonl", "execution_20260227.jsonl"]          # written this run: kept for ingest
    _root_at(folder, 3, newest)
    translate(folder, tmp_path / "lab", now_ts=newest, timeout=900)
    assert sorted(p.name for p in first.folder.glob("execution_*.jsonl")) == [
        "execution_20260227.jsonl", "execution_20260301.jsonl"]
    state = orjson.loads((first.folder.parent / otel_source.STATE_NAME).read_bytes())
    assert sorted(state["outputs"]) == ["execution_20260227.jsonl", "execution_20260301.jsonl"]
