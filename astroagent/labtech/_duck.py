"""The DuckDB ingest engine: the rules of ``_batch`` stated in SQL, for large byte ranges.

``read_json`` with explicit columns and ``ignore_errors`` parses in parallel and yields an
all-NULL row for a line it cannot read, which is how malformed lines are counted. Timing
fields of the seed's style (``<x>_time``) cannot be declared in advance, so their names are
found first with a fast byte scan of the range and then declared as columns.
"""

from __future__ import annotations

import importlib.util
import mmap
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from astroagent.labtech._batch import (MAX_DIGESTS, MAX_EXAMPLES, RECENT_SECONDS, SAMPLES, Batch, Pending,
                                        add_error, add_execution)
from astroagent.labtech.patterns import MASKS

__all__ = ["available", "parse_range_duckdb"]

_NAME = re.compile(rb"[A-Za-z0-9_]{1,55}")
_TIME_LITERAL = re.compile(rb'_time"\s*:')
_MAX_TIME_KEYS = 24

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
    return ("{'timestamp': 'TIMESTAMPTZ', 'execution_id': 'VARCHAR', 'event_type': 'VARCHAR', "
            f"'event_data': '{struct}'}}")


def parse_range_duckdb(path: Path, start: int, end: int, open_versions: Mapping[str, str | None],
                       *, threads: int | None = None) -> Batch:
    """Aggregate the whole lines of ``path[start:end]`` with DuckDB (same result as ``parse_range``)."""
    size = os.stat(path).st_size if not isinstance(path, list) else None
    tmp_dir = None
    if isinstance(path, list):
        return _run(path, sorted({k for p in path for k in _time_keys(p, 0, os.stat(p).st_size)}), open_versions, threads)
    source = path
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
        return _run(source, _time_keys(source, 0, os.stat(source).st_size), open_versions, threads)
    finally:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def _run(source: Path | list[Path], time_keys: list[str], open_versions: Mapping[str, str | None],
         threads: int | None) -> Batch:
    import duckdb  # imported here: it costs ~0.2 s and small reads never need it

    con = duckdb.connect(config={"threads": threads or (os.cpu_count() or 1)})
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute("SET preserve_insertion_order=false")
        stime = "coalesce(" + ", ".join(f'event_data."{k}"' for k in time_keys) + ")" if time_keys else "NULL"
        srcs = source if isinstance(source, list) else [source]
        src = "', '".join(str(p).replace("'", "''") for p in srcs)
        con.execute(f"""
CREATE TEMP TABLE raw AS SELECT *,
  CASE WHEN kind IN (0, 3) THEN coalesce(method0, stage) END AS method,
  CASE WHEN kind IN (0, 3) THEN coalesce(dur0, CASE WHEN timed THEN stime END) END AS dur,
  kind IN (0, 3) AND (etype0 IS NOT NULL OR err IS NOT NULL OR errsfx) AS is_err
FROM (SELECT epoch(timestamp) AS ts, floor(epoch(timestamp) / 3600)::BIGINT AS h, execution_id AS eid,
  CASE event_type WHEN 'execution_start' THEN 1 WHEN 'execution_complete' THEN 2
    WHEN 'execution_error' THEN 3 ELSE 0 END::TINYINT AS kind,
  CASE WHEN event_type = 'execution_start' THEN event_data.code_version END AS ver,
  event_data.success AS success, event_data.duration AS dur0, event_data.method AS method0,
  event_data.error_type AS etype0, event_data.error AS err, event_data.args_digest AS digest,
  event_data.location.file AS lfile, event_data.location.function AS lfunc, event_data.location.line AS lline,
  event_data.location IS NOT NULL AS has_loc,
  suffix(event_type, '_failed') OR suffix(event_type, '_error') AS errsfx,
  suffix(event_type, '_success') OR suffix(event_type, '_failed') AS timed,
  suffix(event_type, '_success') OR suffix(event_type, '_complete') AS oksfx,
  CASE WHEN suffix(event_type, '_failed') THEN left(event_type, length(event_type) - 7)
       WHEN suffix(event_type, '_error') THEN left(event_type, length(event_type) - 6)
       WHEN suffix(event_type, '_success') THEN left(event_type, length(event_type) - 8) END AS stage,
  CASE WHEN event_data.location IS NULL AND (event_data.error_type IS NOT NULL OR event_data.error IS NOT NULL
    OR suffix(event_type, '_failed') OR suffix(event_type, '_error')) THEN event_data.traceback END AS tb,
  {stime} AS stime, event_type IS NULL OR timestamp IS NULL AS bad
FROM read_json(['{src}'], format='newline_delimited', columns={_columns(time_keys)}, ignore_errors=true))""")
        batch = Batch()
        batch.malformed, batch.events, last = con.execute(
            "SELECT count(*) FILTER (WHERE bad), count(*) FILTER (WHERE NOT bad), max(ts) FILTER (WHERE NOT bad) "
            "FROM raw").fetchone()
        batch.last_ts = last
        con.execute("DELETE FROM raw WHERE bad")
        for h, n in con.execute("SELECT h, count(*) FROM raw GROUP BY h").fetchall():
            batch.hour(str(h))["events"] += n
        _executions(con, batch, last)
        con.execute("CREATE TEMP TABLE op (eid VARCHAR, over VARCHAR)")
        if open_versions:
            con.executemany("INSERT INTO op VALUES (?, ?)", [(k, v) for k, v in open_versions.items()])
        con.execute("""
CREATE TEMP VIEW calls AS SELECT r.ts, r.h, r.eid, r.method, r.is_err, r.dur, r.digest,
  CASE WHEN ex.start_ts IS NOT NULL THEN coalesce(ex.ver, 'unknown') ELSE coalesce(op.over, 'unknown') END AS version
FROM raw r LEFT JOIN ex USING (eid) LEFT JOIN op USING (eid)
WHERE r.method IS NOT NULL AND r.method <> 'execution' AND (r.dur IS NOT NULL OR r.is_err OR r.oksfx)""")
        _calls(con, batch)
        _errors(con, batch)
        return batch
    finally:
        con.close()


def _executions(con: Any, batch: Batch, last: float | None) -> None:
    con.execute("""
CREATE TEMP TABLE ex AS SELECT eid,
  min(ts) FILTER (WHERE kind = 1) AS start_ts, arg_min(ver, ts) FILTER (WHERE kind = 1) AS ver,
  min(ts) FILTER (WHERE kind = 2) AS close_ts, arg_min(success, ts) FILTER (WHERE kind = 2) AS success,
  arg_min(dur0, ts) FILTER (WHERE kind = 2) AS dur, count(*) FILTER (WHERE kind = 2) AS closes,
  bool_or(kind = 3) AS exec_err
FROM raw WHERE eid IS NOT NULL AND kind > 0 GROUP BY eid""")
    rows = con.execute(f"""
SELECT floor(start_ts / 3600)::BIGINT, coalesce(ver, 'unknown'), count(*),
  count(*) FILTER (WHERE success = false OR exec_err),
  sum(coalesce(dur, close_ts - start_ts)) FILTER (WHERE coalesce(dur, close_ts - start_ts) >= 0),
  count(*) FILTER (WHERE coalesce(dur, close_ts - start_ts) >= 0),
  list(coalesce(dur, close_ts - start_ts)) FILTER (WHERE coalesce(dur, close_ts - start_ts) >= 0)[1:{SAMPLES}],
  min(start_ts), max(start_ts)
FROM ex WHERE start_ts IS NOT NULL AND close_ts IS NOT NULL GROUP BY ALL""").fetchall()
    for h, ver, n, f, tsum, tn, samples, first, last_start in rows:
        add_execution(batch.hour(str(h)), ver, first, failed=f, duration=None, count=n, samples=samples or [],
                      duration_sum=tsum or 0.0, duration_n=tn, last_ts=last_start)
    for eid, start_ts, ver, close_ts, success, dur, closes, exec_err in con.execute(
            "SELECT eid, start_ts, ver, close_ts, success, dur, closes, exec_err FROM ex "
            "WHERE start_ts IS NULL OR close_ts IS NULL").fetchall():
        batch.pending.append(Pending(eid, start_ts, ver, close_ts, success, dur, bool(exec_err), closes))
    batch.closed_ids = con.execute(
        "SELECT eid, close_ts FROM ex WHERE start_ts IS NOT NULL AND close_ts IS NOT NULL AND close_ts >= ?",
        [(last or 0) - RECENT_SECONDS]).fetchall()


def _calls(con: Any, batch: Batch) -> None:
    rows = con.execute(f"""
SELECT h, version, method, digest, count(*), count(*) FILTER (WHERE is_err), coalesce(sum(dur), 0), count(dur),
  CASE WHEN digest IS NULL THEN list(dur) FILTER (WHERE dur IS NOT NULL)[1:{SAMPLES}] END
FROM calls GROUP BY GROUPING SETS ((h, version, method), (h, method, digest))""").fetchall()
    for h, ver, method, digest, calls, errs, dsum, dn, samples in rows:
        hour = batch.hour(str(h))
        if ver is None:
            if digest is not None:
                pair = hour["d"].setdefault(method, {}).setdefault(digest, [0, 0])
                pair[0] += calls - errs
                pair[1] += errs
            continue
        slot = hour["v"].setdefault(ver, {"n": 0, "f": 0, "tsum": 0.0, "tn": 0, "t": [], "first": None,
                                          "last": None, "m": {}})
        m = slot["m"].setdefault(method, [0, 0, 0.0, 0, []])
        m[0] += calls
        m[1] += errs
        m[2] += dsum
        m[3] += dn
        m[4].extend((samples or [])[: SAMPLES - len(m[4])])
    # failure streaks per method, for methods that failed at all: numpy over (method, ts, failed)
    data = con.execute("""SELECT method, ts, is_err FROM raw WHERE method IN (SELECT DISTINCT method FROM raw
        WHERE is_err AND method <> 'execution') AND method <> 'execution' AND (dur IS NOT NULL OR is_err OR oksfx)
        ORDER BY method, ts""").fetchnumpy()
    for method in {m for hour in batch.hours.values() for slot in hour["v"].values() for m in slot["m"]}:
        batch.streaks[method] = (0, 0, 0, True)
    if len(data["ts"]):
        names, failed = np.asarray(data["method"], dtype=object), np.asarray(data["is_err"], dtype=bool)
        bounds = np.flatnonzero(names[1:] != names[:-1]) + 1
        for seg_names, seg in zip(np.split(names, bounds), np.split(failed, bounds)):
            batch.streaks[seg_names[0]] = _streak(seg)


def _streak(failed: np.ndarray) -> tuple[int, int, int, bool]:
    """(failures before the first success, longest failure run, failures after the last success, any success)."""
    ok = np.flatnonzero(~failed)
    if len(ok) == 0:
        return len(failed), len(failed), len(failed), False
    edges = np.concatenate(([-1], ok, [len(failed)]))
    runs = np.diff(edges) - 1
    return int(ok[0]), int(runs.max()), int(len(failed) - 1 - ok[-1]), True


def _errors(con: Any, batch: Batch) -> None:
    etype = ("coalesce(etype0, CASE WHEN regexp_matches(err, '^[A-Za-z_][A-Za-z0-9_.]*:') "
             "THEN split_part(err, ':', 1) END, 'UnknownError')")
    con.execute(f"""
CREATE TEMP TABLE errs AS SELECT e.*, CASE WHEN starts_with(coalesce(err, ''), etype || ':')
  THEN trim(substr(err, length(etype) + 2)) ELSE coalesce(err, '') END AS msg
FROM (SELECT r.*, {etype} AS etype,
  CASE WHEN ex.start_ts IS NOT NULL THEN coalesce(ex.ver, 'unknown') ELSE coalesce(op.over, 'unknown') END AS version
  FROM raw r LEFT JOIN ex USING (eid) LEFT JOIN op USING (eid) WHERE r.is_err) e""")
    con.execute(f"CREATE TEMP TABLE tm AS SELECT msg, {_TEMPLATE_SQL} AS tmpl FROM (SELECT DISTINCT msg FROM errs)")
    rows = con.execute(f"""
SELECT h, version, method, etype, tmpl, lfile, lfunc, lline,
  CASE WHEN lfile IS NULL AND NOT has_loc THEN tb END AS tbx, count(*), count(DISTINCT eid), min(ts), max(ts),
  list(DISTINCT msg)[1:{MAX_EXAMPLES}], list(DISTINCT digest) FILTER (WHERE digest IS NOT NULL)[1:{MAX_DIGESTS}]
FROM errs JOIN tm USING (msg) GROUP BY ALL""").fetchall()
    for h, ver, method, et, tmpl, lfile, lfunc, lline, tb, n, x, first, last, examples, digests in rows:
        add_error(batch.hour(str(h)), ver, method, et, tmpl, lfile, lfunc, lline, tb, n, x, first, last,
                  examples or [], digests or [])
