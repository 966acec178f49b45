"""Which execution each waiting child span belongs to: its nearest ancestor that is an entry span.

A span is exported when it ends, so children come before their parents. They wait, per trace, as
rows ``[span_id, parent_id, end, call_event]`` until the chain of parent ids reaches an entry span
(one trace can have several: a client loop calling a service makes one per request). The rows
hanging from the same missing ancestor are let go together, as calls without an execution, once
``timeout`` seconds passed after the last of them ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from astroagent.labtech.analysis.otlp import Span

__all__ = ["ANY_ENTRY", "Key", "attribute", "expire", "row_of"]

ANY_ENTRY = "*"     # the parent of a call a format-1 state kept waiting: that release gave it to the trace's first root

Key = tuple[str, str | None]           # (trace id, entry span id)
Row = list[Any]


def row_of(span: Span, event: dict[str, Any]) -> Row:
    """What a child span waits as (JSON, for the translation's state)."""
    return [span.span_id, span.parent, span.end, event]


def attribute(entries: Mapping[Key, Span], pending: dict[str, list[Row]]) -> dict[Key, list[dict[str, Any]]]:
    """The call events of each entry span, taken out of ``pending``; rows whose chain ends at no entry stay."""
    by_trace: dict[str, dict[str | None, Key]] = {}
    for key in sorted(entries, key=lambda k: (entries[k].start, k[1] or "")):
        by_trace.setdefault(key[0], {})[key[1]] = key
    calls: dict[Key, list[dict[str, Any]]] = {key: [] for key in entries}
    for trace, ids in by_trace.items():
        rows = pending.get(trace)
        if not rows:
            continue
        parents = _parents(rows)
        first = next(iter(ids.values()))
        left = []
        for row in rows:
            key = _top(row[1], ids, parents, first)[0]
            if key is None:
                left.append(row)
            else:
                calls[key].append(row[3])
        if left:
            pending[trace] = left
        else:
            del pending[trace]
    return calls


def expire(pending: dict[str, list[Row]], now_ts: float, timeout: float) -> list[dict[str, Any]]:
    """The call events of the rows whose missing ancestor did not come within ``timeout`` s, taken out of ``pending``."""
    out: list[dict[str, Any]] = []
    for trace in list(pending):
        rows = pending[trace]
        parents = _parents(rows)
        tops = [_top(row[1], {}, parents, None)[1] for row in rows]
        last: dict[str, float] = {}
        for top, row in zip(tops, rows, strict=True):
            last[top] = max(last.get(top, row[2]), row[2])
        left = []
        for top, row in zip(tops, rows, strict=True):
            if now_ts - last[top] > timeout:
                out.append(row[3])
            else:
                left.append(row)
        if left:
            pending[trace] = left
        else:
            del pending[trace]
    return out


def _parents(rows: list[Row]) -> dict[str, str]:
    return {row[0]: row[1] for row in rows if row[0] is not None}


def _top(parent: str, ids: Mapping[str | None, Key], parents: Mapping[str, str],
         first: Key | None) -> tuple[Key | None, str]:
    """The entry a chain of parents reaches (None: none yet) and the last id on it (the one awaited)."""
    seen: set[str] = set()
    while parent not in seen:
        if parent == ANY_ENTRY:
            return first, parent
        key = ids.get(parent)
        if key is not None or parent not in parents:
            return key, parent
        seen.add(parent)
        parent = parents[parent]
    return None, parent                 # a cycle of parent ids: never an entry
