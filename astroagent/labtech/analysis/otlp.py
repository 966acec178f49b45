"""OpenTelemetry spans read as the log contract: pure functions from exported JSON to contract events.

Two shapes are read (docs/log-format.md, "OpenTelemetry input"):

- OTLP/JSON, one ``ExportTraceServiceRequest`` per record (``{"resourceSpans": [...]}``), as the
  collector's file exporter and the SDK's OTLP JSON file exporter write it: ids hex or base64,
  times in nanoseconds (numbers or strings), ``status.code`` 2 or ``"STATUS_CODE_ERROR"``;
- the Python SDK's ``ConsoleSpanExporter`` output, one pretty-printed object per span
  (``context.trace_id``, ``parent_id``, ISO ``start_time``, ``status.status_code`` ``"ERROR"``).

An entry span (no parent, or in OTLP a parent its ``flags`` mark remote) is an execution, however
many a trace has (a client loop calling a service: one entry span per request); the spans below it
are its method calls (``_span_tree`` finds each one's nearest entry); an ``exception`` event gives a
failure's type, message and stacktrace (the traceback the contract reads a location from).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["Span", "spans_of", "execution_events", "call_event", "failure_of", "looks_like_otlp"]

_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR", "ERROR")
_VERSION_KEYS = ("service.version", "astroagent.code_version", "code.version")
_REMOTE_PARENT = 0x300           # flags HAS_IS_REMOTE | IS_REMOTE: the parent ran in another process
_HEX_ID = re.compile(r"[0-9a-fA-F]{16}(?:[0-9a-fA-F]{16})?")
_MAX_STACK = 16 * 1024          # a stacktrace keeps its innermost part (like the contract writer)
_LAST_SECOND = 253402300799.0  # 9999-12-31T23:59:59Z: a later (or a negative) time is no time


@dataclass(frozen=True, slots=True)
class Span:
    """What the translation needs of one exported span."""

    trace: str
    parent: str | None
    name: str
    start: float                  # seconds since the epoch
    end: float
    error: bool
    message: str | None           # the status description
    attrs: Mapping[str, Any]
    resource: Mapping[str, Any]
    exception: tuple[str, str, str | None] | None = None   # (type, message, stacktrace) of the last one
    span_id: str | None = None    # None: the span can be no one's parent

    @property
    def execution_id(self) -> str:
        """The contract's id of the execution this span enters: one trace can hold several."""
        return f"{self.trace}-{self.span_id}" if self.span_id is not None else self.trace

    @property
    def version(self) -> str | None:
        """The code version that ran: ``service.version``, else an ``astroagent.code_version``/``code.version``."""
        for where in (self.resource, self.attrs):
            for key in _VERSION_KEYS:
                value = where.get(key)
                if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                    return str(value)
        return None

    @property
    def method(self) -> str:
        """``code.function.name``, else ``code.namespace.code.function``, else the span's name."""
        attrs = self.attrs
        full = attrs.get("code.function.name")
        if isinstance(full, str) and full:
            return full
        func, namespace = attrs.get("code.function"), attrs.get("code.namespace")
        if isinstance(func, str) and func:
            return f"{namespace}.{func}" if isinstance(namespace, str) and namespace else func
        return self.name


def looks_like_otlp(head: bytes) -> bool:
    """Whether the first bytes of a file look like exported spans (used to detect the format)."""
    return b'"resourceSpans"' in head or b'"resource_spans"' in head or (
        b'"trace_id"' in head and b'"span_id"' in head)


# -- reading records ---------------------------------------------------------------------

def spans_of(record: Any) -> tuple[list[Span], int]:
    """The spans of one parsed record and how many of its parts were not spans (malformed).

    A record that is neither an export request nor a console span counts as one malformed part.
    """
    if not isinstance(record, dict):
        return [], 1
    batches = record.get("resourceSpans", record.get("resource_spans"))
    if batches is not None:
        return _export_request(batches)
    if isinstance(record.get("context"), dict) and "name" in record:
        span = _console_span(record)
        return ([span], 0) if span is not None else ([], 1)
    return [], 1


def _export_request(batches: Any) -> tuple[list[Span], int]:
    if not isinstance(batches, list):
        return [], 1
    spans: list[Span] = []
    bad = 0
    for batch in batches:
        if not isinstance(batch, dict):
            bad += 1
            continue
        resource = batch.get("resource") if isinstance(batch.get("resource"), dict) else {}
        res_attrs = _key_values(resource.get("attributes"))
        scopes = _first(batch, "scopeSpans", "scope_spans", "instrumentationLibrarySpans")
        if scopes is not None and not isinstance(scopes, list):
            bad += 1
        for scope in _list(scopes):
            found = scope.get("spans") if isinstance(scope, dict) else []
            if found is not None and not isinstance(found, list):
                bad += 1
            for raw in _list(found):
                span = _otlp_span(raw, res_attrs)
                if span is None:
                    bad += 1
                else:
                    spans.append(span)
    return spans, bad


def _first(obj: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in obj:
            return obj[key]
    return None


def _otlp_span(raw: Any, resource: Mapping[str, Any]) -> Span | None:
    if not isinstance(raw, dict):
        return None
    trace = _id(_first(raw, "traceId", "trace_id"))
    start = _nanos(_first(raw, "startTimeUnixNano", "start_time_unix_nano"))
    end = _nanos(_first(raw, "endTimeUnixNano", "end_time_unix_nano"))
    name = raw.get("name")
    if trace is None or start is None or end is None or not isinstance(name, str):
        return None
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    events = [(e.get("name"), _key_values(e.get("attributes"))) for e in _list(raw.get("events"))
              if isinstance(e, dict)]
    message = status.get("message")
    flags = raw.get("flags")
    remote = type(flags) is int and flags & _REMOTE_PARENT == _REMOTE_PARENT   # a service's entry: its root here
    return Span(trace, None if remote else _id(_first(raw, "parentSpanId", "parent_span_id")), name, start, end,
                status.get("code") in _ERROR_CODES, message if isinstance(message, str) else None,
                _key_values(raw.get("attributes")), resource, _exception(events), _id(_first(raw, "spanId", "span_id")))


def _console_span(raw: dict[str, Any]) -> Span | None:
    from astroagent.telemetry.writer import epoch_seconds   # here: the CLI imports this module to start

    ctx = raw["context"]
    trace, name = _id(ctx.get("trace_id")), raw.get("name")
    start, end = _seconds(epoch_seconds(raw.get("start_time"))), _seconds(epoch_seconds(raw.get("end_time")))
    if trace is None or start is None or end is None or not isinstance(name, str):
        return None
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    resource = raw.get("resource") if isinstance(raw.get("resource"), dict) else {}
    attrs = raw.get("attributes") if isinstance(raw.get("attributes"), dict) else {}
    events = [(e.get("name"), e.get("attributes") if isinstance(e.get("attributes"), dict) else {})
              for e in _list(raw.get("events")) if isinstance(e, dict)]
    message = status.get("description")
    res_attrs = resource.get("attributes") if isinstance(resource.get("attributes"), dict) else {}
    return Span(trace, _id(raw.get("parent_id")), name, start, end, status.get("status_code") in _ERROR_CODES,
                message if isinstance(message, str) else None, attrs, res_attrs, _exception(events),
                _id(ctx.get("span_id")))


def _exception(events: Iterable[tuple[Any, Mapping[str, Any]]]) -> tuple[str, str, str | None] | None:
    found = None
    for name, attrs in events:
        if name == "exception":
            etype, msg, stack = (attrs.get(k) for k in ("exception.type", "exception.message", "exception.stacktrace"))
            found = (str(etype) if etype else "Exception", str(msg) if msg is not None else "",
                     str(stack)[-_MAX_STACK:] if stack else None)
    return found


def _id(value: Any) -> str | None:
    """A trace or span id as lower-case hex: hex (``0x`` allowed) or base64 (protobuf's JSON); all zeros is none."""
    if not isinstance(value, str) or not value:
        return None
    text = value[2:] if value[:2] in ("0x", "0X") else value
    if _HEX_ID.fullmatch(text):
        out = text.lower()
    else:
        try:
            out = base64.b64decode(text, validate=True).hex()
        except (binascii.Error, ValueError):
            return None
    return out if out.strip("0") else None


def _nanos(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = int(value) if value.isdigit() else None
    return _seconds(value / 1e9) if isinstance(value, (int, float)) else None


def _seconds(value: float | None) -> float | None:
    """A time a span can have (after the epoch, before the year 10000), else None."""
    return value if value is not None and 0 < value <= _LAST_SECOND else None


def _list(value: Any) -> list[Any]:
    """A JSON array, or nothing for any other value (a broken record is not iterated)."""
    return value if isinstance(value, list) else []


def _key_values(items: Any) -> dict[str, Any]:
    """OTLP's ``[{"key", "value": AnyValue}]`` as a plain dict."""
    out: dict[str, Any] = {}
    for item in _list(items):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = _any_value(item.get("value"))
    return out


def _any_value(value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    kind = kind.replace("_", "").lower()
    if kind == "intvalue":
        return int(inner) if isinstance(inner, str) and inner.lstrip("-").isdigit() else inner
    if kind == "arrayvalue":
        return [_any_value(v) for v in _list(inner.get("values"))] if isinstance(inner, dict) else None
    if kind == "kvlistvalue":
        return _key_values(inner.get("values")) if isinstance(inner, dict) else None
    return inner


# -- contract events -------------------------------------------------------------------------

def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def _event(execution_id: str, event_type: str, ts: float, data: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": _stamp(ts), "execution_id": execution_id, "event_type": event_type, "event_data": data}


def failure_of(span: Span) -> dict[str, Any] | None:
    """What an ERROR span says of its failure (``error_type``, ``error``, ``traceback``/``location``); else None."""
    if not span.error:
        return None
    from astroagent.labtech.analysis.patterns import split_error, traceback_frames   # not at the CLI's start

    if span.exception is not None:
        etype, msg, stack = span.exception
        data: dict[str, Any] = {"error_type": etype, "error": f"{etype}: {msg}" if msg else etype}
    else:
        text = span.message or "span ended with status ERROR"
        etype, rest = split_error(None, text)      # the type a contract reader sees before the ':'
        data = {"error_type": etype if rest != text else "SpanError", "error": text}
        stack = None
    if stack:
        data["traceback"] = stack
    location = _code_location(span.attrs)
    if location is not None and not traceback_frames(stack):     # a location given wins over the frames
        data["location"] = location
    return data


def _code_location(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where the span's code is (semantic conventions ``code.*``), for failures without a Python stacktrace."""
    file = attrs.get("code.file.path", attrs.get("code.filepath"))
    if not isinstance(file, str) or not file:
        return None
    line = attrs.get("code.line.number", attrs.get("code.lineno"))
    func = attrs.get("code.function.name", attrs.get("code.function"))
    return {"file": file, "line": line if isinstance(line, int) else None,
            "function": func if isinstance(func, str) else None}


def call_event(span: Span) -> dict[str, Any]:
    """A child span as ``method_complete`` or ``method_failed`` (at its end), of the trace until its entry is known."""
    duration = max(0.0, span.end - span.start)
    failure = failure_of(span)
    if failure is None:
        return _event(span.trace, "method_complete", span.end, {"method": span.method, "duration": duration,
                                                                 "success": True})
    return _event(span.trace, "method_failed", span.end, {"method": span.method, "duration": duration, **failure})


def execution_events(root: Span, calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One execution: ``execution_start`` (the code version), its calls (``call_event``s), ``execution_complete``.

    An exception on the root that no call failed with is an ``execution_error`` (as ``Telemetry``
    logs an exception no instrumented method logged).
    """
    eid = root.execution_id
    failures = {(c["event_data"].get("error_type"), c["event_data"].get("error"))
                for c in calls if c["event_type"] == "method_failed"}
    start: dict[str, Any] = {"span": root.name}
    if root.version is not None:
        start["code_version"] = root.version
    if isinstance(root.resource.get("service.name"), str):
        start["agent"] = root.resource["service.name"]
    out = [_event(eid, "execution_start", root.start, start), *({**c, "execution_id": eid} for c in calls)]
    done: dict[str, Any] = {"success": not root.error, "duration": max(0.0, root.end - root.start)}
    failure = failure_of(root)
    if failure is not None:
        done.update(failure_type=failure["error_type"], failure=failure["error"][:2000])
        if root.exception is not None and (failure["error_type"], failure["error"]) not in failures:
            out.append(_event(eid, "execution_error", root.end,
                              {"method": "execution", "duration": done["duration"], **failure}))
    out.append(_event(eid, "execution_complete", root.end, done))
    return out
