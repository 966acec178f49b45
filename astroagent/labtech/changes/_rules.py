"""The exact shape each fix rule's output may have: its decorator (where the rule puts it), its
imports and its generated helper, compared by syntax tree with everything else in the file.

The helpers are the rules' own generated source (parsed here), so the guard and the codemods
cannot drift apart; a helper name that resolves to anything else in the file is refused.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from astroagent.labtech.changes._align import align, same
from astroagent.labtech.changes._names import Resolver
from astroagent.labtech.changes._own_classes import OwnClasses, maybe_own
from astroagent.labtech.fixes.caching import GUARDED_SOURCE
from astroagent.labtech.fixes.circuit_breaker import BREAKER_SOURCE, BREAKER_CLASS
from astroagent.labtech.fixes.retry import PREDICATE_SOURCE
from astroagent.labtech.knowledge.decorators import CACHE_DECORATORS, GUARDED_CACHE, HTTP_PREDICATE, INSTRUMENT
from astroagent.labtech.knowledge.exceptions import FAMILIES
from astroagent.labtech.knowledge.hierarchy import dotted_name as _dotted

__all__ = ["SHAPES", "rule_findings"]

Finding = tuple[str, str]
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_FAMILY_EXPRS = frozenset(f.expr for fams in FAMILIES.values() for f in fams if f.expr and not f.http)
_CLIENT_MODULES = frozenset({"urllib.error", *(f.module for fams in FAMILIES.values() for f in fams if f.module)})


@cache
def _helpers(source: str) -> dict[str, str]:
    return {stmt.name: ast.dump(stmt) for stmt in ast.parse(source).body}


def _short_names(decorators: list[ast.expr]) -> list[str]:
    return [_dotted(d.func if isinstance(d, ast.Call) else d).rsplit(".", 1)[-1] for d in decorators]


def _number(node: ast.AST, *, integer: bool = False, low: float = 0, high: float = 1e9) -> bool:
    ok = isinstance(node, ast.Constant) and type(node.value) in ((int,) if integer else (int, float))
    return ok and low <= node.value <= high


def _call(node: ast.AST, name: str) -> ast.Call | None:
    return node if isinstance(node, ast.Call) and _dotted(node.func) == name else None


def _transient(name: str, *, breaker: bool = False) -> bool:
    if breaker and name == "urllib.error.URLError":
        return True
    return name in _FAMILY_EXPRS or maybe_own(name)     # the program's class: resolved() says which


def _family_tuple(node: ast.AST, *, breaker: bool = False) -> list[str] | None:
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    names = [_dotted(item) for item in items]
    return names if names and all(n and _transient(n, breaker=breaker) for n in names) else None


def retry_families(deco: ast.AST) -> tuple[list[str], bool] | None:
    """(families, HTTP predicate) of a retry exactly as add_retry_mechanism writes it, else None."""
    call = _call(deco, "tenacity.retry")
    if call is None or call.args:
        return None
    kw = {k.arg: k.value for k in call.keywords}
    if set(kw) != {"retry", "stop", "wait", "reraise"} or len(kw) != len(call.keywords):
        return None
    stop, wait = kw["stop"], kw["wait"]
    if not (isinstance(kw["reraise"], ast.Constant) and kw["reraise"].value is True):
        return None
    if not (isinstance(stop, ast.BinOp) and isinstance(stop.op, ast.BitOr)
            and (a := _call(stop.left, "tenacity.stop_after_attempt")) and len(a.args) == 1 and not a.keywords
            and _number(a.args[0], integer=True, low=1, high=20)
            and (d := _call(stop.right, "tenacity.stop_after_delay")) and len(d.args) == 1 and not d.keywords
            and _number(d.args[0], low=0, high=600)):
        return None
    if not (isinstance(wait, ast.BinOp) and isinstance(wait.op, ast.Add)
            and (e := _call(wait.left, "tenacity.wait_exponential")) and not e.args
            and {k.arg for k in e.keywords} == {"multiplier", "max"} and all(_number(k.value, high=60)
                                                                           for k in e.keywords)
            and (r := _call(wait.right, "tenacity.wait_random")) and len(r.args) == 2 and not r.keywords
            and _number(r.args[0], high=0) and _number(r.args[1], high=60)):
        return None
    parts, expr = [], kw["retry"]
    while isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        parts.append(expr.right)
        expr = expr.left
    parts.append(expr)
    families: list[str] = []
    http = False
    for part in parts:
        if not isinstance(part, ast.Call) or len(part.args) != 1 or part.keywords:
            return None
        if _dotted(part.func) == "tenacity.retry_if_exception" and _dotted(part.args[0]) == HTTP_PREDICATE:
            http = True
        elif _dotted(part.func) == "tenacity.retry_if_exception_type" and \
                (names := _family_tuple(part.args[0])) is not None:
            families += names
        else:
            return None
    return families, http


def _is_retry(deco: ast.AST, qual: str) -> bool:
    return retry_families(deco) is not None


def _is_cache(deco: ast.AST, qual: str) -> bool:
    if (call := _call(deco, "functools.lru_cache")) is not None:
        kw = {k.arg: k.value for k in call.keywords}
        return not call.args and set(kw) == {"maxsize", "typed"} and len(kw) == 2 and \
            _number(kw["maxsize"], integer=True, low=1, high=4096) and \
            isinstance(kw["typed"], ast.Constant) and kw["typed"].value is True
    call = _call(deco, GUARDED_CACHE)
    return call is not None and not call.args and len(call.keywords) == 1 and call.keywords[0].arg == "maxsize" \
        and _number(call.keywords[0].value, integer=True, low=1, high=4096)


def _is_breaker(deco: ast.AST, qual: str) -> bool:
    call = _call(deco, BREAKER_CLASS)
    if call is None or len(call.args) != 1 or not (isinstance(call.args[0], ast.Constant)
                                                   and call.args[0].value == qual):
        return False
    kw = {k.arg: k.value for k in call.keywords}
    return set(kw) == {"threshold", "cooldown", "failures"} and len(kw) == 3 and \
        _number(kw["threshold"], integer=True, low=1, high=1000) and _number(kw["cooldown"], high=86400) and \
        isinstance(kw["failures"], ast.Tuple) and _family_tuple(kw["failures"], breaker=True) is not None


def _is_instrument(deco: ast.AST, qual: str) -> bool:
    return isinstance(deco, ast.Name) and deco.id == INSTRUMENT


def _retry_index(shorts: list[str]) -> int:
    return shorts.index("instrument") if "instrument" in shorts else len(shorts)


def _breaker_index(shorts: list[str]) -> int:
    for name in ("retry", "instrument"):
        if name in shorts:
            return shorts.index(name)
    return len(shorts)


def _cache_index(shorts: list[str]) -> int:
    return shorts.index("instrument") + 1 if "instrument" in shorts else len(shorts)


def _instrument_index(shorts: list[str]) -> int:
    return next((i for i, n in enumerate(shorts) if n in CACHE_DECORATORS), len(shorts))


@dataclass(frozen=True)
class Shape:
    """What one rule may add: a decorator (matcher, position), imports and module-level helpers."""

    decorator: Callable[[ast.AST, str], bool]
    index: Callable[[list[str]], int]
    imports: frozenset[str]
    helpers: tuple[str, ...] = ()
    optional_decorator: bool = False       # add_timeout: the retry on the new timeouts may be missing
    timeouts: bool = False
    delegate: bool = False                 # add_caching on a method: body moved to a cached helper
    widen: bool = False
    names: dict[str, str] = field(default_factory=dict)   # name the decorator uses → what it must resolve to


_RETRY_IMPORTS = frozenset({"tenacity", *_CLIENT_MODULES})
_BREAKER_IMPORTS = frozenset({"functools", "threading", "time", *_CLIENT_MODULES})
SHAPES: dict[str, Shape] = {
    "add_retry_mechanism": Shape(_is_retry, _retry_index, _RETRY_IMPORTS, (PREDICATE_SOURCE,), widen=True),
    "add_timeout": Shape(_is_retry, _retry_index, _RETRY_IMPORTS, (PREDICATE_SOURCE,), optional_decorator=True,
                         timeouts=True, widen=True),
    "add_caching": Shape(_is_cache, _cache_index, frozenset({"functools", "copy"}), (GUARDED_SOURCE,),
                         delegate=True),
    "add_circuit_breaker": Shape(_is_breaker, _breaker_index, _BREAKER_IMPORTS, (BREAKER_SOURCE,)),
    "add_instrumentation": Shape(_is_instrument, _instrument_index, frozenset({"astroagent.telemetry.instrument"}),
                                 names={INSTRUMENT: "astroagent.telemetry.instrument"}),
}


def _strip_timeouts(tree: ast.AST) -> None:
    """Drop every ``timeout=<positive number>`` argument (what add_timeout adds; the rest must match)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            node.keywords = [k for k in node.keywords if not (k.arg == "timeout" and _number(k.value, high=3600)
                                                              and k.value.value > 0)]


class _RuleCheck:
    def __init__(self, fix: str, old: ast.Module, new: ast.Module, functions: Collection[str] | None,
                 own: tuple[str | None, Path | None, str | None]) -> None:
        self.fix, self.shape = fix, SHAPES[fix]
        if self.shape.timeouts:
            _strip_timeouts(old)
            _strip_timeouts(new)
        self.new_r = Resolver(new)
        self.own = OwnClasses(new, self.new_r, *own)
        self.functions = set(functions) if functions is not None else None
        self.helpers = {name: dump for src in self.shape.helpers for name, dump in _helpers(src).items()}
        self.out: list[Finding] = []
        self.delegates: dict[str, ast.AST] = {}     # expected cached helper name → its expected def
        self.added_defs: dict[str, ast.stmt] = {}

    def run(self, old: ast.Module, new: ast.Module) -> list[Finding]:
        self.block(old.body, new.body, "")
        for name, node in self.added_defs.items():
            expected = self.delegates.pop(name, None)
            if expected is not None and same(expected, node):
                continue
            if self.helpers.get(name) != ast.dump(node):
                self.out.append(("shape", f"{self.fix} adds only its own helpers; {name} (line {node.lineno}) "
                                 "is not one"))
        for name in self.delegates:
            self.out.append(("shape", f"the cached helper {name} is missing or not the method's old body"))
        for name, dump in self.helpers.items():
            if name in self.new_r.module.bindings:
                nodes = [s for s in new.body if getattr(s, "name", None) == name]
                if len(self.new_r.module.bindings[name]) != 1 or not nodes or ast.dump(nodes[0]) != dump:
                    self.out.append(("shape", f"{name} is bound to something other than {self.fix}'s helper"))
        return self.out

    def block(self, old: list[ast.stmt], new: list[ast.stmt], prefix: str) -> None:
        pairs, removed, added = align(old, new)
        for stmt in removed:
            self.out.append(("public-api" if hasattr(stmt, "name") else "shape",
                             f"{self.fix} removed or changed the statement at old line {stmt.lineno}"))
        for stmt in added:       # first: a method's cached helper is looked up when its method is judged
            self.added(stmt, prefix)
        for before, after in pairs:
            self.pair(before, after, prefix)

    def added(self, stmt: ast.stmt, prefix: str) -> None:
        if not prefix and isinstance(stmt, ast.Import):
            self.imports([(a.name, a.asname, a.name) for a in stmt.names], stmt.lineno)
        elif not prefix and isinstance(stmt, ast.ImportFrom) and not stmt.level:
            self.imports([(f"{stmt.module}.{a.name}", a.asname, a.name) for a in stmt.names], stmt.lineno)
        elif not prefix and isinstance(stmt, (*_DEFS, ast.ClassDef)):
            self.added_defs[stmt.name] = stmt
        else:
            self.out.append(("shape", f"{self.fix} adds only its decorator, imports and helper; not the statement "
                             f"at line {stmt.lineno}"))

    def imports(self, names: list[tuple[str, str | None, str]], line: int) -> None:
        for target, asname, _ in names:
            if asname is not None or target not in self.shape.imports:
                self.out.append(("imports", f"{self.fix} does not add import {target} (line {line})"))

    def pair(self, before: ast.stmt, after: ast.stmt, prefix: str) -> None:
        if isinstance(before, ast.ImportFrom):
            kept = {(a.name, a.asname) for a in before.names}
            extra = [a for a in after.names if (a.name, a.asname) not in kept]
            if not kept <= {(a.name, a.asname) for a in after.names}:
                self.out.append(("shape", f"from {before.module} import … lost names (line {after.lineno})"))
            self.imports([(f"{before.module}.{a.name}", a.asname, a.name) for a in extra], after.lineno)
            return
        if same(before, after):
            return
        qual = prefix + before.name
        if isinstance(before, ast.ClassDef) and isinstance(after, ast.ClassDef):
            outer_same = same(ast.Tuple(before.bases), ast.Tuple(after.bases)) and \
                same(ast.Tuple(before.decorator_list), ast.Tuple(after.decorator_list)) and \
                same(ast.Tuple([k.value for k in before.keywords]), ast.Tuple([k.value for k in after.keywords]))
            if not outer_same:
                self.out.append(("shape", f"{self.fix} changed the class statement of {qual}"))
            self.block(before.body, after.body, qual + ".")
        elif type(before) is type(after) and isinstance(before, _DEFS) and \
                (self.functions is None or qual in self.functions):
            self.target(before, after, qual)
        else:
            self.out.append(("shape", f"{self.fix} changed {qual} (line {after.lineno}), which is not its target"))

    def target(self, before: ast.AST, after: ast.AST, qual: str) -> None:
        olds, news = before.decorator_list, after.decorator_list
        core_same = same(before.args, after.args) and same(before.returns, after.returns) and \
            before.name == after.name
        body_same = _same_body(before.body, after.body)
        delegated = False
        if not body_same and self.shape.delegate and "." in qual:
            body_same = delegated = self.delegated(before, after, qual)
        if not core_same or not body_same:
            self.out.append(("shape", f"{self.fix} may add a decorator to {qual}; its signature or body changed "
                             f"(line {after.lineno})"))
        if len(news) == len(olds) and all(same(a, b) for a, b in zip(olds, news)):
            if not (self.shape.optional_decorator or self.shape.timeouts or delegated) and body_same and core_same:
                self.out.append(("shape", f"{self.fix} changed {qual} in a way it never does"))
            return
        if len(news) == len(olds) and self.shape.widen and self.widened(olds, news):
            for a, b in zip(olds, news):
                if not same(a, b):
                    self.resolved(b, qual)
            return
        index = self.shape.index(_short_names(olds))
        expected = len(news) == len(olds) + 1 and all(same(a, b) for a, b in zip(olds, news[:index] + news[index + 1:]))
        if not expected or not self.shape.decorator(news[index], qual):
            self.out.append(("wrapping", f"the decorators of {qual} are not {self.fix}'s exact decorator in its "
                             f"place (line {after.lineno})"))
            return
        self.resolved(news[index], qual)

    def widened(self, olds: list[ast.expr], news: list[ast.expr]) -> bool:
        diff = [(a, b) for a, b in zip(olds, news) if not same(a, b)]
        if len(diff) != 1:
            return False
        was, now = retry_families(diff[0][0]), retry_families(diff[0][1])
        if was is None or now is None or not set(was[0]) <= set(now[0]) or (was[1] and not now[1]):
            return False
        keep = {k.arg: ast.dump(k.value) for k in diff[0][0].keywords if k.arg != "retry"}
        return keep == {k.arg: ast.dump(k.value) for k in diff[0][1].keywords if k.arg != "retry"}

    def resolved(self, deco: ast.AST, qual: str) -> None:
        """Every name in the new decorator means what the rule means by it (not a look-alike)."""
        for node in ast.walk(deco):
            if not isinstance(node, ast.Name):
                continue
            refs = self.new_r.name_refs(node.id, self.new_r.module)
            wanted = self.shape.names.get(node.id)
            ok = refs == {wanted} if wanted else (refs == {node.id} and node.id in self.new_r.modules) or \
                refs == {f"builtins.{node.id}"} or (refs == {f"local:{node.id}"} and node.id in self.helpers) \
                or self.own.transient(node.id, refs)
            if not ok:
                self.out.append(("wrapping", f"{node.id} in the decorator of {qual} does not refer to what "
                                 f"{self.fix} means by it"))

    def delegated(self, before: ast.AST, after: ast.AST, qual: str) -> bool:
        """A method's body moved into a cached module-level helper that the method now returns a call of."""
        helper = "_cached_" + qual.replace(".", "_")
        body, doc = list(before.body), []
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            doc, body = body[:1], body[1:]
        p = before.args
        positional = (p.posonlyargs + p.args)[1:]
        args = [ast.Name(a.arg, ast.Load()) for a in positional]
        if p.vararg:
            args.append(ast.Starred(ast.Name(p.vararg.arg, ast.Load()), ast.Load()))
        keywords = [ast.keyword(a.arg, ast.Name(a.arg, ast.Load())) for a in p.kwonlyargs]
        if p.kwarg:
            keywords.append(ast.keyword(None, ast.Name(p.kwarg.arg, ast.Load())))
        call = ast.Return(ast.Call(ast.Name(helper, ast.Load()), args, keywords))
        if not _same_body(after.body, [*doc, call]):
            return False
        params = ast.arguments(posonlyargs=p.posonlyargs[1:], args=p.args if p.posonlyargs else p.args[1:],
                               vararg=p.vararg, kwonlyargs=p.kwonlyargs, kw_defaults=p.kw_defaults, kwarg=p.kwarg,
                               defaults=p.defaults)
        decorators = list(getattr(self.added_defs.get(helper), "decorator_list", []))
        if len(decorators) != 1 or not _is_cache(decorators[0], qual):
            decorators = [ast.Name("?", ast.Load())]
        extra = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}
        self.delegates[helper] = ast.FunctionDef(name=helper, args=params, body=body, decorator_list=decorators,
                                                 returns=before.returns, type_comment=None, **extra)
        return True


def _same_body(a: list[ast.stmt], b: list[ast.stmt]) -> bool:
    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))


def rule_findings(fix: str, old: ast.Module, new: ast.Module, functions: Collection[str] | None, *,
                  path: str | None = None, workspace: Path | None = None, source: str | None = None) -> list[Finding]:
    """Why ``new`` is not ``old`` plus exactly what ``fix`` adds (empty: it is). ``path`` in ``workspace``
    with the new ``source``: where the program's own exception classes a retry names are looked up."""
    return _RuleCheck(fix, old, new, functions, (path, workspace, source)).run(old, new)
