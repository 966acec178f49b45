"""Static facts about the target code, from LibCST: what a fix rule needs to know before acting.

Per function (key ``relative/path.py::Qualified.name``): size, cyclomatic complexity, whether
it already retries or caches, why it is not pure, network calls made without a timeout, and
whether it is timed by ``@instrument``. Names are resolved through imports (``QualifiedNameProvider``),
so ``from urllib.request import urlopen as get`` is still seen as ``urllib.request.urlopen``.
What counts as pure, as a network call, as a retry or a cache is decided in ``labtech.knowledge``,
which the fix rules read too: a fact here is a fact there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from astroagent.labtech.analysis._facts_digest import FACTS_VERSION, facts_digest
from astroagent.labtech.knowledge.decorators import is_cache_decorator, is_instrument, is_retry_decorator, own_retry
from astroagent.labtech.knowledge.names import dotted, qualified_names, uses_name
from astroagent.labtech.knowledge.network import NETWORK_CALLS, timeout_passed
from astroagent.labtech.knowledge.purity import function_effects
from astroagent.paths import workspace_relative as _rel

__all__ = ["FunctionFacts", "analyze_source", "analyze_files", "FACTS_VERSION"]

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
            names = qualified_names(self, deco.decorator) | {dotted(deco.decorator)}
            short_decorators |= {n.rsplit(".", 1)[-1] for n in names}
            if any(is_retry_decorator(n) for n in names if n):
                facts.retries = True
                own = own_retry(deco)
                if own is not None:
                    facts.own_retry = True
                    facts.own_retry_covers = [*own.families, *(["HTTP"] if own.http else [])]
            facts.caches |= any(is_cache_decorator(n) for n in names if n)
            facts.instrumented |= any(is_instrument(n) for n in names if n)
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

    # -- calls ------------------------------------------------------------------------------
    def visit_Yield(self, node: cst.Yield) -> None:
        if self.fn is not None:
            self.fn.is_generator = True

    def visit_Call(self, node: cst.Call) -> None:
        fn = self.fn
        if fn is None:
            return
        names = qualified_names(self, node.func) or {dotted(node.func)}
        line = self._line(node)
        for name in sorted(names):
            fn.calls.append(name)
            if name in NETWORK_CALLS:
                positional = [a for a in node.args if a.keyword is None and not a.star]
                passed = timeout_passed(NETWORK_CALLS[name], len(positional),
                                        [a.keyword.value for a in node.args if a.keyword is not None],
                                        any(a.star for a in node.args))
                # hidden behind *args/**kwargs: neither side can tell, so it is not reported missing
                fn.network_calls.append({"call": name, "line": line, "timeout": passed is not False})


def analyze_source(source: str, path: str) -> dict[str, FunctionFacts]:
    """``{"path::qualname": FunctionFacts}`` for every function in ``source``; {} when it does not parse."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return {}
    collector = _Collector(path)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    wrapper.visit(collector)
    effects = function_effects(wrapper)
    for facts in collector.out:
        facts.impurity = effects.get(facts.qualname, [])
    return {f"{path}::{f.qualname}": f for f in sorted(collector.out, key=lambda f: f.line)}


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


