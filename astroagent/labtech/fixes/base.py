"""What every fix rule shares: the frozen outcome, the rule base class, and a runner that turns a
LibCST codemod on one target function into an outcome instead of an exception (STYLE points 4, 6, 7).

    outcome = rule.apply(source, "Archive.fetch", opportunity)
    outcome.status in ("applied", "skipped", "rejected")
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import libcst as cst
from libcst.codemod import CodemodContext, SkipFile, VisitorBasedCodemodCommand
from libcst.helpers import get_full_name_for_node

from astroagent.labtech.models import Opportunity

__all__ = [
    "FixOutcome",
    "FixRule",
    "registered_rules",
    "Refuse",
    "TargetedCodemod",
    "run_codemod",
    "normalize_qualname",
    "decorator_names",
    "derives_from",
    "insert_decorator",
    "is_generator",
    "module_helpers_insert_index",
    "insert_module_helpers",
]

Status = Literal["applied", "skipped", "rejected"]


@dataclass(frozen=True)
class FixOutcome:
    """The result of one fix on one source text; picklable so it crosses process boundaries."""

    status: Status
    fix: str
    new_source: str | None
    reason: str
    warnings: tuple[str, ...] = ()


class Refuse(Exception):
    """Raised inside a codemod when the target must not be changed (becomes ``rejected``)."""


_REGISTRY: dict[str, type["FixRule"]] = {}


class FixRule:
    """A registered fix strategy: ``applicable`` judges the evidence, ``apply`` changes the source."""

    name: ClassVar[str]
    description: ClassVar[str]
    command: ClassVar[type["TargetedCodemod"]]
    #: why this fix must not answer a deterministic failure (None: it may)
    deterministic_refusal: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _REGISTRY[cls.name] = cls

    def applicable(self, opportunity: Opportunity) -> str | None:
        """None when the evidence allows this fix, else the reason it must not apply."""
        if opportunity.type == "deterministic_failure":
            return self.deterministic_refusal
        return None

    def apply(self, source: str, qualname: str, opportunity: Opportunity) -> FixOutcome:
        reason = self.applicable(opportunity)
        if reason is not None:
            return FixOutcome("rejected", self.name, None, reason)
        return run_codemod(self.name, source, lambda ctx: self.command(ctx, qualname, opportunity))


def registered_rules() -> dict[str, type[FixRule]]:
    """Every rule class defined so far, by name (each registers itself on subclassing)."""
    return dict(_REGISTRY)


def normalize_qualname(qualname: str | None) -> str:
    """``outer.<locals>.inner`` (Python's form) and ``outer.inner`` name the same target."""
    if not qualname:
        return ""
    qualname = qualname.rsplit("::", 1)[-1]    # a whole target ``path::qualname`` names the same function
    return ".".join(part for part in qualname.strip().split(".") if part and part != "<locals>")


def run_codemod(fix: str, source: str, make: Any) -> FixOutcome:
    """Parse, run the codemod built by ``make(context)``, and report what happened as data."""
    try:
        tree = cst.parse_module(source)
    except Exception as exc:  # libcst.ParserSyntaxError and friends
        return FixOutcome("rejected", fix, None, f"source does not parse: {_first_line(exc)}")
    context = CodemodContext()
    command = make(context)
    try:
        new_tree = command.transform_module(tree)
    except SkipFile as exc:
        return FixOutcome("skipped", fix, None, str(exc), tuple(context.warnings))
    except Refuse as exc:
        return FixOutcome("rejected", fix, None, str(exc), tuple(context.warnings))
    except RecursionError:
        return FixOutcome("rejected", fix, None, "source nests too deeply to transform safely")
    new_source = new_tree.code
    if new_source == source:
        return FixOutcome("skipped", fix, None, "nothing to change", tuple(context.warnings))
    try:
        compile(new_source, "<fix>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # a codemod bug must never reach a file
        return FixOutcome("rejected", fix, None, f"generated code does not compile: {exc}")
    return FixOutcome("applied", fix, new_source, getattr(command, "summary", "") or command.DESCRIPTION,
                      tuple(context.warnings))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def derives_from(opportunity: Opportunity) -> dict[str, str]:
    """The program's own exception classes among the opportunity's types, each with its nearest known base
    (analysis' ``derives_from`` evidence; anything else there is ignored)."""
    found = opportunity.evidence.get("derives_from")
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}


def decorator_names(node: cst.FunctionDef) -> list[str]:
    """Dotted names of the decorators (``@a.b(...)`` → ``a.b``), top first."""
    names = []
    for dec in node.decorators:
        expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        names.append(get_full_name_for_node(expr) or "")
    return names


def insert_decorator(node: cst.FunctionDef, decorator: cst.Decorator, *, above: str | None = None,
                     below: str | None = None) -> cst.FunctionDef:
    """Put ``decorator`` just above the first decorator named ``above`` or just below ``below``;
    innermost (closest to ``def``) when neither is present."""
    names = [n.rsplit(".", 1)[-1] for n in decorator_names(node)]
    decorators = list(node.decorators)
    if above is not None and above in names:
        index = names.index(above)
    elif below is not None and below in names:
        index = names.index(below) + 1
    else:
        index = len(decorators)
    # blank lines and comments above the first decorator belong to the function (``leading_lines``)
    decorators.insert(index, decorator.with_changes(leading_lines=()))
    return node.with_changes(decorators=decorators)


def is_generator(node: cst.FunctionDef) -> bool:
    """True when the function body yields (not counting nested functions and lambdas)."""

    class _Finder(cst.CSTVisitor):
        found = False

        def visit_FunctionDef(self, inner: cst.FunctionDef) -> bool:
            return inner is node

        def visit_Lambda(self, inner: cst.Lambda) -> bool:
            return False

        def visit_Yield(self, inner: cst.Yield) -> None:
            self.found = True

    finder = _Finder()
    node.visit(finder)
    return finder.found


def module_helpers_insert_index(module: cst.Module) -> int:
    """Where generated module-level helpers go: after the leading docstring and imports."""
    index = 0
    for i, stmt in enumerate(module.body):
        if isinstance(stmt, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Import, cst.ImportFrom)) or
                (isinstance(s, cst.Expr) and isinstance(s.value, (cst.SimpleString, cst.ConcatenatedString))
                 and i == 0)
                for s in stmt.body):
            index = i + 1
        elif isinstance(stmt, cst.If) and _is_type_checking_block(stmt):
            index = i + 1
        else:
            break
    return index


def insert_module_helpers(module: cst.Module, source: str) -> cst.Module:
    """Insert the module-level definitions in ``source`` after the imports, unless a definition of the
    same name already exists (so helpers shared by several fixes appear once)."""
    existing = {stmt.name.value for stmt in module.body if isinstance(stmt, (cst.FunctionDef, cst.ClassDef))}
    new = [stmt for stmt in cst.parse_module(source).body
           if not (isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) and stmt.name.value in existing)]
    if not new:
        return module
    blank = [cst.EmptyLine(), cst.EmptyLine()]
    new = [stmt.with_changes(leading_lines=blank) for stmt in new]
    index = module_helpers_insert_index(module)
    body = list(module.body)
    if index < len(body):   # two blank lines between the helpers and what follows (PEP 8)
        following = body[index]
        lines = list(following.leading_lines)
        blanks = next((i for i, line in enumerate(lines) if line.comment is not None), len(lines))
        if blanks < 2:
            body[index] = following.with_changes(leading_lines=[*blank[blanks:], *lines])
    return module.with_changes(body=[*body[:index], *new, *body[index:]])


def _is_type_checking_block(stmt: cst.If) -> bool:
    return get_full_name_for_node(stmt.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


class TargetedCodemod(VisitorBasedCodemodCommand):
    """A codemod that changes one function, named by qualname (``f``, ``Cls.m``, ``outer.inner``).

    Subclasses implement ``change(original, updated, kind)`` where kind is ``function``,
    ``method`` or ``nested``; raise ``SkipFile`` when the change is already there (idempotent)
    and ``Refuse`` when the target must not change.
    """

    DESCRIPTION: ClassVar[str] = "change one function"

    def __init__(self, context: CodemodContext, qualname: str, opportunity: Opportunity) -> None:
        super().__init__(context)
        self.qualname = normalize_qualname(qualname)
        self.opportunity = opportunity
        self.found = False
        self.summary = ""
        self._stack: list[tuple[str, str]] = []   # (name, "class" | "def")
        self.class_of_target: cst.ClassDef | None = None

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        if not self.qualname:
            raise Refuse("no target function named")
        result = super().transform_module_impl(tree)
        if not self.found:
            raise Refuse(f"target {self.qualname!r} not found in the source")
        return self.finish_module(result)

    def finish_module(self, module: cst.Module) -> cst.Module:
        """Module-level additions after the target changed (helpers); default none."""
        return module

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._stack.append((node.name.value, "class"))
        return True

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        self._stack.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._stack.append((node.name.value, "def"))
        return True

    def leave_FunctionDef(self, original_node: cst.FunctionDef,
                          updated_node: cst.FunctionDef) -> cst.FunctionDef:
        qual = ".".join(name for name, _ in self._stack)
        self._stack.pop()
        if qual != self.qualname or self.found:
            return updated_node
        self.found = True
        parent = self._stack[-1][1] if self._stack else None
        kind = "method" if parent == "class" else "nested" if parent == "def" else "function"
        if kind == "method" and any(k == "def" for _, k in self._stack):
            kind = "nested"
        return self.change(original_node, updated_node, kind)

    def change(self, original: cst.FunctionDef, updated: cst.FunctionDef, kind: str) -> cst.FunctionDef:
        raise NotImplementedError
