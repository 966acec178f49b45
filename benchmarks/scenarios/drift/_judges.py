"""Both judges on one drift run, from the same outcome records.

Before/after (today's ``verdicts.judge``, as a switch rollout feeds it): the old version's
executions before the change against the new version's after it, each side's ``VersionStats``
built from the supervisor's outcome records. Concurrent (``canary.judge_concurrent``): the canary
against the baseline of the same period. Each verdict is also read as a claim about the change
(better, worse, no difference, undecided) to compare with what the case knows it does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from astroagent.config.models import VerdictConfig
from astroagent.labtech.changes.canary import arms, judge_concurrent
from astroagent.labtech.changes.verdicts import Verdict, judge
from astroagent.labtech.models import Analysis, VersionStats
from astroagent.telemetry.outcomes import read_outcomes

__all__ = ["judge_both", "before_after_claim", "concurrent_claim"]

_DECISION_CLAIMS = {"keep": "better", "roll_back": "worse", "no_difference": "no difference",
                    "continue": "undecided"}


def _stamp(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()


def _stats(version: str, records: list[dict[str, Any]]) -> VersionStats:
    failed = sum(1 for r in records if not r.get("success"))
    stamps = sorted(str(r["timestamp"]) for r in records)
    return VersionStats(code_version=version, executions=len(records), failed=failed,
                        success_rate=(len(records) - failed) / len(records) if records else 1.0,
                        first_seen=stamps[0] if stamps else None, last_seen=stamps[-1] if stamps else None,
                        execution_times=tuple(float(r["duration"]) for r in records))


def before_after_claim(verdict: Verdict) -> str:
    """What the before/after verdict says the change did to success."""
    if verdict.verdict == "rolled_back":
        return "worse"
    if verdict.verdict == "pending":
        return "undecided"
    return "better" if verdict.reason.startswith("better") else "no difference"


def concurrent_claim(verdict: Verdict) -> str:
    """What the concurrent verdict says: its sequential decision (a canary that cannot run: worse)."""
    decision = (verdict.evidence.get("statistic") or {}).get("decision")
    if decision is None:
        return "worse" if verdict.verdict == "rolled_back" else "undecided"
    return _DECISION_CLAIMS[decision]


def _before_after(change: dict[str, Any], records: list[dict[str, Any]], canary: list[dict[str, Any]],
                  log_dir: Path, config: VerdictConfig, now: datetime) -> dict[str, Any]:
    applied = datetime.fromisoformat(change["applied_at"]).timestamp()
    old, new = change["code_version_before"], change["code_version_after"]
    earlier = [r for r in records if r.get("code_version") == old and _stamp(r) < applied]
    analysis = Analysis(generated_at=now, window_hours=24.0, log_dir=str(log_dir),
                        per_version={old: _stats(old, earlier), new: _stats(new, canary)})
    verdict = judge(change, analysis, config)
    evidence = verdict.evidence
    return {"verdict": verdict.verdict, "claim": before_after_claim(verdict), "reason": verdict.reason,
            "before": evidence.get("before"), "after": evidence.get("after"), "success": evidence.get("success")}


def _concurrent(change: dict[str, Any], log_dir: Path, config: VerdictConfig, now: datetime) -> dict[str, Any]:
    verdict = judge_concurrent(change, log_dir, config, now=now)
    statistic = verdict.evidence.get("statistic") or {}
    success, time = statistic.get("success") or {}, statistic.get("time")
    keys = ("estimate", "low", "high", "e_better", "e_worse", "credible")
    return {"verdict": verdict.verdict, "claim": concurrent_claim(verdict), "reason": verdict.reason,
            "decision": statistic.get("decision"), "action": statistic.get("action"),
            "pairs": statistic.get("looks"), "horizon": statistic.get("max_executions"),
            "effects": statistic.get("effects", []), "canary": verdict.evidence.get("canary"),
            "baseline": verdict.evidence.get("baseline"), "period": verdict.evidence.get("period"),
            "success": {k: success.get(k) for k in keys},
            "time": {k: time.get(k) for k in keys} if time else None}


def judge_both(change: dict[str, Any], log_dir: Path, config: VerdictConfig, now: datetime) -> dict[str, Any]:
    """``before_after`` and ``concurrent`` verdicts of ``change`` on the outcome records in ``log_dir``."""
    records = read_outcomes(log_dir, 0.0, now.timestamp() + 1.0)
    canary, _ = arms(change, records)
    return {"before_after": _before_after(change, records, canary, log_dir, config, now),
            "concurrent": _concurrent(change, log_dir, config, now)}
