"""The per-hour aggregate row: what both ingest engines build, ingest folds and analytics summarises.

One ``HourRow`` per UTC hour holds the executions that started in it (per code version), the
calls of each method, argument digests, error groups and the longest failure run of each
method that ended in it. A failed call is *absorbed* when the same method later succeeded in the
same execution (a retry's earlier attempts; docs/log-format.md gives the exact rule): method rows
and error groups count those apart. On disk (``analysis_hours.json``) a row keeps the compact
layout of the first release (``to_doc`` / ``from_doc``), the absorbed counts written only where
they are not zero, so files written by earlier versions still load (as nothing absorbed) and
round-trip byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from astroagent.labtech.analysis.patterns import traceback_frames

__all__ = ["SAMPLES", "MAX_EXAMPLES", "MAX_DIGESTS", "MAX_FRAMES", "Run", "hour_of", "MethodRow", "VersionRow",
           "ErrorEvent", "ErrorGroup", "HourRow", "hours_from_doc", "hours_to_doc"]

SAMPLES = 64                     # timing samples kept per hour, version and method
MAX_EXAMPLES = 3
MAX_DIGESTS = 20
MAX_FRAMES = 12
Run = tuple[int, float | None, float | None]   # consecutive failed calls: (count, first ts, last ts)


def hour_of(ts: float) -> str:
    """The key of the UTC hour holding ``ts`` (hours since the epoch, as text: JSON object keys)."""
    return str(math.floor(ts / 3600))


def _extend(dst: list[float], values: Sequence[float]) -> None:
    dst.extend(values[: max(0, SAMPLES - len(dst))])


@dataclass(slots=True)
class MethodRow:
    """Calls of one method in one hour under one code version."""

    calls: int = 0
    errors: int = 0
    duration_sum: float = 0.0
    timed: int = 0                                        # calls with a duration
    samples: list[float] = field(default_factory=list)    # the first ``SAMPLES`` durations
    absorbed: int = 0                                     # of ``errors``: later succeeded in the same execution

    def add_call(self, failed: bool, duration: float | None, absorbed: bool = False) -> None:
        self.calls += 1
        self.errors += failed
        self.absorbed += absorbed
        if duration is not None:
            self.duration_sum += duration
            self.timed += 1
            if len(self.samples) < SAMPLES:
                self.samples.append(duration)

    def add(self, calls: int, errors: int, duration_sum: float, timed: int, samples: Sequence[float],
            absorbed: int = 0) -> None:
        """Add a pre-aggregated group of calls (another row, or a DuckDB group)."""
        self.calls += calls
        self.errors += errors
        self.absorbed += absorbed
        self.duration_sum += duration_sum
        self.timed += timed
        _extend(self.samples, samples)


@dataclass(slots=True)
class VersionRow:
    """Executions that started in one hour under one code version, and that version's calls."""

    executions: int = 0
    failures: int = 0
    duration_sum: float = 0.0
    timed: int = 0                                        # executions with a known duration
    samples: list[float] = field(default_factory=list)    # the first ``SAMPLES`` execution durations
    first: float | None = None                            # earliest start
    last: float | None = None                             # latest start (or timestamp of the group)
    methods: dict[str, MethodRow] = field(default_factory=dict)

    def method(self, name: str) -> MethodRow:
        row = self.methods.get(name)
        if row is None:
            row = self.methods[name] = MethodRow()
        return row

    def add_execution(self, start_ts: float, *, failed: bool, duration: float | None,
                      last_ts: float | None = None) -> None:
        """One execution that started at ``start_ts`` (a negative duration is a clock step: not timed)."""
        timed = duration is not None and duration >= 0
        self.add_executions(1, int(failed), duration if timed else 0.0, int(timed), [duration] if timed else (),
                            start_ts, last_ts if last_ts is not None else start_ts)

    def add_executions(self, count: int, failed: int, duration_sum: float, timed: int, samples: Sequence[float],
                       first: float | None, last: float | None) -> None:
        """A pre-aggregated group of executions (another row, or a DuckDB group)."""
        self.executions += count
        self.failures += failed
        self.duration_sum += duration_sum
        self.timed += timed
        _extend(self.samples, samples)
        if first is not None:
            self.first = first if self.first is None else min(self.first, first)
        if last is not None:
            self.last = last if self.last is None else max(self.last, last)

    def merge(self, other: VersionRow) -> None:
        self.add_executions(other.executions, other.failures, other.duration_sum, other.timed, other.samples,
                            other.first, other.last)
        for name, row in other.methods.items():
            mine = self.methods.get(name)
            if mine is None:
                self.methods[name] = row
            else:
                mine.add(row.calls, row.errors, row.duration_sum, row.timed, row.samples, row.absorbed)


@dataclass(slots=True)
class ErrorEvent:
    """Errors of one kind to add to an hour: one event, or a group an engine already counted."""

    version: str
    method: str | None
    error_type: str
    template: str
    first: float
    last: float
    file: str | None = None           # ``event_data.location``
    function: str | None = None
    line: int | None = None
    traceback: str | None = None      # used for the location when there is no ``location``
    count: int = 1
    executions: int = 1               # distinct executions among the ``count`` events
    examples: Sequence[str] = ()
    digests: Sequence[str] = ()
    absorbed: int = 0                 # of ``count``: failed calls the method later got right in that execution
    absorbed_executions: int = 0      # of ``executions``: those whose every such failure was absorbed


@dataclass(slots=True)
class ErrorGroup:
    """Errors of one version, method, type, template and location within an hour."""

    version: str
    method: str | None
    error_type: str
    template: str
    file: str | None
    function: str | None
    line: int | None
    frames: list[list[Any]]           # [file, line, function] of the traceback, innermost last
    count: int
    executions: int
    first: float
    last: float
    examples: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    absorbed: int = 0
    absorbed_executions: int = 0

    def add(self, count: int, executions: int, first: float, last: float, examples: Sequence[str],
            digests: Sequence[str], absorbed: int = 0, absorbed_executions: int = 0) -> None:
        self.count += count
        self.executions += executions
        self.absorbed += absorbed
        self.absorbed_executions += absorbed_executions
        self.first, self.last = min(self.first, first), max(self.last, last)
        for msg in examples:
            if msg not in self.examples and len(self.examples) < MAX_EXAMPLES:
                self.examples.append(msg)
        for digest in digests:
            if digest not in self.digests and len(self.digests) < MAX_DIGESTS:
                self.digests.append(digest)


@dataclass(slots=True)
class HourRow:
    """Everything read about one UTC hour."""

    events: int = 0
    malformed: int = 0
    versions: dict[str, VersionRow] = field(default_factory=dict)
    digests: dict[str, dict[str, list[int]]] = field(default_factory=dict)   # method -> args digest -> [ok, failed]
    errors: dict[str, ErrorGroup] = field(default_factory=dict)              # keyed by what makes a group
    runs: dict[str, list[Any]] = field(default_factory=dict)   # method -> longest failure run ending here [n, first, last]

    def version(self, name: str) -> VersionRow:
        row = self.versions.get(name)
        if row is None:
            row = self.versions[name] = VersionRow()
        return row

    def add_digest(self, method: str, digest: str, ok: int, failed: int) -> None:
        pair = self.digests.setdefault(method, {}).setdefault(digest, [0, 0])
        pair[0] += ok
        pair[1] += failed

    def add_error(self, ev: ErrorEvent) -> str:
        """Count ``ev`` in its group (the location is ``ev.file``..., else the traceback's frames);
        returns the group's key."""
        frames = ([list(f) for f in traceback_frames(ev.traceback)[-MAX_FRAMES:]]
                  if ev.traceback and ev.file is None else [])
        key = "\x1f".join((ev.version, ev.method or "", ev.error_type, ev.template, ev.file or "",
                           ev.function or "", str(ev.line or ""), "|".join(f"{f}:{ln}:{fn}" for f, ln, fn in frames)))
        group = self.errors.get(key)
        if group is None:
            group = self.errors[key] = ErrorGroup(ev.version, ev.method, ev.error_type, ev.template, ev.file,
                                                  ev.function, ev.line, frames, 0, 0, ev.first, ev.last)
        group.add(ev.count, ev.executions, ev.first, ev.last, ev.examples, ev.digests, ev.absorbed,
                  ev.absorbed_executions)
        return key

    def absorb(self, key: str, count: int, whole: bool) -> None:
        """``count`` failures in the error group ``key``, read earlier, were absorbed by a success read
        later (method row too); ``whole``: every one that execution had in the group is now absorbed."""
        group = self.errors.get(key)
        if group is None:
            return
        group.absorbed += count
        group.absorbed_executions += whole
        row = self.versions.get(group.version)
        method = row.methods.get(group.method or "") if row is not None else None
        if method is not None:
            method.absorbed += count

    def record_run(self, method: str, run: Sequence[Any]) -> None:
        """Keep the longest failure run of ``method`` ending in this hour (a later equal one wins)."""
        if run[0] >= self.runs.get(method, (0,))[0]:
            self.runs[method] = [run[0], run[1], run[2]]

    def merge(self, other: HourRow) -> None:
        """Fold ``other`` (the same hour, read later) into this row; ``other`` is not used afterwards."""
        self.events += other.events
        self.malformed += other.malformed
        for name, row in other.versions.items():
            mine = self.versions.get(name)
            if mine is None:
                self.versions[name] = row
            else:
                mine.merge(row)
        for method, digests in other.digests.items():
            for digest, (ok, failed) in digests.items():
                self.add_digest(method, digest, ok, failed)
        for key, g in other.errors.items():
            mine_g = self.errors.get(key)
            if mine_g is None:
                self.errors[key] = g
            else:   # the same key: the same group
                mine_g.add(g.count, g.executions, g.first, g.last, g.examples, g.digests, g.absorbed,
                           g.absorbed_executions)
        for method, run in other.runs.items():
            if run[0] >= self.runs.get(method, (0,))[0]:
                self.runs[method] = run

    def to_doc(self) -> dict[str, Any]:
        """The row as stored in ``analysis_hours.json`` (the first release's one-letter layout; a method's
        absorbed count is a sixth list item and a group's ``ab``/``ax``, each only when not zero)."""
        return {"events": self.events, "malformed": self.malformed,
                "v": {name: {"n": v.executions, "f": v.failures, "tsum": v.duration_sum, "tn": v.timed,
                             "t": v.samples, "first": v.first, "last": v.last,
                             "m": {m: [r.calls, r.errors, r.duration_sum, r.timed, r.samples]
                                   + ([r.absorbed] if r.absorbed else [])
                                   for m, r in v.methods.items()}}
                      for name, v in self.versions.items()},
                "d": self.digests,
                "e": {key: {"version": g.version, "method": g.method, "type": g.error_type, "tmpl": g.template,
                            "file": g.file, "func": g.function, "line": g.line, "frames": g.frames, "n": g.count,
                            "x": g.executions, "first": g.first, "last": g.last, "ex": g.examples, "dg": g.digests,
                            **({"ab": g.absorbed, "ax": g.absorbed_executions} if g.absorbed else {})}
                      for key, g in self.errors.items()},
                "s": {m: run[0] for m, run in self.runs.items()},
                "sd": self.runs}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> HourRow:
        """A row read back from ``to_doc``'s layout (also as the first release wrote it: nothing absorbed)."""
        versions = {name: VersionRow(v["n"], v["f"], v["tsum"], v["tn"], v["t"], v["first"], v["last"],
                                     {m: MethodRow(*row) for m, row in v["m"].items()})
                    for name, v in doc["v"].items()}
        errors = {key: ErrorGroup(g["version"], g["method"], g["type"], g["tmpl"], g["file"], g["func"], g["line"],
                                  g.get("frames") or [], g["n"], g["x"], g["first"], g["last"], g["ex"], g["dg"],
                                  g.get("ab", 0), g.get("ax", 0))
                  for key, g in doc["e"].items()}
        runs = doc.get("sd") or {m: [n, None, None] for m, n in doc.get("s", {}).items()}
        return cls(doc["events"], doc["malformed"], versions, doc["d"], errors, runs)


def hours_from_doc(doc: Mapping[str, Mapping[str, Any]]) -> dict[str, HourRow]:
    return {key: HourRow.from_doc(h) for key, h in doc.items()}


def hours_to_doc(hours: Mapping[str, HourRow]) -> dict[str, dict[str, Any]]:
    return {key: h.to_doc() for key, h in hours.items()}
