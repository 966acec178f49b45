"""The supervisor's outcome record in an analysis: evidence from outside the judged code.

Where the supervisor recorded a code version's executions (``astroagent.telemetry.outcomes``),
their number and failures come from that record, not from the agent's own events, so a change
that fakes success events cannot win its verdict. An execution whose events disagree with the
record, or whose worker found the telemetry tampered with, becomes a ``tampering`` error pattern
and a critical ``tampering`` opportunity; verdicts roll back the change whose code version ran it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astroagent.labtech.analysis.patterns import signature, template
from astroagent.labtech.models import Analysis, ErrorPattern, ExecutionStats, Opportunity, VersionStats
from astroagent.telemetry.outcomes import read_outcomes

__all__ = ["with_outcomes", "TAMPERING", "DISAGREEMENT"]

TAMPERING = "tampering"
DISAGREEMENT = "the execution's events disagree with the supervisor's outcome record"
_EXAMPLES = 3
_RECORD_DELAY = 60.0   # seconds: the supervisor records an execution after its last event


def _version(record: dict[str, Any]) -> str:
    version = record.get("code_version")
    return version if isinstance(version, str) and version else "unknown"


def _stamp(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["timestamp"]).astimezone(UTC)


def _pattern(tmpl: str, records: Sequence[dict[str, Any]], examples: list[str]) -> ErrorPattern:
    versions: dict[str, int] = defaultdict(int)
    for record in records:
        versions[_version(record)] += 1
    return ErrorPattern(
        signature=signature(TAMPERING, tmpl, "execution", None, None), error_type=TAMPERING, template=tmpl,
        count=len(records), executions=len(records), method="execution", deterministic=True,
        evidence=("recorded by the supervisor, a process the judged code does not run in",),
        first_seen=_stamp(records[0]), last_seen=_stamp(records[-1]), examples=tuple(examples[:_EXAMPLES]),
        code_versions=dict(versions))


def _disagreement_example(record: dict[str, Any]) -> str:
    said = "succeeded" if record["success"] else f"failed ({record.get('failure_kind')})"
    return f"execution {record['execution_id']}: events say {record.get('events')}, the supervisor saw it {said}"


def _tampering_patterns(analysis: Analysis, records: Sequence[dict[str, Any]]) -> list[ErrorPattern]:
    """Disagreements, and worker-found tampering the events do not already show as a pattern."""
    out: list[ErrorPattern] = []
    disagree = [r for r in records if r.get("agree") is False]
    if disagree:
        out.append(_pattern(DISAGREEMENT, disagree, [_disagreement_example(r) for r in disagree]))
    shown = {v for p in analysis.error_patterns if p.error_type == TAMPERING for v in p.code_versions}
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("failure_kind") == TAMPERING and _version(record) not in shown:
            found[template(str(record.get("error") or TAMPERING))[:500]].append(record)
    for tmpl, group in found.items():
        out.append(_pattern(tmpl, group, [str(r.get("error"))[:300] for r in group]))
    return out


def _per_version(analysis: Analysis, records: Sequence[dict[str, Any]]) -> dict[str, VersionStats]:
    counts: dict[str, list[Any]] = {}
    for record in records:
        row = counts.setdefault(_version(record), [0, 0, _stamp(record), _stamp(record)])
        row[0] += 1
        row[1] += not record["success"]
        row[3] = _stamp(record)
    out = dict(analysis.per_version)
    for version, (n, failed, first, last) in counts.items():
        fields = {"executions": n, "failed": failed, "success_rate": round(1 - failed / n, 6)}
        old = out.get(version)
        out[version] = old.model_copy(update=fields) if old is not None else VersionStats(
            code_version=version, first_seen=first, last_seen=last, **fields)
    return out


def _executions(analysis: Analysis, per_version: dict[str, VersionStats], recorded: set[str]) -> ExecutionStats:
    """The window's totals with each recorded version's events replaced by its record."""
    total, failed = analysis.executions.total, analysis.executions.failed
    for version in recorded:
        old = analysis.per_version.get(version)
        total += per_version[version].executions - (old.executions if old else 0)
        failed += per_version[version].failed - (old.failed if old else 0)
    total, failed = max(total, 0), min(max(failed, 0), max(total, 0))
    return ExecutionStats(total=total, failed=failed, success_rate=round(1 - failed / total, 6) if total else 1.0)


def _opportunity(patterns: Sequence[ErrorPattern]) -> Opportunity:
    versions: dict[str, int] = defaultdict(int)
    for p in patterns:
        for version, n in p.code_versions.items():
            versions[version] += n
    count = sum(versions.values())
    return Opportunity(
        type="tampering", priority="critical", score=float(count), method="execution", error_types=(TAMPERING,),
        description=(f"tampering: {count} executions of code version(s) {', '.join(sorted(versions))} changed or "
                     f"contradicted their own evidence ({'; '.join(p.template[:120] for p in patterns[:3])}); "
                     "the change that introduced the version is rolled back"),
        signature="tampering:" + ",".join(sorted(versions)),
        evidence={"code_versions": dict(versions), "patterns": [p.signature for p in patterns],
                  "examples": [e for p in patterns for e in p.examples][:_EXAMPLES]})


def with_outcomes(analysis: Analysis, log_dir: Path, end_ts: float, window_hours: float) -> Analysis:
    """``analysis`` with the supervisor's record of the same window folded in (unchanged without one)."""
    records = read_outcomes(log_dir, end_ts - window_hours * 3600, end_ts + _RECORD_DELAY)
    if not records:
        return analysis
    per_version = _per_version(analysis, records)
    added = _tampering_patterns(analysis, records)
    patterns = (*analysis.error_patterns, *added)
    tampering = [p for p in patterns if p.error_type == TAMPERING]
    update: dict[str, Any] = {
        "per_version": per_version, "error_patterns": patterns,
        "executions": _executions(analysis, per_version, {_version(r) for r in records}),
        "notes": (*analysis.notes, f"{len(records)} executions counted from the supervisor's outcome record")}
    if tampering:
        update["opportunities"] = (_opportunity(tampering), *analysis.opportunities)
        update["needs_intervention"] = True
    return analysis.model_copy(update=update)
