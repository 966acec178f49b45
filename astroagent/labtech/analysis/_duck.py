"""The DuckDB ingest engine: the rules of ``_batch`` stated in SQL, for large byte ranges.

``read_json`` with explicit columns and ``ignore_errors`` parses in parallel and yields an
all-NULL row for a line it cannot read, which is how malformed lines are counted. The parse
lands in one compact per-line table (rules applied on the way); a few GROUP BY queries reduce
it. The common ``<x>_time`` fields are declared up front; others are found by a byte scan,
only when a stage event carries no known timing field. A failed call is absorbed when its
(execution, method) has a successful call at the same or a later time (``okl``: the latest
success of each pair that failed here).
"""

from __future__ import annotations

import importlib.util
from bisect import bisect_right
import mmap
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from astroagent.labtech.analysis._batch import RECENT_SECONDS, TIMESTAMP_PATTERN, Batch, Pending, call_streaks
from astroagent.labtech.analysis._hours import MAX_DIGESTS, MAX_EXAMPLES, SAMPLES, ErrorEvent
from astroagent.labtech.analysis.patterns import MASKS

__all__ = ["available", "parse_range_duckdb", "NotForDuckDB"]

_NAME = re.compile(rb"[A-Za-z0-9_]{1,55}")
_TIME_LITERAL = re.compile(rb'_time"\s*:')
_MAX_TIME_KEYS = 24
# the seed's and common timing fields, declared up front; others are found by a byte scan when needed
KNOWN_TIME_KEYS = ("fetch_time", "processing_time", "analysis_time", "execution_time")

class NotForDuckDB(Exception):
    """Input the DuckDB reader would misread; the Python engine reads it instead."""


def _inner_bom(path: Path) -> bool:
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size < 4:
            return False
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            pos = mm.find(b"\xef", 1)   # a one-byte search runs at memchr speed; the mark's lead byte is rare
            while pos != -1:
                if mm[pos:pos + 3] == b"\xef\xbb\xbf":
                    return True
                pos = mm.find(b"\xef", pos + 1)
            return False


def available() -> bool:
    """duckdb is optional (extras ``scale``/``test``); the pure-Python engine covers its absence."""
    return importlib.util.find_spec("duckdb") is not None


def _time_keys(path: Path, start: int, end: int) -> list[str]:
    """Names of ``*_time`` keys in the range, in order of first appearance (a C-speed literal scan)."""
    keys: list[str] = []
    if end <= start:
        return keys
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for match in _TIME_LITERAL.finditer(mm, start, end):
            pos = match.start()
            window = mm[max(start, pos - 60):pos]
            quote = window.rfind(b'"')
            stem = window[quote + 1:] if quote != -1 else b""
            if stem and _NAME.fullmatch(stem):
                name = stem.decode() + "_time"
                if name not in keys:
                    keys.append(name)
                    if len(keys) >= _MAX_TIME_KEYS:
                        break
    return keys


def _mask_sql(expr: str) -> str:
    for pattern, repl in MASKS:
        expr = f"regexp_replace({expr}, '{pattern.replace(chr(39), chr(39) * 2)}', '{repl.replace(chr(39), chr(39) * 2)}', 'g')"
    return expr


_TEMPLATE_SQL = ("left(trim(regexp_replace(" + _mask_sql("left(msg, 2000)")
                 + ", '[\\t\\n\\f\\r ]+', ' ', 'g')), 300)")


def _columns(time_keys: list[str]) -> str:
    extra = "".join(f', "{k}" DOUBLE' for k in time_keys)
    struct = ("STRUCT(method VARCHAR, duration DOUBLE, success BOOLEAN, error_type VARCHAR, error VARCHAR, "
              "code_version VARCHAR, args_digest VARCHAR, location STRUCT(file VARCHAR, function VARCHAR, "
              f"line BIGINT), traceback VARCHAR{extra})")
    # event_type as JSON: a list/object is malformed, but a string that merely starts with '[' or '{' is not
    return ("{'timestamp': 'VARCHAR', 'execution_id': 'VARCHAR', 'event_type': 'JSON', "
            f"'event_data': '{struct}'}}")


def parse_range_duckdb(path: Path, start: int, end: int, open_versions: Mapping[str, str | None],
                       *, threads: int | None = None) -> Batch:
    """Aggregate the whole lines of ``path[start:end]`` with DuckDB (same result as ``parse_range``).

    Raises ``NotForDuckDB`` for input its reader treats differently (a byte-order mark after the
    first byte); the caller then uses the Python engine. Such a line is one DuckDB cannot parse,
    so the files are searched for the mark only when some line was malformed.
    """
    paths = path if isinstance(path, list) else [path]
    batch = _parse_range(path, start, end, open_versions, threads)
    if batch.malformed:
        for p in paths:
            if _inner_bom(p):
                raise NotForDuckDB(f"{Path(p).name}: byte-order mark inside the file")
    return batch


def _parse_range(path: Path | list[Path], start: int, end: int, open_versions: Mapping[str, str | None],
                 threads: int | None) -> Batch:
    if isinstance(path, list):
        return _run(path, list(KNOWN_TIME_KEYS), open_versions, threads)
    size = os.stat(path).st_size
    source, tmp_dir = path, None
    if start != 0 or end != size:
        tmp_dir = tempfile.mkdtemp(prefix="astroagent-ingest-")
        source = Path(tmp_dir) / "range.jsonl"
        with open(path, "rb") as src, open(source, "wb") as dst:
            src.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = src.read(min(16 << 20, remaining))
                if not chunk:
                    break
                dst.write(chunk)
                remaining -= len(chunk)
    try:
        return _run(source, list(KNOWN_TIME_KEYS), open_versions, threads)
    finally:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)


# The per-line table: the contract's rules applied while parsing, the bulky fields kept only on error lines.
_RAW_SQL = """
CREATE TEMP TABLE raw AS
WITH p AS (SELECT
  CASE WHEN regexp_full_match(timestamp, '{pattern}')
    THEN epoch(TRY_CAST(trim(timestamp) AS TIMESTAMPTZ)) END AS ts,
  execution_id AS eid,
  CASE WHEN json_type(event_type) IN ('ARRAY', 'OBJECT') THEN NULL ELSE event_type->>'$' END AS et,
  event_data.method AS d_method, event_data.duration AS d_duration, event_data.success AS d_success,
  event_data.code_version AS d_code_version, event_data.args_digest AS d_args_digest,
  event_data.error_type AS d_error_type, event_data.error AS d_error, event_data.location.file AS d_lfile,
  event_data.location.function AS d_lfunc, event_data.location.line AS d_lline,
  event_data.location IS NULL AS d_noloc, event_data.traceback AS d_traceback, {stime} AS stime
FROM read_json(['{src}'], format='newline_delimited', columns={columns}, ignore_errors=true)),
k AS (SELECT *,
  CASE et WHEN 'execution_start' THEN 1 WHEN 'execution_complete' THEN 2 WHEN 'execution_error' THEN 3
    ELSE 0 END::TINYINT AS kind,
  CASE WHEN suffix(et, '_failed') THEN 1 WHEN suffix(et, '_error') THEN 2 WHEN suffix(et, '_success') THEN 3
    WHEN suffix(et, '_complete') THEN 4 ELSE 0 END::TINYINT AS sfx
FROM p),
c AS (SELECT *,
  CASE WHEN kind IN (0, 3) THEN coalesce(d_method, CASE sfx WHEN 1 THEN left(et, length(et) - 7)
    WHEN 2 THEN left(et, length(et) - 6) WHEN 3 THEN left(et, length(et) - 8) END) END AS method,
  CASE WHEN kind IN (0, 3) THEN coalesce(d_duration, CASE WHEN sfx IN (1, 3) THEN stime END) END AS dur,
  kind IN (0, 3) AND (d_error_type IS NOT NULL OR d_error IS NOT NULL OR sfx IN (1, 2)) AS is_err,
  et IS NULL OR ts IS NULL AS bad
FROM k)
SELECT ts, bad,
  sfx IN (1, 3) AND d_duration IS NULL AND stime IS NULL AND NOT bad AS untimed,
  CASE WHEN kind > 0 OR is_err THEN eid END AS eid,
  CASE WHEN eid IS NOT NULL AND (kind > 0 OR method IS NOT NULL OR is_err) THEN hash(eid) END AS ek,
  kind,
  CASE WHEN kind = 1 THEN d_code_version END AS ver, CASE WHEN kind = 2 THEN d_success END AS success,
  CASE WHEN kind = 2 THEN d_duration END AS dur0, method, dur, is_err,
  method IS NOT NULL AND method <> 'execution' AND (dur IS NOT NULL OR is_err OR sfx IN (3, 4)) AS is_call,
  CASE WHEN method IS NOT NULL OR is_err THEN d_args_digest END AS digest,
  CASE WHEN is_err THEN d_error_type END AS etype0, CASE WHEN is_err THEN d_error END AS err,
  CASE WHEN is_err THEN d_lfile END AS lfile, CASE WHEN is_err THEN d_lfunc END AS lfunc,
  CASE WHEN is_err THEN d_lline END AS lline,
  CASE WHEN is_err AND d_noloc THEN d_traceback END AS tb
FROM c"""

# executions by id (earliest start and close count), and the views the reductions read
_EXECUTIONS_SQL = """
CREATE TEMP TABLE ex AS SELECT ek, any_value(eid) AS eid,
  min(ts) FILTER (WHERE kind = 1) AS start_ts, arg_min(ver, ts) FILTER (WHERE kind = 1) AS ver,
  min(ts) FILTER (WHERE kind = 2) AS close_ts, arg_min(success, ts) FILTER (WHERE kind = 2) AS success,
  arg_min(dur0, ts) FILTER (WHERE kind = 2) AS dur, count(*) FILTER (WHERE kind = 2) AS closes,
  bool_or(kind = 3) AS exec_err
FROM raw WHERE eid IS NOT NULL AND kind > 0 AND NOT bad GROUP BY ek"""
_VERSION_SQL = ("CASE WHEN ex.start_ts IS NOT NULL THEN coalesce(ex.ver, 'unknown') "
                "ELSE coalesce(op.over, 'unknown') END")
# calls are reduced straight from raw: only the per-version totals and errors need the join
_VIEWS_SQL = f"""
CREATE TEMP VIEW calls AS SELECT ts, floor(ts / 3600)::BIGINT AS h, method, is_err, dur, digest FROM raw WHERE is_call AND NOT bad;
CREATE TEMP VIEW vcalls AS SELECT r.h, r.method, r.is_err, r.dur, {_VERSION_SQL} AS version
  FROM (SELECT floor(ts / 3600)::BIGINT AS h, ek, method, is_err, dur FROM raw WHERE is_call AND NOT bad) r
  LEFT JOIN ex ON ex.ek = r.ek LEFT JOIN op ON op.ek = r.ek;
CREATE TEMP TABLE okl AS SELECT r.ek, r.method, max(r.ts) AS ok_ts FROM raw r
  JOIN (SELECT DISTINCT ek, method FROM raw WHERE is_err AND is_call AND NOT bad AND ek IS NOT NULL) f
    ON f.ek = r.ek AND f.method = r.method
  WHERE r.is_call AND NOT r.is_err AND NOT r.bad GROUP BY ALL;
CREATE TEMP VIEW errcalls AS SELECT r.*, {_VERSION_SQL} AS version, coalesce(r.ts <= okl.ok_ts, false) AS absorbed,
  op.ek IS NOT NULL OR (ex.start_ts IS NOT NULL AND ex.close_ts IS NULL) AS tracked
  FROM (SELECT ts, floor(ts / 3600)::BIGINT AS h, ek, eid, method, digest, etype0, err, lfile, lfunc, lline, tb FROM raw
        WHERE is_err AND NOT bad) r LEFT JOIN ex ON ex.ek = r.ek LEFT JOIN op ON op.ek = r.ek
  LEFT JOIN okl ON okl.ek = r.ek AND okl.method = r.method"""


def _run(source: Path | list[Path], time_keys: list[str], open_versions: Mapping[str, str | None],
         threads: int | None, *, scanned: bool = False) -> Batch:
    """One parallel parse of the JSON into a compact table (``_RAW_SQL``), reduced by a few GROUP BY
    queries. Run again with more timing fields when some stage events carry none of the known ones."""
    import duckdb  # imported here: it costs ~0.1 s and small reads never need it

    con = duckdb.connect(config={"threads": threads or (os.cpu_count() or 1)})
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute("SET preserve_insertion_order=false")
        con.execute("SET enable_progress_bar=false")
        srcs = source if isinstance(source, list) else [source]
        stime = "coalesce(" + ", ".join(f'event_data."{k}"' for k in time_keys) + ")" if time_keys else "NULL::DOUBLE"
        con.execute(_RAW_SQL.format(pattern=TIMESTAMP_PATTERN, stime=stime, columns=_columns(time_keys),
                                    src="', '".join(str(p).replace("'", "''") for p in srcs)))
        batch = Batch()
        if not _count_lines(con, batch) and not scanned:
            # some <stage>_success/_failed events carry no known timing field: find their *_time keys
            found = {k for p in srcs for k in _time_keys(p, 0, os.stat(p).st_size)} - set(time_keys)
            if found:
                con.close()
                return _run(source, [*time_keys, *sorted(found)], open_versions, threads, scanned=True)
        con.execute(_EXECUTIONS_SQL)
        _executions(con, batch, batch.last_ts)
        con.execute("CREATE TEMP TABLE op0 (eid VARCHAR, over VARCHAR)")
        if open_versions:
            con.executemany("INSERT INTO op0 VALUES (?, ?)", [(k, v) for k, v in open_versions.items()])
        con.execute("CREATE TEMP TABLE op AS SELECT hash(eid) AS ek, eid, over FROM op0 WHERE eid IS NOT NULL")
        con.execute(_VIEWS_SQL)
        _calls(con, batch)
        _errors(con, batch)
        return batch
    finally:
        con.close()


def _count_lines(con: Any, batch: Batch) -> bool:
    """Events and malformed lines per hour into ``batch``; False when a stage event had no known timing field."""
    rows = con.execute("SELECT floor(ts / 3600)::BIGINT AS h, count(*) FILTER (WHERE NOT bad), "
                       "count(*) FILTER (WHERE bad), max(ts) FILTER (WHERE NOT bad), count(*) FILTER (WHERE untimed) "
                       "FROM raw GROUP BY h").fetchall()
    for h, n, bad, last, _ in rows:
        batch.malformed += bad
        if n:
            batch.events += n
            batch.hour(str(h)).events += n
            batch.last_ts = last if batch.last_ts is None else max(batch.last_ts, last)
    return not any(r[4] for r in rows)


def _executions(con: Any, batch: Batch, last: float | None) -> None:
    rows = con.execute(f"""
SELECT floor(start_ts / 3600)::BIGINT, coalesce(ver, 'unknown'), count(*),
  count(*) FILTER (WHERE success = false OR exec_err),
  sum(coalesce(dur, close_ts - start_ts)) FILTER (WHERE coalesce(dur, close_ts - start_ts) >= 0),
  count(*) FILTER (WHERE coalesce(dur, close_ts - start_ts) >= 0),
  list(coalesce(dur, close_ts - start_ts)) FILTER (WHERE coalesce(dur, close_ts - start_ts) >= 0)[1:{SAMPLES}],
  min(start_ts), max(start_ts)
FROM ex WHERE start_ts IS NOT NULL AND close_ts IS NOT NULL GROUP BY ALL""").fetchall()
    for h, ver, n, f, tsum, tn, samples, first, last_start in rows:
        batch.hour(str(h)).version(ver).add_executions(n, f, tsum or 0.0, tn, samples or [], first, last_start)
    for eid, start_ts, ver, close_ts, success, dur, closes, exec_err in con.execute(
            "SELECT eid, start_ts, ver, close_ts, success, dur, closes, exec_err FROM ex "
            "WHERE start_ts IS NULL OR close_ts IS NULL").fetchall():
        batch.pending.append(Pending(eid, start_ts, ver, close_ts, success, dur, bool(exec_err), closes))
    batch.closed_ids = con.execute(
        "SELECT eid, close_ts FROM ex WHERE start_ts IS NOT NULL AND close_ts IS NOT NULL AND close_ts >= ?",
        [(last or 0) - RECENT_SECONDS]).fetchall()


def _calls(con: Any, batch: Batch) -> None:
    for h, ver, method, calls, errs, dsum, dn, samples in con.execute(f"""
SELECT h, version, method, count(*), count(*) FILTER (WHERE is_err), coalesce(sum(dur), 0), count(dur),
  list(dur) FILTER (WHERE dur IS NOT NULL)[1:{SAMPLES}]
FROM vcalls GROUP BY ALL""").fetchall():
        batch.hour(str(h)).version(ver).method(method).add(calls, errs, dsum, dn, samples or [])
    for h, method, digest, ok, bad in con.execute(
            "SELECT h, method, digest, count(*) FILTER (WHERE NOT is_err), count(*) FILTER (WHERE is_err) "
            "FROM calls WHERE digest IS NOT NULL GROUP BY ALL").fetchall():
        batch.hour(str(h)).add_digest(method, digest, ok, bad)
    batch.streaks.update(call_streaks(*_streak_rows(con, "calls")))
    batch.open_successes = {(eid, m): ts for eid, m, ts in con.execute(   # of executions open before or after
        "WITH o AS (SELECT ek, eid FROM op UNION SELECT ek, eid FROM ex WHERE start_ts IS NOT NULL AND close_ts IS NULL) "
        "SELECT o.eid, r.method, max(r.ts) FROM raw r JOIN o ON o.ek = r.ek "
        "WHERE r.is_call AND NOT r.is_err AND NOT r.bad GROUP BY ALL").fetchall()}


def _streak_rows(con: Any, calls: str) -> tuple[list[tuple], dict[str, int]]:
    """Failure runs call by call (what ``_batch._segments`` computes): a run's number is the count
    of the method's successes before it (at equal times a success comes first)."""
    oks = dict(con.execute(f"SELECT method, count(*) FILTER (WHERE NOT is_err) FROM {calls} GROUP BY ALL").fetchall())
    segs: list[tuple] = []
    for method, fails in con.execute(f"SELECT method, list(ts ORDER BY ts) FROM {calls} WHERE is_err "
                                     "GROUP BY method ORDER BY method").fetchall():
        okts = con.execute(f"SELECT list(ts ORDER BY ts) FROM {calls} WHERE NOT is_err AND method = ?",
                           [method]).fetchone()[0] or []
        run: list[Any] | None = None
        for ts in fails:
            g = bisect_right(okts, ts)
            if run is not None and run[1] == g:
                run[2] += 1
                run[4] = ts
                continue
            if run is not None:
                segs.append(tuple(run))
            run = [method, g, 1, ts, ts]
        if run is not None:
            segs.append(tuple(run))
    return segs, oks


def _errors(con: Any, batch: Batch) -> None:
    etype = ("coalesce(etype0, CASE WHEN regexp_matches(err, '^[A-Za-z_][A-Za-z0-9_.]*:') "
             "THEN split_part(err, ':', 1) END, 'UnknownError')")
    con.execute(f"""
CREATE TEMP TABLE errs AS SELECT e.*, CASE WHEN starts_with(coalesce(err, ''), etype || ':')
  THEN trim(substr(err, length(etype) + 2)) ELSE coalesce(err, '') END AS msg
FROM (SELECT *, {etype} AS etype FROM errcalls) e""")
    con.execute(f"CREATE TEMP TABLE tm AS SELECT msg, {_TEMPLATE_SQL} AS tmpl FROM (SELECT DISTINCT msg FROM errs)")
    rows = con.execute(f"""
SELECT h, version, method, etype, tmpl, lfile, lfunc, lline, tb, count(*), count(DISTINCT eid), min(ts), max(ts),
  list(DISTINCT msg)[1:{MAX_EXAMPLES}], list(DISTINCT digest) FILTER (WHERE digest IS NOT NULL)[1:{MAX_DIGESTS}],
  count(*) FILTER (WHERE absorbed), count(DISTINCT eid) FILTER (WHERE NOT absorbed)
FROM errs JOIN tm USING (msg) GROUP BY ALL""").fetchall()
    keys = {}
    for h, ver, method, et, tmpl, lfile, lfunc, lline, tb, n, x, first, last, examples, digests, ab, xleft in rows:
        keys[(h, ver, method, et, tmpl, lfile, lfunc, lline, tb)] = batch.hour(str(h)).add_error(ErrorEvent(
            ver, method, et, tmpl, first, last, lfile, lfunc, lline, tb, n, x, examples or [], digests or [], ab,
            x - xleft))
        if ab:   # absorbed failures are calls: the method row counts them too
            batch.hour(str(h)).version(ver).method(method).absorbed += ab
    for *group, eid, times in con.execute(   # failures still waiting for a success in a later read
            "SELECT h, version, method, etype, tmpl, lfile, lfunc, lline, tb, eid, list(ts ORDER BY ts) "
            "FROM errs JOIN tm USING (msg) WHERE NOT absorbed AND tracked AND eid IS NOT NULL GROUP BY ALL").fetchall():
        batch.waiting.append((eid, str(group[0]), keys[tuple(group)], times))
