"""add_retry_mechanism: a tenacity retry on a function whose failures come and go.

Retries only the observed exception types and their near family (resets → ``ConnectionError``,
timeouts → ``TimeoutError``; ``HTTPError`` only for 5xx/429), with bounded attempts and total
delay, exponential backoff with jitter, and ``reraise=True`` so callers see the real error.
The decorator goes above ``@instrument`` so each failed attempt is still logged.
"""

from __future__ import annotations

import re
from typing import ClassVar

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor
from libcst.helpers import get_full_name_for_node

from astroagent.labtech.knowledge.retry_plan import retry_plan
from astroagent.labtech.knowledge.purity import module_aliases
from astroagent.labtech.fixes.base import (
    FixRule,
    Refuse,
    TargetedCodemod,
    decorator_names,
    insert_decorator,
    is_generator,
    insert_module_helpers,
)
from astroagent.labtech.models import Opportunity

__all__ = ["AddRetryMechanism", "AddRetryCommand", "retry_plan", "DETERMINISTIC_ERRORS", "HTTP_PREDICATE",
           "generated_retry_families", "plan_for", "is_transient_name"]

HTTP_PREDICATE = "_astroagent_retryable_http_error"

DETERMINISTIC_ERRORS = frozenset({
    "ZeroDivisionError", "ArithmeticError", "OverflowError", "FloatingPointError", "TypeError",
    "ValueError", "KeyError", "IndexError", "LookupError", "AttributeError", "NameError",
    "UnboundLocalError", "AssertionError", "NotImplementedError", "ImportError", "ModuleNotFoundError",
    "SyntaxError", "RecursionError", "UnicodeError", "UnicodeDecodeError", "UnicodeEncodeError",
    "FileNotFoundError", "PermissionError", "IsADirectoryError", "NotADirectoryError", "FileExistsError",
    "JSONDecodeError", "StopIteration", "MemoryError", "KeyboardInterrupt", "SystemExit",
})

_RETRY_LIBS = ("tenacity", "backoff", "retrying", "retry", "stamina")
_RETRY_DECORATORS = ("retry", "on_exception", "on_predicate", "retry_call", "retry_context")

_PREDICATE_SOURCE = f'''
def {HTTP_PREDICATE}(exc: BaseException) -> bool:
    """Retry HTTP 5xx/429 and network-level URL errors; other HTTP statuses are answers, not flakes."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429
    return isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, OSError)
'''


# HTTP client libraries whose errors do not derive from the builtin ones: name → its transient family
_LIBRARY_FAMILIES = {
    "requests": {"ConnectionError": "requests.exceptions.ConnectionError", "Timeout": "requests.exceptions.Timeout",
                 "ReadTimeout": "requests.exceptions.Timeout", "ConnectTimeout": "requests.exceptions.Timeout",
                 "ChunkedEncodingError": "requests.exceptions.ChunkedEncodingError"},
    "httpx": {"ConnectError": "httpx.TransportError", "ReadError": "httpx.TransportError",
              "RemoteProtocolError": "httpx.TransportError", "ReadTimeout": "httpx.TimeoutException",
              "ConnectTimeout": "httpx.TimeoutException", "TimeoutException": "httpx.TimeoutException"},
}


_LIBRARY_NAMES = frozenset(name for table in _LIBRARY_FAMILIES.values() for name in table)


def _client_library_families(module: cst.Module, error_types: tuple[str, ...], families: list[str],
                             modules: list[str], ignored: list[str]) -> tuple[list[str], list[str], list[str]]:
    """When the module uses requests/httpx, their same-named errors join the families to retry."""
    imported = {name.split(".")[0] for name in module_aliases(module).values()}
    families, modules = list(families), list(modules)
    handled: set[str] = set()
    for library, table in _LIBRARY_FAMILIES.items():
        if library not in imported:
            continue
        for raw in error_types:
            expr = table.get(raw.rsplit(".", 1)[-1])
            if expr is None:
                continue
            handled.add(raw)
            if expr not in families:
                families.append(expr)
            needed = "requests.exceptions" if library == "requests" else library
            if needed not in modules:
                modules.append(needed)
    return families, modules, [raw for raw in ignored if raw not in handled]


def plan_for(module: cst.Module, error_types: tuple[str, ...]) -> tuple[list[str], list[str], bool, list[str]]:
    """``retry_plan`` plus the same-named errors of the HTTP client libraries ``module`` imports
    (requests' and httpx's errors do not derive from the builtin ones)."""
    families, modules, http, ignored = retry_plan(error_types)
    families, modules, ignored = _client_library_families(module, error_types, families, modules, ignored)
    return families, modules, http, ignored


def is_transient_name(name: str) -> bool:
    """Whether a retry or breaker could catch ``name`` in some module (builtin family, HTTP, client library)."""
    families, _, http, _ = retry_plan((name,))
    return bool(families) or http or name.rsplit(".", 1)[-1] in _LIBRARY_NAMES


# the stop= and wait= this rule writes (see AddRetryCommand.change); anything else is not ours
_OWN_STOP = re.compile(r"tenacity\.stop_after_attempt\(\d+\) \| tenacity\.stop_after_delay\((\d+(?:\.\d+)?)\)")
_OWN_WAIT = re.compile(r"tenacity\.wait_exponential\(multiplier=[\d.]+, max=[\d.]+\)"
                       r" \+ tenacity\.wait_random\(0, [\d.]+\)")


def generated_retry_families(decorator: cst.Decorator) -> tuple[list[str], bool] | None:
    """(family expressions, HTTP predicate used) of a retry this module wrote — ``@tenacity.retry(retry=
    tenacity.retry_if_exception_type(...) [| tenacity.retry_if_exception(<predicate>)], stop=..., wait=...,
    reraise=True)`` — else None (a retry someone else wrote is never edited)."""
    call = decorator.decorator
    if not isinstance(call, cst.Call) or get_full_name_for_node(call.func) != "tenacity.retry":
        return None
    kwargs = {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}
    if set(kwargs) != {"retry", "stop", "wait", "reraise"} or len(kwargs) != len(call.args) \
            or not (isinstance(kwargs["reraise"], cst.Name) and kwargs["reraise"].value == "True"):
        return None
    code = cst.Module(body=[]).code_for_node
    if not _OWN_STOP.fullmatch(code(kwargs["stop"])) or not _OWN_WAIT.fullmatch(code(kwargs["wait"])):
        return None     # same shape, other policy (e.g. stop_never): somebody else's retry
    parts: list[cst.BaseExpression] = []
    expr = kwargs["retry"]
    while isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        parts.append(expr.right)
        expr = expr.left
    parts.append(expr)
    families: list[str] = []
    http = False
    for part in parts:
        if not isinstance(part, cst.Call) or len(part.args) != 1:
            return None
        name, value = get_full_name_for_node(part.func), part.args[0].value
        if name == "tenacity.retry_if_exception" and get_full_name_for_node(value) == HTTP_PREDICATE:
            http = True
        elif name == "tenacity.retry_if_exception_type":
            items = value.elements if isinstance(value, cst.Tuple) else [cst.Element(value)]
            for item in items:
                if item.__class__ is not cst.Element or not isinstance(item.value, (cst.Name, cst.Attribute)):
                    return None        # a call, subscript or starred item: not a family this rule wrote
                families.append(get_full_name_for_node(item.value) or "")
        else:
            return None
    return sorted(set(families), key=families.index), http


class AddRetryCommand(TargetedCodemod):
    DESCRIPTION: ClassVar[str] = "Retry transient failures of one function with tenacity (bounded, with jitter)."

    attempts: ClassVar[int] = 5
    max_delay: ClassVar[float] = 30.0
    initial_wait: ClassVar[float] = 0.1
    max_wait: ClassVar[float] = 2.0
    jitter: ClassVar[float] = 0.2

    def change(self, original: cst.FunctionDef, updated: cst.FunctionDef, kind: str) -> cst.FunctionDef:
        families, modules, http, ignored = plan_for(self.module, self.opportunity.error_types)
        if is_generator(original):
            raise Refuse(f"{self.qualname} is a generator: retrying it would not re-run its body")
        ours: list[tuple[int, tuple[list[str], bool]]] = []
        for index, (name, deco) in enumerate(zip(decorator_names(original), original.decorators)):
            parts = name.split(".")
            if not (parts[0] in _RETRY_LIBS or parts[-1] in _RETRY_DECORATORS):
                continue
            own = generated_retry_families(deco)
            if own is None:
                raise SkipFile(f"{self.qualname} already retries (@{name})")
            ours.append((index, own))
        if ours:
            return self._widen(updated, ours[0][0], ours[0][1], families, modules, http)
        if not families and not http:
            raise Refuse(f"no transient exception types among {list(self.opportunity.error_types)}")
        if ignored:
            self.warn(f"not retried (not transient): {', '.join(ignored)}")
        conditions = []
        if families:
            inner = families[0] if len(families) == 1 else "(" + ", ".join(families) + ")"
            conditions.append(f"tenacity.retry_if_exception_type({inner})")
        if http:
            conditions.append(f"tenacity.retry_if_exception({HTTP_PREDICATE})")
            self.needs_predicate = True
        evidence = self.opportunity.evidence
        attempts = int(evidence.get("retry_attempts", self.attempts))
        max_delay = float(evidence.get("retry_max_delay", self.max_delay))
        decorator_src = (
            "@tenacity.retry(\n"
            f"    retry={' | '.join(conditions)},\n"
            f"    stop=tenacity.stop_after_attempt({attempts}) | tenacity.stop_after_delay({max_delay:g}),\n"
            f"    wait=tenacity.wait_exponential(multiplier={self.initial_wait:g}, max={self.max_wait:g})"
            f" + tenacity.wait_random(0, {self.jitter:g}),\n"
            "    reraise=True,\n"
            ")\n"
            "def _(): pass\n"
        )
        decorator = cst.ensure_type(cst.parse_statement(decorator_src), cst.FunctionDef).decorators[0]
        AddImportsVisitor.add_needed_import(self.context, "tenacity")
        for module in modules:
            AddImportsVisitor.add_needed_import(self.context, module)
        retried = ", ".join(families + (["HTTP 5xx/429"] if http else []))
        self.summary = (f"retry {self.qualname} on {retried}: at most {attempts} attempts or "
                        f"{max_delay:g} s, exponential backoff with jitter, re-raising the last error")
        return insert_decorator(updated, decorator, above="instrument")

    def _widen(self, node: cst.FunctionDef, index: int, own: tuple[list[str], bool], families: list[str],
               modules: list[str], http: bool) -> cst.FunctionDef:
        """Add newly seen transient types to the retry this rule wrote earlier (a second retry would
        multiply the attempts); SkipFile when it already covers them."""
        had, had_http = own
        new = [f for f in families if f not in had]
        if not new and (had_http or not http):
            covered = ", ".join(had + (["HTTP 5xx/429"] if had_http else []))
            raise SkipFile(f"{self.qualname} already retries on {covered}")
        union = had + new
        conditions = []
        if union:
            inner = union[0] if len(union) == 1 else "(" + ", ".join(union) + ")"
            conditions.append(f"tenacity.retry_if_exception_type({inner})")
        if had_http or http:
            conditions.append(f"tenacity.retry_if_exception({HTTP_PREDICATE})")
            self.needs_predicate = not had_http
        for module in modules:
            AddImportsVisitor.add_needed_import(self.context, module)
        decorator = node.decorators[index]
        call = cst.ensure_type(decorator.decorator, cst.Call)
        args = [arg.with_changes(value=cst.parse_expression(" | ".join(conditions)))
                if arg.keyword is not None and arg.keyword.value == "retry" else arg for arg in call.args]
        decorators = list(node.decorators)
        decorators[index] = decorator.with_changes(decorator=call.with_changes(args=args))
        cap = _OWN_STOP.fullmatch(cst.Module(body=[]).code_for_node(
            next(a.value for a in call.args if a.keyword is not None and a.keyword.value == "stop")))
        wanted = self.opportunity.evidence.get("retry_max_delay")
        if cap and isinstance(wanted, (int, float)) and float(cap.group(1)) < wanted:
            self.warn(f"the widened retry keeps its {cap.group(1)} s delay cap: an attempt that runs past it "
                      "is not retried")
        added = ", ".join(new + (["HTTP 5xx/429"] if http and not had_http else []))
        self.summary = f"widen the retry of {self.qualname} to also retry {added}"
        return node.with_changes(decorators=decorators)

    needs_predicate = False

    def finish_module(self, module: cst.Module) -> cst.Module:
        return insert_module_helpers(module, _PREDICATE_SOURCE) if self.needs_predicate else module


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
        if not any(is_transient_name(t) for t in opportunity.error_types):
            bad = [t for t in opportunity.error_types if t.rsplit(".", 1)[-1] in DETERMINISTIC_ERRORS]
            if bad:
                return f"programming errors ({', '.join(bad)}) are deterministic: no retry"
            return f"no transient exception types among {', '.join(opportunity.error_types)}"
        return None
