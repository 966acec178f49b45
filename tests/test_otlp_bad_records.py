"""Exported span records of the wrong shape or with impossible times (malformed parts, never a crash), and roots whose parent ran elsewhere."""

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
    # the good root, and the three broken-inside roots: all one span (same trace and span ids), so one execution
    assert (done.executions, done.malformed) == (1, 6)
    assert done.spans == 4


def test_a_service_s_entry_span_whose_parent_is_remote_is_an_execution(tmp_path: Path) -> None:
    """A request traced elsewhere (a ``traceparent`` header): the real SDK marks the entry span's parent
    remote in its ``flags``; without that the service's spans never had a root here (0 executions)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    folder = tmp_path / "spans"
    folder.mkdir()
    provider = TracerProvider(resource=Resource.create({"service.version": "v3"}))
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(str(folder / "spans.jsonl"))))
    tracer = provider.get_tracer("svc")
    for i in range(3):
        caller = SpanContext(trace_id=1000 + i, span_id=77, is_remote=True, trace_flags=TraceFlags(1))
        with tracer.start_as_current_span("handle", context=trace.set_span_in_context(NonRecordingSpan(caller))):
            with tracer.start_as_current_span("query"):
                pass
    provider.shutdown()
    done = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert (done.executions, done.orphans) == (3, 0)
    events = [orjson.loads(line) for out in done.folder.glob("execution_*.jsonl")
              for line in out.read_bytes().splitlines()]
    assert [e["event_data"]["method"] for e in events if e["event_type"] == "method_complete"] == ["query"] * 3
    assert {e["event_data"].get("code_version") for e in events if e["event_type"] == "execution_start"} == {"v3"}


def test_an_overlong_line_is_one_malformed_record_and_never_held_whole(tmp_path: Path, monkeypatch) -> None:
    from astroagent.labtech.analysis import otel_source
    monkeypatch.setattr(otel_source, "MAX_RECORD", 1000)
    monkeypatch.setattr(otel_source, "_CHUNK", 256)        # the overlong line spans many reads
    held: list[int] = []
    lines = otel_source._lines

    def watched(path, start, end):
        for line, lo, hi in lines(path, start, end):
            held.append(len(line))
            yield line, lo, hi

    monkeypatch.setattr(otel_source, "_lines", watched)
    folder = tmp_path / "spans"
    folder.mkdir()
    good = orjson.dumps(_request([_span()]))
    (folder / "spans.jsonl").write_bytes(b'{"resourceSpans": "' + b"x" * 5000 + b'"}\n' + good + b"\n")
    done = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert (done.executions, done.malformed, done.spans) == (1, 1, 1)
    assert max(held) <= len(good)          # the 5 kB line came as one marker byte, the good one whole


def test_a_status_only_failure_is_typed_as_the_contract_reader_types_an_error(tmp_path: Path) -> None:
    """The status message's type before ':' (dotted too), else SpanError; code.* attributes locate a
    failure whose stacktrace has no Python frame (a Java one here)."""
    from astroagent.config.models import LabTechnicianConfig
    from astroagent.labtech import run_analysis

    java = [{"name": "exception", "attributes": [
        {"key": "exception.type", "value": {"stringValue": "java.io.IOException"}},
        {"key": "exception.message", "value": {"stringValue": "closed"}},
        {"key": "exception.stacktrace", "value": {"stringValue": "java.io.IOException: closed\n\tat Fetch.run(File \"x\")"}}]}]
    code = [{"key": "code.filepath", "value": {"stringValue": "spectra/net.py"}},
            {"key": "code.lineno", "value": {"intValue": "12"}},
            {"key": "code.function", "value": {"stringValue": "fetch"}}]
    children = [
        _span(spanId="01" * 8, parentSpanId="cd" * 8, name="get",
              status={"code": 2, "message": "requests.exceptions.HTTPError: 503 from the archive"}),
        _span(spanId="02" * 8, parentSpanId="cd" * 8, name="parse", status={"code": 2}),
        _span(spanId="03" * 8, parentSpanId="cd" * 8, name="fetch", status={"code": 2}, events=java,
              attributes=code),
    ]
    folder = tmp_path / "spans"
    folder.mkdir()
    (folder / "spans.jsonl").write_bytes(orjson.dumps(_request([*children, _span()])) + b"\n")
    analysis = run_analysis(LabTechnicianConfig(min_pattern_count=1), folder, tmp_path / "lab", log_format="otel",
                            now=datetime(2023, 11, 14, 23, tzinfo=UTC))
    found = {p.method: p for p in analysis.error_patterns}
    assert {m: p.error_type for m, p in found.items()} == {
        "get": "requests.exceptions.HTTPError", "parse": "SpanError", "fetch": "java.io.IOException"}
    loc = found["fetch"].location
    assert (loc.file, loc.line, loc.function) == ("spectra/net.py", 12, "fetch")
