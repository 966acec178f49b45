"""One read of a log byte range, reduced to per-hour aggregates (the pure-Python engine).

Both ingest engines (this one and ``_duck``) turn a byte range of an execution log into a
``Batch``: per-hour aggregates plus the executions the range could not resolve alone
(opened but not closed yet, or closed after an earlier range opened them). The rules are
the log contract of DESIGN §3; ``_duck`` states the same rules in SQL.
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

from astroagent.labtech.analysis.patterns import split_error, template, traceback_frames

__all__ = ["Batch", "Pending", "parse_range", "SAMPLES", "TIMESTAMP_PATTERN", "new_hour", "hour_of", "STAGE_SUFFIXES",
           "RECENT_SECONDS", "call_streaks", "Run", "add_execution", "add_error", "merge_error_group"]

SAMPLES = 64                     # timing samples kept per hour, version and method
MAX_EXAMPLES = 3
MAX_DIGESTS = 20
MAX_FRAMES = 12
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


def hour_of(ts: float) -> str:
    return str(math.floor(ts / 3600))


def new_hour() -> dict[str, Any]:
    # "s": longest failure run per method ending in this hour; "sd": that run as [n, first_ts, last_ts]
    return {"events": 0, "malformed": 0, "v": {}, "d": {}, "e": {}, "s": {}, "sd": {}}


Run = tuple[int, float | None, float | None]   # consecutive failed calls: (count, first ts, last ts)


@dataclass
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


@dataclass
class Batch:
    events: int = 0
    malformed: int = 0
    last_ts: float | None = None
    hours: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    # per method: (run before the first success, longest run, run after the last success, any success)
    streaks: dict[str, tuple[Run, Run, Run, bool]] = field(default_factory=dict)
    closed_ids: list[tuple[str, float]] = field(default_factory=list)   # resolved here, recently: dedupe later
    applied: bool = False          # already folded into the state (the Python engine reads ranges one by one)

    def hour(self, key: str) -> dict[str, Any]:
        h = self.hours.get(key)
        if h is None:
            h = self.hours[key] = new_hour()
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


def parse_range(path: Path, start: int, end: int, open_versions: Mapping[str, str | None]) -> Batch:
    """Aggregate the whole lines in ``path[start:end]`` (``end`` sits just after a newline)."""
    batch = Batch()
    execs: dict[str, Pending] = {}
    calls: list[tuple[float, str | None, str, bool, float | None, str | None]] = []
    errors: list[tuple[float, str | None, str | None, str, str, dict | None, str | None, str | None]] = []
    for raw in _lines(path, start, end):
        line = raw.strip(b" \t\r\n\f\v")
        if line.startswith(b"\xef\xbb\xbf"):  # a byte-order mark (also where files were concatenated)
            line = line[3:].strip()
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            batch.malformed += 1
            continue
        if not isinstance(obj, dict):
            batch.malformed += 1
            continue
        ts = _ts(obj.get("timestamp"))
        et = obj.get("event_type")
        et = et if isinstance(et, str) else (_s(et) if isinstance(et, (int, float)) else None)
        if ts is None or et is None:
            batch.malformed += 1
            continue
        batch.events += 1
        batch.last_ts = ts if batch.last_ts is None else max(batch.last_ts, ts)
        eid = _s(obj.get("execution_id"))
        d = obj.get("event_data")
        if not isinstance(d, dict):
            d = {}
        batch.hour(hour_of(ts))["events"] += 1
        if et == "execution_start" or et == "execution_complete":
            if eid is None:
                continue
            rec = execs.get(eid) or execs.setdefault(eid, Pending(eid))
            if et == "execution_start":
                if rec.start_ts is None or ts < rec.start_ts:
                    rec.start_ts = ts
                    version = _s(d.get("code_version"))
                    rec.version = version if version is not None else rec.version
            else:
                rec.closes += 1
                success, duration = _b(d.get("success")), _f(d.get("duration"))
                first = rec.close_ts is None or ts < rec.close_ts
                if first:
                    rec.close_ts = ts
                if success is not None and (first or rec.success is None):
                    rec.success = success
                if duration is not None and (first or rec.duration is None):
                    rec.duration = duration
            continue
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
            (execs.get(eid) or execs.setdefault(eid, Pending(eid))).exec_error = True
        duration = _f(d.get("duration"))
        if duration is None and (et.endswith("_success") or et.endswith("_failed")):
            duration = next((_f(v) for k, v in d.items() if k.endswith("_time") and _f(v) is not None), None)
        if method is not None and method != "execution" and (
                duration is not None or is_err or et.endswith("_success") or et.endswith("_complete")):
            calls.append((ts, eid, method, is_err, duration, _s(d.get("args_digest"))))
        if is_err:
            loc = d.get("location")
            tb = _s(d.get("traceback")) if not isinstance(loc, dict) else None
            errors.append((ts, eid, method, etype0 or "", err or "", loc if isinstance(loc, dict) else None,
                           tb, _s(d.get("args_digest"))))
    _finish(batch, execs, calls, errors, open_versions)
    return batch


def _version(eid: str | None, execs: Mapping[str, Pending], open_versions: Mapping[str, str | None]) -> str:
    if eid is None:
        return "unknown"
    rec = execs.get(eid)
    if rec is not None and rec.start_ts is not None:
        return rec.version or "unknown"
    return open_versions.get(eid) or "unknown"


def _vslot(hour: dict[str, Any], version: str) -> dict[str, Any]:
    slot = hour["v"].get(version)
    if slot is None:
        slot = hour["v"][version] = {"n": 0, "f": 0, "tsum": 0.0, "tn": 0, "t": [], "first": None,
                                     "last": None, "m": {}}
    return slot


def _finish(batch: Batch, execs: dict[str, Pending], calls: list, errors: list,
            open_versions: Mapping[str, str | None]) -> None:
    for rec in execs.values():
        if rec.start_ts is None or rec.close_ts is None:
            batch.pending.append(rec)
            continue
        if batch.last_ts is not None and rec.close_ts >= batch.last_ts - RECENT_SECONDS:
            batch.closed_ids.append((rec.eid, rec.close_ts))
        add_execution(batch.hour(hour_of(rec.start_ts)), rec.version or "unknown", rec.start_ts,
                      failed=int(rec.success is False or rec.exec_error),
                      duration=rec.duration if rec.duration is not None else rec.close_ts - rec.start_ts)
    for ts, eid, method, is_err, duration, digest in calls:
        hour = batch.hour(hour_of(ts))
        slot = _vslot(hour, _version(eid, execs, open_versions))
        m = slot["m"].get(method)
        if m is None:
            m = slot["m"][method] = [0, 0, 0.0, 0, []]
        m[0] += 1
        m[1] += is_err
        if duration is not None:
            m[2] += duration
            m[3] += 1
            if len(m[4]) < SAMPLES:
                m[4].append(duration)
        if digest is not None:
            pair = hour["d"].setdefault(method, {}).setdefault(digest, [0, 0])
            pair[1 if is_err else 0] += 1
    batch.streaks.update(call_streaks(*_segments(calls)))
    groups: dict[tuple, dict[str, Any]] = {}
    for ts, eid, method, etype0, err, loc, tb, digest in errors:
        etype, msg = split_error(etype0 or None, err or None)
        lfile = _s(loc.get("file")) if loc else None
        lfunc = _s(loc.get("function")) if loc else None
        lline = _i(loc.get("line")) if loc else None
        if loc is not None and lfile is None:
            tb = None
        hkey = hour_of(ts)
        key = (hkey, _version(eid, execs, open_versions), method, etype, template(msg), lfile, lfunc, lline, tb)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"n": 0, "eids": set(), "first": ts, "last": ts, "ex": [], "dg": []}
        g["n"] += 1
        if eid is not None:
            g["eids"].add(eid)
        g["first"], g["last"] = min(g["first"], ts), max(g["last"], ts)
        if msg not in g["ex"] and len(g["ex"]) < MAX_EXAMPLES:
            g["ex"].append(msg)
        if digest is not None and digest not in g["dg"] and len(g["dg"]) < MAX_DIGESTS:
            g["dg"].append(digest)
    for (hkey, version, method, etype, tmpl, lfile, lfunc, lline, tb), g in groups.items():
        add_error(batch.hour(hkey), version, method, etype, tmpl, lfile, lfunc, lline, tb, g["n"], len(g["eids"]),
                  g["first"], g["last"], g["ex"], g["dg"])


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


def add_execution(hour: dict[str, Any], version: str, start_ts: float, *, failed: int,
                  duration: float | None, count: int = 1, samples: list[float] | None = None,
                  duration_sum: float | None = None, duration_n: int | None = None,
                  last_ts: float | None = None) -> None:
    """Count ``count`` executions that started in this hour (one, or a pre-aggregated group)."""
    slot = _vslot(hour, version)
    slot["n"] += count
    slot["f"] += int(failed)
    if duration_sum is not None:
        slot["tsum"] += duration_sum
        slot["tn"] += duration_n or 0
    elif duration is not None and duration >= 0:
        slot["tsum"] += duration
        slot["tn"] += 1
    for value in (samples if samples is not None else ([duration] if duration is not None and duration >= 0 else [])):
        if len(slot["t"]) >= SAMPLES:
            break
        slot["t"].append(value)
    last = last_ts if last_ts is not None else start_ts
    slot["first"] = start_ts if slot["first"] is None else min(slot["first"], start_ts)
    slot["last"] = last if slot["last"] is None else max(slot["last"], last)


def add_error(hour: dict[str, Any], version: str, method: str | None, etype: str, tmpl: str, lfile: str | None,
              lfunc: str | None, lline: int | None, tb: str | None, n: int, execs: int, first: float,
              last: float, examples: list[str], digests: list[str]) -> None:
    frames = [list(f) for f in traceback_frames(tb)[-MAX_FRAMES:]] if tb and lfile is None else []
    key = "\x1f".join((version, method or "", etype, tmpl, lfile or "", lfunc or "", str(lline or ""),
                       "|".join(f"{f}:{ln}:{fn}" for f, ln, fn in frames)))
    g = hour["e"].get(key)
    if g is None:
        g = hour["e"][key] = {"version": version, "method": method, "type": etype, "tmpl": tmpl, "file": lfile,
                              "func": lfunc, "line": lline, "frames": frames, "n": 0, "x": 0, "first": first,
                              "last": last, "ex": [], "dg": []}
    merge_error_group(g, n, execs, first, last, examples, digests)


def merge_error_group(g: dict[str, Any], n: int, execs: int, first: float, last: float, examples: list[str],
                      digests: list[str]) -> None:
    """Add counts, span, examples and argument digests to an error group (same key)."""
    g["n"] += n
    g["x"] += execs
    g["first"], g["last"] = min(g["first"], first), max(g["last"], last)
    for msg in examples:
        if msg not in g["ex"] and len(g["ex"]) < MAX_EXAMPLES:
            g["ex"].append(msg)
    for digest in digests:
        if digest not in g["dg"] and len(g["dg"]) < MAX_DIGESTS:
            g["dg"].append(digest)
