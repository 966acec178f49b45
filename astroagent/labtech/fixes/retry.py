"""add_retry_mechanism: a tenacity retry on a function whose failures come and go.

Retries only the observed exception types and their near family (resets → ``ConnectionError``,
timeouts → ``TimeoutError``; ``HTTPError`` only for 5xx/429), with bounded attempts and total
delay, exponential backoff with jitter, and ``reraise=True`` so callers see the real error.
The decorator goes above ``@instrument`` so each failed attempt is still logged. Which family
catches which type, and the decorator's exact form, are ``labtech.knowledge``'s (static facts read both).
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
    is_generator,
    insert_module_helpers,
)
from astroagent.labtech.knowledge.decorators import (
    HTTP_PREDICATE,
    INSTRUMENT,
    OwnRetry,
    is_retry_decorator,
    own_retry,
    retry_condition,
    retry_decorator,
)
from astroagent.labtech.knowledge.exceptions import NEVER_RETRIED, is_transient_name, retry_plan
from astroagent.labtech.knowledge.names import exception_scope
from astroagent.labtech.models import Opportunity

__all__ = ["AddRetryMechanism", "AddRetryCommand"]

PREDICATE_SOURCE = f'''
def {HTTP_PREDICATE}(exc: BaseException) -> bool:
    """Retry HTTP 5xx/429 and network-level URL errors; other HTTP statuses are answers, not flakes."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429
    return isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, OSError)
'''


class AddRetryCommand(TargetedCodemod):
    DESCRIPTION: ClassVar[str] = "Retry transient failures of one function with tenacity (bounded, with jitter)."

    attempts: ClassVar[int] = 5
    max_delay: ClassVar[float] = 30.0
    initial_wait: ClassVar[float] = 0.1
    max_wait: ClassVar[float] = 2.0
    jitter: ClassVar[float] = 0.2

    def change(self, original: cst.FunctionDef, updated: cst.FunctionDef, kind: str) -> cst.FunctionDef:
        types, derived = self.opportunity.error_types, derives_from(self.opportunity)
        families, modules, http, ignored = retry_plan(types, exception_scope(self.module), derived)
        if is_generator(original):
            raise Refuse(f"{self.qualname} is a generator: retrying it would not re-run its body")
        ours: list[tuple[int, OwnRetry]] = []
        for index, (name, deco) in enumerate(zip(decorator_names(original), original.decorators)):
            if not is_retry_decorator(name):
                continue
            own = own_retry(deco)
            if own is None:
                raise SkipFile(f"{self.qualname} already retries (@{name})")
            ours.append((index, own))
        if ours:
            return self._widen(updated, ours[0][0], ours[0][1], families, modules, http)
        if not families and not http:
            transient = [t for t in types if is_transient_name(t, derived)]
            if transient:
                raise Refuse(f"{', '.join(transient)}: transient, but nothing this module imports or defines "
                             "names their class, so no retry here can catch them")
            raise Refuse(f"no transient exception types among {list(types)}")
        if ignored:
            self.warn(f"not retried (not transient): {', '.join(ignored)}")
        self.needs_predicate = http
        evidence = self.opportunity.evidence
        attempts = int(evidence.get("retry_attempts", self.attempts))
        max_delay = float(evidence.get("retry_max_delay", self.max_delay))
        decorator = retry_decorator(families, http, attempts=attempts, max_delay=max_delay,
                                    initial_wait=self.initial_wait, max_wait=self.max_wait, jitter=self.jitter)
        AddImportsVisitor.add_needed_import(self.context, "tenacity")
        for module in modules:
            AddImportsVisitor.add_needed_import(self.context, module)
        retried = ", ".join(families + (["HTTP 5xx/429"] if http else []))
        self.summary = (f"retry {self.qualname} on {retried}: at most {attempts} attempts or "
                        f"{max_delay:g} s, exponential backoff with jitter, re-raising the last error")
        return insert_decorator(updated, decorator, above=INSTRUMENT)

    def _widen(self, node: cst.FunctionDef, index: int, own: OwnRetry, families: list[str],
               modules: list[str], http: bool) -> cst.FunctionDef:
        """Add newly seen transient types to the retry this rule wrote earlier (a second retry would
        multiply the attempts); SkipFile when it already covers them."""
        had, had_http = own.families, own.http
        new = [f for f in families if f not in had]
        if not new and (had_http or not http):
            covered = ", ".join(had + (["HTTP 5xx/429"] if had_http else []))
            raise SkipFile(f"{self.qualname} already retries on {covered}")
        self.needs_predicate = http and not had_http
        for module in modules:
            AddImportsVisitor.add_needed_import(self.context, module)
        decorator = node.decorators[index]
        call = cst.ensure_type(decorator.decorator, cst.Call)
        condition = cst.parse_expression(retry_condition(had + new, had_http or http))
        args = [arg.with_changes(value=condition)
                if arg.keyword is not None and arg.keyword.value == "retry" else arg for arg in call.args]
        decorators = list(node.decorators)
        decorators[index] = decorator.with_changes(decorator=call.with_changes(args=args))
        wanted = self.opportunity.evidence.get("retry_max_delay")
        if isinstance(wanted, (int, float)) and own.max_delay < wanted:
            self.warn(f"the widened retry keeps its {own.max_delay:g} s delay cap: an attempt that runs past it "
                      "is not retried")
        added = ", ".join(new + (["HTTP 5xx/429"] if http and not had_http else []))
        self.summary = f"widen the retry of {self.qualname} to also retry {added}"
        return node.with_changes(decorators=decorators)

    needs_predicate = False

    def finish_module(self, module: cst.Module) -> cst.Module:
        return insert_module_helpers(module, PREDICATE_SOURCE) if self.needs_predicate else module


class AddRetryMechanism(FixRule):
    name: ClassVar[str] = "add_retry_mechanism"
    description: ClassVar[str] = AddRetryCommand.DESCRIPTION
    command = AddRetryCommand

    deterministic_refusal: ClassVar[str | None] = ("deterministic failure: a retry would only repeat it "
                                                   "(report it instead)")

    def applicable(self, opportunity: Opportunity) -> str | None:
        if (reason := super().applicable(opportunity)) is not None:
            return reason
        if not opportunity.error_types:
            return "no observed exception types: nothing to limit a retry to"
        derived = derives_from(opportunity)
        if not any(is_transient_name(t, derived) for t in opportunity.error_types):
            bad = [t for t in opportunity.error_types if t.rsplit(".", 1)[-1] in NEVER_RETRIED
                   or derived.get(t, "").rsplit(".", 1)[-1] in NEVER_RETRIED]
            if bad:
                return f"programming errors ({', '.join(bad)}) are deterministic: no retry"
            return f"no transient exception types among {', '.join(opportunity.error_types)}"
        return None
