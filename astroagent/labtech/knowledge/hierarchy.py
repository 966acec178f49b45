"""The program's own exception classes, and the nearest type the exception table knows each derives from.

Telemetry logs a failure's class name only (``FetchError``). When the program defines that class, its
bases say what it is: ``class FetchError(ArchiveError)`` with ``class ArchiveError(ConnectionError)`` is
a connection failure, which a retry catching ``FetchError`` heals. Bases are resolved through their
module's imports and followed through the program's other classes; analysis (classification), the fix
rules (what to catch) and the guard (what a retry may name) read the same ``Derivation``.

    h = Hierarchy([module_classes("class FetchError(ConnectionError): ...", "spectra.net", "spectra/net.py")])
    h.derivation("FetchError") → Derivation("FetchError", "ConnectionError", (), "spectra/net.py:1")

Where a class has several known ancestors, one a retry must never catch (``ValueError``) wins over a
transient one: a retry is for transient failures only. Pure: source text in, facts out (no LibCST).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from astroagent.labtech.knowledge.capabilities import exception_parents
from astroagent.labtech.knowledge.exceptions import FAMILIES, NEVER_RETRIED

__all__ = ["OwnClass", "ModuleClasses", "Derivation", "Hierarchy", "module_classes", "resolve_relative",
           "known_type", "dotted_name"]


@dataclass(frozen=True)
class OwnClass:
    qualname: str                 # module.Name ("spectra.net.FetchError"; nested: "spectra.net.Client.Error")
    where: str                    # path:line of its class statement
    bases: tuple[str, ...]        # resolved: "builtins.ConnectionError", "spectra.errors.ArchiveError", "socket.timeout"

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class ModuleClasses:
    """One module's classes and what its module-level imports bind (a package re-exporting a class)."""

    module: str
    classes: tuple[OwnClass, ...] = ()
    imports: Mapping[str, str] = field(default_factory=dict)     # local name → dotted target

    def to_json(self) -> dict:
        return {"module": self.module, "imports": dict(self.imports),
                "classes": [[c.qualname, c.where, list(c.bases)] for c in self.classes]}

    @classmethod
    def from_json(cls, data: Mapping) -> ModuleClasses:
        return cls(str(data["module"]), tuple(OwnClass(q, w, tuple(b)) for q, w, b in data["classes"]),
                   dict(data["imports"]))


class Derivation(NamedTuple):
    name: str                     # the program's class, as telemetry logs it
    base: str                     # its nearest known ancestor, as the exception table names it
    through: tuple[str, ...]      # the program's own classes between them
    where: str                    # path:line of the class

    def words(self) -> str:
        via = f" through {', '.join(self.through)}" if self.through else ""
        return f"{self.name} derives from {self.base}{via} ({self.where})"


def resolve_relative(module: str, level: int, name: str, *, package: bool) -> str:
    """``from ..x import y`` in ``module`` (a package's ``__init__`` when ``package``) → ``parent.x``."""
    parts = module.split(".") if package else module.split(".")[:-1]
    parts = parts[: max(len(parts) - level + 1, 0)]
    return ".".join([*parts, *([name] if name else [])])


def _statements(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """Module-level statements, looking into ``if``/``try`` blocks (``try: import x except ImportError``)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _statements([*stmt.body, *stmt.orelse])
        elif isinstance(stmt, ast.Try):
            yield from _statements([*stmt.body, *stmt.orelse, *stmt.finalbody,
                                    *(s for h in stmt.handlers for s in h.body)])


def dotted_name(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain, else ""."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def module_classes(source: str | ast.Module, module: str, path: str, *, package: bool = False) -> ModuleClasses:
    """The classes ``source`` defines at module level (and inside them), bases resolved through its
    imports; nothing when it does not parse."""
    try:
        tree = source if isinstance(source, ast.Module) else ast.parse(source)
    except (SyntaxError, ValueError):
        return ModuleClasses(module)
    imports: dict[str, str] = {}
    for stmt in _statements(tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                imports[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                    alias.name.split(".")[0]
        elif isinstance(stmt, ast.ImportFrom):
            base = resolve_relative(module, stmt.level, stmt.module or "", package=package) if stmt.level \
                else stmt.module or ""
            imports.update({a.asname or a.name: f"{base}.{a.name}" for a in stmt.names if a.name != "*"})
    top = {s.name for s in _statements(tree.body) if isinstance(s, ast.ClassDef)}

    def resolve(expr: ast.AST) -> str:
        dotted = dotted_name(expr)
        head, _, rest = dotted.partition(".")
        if not dotted:
            return ""
        if head in top and head not in imports:
            found = f"{module}.{head}"
        elif head in imports:
            found = imports[head]
        else:
            found = f"builtins.{head}" if hasattr(builtins, head) else head
        return f"{found}.{rest}" if rest else found

    classes: list[OwnClass] = []

    def collect(node: ast.ClassDef, prefix: str) -> None:
        qual, bases = f"{prefix}.{node.name}", tuple(r for r in map(resolve, node.bases) if r)
        if bases:       # a class without bases is no exception
            classes.append(OwnClass(qual, f"{path}:{node.lineno}", bases))
        for inner in node.body:
            if isinstance(inner, ast.ClassDef):
                collect(inner, qual)

    for stmt in _statements(tree.body):
        if isinstance(stmt, ast.ClassDef):
            collect(stmt, module)
    return ModuleClasses(module, tuple(classes), imports)


def known_type(ref: str) -> str | None:
    """The exception table's name for ``ref`` or its nearest known builtin/stdlib ancestor, else None."""
    name = ref.removeprefix("builtins.")
    for candidate in [name, *exception_parents(name)[1:]]:
        short = candidate.rsplit(".", 1)[-1]
        if candidate in FAMILIES or short in FAMILIES or short in NEVER_RETRIED:
            return candidate
    return None


class Hierarchy:
    """The classes of the program's modules, looked up by qualified name or by the name telemetry logs."""

    def __init__(self, modules: Iterable[ModuleClasses] = ()) -> None:
        self.modules = {m.module: m for m in modules}
        self.classes = {c.qualname: c for m in self.modules.values() for c in m.classes}
        self.by_name: dict[str, list[OwnClass]] = {}
        for cls in self.classes.values():
            self.by_name.setdefault(cls.name, []).append(cls)

    def key(self) -> list:
        """What an analysis' cache key holds of the classes (a changed base changes the answer)."""
        return sorted([c.qualname, c.where, list(c.bases)] for c in self.classes.values())

    def own(self, ref: str, hops: int = 0) -> OwnClass | None:
        """The program's class ``ref`` names, following a package's re-exports."""
        if ref in self.classes:
            return self.classes[ref]
        module, _, name = ref.rpartition(".")
        target = self.modules[module].imports.get(name) if module in self.modules else None
        return self.own(target, hops + 1) if target and target != ref and hops < 8 else None

    def derivation(self, name: str) -> Derivation | None:
        """What the program's class ``name`` (short or qualified) derives from; None when the table knows
        the name itself, the program does not define it, no known type is among its ancestors, or two
        classes of that name derive from different ones."""
        if known_type(name) == name.removeprefix("builtins."):
            return None
        own = self.own(name)
        found = {self._derive(c) for c in ([own] if own else self.by_name.get(name.rsplit(".", 1)[-1], []))}
        bases = {d.base for d in found if d is not None}
        if len(bases) != 1 or None in found:
            return None
        return min(found, key=lambda d: (len(d.through), d.where))

    def _derive(self, cls: OwnClass) -> Derivation | None:
        known: list[tuple[str, tuple[str, ...]]] = []
        seen = {cls.qualname}

        def walk(node: OwnClass, through: tuple[str, ...]) -> None:
            for ref in node.bases:
                parent = self.own(ref)
                if parent is not None:
                    if parent.qualname not in seen:
                        seen.add(parent.qualname)
                        walk(parent, (*through, parent.name))
                elif (base := known_type(ref)) is not None:
                    known.append((base, through))

        walk(cls, ())
        if not known:
            return None
        base, through = next((k for k in known if k[0].rsplit(".", 1)[-1] in NEVER_RETRIED), known[0])
        return Derivation(cls.name, base, through, cls.where)
