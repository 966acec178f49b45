"""The shape an LLM change may have: new bodies for the functions its opportunity names, private helpers,
allow-listed imports and literal constants — and inside those bodies no new effect, no removed log
call, no handler that swallows more than before, nothing reached through dunders or foreign writes.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Collection

from astroagent.labtech.changes._align import align, params_kept, render_params, same
from astroagent.labtech.changes._facts import Facts, FactFinder, ancestors
from astroagent.labtech.changes._names import Resolver
from astroagent.labtech.knowledge.capabilities import ALLOWED_DECORATORS, ALLOWED_DUNDER_METHODS, family_of

__all__ = ["Finding", "LLMShape", "is_public"]

Finding = tuple[str, str]          # (rule, message)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def is_public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _what(stmt: ast.stmt) -> str:
    return "class" if isinstance(stmt, ast.ClassDef) else \
        "async function" if isinstance(stmt, ast.AsyncFunctionDef) else "function"


class LLMShape:
    """Judge one LLM proposal: ``findings()`` is empty when it keeps to the allowed shape."""

    def __init__(self, old: ast.Module, new: ast.Module, functions: Collection[str] | None,
                 allowed_imports: Collection[str]) -> None:
        self.old, self.new = Resolver(old), Resolver(new)
        self.functions = set(functions) if functions is not None else None
        self.allowed = tuple(allowed_imports)
        self.out: list[Finding] = []
        self.changed: list[tuple[str, bool]] = []     # (qualname, had an old version)
        self.refused: list[ast.stmt] = []             # new statements refused by shape: say what they would do

    def findings(self) -> list[Finding]:
        self.block(self.old.tree.body, self.new.tree.body, "", "module")
        old_facts, new_facts = FactFinder(self.old, self.allowed), FactFinder(self.new, self.allowed)
        for qual, existed in self.changed:
            self.compare(qual, old_facts.facts(qual) if existed else Facts(), new_facts.facts(qual))
        if self.refused:
            self.compare("<module>", Facts(), new_facts.statements(self.refused))
        return self.out

    def may_change(self, qual: str) -> bool:
        return self.functions is None or qual in self.functions

    # -- structure ------------------------------------------------------------------------------
    def block(self, old: list[ast.stmt], new: list[ast.stmt], prefix: str, kind: str) -> None:
        pairs, removed, added = align(old, new)
        for stmt in removed:
            self.removed(stmt, prefix, kind)
        for before, after in pairs:
            self.pair(before, after, prefix)
        for stmt in added:
            self.added(stmt, prefix, kind)

    def removed(self, stmt: ast.stmt, prefix: str, kind: str) -> None:
        name = getattr(stmt, "name", None)
        if name is not None:
            qual = f"{prefix}{name}"
            rule = "public-api" if is_public(name) else "shape"
            self.out.append((rule, f"{_what(stmt)} {qual} removed (old line {stmt.lineno})"))
        elif not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Constant):
            where = prefix.rstrip(".") or kind
            self.out.append(("shape", f"the statement at old line {stmt.lineno} of {where} was changed or removed "
                             "(only function bodies may change)"))

    def pair(self, before: ast.stmt, after: ast.stmt, prefix: str) -> None:
        if isinstance(before, ast.ImportFrom):
            kept = {(a.name, a.asname) for a in before.names}
            if not kept <= {(a.name, a.asname) for a in after.names}:
                self.out.append(("shape", f"from {before.module} import … lost names (line {after.lineno})"))
            extra = [a for a in after.names if (a.name, a.asname) not in kept]
            if extra:
                self.imports(ast.ImportFrom(before.module, extra, before.level, lineno=after.lineno))
            return
        if not isinstance(before, (*_DEFS, ast.ClassDef)) or same(before, after):
            return
        qual = prefix + before.name
        if type(before) is not type(after):
            self.out.append(("public-api", f"{qual} changed from {_what(before)} to {_what(after)} "
                             f"(line {after.lineno})"))
        elif isinstance(before, ast.ClassDef):
            if not (same(ast.Tuple(before.bases), ast.Tuple(after.bases)) and _same_list(before.keywords, after.keywords)
                    and _same_list(before.decorator_list, after.decorator_list)):
                self.out.append(("public-api", f"class {qual}: bases or decorators changed (line {after.lineno})"))
            self.block(before.body, after.body, qual + ".", "class")
        else:
            self.function(before, after, qual)

    def function(self, before: ast.AST, after: ast.AST, qual: str) -> None:
        if not self.may_change(qual):
            if self.functions and any(f.startswith(qual + ".") for f in self.functions) and \
                    same(before.args, after.args) and _same_list(before.decorator_list, after.decorator_list):
                self.block(before.body, after.body, qual + ".", "function")
                return
            names = ", ".join(sorted(self.functions or ()))
            self.out.append(("shape", f"{qual} changed, but this change may only touch {names} "
                             f"(line {after.lineno})"))
            return
        if not _same_list(before.decorator_list, after.decorator_list):
            lost = [d for d in before.decorator_list if "instrument" in ast.unparse(d)
                    and not any(same(d, e) for e in after.decorator_list)]
            rule, why = ("logging", "@instrument removed") if lost else ("public-api", "decorators changed")
            self.out.append((rule, f"{qual}: {why} (line {after.lineno})"))
        if not same(before.returns, after.returns):
            self.out.append(("public-api", f"{qual}: return annotation changed (line {after.lineno})"))
        if not params_kept(before.args, after.args):
            self.out.append(("parameters", f"{qual}{render_params(before.args)} became "
                             f"{qual}{render_params(after.args)} (line {after.lineno})"))
        self.changed.append((qual, True))

    # -- additions ------------------------------------------------------------------------------
    def added(self, stmt: ast.stmt, prefix: str, kind: str) -> None:
        line = stmt.lineno
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) and kind == "module":
            self.imports(stmt)
        elif isinstance(stmt, (*_DEFS, ast.ClassDef)) and kind != "function":
            self.helper(stmt, prefix, kind)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and kind != "function":
            self.constant(stmt, prefix, kind)
        elif isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                                            and isinstance(stmt.value.value, str)):
            return
        else:
            self.out.append(("shape", f"new {kind}-level statement (line {line}): only imports, private defs and "
                             "literal constants may be added"))
            self.refused.append(stmt)

    def bound_before(self, name: str, prefix: str) -> bool:
        if not prefix:
            return name in self.old.module.bindings
        scope = next((s for s in self.old.scopes.values() if s.qual == prefix.rstrip(".")), None)
        return scope is not None and name in scope.bindings

    def imports(self, stmt: ast.Import | ast.ImportFrom) -> None:
        for alias in stmt.names:
            if isinstance(stmt, ast.ImportFrom):
                if stmt.level or alias.name == "*":
                    self.out.append(("imports", f"from {'.' * stmt.level}{stmt.module or ''} import {alias.name} "
                                     f"(line {stmt.lineno}): relative and star imports are not allowed"))
                    continue
                module, target = stmt.module or "", f"{stmt.module}.{alias.name}"
            else:
                module = target = alias.name
            name = alias.asname or (alias.name if isinstance(stmt, ast.ImportFrom) else alias.name.split(".")[0])
            old_refs = self.old.name_refs(name, self.old.module) if name in self.old.module.bindings else None
            expected = target if (alias.asname or isinstance(stmt, ast.ImportFrom)) else name
            if old_refs is not None and old_refs != {expected}:
                self.out.append(("shape", f"import rebinds {name}, which the file already binds (line {stmt.lineno})"))
            elif old_refs is None and not any(module == m or module.startswith(m + ".") for m in self.allowed) \
                    and not self.names_exceptions_only(module, name):
                rule = family_of(target) or family_of(module) or "imports"
                self.out.append((rule, f"import {module} (line {stmt.lineno}) is not on "
                                 "lab_technician.llm.allowed_imports"))

    def names_exceptions_only(self, module: str, name: str) -> bool:
        """A standard-library module imported only to name exception classes in handlers (no effect)."""
        if module.split(".")[0] not in sys.stdlib_module_names:
            return False
        in_handlers = {id(n) for h in ast.walk(self.new.tree) if isinstance(h, ast.ExceptHandler) and h.type
                       for n in ast.walk(h.type)}
        uses = [n for n in ast.walk(self.new.tree) if isinstance(n, ast.Name) and n.id == name]
        return bool(uses) and all(id(n) in in_handlers for n in uses)

    def helper(self, stmt: ast.AST, prefix: str, kind: str) -> None:
        qual = prefix + stmt.name
        if is_public(stmt.name) and not (prefix and not is_public(prefix.split(".")[0])):
            self.out.append(("public-api", f"new public {_what(stmt)} {qual} (line {stmt.lineno}): only private "
                             "helpers may be added"))
        elif self.bound_before(stmt.name, prefix):
            self.out.append(("shape", f"{qual} (line {stmt.lineno}) rebinds a name the file already binds"))
        scope = self.new.module
        for deco in stmt.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if not self.new.refs(target, scope) & ALLOWED_DECORATORS:
                self.out.append(("wrapping", f"@{ast.unparse(deco)[:60]} on {qual} is not a listed decorator"))
        if isinstance(stmt, ast.ClassDef):
            self.new_class(stmt, qual)
            return
        for node in (*stmt.args.defaults, *stmt.args.kw_defaults,
                     *(a.annotation for a in (*stmt.args.args, *stmt.args.kwonlyargs) if a.annotation), stmt.returns):
            if node is not None and any(isinstance(n, ast.Call) for n in ast.walk(node)):
                self.out.append(("shape", f"{qual}: defaults and annotations may not call anything "
                                 f"(line {stmt.lineno})"))
                break
        self.changed.append((qual, False))

    def new_class(self, stmt: ast.ClassDef, qual: str) -> None:
        if stmt.keywords or any(isinstance(n, ast.Call) for b in stmt.bases for n in ast.walk(b)):
            self.out.append(("dynamic-code", f"class {qual} (line {stmt.lineno}) takes keywords or computed bases"))
        for inner in stmt.body:
            name = getattr(inner, "name", "")
            if isinstance(inner, ast.ClassDef) or (name.startswith("__") and name not in ALLOWED_DUNDER_METHODS):
                self.out.append(("wrapping", f"class {qual} defines {name or 'a nested class'} "
                                 f"(line {inner.lineno})"))
            elif isinstance(inner, _DEFS):
                self.changed.append((f"{qual}.{name}", False))
                self.helper_decorators(inner, qual)
            else:
                self.added(inner, qual + ".", "new-class")

    def helper_decorators(self, fn: ast.AST, qual: str) -> None:
        for deco in fn.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if not self.new.refs(target, self.new.module) & ALLOWED_DECORATORS:
                self.out.append(("wrapping", f"@{ast.unparse(deco)[:60]} on {qual}.{fn.name} is not a listed "
                                 "decorator"))

    def constant(self, stmt: ast.Assign | ast.AnnAssign, prefix: str, kind: str) -> None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if not isinstance(target, ast.Name):
                self.out.append(("assignment", f"line {stmt.lineno}: a new {kind}-level assignment may only bind "
                                 "a name"))
            elif self.bound_before(target.id, prefix):
                self.out.append(("shape", f"rebinds {target.id} (line {stmt.lineno})"))
            elif is_public(target.id) and kind != "new-class":
                self.out.append(("public-api", f"assigns the public name {target.id} (line {stmt.lineno})"))
            else:
                continue
            self.refused.append(stmt)
            return
        try:
            ast.literal_eval(stmt.value) if stmt.value is not None else None
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            self.out.append(("shape", f"line {stmt.lineno}: a new {kind}-level constant must be a literal"))
            self.refused.append(stmt)

    # -- bodies ---------------------------------------------------------------------------------
    def compare(self, qual: str, old: Facts, new: Facts) -> None:
        for key, (rule, message, line) in sorted(new.findings.items(), key=lambda item: item[1][2]):
            if key not in old.findings:
                self.out.append((rule, f"{message} in {qual} (line {line})"))
        for key, count in old.logs.items():
            if new.logs.get(key, 0) < count:
                self.out.append(("logging", f"{count - new.logs.get(key, 0)} {key} call(s) removed from {qual} "
                                 f"or made unreachable (old line {old.log_lines.get(key)})"))
        before = {name for names, _ in old.swallowed for name in names}
        for names, line in new.swallowed:
            for name in names:
                if not any(o in ancestors(self.new, name) for o in before):
                    shown = "bare except" if name == "BaseException" and len(names) == 1 else f"except {name}"
                    self.out.append(("except-widened", f"{shown} in {qual} swallows errors the old version let "
                                     f"through (line {line})"))


def _same_list(a: list[ast.AST], b: list[ast.AST]) -> bool:
    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
