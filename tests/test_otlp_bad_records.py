"""Exported span records of the wrong shape or with impossible times: malformed parts, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from astroagent.labtech.analysis.otel_source import translate
from astroagent.labtech.analysis.otlp import spans_of

TRACE = "ab" * 16


def _span(**fields: object) -> dict[str, object]:
    span: dict[str, object] = {"traceId": TRACE, "spanId": "cd" * 8, "name": "run",
                               "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000"}
    span.update(fields)
    return span


def _request(spans: object) -> dict[str, object]:
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]}


BROKEN = {
    "spans not a list": ({"resourceSpans": [{"scopeSpans": [{"spans": 5}]}]}, 0, 1),
    "scopes not a list": ({"resourceSpans": [{"scopeSpans": 5}]}, 0, 1),
    "time past the year 9999": (_request([_span(startTimeUnixNano="9" * 30, endTimeUnixNano="9" * 30)]), 0, 1),
    "negative time": (_request([_span(startTimeUnixNano=-5)]), 0, 1),
    "console time past the year 9999": ({"name": "run", "context": {"trace_id": "0x" + TRACE},
                                         "start_time": "9999-12-31T23:59:59-14:00",
                                         "end_time": "9999-12-31T23:59:59-14:00"}, 0, 1),
    "console time before the epoch": ({"name": "run", "context": {"trace_id": "0x" + TRACE},
                                       "start_time": "0001-01-01T00:00:00+14:00",
                                       "end_time": "0001-01-01T00:00:00+14:00"}, 0, 1),
    # wrong inner shapes are ignored, the span itself is read
    "events not a list": (_request([_span(events=5)]), 1, 0),
    "array attribute of a number": (_request([_span(attributes=[{"key": "a", "value": {"arrayValue": {"values": 5}}}])]),
                                    1, 0),
    "exception attributes not a list": (_request([_span(status={"code": 2},
                                                        events=[{"name": "exception", "attributes": 5}])]), 1, 0),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_record_of_the_wrong_shape_is_counted_not_raised(name: str) -> None:
    record, spans, malformed = BROKEN[name]
    found, bad = spans_of(record)
    assert (len(found), bad) == (spans, malformed)


def test_a_file_with_broken_records_translates_the_good_ones(tmp_path: Path) -> None:
    folder = tmp_path / "spans"
    folder.mkdir()
    good = _request([_span()])
    lines = [orjson.dumps(good)] + [orjson.dumps(record) for record, _, _ in BROKEN.values()]
    (folder / "spans.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    done = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    # the good root, and the three broken-inside roots: all one trace, so one execution
    assert (done.executions, done.malformed) == (1, 6)
    assert done.spans == 4
