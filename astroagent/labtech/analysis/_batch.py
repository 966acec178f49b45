"""One read of a log byte range, reduced to per-hour aggregates (the pure-Python engine).

Both ingest engines (this one and ``_duck``) turn a byte range of an execution log into a
``Batch``: per-hour aggregates plus the executions the range could not resolve alone
(opened but not closed yet, or closed after an earlier range opened them). The rules are
the log contract of DESIGN §3 and docs/log-format.md; ``_duck`` states the same rules in SQL.

A failed call is absorbed when a successful call of the same method in the same execution is at
the same or a later timestamp in this range. For the executions open before or after the range,
the failures left and the latest successes go on to ``_absorb``, which matches them across ranges.
"""

from __future__ import annotations

import math
import re
from itertools import groupby
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from astroagent.labtech.analysis._hours import MAX_DIGESTS, MAX_EXAMPLES, ErrorEvent, HourRow, Run, hour_of
from astroagent.labtech.analysis.patterns import split_error, template

__all__ = ["Batch", "Pending", "parse_range", "TIMESTAMP_PATTERN", "STAGE_SUFFIXES", "RECENT_SECONDS", "call_streaks"]

RECENT_SECONDS = 3600.0   # closed executions remembered this long, to drop late duplicate closes
MAX_LINE = 64 * 1024 * 1024      # a longer line is counted malformed without parsing
_CHUNK = 8 * 1024 * 1024
STAGE_SUFFIXES = (("_failed", 7), ("_error", 6), ("_success", 8))
# The timestamps both engines read (docs/log-format.md): ISO 8601 extended, years 1900-2999, a time
# to the minute or finer with an optional Z or offset, or a date alone; spaces around are allowed.
# Anything else (compact ISO, week dates, "epoch", "24:00", a zone name) is malformed in both.
TIMESTAMP_PATTERN = (r" *(?:19|2\d)\d{2}-\d{2}-\d{2}(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
                     r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)? *")
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_BOOL_STR = {"true": True, "t": True, "yes": True, "y": True, "1": True, "on": True,
             "false": False, "f": False, "no": False, "n": False, "0": False, "off": False}


@dataclass(slots=True)
class Pending:
    """An execution this range saw only part of."""

    eid: str
    start_ts: float | None = None
    version: str | None = None
    close_ts: float | None = None
    success: bool | None = None
    duration: float | None = None
    exec_error: bool = False
    closes: int = 0


@dataclass(slots=True)
class Batch:
    """What one read of a range found: per-hour rows, and what only later reads can resolve."""

    events: int = 0
    malformed: int = 0
    last_ts: float | None = None
    hours: dict[str, HourRow] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    # per method: (run before the first success, longest run, run after the last success, any success)
    streaks: dict[str, tuple[Run, Run, Run, bool]] = field(default_factory=dict)
    closed_ids: list[tuple[str, float]] = field(default_factory=list)   # resolved here, recently: dedupe later
    # of the executions open before this range or after it: failures not absorbed here
    # (eid, hour, error group key, sorted times), and the latest success per (eid, method)
    waiting: list[tuple[str, str, str, list[float]]] = field(default_factory=list)
    open_successes: dict[tuple[str, str], float] = field(default_factory=dict)
    applied: bool = False          # already folded into the state (the Python engine reads ranges one by one)

    def hour(self, key: str) -> HourRow:
        h = self.hours.get(key)
        if h is None:
            h = self.hours[key] = HourRow()
        return h


# -- coercions (mirror DuckDB's JSON reader with explicit column types) -------------------

def _s(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, dict)):
        try:
            return orjson.dumps(v).decode()
        except (TypeError, orjson.JSONEncodeError):  # nested deeper than orjson writes: unusable, not fatal
            return None
    return None


def _f(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            out = float(v)
        except ValueError:
            return None
        return out if math.isfinite(out) else None
    return None


def _b(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str):
        return _BOOL_STR.get(v.strip().lower())
    return None


def _i(v: Any) -> int | None:
    f = _f(v)
    return int(f) if f is not None else None


def _ts(v: Any) -> float | None:
    if not isinstance(v, str) or _TIMESTAMP.fullmatch(v) is None:
        return None
    try:
        dt = datetime.fromisoformat(v.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


# -- the engine ---------------------------------------------------------------------------

def _lines(path: Path, start: int, end: int):
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = end - start
        carry = b""
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            parts = (carry + chunk).split(b"\n")
            carry = parts.pop()
            if len(carry) > MAX_LINE:
                carry = b"\x00" * 1  # keep one marker byte: the line is counted, not held
            yield from parts
        if carry:
            yield carry


class _Read:
    """One byte range being read: executions by id, and the calls and errors in read order,
    reduced into the batch by ``finish`` once every line is seen."""

    __slots__ = ("batch", "open_versions", "execs", "calls", "errors")

    def __init__(self, open_versions: Mapping[str, str | None]) -> None:
        self.batch = Batch()
        self.open_versions = open_versions
        self.execs: dict[str, Pending] = {}
        self.calls: list[tuple[float, str | None, str, bool, float | None, str | None]] = []
        self.errors: list[tuple[float, str | None, str | None, str, str, dict | None, str | None, str | None]] = []

    def line(self, raw: bytes) -> None:
        """One line: blank lines are skipped; a line without an object, timestamp or type is malformed."""
        line = raw.strip(b" \t\r\n\f\v")
        if line.startswith(b"\xef\xbb\xbf"):  # a byte-order mark (also where files were concatenated)
            line = line[3:].strip()
        if not line:
            return
        batch = self.batch
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            batch.malformed += 1
            return
        if not isinstance(obj, dict):
            batch.malformed += 1
            return
        ts = _ts(obj.get("timestamp"))
        et = obj.get("event_type")
        et = et if isinstance(et, str) else (_s(et) if isinstance(et, (int, float)) else None)
        if ts is None or et is None:
            batch.malformed += 1
            return
        batch.events += 1
        batch.last_ts = ts if batch.last_ts is None else max(batch.last_ts, ts)
        eid = _s(obj.get("execution_id"))
        d = obj.get("event_data")
        if not isinstance(d, dict):
            d = {}
        batch.hour(hour_of(ts)).events += 1
        if et == "execution_start" or et == "execution_complete":
            if eid is not None:
                self._execution(et == "execution_start", eid, ts, d)
        else:
            self._event(et, eid, ts, d)

    def _pending(self, eid: str) -> Pending:
        return self.execs.get(eid) or self.execs.setdefault(eid, Pending(eid))

    def _execution(self, starts: bool, eid: str, ts: float, d: dict) -> None:
        """An execution's start (its code version) or close (outcome, duration); the earliest of each counts."""
        rec = self._pending(eid)
        if starts:
            if rec.start_ts is None or ts < rec.start_ts:
                rec.start_ts = ts
                version = _s(d.get("code_version"))
                rec.version = version if version is not None else rec.version
            return
        rec.closes += 1
        success, duration = _b(d.get("success")), _f(d.get("duration"))
        first = rec.close_ts is None or ts < rec.close_ts
        if first:
            rec.close_ts = ts
        if success is not None and (first or rec.success is None):
            rec.success = success
        if duration is not None and (first or rec.duration is None):
            rec.duration = duration

    def _event(self, et: str, eid: str | None, ts: float, d: dict) -> None:
        """Any other event: a method call (timed, failed or completed) and/or an error (DESIGN §3)."""
        etype0, err = _s(d.get("error_type")), _s(d.get("error"))
        stage = None
        for suffix, n in STAGE_SUFFIXES:
            if et.endswith(suffix):
                stage = et[:-n]
                break
        is_err = etype0 is not None or err is not None or et.endswith(("_failed", "_error"))
        method = _s(d.get("method"))
        if method is None:
            method = stage
        if et == "execution_error" and eid is not None:
            self._pending(eid).exec_error = True
        duration = _f(d.get("duration"))
        if duration is None and (et.endswith("_success") or et.endswith("_failed")):
            duration = next((_f(v) for k, v in d.items() if k.endswith("_time") and _f(v) is not None), None)
        if method is not None and method != "execution" and (
                duration is not None or is_err or et.endswith("_success") or et.endswith("_complete")):
            self.calls.append((ts, eid, method, is_err, duration, _s(d.get("args_digest"))))
        if is_err:
            loc = d.get("location")
            tb = _s(d.get("traceback")) if not isinstance(loc, dict) else None
            self.errors.append((ts, eid, method, etype0 or "", err or "", loc if isinstance(loc, dict) else None,
                                tb, _s(d.get("args_digest"))))

    def _version(self, eid: str | None) -> str:
        """The code version of the execution ``eid`` belongs to: opened here, else in an earlier read."""
        if eid is None:
            return "unknown"
        rec = self.execs.get(eid)
        if rec is not None and rec.start_ts is not None:
            return rec.version or "unknown"
        return self.open_versions.get(eid) or "unknown"

    def finish(self) -> Batch:
        """Executions opened and closed here are counted, the rest pending; calls and errors are grouped."""
        batch = self.batch
        for rec in self.execs.values():
            if rec.start_ts is None or rec.close_ts is None:
                batch.pending.append(rec)
                continue
            if batch.last_ts is not None and rec.close_ts >= batch.last_ts - RECENT_SECONDS:
                batch.closed_ids.append((rec.eid, rec.close_ts))
            batch.hour(hour_of(rec.start_ts)).version(rec.version or "unknown").add_execution(
                rec.start_ts, failed=rec.success is False or rec.exec_error,
                duration=rec.duration if rec.duration is not None else rec.close_ts - rec.start_ts)
        last_ok = self._last_successes()
        for ts, eid, method, is_err, duration, digest in self.calls:
            hour = batch.hour(hour_of(ts))
            hour.version(self._version(eid)).method(method).add_call(
                is_err, duration, is_err and last_ok.get((eid, method), -math.inf) >= ts)
            if digest is not None:
                hour.add_digest(method, digest, int(not is_err), int(is_err))
        batch.streaks.update(call_streaks(*_segments(self.calls)))
        batch.open_successes = {k: ts for k, ts in last_ok.items() if self._open(k[0])}
        self._error_groups(last_ok)
        return batch

    def _last_successes(self) -> dict[tuple[str, str], float]:
        """The latest successful call per (eid, method), of the executions with a failure here or open
        before or after this range (the only ones the rule asks about)."""
        watch = {e[1] for e in self.errors if e[1] is not None} | self.open_versions.keys() | {
            eid for eid, rec in self.execs.items() if rec.start_ts is not None and rec.close_ts is None}
        last_ok: dict[tuple[str, str], float] = {}
        for ts, eid, method, is_err, _, _ in self.calls:
            if not is_err and eid in watch and ts > last_ok.get((eid, method), -math.inf):
                last_ok[(eid, method)] = ts
        return last_ok

    def _open(self, eid: str) -> bool:
        """Open before this range, or opened here and not closed: other ranges may hold its calls."""
        rec = self.execs.get(eid)
        return eid in self.open_versions or (rec is not None and rec.start_ts is not None and rec.close_ts is None)

    def _error_groups(self, last_ok: Mapping[tuple[str, str], float]) -> None:
        """Errors grouped by hour, version, method, type, template and location, then added to their hours."""
        groups: dict[tuple, tuple[str, ErrorEvent, dict[str, list[float]]]] = {}
        for ts, eid, method, etype0, err, loc, tb, digest in self.errors:
            etype, msg = split_error(etype0 or None, err or None)
            lfile = _s(loc.get("file")) if loc else None
            lfunc = _s(loc.get("function")) if loc else None
            lline = _i(loc.get("line")) if loc else None
            if loc is not None and lfile is None:
                tb = None
            hkey = hour_of(ts)
            version = self._version(eid)
            key = (hkey, version, method, etype, template(msg), lfile, lfunc, lline, tb)
            entry = groups.get(key)
            if entry is None:
                ev = ErrorEvent(version, method, etype, key[4], ts, ts, lfile, lfunc, lline, tb, count=0,
                                executions=0, examples=[], digests=[])
                entry = groups[key] = (hkey, ev, {})
            _, ev, eids = entry
            ev.count += 1
            absorbed = eid is not None and last_ok.get((eid, method), -math.inf) >= ts
            ev.absorbed += absorbed
            if eid is not None:
                left = eids.setdefault(eid, [])   # its failures here not absorbed
                left += [] if absorbed else [ts]
            ev.first, ev.last = min(ev.first, ts), max(ev.last, ts)
            if msg not in ev.examples and len(ev.examples) < MAX_EXAMPLES:
                ev.examples.append(msg)
            if digest is not None and digest not in ev.digests and len(ev.digests) < MAX_DIGESTS:
                ev.digests.append(digest)
        for hkey, ev, eids in groups.values():
            ev.executions = len(eids)
            ev.absorbed_executions = sum(not left for left in eids.values())
            gkey = self.batch.hour(hkey).add_error(ev)
            self.batch.waiting.extend((eid, hkey, gkey, sorted(left)) for eid, left in eids.items()
                                      if left and self._open(eid))


def parse_range(path: Path, start: int, end: int, open_versions: Mapping[str, str | None]) -> Batch:
    """Aggregate the whole lines in ``path[start:end]`` (``end`` sits just after a newline)."""
    read = _Read(open_versions)
    for raw in _lines(path, start, end):
        read.line(raw)
    return read.finish()


def _segments(calls: list) -> tuple[list[tuple[str, int, int, float, float]], dict[str, int]]:
    """Failure runs of the calls in time order per method (a success first at equal times):
    ``(method, successes before it, failures, first, last)``, and the successes per method
    (what ``_duck`` computes in SQL)."""
    segs: list[tuple[str, int, int, float, float]] = []
    oks: dict[str, int] = {}
    order = sorted((c[2], c[0], c[3]) for c in calls)
    for method, group in groupby(order, key=lambda c: c[0]):
        g = n = 0
        first = last = 0.0
        for _, ts, is_err in group:
            if is_err:
                n, last = n + 1, ts
                first = ts if n == 1 else first
                continue
            if n:
                segs.append((method, g, n, first, last))
            g, n = g + 1, 0
        if n:
            segs.append((method, g, n, first, last))
        oks[method] = g
    return segs, oks


def call_streaks(segments: Iterable[tuple[str, int, int, float, float]], oks: Mapping[str, int]
                 ) -> dict[str, tuple[Run, Run, Run, bool]]:
    """Failure runs per method, counted call by call (see ``_segments``; sorted by method, then order).

    A run is consecutive failed calls of one method (a dependency that is down, even for
    seconds). Per method: (run before the first success, longest run, run after the last
    success, whether any call succeeded), so ``ingest`` joins runs across reads.
    """
    none: Run = (0, None, None)
    out: dict[str, tuple[Run, Run, Run, bool]] = {m: (none, none, none, k > 0) for m, k in oks.items()}
    for method, group in groupby(segments, key=lambda r: r[0]):
        k = oks.get(method, 0)
        lead, best, trail = none, none, none
        for _, g, n, first, last in group:
            run = (int(n), float(first), float(last))
            if g == 0:
                lead = run
            if run[0] > best[0]:
                best = run
            if g >= k:
                trail = run
        out[method] = (lead, best, trail, k > 0)
    return out
