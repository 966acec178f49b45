"""add_timeout: give network calls made without a timeout one, so a stalled peer cannot hang a run.

A timeout alone turns each stall into a failure; so the target function also gets a short
tenacity retry on timeouts and the transient errors seen there (not when it already retries,
when a call in it may write — POST/PUT/PATCH/DELETE, urlopen with data, raw connections —
or the target is a whole module): a stall then costs one timeout and a new attempt instead of
the run. Covers the calls of ``knowledge.network.NETWORK_CALLS`` — the table static facts flag
missing timeouts from — resolved through imports, inside the target function or the whole module
when the target is ``<module>``. Calls that pass a timeout, even ``None``, keep it.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst
from libcst.codemod import CodemodContext, SkipFile
from libcst.helpers import get_full_name_for_node
from libcst.metadata import QualifiedNameProvider

from astroagent.labtech.fixes.base import FixOutcome, FixRule, TargetedCodemod, normalize_qualname, run_codemod
from astroagent.labtech.fixes.retry import AddRetryMechanism
from astroagent.labtech.knowledge.exceptions import TIMEOUT_TYPES
from astroagent.labtech.knowledge.names import qualified_names
from astroagent.labtech.knowledge.network import NETWORK_CALLS, WRITE_METHODS, timeout_passed
from astroagent.labtech.models import Opportunity

__all__ = ["AddTimeout", "AddTimeoutCommand", "timeout_seconds", "FLOOR_SECONDS", "CEILING_SECONDS",
           "SAFETY_FACTOR", "STALL_SHARE", "RETRY_ATTEMPTS"]

_MODULE_TARGETS = ("", "<module>", "*")


FLOOR_SECONDS = 3.0        # never shorter: a slow but healthy answer must still get through
CEILING_SECONDS = 120.0    # never longer: a stalled peer must not hold a run for minutes
SAFETY_FACTOR = 5.0        # times the typical (non-stall) duration
STALL_SHARE = 0.75         # of the shortest observed stall: the timeout must cut every stall
DEFAULT_SECONDS = 30.0
RETRY_ATTEMPTS = 3         # a stall costs at most this many timeouts


def _number(value: object) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None


def timeout_seconds(opportunity: Opportunity) -> float:
    """The timeout to add, chosen from the durations of the calls that are NOT stalls.

    Evidence keys read (``missing_timeout`` writes them, see ``opportunities.duration_profile``):
    ``timeout_seconds`` (an explicit choice, used as is); ``typical_p75`` / ``typical_p50``
    (durations of the calls that are not stalls; the p75 preferred) -> ``SAFETY_FACTOR`` x that,
    within [``FLOOR_SECONDS``, ``CEILING_SECONDS``]; ``stall_seconds`` (the shortest stall of a
    bimodal distribution) -> never above ``STALL_SHARE`` of it, so the timeout really cuts the
    stalls. Older evidence with only ``p95`` (which contains the stalls) gives 3 x p95 within
    [5, 120], still capped by ``stall_seconds``; no evidence gives 30.
    """
    evidence = opportunity.evidence
    explicit = _number(evidence.get("timeout_seconds"))
    if explicit is not None:
        return explicit
    typical = _number(evidence.get("typical_p75")) or _number(evidence.get("typical_p50"))
    p95 = _number(evidence.get("p95"))
    if typical is not None:
        seconds = min(CEILING_SECONDS, max(FLOOR_SECONDS, SAFETY_FACTOR * typical))
    elif p95 is not None:
        seconds = float(min(CEILING_SECONDS, max(5.0, round(3 * p95))))
    else:
        seconds = DEFAULT_SECONDS
    stall = _number(evidence.get("stall_seconds"))
    if stall is not None:
        seconds = min(seconds, STALL_SHARE * stall)
    return max(0.1, round(seconds, 1))


class AddTimeoutCommand(TargetedCodemod):
    DESCRIPTION: ClassVar[str] = "Pass an explicit timeout to network calls that have none."
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self.whole_module = self.qualname in _MODULE_TARGETS
        self.inside = 1 if self.whole_module else 0
        self.changed: list[str] = []
        self.writes: list[str] = []      # calls in the target a retry could repeat with side effects
        self.seconds = timeout_seconds(self.opportunity)
        if self.whole_module:
            self.found = True
            result = tree.visit(self)
        else:
            self.qualname = self.qualname or "<module>"
            result = super().transform_module_impl(tree)
        if not self.changed:
            where = "the module" if self.whole_module else self.qualname
            raise SkipFile(f"every network call in {where} already has a timeout")
        shown = ", ".join(sorted(set(self.changed)))
        self.summary = f"timeout={self.seconds:g} s added to {len(self.changed)} call(s): {shown}"
        return result

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        super().visit_FunctionDef(node)
        if not self.whole_module and ".".join(name for name, _ in self._stack) == self.qualname:
            self.inside += 1
        return True

    def leave_FunctionDef(self, original_node: cst.FunctionDef,
                          updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if not self.whole_module and ".".join(name for name, _ in self._stack) == self.qualname:
            self.inside -= 1
        return super().leave_FunctionDef(original_node, updated_node)

    def change(self, original: cst.FunctionDef, updated: cst.FunctionDef, kind: str) -> cst.FunctionDef:
        return updated

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if not self.inside:
            return updated_node
        name = get_full_name_for_node(updated_node.func)
        if not name:
            return updated_node
        if isinstance(updated_node.func, cst.Attribute) and updated_node.func.attr.value in WRITE_METHODS:
            self.writes.append(name)       # session.post(...), client.delete(...): any receiver
        resolved = next((n for n in sorted(qualified_names(self, original_node.func)) if n in NETWORK_CALLS), None)
        if resolved is None:
            return updated_node
        if _may_write(resolved, updated_node):
            self.writes.append(resolved)
        args = updated_node.args
        passed = timeout_passed(NETWORK_CALLS[resolved], len([a for a in args if a.keyword is None and not a.star]),
                                [a.keyword.value for a in args if a.keyword is not None], any(a.star for a in args))
        if passed is None:
            self.warn(f"{name}(*…) left alone: cannot tell whether it passes a timeout")
        if passed is not False:
            return updated_node
        self.changed.append(resolved)
        new_arg = cst.Arg(cst.Float(f"{self.seconds:.1f}"), keyword=cst.Name("timeout"),
                          equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                whitespace_after=cst.SimpleWhitespace("")))
        args = list(updated_node.args)
        if args:
            last = args[-1]
            if last.comma is cst.MaybeSentinel.DEFAULT or last.comma is None:
                args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            else:   # a trailing comma (often a multi-line call): keep the layout, add ours after it
                between = (args[-2].comma.whitespace_after if len(args) > 1 and isinstance(args[-2].comma, cst.Comma)
                           else updated_node.whitespace_before_args)
                if isinstance(between, cst.SimpleWhitespace):
                    between = cst.SimpleWhitespace(" ")
                new_arg = new_arg.with_changes(comma=last.comma)
                args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=between))
        return updated_node.with_changes(args=[*args, new_arg])


class AddTimeout(FixRule):
    name: ClassVar[str] = "add_timeout"
    description: ClassVar[str] = AddTimeoutCommand.DESCRIPTION
    command = AddTimeoutCommand

    def apply(self, source: str, qualname: str, opportunity: Opportunity) -> FixOutcome:
        if (reason := self.applicable(opportunity)) is not None:
            return FixOutcome("rejected", self.name, None, reason)
        made: list[AddTimeoutCommand] = []

        def make(context: CodemodContext) -> AddTimeoutCommand:
            made.append(AddTimeoutCommand(context, qualname, opportunity))
            return made[-1]

        outcome = run_codemod(self.name, source, make)
        if (outcome.status != "applied" or outcome.new_source is None
                or normalize_qualname(qualname) in _MODULE_TARGETS):
            return outcome
        why_not = _no_retry_reason(opportunity, made[-1])
        if why_not:
            return _with_warning(outcome, f"no retry on the new timeouts: {why_not}")
        seconds = timeout_seconds(opportunity)
        evidence = {**opportunity.evidence, "retry_attempts": RETRY_ATTEMPTS,
                    # an attempt already running is not cut at the cap: the last may start at cap - seconds
                    "retry_max_delay": round(max(0.0, min(RETRY_ATTEMPTS * seconds + 2.0,
                                                          CEILING_SECONDS - seconds)), 1)}
        seen = made[-1].changed
        types = [*TIMEOUT_TYPES, *(("URLError",) if "urllib.request.urlopen" in seen else ()),
                 *opportunity.evidence.get("transient_types", ()), *opportunity.error_types]
        retry = AddRetryMechanism().apply(outcome.new_source, qualname, opportunity.model_copy(
            update={"error_types": tuple(dict.fromkeys(types)), "evidence": evidence}))
        if retry.status != "applied" or retry.new_source is None:
            return _with_warning(outcome, f"no retry on the new timeouts: {retry.reason}")
        return FixOutcome("applied", self.name, retry.new_source, f"{outcome.reason}; and {retry.reason}",
                          outcome.warnings + retry.warnings)


def _no_retry_reason(opportunity: Opportunity, command: AddTimeoutCommand) -> str | None:
    """Why the timeout must come without a retry, or None."""
    already = opportunity.evidence.get("already_retries")
    if already is None:
        return "whether the function already retries is unknown (no static facts)"
    if already and not opportunity.evidence.get("own_retry"):   # astroagent's own retry is widened instead
        return "the function already retries"
    if command.writes:
        return (f"it may write ({', '.join(sorted(set(command.writes)))}): a timed-out request may have "
                "been carried out, and a retry would repeat it")
    return None


def _may_write(resolved: str, call: cst.Call) -> bool:
    """A network call a retry could repeat with side effects (``NETWORK_CALLS`` says which), or
    ``urlopen`` sending data (a ``data`` argument, or a ``Request`` with data or a method other than GET/HEAD)."""
    writes = NETWORK_CALLS[resolved].writes
    if writes is None:
        positional = [arg for arg in call.args if arg.keyword is None]
        data = [arg for arg in call.args if arg.keyword is not None and arg.keyword.value == "data"]
        data += positional[1:2]
        request = positional[0].value if positional else None
        if isinstance(request, cst.Call) and (get_full_name_for_node(request.func) or "").endswith("Request"):
            data += [arg for arg in request.args if arg.keyword is not None and (
                arg.keyword.value == "data" or arg.keyword.value == "method" and not (
                    isinstance(arg.value, cst.SimpleString) and arg.value.evaluated_value in ("GET", "HEAD")))]
            data += [arg for arg in request.args if arg.keyword is None][1:2]
        return any(not (isinstance(arg.value, cst.Name) and arg.value.value == "None") for arg in data)
    return writes


def _with_warning(outcome: FixOutcome, warning: str) -> FixOutcome:
    return FixOutcome(outcome.status, outcome.fix, outcome.new_source, outcome.reason, (*outcome.warnings, warning))
