"""Append events to the daily execution log, one whole JSON line per ``write(2)``.

The file is opened with ``O_APPEND`` and each event is a single ``os.write`` of one
complete line, so lines from many processes never interleave and every event has reached
the operating system before the call returns (a crash of the process loses nothing that
was already logged).

With the real clock a stamp is made from ``time.time_ns()``: the text of the current second
is formatted once per second and the microseconds are two table look-ups, giving exactly
the text ``orjson`` writes for the ``datetime`` (``...:17.765370Z``, ``...:17Z`` at a whole
second); a formatted ``datetime`` per event was a third of the write.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["EventWriter", "utcnow", "epoch_seconds", "MAX_LINE_BYTES", "log_file_name"]

MAX_LINE_BYTES = 256 * 1024
_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY
_LINE_OPTS = _OPTS | orjson.OPT_APPEND_NEWLINE


_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def utcnow() -> datetime:
    return datetime.now(UTC)


def epoch_seconds(value: Any) -> float | None:
    """An ISO 8601 stamp as Unix seconds (``Z`` or an offset; a naive time is UTC, as the log
    contract says), None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


_now_utc = functools.partial(datetime.now, UTC)  # utcnow without a Python frame: this is the hot path
_time_ns = time.time_ns
_DAY = 86400  # seconds of a UTC day in Unix time (no leap seconds)
_MILLIS = tuple(f"{i:03d}" for i in range(1000))
_MICROS_Z = tuple(f"{i:03d}Z" for i in range(1000))


def _second_of(second: int) -> tuple[int, str, str]:
    """``(second, "YYYY-MM-DDTHH:MM:SS.", "YYYY-MM-DDTHH:MM:SSZ")`` of a Unix second."""
    text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return second, text + ".", text + "Z"


def log_file_name(day: datetime) -> str:
    return f"execution_{day:%Y%m%d}.jsonl"


def _fallback(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


class EventWriter:
    """Writes ``<log_dir>/execution_YYYYMMDD.jsonl`` (UTC date of each event)."""

    def __init__(self, log_dir: Path, *, clock: Callable[[], datetime] = utcnow):
        self.log_dir = Path(log_dir)
        self._clock = _now_utc if clock is utcnow else clock
        self._real_clock = clock is utcnow
        self._second = (-1, "", "")  # _second_of the last stamp (one tuple: threads swap it whole)
        self._fd: int | None = None
        self._day_start = self._day_end = 0.0  # Unix seconds of the open file's UTC day
        self._pid = _PID[0]
        self._lock = threading.Lock()
        self._retired: list[int] = []

    def _open_for(self, second: float) -> int:
        """Open the day's file (a new day, a first write, or a forked child).

        The previous day's descriptor is retired, not closed at once: another thread may be
        writing to it without the lock, and a closed number could be reused by another file."""
        if self._fd is not None and self._pid == _PID[0]:
            self._retired.append(self._fd)
            while len(self._retired) > 2:
                try:
                    os.close(self._retired.pop(0))
                except OSError:
                    pass
        elif self._pid != _PID[0]:
            self._retired = []
        day_start = second // _DAY * _DAY
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / log_file_name(datetime.fromtimestamp(day_start, UTC))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._day_start, self._day_end = day_start, day_start + _DAY
        self._pid = _PID[0]
        return self._fd

    def write(self, execution_id: str, event_type: str, event_data: dict[str, Any] | None = None,
              *, timestamp: datetime | None = None) -> None:
        stamp: datetime | str
        if timestamp is None and self._real_clock:
            second, fraction = divmod(_time_ns(), 1_000_000_000)
            text = self._second
            if text[0] != second:
                text = self._second = _second_of(second)
            stamp = (text[1] + _MILLIS[fraction // 1_000_000] + _MICROS_Z[fraction // 1000 % 1000]
                     if fraction >= 1000 else text[2])  # a whole microsecond 0: orjson writes no fraction
        else:
            stamp = timestamp or self._clock()
            if stamp.tzinfo is None:  # a naive time is UTC
                stamp = stamp.replace(tzinfo=UTC)
            second = stamp.timestamp()
        record = {"timestamp": stamp, "execution_id": execution_id, "event_type": event_type,
                  "event_data": event_data or {}}
        line = orjson.dumps(record, default=_fallback, option=_LINE_OPTS)
        if len(line) > MAX_LINE_BYTES:
            line = self._shrink(record)
        fd = self._fd
        if fd is None or self._pid != _PID[0] or not (self._day_start <= second < self._day_end):
            with self._lock:
                fd = self._fd
                if fd is None or self._pid != _PID[0] or not (self._day_start <= second < self._day_end):
                    fd = self._open_for(second)
        written = os.write(fd, line)  # one whole line per write(2) on an O_APPEND file
        if written != len(line):  # a short write on a regular file: disk full or a signal
            view = memoryview(line)[written:]
            while view:
                view = view[os.write(fd, view):]

    @staticmethod
    def _shrink(record: dict[str, Any]) -> bytes:
        """Keep an oversized event a valid line: long strings are cut, the rest kept."""
        data = dict(record["event_data"])
        for key, value in list(data.items()):
            if isinstance(value, str) and len(value) > 4096:
                data[key] = value[:2048] + f"... [{len(value) - 4096} chars cut] ..." + value[-2048:]
            elif not isinstance(value, (str, int, float, bool, type(None))):
                text = orjson.dumps(value, default=_fallback)
                if len(text) > 16384:
                    data[key] = f"<{type(value).__name__} of {len(text)} bytes cut>"
        data["truncated"] = True
        shrunk = {**record, "event_data": data}
        return orjson.dumps(shrunk, default=_fallback, option=_LINE_OPTS)

    def _close(self) -> None:
        if self._pid == _PID[0]:
            for fd in [*self._retired, *([self._fd] if self._fd is not None else [])]:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd, self._retired = None, []

    def close(self) -> None:
        with self._lock:
            self._close()

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self._close()
        except Exception:
            pass
