"""How detectors are made: the registry, the context every detector reads, and evidence they share.

A detector is a small class registered with ``@register`` (``opportunities`` holds the built-in
ones); it reads the window's statistics, the static facts of the target code and the
configuration through a ``DetectionContext`` and yields ``Opportunity`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analytics import WindowStats
from astroagent.labtech.models import ErrorPattern, Location, Opportunity

__all__ = ["Detector", "DETECTORS", "register", "DetectionContext", "share_of_executions", "pattern_evidence",
           "transient_types_at", "derived_bases"]

DETECTORS: dict[str, "Detector"] = {}


def register(cls: type["Detector"]) -> type["Detector"]:
    """Class decorator: make a detector part of every analysis."""
    DETECTORS[cls.type] = cls()
    return cls


@dataclass(frozen=True)
class DetectionContext:
    stats: WindowStats
    config: LabTechnicianConfig
    static: Mapping[str, Mapping[str, Any]]    # "path::qualname" -> static facts
    spans: bool = False                        # the logs are OpenTelemetry spans (traced by the program itself)
    _targets: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)  # per signature

    def target_for_method(self, method: str | None) -> str | None:
        """The function a logged method name refers to (exact qualname, then a unique suffix match)."""
        if not method:
            return None
        exact = [k for k in self.static if k.split("::", 1)[1] == method]
        if exact:
            return exact[0]
        tail = method.rsplit(".", 1)[-1]
        loose = [k for k in self.static if k.split("::", 1)[1].endswith("." + method)
                 or method.endswith("." + k.split("::", 1)[1]) or k.split("::", 1)[1] == tail]
        return loose[0] if len(loose) == 1 else None

    def target_for_location(self, loc: Location | None) -> str | None:
        """The innermost target function containing a logged location."""
        if loc is None:
            return None
        best: tuple[int, str] | None = None
        for key, facts in self.static.items():
            path, qual = key.split("::", 1)
            if path != loc.file and not loc.file.endswith("/" + path):
                continue
            if loc.line is not None and facts["line"] <= loc.line <= facts["end_line"]:
                span = facts["end_line"] - facts["line"]
                if best is None or span < best[0]:
                    best = (span, key)
            elif loc.line is None and loc.function and (qual == loc.function or qual.endswith("." + loc.function)):
                best = best or (0, key)
        return best[1] if best else None

    def target_for_pattern(self, p: ErrorPattern) -> str | None:
        """Each detector asks this for every pattern: worked out once per pattern (a scan of all functions)."""
        if p.signature not in self._targets:
            self._targets[p.signature] = self.target_for_location(p.location) or self.target_for_method(p.method)
        return self._targets[p.signature]

    def facts(self, target: str | None) -> Mapping[str, Any]:
        return self.static.get(target or "", {})

    def allowed(self, fix: str | None) -> str | None:
        return fix if fix is None or fix in self.config.improvement_preferences.allowed_fixes else None


class Detector:
    type: ClassVar[str]

    def detect(self, ctx: DetectionContext) -> Iterable[Opportunity]:
        raise NotImplementedError


def share_of_executions(p: ErrorPattern, ctx: DetectionContext) -> float:
    """The share of executions the pattern failed for good (absorbed failures left out)."""
    total = ctx.stats.executions.total
    hit = p.executions - p.absorbed_executions if p.executions else p.unabsorbed
    return hit / total if total else 0.0


def pattern_evidence(p: ErrorPattern, ctx: DetectionContext) -> dict[str, Any]:
    return {"count": p.unabsorbed, "absorbed_by_retries": p.absorbed, "executions": p.executions,
            "share_of_executions": round(share_of_executions(p, ctx), 4),
            "template": p.template, "why": list(p.evidence), "examples": list(p.examples),
            "location": p.location.model_dump() if p.location else None,
            "first_seen": p.first_seen.isoformat() if p.first_seen else None,
            "last_seen": p.last_seen.isoformat() if p.last_seen else None, "code_versions": dict(p.code_versions)}


def transient_types_at(ctx: DetectionContext, target: str) -> tuple[str, ...]:
    """Every transient exception type seen at ``target``, however rare: one retry covers them all
    (a second retry on the same function would be refused, so a rare 5xx would never be retried)."""
    return tuple(sorted({q.error_type for q in ctx.stats.patterns
                         if q.transient and not q.deterministic and ctx.target_for_pattern(q) == target}))


def derived_bases(ctx: DetectionContext, types: Iterable[str]) -> dict[str, str]:
    """The program's own classes among ``types``, each with its nearest known base: what a retry or a
    breaker catches them by when the target module does not name the class."""
    wanted = set(types)
    return {p.error_type: p.derives_from for p in ctx.stats.patterns if p.derives_from and p.error_type in wanted}
