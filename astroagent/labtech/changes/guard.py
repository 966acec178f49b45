"""The safety guard: an allow-list of the change shapes a proposal may have (DESIGN §5 rule 2).

A proposal is untrusted whoever wrote it. The guard reads its bytes as Python will (BOM, PEP 263
cookie; UTF-8 only) and judges the syntax tree Python would compile from them, then accepts only
the shape its kind allows and refuses the rest:

- ``rule:<fix>`` — a codemod's output: exactly the decorator, imports and generated helper the rule
  adds (a timeout fix: ``timeout=`` arguments), nothing else anywhere in the file;
- ``llm`` — new bodies for the named functions (default: any function), private helpers,
  allow-listed imports (``lab_technician.llm.allowed_imports``) and literal constants; in the bodies
  no new effect (process, network, file write or deletion, environment, threads, tracing, dynamic
  code, logging configuration) and no changed destination of an old one, no removed or unreachable
  log call, no handler that swallows more than before, no ``finally`` that ends the error in flight,
  no unlisted context manager or decorator, no dunder or foreign attribute written or reached.

``check_change`` never raises: anything it cannot read or prove is a violation, one line per rule.
"""

from __future__ import annotations

import ast
import codecs
import io
import tokenize
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["GuardReport", "check_change", "kind_for", "parse_kind", "RULES"]

RULES = ("parse", "encoding", "shape", "public-api", "parameters", "logging", "names", "imports", "assignment",
         "wrapping", "dynamic-code", "process", "network", "file-deletion", "file-write", "environment",
         "threads", "tracing", "except-widened")

_MAX_SOURCE = 5_000_000
_SHOWN = 4


@dataclass(frozen=True)
class GuardReport:
    """``ok`` when no rule is broken; ``violations`` holds one line per broken rule."""

    ok: bool
    violations: tuple[str, ...] = ()


class _Unreadable(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


def kind_for(engine: str | None, fix: str | None) -> str:
    """The guard kind of a change the improve path made: ``rule:<fix>`` for a codemod, else ``llm``."""
    return "llm" if engine == "llm" or not fix or fix == "llm_rewrite" else f"rule:{fix}"


def parse_kind(kind: str) -> tuple[str, str | None]:
    """``("llm", None)`` or ``("rule", fix)``; ValueError naming the known kinds otherwise."""
    from astroagent.labtech.changes._rules import SHAPES

    if kind == "llm":
        return "llm", None
    if kind.startswith("rule:") and kind[5:] in SHAPES:
        return "rule", kind[5:]
    known = ", ".join(["llm", *(f"rule:{name}" for name in sorted(SHAPES))])
    raise ValueError(f"unknown change kind {kind!r}; known: {known}")


def _bytes(source: object, label: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, str):
        try:
            data = source.encode("utf-8")
        except UnicodeEncodeError:
            raise _Unreadable("encoding", f"{label} file is not UTF-8 text (it holds lone surrogates)") from None
    else:
        raise _Unreadable("parse", f"{label} file is not text")
    if len(data) > _MAX_SOURCE:
        raise _Unreadable("parse", f"{label} file is too large to check ({len(data)} bytes)")
    return data


def compile_as_python(data: bytes, label: str, *, utf8_only: bool) -> ast.Module:
    """The tree Python compiles from these bytes (its own decoding); UTF-8 only when asked."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise _Unreadable("encoding", f"{label} file does not parse as UTF-8 Python: {exc.msg}") from None
    if utf8_only and codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        raise _Unreadable("encoding", f"{label} file declares the source encoding {encoding!r}; only UTF-8 "
                          "is accepted")
    try:
        data.decode("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError as exc:
        if utf8_only:
            raise _Unreadable("encoding", f"{label} file is not UTF-8 (byte {exc.start})") from None
    try:
        tree = compile(data, label, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        compile(tree, label, "exec", dont_inherit=True)   # what only the compiler sees (return outside def …)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        raise _Unreadable("parse", f"{label} file does not parse: {exc.msg}{where}") from None
    except (ValueError, TypeError, UnicodeError) as exc:
        raise _Unreadable("parse", f"{label} file does not parse: {type(exc).__name__}: {str(exc)[:120]}") from None
    return tree


def _findings(old: bytes, new: bytes, old_tree: ast.Module, kind: str | None, functions: Collection[str] | None,
              allowed_imports: Collection[str], where: dict[str, Any]) -> list[tuple[str, str]]:
    from astroagent.labtech.changes._llm import LLMShape
    from astroagent.labtech.changes._rules import SHAPES, rule_findings

    def fresh(data: bytes) -> ast.Module:   # each judge gets its own trees (rule shapes normalise them)
        return compile_as_python(data, "proposed" if data is new else "original", utf8_only=data is new)

    where = {**where, "source": new.decode("utf-8-sig")}
    if kind is not None and kind != "llm":
        return rule_findings(parse_kind(kind)[1], old_tree, fresh(new), functions, **where)
    found = LLMShape(old_tree, fresh(new), functions, allowed_imports).findings()
    if kind is None and found:    # no kind given: any shape the guard knows will do
        for fix in SHAPES:
            if not rule_findings(fix, fresh(old), fresh(new), functions, **where):
                return []
    return found


def _lines(findings: list[tuple[str, str]], prefix: str) -> tuple[str, ...]:
    """One line per broken rule, in ``RULES`` order, its first few findings joined."""
    by_rule: dict[str, list[str]] = {}
    for rule, message in findings:
        if message not in by_rule.setdefault(rule, []):
            by_rule[rule].append(message)
    order = sorted(by_rule, key=lambda r: RULES.index(r) if r in RULES else len(RULES))
    out = []
    for rule in order:
        messages = by_rule[rule]
        more = f"; and {len(messages) - _SHOWN} more" if len(messages) > _SHOWN else ""
        out.append(f"{prefix}{rule}: {'; '.join(messages[:_SHOWN])}{more}")
    return tuple(out)


def check_change(old_source: str | bytes, new_source: str | bytes, *, path: str | None = None,
                 kind: str | None = None, functions: Collection[str] | None = None,
                 allowed_imports: Collection[str] | None = None, workspace: Path | None = None) -> GuardReport:
    """Judge ``new_source`` against ``old_source`` as a change of ``kind`` (``llm``, ``rule:<fix>``, or
    None for any known shape); ``functions`` are the qualnames it may change (None: every function).
    ``workspace`` (with ``path``): where a retry's own exception classes are read, when imported."""
    prefix = f"{path}: " if path else ""
    findings: list[tuple[str, str]] = []
    try:
        if kind is not None:
            parse_kind(kind)
        if functions is not None:   # ``path::outer.<locals>.inner`` names ``outer.inner``
            functions = {".".join(p for p in f.rsplit("::", 1)[-1].split(".") if p and p != "<locals>")
                         for f in functions}
        if allowed_imports is None:
            from astroagent.config.models import LLMConfig
            allowed_imports = LLMConfig().allowed_imports
        new = _bytes(new_source, "proposed")
        compile_as_python(new, "proposed", utf8_only=True)
        try:
            old = _bytes(old_source, "original")
            old_tree = compile_as_python(old, "original", utf8_only=False)
        except _Unreadable as exc:
            findings.append(("parse", f"{exc.message}; judged against an empty file"))
            old, old_tree = b"", ast.Module(body=[], type_ignores=[])
        if old != new:
            findings += _findings(old, new, old_tree, kind, functions, tuple(allowed_imports),
                                  {"path": path, "workspace": workspace})
    except _Unreadable as exc:
        findings = [(exc.rule, exc.message)]
    except ValueError as exc:
        findings = [("parse", str(exc))]
    except (RecursionError, MemoryError) as exc:
        findings = [("parse", f"file too deeply nested or too large to check ({type(exc).__name__})")]
    except Exception as exc:  # the guard must never be the thing that crashes
        findings = [("parse", f"could not check the change: {type(exc).__name__}: {str(exc)[:120]}")]
    lines = _lines(findings, prefix)
    return GuardReport(not lines, lines)
