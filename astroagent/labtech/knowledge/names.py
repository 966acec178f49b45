"""What a name in the code refers to: import aliases, qualified names, the exception classes a module can name.

Both static facts and the fix rules resolve names here, so ``from urllib.request import urlopen as get``
is ``urllib.request.urlopen`` to both.
"""

from __future__ import annotations

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import QualifiedNameProvider

from astroagent.labtech.knowledge.exceptions import Scope

__all__ = ["module_aliases", "qualified_names", "dotted", "uses_name", "exception_scope"]


def _bound(alias: cst.ImportAlias, default: str) -> str:
    """The name an import binds: its ``as`` name, else ``default``."""
    return alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else default


def module_aliases(module: cst.Module) -> dict[str, str]:
    """Local name → the module or object it was imported as (``np`` → ``numpy``), module level only."""
    names: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    full = get_full_name_for_node(alias.name) or ""
                    names[_bound(alias, full.split(".")[0])] = full if alias.asname else full.split(".")[0]
            elif isinstance(small, cst.ImportFrom) and small.module and not small.relative \
                    and not isinstance(small.names, cst.ImportStar):
                base = get_full_name_for_node(small.module) or ""
                for alias in small.names:
                    name = get_full_name_for_node(alias.name) or ""
                    names[_bound(alias, name)] = f"{base}.{name}"
    return names


def qualified_names(visitor: cst.MetadataDependent, node: cst.CSTNode) -> set[str]:
    """The names a call's function (or any expression) resolves to, ``<locals>`` dropped
    (``fetch.<locals>.resp.read`` → ``fetch.resp.read``); needs ``QualifiedNameProvider``."""
    target = node.func if isinstance(node, cst.Call) else node
    try:
        found = visitor.get_metadata(QualifiedNameProvider, target, set())
    except KeyError:
        return set()
    return {q.name.replace(".<locals>", "") for q in found}


def dotted(node: cst.BaseExpression) -> str:
    """``a.b.c`` for a name or attribute chain (through calls: ``a.b().c`` → ``a.b.c``), else ""."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    if isinstance(node, cst.Call):
        return dotted(node.func)
    return ""


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


def exception_scope(module: cst.Module) -> Scope:
    """The packages ``module`` imports and the classes it defines or imports by name (what a retry there can name)."""
    aliases = module_aliases(module)
    names = {full.rsplit(".", 1)[-1]: local for local, full in aliases.items() if "." in full}
    for stmt in module.body:      # ``from .errors import FetchError``: the program's own class, bound here too
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ():
            if isinstance(small, cst.ImportFrom) and small.relative and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    name = get_full_name_for_node(alias.name) or ""
                    names.setdefault(name, _bound(alias, name))
    names.update({stmt.name.value: stmt.name.value for stmt in module.body if isinstance(stmt, cst.ClassDef)})
    return Scope(frozenset(full.split(".")[0] for full in aliases.values()), names)
