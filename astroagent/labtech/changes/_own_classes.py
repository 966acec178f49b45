"""Which of the program's own exception classes a rule's retry or breaker may name: resolved, not spelled.

A name in the decorator must be a class the file defines, or imports from the program's own modules
(never a function or a value of that name), whose bases — read from the workspace's code by the same
``knowledge.hierarchy`` analysis judged the failure with — reach a transient type; or one of the
table's own names (``ServiceUnavailable``...). A class deriving from ``ValueError`` is never retried.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

from astroagent.labtech.changes._names import Resolver
from astroagent.labtech.knowledge.exceptions import FAMILIES, is_transient_name
from astroagent.labtech.knowledge.hierarchy import Hierarchy, module_classes, resolve_relative
from astroagent.paths import module_name_for, module_of, workspace_relative

__all__ = ["OwnClasses", "maybe_own"]

_OWN_NAMES = frozenset(name for name, fams in FAMILIES.items() if any(f.own for f in fams))


def maybe_own(name: str) -> bool:
    """A bare name that could be the program's class (a builtin is what it says)."""
    return name.isidentifier() and not hasattr(builtins, name)


class OwnClasses:
    """The classes the new version of one file can name, and what they derive from."""

    def __init__(self, tree: ast.Module, resolver: Resolver, path: str | None, workspace: Path | None,
                 source: str | None) -> None:
        self.tree, self.resolver, self.source = tree, resolver, source
        self.workspace = Path(workspace).resolve() if workspace is not None else None
        rel = workspace_relative(Path(path), self.workspace) if path else ""
        self.rel = rel if rel.endswith(".py") and not Path(rel).is_absolute() else ""
        self.package = self.rel.endswith("__init__.py")
        try:
            self.module = (module_of(self.workspace, self.rel) if self.workspace is not None
                           else module_name_for(self.rel)) if self.rel else "__main__"
        except ValueError:
            self.module = "__main__"

    def hierarchy(self, qualname: str) -> Hierarchy:
        """This file's classes and the workspace modules ``qualname`` and their bases come from (read when asked)."""
        if self.workspace is None or not self.rel or self.source is None:
            return Hierarchy([module_classes(self.tree, self.module, self.rel or "<proposed>", package=self.package)])
        from astroagent.labtech.analysis.classes import workspace_classes

        file = self.workspace / self.rel
        return workspace_classes([file], self.workspace, sources={file: self.source}, names=[qualname])

    def qualname(self, name: str, refs: frozenset[str]) -> str | None:
        """The class ``name`` refers to at module level: defined here (once) or imported; None otherwise."""
        if len(refs) != 1:
            return None
        ref = next(iter(refs))
        bindings = self.resolver.module.bindings.get(name, [])
        if ref == f"local:{name}":
            classes = [s for s in self.tree.body if isinstance(s, ast.ClassDef) and s.name == name]
            return f"{self.module}.{name}" if len(bindings) == 1 and len(classes) == 1 else None
        if len(bindings) != 1 or bindings[0][0] != "import":
            return None
        if ref.startswith("local:."):       # from .errors import FetchError
            dotted = ref[len("local:"):]
            level = len(dotted) - len(dotted.lstrip("."))
            return resolve_relative(self.module, level, dotted[level:], package=self.package)
        return ref if "." in ref and not ref.startswith(("builtins.", "local:", "?", "unbound:")) else None

    def transient(self, name: str, refs: frozenset[str]) -> bool:
        """``name`` is the program's class and a retry may catch it."""
        qual = self.qualname(name, refs) if maybe_own(name) else None
        if qual is None:
            return False
        if name in _OWN_NAMES:
            return True
        derived = self.hierarchy(qual).derivation(qual)
        return derived is not None and is_transient_name(name, {name: derived.base})
