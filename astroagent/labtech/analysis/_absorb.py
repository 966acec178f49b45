"""Failed calls absorbed across reads: a retry's failed attempts in one read, its success in another.

Each engine counts a failed call as absorbed when a successful call of the same method in the
same execution lies at the same or a later timestamp in the same read. For an execution open
across reads (its ``execution_start`` read, its close not yet), ``state["retrying"]`` keeps what
one read can owe another: ``{eid: {"ok": {method: latest success}, "wait": [[hour, error group
key, [times]]]}}`` — the failures no success absorbed yet, and the latest successes, so a later
read's success absorbs earlier failures and an earlier success absorbs a later read's failures at
or before it, in the hour rows where the failures were counted. The execution's close (or timeout)
ends it: where reads split never changes the counts of such an execution.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from astroagent.labtech.analysis._batch import Batch
from astroagent.labtech.analysis._hours import HourRow

__all__ = ["carry_absorbed"]


def _method(hours: dict[str, HourRow], entry: list[Any]) -> str | None:
    """The method of the error group ``[hour, key, times]`` points at (None when the group is gone)."""
    row = hours.get(entry[0])
    group = row.errors.get(entry[1]) if row is not None else None
    return group.method if group is not None else None


def _absorb(hours: dict[str, HourRow], entry: list[Any], ok: float | None) -> bool:
    """Absorb the failures of ``[hour, key, times]`` at or before ``ok``; True while some still wait."""
    hour, key, times = entry
    row = hours.get(hour)
    if row is None or key not in row.errors:    # the hour left the retention window
        return False
    n = bisect_right(times, ok) if ok is not None else 0
    if n:
        row.absorb(key, n, whole=n == len(times))
        entry[2] = times[n:]
    return n < len(times)


def carry_absorbed(state: dict[str, Any], batch: Batch) -> None:
    """Match ``batch`` against what earlier reads left, then keep what the executions still open
    after it (``state["open"]`` once ``_resolve`` ran) may owe later reads."""
    hours, opened = state["hours"], state["open"]
    retrying: dict[str, dict[str, Any]] = state.setdefault("retrying", {})
    for eid in [e for e, rec in retrying.items() if not isinstance(rec, dict)]:   # not this layout: start over
        del retrying[eid]
    for eid, rec in retrying.items():          # earlier failures, this read's successes
        rec["wait"] = [entry for entry in rec["wait"]
                       if _absorb(hours, entry, batch.open_successes.get((eid, _method(hours, entry) or "")))]
    for eid, hour, key, times in batch.waiting:   # this read's failures, earlier successes
        entry = [hour, key, list(times)]
        method = _method(hours, entry)
        if method in (None, "execution"):        # not a call: nothing can succeed for it
            continue
        rec = retrying.get(eid)
        if _absorb(hours, entry, rec["ok"].get(method) if rec else None):
            retrying.setdefault(eid, {"ok": {}, "wait": []})["wait"].append(entry)
    for (eid, method), ts in batch.open_successes.items():
        ok = retrying.setdefault(eid, {"ok": {}, "wait": []})["ok"]
        ok[method] = max(ts, ok.get(method, ts))
    for eid in [e for e in retrying if e not in opened]:
        del retrying[eid]
