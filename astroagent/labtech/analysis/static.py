"""Static facts about the target code, from LibCST: what a fix rule needs to know before acting.

Per function (key ``relative/path.py::Qualified.name``): size, cyclomatic complexity, whether
it already retries or caches, evidence of impurity (I/O, randomness, time, mutation of
globals or arguments), network calls made without a timeout, and whether it is timed by
``@instrument``. Names are resolved through imports (``QualifiedNameProvider``), so
``from urllib.request import urlopen as get`` is still seen as ``urllib.request.urlopen``.
A function that calls an impure function of its own module (however deep) is impure too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from astroagent.labtech.analysis._facts_digest import FACTS_VERSION, facts_digest
from astroagent.paths import workspace_relative as _rel
from astroagent.labtech.knowledge.purity import inherited_impurity, uses_name
from astroagent.labtech.fixes.retry import generated_retry_families

__all__ = ["FunctionFacts", "analyze_source", "analyze_files", "NETWORK_CALLS", "FACTS_VERSION"]

NETWORK_CALLS = {
    "urllib.request.urlopen": 2, "requests.get": None, "requests.post": None, "requests.put": None,
    "requests.delete": None, "requests.head": None, "requests.patch": None, "requests.request": None,
    "httpx.get": None, "httpx.post": None, "httpx.request": None, "socket.create_connection": 1,
    "http.client.HTTPConnection": 2, "http.client.HTTPSConnection": None,
}   # qualified name -> positional index of ``timeout`` (None: keyword only)
_NETWORK = ("socket.", "requests.", "urllib.request.", "httpx.", "http.client.", "urllib3.", "aiohttp.")
_IO = ("builtins.open", "builtins.print", "builtins.input", "io.open", "os.remove", "os.unlink", "os.rename",
       "os.replace", "os.makedirs", "os.mkdir", "os.system", "shutil.", "subprocess.", "socket.", "requests.",
       "urllib.", "httpx.", "http.client.", "pathlib.Path.write_text", "pathlib.Path.write_bytes", "sqlite3.")
_RANDOM = ("random.", "numpy.random.", "secrets.", "uuid.uuid1", "uuid.uuid4", "os.urandom")
_TIME = ("time.time", "time.monotonic", "time.perf_counter", "time.sleep", "datetime.datetime.now",
         "datetime.datetime.utcnow", "datetime.date.today")
_RETRY = ("tenacity.retry", "backoff.on_exception", "backoff.on_predicate", "retry", "retrying.retry")
_CACHE = ("functools.cache", "functools.lru_cache", "functools.cached_property", "cachetools.cached",
          "cachetools.func.", "cache", "lru_cache", "cached")
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "add", "discard", "setdefault",
             "popitem", "sort", "reverse", "write", "__setitem__"}
_PATH_IO_METHODS = {"write_text", "write_bytes", "read_text", "read_bytes", "unlink", "mkdir", "touch", "open"}


@dataclass
class FunctionFacts:
    qualname: str
    path: str
    line: int
    end_line: int
    lines: int = 0
    complexity: int = 1
    params: list[str] = field(default_factory=list)
    is_method: bool = False
    reads_self: bool = False     # a method whose body uses its self/cls (or super/__class__); never a staticmethod
    is_async: bool = False
    is_generator: bool = False
    retries: bool = False
    own_retry: bool = False      # the retry is one astroagent wrote (it may be widened to new types)
    own_retry_covers: list[str] = field(default_factory=list)   # its exception families ("HTTP" for 5xx/429)
    caches: bool = False
    instrumented: bool = False
    impurity: list[str] = field(default_factory=list)
    network_calls: list[dict[str, Any]] = field(default_factory=list)   # {call, line, timeout: bool}
    calls: list[str] = field(default_factory=list)

    @property
    def pure(self) -> bool:
        return not self.impurity and not self.is_generator and not self.is_async

    @property
    def missing_timeouts(self) -> list[dict[str, Any]]:
        return [c for c in self.network_calls if not c["timeout"]]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pure"] = self.pure
        return data


def _names(visitor: cst.CSTVisitor, node: cst.CSTNode) -> set[str]:
    target = node.func if isinstance(node, cst.Call) else node
    try:
        found = visitor.get_metadata(QualifiedNameProvider, target, set())
    except KeyError:
        return set()
    return {q.name.replace(".<locals>", "") for q in found}


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    if isinstance(node, cst.Call):
        return _dotted(node.func)
    return ""


class _Collector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider, QualifiedNameProvider)

    def __init__(self, path: str):
        self.path = path
        self.stack: list[FunctionFacts] = []
        self.scopes: list[str] = []
        self.class_depth: list[bool] = []
        self.loops = 0
        self.out: list[FunctionFacts] = []

    # -- scopes ---------------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append(node.name.value)
        self.class_depth.append(True)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.pop()
        self.class_depth.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        pos = self.get_metadata(PositionProvider, node)
        facts = FunctionFacts(qualname=".".join([*self.scopes, node.name.value]), path=self.path,
                              line=pos.start.line, end_line=pos.end.line, lines=pos.end.line - pos.start.line + 1,
                              is_method=bool(self.class_depth and self.class_depth[-1]),
                              is_async=node.asynchronous is not None,
                              params=[p.name.value for p in (*node.params.posonly_params, *node.params.params,
                                                             *node.params.kwonly_params)])
        short_decorators: set[str] = set()
        for deco in node.decorators:
            names = _names(self, deco.decorator) | {_dotted(deco.decorator)}
            short_decorators |= {n.rsplit(".", 1)[-1] for n in names}
            if any(n == r or n.startswith(r + ".") or n.endswith("." + r.split(".")[-1]) and "retry" in n
                   for n in names for r in _RETRY):
                facts.retries = True
                own = generated_retry_families(deco)
                if own is not None:
                    facts.own_retry = True
                    facts.own_retry_covers = [*own[0], *(["HTTP"] if own[1] else [])]
            if any(n == c or n.startswith(c) for n in names for c in _CACHE):
                facts.caches = True
            if any(n.split(".")[-1] == "instrument" for n in names):
                facts.instrumented = True
        if facts.is_method and "staticmethod" not in short_decorators:
            first = [*node.params.posonly_params, *node.params.params][:1]
            facts.reads_self = not first or any(uses_name(node, n) for n in (first[0].name.value, "super",
                                                                                "__class__"))
        self.stack.append(facts)
        self.scopes.append(node.name.value)
        self.class_depth.append(False)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        facts = self.stack.pop()
        self.scopes.pop()
        self.class_depth.pop()
        self.out.append(facts)

    @property
    def fn(self) -> FunctionFacts | None:
        return self.stack[-1] if self.stack else None

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    # -- complexity -----------------------------------------------------------------------
    def _branch(self, n: int = 1) -> None:
        if self.fn is not None:
            self.fn.complexity += n

    def visit_If(self, node: cst.If) -> None:
        self._branch()

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._branch()

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._branch()

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self._branch()

    def visit_CompIf(self, node: cst.CompIf) -> None:
        self._branch()

    def visit_MatchCase(self, node: cst.MatchCase) -> None:
        self._branch()

    def visit_For(self, node: cst.For) -> None:
        self._branch()
        self._loop(node, node.target)

    def leave_For(self, node: cst.For) -> None:
        self.loops -= 1

    def visit_While(self, node: cst.While) -> None:
        self._branch()
        self._loop(node, None)

    def leave_While(self, node: cst.While) -> None:
        self.loops -= 1

    def _loop(self, node: cst.For | cst.While, target: cst.BaseExpression | None) -> None:
        """A loop around a ``try`` that names attempts/retries (or sleeps) is a hand-written retry."""
        self.loops += 1
        if self.fn is None:
            return
        code = cst.Module([]).code_for_node(node)
        if "try:" in code and ("retr" in code.lower() or "attempt" in code.lower() or "sleep(" in code):
            self.fn.retries = True

    # -- impurity and calls ---------------------------------------------------------------
    def visit_Yield(self, node: cst.Yield) -> None:
        if self.fn is not None:
            self.fn.is_generator = True

    def visit_Global(self, node: cst.Global) -> None:
        if self.fn is not None:
            names = ", ".join(n.name.value for n in node.names)
            self.fn.impurity.append(f"global mutation: global {names} (line {self._line(node)})")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        if self.fn is not None:
            names = ", ".join(n.name.value for n in node.names)
            self.fn.impurity.append(f"nonlocal mutation: nonlocal {names} (line {self._line(node)})")

    def _arg_target(self, target: cst.BaseExpression) -> str | None:
        base = target
        while isinstance(base, (cst.Subscript, cst.Attribute)):
            base = base.value
        if isinstance(base, cst.Name) and self.fn is not None and base.value in self.fn.params \
                and base.value not in ("self", "cls") and base is not target:
            return base.value
        return None

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._check_target(t.target, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check_target(node.target, node)

    def _check_target(self, target: cst.BaseExpression, node: cst.CSTNode) -> None:
        arg = self._arg_target(target)
        if arg is not None and self.fn is not None:
            self.fn.impurity.append(f"argument mutation: assigns into {arg!r} (line {self._line(node)})")

    def visit_Call(self, node: cst.Call) -> None:
        fn = self.fn
        if fn is None:
            return
        names = _names(self, node.func) or {_dotted(node.func)}
        line = self._line(node)
        for name in sorted(names):
            fn.calls.append(name)
            if name in NETWORK_CALLS:
                pos = NETWORK_CALLS[name]
                has_timeout = any(a.keyword is not None and a.keyword.value == "timeout" for a in node.args) or (
                    pos is not None and len([a for a in node.args if a.keyword is None]) > pos)
                fn.network_calls.append({"call": name, "line": line, "timeout": has_timeout})
            if name in NETWORK_CALLS or name.startswith(_NETWORK):
                fn.impurity.append(f"network: {name}() (line {line})")
            elif any(name.startswith(p) if p.endswith(".") else name == p or name.startswith(p + ".") for p in _IO):
                fn.impurity.append(f"I/O: {name}() (line {line})")
            elif any(name.startswith(p) for p in _RANDOM):
                fn.impurity.append(f"randomness: {name}() (line {line})")
            elif any(name == p for p in _TIME):
                fn.impurity.append(f"time: {name}() (line {line})")
        if isinstance(node.func, cst.Attribute):
            attr = node.func.attr.value
            owner = node.func.value
            if attr in _MUTATORS and isinstance(owner, (cst.Name, cst.Attribute, cst.Subscript)):
                base = owner
                while isinstance(base, (cst.Subscript, cst.Attribute)):
                    base = base.value
                if isinstance(base, cst.Name) and base.value in fn.params and base.value not in ("self", "cls"):
                    fn.impurity.append(f"argument mutation: {_dotted(owner)}.{attr}() (line {line})")
            if attr in _PATH_IO_METHODS and not names & set(NETWORK_CALLS):
                fn.impurity.append(f"I/O: .{attr}() (line {line})")


def analyze_source(source: str, path: str) -> dict[str, FunctionFacts]:
    """``{"path::qualname": FunctionFacts}`` for every function in ``source``; {} when it does not parse."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return {}
    collector = _Collector(path)
    MetadataWrapper(module, unsafe_skip_copy=True).visit(collector)
    _propagate(collector.out)
    return {f"{path}::{f.qualname}": f for f in sorted(collector.out, key=lambda f: f.line)}


def _propagate(functions: list[FunctionFacts]) -> None:
    """Add "calls X (why X is impure)" to every function that reaches an impure one of this module."""
    by_name = {f.qualname: f for f in functions}
    direct = {f.qualname: list(f.impurity) for f in functions}
    callees = {f.qualname: _local_callees(f, by_name) for f in functions}
    for f in functions:
        for chain, why in inherited_impurity(callees[f.qualname], lambda q: callees.get(q, ()),
                                             lambda q: direct.get(q, ()), exclude=[f.qualname]):
            f.impurity.append(f"calls {' -> '.join(chain)} ({_brief(why)})")


def _local_callees(fn: FunctionFacts, by_name: dict[str, FunctionFacts]) -> list[str]:
    """The functions of the same module ``fn`` calls: by name, ``self.``/``cls.`` methods, class constructors."""
    owner = fn.qualname.rsplit(".", 1)[0] if fn.is_method else None
    out: list[str] = []
    for name in fn.calls:
        if name.startswith(fn.qualname + "."):   # a local of fn (``self``, a variable): the scope is dropped
            name = name[len(fn.qualname) + 1:]
        head, _, rest = name.partition(".")
        for candidate in (name, f"{name}.__init__",
                          f"{owner}.{rest}" if owner and rest and head in ("self", "cls") else ""):
            if candidate in by_name and candidate not in out:
                out.append(candidate)
                break
    return out


def _brief(reason: str) -> str:
    """``network: urllib.request.urlopen() (line 7)`` -> ``network: urlopen``."""
    text = re.sub(r" \(line \d+\)$", "", reason)
    kind, sep, what = text.partition(": ")
    if sep and what.endswith("()"):
        what = what[:-2].rsplit(".", 1)[-1]
    return f"{kind}{sep}{what}"


def analyze_files(files: Iterable[Path], workspace: Path | None, cache: dict[str, Any] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Facts (as JSON dicts) for every function of ``files``, keyed ``relative/path.py::qualname``.

    ``cache`` (persisted by the caller) maps a file to the hash of its bytes and its facts,
    so unchanged files are not parsed again.
    """
    out: dict[str, dict[str, Any]] = {}
    for file in files:
        file = Path(file)
        try:
            data = file.read_bytes()
        except OSError:
            continue
        rel = _rel(file, workspace)
        digest = facts_digest(data)
        hit = cache.get(rel) if cache is not None else None
        if hit is not None and hit.get("hash") == digest:
            out.update(hit["facts"])
            continue
        facts = {k: f.to_json() for k, f in analyze_source(data.decode("utf-8", "replace"), rel).items()}
        if cache is not None:
            cache[rel] = {"hash": digest, "facts": facts}
        out.update(facts)
    return out


