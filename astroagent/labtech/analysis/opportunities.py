"""Opportunities: what is worth changing, with evidence, a target and the fix rule it calls for.

Each detector is a small registered class (``@register``, see ``_detection``); adding a kind of
opportunity is adding a class. Detectors are pure: they read the window's statistics, the static
facts of the target code and the configuration, and return ``Opportunity`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis._detection import (DETECTORS, DetectionContext, Detector, derived_bases,
                                                    pattern_evidence, register, share_of_executions,
                                                    transient_types_at)
from astroagent.labtech.analysis._evidence import breaker_cooldown, duration_profile
from astroagent.labtech.analysis.analytics import WindowStats, current_version
from astroagent.labtech.knowledge.exceptions import retry_covers
from astroagent.labtech.models import PRIORITY_ORDER, ErrorPattern, Opportunity, VersionStats

__all__ = ["Detector", "DETECTORS", "register", "DetectionContext", "find_opportunities", "needs_intervention",
           "duration_profile"]


def _judged_current(stats: WindowStats, config: LabTechnicianConfig) -> VersionStats | None:
    """The current code version when it ran enough executions to be judged apart from older ones."""
    current = current_version(stats.per_version, stats.on_disk)
    if current is None or current.code_version == "unknown" or len(stats.per_version) < 2 \
            or current.executions < config.verdict.min_executions:
        return None
    return current


def recovered_note(stats: WindowStats, config: LabTechnicianConfig) -> str | None:
    """Words when the window's success rate is low only because of older code: the current version
    runs at or above the threshold."""
    current = _judged_current(stats, config)
    if current is None or current.success_rate < config.improvement_threshold:
        return None
    return (f"; the current code version {current.code_version} succeeds {current.success_rate:.1%} over "
            f"{current.executions} executions: older code only")


def older_code_only(p: ErrorPattern, ctx: DetectionContext) -> str | None:
    """Words when the pattern's failures (none absorbed) all ran on code older than the current
    version: after a change the window mixes both, and the old code's failures are not the new code's."""
    current = _judged_current(ctx.stats, ctx.config)
    if current is None or p.failed_versions.get(current.code_version) or not p.failed_versions:
        return None
    if p.method and not current.method_calls.get(p.method):   # the new code never got that far: no evidence
        return None
    return (f"; none in the current code version {current.code_version} ({current.executions} executions): "
            "older code only")


def _derived(ctx: DetectionContext, types: Iterable[str]) -> dict[str, Any]:
    """``{"derives_from": {class: base}}`` for the program's own classes among ``types`` (the fixes read it)."""
    bases = derived_bases(ctx, types)
    return {"derives_from": bases} if bases else {}


@register
class LowSuccessRate(Detector):
    type = "low_success_rate"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        ex, threshold = ctx.stats.executions, ctx.config.improvement_threshold
        if not ex.total or ex.success_rate >= threshold:
            return
        top = ctx.stats.patterns[0] if ctx.stats.patterns else None
        recovered = recovered_note(ctx.stats, ctx.config)
        yield Opportunity(
            type=self.type, priority="low" if recovered else "critical" if ex.success_rate < 0.5 else "high",
            score=round((threshold - ex.success_rate) * 100, 3),
            description=f"success rate {ex.success_rate:.1%} over {ex.total} executions is below the "
                        f"{threshold:.0%} threshold" + (f"; most common failure: {top.error_type} in "
                                                         f"{top.method or '?'}" if top else "") + (recovered or ""),
            target=ctx.target_for_pattern(top) if top else None, fix=None, signature=self.type,
            method=top.method if top else None, error_types=tuple(sorted({p.error_type for p in ctx.stats.patterns})),
            evidence={"success_rate": ex.success_rate, "threshold": threshold, "executions": ex.total,
                      "failed": ex.failed, "top_patterns": [p.signature for p in ctx.stats.patterns[:3]]})


@register
class FrequentError(Detector):
    """Recurring failures that are not deterministic; transient ones call for a retry. Failed attempts
    a retry absorbed (the method succeeded later in the same execution) are not counted, only named."""

    type = "frequent_error"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        for p in ctx.stats.patterns:
            count = p.unabsorbed
            if count < ctx.config.min_pattern_count or p.deterministic or p.method == "execution" and \
                    p.error_type == "ExecutionNotClosed":
                continue
            target = ctx.target_for_pattern(p)
            share = share_of_executions(p, ctx)
            evidence = pattern_evidence(p, ctx)
            fix = "add_retry_mechanism" if p.transient else None
            facts = ctx.facts(target)
            if fix and facts.get("retries") and not facts.get("own_retry"):
                fix, evidence["note"] = None, "the function already retries; see dependency_outage"
            elif fix and facts.get("own_retry") and retry_covers(facts.get("own_retry_covers", ()), p.error_type,
                                                                 derived_bases(ctx, (p.error_type,))):
                fix, evidence["note"] = None, "astroagent's retry on this function already covers it"
            types = transient_types_at(ctx, target) if fix and target else (p.error_type,)
            evidence.update(_derived(ctx, types))
            priority = "critical" if share >= 0.3 else "high" if share >= 0.1 or count >= 10 * ctx.config.min_pattern_count \
                else "medium"
            kind = "transient" if p.transient else "unclassified"
            absorbed = f" (+{p.absorbed} failed attempts absorbed by retries)" if p.absorbed else ""
            if older := older_code_only(p, ctx):
                priority, evidence["note"] = "low", older[2:]
            yield Opportunity(
                type=self.type, priority=priority, score=round(share * 100 + count / 1000, 3),
                description=f"{p.error_type} ({kind}) {count}x{absorbed} in {p.method or 'unknown method'}: "
                            f"{p.template[:120]}{older or ''}",
                target=target, fix=ctx.allowed(fix), signature=p.signature, method=p.method,
                error_types=types, evidence=evidence)


@register
class DeterministicFailure(Detector):
    """The same input fails every time: a bug to report (and for an LLM to try), never a retry."""

    type = "deterministic_failure"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        for p in ctx.stats.patterns:
            count = p.unabsorbed
            if not p.deterministic or count < min(2, ctx.config.min_pattern_count):
                continue
            share = share_of_executions(p, ctx)
            older = older_code_only(p, ctx)
            yield Opportunity(
                type=self.type, priority="low" if older else "high" if count >= ctx.config.min_pattern_count
                else "medium", score=round(share * 100 + count / 1000, 3),
                description=f"{p.error_type} in {p.method or 'unknown method'} fails deterministically "
                            f"({count}x): {p.template[:120]}{older or ''}",
                target=ctx.target_for_pattern(p), fix=ctx.allowed("llm_rewrite"), signature=p.signature,
                method=p.method, error_types=(p.error_type,), evidence=pattern_evidence(p, ctx))


@register
class DependencyOutage(Detector):
    """Long runs of consecutive transient failures of one method: stop hammering, break the circuit."""

    type = "dependency_outage"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        for method, streak in ctx.stats.streaks.items():
            transient = [p for p in ctx.stats.patterns if p.method == method and p.transient]
            if streak < ctx.config.outage_streak or not transient:
                continue
            target = ctx.target_for_method(method) or ctx.target_for_pattern(transient[0])
            yield Opportunity(
                type=self.type, priority="high", score=float(streak),
                description=f"{method} failed {streak} times in a row ({', '.join(sorted({p.error_type for p in transient}))})",
                target=target, fix=ctx.allowed("add_circuit_breaker"), signature=f"{self.type}:{method}",
                method=method, error_types=tuple(sorted({p.error_type for p in transient})),
                evidence={"longest_failure_streak": streak, "threshold": ctx.config.outage_streak,
                          "patterns": [p.signature for p in transient],
                          **breaker_cooldown(ctx.stats.streak_spans.get(method)),
                          **_derived(ctx, (p.error_type for p in transient))})


@register
class SlowMethod(Detector):
    type = "slow_method"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        for s in ctx.stats.slow_methods:
            high = s.share >= 0.5 and s.mean >= ctx.config.slow_method_seconds
            why = (f"mean {s.mean:.2f}s above {ctx.config.slow_method_seconds:g}s"
                   if s.mean >= ctx.config.slow_method_seconds else f"{s.share:.0%} of all timed seconds")
            yield Opportunity(
                type=self.type, priority="high" if high else "medium", score=round(s.share * 100, 3),
                description=f"{s.method} is slow: {why} (p95 {s.p95:.2f}s, {s.calls} calls)",
                target=ctx.target_for_method(s.method), fix=None, signature=f"{self.type}:{s.method}",
                method=s.method, evidence=s.model_dump())


@register
class UncachedRepeatedWork(Detector):
    """A pure, slow function called again with equal arguments: a cache pays.

    A method qualifies when it never reads ``self`` (add_caching delegates to a cached
    module-level helper); one that reads ``self`` is reported without a fix, saying why."""

    type = "uncached_repeated_work"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        cfg = ctx.config
        for m in ctx.stats.methods.values():
            digests = ctx.stats.digests.get(m.method, {})
            repeats = sum(max(0, ok - 1) for ok, _bad in digests.values())   # successful calls a cache would skip
            fraction = repeats / m.calls if m.calls else 0.0
            if fraction < cfg.cache_min_repeat_fraction or m.mean < cfg.cache_min_seconds:
                continue
            target = ctx.target_for_method(m.method)
            facts = ctx.facts(target)
            if facts.get("caches"):
                continue
            saving = m.mean * repeats
            if saving < cfg.cache_min_saving_seconds:
                continue
            evidence: dict[str, Any] = {"repeated_successful_calls": repeats, "repeat_fraction": round(fraction, 4),
                                        "distinct_args": m.distinct_args, "calls": m.calls, "mean": m.mean,
                                        "seconds_saved_estimate": round(saving, 3)}
            fix = None
            if not facts:
                evidence["note"] = "purity unknown: the function is not in the target code"
            elif not facts.get("pure"):
                continue   # impure (I/O, clock, randomness, mutation, or calls such a function): never cached
            elif facts.get("is_method") and facts.get("reads_self", True):
                # add_caching would key the cache on a mutable self: report it, propose no fix
                evidence["not_cacheable"] = ("a method that reads self (or cls/super): a cache would be keyed on "
                                             "mutable state; move the pure part into a function to cache it")
            else:
                fix = "add_caching"
                if facts.get("is_method"):
                    evidence["method_without_self"] = True   # cached through a module-level helper
            total = sum(s.total for s in ctx.stats.methods.values()) or 1.0
            yield Opportunity(
                type=self.type,
                priority="low" if "not_cacheable" in evidence else "high" if saving / total >= 0.2 and fix
                else "medium",
                score=round(saving, 3),
                description=f"{m.method} repeats work: {fraction:.0%} of calls succeeded earlier with equal arguments "
                            f"(~{saving:.1f}s to save)",
                target=target, fix=ctx.allowed(fix), signature=f"{self.type}:{target or m.method}", method=m.method,
                evidence=evidence)


@register
class MissingTimeout(Detector):
    """A network call without a timeout, and logs where the method stalls, times out or has a long tail.

    A stall is slow, not failed: it counts even when every call succeeded. Without such log
    evidence the finding is a medium/low report of the static fact alone."""

    type = "missing_timeout"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        for target, facts in ctx.static.items():
            missing = [c for c in facts.get("network_calls", []) if not c["timeout"]]
            if not missing:
                continue
            qual = target.split("::", 1)[1]
            patterns = [p for p in ctx.stats.patterns if ctx.target_for_pattern(p) == target]
            stalls = [p for p in patterns if "timeout" in p.error_type.lower()
                      or any(w in p.template.lower() for w in ("timed out", "timeout", "stall"))]
            method, stats = self._timed(ctx, target, qual)
            samples = [d for v in ctx.stats.per_version.values() for d in v.method_durations.get(method or "", ())]
            profile = duration_profile(samples, min_stall_seconds=min(1.0, ctx.config.slow_method_seconds))
            if stats is not None and not profile:    # timings only from a metrics file: no samples to split
                profile = {"typical_p50": stats.p50, "typical_p75": stats.p50, "stall_calls": 0,
                           "stall_seconds": None}
            typical = profile.get("typical_p50") or 0.0
            stalled = bool(profile.get("stall_calls"))
            long_tail = stats is not None and stats.p95 >= ctx.config.slow_method_seconds and (
                stats.p95 >= 3 * typical or stats.mean >= ctx.config.slow_method_seconds)
            logged = bool(stalls) or stalled or long_tail
            priority = "high" if logged else "medium" if patterns or stats else "low"
            why = [w for w, on in (("timeout/stall errors were logged", stalls),
                                   (f"{profile.get('stall_calls')} call(s) stalled >= {profile.get('stall_seconds')}s "
                                    f"against a typical {typical:.2f}s", stalled),
                                   ("durations have a long tail", long_tail and not stalled)) if on]
            evidence: dict[str, Any] = {"calls": missing, "timeout_patterns": [p.signature for p in stalls],
                                        "p95": stats.p95 if stats else None, "timed_method": method,
                                        "success_rate": stats.success_rate if stats else None, "why": why,
                                        "already_retries": bool(facts.get("retries")),
                                        "own_retry": bool(facts.get("own_retry")),
                                        "transient_types": list(transient_types_at(ctx, target)),
                                        **_derived(ctx, transient_types_at(ctx, target))}
            evidence.update({k: v for k, v in profile.items() if v is not None})
            yield Opportunity(
                type=self.type, priority=priority,
                score=float(len(stalls) * 10 + int(profile.get("stall_calls") or 0) + len(missing)),
                description=f"{qual} makes {len(missing)} network call(s) without a timeout "
                            f"({', '.join(sorted({c['call'] for c in missing}))})"
                            + (f" and {'; '.join(why)}" if why else ""),
                target=target, fix=ctx.allowed("add_timeout"), signature=f"{self.type}:{target}",
                method=qual, error_types=tuple(sorted({p.error_type for p in stalls})), evidence=evidence)

    @staticmethod
    def _timed(ctx: DetectionContext, target: str, qual: str) -> tuple[str | None, Any]:
        """The logged timings of the function, else of a function of the same file that calls it."""
        path = target.split("::", 1)[0]
        candidates = [qual] + sorted(k.split("::", 1)[1] for k, f in ctx.static.items()
                                     if k.startswith(path + "::") and k != target
                                     and any(c == qual or c.endswith(("." + qual, "self." + qual.rsplit(".", 1)[-1]))
                                             for c in f.get("calls", ())))
        for name in candidates:
            for key in (name, name.rsplit(".", 1)[-1]):
                if key in ctx.stats.methods:
                    return key, ctx.stats.methods[key]
        return None, None


@register
class MissingInstrumentation(Detector):
    """A function in failure locations that is never timed: we cannot judge a change to it."""

    type = "missing_instrumentation"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        seen: dict[str, list[ErrorPattern]] = {}
        for p in ctx.stats.patterns:
            target = ctx.target_for_location(p.location)
            if target:
                seen.setdefault(target, []).append(p)
        for target, patterns in seen.items():
            facts, qual = ctx.facts(target), target.split("::", 1)[1]
            timed = ctx.stats.methods.get(qual) or ctx.stats.methods.get(qual.rsplit(".", 1)[-1]) or next(
                (m for name, m in ctx.stats.methods.items() if name.endswith("." + qual)), None)  # module.qualname
            if facts.get("instrumented") or (timed is not None and timed.mean > 0):
                continue
            count = sum(p.count for p in patterns)
            # a program traced with OpenTelemetry gets a span of its own, not astroagent's decorator
            how = "; give it a span of its own to time it" if ctx.spans else ""
            yield Opportunity(
                type=self.type, priority="medium" if count >= ctx.config.min_pattern_count else "low",
                score=float(count), description=f"{qual} appears in {count} failure(s) but is never timed{how}",
                target=target, fix=None if ctx.spans else ctx.allowed("add_instrumentation"),
                signature=f"{self.type}:{target}",
                method=qual, error_types=tuple(sorted({p.error_type for p in patterns})),
                evidence={"failures": count, "patterns": [p.signature for p in patterns]})


@register
class Complexity(Detector):
    type = "complexity"

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        failing = {ctx.target_for_pattern(p) for p in ctx.stats.patterns}
        for target, facts in ctx.static.items():
            if facts.get("complexity", 1) < ctx.config.complexity_threshold:
                continue
            yield Opportunity(
                type=self.type, priority="medium" if target in failing else "low",
                score=float(facts["complexity"]),
                description=f"{target.split('::', 1)[1]} has cyclomatic complexity {facts['complexity']} "
                            f"over {facts['lines']} lines", target=target, fix=ctx.allowed("llm_rewrite"),
                signature=f"{self.type}:{target}", method=target.split("::", 1)[1],
                evidence={"complexity": facts["complexity"], "lines": facts["lines"],
                          "threshold": ctx.config.complexity_threshold, "in_failures": target in failing})


def find_opportunities(stats: WindowStats, config: LabTechnicianConfig,
                       static: Mapping[str, Mapping[str, Any]] | None = None,
                       detectors: Sequence[str] | None = None, *, spans: bool = False) -> tuple[Opportunity, ...]:
    """Every registered detector's findings, highest priority and score first (``spans``: the logs
    are OpenTelemetry spans)."""
    ctx = DetectionContext(stats=stats, config=config, static=static or {}, spans=spans)
    found: list[Opportunity] = []
    for name, detector in DETECTORS.items():
        if detectors is None or name in detectors:
            found.extend(detector.detect(ctx))
    return tuple(sorted(found, key=lambda o: (PRIORITY_ORDER[o.priority], -o.score, o.type, o.signature)))


def needs_intervention(stats: WindowStats, opportunities: Sequence[Opportunity], config: LabTechnicianConfig,
                       *, force: bool = False) -> bool:
    """Act when forced, when the success rate is below the threshold, or on any high-priority finding."""
    if force:
        return True
    ex = stats.executions
    if ex.total and ex.success_rate < config.improvement_threshold and recovered_note(stats, config) is None:
        return True
    return any(o.priority in ("critical", "high") for o in opportunities)
