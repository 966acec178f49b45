"""Static checks a cache needs: is a function pure, and are its arguments hashable?

Conservative by design: anything that looks like I/O, randomness, the clock, global state or
mutation of an argument makes a function impure; an argument is hashable only when its
annotation (or a literal default) says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import libcst as cst
from libcst.helpers import get_full_name_for_node

__all__ = ["impurity", "param_hashability", "module_aliases", "uses_name", "immutable_return", "inherited_impurity"]

_IMPURE_BUILTINS = {"print", "open", "input", "exec", "eval", "compile", "__import__", "globals", "locals",
                    "vars", "setattr", "delattr", "breakpoint", "exit", "quit"}
_IMPURE_MODULES = {"random", "time", "os", "sys", "socket", "subprocess", "requests", "urllib", "http",
                   "shutil", "pathlib", "io", "logging", "uuid", "secrets", "threading", "asyncio", "tempfile",
                   "glob", "sqlite3", "httpx", "aiohttp", "multiprocessing", "signal", "builtins", "importlib",
                   "pickle", "shelve", "smtplib", "ftplib", "webbrowser", "warnings", "gc", "psutil", "fcntl",
                   "select", "ssl", "contextvars"}
_IMPURE_PREFIXES = ("astroagent.telemetry", "numpy.random", "scipy.stats.rvs")
_IMPURE_CALLS = {"read", "write", "writelines", "readline", "readlines", "save", "savez", "savez_compressed",
                 "load", "loadtxt", "savetxt", "genfromtxt", "fromfile", "tofile", "savefig", "show", "dump",
                 "send", "sendall", "recv", "connect", "urlopen", "flush", "seed", "shuffle", "urandom", "sleep",
                 "perf_counter", "monotonic", "time", "time_ns", "now", "today", "utcnow", "getenv", "system",
                 "popen", "to_csv", "to_json", "to_parquet", "to_excel", "to_pickle", "to_hdf", "to_sql",
                 "download_file", "mkdir", "unlink", "remove", "rmtree", "touch", "write_text", "write_bytes",
                 "read_text", "read_bytes"}
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "add", "discard",
             "sort", "reverse", "popitem", "fill", "resize", "put", "__setitem__", "__delitem__", "itemset",
             "difference_update", "intersection_update", "symmetric_difference_update", "appendleft",
             "extendleft", "rotate"}
_HASHABLE = {"int", "float", "complex", "str", "bool", "bytes", "None", "tuple", "Tuple", "frozenset",
             "FrozenSet", "Hashable", "Decimal", "Fraction", "date", "datetime", "time", "timedelta", "Path",
             "PurePath", "PosixPath", "PurePosixPath", "type", "Type", "Enum", "IntEnum", "StrEnum"}
_HASHABLE_GENERICS = {"tuple", "Tuple", "Optional", "Union", "frozenset", "FrozenSet", "type", "Type",
                      "Annotated"}


def module_aliases(module: cst.Module) -> dict[str, str]:
    """Local name → the module or object it was imported as (``np`` → ``numpy``)."""
    names: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    full = get_full_name_for_node(alias.name) or ""
                    local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) \
                        else full.split(".")[0]
                    names[local] = full if alias.asname else full.split(".")[0]
            elif isinstance(small, cst.ImportFrom) and small.module and not small.relative \
                    and not isinstance(small.names, cst.ImportStar):
                base = get_full_name_for_node(small.module) or ""
                for alias in small.names:
                    name = get_full_name_for_node(alias.name) or ""
                    local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) \
                        else name
                    names[local] = f"{base}.{name}"
    return names


def _param_names(node: cst.FunctionDef) -> list[str]:
    p = node.params
    names = [x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)]
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return names


class _Scan(cst.CSTVisitor):
    def __init__(self, root: cst.FunctionDef, aliases: dict[str, str], params: set[str],
                 receiver: str | None = None) -> None:
        self.root = root
        self.receiver = receiver
        self.aliases = aliases
        self.params = params
        self.locals: set[str] = set(params)
        self.reasons: list[str] = []
        self.calls: set[str] = set()

    def _why(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return True   # nested functions may run on each call: their effects count too

    def visit_Decorator(self, node: cst.Decorator) -> bool:
        return False   # decorators run once at definition, not on each call

    def visit_Global(self, node: cst.Global) -> None:
        self._why("declares global " + ", ".join(n.name.value for n in node.names))

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._why("declares nonlocal " + ", ".join(n.name.value for n in node.names))

    def visit_Yield(self, node: cst.Yield) -> None:
        self._why("is a generator")

    def visit_Await(self, node: cst.Await) -> None:
        self._why("awaits")

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._target(node.target, deleting=True)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._target(node.asname.name)

    def _target(self, target: cst.BaseExpression, deleting: bool = False) -> None:
        if isinstance(target, cst.Name):
            if not deleting:
                self.locals.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value, deleting)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value, deleting)
        elif isinstance(target, (cst.Attribute, cst.Subscript)):
            base = _base_name(target)
            if base is not None and base == self.receiver:
                self._why(f"changes {base}")
            elif base in self.params:
                self._why(f"mutates its argument {base}")
            elif base is not None and base not in self.locals:
                self._why(f"mutates module state {base}")

    def visit_Call(self, node: cst.Call) -> None:
        name = get_full_name_for_node(node.func)
        if name is None:
            return
        head, _, rest = name.partition(".")
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _MUTATORS:
            base = _base_name(node.func.value)
            if base is not None and base == self.receiver:
                self._why(f"changes {base} ({name}())")
            elif base in self.params:
                self._why(f"mutates its argument {base} ({name}())")
            elif base is not None and base not in self.locals and base not in self.aliases:
                self._why(f"mutates module state {base} ({name}())")
        resolved = self.aliases.get(head, head) + (f".{rest}" if rest else "")
        parts = resolved.split(".")
        if head not in self.locals and (
                (len(parts) == 1 and parts[0] in _IMPURE_BUILTINS)
                or parts[0] in _IMPURE_MODULES or resolved.startswith(_IMPURE_PREFIXES) or "random" in parts[:-1] or parts[-1] in ("random", "rand")
                or parts[-1] in _IMPURE_CALLS or parts[-1].startswith("read_")):
            self._why(f"calls {name}() (I/O, randomness, the clock or global state)")
        elif len(parts) == 1 and head not in self.locals:
            self.calls.add(head)


def _base_name(expr: cst.BaseExpression) -> str | None:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.func if isinstance(expr, cst.Call) else expr.value
    return expr.value if isinstance(expr, cst.Name) else None


def inherited_impurity(callees: Iterable[str], calls_of: Callable[[str], Iterable[str]],
                       reasons_of: Callable[[str], Sequence[str]], *, exclude: Iterable[str] = ()
                       ) -> list[tuple[tuple[str, ...], str]]:
    """Impurity a function takes on from the functions it calls, however deep (cycles are safe).

    For each direct callee (sorted) through which an impure function is reachable: the shortest
    call path to it and that function's first reason. ``calls_of`` names a function's callees,
    ``reasons_of`` its own (direct) reasons; both see only names of the same module.
    """
    found: list[tuple[tuple[str, ...], str]] = []
    skip = set(exclude)
    for callee in sorted(set(callees) - skip):
        seen = skip | {callee}
        queue: list[tuple[str, ...]] = [(callee,)]
        while queue:
            path = queue.pop(0)
            own = reasons_of(path[-1])
            if own:
                found.append((path, own[0]))
                break
            for nxt in sorted(set(calls_of(path[-1])) - seen):
                seen.add(nxt)
                queue.append((*path, nxt))
    return found


def _direct(node: cst.FunctionDef, aliases: dict[str, str], receiver: str | None) -> tuple[list[str], set[str]]:
    """(the function's own impurity reasons, the bare names it calls)."""
    params = set(_param_names(node)) - {receiver}
    scan = _Scan(node, aliases, params, receiver)
    scan.locals.add(receiver or "")
    if node.asynchronous is not None:
        scan._why("is async")
    node.visit(scan)
    return list(scan.reasons), scan.calls


def impurity(node: cst.FunctionDef, module: cst.Module, *, receiver: str | None = None) -> list[str]:
    """Reasons the function is not pure (empty = pure as far as a static look can tell).
    Calls to other functions of the same module are followed transitively (cycles are safe)."""
    aliases = module_aliases(module)
    reasons, calls = _direct(node, aliases, receiver)
    local_defs = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    scanned: dict[str, tuple[list[str], set[str]]] = {}

    def scan(name: str) -> tuple[list[str], set[str]]:
        if name not in scanned:
            scanned[name] = _direct(local_defs[name], aliases, None)
        return scanned[name]

    own = [name for name, target in local_defs.items() if target is node]
    inherited = inherited_impurity([c for c in calls if c in local_defs],
                                   lambda name: [c for c in scan(name)[1] if c in local_defs],
                                   lambda name: scan(name)[0], exclude=own)
    for path, why in inherited:
        via = "".join(f" which calls {name}()" for name in path[1:])
        reasons.append(f"calls {path[0]}(){via} which {why}")
    return reasons


def uses_name(node: cst.FunctionDef, name: str) -> bool:
    """True when the body refers to ``name`` (e.g. ``self``) anywhere, nested functions included."""

    class _Find(cst.CSTVisitor):
        found = False

        def visit_Name(self, inner: cst.Name) -> None:
            if inner.value == name:
                self.found = True

    finder = _Find()
    node.body.visit(finder)
    return finder.found


def _hashable_annotation(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        try:
            text = expr.evaluated_value if isinstance(expr, cst.SimpleString) else None
            return isinstance(text, str) and _hashable_annotation(cst.parse_expression(text))
        except Exception:
            return False
    if isinstance(expr, cst.Name):
        return expr.value in _HASHABLE
    if isinstance(expr, cst.Attribute):
        return expr.attr.value in _HASHABLE
    if isinstance(expr, cst.Ellipsis):
        return True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        return _hashable_annotation(expr.left) and _hashable_annotation(expr.right)
    if isinstance(expr, cst.Subscript):
        base = get_full_name_for_node(expr.value) or ""
        short = base.rsplit(".", 1)[-1]
        if short == "Literal":
            return True
        if short not in _HASHABLE_GENERICS:
            return False
        elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
        if short == "Annotated":
            elements = elements[:1]
        return all(_hashable_annotation(e) for e in elements)
    return False


def _hashable_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False", "None")
    if isinstance(expr, cst.UnaryOperation):
        return _hashable_literal(expr.expression)
    if isinstance(expr, cst.Tuple):
        return all(_hashable_literal(e.value) for e in expr.elements)
    return False


_UNHASHABLE = {"list", "List", "dict", "Dict", "set", "Set", "bytearray", "ndarray", "DataFrame", "Series",
               "MutableSequence", "MutableMapping", "MutableSet", "deque", "defaultdict", "OrderedDict", "Counter",
               "array", "ArrayLike", "NDArray"}


def _names_in(expr: cst.BaseExpression) -> set[str]:
    class _Names(cst.CSTVisitor):
        found: set[str] = set()

        def visit_Name(self, node: cst.Name) -> None:
            self.found.add(node.value)

    names = _Names()
    names.found = set()
    expr.visit(names)
    return names.found


def param_hashability(node: cst.FunctionDef, *, skip_first: bool = False) -> tuple[list[str], list[str]]:
    """(reasons an argument is surely unhashable, names of arguments whose hashability is unknown)."""
    p = node.params
    params = [*p.posonly_params, *p.params]
    if skip_first and params:
        params = params[1:]
    params += list(p.kwonly_params)
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            params.append(star)
    unhashable: list[str] = []
    unknown: list[str] = []
    for param in params:
        name = param.name.value
        default = param.default
        if default is not None and isinstance(default, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp,
                                                         cst.SetComp)):
            unhashable.append(f"argument {name} has a mutable default")
            continue
        if default is not None and isinstance(default, cst.Call) and \
                get_full_name_for_node(default.func) in ("list", "dict", "set", "bytearray"):
            unhashable.append(f"argument {name} has a mutable default")
            continue
        if param.annotation is None:
            if default is None or not _hashable_literal(default):
                unknown.append(name)
            continue
        annotation = param.annotation.annotation
        if _hashable_annotation(annotation):
            continue
        if isinstance(annotation, cst.SimpleString):
            try:
                annotation = cst.parse_expression(str(annotation.evaluated_value))
            except Exception:
                unknown.append(name)
                continue
        if _names_in(annotation) & _UNHASHABLE:
            shown = cst.Module([]).code_for_node(param.annotation.annotation)
            unhashable.append(f"argument {name}: {shown} is not hashable")
        else:
            unknown.append(name)
    return unhashable, unknown


_IMMUTABLE_RETURNS = {"int", "float", "complex", "str", "bytes", "bool", "None", "frozenset", "Decimal",
                      "Fraction", "date", "datetime", "timedelta"}


def immutable_return(node: cst.FunctionDef) -> bool:
    """True when the return annotation names only immutable values (a cached result cannot be changed)."""
    if node.returns is None:
        return False
    names = _names_in(node.returns.annotation)
    allowed = _IMMUTABLE_RETURNS | {"Optional", "Union", "Literal", "tuple", "Tuple", "typing"}
    return bool(names) and names <= allowed
