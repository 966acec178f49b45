"""What a name refers to: Python's scopes, imports, aliases and re-bindings, resolved to dotted names.

Resolution is flow-insensitive on purpose: a name bound twice (``_sp = subprocess`` and later
``import json as _sp``) refers to *both*, so whichever binding wins at run time is judged.

    refs(``sp.run``) == {"subprocess.run"}; refs(``Path(p).unlink``) == {"pathlib.Path().unlink"}
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

__all__ = ["Scope", "Resolver", "UNKNOWN"]

UNKNOWN = "?"
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(eq=False)
class Scope:
    """One Python scope: a module, a function (or lambda) or a class body."""

    node: ast.AST
    kind: str                                  # module | function | class
    qual: str
    parent: Scope | None
    bindings: dict[str, list[tuple]] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)
    self_of: str | None = None                 # qualname of the class whose method this is (first param)
    first_param: str | None = None

    def bind(self, name: str, binding: tuple) -> None:
        self.bindings.setdefault(name, []).append(binding)


class Resolver:
    """Scopes of one module and the dotted names its expressions refer to."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.module = Scope(tree, "module", "", None)
        self.scopes: dict[int, Scope] = {id(tree): self.module}
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.AST] = {}
        self.modules: set[str] = set()         # dotted names bound by ``import`` (modules, not objects)
        self.stars: list[str] = []
        self._cache: dict[tuple[int, str], frozenset[str]] = {}
        self._busy: set[tuple[int, str]] = set()
        self._build()

    # -- building -------------------------------------------------------------------------------
    def _build(self) -> None:
        stack: list[tuple[ast.AST, Scope]] = [(child, self.module) for child in _children(self.tree)]
        while stack:
            node, scope = stack.pop()
            stack.extend(self._visit(node, scope))

    def _visit(self, node: ast.AST, scope: Scope) -> list[tuple[ast.AST, Scope]]:
        """Bind what ``node`` binds in ``scope``; the (node, scope) pairs to walk next."""
        if isinstance(node, _DEFS):
            scope.bind(node.name, ("def", _qual(scope, node.name)))
            inner = self._new_scope(node, scope)
            outer = [(d, scope) for d in node.decorator_list]
            if isinstance(node, ast.ClassDef):
                self.classes[inner.qual] = node
                return outer + [(b, scope) for b in (*node.bases, *node.keywords)] + [(s, inner) for s in node.body]
            self.functions[inner.qual] = node
            self._params(node.args, inner, scope)
            outer += [(d, scope) for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
            return outer + [(s, inner) for s in node.body]
        if isinstance(node, ast.Lambda):
            inner = self._new_scope(node, scope)
            self._params(node.args, inner, scope)
            return [(d, scope) for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None] + \
                [(node.body, inner)]
        self._bind_statement(node, scope)
        return [(child, scope) for child in _children(node)]

    def _new_scope(self, node: ast.AST, scope: Scope) -> Scope:
        name = getattr(node, "name", "<lambda>")
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        inner = Scope(node, kind, _qual(scope, name), scope)
        self.scopes[id(node)] = inner
        return inner

    def _params(self, args: ast.arguments, inner: Scope, outer: Scope) -> None:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        first = (args.posonlyargs + args.args)[:1]
        is_method = outer.kind == "class" and isinstance(inner.node, (ast.FunctionDef, ast.AsyncFunctionDef))
        static = is_method and any(isinstance(d, ast.Name) and d.id == "staticmethod"
                                   for d in inner.node.decorator_list)
        for arg in every:
            if is_method and not static and first and arg is first[0]:
                inner.self_of, inner.first_param = outer.qual, arg.arg
                inner.bind(arg.arg, ("self", outer.qual))
            else:
                inner.bind(arg.arg, ("param", arg.annotation, outer))

    def _bind_statement(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    scope.bind(alias.asname, ("import", alias.name))
                    self.modules.add(alias.name)
                else:
                    head = alias.name.split(".")[0]
                    scope.bind(head, ("import", head))
                    self.modules.add(head)
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    self.stars.append(base)
                else:
                    target = f"local:{base}.{alias.name}" if node.level else f"{base}.{alias.name}"
                    scope.bind(alias.asname or alias.name, ("import", target))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            (scope.globals if isinstance(node, ast.Global) else scope.nonlocals).update(node.names)
        elif isinstance(node, ast.Assign):
            value = node.value if len(node.targets) == 1 else None
            for target in node.targets:
                self._bind_target(target, scope, value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            self._bind_target(node.target, scope, node.value if isinstance(node, ast.AnnAssign) else None)
        elif isinstance(node, ast.NamedExpr):
            self._bind_target(node.target, scope, node.value)   # comprehensions share their function's scope here
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            if isinstance(node.target, ast.Name):   # an item of what is iterated: ``for m in [os]``
                scope.bind(node.target.id, ("value", ast.Subscript(node.iter, ast.Constant(0)), scope))
            else:
                self._bind_target(node.target, scope, None)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            self._bind_target(node.optional_vars, scope, node.context_expr)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scope.bind(node.name, ("opaque",))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            scope.bind(node.name, ("opaque",))
        elif isinstance(node, ast.MatchMapping) and node.rest:
            scope.bind(node.rest, ("opaque",))

    def _bind_target(self, target: ast.AST, scope: Scope, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            scope.bind(target.id, ("value", value, scope) if value is not None else ("opaque",))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_target(elt, scope, None)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, scope, None)

    # -- resolving ------------------------------------------------------------------------------
    def scope_of(self, node: ast.AST) -> Scope | None:
        return self.scopes.get(id(node))

    def refs(self, node: ast.AST, scope: Scope, depth: int = 0) -> frozenset[str]:
        """Dotted names ``node`` may refer to; ``?``-prefixed when the receiver is unknown."""
        if depth > 40:
            return frozenset({UNKNOWN})
        if isinstance(node, ast.Name):
            return self.name_refs(node.id, scope)
        if isinstance(node, ast.Attribute):
            return frozenset(_join(r, node.attr) for r in self.refs(node.value, scope, depth + 1))
        if isinstance(node, ast.Call):        # calling a lambda gives what its body gives
            return frozenset(r[:-4] if r.endswith("<fn>") else r + "()" for r in self.refs(node.func, scope, depth + 1))
        if isinstance(node, ast.Subscript):   # an item of a display is what was put in it: [os][0] is os
            return frozenset(r[:-2] if r.endswith("[]") else r + "[]" for r in self.refs(node.value, scope, depth + 1))
        if isinstance(node, ast.BinOp):
            return self.refs(node.left, scope, depth + 1)   # Path(a) / "b" is still a Path
        if isinstance(node, (ast.NamedExpr, ast.Await, ast.Starred)):
            return self.refs(node.value, scope, depth + 1)
        if isinstance(node, ast.IfExp):
            return self.refs(node.body, scope, depth + 1) | self.refs(node.orelse, scope, depth + 1)
        if isinstance(node, ast.BoolOp):
            return frozenset().union(*(self.refs(v, scope, depth + 1) for v in node.values))
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and node.elts:
            return frozenset(r + "[]" for e in node.elts for r in self.refs(e, scope, depth + 1))
        if isinstance(node, ast.Dict) and node.values:
            return frozenset(r + "[]" for v in node.values if v is not None for r in self.refs(v, scope, depth + 1))
        if isinstance(node, ast.Lambda):
            return frozenset(r + "<fn>" for r in self.refs(node.body, self.scopes.get(id(node), scope), depth + 1))
        if isinstance(node, ast.Constant):
            return frozenset({"lit"})
        return frozenset({UNKNOWN})

    def name_refs(self, name: str, scope: Scope) -> frozenset[str]:
        key = (id(scope), name)
        if key in self._cache:
            return self._cache[key]
        if key in self._busy:
            return frozenset({UNKNOWN})
        self._busy.add(key)
        try:
            found = self._lookup(name, scope)
        finally:
            self._busy.discard(key)
        self._cache[key] = found
        return found

    def binding_scope(self, name: str, scope: Scope) -> Scope | None:
        """The scope whose binding ``name`` uses from ``scope`` (None: a builtin or unbound)."""
        current: Scope | None = scope
        if name in scope.globals:
            current = self.module
        while current is not None:
            if current is not scope and current.kind == "class":
                current = current.parent
                continue
            if name in current.bindings and (current is scope or name not in current.globals):
                return current
            current = current.parent
        return None

    def _lookup(self, name: str, scope: Scope) -> frozenset[str]:
        where = self.binding_scope(name, scope)
        if where is None:
            if self.stars:
                return frozenset(f"{m}.{name}" for m in self.stars) | {f"builtins.{name}"}
            return frozenset({f"builtins.{name}" if hasattr(builtins, name) else f"unbound:{name}"})
        out: set[str] = set()
        for binding in where.bindings[name]:
            out |= self._binding_refs(binding)
        return frozenset(out)

    def _binding_refs(self, binding: tuple) -> frozenset[str]:
        kind = binding[0]
        if kind == "import":
            return frozenset({binding[1]})
        if kind == "def":
            return frozenset({f"local:{binding[1]}"})
        if kind == "self":
            return frozenset({f"local:{binding[1]}()"})
        if kind == "param":
            annotation, outer = binding[1], binding[2]
            if annotation is not None:
                typed = {r + "()" for r in self.refs(annotation, outer) if not r.startswith(("?", "lit"))}
                if typed:
                    return frozenset(typed)
            return frozenset({UNKNOWN})
        if kind == "value":
            return self.refs(binding[1], binding[2])
        return frozenset({UNKNOWN})

    def literal_value(self, node: ast.AST, scope: Scope) -> tuple[bool, object]:
        """(known, value) of a constant expression, following names bound once to a literal."""
        if isinstance(node, ast.Constant):
            return True, node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            known, value = self.literal_value(node.operand, scope)
            return known, (not value) if known else None
        if isinstance(node, ast.Name):
            where = self.binding_scope(node.id, scope)
            bindings = where.bindings.get(node.id, []) if where else []
            if len(bindings) == 1 and bindings[0][0] == "value" and isinstance(bindings[0][1], ast.Constant):
                return True, bindings[0][1].value
        if isinstance(node, ast.BoolOp):
            values = [self.literal_value(v, scope) for v in node.values]
            if all(k for k, _ in values):
                result = all(v for _, v in values) if isinstance(node.op, ast.And) else any(v for _, v in values)
                return True, result
            if isinstance(node.op, ast.And) and any(k and not v for k, v in values):
                return True, False
            if isinstance(node.op, ast.Or) and any(k and v for k, v in values):
                return True, True
        return False, None

    def value_nodes(self, name: str, scope: Scope) -> list[ast.AST] | None:
        """The expressions ``name`` was assigned (None when some binding is not an assignment)."""
        where = self.binding_scope(name, scope)
        if where is None:
            return None
        nodes = []
        for binding in where.bindings[name]:
            if binding[0] != "value":
                return None
            nodes.append(binding[1])
        return nodes


def _children(node: ast.AST) -> list[ast.AST]:
    return list(ast.iter_child_nodes(node))


def _qual(scope: Scope, name: str) -> str:
    return f"{scope.qual}.{name}" if scope.qual else name


def _join(ref: str, attr: str) -> str:
    if ref.startswith((UNKNOWN, "lit", "unbound:")):
        return f"{UNKNOWN}.{attr}" if not ref.startswith(UNKNOWN + ".") else f"{ref}.{attr}"
    return f"{ref}.{attr}"
