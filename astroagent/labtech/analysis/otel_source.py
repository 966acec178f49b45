"""A folder of exported OpenTelemetry spans, translated incrementally into contract logs for ``ingest``.

Each span file has a byte checkpoint like ingest's; a run translates only what was appended
(whole records: a line of OTLP/JSON, or a pretty-printed console span from its ``{`` line to
its ``}`` line) into ``execution_YYYYMMDD.jsonl`` files below the Lab Technician's state, which
``ingest`` then reads as any contract log — both ingest engines stay as they are and agree.

A span is exported when it ends, so children come before their entry span: they wait in the state
until the entry (an execution, and its code version) arrives, and are written as calls of an unknown
version when it has not come ``timeout`` seconds after they ended (``_span_tree``). Records that are not spans are
written as lines the contract reader counts as malformed. Output beyond the sizes the last
saved state recorded (a run killed half way) is cut off before the next run appends.
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from astroagent.atomic import append_whole, atomic_write_bytes
from astroagent.labtech.analysis._metrics_files import regular_files
from astroagent.labtech.analysis.ingest import _new_ranges
from astroagent.labtech.analysis._span_tree import ANY_ENTRY, Key, attribute, expire, row_of
from astroagent.labtech.analysis._state_dir import state_file
from astroagent.labtech.analysis.otlp import Span, call_event, execution_events, looks_like_otlp, spans_of

__all__ = ["otel_source", "detect_format", "translate", "Translation", "span_files"]

STATE_NAME = "otlp_state.json"
LOCK_NAME = "otlp.lock"
STATE_FORMAT = 2                  # 2: executions by entry span, children waiting with their ids (1: by trace)
SUFFIXES = ("", ".json", ".jsonl", ".ndjson", ".log", ".txt", ".otlp")   # the files read as spans
CONTRACT = ("execution_*.jsonl", "outcomes_*.jsonl", "performance_metrics_*.json")
MAX_RECORD = 64 * 1024 * 1024     # a pretty-printed record longer than this is malformed
_CHUNK = 8 * 1024 * 1024
_SNIFF = 64 * 1024
KEEP_DAYS = 30                    # translated days kept before the newest (analysis keeps 14 days or 2 windows)


@dataclass
class Translation:
    """What one translation run did."""

    folder: Path                          # where the contract files are (what ingest reads)
    files_read: int = 0
    spans: int = 0
    malformed: int = 0
    executions: int = 0
    orphans: int = 0                      # calls written without their root (unknown version)
    notes: list[str] = field(default_factory=list)
    changed: bool = False                 # a checkpoint moved (set by ingest's reader of ranges)


def span_files(log_dir: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """The files of ``log_dir`` read as spans: not hidden, not the contract's own, a text-like suffix."""
    for path, st in regular_files(log_dir, "*"):
        name = path.name
        if name.startswith(".") or path.suffix.lower() not in SUFFIXES or any(
                fnmatch.fnmatch(name, pattern) for pattern in CONTRACT):
            continue
        yield path, st


def detect_format(log_dir: Path, *, translated: bool = False) -> str:
    """``contract`` when the folder has ``execution_*.jsonl``, else ``otel`` when it was ``translated``
    before or a file holds spans."""
    if next(regular_files(log_dir, "execution_*.jsonl"), None) is not None:
        return "contract"
    if translated:
        return "otel"
    for path, _st in span_files(log_dir):
        try:
            with open(path, "rb") as fh:
                if looks_like_otlp(fh.read(_SNIFF)):
                    return "otel"
        except OSError:
            continue
    return "contract"


def otel_source(log_dir: Path, state_dir: Path, log_format: str, *, now_ts: float,
                timeout: float) -> tuple[Path, list[str]]:
    """The folder ``ingest`` should read for ``log_dir``, and notes: ``log_dir`` itself for contract
    logs, else the translation of its spans (brought up to date first)."""
    if log_format == "auto" and detect_format(
            log_dir, translated=(_home(log_dir, state_dir) / STATE_NAME).is_file()) == "contract":
        return log_dir, []
    if log_format == "contract":
        return log_dir, []
    done = translate(log_dir, state_dir, now_ts=now_ts, timeout=timeout)
    notes = list(done.notes)
    if log_format == "auto":
        notes.insert(0, f"no execution_*.jsonl in {log_dir}: read as OpenTelemetry spans (OTLP JSON)")
    elif next(regular_files(log_dir, "execution_*.jsonl"), None) is not None:
        notes.insert(0, f"--format otel: the execution_*.jsonl files in {log_dir} were not read")
    return done.folder, notes


# -- state ------------------------------------------------------------------------------------

def _home(log_dir: Path, state_dir: Path) -> Path:
    digest = hashlib.blake2b(str(log_dir).encode(), digest_size=6).hexdigest()
    return state_file(state_dir, "otel") / digest


def _load(home: Path, log_dir: Path) -> dict[str, Any]:
    """The saved state; a missing, broken or foreign one starts afresh in a new output folder (so the
    ingest state of the old one, keyed by its path, is not added to)."""
    try:
        state = _upgrade(orjson.loads((home / STATE_NAME).read_bytes()))
        if isinstance(state, dict) and state.get("format") == STATE_FORMAT and state.get("source") == str(log_dir) \
                and isinstance(state.get("generation"), str) and (home / state["generation"]).is_dir():
            return state
    except (OSError, orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        pass
    for old in home.glob("*") if home.is_dir() else ():
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    generation = uuid.uuid4().hex[:12]
    (home / generation).mkdir(parents=True, exist_ok=True)
    return {"format": STATE_FORMAT, "source": str(log_dir), "generation": generation, "files": {},
            "outputs": {}, "pending": {}}


def _upgrade(state: Any) -> Any:
    """A format-1 state goes on in its folder (its executions keep their trace ids): the calls it kept
    waiting for their trace's root go to the first entry span of the trace, as that release did."""
    if isinstance(state, dict) and state.get("format") == 1:
        state["pending"] = {trace: [[None, ANY_ENTRY, float(entry["end"]), call] for call in entry["calls"]]
                            for trace, entry in state["pending"].items()}
        state["format"] = STATE_FORMAT
    return state


def _recover(out_dir: Path, outputs: dict[str, int]) -> None:
    """Cut each output back to the size the saved state knows (what a killed run appended after it)."""
    for path in out_dir.glob("execution_*.jsonl"):
        committed = outputs.get(path.name, 0)
        try:
            if path.stat().st_size > committed:
                with open(path, "r+b") as fh:
                    fh.truncate(committed)
        except OSError:
            continue


# -- reading ----------------------------------------------------------------------------------

def _lines(path: Path, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Each line of ``path[start:end]`` (``end`` just after a newline) with its start and end offsets.
    A line longer than ``MAX_RECORD`` is not held: it comes as one NUL byte (a malformed record)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        pos, base, carry = start, start, b""
        skipping: int | None = None          # the start of an overlong line being passed over
        while pos < end:
            chunk = fh.read(min(_CHUNK, end - pos))
            if not chunk:
                break
            chunk_start, pos = pos, pos + len(chunk)
            if skipping is not None:
                j = chunk.find(b"\n")
                if j < 0:
                    continue
                yield b"\x00", skipping, chunk_start + j + 1
                skipping, buf, i, base = None, chunk, j + 1, chunk_start
            else:
                buf, i = carry + chunk, 0
            while (j := buf.find(b"\n", i)) >= 0:
                yield buf[i:j], base + i, base + j + 1
                i = j + 1
            carry, base = buf[i:], base + i
            if len(carry) > MAX_RECORD:
                skipping, carry = base, b""


def _records(path: Path, start: int, end: int) -> Iterator[tuple[bytes | None, int]]:
    """Whole records of a range and the offset after each; ``None`` is a broken record (malformed).

    A line that is ``{`` alone opens a pretty-printed record, closed by a line that is ``}`` alone; an
    unclosed one at the end of the range is left for the next run (its writer is not done).
    """
    acc: list[bytes] | None = None
    size = 0
    for line, lo, hi in _lines(path, start, end):
        bare = line.rstrip(b" \t\r")
        if acc is not None:
            if bare == b"{":               # a record cut short: another one begins
                yield None, lo
                acc, size = [line], len(line)
            elif bare == b"}":
                acc.append(line)
                yield b"\n".join(acc), hi
                acc = None
            elif (size := size + len(line)) > MAX_RECORD:
                yield None, hi
                acc = None
            else:
                acc.append(line)
            continue
        if bare == b"{":
            acc, size = [line], len(line)
        else:
            yield (bare.strip() or b""), hi
    # an open record is not consumed: the caller's checkpoint stays before it


def _parse(raw: bytes | None) -> tuple[list[Span], int]:
    if raw is None:
        return [], 1
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return spans_of(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return [], 1


# -- translating ------------------------------------------------------------------------------

def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")


def translate(log_dir: Path, state_dir: Path, *, now_ts: float, timeout: float) -> Translation:
    """Bring the translation of ``log_dir``'s spans up to date; returns where it is and what was read.

    One translation at a time (a lock in its home): two at once, say the pipeline's Lab Technician
    and a user's ``labtech analyze``, would both append the same new spans, for good."""
    log_dir = Path(log_dir)
    home = _home(log_dir, state_dir)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # released when the file closes
        return _translate(log_dir, home, now_ts, timeout)


# long: one pass over the new records of every file, then the executions and orphans written in one go
def _translate(log_dir: Path, home: Path, now_ts: float, timeout: float) -> Translation:
    state = _load(home, log_dir)
    out_dir = home / state["generation"]
    result = Translation(folder=out_dir)
    _recover(out_dir, state["outputs"])
    pending: dict[str, list[list[Any]]] = state["pending"]
    entries: dict[Key, Span] = {}
    writes: dict[str, list[bytes]] = {}
    for path, start, end, _size in _new_ranges(log_dir, state, result, span_files(log_dir)):
        consumed, bad = start, 0
        try:
            for raw, after in _records(path, start, end):
                if raw == b"":
                    consumed = after
                    continue
                spans, broken = _parse(raw)
                if broken:
                    bad += broken
                    writes.setdefault(_day(now_ts), []).append(
                        orjson.dumps({"otlp_malformed": f"{path.name}@{consumed}", "parts": broken}))
                for span in spans:
                    if span.parent is None:     # the same span exported twice is one execution
                        entries.setdefault((span.trace, span.span_id), span)
                    else:
                        pending.setdefault(span.trace, []).append(row_of(span, call_event(span)))
                result.spans += len(spans)
                consumed = after
        except OSError as exc:
            result.notes.append(f"{path.name}: unreadable ({exc.strerror or exc}), skipped")
        state["files"][path.name]["offset"] = consumed
        result.files_read += 1
        result.malformed += bad
        if bad:
            result.notes.append(f"{path.name}: {bad} record(s) that are not OTLP spans, counted as malformed")
    for key, calls in attribute(entries, pending).items():
        root = entries[key]
        writes.setdefault(_day(root.start), []).extend(orjson.dumps(e) for e in execution_events(root, calls))
        result.executions += 1
    orphans = expire(pending, now_ts, timeout)
    if orphans:
        writes.setdefault(_day(now_ts), []).extend(orjson.dumps(e) for e in orphans)
        result.orphans = len(orphans)
        result.notes.append(f"{result.orphans} span(s) whose root never came within {timeout:g} s: "
                            "counted as calls of an unknown code version")
    _prune(out_dir, state, writes)
    _commit(home, out_dir, state, writes, result)
    return result


def _prune(out_dir: Path, state: dict[str, Any], writes: dict[str, list[bytes]]) -> None:
    """Drop translated days more than ``KEEP_DAYS`` before the newest one (ingest has folded them into
    its hours long since; the spans stay in the user's files), so the copy does not grow for ever."""
    days = {p.name[10:18] for p in out_dir.glob("execution_*.jsonl")} | set(writes)
    if not days:
        return
    newest = datetime.strptime(max(days), "%Y%m%d").replace(tzinfo=UTC).timestamp()
    oldest = _day(newest - KEEP_DAYS * 86400)
    for path in out_dir.glob("execution_*.jsonl"):
        if path.name[10:18] < oldest and path.name[10:18] not in writes:
            try:
                path.unlink()
            except OSError:
                continue
            state["outputs"].pop(path.name, None)


def _commit(home: Path, out_dir: Path, state: dict[str, Any], writes: dict[str, list[bytes]],
            result: Translation) -> None:
    """Append the new lines (one write per file), then save the checkpoints and output sizes."""
    try:
        for day, lines in sorted(writes.items()):
            path = out_dir / f"execution_{day}.jsonl"
            append_whole(path, b"\n".join(lines) + b"\n", fsync=True)   # on disk before the checkpoint moves
            state["outputs"][path.name] = path.stat().st_size
        atomic_write_bytes(home / STATE_NAME, orjson.dumps(state))
    except OSError as exc:   # the next run cuts the outputs back and translates the same records again
        result.notes.append(f"could not save the OpenTelemetry translation in {home}: {exc.strerror or exc}")
