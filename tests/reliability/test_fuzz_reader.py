"""Property-based fuzzing of the log reader (``labtech.ingest``): it never raises and counts exactly.

Each generated file mixes valid events (every timestamp form, unknown types, wrong-typed or
missing ``event_data``, deep nesting, BOM, CRLF, padding) with lines that must be counted as
malformed (truncated JSON, wrong field types, non-objects, binary junk, NUL, invalid UTF-8,
nesting past the parser's limit) and blank lines (skipped, counted as neither). The expected
counts come from how each line was built, not from the reader's own rules.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from astroagent.labtech.analysis.ingest import ingest, load_state

# tmpfs when there is one: the reader fsyncs its checkpoint, and hundreds of examples should not wait on a disk
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

EVENT_TYPES = ["execution_start", "execution_complete", "execution_error", "data_fetch_failed", "fetch_success",
               "method_complete", "method_failed", "analysis_error", "totally_unknown_event", "progress"]
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), SAFE_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                          st.dictionaries(SAFE_TEXT, kids, max_size=4)),
                           max_leaves=12)
# fields the reader coerces, given any JSON type
DATA_KEYS = ["method", "duration", "success", "error", "error_type", "location", "traceback", "args_digest",
             "code_version", "fetch_time", "failure"]


@st.composite
def timestamps(draw) -> str:
    dt = draw(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31)))
    form = draw(st.sampled_from(["Z", "offset", "naive", "space"]))
    if form == "Z":
        return dt.isoformat() + "Z"
    if form == "offset":
        minutes = draw(st.integers(-14 * 60 + 1, 14 * 60 - 1))
        return dt.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()
    if form == "space":
        return dt.replace(tzinfo=UTC).isoformat(sep=" ")
    return dt.isoformat()


def _nested(depth: int) -> str:
    return '{"k":' * depth + "1" + "}" * depth


@st.composite
def event_objects(draw) -> dict:
    obj: dict = {"timestamp": draw(timestamps()), "event_type": draw(st.one_of(st.sampled_from(EVENT_TYPES),
                                                                              SAFE_TEXT))}
    eid = draw(st.one_of(st.just(None), st.text("abcdef0123456789", min_size=1, max_size=8), st.integers(0, 99)))
    if eid is not None:
        obj["execution_id"] = eid
    data_kind = draw(st.sampled_from(["dict", "dict", "dict", "missing", "wrong"]))
    if data_kind == "dict":
        obj["event_data"] = draw(st.dictionaries(st.one_of(st.sampled_from(DATA_KEYS), SAFE_TEXT), JSON_VALUES,
                                                 max_size=6))
    elif data_kind == "wrong":
        obj["event_data"] = draw(st.one_of(st.lists(SCALARS, max_size=3), SAFE_TEXT, st.integers(), st.none()))
    return obj


def _dump(obj: object, ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")


@st.composite
def valid_event_line(draw) -> bytes:
    obj = draw(event_objects())
    text = _dump(obj, draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # deep but legal nesting inside event_data (a key the reader ignores)
        depth = draw(st.integers(50, 1000))
        text = text[:-1] + b', "deep": ' + _nested(depth).encode() + b"}"
    if draw(st.integers(0, 14)) == 0:  # a field the reader coerces, nested past what orjson re-serialises
        key = draw(st.sampled_from(["execution_id", "method", "error", "error_type", "code_version"]))
        deep = _nested(draw(st.integers(260, 1000))).encode()
        text = text[:-1] + (b', "execution_id": ' + deep if key == "execution_id"
                            else b', "event_data": {"%s": ' % key.encode() + deep + b"}") + b"}"
    if draw(st.integers(0, 19)) == 0:  # a huge line
        text = text[:-1] + b', "blob": "' + b"x" * draw(st.integers(70_000, 150_000)) + b'"}'
    return text


@st.composite
def bad_line(draw) -> bytes:
    kind = draw(st.sampled_from(["truncated", "wrong_ts", "wrong_type", "missing", "non_object", "junk", "nul",
                                 "invalid_utf8", "too_deep", "trailing"]))
    obj = draw(event_objects())
    text = _dump(obj, draw(st.booleans()))
    if kind == "truncated":
        return text[: draw(st.integers(1, len(text) - 1))]
    if kind == "wrong_ts":
        obj["timestamp"] = draw(st.one_of(
            st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.none(), st.booleans(),
            st.lists(st.integers(), max_size=2), st.dictionaries(SAFE_TEXT, st.integers(), max_size=2),
            st.sampled_from(["", "yesterday", "2024-13-45T00:00:00", "not a date", "12:00", "2024/01/02 03:04"])))
        return _dump(obj, True)
    if kind == "wrong_type":
        obj["event_type"] = draw(st.one_of(st.none(), st.lists(SAFE_TEXT, max_size=2),
                                           st.dictionaries(SAFE_TEXT, st.integers(), max_size=2)))
        return _dump(obj, True)
    if kind == "missing":
        del obj[draw(st.sampled_from(["timestamp", "event_type"]))]
        return _dump(obj, True)
    if kind == "non_object":
        value = draw(st.one_of(st.lists(JSON_VALUES, max_size=3), SCALARS.filter(lambda v: v is not None),
                               st.none()))
        return _dump(value, True)
    if kind == "junk":
        head = draw(st.sampled_from([b"\x00", b"\xff", b"\xfe", b"#", b"x", b"\x80", b"}", b"<"]))
        return head + draw(st.binary(max_size=200)).replace(b"\n", b" ")
    if kind == "nul":
        at = draw(st.integers(1, len(text) - 1))
        return text[:at] + b"\x00" + text[at:]
    if kind == "invalid_utf8":
        obj["note"] = "MARK"
        raw = _dump(obj, True)
        return raw.replace(b"MARK", draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82",
                                                           b"\xf8\x88\x80\x80\x80", b"ok\x80ok"])))
    if kind == "too_deep":
        depth = draw(st.integers(1100, 5000))
        return draw(st.sampled_from([b"[" * depth + b"]" * depth, _nested(depth).encode()]))
    return text + draw(st.sampled_from([b" x", b",", b"}", b" {}", b"\x00"]))   # trailing content


@st.composite
def log_files(draw) -> tuple[bytes, int, int]:
    """(file bytes, events, malformed): the expected counts follow from how each line was made."""
    lines: list[bytes] = []
    events = malformed = 0
    for kind in draw(st.lists(st.sampled_from(["event", "event", "event", "bad", "bad", "blank"]), max_size=40)):
        if kind == "event":
            body = draw(valid_event_line())
            events += 1
        elif kind == "bad":
            body = draw(bad_line())
            malformed += 1
        else:
            body = draw(st.sampled_from([b"", b"   ", b"\t", b" \r", b"\x0b\x0c", b"\xef\xbb\xbf"]))
        if kind != "blank" and draw(st.integers(0, 4)) == 0:
            body = b"\xef\xbb\xbf" + body
        if draw(st.booleans()):
            body = draw(st.sampled_from([b" ", b"\t", b"  "])) + body + draw(st.sampled_from([b"", b" ", b"\t"]))
        lines.append(body + draw(st.sampled_from([b"\n", b"\r\n"])))
    return b"".join(lines), events, malformed


def _read(folder: Path, engine: str = "python"):
    return ingest(folder / "logs", folder / "state", now=datetime(2100, 1, 1, tzinfo=UTC), engine=engine,
                  retention_hours=10**7)


def _hour_totals(state: dict) -> tuple[int, int]:
    hours = state["hours"].values()
    return sum(h.events for h in hours), sum(h.malformed for h in hours)


@FUZZ
@given(log_files())
def test_reader_never_raises_and_counts_exactly(case: tuple[bytes, int, int]) -> None:
    data, events, malformed = case
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        folder = Path(tmp)
        (folder / "logs").mkdir()
        (folder / "logs" / "execution_20260101.jsonl").write_bytes(data)
        result = _read(folder)
        assert (result.new_events, result.new_malformed) == (events, malformed)
        assert _hour_totals(result.state) == (events, malformed)
        again = _read(folder)   # nothing new: nothing counted twice
        assert (again.new_events, again.new_malformed) == (0, 0)


@FUZZ
@given(log_files(), st.data())
def test_incremental_reads_of_a_growing_file_add_up_to_one_read(case: tuple[bytes, int, int], data) -> None:
    """A writer appends in arbitrary pieces (even mid-line); the reader's checkpoints lose and repeat nothing."""
    content, events, malformed = case
    cuts = sorted(data.draw(st.lists(st.integers(0, len(content)), max_size=5)))
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        folder = Path(tmp)
        (folder / "logs").mkdir()
        path = folder / "logs" / "execution_20260101.jsonl"
        seen_events = seen_bad = 0
        previous = 0
        for cut in [*cuts, len(content)]:
            with open(path, "ab") as fh:
                fh.write(content[previous:cut])
            previous = cut
            result = _read(folder)
            seen_events += result.new_events
            seen_bad += result.new_malformed
        assert (seen_events, seen_bad) == (events, malformed)


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(log_files())
# an event_type string starting with '[' was taken for a list (DuckDB: 0 events, 2 malformed)
@example((b'\xef\xbb\xbf{\n{"timestamp": "2001-01-01T00:00:00Z", "event_type": "["}\n', 1, 1))
def test_the_duckdb_engine_counts_the_same(case: tuple[bytes, int, int]) -> None:
    pytest.importorskip("duckdb")
    data, events, malformed = case
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        folder = Path(tmp)
        (folder / "logs").mkdir()
        (folder / "logs" / "execution_20260101.jsonl").write_bytes(data)
        result = _read(folder, engine="duckdb")
        assert (result.new_events, result.new_malformed) == (events, malformed), result.notes


# Lines the DuckDB engine once read differently from the Python engine (fixed in 3cb95b6; the
# string event types starting with '[' or '{' since), and the unterminated-line family it reads right.
DUCK_GAPS = {
    "bom-on-a-later-line": b'\xef\xbb\xbf{"timestamp": "2026-01-01T00:00:00Z", "event_type": "execution_start"}',
    "blank-then-bom": b' \xef\xbb\xbf{"timestamp": "2026-01-01T00:00:00Z", "event_type": "execution_start"}',
    "event_type-a-list": b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": []}',
    "event_type-an-object": b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": {"a": 1}}',
    "timestamp-with-slashes": b'{"timestamp": "2024/01/02 03:04", "event_type": "x"}',
    # timestamps one reader accepted and the other did not, before both checked one grammar
    **{f"timestamp-{name}": b'{"timestamp": "%s", "event_type": "x"}' % value for name, value in (
        ("compact", b"20260101T100000Z"), ("epoch", b"epoch"), ("hour-24", b"2026-01-01T24:00:00"),
        ("lowercase-t", b"2026-01-01t10:00:00"), ("zone-name", b"2026-01-01T10:00:00 UTC"),
        ("week-date", b"2026-W01-1"), ("one-digit-month", b"2026-1-1 10:00:00"), ("year-0", b"0000-01-01"),
        ("hour-only", b"2026-01-01T10"), ("date-and-spaces", b"2026-01-01 "))},
    "event_type-a-string-like-a-list": b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": "["}',
    "event_type-a-string-like-an-object": b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": "{\\"a\\": 1}"}',
    "event_type-a-number": b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": 7}',
    "event_type-null": b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": null}',
    # an unterminated object, list or string must not swallow the valid line after it
    "unterminated-object": b'{\n{"timestamp": "2026-01-01T00:00:00Z", "event_type": "x"}',
    "unterminated-list": b'[1,\n{"timestamp": "2026-01-01T00:00:00Z", "event_type": "x"}',
    "unterminated-string": b'{"a": "abc\n{"timestamp": "2026-01-01T00:00:00Z", "event_type": "x"}',
    "unterminated-nested": b'{"a": [{"b": \n{"timestamp": "2026-01-01T00:00:00Z", "event_type": "x"}\n'
                           b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": "y"}',
}


@pytest.mark.parametrize("name", sorted(DUCK_GAPS))
def test_the_duckdb_engine_reads_these_lines_like_the_python_engine(tmp_path: Path, name: str) -> None:
    pytest.importorskip("duckdb")
    first = b'{"timestamp": "2026-01-01T00:00:00Z", "event_type": "execution_start", "execution_id": "e"}\n'
    counts = {}
    for engine in ("python", "duckdb"):
        (tmp_path / engine / "logs").mkdir(parents=True)
        (tmp_path / engine / "logs" / "execution_20260101.jsonl").write_bytes(first + DUCK_GAPS[name] + b"\n")
        result = _read(tmp_path / engine, engine=engine)
        counts[engine] = (result.new_events, result.new_malformed)
    assert counts["duckdb"] == counts["python"]


@settings(max_examples=10, deadline=None, database=None)
@given(st.sampled_from(["execution_id", "method", "error", "error_type", "code_version", "args_digest"]),
       st.integers(300, 1000))
def test_a_deeply_nested_coerced_field_is_malformed_or_read_never_a_crash(field: str, depth: int) -> None:
    top = field == "execution_id"
    nested = _nested(depth)
    data = '{"event_type": "fetch_failed", "timestamp": "2026-01-01T00:00:00Z"'
    data += f', "execution_id": {nested}' if top else f', "execution_id": "e1", "event_data": {{"{field}": {nested}}}'
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        folder = Path(tmp)
        (folder / "logs").mkdir()
        (folder / "logs" / "execution_20260101.jsonl").write_bytes(data.encode() + b"}\n")
        result = _read(folder)
        assert result.new_events + result.new_malformed == 1


# -- failed attempts a retry absorbed (docs/log-format.md: "Failures a retry absorbed") ---------

RT0 = datetime(2026, 1, 1, 9, 59, 57, tzinfo=UTC)    # the calls straddle an hour boundary


def _event(sec: int, eid: str | None, et: str, data: dict) -> bytes:
    obj = {"timestamp": (RT0 + timedelta(seconds=sec)).isoformat(), "event_type": et, "event_data": data}
    if eid is not None:
        obj["execution_id"] = eid
    return json.dumps(obj).encode() + b"\n"


def _call_line(sec: int, eid: str | None, method: str, ok: bool, seed_style: bool, msg: str) -> bytes:
    if seed_style:   # "<stage>_success" with "<stage>_time", "<stage>_failed" with an error text
        return _event(sec, eid, f"{method}_{'success' if ok else 'failed'}",
                      {f"{method}_time": 0.5} if ok else {"error": f"ConnectionError: {msg}"})
    if ok:
        return _event(sec, eid, "method_complete", {"method": method, "duration": 0.5, "success": True})
    return _event(sec, eid, "method_failed", {"method": method, "duration": 0.1, "error_type": "ConnectionError",
                                             "error": f"ConnectionError: {msg}"})


CALLS = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["fetch", "fit"]), st.booleans(), st.booleans(),
                           st.sampled_from(["reset", "refused"])), max_size=8)


@st.composite
def retry_logs(draw, *, tidy: bool = False) -> tuple[list[tuple[int, bytes]], int]:
    """``((second, line), ...)`` of executions whose calls fail and succeed at a few shared instants,
    and how many failures the rule absorbs. ``tidy``: every execution starts before its calls and
    has its own id; else some lack a start, share an id or have no id at all."""
    lines: list[tuple[int, bytes]] = []
    outcomes: dict[tuple[str | None, str], list[tuple[int, bool]]] = {}
    for i in range(draw(st.integers(0, 6))):
        eid = f"x{i}" if tidy or draw(st.integers(0, 5)) else draw(st.sampled_from(["x0", None]))
        if tidy or draw(st.integers(0, 4)):
            lines.append((0, _event(0, eid, "execution_start", {"code_version": draw(st.sampled_from(["v1", "v2"]))})))
        for sec, method, ok, seed_style, msg in sorted(draw(CALLS), key=lambda c: c[0]):   # ties in any order
            lines.append((sec, _call_line(sec, eid, method, ok, seed_style, msg)))
            outcomes.setdefault((eid, method), []).append((sec, ok))
        if draw(st.booleans()):
            lines.append((7, _event(7, eid, "execution_complete", {"success": draw(st.booleans())})))
    absorbed = sum(1 for (eid, _), calls in outcomes.items() if eid is not None for sec, ok in calls
                   if not ok and any(ok2 and sec2 >= sec for sec2, ok2 in calls))
    return lines, absorbed


def _absorbed_view(state: dict, *, executions: bool = True) -> tuple[dict, dict]:
    """Method rows (calls, errors, absorbed) and error groups (count, absorbed[, executions, absorbed ones])."""
    rows, groups = {}, {}
    for hk, h in state["hours"].items():
        for v, row in h.versions.items():
            rows.update({(hk, v, m): (r.calls, r.errors, r.absorbed) for m, r in row.methods.items()})
        groups.update({(hk, key): (g.count, g.absorbed) + ((g.executions, g.absorbed_executions) if executions else ())
                       for key, g in h.errors.items()})
    return rows, groups


def _ingest_at(folder: Path, engine: str):
    return ingest(folder / "logs", folder / "state", now=RT0 + timedelta(minutes=2), engine=engine)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(retry_logs(), st.randoms(use_true_random=False))
def test_both_engines_count_the_failures_a_retry_absorbed_alike_and_by_the_rule(case, rnd) -> None:
    pytest.importorskip("duckdb")
    lines, absorbed = case
    rnd.shuffle(lines)                        # the rule goes by timestamp, not by the order lines were written
    views = {}
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        for engine in ("python", "duckdb"):
            (Path(tmp) / engine / "logs").mkdir(parents=True)
            (Path(tmp) / engine / "logs" / "execution_20260101.jsonl").write_bytes(b"".join(b for _, b in lines))
            result = _ingest_at(Path(tmp) / engine, engine)
            assert result.engines.get(engine) or not lines, result.notes
            views[engine] = _absorbed_view(result.state)
    assert views["python"] == views["duckdb"]
    rows, groups = views["python"]
    assert sum(r[2] for r in rows.values()) == sum(g[1] for g in groups.values()) == absorbed


@pytest.mark.parametrize("engine,examples", [("python", 40), ("duckdb", 8)])
def test_where_reads_split_never_changes_what_was_absorbed(engine: str, examples: int) -> None:
    if engine == "duckdb":
        pytest.importorskip("duckdb")

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(retry_logs(tidy=True), st.data())
    def check(case, data) -> None:
        lines, absorbed = case
        ordered = [b for _, b in sorted(lines, key=lambda sl: sl[0])]         # written in time order
        content = b"".join(ordered)
        ends = [sum(map(len, ordered[:i])) for i in range(len(ordered) + 1)]
        cuts = sorted(data.draw(st.lists(st.one_of(st.sampled_from(ends), st.integers(0, len(content))), max_size=6)))
        with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
            whole, split = Path(tmp) / "whole", Path(tmp) / "split"
            for folder in (whole, split):
                (folder / "logs").mkdir(parents=True)
            (whole / "logs" / "execution_20260101.jsonl").write_bytes(content)
            _ingest_at(whole, engine)
            once = _absorbed_view(load_state(whole / "state", whole / "logs"), executions=False)
            previous = 0
            for cut in [*cuts, len(content)]:    # a writer appending in pieces, even mid-line
                with open(split / "logs" / "execution_20260101.jsonl", "ab") as fh:
                    fh.write(content[previous:cut])
                previous = cut
                _ingest_at(split, engine)
            state = load_state(split / "state", split / "logs")
        assert _absorbed_view(state, executions=False) == once
        assert sum(r[2] for r in once[0].values()) == absorbed

    check()
