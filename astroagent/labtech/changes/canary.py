"""Judge a change as a concurrent canary: its own code version against the version it replaced,
on executions of the same period, with an anytime-valid sequential test (``sequential.decide``).

The evidence is the supervisor's outcome record (``telemetry.outcomes``), written by a process the
judged code does not run in: success, and the execution's duration as the supervisor timed it.
Only executions since the change was applied count, and only of the two versions under test, so
an outage or a recovery that starts with the change hits both arms alike, and a second change can
never share this change's evidence (the pipeline runs one canary per agent at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astroagent.config.models import VerdictConfig
from astroagent.labtech.changes.record import CONCURRENT
from astroagent.labtech.changes.sequential import Sample, decide
from astroagent.labtech.changes.verdicts import Verdict, is_speed_change
from astroagent.telemetry.outcomes import read_outcomes
from astroagent.telemetry.writer import epoch_seconds

__all__ = ["CONCURRENT", "judge_concurrent", "canary_kind", "arms", "CANNOT_RUN", "CANNOT_RUN_STREAK"]

CANNOT_RUN = ("start", "crash")     # failure kinds that say the code cannot run at all
SPEED_SUCCESS_MARGIN = 0.2         # docs/benchmarks.md, "Canary verdict": its cost in executions
CANNOT_RUN_STREAK = 3               # this many in a row on the canary, while the baseline succeeds
_ACTIONS = {"keep": "kept", "roll_back": "rolled_back", "wait": "pending"}


def canary_kind(change: dict[str, Any]) -> str:
    """``speed`` for changes whose only purpose is time (caches, slow-method rewrites), else
    ``reliability`` (retries, timeouts, breakers, bug fixes, instrumentation)."""
    return "speed" if is_speed_change(change) else "reliability"


def arms(change: dict[str, Any], records: Sequence[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(canary, baseline) outcome records of the change's period, each in completion order."""
    canary_version, baseline_version = change.get("code_version_after"), change.get("code_version_before")
    start = epoch_seconds(change.get("applied_at") or change.get("created_at")) or 0.0
    ordered = sorted((r for r in records if (epoch_seconds(r.get("timestamp")) or 0.0) >= start),
                     key=lambda r: r.get("timestamp") or "")
    return ([r for r in ordered if r.get("code_version") == canary_version],
            [r for r in ordered if r.get("code_version") == baseline_version])


def _sample(records: Sequence[dict[str, Any]]) -> Sample:
    return Sample(tuple(bool(r.get("success")) for r in records),
                  tuple(float(r["duration"]) if isinstance(r.get("duration"), (int, float)) else None
                        for r in records))


def _period(canary: Sequence[dict], baseline: Sequence[dict]) -> dict[str, str | None]:
    stamps = sorted(str(r.get("timestamp")) for r in (*canary, *baseline) if r.get("timestamp"))
    return {"first": stamps[0] if stamps else None, "last": stamps[-1] if stamps else None}


def judge_concurrent(change: dict[str, Any], log_dir: Path, config: VerdictConfig, *,
                     now: datetime | None = None) -> Verdict:
    """Keep, roll back or wait, from the canary and baseline executions recorded since the change."""
    if not change.get("code_version_before") or not change.get("code_version_after"):
        return Verdict("pending", "no code versions recorded for a concurrent comparison", {"design": CONCURRENT})
    end = (now or datetime.now(UTC)).timestamp() + 1.0
    start = epoch_seconds(change.get("applied_at") or change.get("created_at")) or 0.0
    canary, baseline = arms(change, read_outcomes(Path(log_dir), start, end))
    if (broken := _cannot_run(canary, baseline)) is not None:
        return Verdict("rolled_back", broken, {"design": CONCURRENT, "period": _period(canary, baseline),
                                               "canary": _side(change.get("code_version_after"), canary),
                                               "baseline": _side(change.get("code_version_before"), baseline)})
    kind = canary_kind(change)
    # a speed change is kept only once success is also credibly no more than SPEED_SUCCESS_MARGIN
    # lower: a 5x faster cache that drops success 70 % -> 50 % is otherwise kept in 99.8 % of runs
    verdict = decide(_sample(canary), _sample(baseline), kind, alpha=config.alpha,
                     max_executions=config.max_canary_executions,
                     success_margin=SPEED_SUCCESS_MARGIN if kind == "speed" else None)
    evidence = {"design": CONCURRENT, "kind": kind, "test": verdict.test, "statistic": verdict.to_dict(),
                "period": _period(canary, baseline),
                "canary": _side(change.get("code_version_after"), canary),
                "baseline": _side(change.get("code_version_before"), baseline)}
    status = _ACTIONS[verdict.action]
    reason = verdict.reason if verdict.decision != "continue" else (
        f"{verdict.reason} ({len(canary)} canary and {len(baseline)} baseline executions so far)")
    return Verdict(status, reason, evidence)


def _cannot_run(canary: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]) -> str | None:
    """Why the canary is rolled back without statistics: its latest executions could not start or
    crashed, while the baseline ran in the same period."""
    last = canary[-CANNOT_RUN_STREAK:]
    if len(last) < CANNOT_RUN_STREAK or any(r.get("success") or r.get("failure_kind") not in CANNOT_RUN for r in last):
        return None
    if not any(r.get("success") for r in baseline):
        return None
    kinds = sorted({str(r.get("failure_kind")) for r in last})
    error = next((str(r.get("error"))[:200] for r in reversed(last) if r.get("error")), "no error text")
    return f"the canary cannot run: its last {len(last)} executions failed ({', '.join(kinds)}): {error}"


def _side(version: str | None, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    durations = sorted(float(r["duration"]) for r in records if isinstance(r.get("duration"), (int, float)))
    return {"code_version": version, "executions": len(records),
            "failed": sum(1 for r in records if not r.get("success")),
            "median_duration": durations[len(durations) // 2] if durations else None}
