"""One trace, several entry spans: a client loop traced once calling a service three times.

The service's spans come from the real ``opentelemetry-sdk``: each request's entry span has the
client's span as a remote parent (a ``SpanContext`` with ``is_remote=True``, as a server
instrumentation makes from a ``traceparent`` header), all under the client's one trace id.
Each entry span is its own execution; each child counts under its nearest entry ancestor.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from test_otel_input import EXPORTERS

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech import run_analysis
from astroagent.labtech.analysis import _span_tree
from astroagent.labtech.analysis.otel_source import STATE_NAME, translate

CLIENT_TRACE = 0x5EED
FAILING = 1          # the second request fails in a nested call


class _Service:
    """A service traced by a real SDK provider; ``request(i)`` handles the client's i-th request
    (1 + i queries, each parsing its rows; request ``FAILING`` fails parsing)."""

    def __init__(self, path: Path, form: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.provider = TracerProvider(resource=Resource.create({"service.name": "catalog",
                                                                 "service.version": "v2"}))
        self.provider.add_span_processor(SimpleSpanProcessor(EXPORTERS[form](path)))
        self.tracer = self.provider.get_tracer("catalog")

    def request(self, i: int, *, before_end=None) -> None:
        caller = SpanContext(trace_id=CLIENT_TRACE, span_id=0x100 + i, is_remote=True, trace_flags=TraceFlags(1))
        try:
            with self.tracer.start_as_current_span("handle",
                                                   context=trace.set_span_in_context(NonRecordingSpan(caller))):
                for _ in range(1 + i):
                    with self.tracer.start_as_current_span("query"), self.tracer.start_as_current_span("parse"):
                        if i == FAILING:
                            raise KeyError("no column 'ra'")
                if before_end is not None:
                    before_end()
        except KeyError:
            pass

    def close(self) -> None:
        self.provider.shutdown()


def _events(folder: Path) -> list[dict]:
    return [orjson.loads(line) for out in sorted(folder.glob("execution_*.jsonl"))
            for line in out.read_bytes().splitlines()]


def _by_execution(events: list[dict]) -> dict[str, tuple[bool | None, Counter]]:
    """Each execution's success and how many of each call it holds."""
    out: dict[str, tuple[bool | None, Counter]] = {}
    for e in events:
        success, calls = out.setdefault(e["execution_id"], (None, Counter()))
        if e["event_type"] == "execution_complete":
            out[e["execution_id"]] = (e["event_data"]["success"], calls)
        elif e["event_type"] in ("method_complete", "method_failed"):
            calls[e["event_data"]["method"]] += 1
    return out


def _now() -> float:
    return datetime.now(UTC).timestamp()


@pytest.mark.parametrize("form", ["otlp_json_file", "protobuf_json_lines"])
def test_each_request_of_one_traced_client_is_its_own_execution(form: str, tmp_path: Path) -> None:
    service = _Service(tmp_path / "spans" / "spans.jsonl", form)
    for i in range(3):
        service.request(i)
    service.close()
    done = translate(tmp_path / "spans", tmp_path / "lab", now_ts=_now(), timeout=900)
    assert (done.executions, done.orphans) == (3, 0)
    executions = _by_execution(_events(done.folder))
    assert len(executions) == 3 and all(eid.startswith(f"{CLIENT_TRACE:032x}-") for eid in executions)
    # request 0: 1 query, request 1 fails in its first parse, request 2: 3 queries, each with its parse
    assert sorted((success, sorted(calls.items())) for success, calls in executions.values()) == [
        (False, [("parse", 1), ("query", 1)]), (True, [("parse", 1), ("query", 1)]),
        (True, [("parse", 3), ("query", 3)])]
    analysis = run_analysis(LabTechnicianConfig(), tmp_path / "spans", tmp_path / "lab", log_format="otel")
    assert (analysis.executions.total, analysis.executions.failed) == (3, 1)
    assert analysis.methods["query"].calls == 5 and set(analysis.per_version) == {"v2"}


def test_both_ingest_engines_count_the_entry_spans_alike(tmp_path: Path) -> None:
    service = _Service(tmp_path / "spans" / "spans.jsonl", "otlp_json_file")
    for i in range(3):
        service.request(i)
    service.close()
    found = {}
    for engine in ("python", "duckdb"):
        a = run_analysis(LabTechnicianConfig(ingest_engine=engine), tmp_path / "spans", tmp_path / f"lab-{engine}",
                         log_format="otel")
        assert set(a.trend["ingest"]["engines"]) == {engine}
        found[engine] = ((a.executions.total, a.executions.failed),
                         {m: (s.calls, s.errors) for m, s in a.methods.items()},
                         [(p.method, p.error_type, p.count) for p in a.error_patterns],
                         {v: dict(s.method_calls) for v, s in a.per_version.items()})
    assert found["python"] == found["duckdb"]
    assert found["python"][0] == (3, 1) and found["python"][1]["parse"] == (5, 1)


def test_children_read_before_their_entry_wait_for_it_not_for_an_earlier_one(tmp_path: Path) -> None:
    """Request 2's children are read in a run whose only entry is request 0's: they wait for theirs."""
    folder = tmp_path / "spans"
    service = _Service(folder / "spans.jsonl", "otlp_json_file")
    service.request(0)
    mid: list = []
    service.request(2, before_end=lambda: mid.append(translate(folder, tmp_path / "lab", now_ts=_now(),
                                                                   timeout=900)))
    service.close()
    assert (mid[0].executions, mid[0].orphans) == (1, 0)
    last = translate(folder, tmp_path / "lab", now_ts=_now(), timeout=900)
    assert (last.executions, last.orphans, last.spans) == (1, 0, 1)       # the entry, with its 6 waiting calls
    calls = sorted(sum(c.values()) for _s, c in _by_execution(_events(last.folder)).values())
    assert calls == [2, 6]


def test_a_state_of_the_previous_release_goes_on_in_its_folder(tmp_path: Path) -> None:
    """Format 1 kept the calls waiting per trace; they go to the trace's first entry, as that release did."""
    folder = tmp_path / "spans"
    service = _Service(folder / "spans.jsonl", "otlp_json_file")
    first: list = []
    service.request(0, before_end=lambda: first.append(translate(folder, tmp_path / "lab", now_ts=_now(),
                                                                     timeout=900)))
    service.close()
    state_path = first[0].folder.parent / STATE_NAME
    state = orjson.loads(state_path.read_bytes())
    [(trace_id, rows)] = state["pending"].items()
    state["format"] = 1                # what that release wrote: the trace's calls, their last end, its failures
    state["pending"] = {trace_id: {"end": max(r[2] for r in rows), "calls": [r[3] for r in rows], "failures": []}}
    state_path.write_bytes(orjson.dumps(state))
    done = translate(folder, tmp_path / "lab", now_ts=_now(), timeout=900)
    assert done.folder == first[0].folder and (done.executions, done.orphans) == (1, 0)
    [(success, calls)] = _by_execution(_events(done.folder)).values()
    assert success and calls == {"query": 1, "parse": 1}
    assert orjson.loads(state_path.read_bytes())["format"] == 2


def _row(span_id: str | None, parent: str, end: float) -> list:
    return [span_id, parent, end, {"event_type": "method_complete", "span": span_id}]


def test_waiting_children_are_let_go_by_the_ancestor_they_wait_for() -> None:
    """Two requests' children in one trace: only the group whose entry is overdue is let go; a cycle never hangs."""
    pending = {"t": [_row("a1", "A", 100.0), _row("a2", "a1", 110.0), _row("b1", "B", 500.0),
                     _row("c1", "c2", 100.0), _row("c2", "c1", 100.0)]}
    gone = _span_tree.expire(pending, now_ts=1100.0, timeout=900)
    assert [e["span"] for e in gone] == ["a1", "a2", "c1", "c2"] and [r[0] for r in pending["t"]] == ["b1"]
    assert _span_tree.expire(pending, now_ts=1401.0, timeout=900)[0]["span"] == "b1" and pending == {}
