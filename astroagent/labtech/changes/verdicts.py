"""Judge an applied change on live outcomes: the new code version's executions against the old.

Pure: a change record, an analysis and thresholds in; a frozen verdict with its evidence out.
Success rates are compared with Fisher's exact test, the target method's time with the
Mann–Whitney U test; nothing is decided below ``min_executions`` of the new version — except
tampering: an execution of the change's own code version that tampered with its telemetry or
contradicted the supervisor's record rolls it back at once (``tampering_verdict``).
Outcomes are executions; the target method's errors ("the targeted failures are gone") are its
failed calls that no retry absorbed: a retry's attempts before its success are not failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from scipy.stats import fisher_exact, mannwhitneyu

from astroagent.config.models import VerdictConfig
from astroagent.labtech.models import Analysis, VersionStats

__all__ = ["Verdict", "judge", "is_speed_change", "tampering_verdict", "baseline_of", "MIN_TIMINGS"]

MIN_TIMINGS = 5
_RELIABILITY_FIXES = {"add_retry_mechanism", "add_timeout", "add_circuit_breaker"}
_SPEED_TYPES = {"slow_method", "uncached_repeated_work"}


def is_speed_change(change: dict[str, Any]) -> bool:
    """A change whose only purpose is time (a cache, a slow-method rewrite): judged on its method's
    time first by both designs (before/after here, the canary's ``speed`` kind)."""
    return change.get("fix") == "add_caching" or change.get("type") in _SPEED_TYPES


@dataclass(frozen=True)
class Verdict:
    verdict: str                     # pending | kept | rolled_back
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Side:
    executions: int
    failed: int
    durations: tuple[float, ...]
    method_errors: int               # the method's failed calls that no retry absorbed

    @property
    def rate(self) -> float:
        return (self.executions - self.failed) / self.executions if self.executions else 0.0


def _method_errors(stats: VersionStats, method: str | None) -> int:
    """Failed calls of ``method`` the execution did not get right later: a retry's failed attempts
    before its success are not the method failing."""
    return stats.method_errors.get(method or "", 0) - stats.method_absorbed.get(method or "", 0)


def baseline_of(analysis: Analysis, version: str | None, method: str | None) -> dict[str, Any] | None:
    """What to remember about the old version at apply time (its executions may leave the window)."""
    stats = analysis.per_version.get(version or "")
    if stats is None:
        return None
    return {"executions": stats.executions, "failed": stats.failed,
            "durations": list(stats.method_durations.get(method or "", ()))[-500:],
            "method_errors": _method_errors(stats, method)}


def _after(analysis: Analysis, versions: list[str], method: str | None) -> _Side:
    execs = failed = errors = 0
    durations: list[float] = []
    for version in versions:
        stats = analysis.per_version.get(version)
        if stats is None:
            continue
        execs += stats.executions
        failed += stats.failed
        errors += _method_errors(stats, method)
        durations.extend(stats.method_durations.get(method or "", ()))
    return _Side(execs, failed, tuple(durations), errors)


def _before(analysis: Analysis, change: dict[str, Any], method: str | None) -> _Side | None:
    stats = analysis.per_version.get(change.get("code_version_before") or "")
    if stats is not None and stats.executions:
        return _Side(stats.executions, stats.failed, tuple(stats.method_durations.get(method or "", ())),
                     _method_errors(stats, method))
    base = change.get("baseline")
    if base:
        return _Side(int(base["executions"]), int(base["failed"]), tuple(base.get("durations", ())),
                     int(base.get("method_errors", 0)))
    after = set(change.get("code_versions_after") or [change.get("code_version_after")])
    others = [v for v in analysis.per_version if v not in after]
    side = _after(analysis, others, method)        # the code that ran without this change
    return side if side.executions else None


def _p(value: float) -> float:
    return 1.0 if value is None or math.isnan(value) else float(value)


def tampering_verdict(change: dict[str, Any], analysis: Analysis) -> Verdict | None:
    """Roll back when executions of the code version this change produced show tampering: that
    version is the change's own (older versions that include it are judged by their own change)."""
    version = change.get("code_version_after")
    found = [p for p in analysis.error_patterns if p.error_type == "tampering" and p.code_versions.get(version or "")]
    if not version or not found:
        return None
    count = sum(p.code_versions[version] for p in found)
    return Verdict("rolled_back", f"tampering: {count} executions of code version {version}: {found[0].template[:200]}",
                   {"tampering": {"code_version": version, "executions": count,
                                  "patterns": [p.signature for p in found], "examples": list(found[0].examples)}})


def _compare_times(after: _Side, before: _Side, config: VerdictConfig, evidence: dict[str, Any]) -> tuple[bool, bool]:
    """(slower, faster): the method's times compared by Mann–Whitney U, recorded in ``evidence``."""
    if len(after.durations) < MIN_TIMINGS or len(before.durations) < MIN_TIMINGS:
        return False, False
    m_after, m_before = median(after.durations), median(before.durations)
    p_slower = _p(mannwhitneyu(after.durations, before.durations, alternative="greater").pvalue)
    p_faster = _p(mannwhitneyu(after.durations, before.durations, alternative="less").pvalue)
    ratio = m_after / m_before if m_before > 0 else (1.0 if m_after == 0 else math.inf)
    evidence["time"] = {"median_before": m_before, "median_after": m_after,
                        "ratio": round(ratio, 4) if math.isfinite(ratio) else None,
                        "p_slower": round(p_slower, 6), "p_faster": round(p_faster, 6),
                        "calls_before": len(before.durations), "calls_after": len(after.durations),
                        "test": "mannwhitneyu"}
    return (ratio > 1 + config.time_tolerance and p_slower < config.alpha,
            ratio < 1 - config.time_tolerance and p_faster < config.alpha)


def _cost(slower: bool, method: str | None, evidence: dict[str, Any]) -> str:
    """What a change kept for its success costs in time, in words (a retry waits between attempts)."""
    if not slower:
        return ""
    t = evidence["time"]
    ratio = f"{t['ratio']:.1f}× " if t.get("ratio") else ""
    return (f"; at a cost: {method} {ratio}slower, median {t['median_before']:.3g}s → {t['median_after']:.3g}s "
            f"(Mann-Whitney p={t['p_slower']:.3g})")


def judge(change: dict[str, Any], analysis: Analysis, config: VerdictConfig) -> Verdict:
    """Keep, roll back, or wait: see the module docstring for the tests and thresholds."""
    if (tampered := tampering_verdict(change, analysis)) is not None:
        return tampered
    method = change.get("method")
    versions = list(change.get("code_versions_after") or [change.get("code_version_after")])
    after = _after(analysis, [v for v in versions if v], method)
    before = _before(analysis, change, method)
    evidence: dict[str, Any] = {"method": method, "versions_after": versions,
                                "after": {"executions": after.executions, "failed": after.failed,
                                          "success_rate": round(after.rate, 4), "method_errors": after.method_errors}}
    if after.executions < config.min_executions:
        return Verdict("pending", f"{after.executions} of {config.min_executions} executions of the new "
                                  "code version so far", evidence)
    if before is None or before.executions == 0:
        return Verdict("pending", "no executions of the old code version to compare with", evidence)
    evidence["before"] = {"executions": before.executions, "failed": before.failed,
                          "success_rate": round(before.rate, 4), "method_errors": before.method_errors}
    table = [[after.executions - after.failed, after.failed], [before.executions - before.failed, before.failed]]
    p_worse = _p(fisher_exact(table, alternative="less")[1])
    p_better = _p(fisher_exact(table, alternative="greater")[1])
    delta = after.rate - before.rate
    evidence["success"] = {"delta": round(delta, 4), "p_worse": round(p_worse, 6), "p_better": round(p_better, 6),
                           "test": "fisher_exact"}
    worse_rate = delta < -config.success_tolerance and p_worse < config.alpha
    better_rate = delta > config.success_tolerance and p_better < config.alpha

    slower, faster = _compare_times(after, before, config, evidence)

    rate_text = f"success {before.rate:.0%} → {after.rate:.0%}"
    if worse_rate:
        return Verdict("rolled_back", f"worse: {rate_text} (Fisher p={p_worse:.3g})", evidence)
    reliability = change.get("fix") in _RELIABILITY_FIXES
    # a speed change is judged on its method's time first: a better success rate beside it is usually
    # the work of a reliability change applied in the same run (judged on the same executions). Any
    # other change (a retry, a bug fix) keeps a better success rate first: a fixed bug may run longer.
    speed = is_speed_change(change)
    if better_rate and not speed:
        return Verdict("kept", f"better: {rate_text} (Fisher p={p_better:.3g}){_cost(slower, method, evidence)}",
                       evidence)
    if slower and not reliability:
        t = evidence["time"]
        return Verdict("rolled_back", f"slower: {method} median {t['median_before']:.3g}s → "
                                      f"{t['median_after']:.3g}s (Mann-Whitney p={t['p_slower']:.3g})", evidence)
    if faster:
        t = evidence["time"]
        return Verdict("kept", f"faster: {method} median {t['median_before']:.3g}s → {t['median_after']:.3g}s "
                               f"(Mann-Whitney p={t['p_faster']:.3g}); {rate_text}", evidence)
    if better_rate:
        return Verdict("kept", f"better: {rate_text} (Fisher p={p_better:.3g})", evidence)
    if delta >= -config.success_tolerance and before.method_errors > 0 and after.method_errors == 0 \
            and change.get("type") not in _SPEED_TYPES:
        return Verdict("kept", f"the targeted failures in {method} are gone ({before.method_errors} → 0); "
                               f"{rate_text}", evidence)
    if delta >= -config.success_tolerance and (change.get("fix") == "add_instrumentation"
                                               or after.executions >= 3 * config.min_executions):
        return Verdict("kept", f"not worse after {after.executions} executions ({rate_text}); "
                               "no significant difference", evidence)
    return Verdict("pending", f"no significant difference yet after {after.executions} executions "
                              f"({rate_text})", evidence)
