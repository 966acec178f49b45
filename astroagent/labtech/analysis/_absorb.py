"""Failed calls absorbed across reads: a retry's failed attempts in one read, its success in a later one.

Each engine counts a failed call as absorbed when a successful call of the same method in the
same execution lies at the same or a later timestamp in the same read. An execution still open
after a read keeps the failures no success absorbed yet (``state["retrying"]``: execution id ->
``[[hour, error group key, [times]]]``); a later read's successes of that execution absorb those
at or before them, in the hour rows where they were counted. The execution's close ends the wait
(an execution that times out is no longer open either: its failures stay failures).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from astroagent.labtech.analysis._batch import Batch

__all__ = ["carry_absorbed"]


def carry_absorbed(state: dict[str, Any], batch: Batch) -> None:
    """Absorb waiting failures by ``batch``'s successes, then keep what still waits (after ``_resolve``:
    ``state["open"]`` holds the executions open after this batch)."""
    hours, opened = state["hours"], state["open"]
    waiting: dict[str, list[list[Any]]] = state.setdefault("retrying", {})
    for eid in list(waiting):
        keep = []
        for hour, key, times in waiting[eid]:
            row = hours.get(hour)
            group = row.errors.get(key) if row is not None else None
            if group is None:        # the hour left the retention window
                continue
            ok = batch.open_successes.get((eid, group.method or ""))
            n = bisect_right(times, ok) if ok is not None else 0
            if n:
                row.absorb(key, n, whole=n == len(times))
            if n < len(times):
                keep.append([hour, key, times[n:]])
        if keep and eid in opened:
            waiting[eid] = keep
        else:
            del waiting[eid]
    for eid, hour, key, times in batch.waiting:
        group = hours[hour].errors.get(key) if eid in opened and hour in hours else None
        if group is not None and group.method not in (None, "execution"):   # only a call can succeed later
            waiting.setdefault(eid, []).append([hour, key, list(times)])
