"""add_circuit_breaker: fail fast while a dependency is down for long streaks, instead of burning time.

Generates a tiny thread-safe breaker in the module (no new dependency): after ``threshold``
consecutive failures of the observed transient types it raises ``_AstroagentCircuitOpen`` — a
``ConnectionError``, so callers' existing handling stays valid — until ``cooldown`` seconds have
passed; then one call is let through and its outcome closes or re-opens the circuit. The breaker
sits above any retry, so an open circuit never triggers a retry loop.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from astroagent.labtech.fixes.base import (
    FixRule,
    Refuse,
    TargetedCodemod,
    decorator_names,
    derives_from,
    insert_decorator,
    insert_module_helpers,
)
from astroagent.labtech.knowledge.exceptions import is_transient_name, retry_plan
from astroagent.labtech.knowledge.names import exception_scope
from astroagent.labtech.models import Opportunity

__all__ = ["AddCircuitBreaker", "AddCircuitBreakerCommand", "BREAKER_CLASS"]

BREAKER_CLASS = "_AstroagentCircuitBreaker"

BREAKER_SOURCE = f'''
class _AstroagentCircuitOpen(ConnectionError):
    """Raised without calling the dependency while its circuit is open."""


class {BREAKER_CLASS}:
    """Fail fast after ``threshold`` consecutive failures; after ``cooldown`` seconds let a call try again."""

    def __init__(self, name, threshold, cooldown, failures, clock=time.monotonic):
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = failures
        self.clock = clock
        self.lock = threading.Lock()
        self.streak = 0
        self.opened_at = None

    def __call__(self, func):
        @functools.wraps(func)
        def guarded(*args, **kwargs):
            with self.lock:
                if self.opened_at is not None:
                    if self.clock() - self.opened_at < self.cooldown:
                        raise _AstroagentCircuitOpen(
                            f"{{self.name}}: circuit open after {{self.streak}} consecutive failures; failing fast")
                    self.opened_at = None
            try:
                result = func(*args, **kwargs)
            except self.failures:
                with self.lock:
                    self.streak += 1
                    if self.streak >= self.threshold:
                        self.opened_at = self.clock()
                raise
            with self.lock:
                self.streak = 0
            return result

        guarded.circuit_breaker = self
        return guarded
'''
_BREAKER_NAMES = ("circuit", "breaker", "circuitbreaker")


class AddCircuitBreakerCommand(TargetedCodemod):
    DESCRIPTION: ClassVar[str] = "Fail fast while a dependency is down (a small generated circuit breaker)."

    threshold: ClassVar[int] = 5
    cooldown: ClassVar[float] = 30.0

    def change(self, original: cst.FunctionDef, updated: cst.FunctionDef, kind: str) -> cst.FunctionDef:
        names = decorator_names(original)
        for name in names:
            if any(word in name.lower() for word in _BREAKER_NAMES):
                raise SkipFile(f"{self.qualname} already has a circuit breaker (@{name})")
        if original.asynchronous is not None:
            raise Refuse(f"{self.qualname} is async: the generated breaker guards plain functions only")
        families, modules, http, _ = retry_plan(self.opportunity.error_types or ("ConnectionError", "TimeoutError"),
                                                exception_scope(self.module), derives_from(self.opportunity))
        if http:
            families.append("urllib.error.URLError")
        if not families:
            raise Refuse(f"no transient exception types among {list(self.opportunity.error_types)}")
        evidence = self.opportunity.evidence
        threshold = int(evidence.get("breaker_threshold", self.threshold))
        cooldown = float(evidence.get("breaker_cooldown", self.cooldown))
        failures = "(" + ", ".join(families) + ("," if len(families) == 1 else "") + ")"
        decorator = cst.Decorator(decorator=cst.parse_expression(
            f'{BREAKER_CLASS}("{self.qualname}", threshold={threshold}, cooldown={cooldown:g}, '
            f"failures={failures})"))
        for module in ("functools", "threading", "time", *modules, *(("urllib.error",) if http else ())):
            AddImportsVisitor.add_needed_import(self.context, module)
        self.summary = (f"fail fast on {self.qualname} after {threshold} consecutive "
                        f"{', '.join(families)} failures, for {cooldown:g} s; raises a ConnectionError")
        short = [n.rsplit(".", 1)[-1] for n in names]
        above = "retry" if "retry" in short else "instrument"
        return insert_decorator(updated, decorator, above=above)

    def finish_module(self, module: cst.Module) -> cst.Module:
        return insert_module_helpers(module, BREAKER_SOURCE)


class AddCircuitBreaker(FixRule):
    name: ClassVar[str] = "add_circuit_breaker"
    description: ClassVar[str] = AddCircuitBreakerCommand.DESCRIPTION
    command = AddCircuitBreakerCommand

    deterministic_refusal: ClassVar[str | None] = "deterministic failure: the dependency is not down, the code is wrong"

    def applicable(self, opportunity: Opportunity) -> str | None:
        if (reason := super().applicable(opportunity)) is not None:
            return reason
        if opportunity.error_types and not any(is_transient_name(t, derives_from(opportunity))
                                               for t in opportunity.error_types):
            return f"no transient exception types among {', '.join(opportunity.error_types)}"
        return None
