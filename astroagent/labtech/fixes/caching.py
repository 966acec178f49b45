"""add_caching: a bounded ``functools.lru_cache`` on a pure function called again with equal arguments.

Refused unless the function is pure by a static look (no I/O, randomness, clock, global or
argument mutation), every argument is hashable by annotation or literal default, and the logs
show repeated equal ``args_digest``. The cache goes below ``@instrument`` so every call is
still timed (a hit is fast, which is how the logs show the speed-up). A method is never keyed
on a mutable ``self``: one that reads ``self`` is refused; one that does not delegates to a
cached module-level helper.
"""

from __future__ import annotations

from typing import Any, ClassVar

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from astroagent.labtech.fixes.base import (
    FixRule,
    Refuse,
    TargetedCodemod,
    decorator_names,
    insert_decorator,
    insert_module_helpers,
    is_generator,
)
from astroagent.labtech.knowledge.decorators import GUARDED_CACHE, INSTRUMENT, is_cache_decorator
from astroagent.labtech.knowledge.hashable import immutable_return, param_hashability
from astroagent.labtech.knowledge.names import uses_name
from astroagent.labtech.knowledge.purity import function_effects
from astroagent.labtech.models import Opportunity

__all__ = ["AddCaching", "AddCachingCommand", "repeated_args_evidence", "cache_size"]

_EVIDENCE_KEYS = ("repeated_args", "repeated_args_fraction", "repeat_fraction", "repeated_calls",
                  "repeated_digests")


def repeated_args_evidence(evidence: dict[str, Any]) -> float:
    """How strongly the logs show repeated equal ``args_digest`` (0 = not at all)."""
    for key in _EVIDENCE_KEYS:
        value = evidence.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return 0.0


def cache_size(evidence: dict[str, Any]) -> int:
    """Twice the distinct argument sets seen, within [32, 1024]; 256 without evidence."""
    distinct = evidence.get("distinct_args")
    if isinstance(distinct, int) and not isinstance(distinct, bool) and distinct > 0:
        return max(32, min(1024, 2 * distinct))
    return 256


GUARDED_SOURCE = f'''
def {GUARDED_CACHE}(maxsize):
    """functools.lru_cache for calls with hashable arguments (others run uncached, never a TypeError);
    results that are not plain immutable values are copied, so a caller cannot change the cached one."""

    def decorate(func):
        cached = functools.lru_cache(maxsize=maxsize, typed=True)(func)

        @functools.wraps(func)
        def call(*args, **kwargs):
            try:
                hash((args, tuple(kwargs.items())))
            except TypeError:
                return func(*args, **kwargs)
            return _astroagent_fresh(cached(*args, **kwargs))

        call.cache_info = cached.cache_info
        call.cache_clear = cached.cache_clear
        return call

    return decorate


def _astroagent_fresh(value):
    """The cached value itself when nothing in it can change, else a copy (flat rows copy cheaply)."""
    atomic = (int, float, complex, str, bytes, bool, type(None))
    if isinstance(value, atomic):
        return value
    if isinstance(value, (list, tuple)) and all(
            isinstance(item, atomic) or (type(item) is tuple and all(isinstance(x, atomic) for x in item))
            for item in value):
        return list(value) if isinstance(value, list) else value
    return copy.deepcopy(value)
'''


def _lru_decorator(size: int, guarded: bool) -> cst.Decorator:
    text = f"{GUARDED_CACHE}(maxsize={size})" if guarded else f"functools.lru_cache(maxsize={size}, typed=True)"
    return cst.Decorator(decorator=cst.parse_expression(text))


class AddCachingCommand(TargetedCodemod):
    DESCRIPTION: ClassVar[str] = "Cache a pure function's results (bounded functools.lru_cache)."

    helper: cst.FunctionDef | None = None
    helper_before: str = ""
    guarded = False

    def change(self, original: cst.FunctionDef, updated: cst.FunctionDef, kind: str) -> cst.FunctionDef:
        names = decorator_names(original)
        for name in names:
            if is_cache_decorator(name):
                raise SkipFile(f"{self.qualname} is already cached (@{name})")
        helper_name = "_cached_" + self.qualname.replace(".", "_")
        if any(isinstance(stmt, cst.FunctionDef) and stmt.name.value == helper_name for stmt in self.module.body):
            raise SkipFile(f"{self.qualname} is already cached through {helper_name}")
        if original.name.value.startswith("__") and original.name.value.endswith("__"):
            raise Refuse(f"{self.qualname} is a special method: not a candidate for a cache")
        if kind == "nested":
            raise Refuse(f"{self.qualname} is a nested function: it is re-created on every call of its "
                         "parent, so a cache there would not last")
        if original.asynchronous is not None:
            raise Refuse(f"{self.qualname} is async: a cached coroutine cannot be awaited twice")
        short = [n.rsplit(".", 1)[-1] for n in names]
        static = "staticmethod" in short
        method = kind == "method" and not static
        first = _first_param(original) if method else None
        if method and first is None:
            raise Refuse(f"{self.qualname} is a method without a self/cls parameter")
        if is_generator(original):
            raise Refuse(f"{self.qualname} is a generator: a cached one would hand out a spent iterator")
        reasons = function_effects(self.module).get(self.qualname, [])
        if reasons:
            raise Refuse(f"{self.qualname} is not pure: {'; '.join(reasons[:3])}")
        unhashable, unknown = param_hashability(original, skip_first=method)
        if unhashable:
            raise Refuse(f"{self.qualname}: {'; '.join(unhashable[:3])}: a cache would never hit")
        if "property" in short:
            raise Refuse(f"{self.qualname} is a property: its value depends on self")
        # provably hashable arguments and an immutable result: a plain lru_cache; otherwise a guarded one
        self.guarded = bool(unknown) or not immutable_return(original)
        size = cache_size(self.opportunity.evidence)
        AddImportsVisitor.add_needed_import(self.context, "functools")
        if self.guarded:
            AddImportsVisitor.add_needed_import(self.context, "copy")
            why = (f"arguments {', '.join(unknown)} are not provably hashable (such calls run uncached)"
                   if unknown else "the result may be mutable (hits return a copy)")
            self.warn(f"{self.qualname}: guarded cache because {why}")
        kind_text = (f"{GUARDED_CACHE}(maxsize={size}) (functools.lru_cache; unhashable calls uncached, "
                     "mutable results copied)" if self.guarded else f"functools.lru_cache(maxsize={size})")
        if not method:
            self.summary = f"cache {self.qualname} with {kind_text} below @instrument, so each call is still timed"
            return insert_decorator(updated, _lru_decorator(size, self.guarded), below=INSTRUMENT)
        if uses_name(original, first) or uses_name(original, "super") or uses_name(original, "__class__"):
            raise Refuse(f"{self.qualname} reads {first}: a cache would be keyed on a mutable {first} "
                         "(refused; make the pure part a function and cache that)")
        return self._delegate(updated, first, size)

    def _delegate(self, node: cst.FunctionDef, first: str, size: int) -> cst.FunctionDef:
        """Move the body into a cached module-level helper; the method keeps its signature and calls it."""
        helper_name = "_cached_" + self.qualname.replace(".", "_")
        p = node.params
        positional = [*p.posonly_params, *p.params][1:]
        body = list(node.body.body)
        docstring = []
        if body and _is_docstring(body[0]):
            docstring, body = body[:1], body[1:]
        if not body:
            raise Refuse(f"{self.qualname} has nothing to cache")
        helper_params = p.with_changes(posonly_params=p.posonly_params[1:] if p.posonly_params else (),
                                       params=p.params if p.posonly_params else p.params[1:])
        helper = cst.FunctionDef(
            name=cst.Name(helper_name), params=helper_params, returns=node.returns,
            body=node.body.with_changes(body=body), decorators=[_lru_decorator(size, self.guarded)],
            leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        args = [cst.Arg(cst.Name(x.name.value)) for x in positional]
        if isinstance(p.star_arg, cst.Param):
            args.append(cst.Arg(cst.Name(p.star_arg.name.value), star="*"))
        tight = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))
        args += [cst.Arg(cst.Name(x.name.value), keyword=cst.Name(x.name.value), equal=tight)
                 for x in p.kwonly_params]
        if isinstance(p.star_kwarg, cst.Param):
            args.append(cst.Arg(cst.Name(p.star_kwarg.name.value), star="**"))
        call = cst.SimpleStatementLine([cst.Return(cst.Call(cst.Name(helper_name), args))])
        self.helper = helper
        self.helper_before = self.qualname.split(".")[0]
        self.summary = (f"cache {self.qualname} through a module-level {helper_name} "
                        f"({GUARDED_CACHE if self.guarded else 'functools.lru_cache'}(maxsize={size})); "
                        f"the method does not read {first}, "
                        "so the cache is not keyed on it")
        return node.with_changes(body=node.body.with_changes(body=[*docstring, call]))

    def finish_module(self, module: cst.Module) -> cst.Module:
        if self.guarded:
            module = insert_module_helpers(module, GUARDED_SOURCE)
        if self.helper is None:
            return module
        body = list(module.body)
        for index, stmt in enumerate(body):
            if isinstance(stmt, cst.ClassDef) and stmt.name.value == self.helper_before:
                helper = self.helper.with_changes(leading_lines=stmt.leading_lines or self.helper.leading_lines)
                body[index] = stmt.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
                body.insert(index, helper)
                return module.with_changes(body=body)
        raise Refuse(f"cannot place a helper for {self.qualname} at module level")


def _first_param(node: cst.FunctionDef) -> str | None:
    params = [*node.params.posonly_params, *node.params.params]
    return params[0].name.value if params else None


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


class AddCaching(FixRule):
    name: ClassVar[str] = "add_caching"
    description: ClassVar[str] = AddCachingCommand.DESCRIPTION
    command = AddCachingCommand

    deterministic_refusal: ClassVar[str | None] = "a failing function is not made right by caching it"

    def applicable(self, opportunity: Opportunity) -> str | None:
        if (reason := super().applicable(opportunity)) is not None:
            return reason
        if repeated_args_evidence(opportunity.evidence) <= 0:
            return ("no evidence of repeated calls with equal arguments (args_digest) in the logs: "
                    "a cache would not pay")
        return None
