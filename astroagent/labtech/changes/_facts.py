"""What one function does, as comparable facts: effects with their destinations, reachable log calls,
swallowed exception types, and the shapes a change may only keep (dunders, wrappers, foreign writes).

Each fact has a key; a changed function may keep the keys its old version had and add none. A
function's effect key holds the resolved callee and its arguments (``timeout=`` aside), so
``urlopen(url)`` may stay while ``urlopen(EVIL, data=env)`` is new, however ``urlopen`` is imported.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass, field

from astroagent.labtech.changes._flow import always_raises, dead_nodes, finally_exits
from astroagent.labtech.changes._names import UNKNOWN, Resolver, Scope
from astroagent.labtech.knowledge.capabilities import (
    ALLOWED_CONTEXT_MANAGERS,
    ALLOWED_DECORATORS,
    ALLOWED_DUNDER_ATTRS,
    ALLOWED_DUNDER_METHODS,
    LOG_METHODS,
    SAFE_BUILTINS,
    exception_parents,
    family_of,
)

__all__ = ["Facts", "FactFinder", "exception_names"]

_WRITE_MODES = set("wax+")
_FORMAT_DUNDER = re.compile(r"\{[^{}]*[.\[]_")   # "{0.__globals__}": str.format walks attributes
_LOGGER_ATTRS = {"disabled", "propagate", "level", "handlers", "filters", "manager", "root"}
_TELEMETRY_METHODS = {"span", "event", "fail", "record_success", "record_failure", "record_error", "record"}
_SPECIAL = {"open", "getattr", "hasattr"}


@dataclass
class Facts:
    """Facts of one function; ``findings`` maps a key to (rule, message, line)."""

    findings: dict[tuple, tuple[str, str, int]] = field(default_factory=dict)
    logs: Counter = field(default_factory=Counter)
    log_lines: dict[str, int] = field(default_factory=dict)
    swallowed: list[tuple[tuple[str, ...], int]] = field(default_factory=list)

    def note(self, key: tuple, rule: str, message: str, line: int) -> None:
        self.findings.setdefault(key, (rule, message, line))


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def _arg_key(call: ast.Call) -> str:
    kept = [k for k in call.keywords if k.arg != "timeout"]
    return ast.dump(ast.Call(ast.Constant(None), call.args, kept))


def _short(ref: str) -> str:
    return ref.replace("builtins.", "", 1) if ref.startswith("builtins.") else ref


class FactFinder:
    """Facts of the functions of one module (the resolver's), with local callees' effects followed."""

    def __init__(self, resolver: Resolver, allowed_imports: tuple[str, ...] = ()) -> None:
        self.r = resolver
        self.allowed = allowed_imports
        self._facts: dict[str, Facts] = {}
        self._families: dict[str, frozenset[str]] = {}
        self._busy: set[str] = set()

    def facts(self, qual: str) -> Facts:
        if qual not in self._facts:
            node = self.r.functions.get(qual) or self.r.classes.get(qual)
            self._facts[qual] = self._collect(node) if node is not None else Facts()
        return self._facts[qual]

    def families(self, qual: str) -> frozenset[str]:
        """Effect families a local function has, itself or through the local functions it calls."""
        if qual in self._families:
            return self._families[qual]
        if qual in self._busy:
            return frozenset()
        self._busy.add(qual)
        try:
            found = frozenset(key[1] for key in self.facts(qual).findings if key[0] == "effect")
        finally:
            self._busy.discard(qual)
        self._families[qual] = found
        return found

    def statements(self, stmts: list[ast.stmt]) -> Facts:
        """Facts of module-level statements (to name what a refused new statement would have done)."""
        return self._collect(ast.Module(body=stmts, type_ignores=[]), self.r.module)

    # -- the walk -------------------------------------------------------------------------------
    def _collect(self, fn: ast.AST, scope: Scope | None = None) -> Facts:
        facts = Facts()
        scope = scope or self.r.scope_of(fn)
        outer = scope.parent if scope and scope.parent else self.r.module
        dead = dead_nodes(fn, lambda n: self.r.literal_value(n, scope or outer))
        skip: set[int] = set()
        stack: list[tuple[ast.AST, Scope]] = [(child, scope) for child in _body_of(fn)]
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):   # evaluated where the def runs
            args = fn.args
            stack += [(n, outer) for n in (*fn.decorator_list, *args.defaults, *args.kw_defaults, fn.returns,
                                           *(a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)))
                      if n is not None]
        while stack:
            node, where = stack.pop()
            self._node(node, where, facts, skip, dead)
            stack.extend(self._next(node, where))
        for i, stmt in enumerate(finally_exits(fn)):
            facts.note(("finally", i), "except-widened", f"finally: {type(stmt).__name__.lower()} ends the error "
                       "in flight", stmt.lineno)
        return facts

    def _next(self, node: ast.AST, where: Scope) -> list[tuple[ast.AST, Scope]]:
        inner = self.r.scope_of(node)
        if inner is None:
            return [(child, where) for child in ast.iter_child_nodes(node)]
        if isinstance(node, ast.ClassDef):
            return [(c, where) for c in (*node.decorator_list, *node.bases, *node.keywords)] + \
                [(s, inner) for s in node.body]
        args = node.args
        outer = [(d, where) for d in (*getattr(node, "decorator_list", ()), *args.defaults, *args.kw_defaults)
                 if d is not None]
        body = node.body if isinstance(node.body, list) else [node.body]
        return outer + [(s, inner) for s in body]

    def _node(self, node: ast.AST, where: Scope, facts: Facts, skip: set[int], dead: set[int]) -> None:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _FORMAT_DUNDER.search(node.value):
            facts.note(("format", node.value[:80]), "dynamic-code", "a format string reaching a dunder attribute", line)
        if isinstance(node, ast.Attribute):
            skip.add(id(node.value))
            self._attribute(node, where, facts, line)
        if isinstance(node, ast.Call):
            skip.add(id(node.func))
            self._call(node, where, facts, skip, dead, line)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            self._name(node, where, facts, id(node) in skip, line)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and id(node) not in skip:
            self._effects(self.r.refs(node, where), "ref", facts, line)
        elif isinstance(node, ast.ExceptHandler):
            if node.type is not None:    # naming an exception class is not using its module
                skip.update(id(n) for n in ast.walk(node.type))
            names = tuple(exception_names(self.r, node.type, where)) if node.type is not None else ("BaseException",)
            if not always_raises(node.body, lambda n: self.r.literal_value(n, where)):
                facts.swallowed.append((names, line))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self._with(item.context_expr, where, facts, line)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._definition(node, where, facts)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self._import(node, facts, line)
        elif isinstance(node, ast.Global):
            for name in node.names:
                facts.note(("global", name), "assignment", f"declares global {name}", line)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                self._assign(target, where, facts)

    def _import(self, node: ast.Import | ast.ImportFrom, facts: Facts, line: int) -> None:
        if isinstance(node, ast.ImportFrom):
            modules = [("." * node.level) + (node.module or "")]
        else:
            modules = [alias.name for alias in node.names]
        for module in modules:
            if node_level(node) or not any(module == m or module.startswith(m + ".") for m in self.allowed):
                facts.note(("import", module), family_of(module) or "imports",
                           f"import {module} is not on lab_technician.llm.allowed_imports", line)

    def _name(self, node: ast.Name, where: Scope, facts: Facts, part: bool, line: int) -> None:
        refs = self.r.name_refs(node.id, where)
        for ref in refs:
            if ref.startswith("unbound:") and _dunder(node.id):
                facts.note(("name", node.id), "dynamic-code", f"the name {node.id}", line)
            elif ref.startswith("unbound:"):
                facts.note(("name", node.id), "names", f"{node.id} is bound nowhere in the file", line)
            elif ref.startswith("builtins.") and _short(ref) not in SAFE_BUILTINS and _short(ref) not in _SPECIAL \
                    and family_of(ref) is None:
                facts.note(("name", node.id), "names", f"the builtin {node.id} is not on the safe list", line)
        binding = self.r.binding_scope(node.id, where)
        if not part and (binding is None or binding.kind == "module"):   # a local's effect was counted where made
            self._effects(refs, "ref", facts, line)
        if not part and binding is not None and any(b[0] == "import" and b[1] in self.r.modules
                                       for b in binding.bindings.get(node.id, ())):
            facts.note(("module-value", node.id), "dynamic-code", f"module {node.id} used as a value", line)

    def _attribute(self, node: ast.Attribute, where: Scope, facts: Facts, line: int) -> None:
        if _dunder(node.attr) and node.attr not in ALLOWED_DUNDER_ATTRS:
            facts.note(("dunder", node.attr), "dynamic-code", f"the attribute .{node.attr}", line)
        elif node.attr.startswith("_") and not _dunder(node.attr) and \
                any(r in self.r.modules for r in self.r.refs(node.value, where)):
            facts.note(("private", ast.dump(node)), "dynamic-code",
                       f"the private module attribute {ast.unparse(node)[:60]}", line)

    def _effects(self, refs: frozenset[str], args: str, facts: Facts, line: int) -> None:
        for ref in refs:
            if args == "ref" and ref.endswith(("()", "[]")):
                continue    # a value an effect returned: the effect is judged where it was called
            family = family_of(ref)
            if family:
                facts.note(("effect", family, ref, args), family, f"new use of {_short(ref)}", line)

    def _call(self, node: ast.Call, where: Scope, facts: Facts, skip: set[int], dead: set[int], line: int) -> None:
        refs = self.r.refs(node.func, where)
        args = _arg_key(node)
        if refs & {"builtins.getattr", "builtins.hasattr"}:
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.isidentifier() \
                    and not _dunder(name.value) and node.args:
                self._effects(frozenset(f"{r}.{name.value}" for r in self.r.refs(node.args[0], where)),
                              args, facts, line)
            else:
                facts.note(("getattr", args), "dynamic-code", "getattr with a computed or special name", line)
        if refs & {"builtins.open", "pathlib.Path().open", "io.open"}:
            refs = refs - {"builtins.open", "pathlib.Path().open", "io.open"}
            if _writes(node, 0 if isinstance(node.func, ast.Attribute) else 1):
                facts.note(("effect", "file-write", "open", args), "file-write", "new file write (open)", line)
        self._effects(refs, args, facts, line)
        for kw in node.keywords:
            if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                facts.note(("effect", "dynamic-code", "allow_pickle", args), "dynamic-code",
                           "a load with allow_pickle (runs pickled code)", line)
        for ref in refs:
            qual = _local_function(ref, self.r)
            for family in sorted(self.families(qual)) if qual else ():
                facts.note(("effect", family, ref, args), family,
                           f"new call of {qual}, which has {family} effects, with other arguments", line)
        if id(node) not in dead:
            key = _log_key(refs, node.func)
            if key:
                facts.logs[key] += 1
                facts.log_lines.setdefault(key, line)

    def _with(self, expr: ast.AST, where: Scope, facts: Facts, line: int) -> None:
        refs = self.r.refs(expr.func if isinstance(expr, ast.Call) else expr, where)
        if not any(r in ALLOWED_CONTEXT_MANAGERS or r + "()" in ALLOWED_CONTEXT_MANAGERS for r in refs):
            key = ("with", tuple(sorted(refs)), _arg_key(expr)) if isinstance(expr, ast.Call) else \
                ("with", ast.dump(expr))
            facts.note(key, "except-widened",
                       f"with {ast.unparse(expr)[:60]} may swallow errors (not a listed context manager)", line)

    def _definition(self, node: ast.AST, where: Scope, facts: Facts) -> None:
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if not self.r.refs(target, where) & ALLOWED_DECORATORS:
                facts.note(("decorator", ast.dump(deco)), "wrapping",
                           f"@{ast.unparse(deco)[:60]} on {node.name} is not a listed decorator", deco.lineno)
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                name = getattr(stmt, "name", "")
                if _dunder(name) and name not in ALLOWED_DUNDER_METHODS:
                    facts.note(("dunder-method", node.name, name), "wrapping",
                               f"class {node.name} defines {name}", stmt.lineno)
            if node.keywords:
                facts.note(("class-keywords", node.name), "dynamic-code", f"class {node.name} takes a metaclass "
                           "or keywords", node.lineno)

    def _assign(self, target: ast.AST, where: Scope, facts: Facts) -> None:
        line = getattr(target, "lineno", 0)
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._assign(elt, where, facts)
            return
        if isinstance(target, ast.Starred):
            self._assign(target.value, where, facts)
            return
        if not isinstance(target, (ast.Attribute, ast.Subscript)):
            return
        shown = ast.unparse(target)[:60]
        key = ("assign", ast.dump(target))
        if isinstance(target, ast.Attribute) and _dunder(target.attr):
            facts.note(key, "dynamic-code", f"assigns {shown}", line)
            return
        if isinstance(target, ast.Attribute) and target.attr in _LOGGER_ATTRS:
            facts.note(key, "logging", f"assigns {shown} (logging configuration)", line)
            return
        base = target
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        why = self._foreign(base, target, where)
        if why:
            facts.note(key, "assignment", f"{shown} = …: {why}", line)

    def _foreign(self, base: ast.AST, target: ast.AST, where: Scope) -> str | None:
        """Why assigning into ``target`` (rooted at ``base``) changes what this change does not own."""
        if not isinstance(base, ast.Name):
            return "assigns into an object this change does not own"
        scope = self.r.binding_scope(base.id, where)
        if scope is None or scope.kind == "module":
            refs = self.r.name_refs(base.id, where)
            what = "another module's attribute" if any(not r.startswith(("local:", "?", "lit")) for r in refs) \
                else f"the module-level {base.id}"
            return f"changes {what}"
        kinds = {b[0] for b in scope.bindings.get(base.id, ())}
        if kinds <= {"self"}:
            return None
        if "param" in kinds and isinstance(target, ast.Attribute):
            return f"sets an attribute of the argument {base.id}"
        refs = self.r.name_refs(base.id, where)
        foreign = [r for r in refs if not r.startswith(("local:", "?", "lit", "builtins."))]
        if foreign and isinstance(target, ast.Attribute):
            return f"sets an attribute of {_short(sorted(foreign)[0])}"
        return None


def node_level(node: ast.AST) -> int:
    return getattr(node, "level", 0) or 0


def _body_of(fn: ast.AST) -> list[ast.AST]:
    if isinstance(fn, ast.ClassDef):
        return list(fn.body)
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    return list(body)


def _writes(call: ast.Call, mode_index: int) -> bool:
    mode = next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None and len(call.args) > mode_index:
        mode = call.args[mode_index]
    if mode is None:
        return False
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and not _WRITE_MODES & set(mode.value))


def _local_function(ref: str, resolver: Resolver) -> str | None:
    if not ref.startswith("local:") or ref.endswith("()"):
        return None
    qual = ref[6:].replace("().", ".")
    if qual in resolver.classes:
        qual += ".__init__"
    return qual if qual in resolver.functions else None


def _log_key(refs: frozenset[str], func: ast.AST) -> str | None:
    for ref in sorted(refs):
        tail = ref.rsplit(".", 1)[-1]
        if ref in ("builtins.print", "warnings.warn") or ref.startswith("astroagent.telemetry"):
            return _short(ref)
        if ref.startswith("logging.") and tail in LOG_METHODS and family_of(ref) is None:
            return ref
    if isinstance(func, ast.Attribute):
        receiver = ast.unparse(func.value).lower()[:80]
        if (func.attr in LOG_METHODS and "log" in receiver) or func.attr in _TELEMETRY_METHODS:
            if any(r.startswith((UNKNOWN, "local:")) for r in refs):
                return f"{receiver}.{func.attr}"
    return None


def exception_names(resolver: Resolver, expr: ast.AST, scope: Scope, depth: int = 0) -> list[str]:
    """The exception classes a handler's type expression names; ``BaseException`` for what is unknown."""
    if depth > 8:
        return ["BaseException"]
    if isinstance(expr, (ast.Tuple, ast.List)):
        return [n for elt in expr.elts for n in exception_names(resolver, elt, scope, depth + 1)]
    if isinstance(expr, ast.Name):
        values = resolver.value_nodes(expr.id, scope)
        if values:
            return [n for v in values for n in exception_names(resolver, v, scope, depth + 1)]
    if isinstance(expr, ast.Starred):
        return exception_names(resolver, expr.value, scope, depth + 1)
    out = []
    for ref in resolver.refs(expr, scope):
        if ref.startswith("builtins."):
            out.append(_short(ref))
        elif ref.startswith(("?", "lit", "unbound:")) or ref.endswith(("()", "[]")):
            out.append("BaseException")
        else:
            out.append(ref)
    return out or ["BaseException"]


def ancestors(resolver: Resolver, name: str, depth: int = 0) -> list[str]:
    """``name`` and the classes it derives from (local classes through their bases)."""
    if depth > 8:
        return [name]
    if name.startswith("local:") and name[6:] in resolver.classes:
        node = resolver.classes[name[6:]]
        out = [name]
        for base in node.bases:
            for parent in exception_names(resolver, base, resolver.module):
                out += ancestors(resolver, parent, depth + 1)
        return out
    return exception_parents(name) or [name]
