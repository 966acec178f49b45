"""Is a function pure? The one judgement static facts (analysis) and the caching rule (fixes) share.

A function has an effect when it reaches the network, files, the environment, the clock or randomness,
mutates module state or its arguments, or declares a global (nested functions' effects count: they may
run on each call). Names are resolved through imports, so ``from os import getenv as env`` is still
``os.getenv``. A call to a function or class of the same module is judged by its body, however deep
(cycles are safe), never by its name; any other call by what it resolves to, then by its name
(``read_*``, ``.write``, ``.to_csv``). Known-pure calls of effectful modules (``os.path.join``,
``time.strptime``) are allowed. Generators and coroutines are shapes, not effects: each side refuses those.

    function_effects(cst.parse_module(src))["report"] → ["calls fetch_rows (network: urlopen)"]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedName, QualifiedNameProvider, \
    QualifiedNameSource

from astroagent.labtech.knowledge.names import dotted
from astroagent.labtech.knowledge.network import is_network

__all__ = ["function_effects", "call_effect", "inherited_impurity", "PURE_CALLS"]

PURE_CALLS = frozenset({
    "os.path.join", "os.path.basename", "os.path.dirname", "os.path.split", "os.path.splitext", "os.path.splitdrive",
    "os.path.normpath", "os.path.normcase", "os.path.isabs", "os.path.commonpath", "os.path.commonprefix",
    "os.fspath", "os.fsencode", "os.fsdecode", "time.strptime", "time.struct_time", "sys.getsizeof", "sys.intern",
    "pathlib.Path", "pathlib.PosixPath", "pathlib.PurePath", "pathlib.PurePosixPath", "pathlib.PureWindowsPath",
    "uuid.UUID", "uuid.uuid3", "uuid.uuid5", "io.StringIO", "io.BytesIO", "datetime.time",
})
_ENVIRONMENT = ("os.environ", "os.getenv", "os.putenv", "os.unsetenv", "os.getenvb")
# a call into one of these modules has this effect (checked in order: numpy.random before anything wider)
_EFFECT_MODULES = (
    ("numpy.random", "randomness"), ("random", "randomness"), ("secrets", "randomness"), ("uuid", "randomness"),
    ("time", "time"), ("os", "I/O"), ("io", "I/O"), ("shutil", "I/O"), ("subprocess", "I/O"), ("tempfile", "I/O"),
    ("glob", "I/O"), ("sqlite3", "I/O"), ("shelve", "I/O"), ("logging", "I/O"), ("webbrowser", "I/O"),
    ("pathlib", "I/O"), ("fcntl", "I/O"), ("select", "I/O"), ("psutil", "I/O"), ("astroagent.telemetry", "I/O"),
    ("sys", "global state"), ("threading", "global state"), ("multiprocessing", "global state"),
    ("asyncio", "global state"), ("signal", "global state"), ("importlib", "global state"), ("gc", "global state"),
    ("warnings", "global state"), ("contextvars", "global state"),
)
_BUILTINS = {"print": "I/O", "open": "I/O", "input": "I/O", "breakpoint": "I/O", "exec": "global state",
             "eval": "global state", "__import__": "global state", "globals": "global state",
             "locals": "global state", "vars": "global state", "setattr": "global state",
             "delattr": "global state", "exit": "global state", "quit": "global state"}
# what a call means by its name alone, on any receiver or from any module not judged above
_WORDS = {
    **dict.fromkeys(("read", "write", "writelines", "readline", "readlines", "save", "savez", "savez_compressed",
                     "load", "loadtxt", "savetxt", "genfromtxt", "fromfile", "tofile", "savefig", "show", "dump",
                     "flush", "to_csv", "to_json", "to_parquet", "to_excel", "to_pickle", "to_hdf", "to_sql",
                     "download_file", "mkdir", "unlink", "rmtree", "touch", "write_text", "write_bytes",
                     "read_text", "read_bytes", "exists", "is_file", "is_dir", "iterdir", "rglob", "system",
                     "popen", "open"), "I/O"),
    **dict.fromkeys(("send", "sendall", "recv", "connect", "urlopen"), "network"),
    **dict.fromkeys(("seed", "shuffle", "urandom", "random", "rand", "randn", "randint", "choice", "rvs"),
                    "randomness"),
    **dict.fromkeys(("sleep", "perf_counter", "monotonic", "time", "time_ns", "now", "today", "utcnow"), "time"),
    "getenv": "environment",
}
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "add", "discard",
             "sort", "reverse", "popitem", "fill", "resize", "put", "__setitem__", "__delitem__", "itemset",
             "difference_update", "intersection_update", "symmetric_difference_update", "appendleft",
             "extendleft", "rotate", "write"}


def call_effect(name: str) -> str | None:
    """The kind of effect of calling ``name`` (resolved or dotted, not a function of the module), or None."""
    if name in PURE_CALLS:
        return None
    if is_network(name):
        return "network"
    parts = name.split(".")
    if parts[0] == "builtins":
        return _BUILTINS.get(parts[1]) if len(parts) == 2 else None
    if len(parts) == 1 and name in _BUILTINS:
        return _BUILTINS[name]
    if any(name == env or name.startswith(env + ".") for env in _ENVIRONMENT):
        return "environment"
    for module, kind in _EFFECT_MODULES:
        if name == module or name.startswith(module + "."):
            return kind
    if "random" in parts[:-1]:
        return "randomness"
    return "I/O" if parts[-1].startswith("read_") else _WORDS.get(parts[-1])


@dataclass
class _Function:
    qualname: str
    prefix: str                  # how QualifiedNameProvider names its locals: "Cls.m.<locals>."
    params: frozenset[str]
    receiver: str | None         # self/cls of a method: reading it is judged apart (reads_self)
    owner: str | None            # the class of a method
    reasons: list[str] = field(default_factory=list)
    callees: list[str] = field(default_factory=list)


def _raw_names(visitor: cst.CSTVisitor, node: cst.CSTNode) -> set[QualifiedName]:
    try:
        return set(visitor.get_metadata(QualifiedNameProvider, node, set()))
    except KeyError:
        return set()


def _base(expr: cst.BaseExpression) -> cst.Name | None:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.func if isinstance(expr, cst.Call) else expr.value
    return expr if isinstance(expr, cst.Name) else None


class _Definitions(cst.CSTVisitor):
    """Qualnames of every function and class of a module (``outer.inner``, ``Cls.m``)."""

    def __init__(self) -> None:
        self.scopes: list[str] = []
        self.found: set[str] = set()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append(node.name.value)
        self.found.add(".".join(self.scopes))

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append(node.name.value)
        self.found.add(".".join(self.scopes))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()


class _Effects(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider, QualifiedNameProvider)

    def __init__(self, defined: set[str]) -> None:
        self.defined = defined
        self.scopes: list[tuple[str, bool]] = []    # (name, is a function)
        self.stack: list[_Function] = []
        self.functions: dict[str, _Function] = {}

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append((node.name.value, False))

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        """Scan the body only: decorators and defaults run once, at definition."""
        in_class = bool(self.scopes) and not self.scopes[-1][1]
        qualname = ".".join([*(name for name, _ in self.scopes), node.name.value])
        prefix = "".join(f"{name}.<locals>." if fn else f"{name}." for name, fn in self.scopes)
        p = node.params
        params = [x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)]
        params += [s.name.value for s in (p.star_arg, p.star_kwarg) if isinstance(s, cst.Param)]
        static = any(dotted(d.decorator) == "staticmethod" for d in node.decorators)
        receiver = params[0] if in_class and not static and (p.posonly_params or p.params) else None
        owner = ".".join(name for name, _ in self.scopes) if in_class else None
        fn = self.functions.setdefault(qualname, _Function(
            qualname, f"{prefix}{node.name.value}.<locals>.", frozenset(params) - {receiver}, receiver, owner))
        self.scopes.append((node.name.value, True))
        self.stack.append(fn)
        node.body.visit(self)
        self.stack.pop()
        self.scopes.pop()
        return False

    def _effect(self, text: str, node: cst.CSTNode, functions: Iterable[_Function]) -> None:
        line = self.get_metadata(PositionProvider, node).start.line
        for fn in functions:
            reason = f"{text} (line {line})"
            if reason not in fn.reasons:
                fn.reasons.append(reason)

    def visit_Global(self, node: cst.Global) -> None:
        self._effect("global mutation: global " + ", ".join(n.name.value for n in node.names), node, self.stack)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._effect("nonlocal mutation: nonlocal " + ", ".join(n.name.value for n in node.names), node,
                     self.stack[-1:])

    def _mutation(self, base: cst.Name, fn: _Function, call: bool) -> str | None:
        """What changing ``base`` means for ``fn``: its argument, module state, an enclosing function's state."""
        if base.value == fn.receiver:
            return None
        names = _raw_names(self, base)
        if any(q.name.startswith(fn.prefix) for q in names):
            return "argument mutation" if base.value in fn.params and any(
                q.name == fn.prefix + base.value for q in names) else None
        if not names or any(q.source is QualifiedNameSource.BUILTIN for q in names):
            return None
        if any(q.source is QualifiedNameSource.IMPORT for q in names):
            return None if call else "module state"    # np.append(...) is a function, np.x = 1 is state
        return "enclosing state" if any("<locals>" in q.name for q in names) else "module state"

    def _target(self, target: cst.BaseExpression, node: cst.CSTNode) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value, node)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value, node)
        elif isinstance(target, (cst.Attribute, cst.Subscript)) and (base := _base(target)) is not None:
            shown = dotted(target.value) or base.value
            for fn in self.stack:
                if kind := self._mutation(base, fn, call=False):
                    self._effect(f"{kind}: assigns into {shown!r}", node, [fn])

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._target(target.target, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target, node)

    def visit_Del(self, node: cst.Del) -> None:
        self._target(node.target, node)

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target, node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self.stack and node.attr.value == "environ" and any(q.name == "os.environ"
                                                               for q in _raw_names(self, node)):
            self._effect("environment: os.environ", node, self.stack)

    def visit_Call(self, node: cst.Call) -> None:
        if not self.stack:
            return
        raw = sorted(q.name for q in _raw_names(self, node.func)) or [dotted(node.func)]
        inner = self.stack[-1]
        for name in (n for n in raw if n):
            target = self._local_target(name.replace(".<locals>", ""), inner)
            if target is not None:
                for fn in self.stack:
                    if target != fn.qualname and not target.startswith(fn.qualname + ".") \
                            and target not in fn.callees:
                        fn.callees.append(target)
                break
            kind = call_effect(name) if not name.startswith("os.environ") else None
            if kind is not None:
                self._effect(f"{kind}: {name.rsplit('.<locals>.', 1)[-1]}()", node, self.stack)
                break
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _MUTATORS \
                and (base := _base(node.func.value)) is not None:
            for fn in self.stack:
                if kind := self._mutation(base, fn, call=True):
                    self._effect(f"{kind}: {dotted(node.func)}()", node, [fn])

    def _local_target(self, name: str, fn: _Function) -> str | None:
        """The function or class of this module a call refers to (``self.m`` → ``Cls.m``), else None."""
        if name.startswith(fn.qualname + "."):     # a local of fn: self, a variable, a nested function
            if name in self.defined:
                return name
            name = name[len(fn.qualname) + 1:]
        head, _, rest = name.partition(".")
        method = f"{fn.owner}.{rest}" if fn.owner and rest and head in (fn.receiver, "self", "cls") else ""
        for candidate in (f"{name}.__init__", name, method):
            if candidate in self.defined:
                return candidate
        return None


def inherited_impurity(callees: Iterable[str], calls_of: Callable[[str], Iterable[str]],
                       reasons_of: Callable[[str], Sequence[str]], *, exclude: Iterable[str] = ()
                       ) -> list[tuple[tuple[str, ...], str]]:
    """Impurity a function takes on from the functions it calls, however deep (cycles are safe).

    For each direct callee (sorted) through which an impure function is reachable: the shortest
    call path to it and that function's first reason.
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


def _brief(reason: str) -> str:
    """``network: urllib.request.urlopen() (line 7)`` -> ``network: urlopen``."""
    text = re.sub(r" \(line \d+\)$", "", reason)
    kind, sep, what = text.partition(": ")
    if sep and what.endswith("()"):
        what = what[:-2].rsplit(".", 1)[-1]
    return f"{kind}{sep}{what}"


def function_effects(module: cst.Module | MetadataWrapper) -> dict[str, list[str]]:
    """Qualname → why that function is not pure (empty: pure as far as a static look can tell):
    its own effects (``kind: what (line n)``), then ``calls a -> b (kind: what)`` for effects it reaches."""
    wrapper = module if isinstance(module, MetadataWrapper) else MetadataWrapper(module, unsafe_skip_copy=True)
    definitions = _Definitions()
    wrapper.module.visit(definitions)
    scan = _Effects(definitions.found)
    wrapper.visit(scan)
    functions = scan.functions
    out = {name: list(fn.reasons) for name, fn in functions.items()}
    for name, fn in functions.items():
        for chain, why in inherited_impurity(fn.callees, lambda c: functions[c].callees if c in functions else (),
                                             lambda c: functions[c].reasons if c in functions else (),
                                             exclude=[name]):
            out[name].append(f"calls {' -> '.join(chain)} ({_brief(why)})")
    return out
