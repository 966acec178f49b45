"""What the LLM engine asks: the target function, the module around it, the evidence, the rules.

Pure text building, no I/O: the same inputs always give the same messages, so a transcript
is enough to replay a request. The rules restate DESIGN section 5 for the model; the guard
still enforces them on whatever comes back.
"""

from __future__ import annotations

import ast
import json
import warnings
from typing import Any

import libcst as cst

from astroagent.errors import LLMError
from astroagent.labtech.models import Opportunity

__all__ = [
    "RULES",
    "MAX_MODULE_CONTEXT_CHARS",
    "MAX_EVIDENCE_CHARS",
    "build_messages",
    "find_function",
    "function_source",
    "parse_checked",
]

MAX_MODULE_CONTEXT_CHARS = 40_000
MAX_EVIDENCE_CHARS = 6_000

RULES = """\
You improve one Python function of a scientific pipeline that runs unattended.
Your answer is machine-checked; anything that breaks these rules is thrown away.

1. Return the COMPLETE new version of the target function only, in exactly ONE ```python
   code block. Put nothing else in the block except `import` lines the new code needs.
   For a method, return only that method (its `def`, with its decorators).
2. Keep the function's name, every parameter (names, order, defaults) and what it returns
   to its callers. Keep every other public function, class and parameter untouched.
3. Keep every logging and telemetry call (logger.*, logging.*, @instrument, spans) as it is.
4. Add no eval/exec/compile/__import__/importlib or builtins tricks, no process spawning
   (subprocess, os.system, os.spawn*, os.exec*, multiprocessing), no sockets or new network
   access, and no file deletion (os.remove, os.unlink, shutil.rmtree, Path.unlink).
5. Never widen an `except`: no bare `except:`, no `except Exception`/`BaseException` that
   swallows errors. Unexpected errors must still propagate.
6. Retries only for transient failures (network, timeouts, 5xx), with tenacity: bounded
   attempts and total delay, exponential backoff with jitter, reraise=True. Never retry a
   deterministic bug; fix its cause. Caches (functools.lru_cache / cachetools, bounded) only
   for pure functions with hashable arguments.
7. Fix the root cause the evidence shows, with the smallest change that does it.
"""


def parse_checked(code: str) -> cst.Module:
    """LibCST's tree of ``code``, parsed by CPython first: LibCST's native parser can crash the
    process on pathological nesting that CPython rejects cleanly. Raises SyntaxError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")              # e.g. invalid escape sequences
            ast.parse(code)
    except (RecursionError, MemoryError, ValueError) as exc:
        raise SyntaxError(f"too deeply nested or too large to parse ({type(exc).__name__})") from exc
    try:
        return cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        raise SyntaxError(f"{exc.message} (line {exc.raw_line})") from exc


def find_function(module: cst.Module, qualname: str) -> cst.FunctionDef:
    """The one definition of ``qualname`` ("f", "Class.method") in ``module``; LLMError if not exactly one."""
    if not qualname or "<" in qualname:
        raise LLMError(f"cannot target {qualname!r}: only module functions and class methods")
    found: list[cst.FunctionDef] = []

    class _Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            self.scope: list[str] = []

        def visit_ClassDef(self, node: cst.ClassDef) -> None:
            self.scope.append(node.name.value)

        def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
            self.scope.pop()

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            if ".".join([*self.scope, node.name.value]) == qualname:
                found.append(node)
            self.scope.extend([node.name.value, "<locals>"])

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            del self.scope[-2:]

    module.visit(_Finder())
    if not found:
        raise LLMError(f"{qualname} is not defined in the module")
    if len(found) > 1:
        raise LLMError(f"{qualname} is defined {len(found)} times in the module; refusing to guess which")
    return found[0]


def function_source(module: cst.Module, qualname: str) -> str:
    """The source of the target function as written (decorators included, no leading blank lines)."""
    node = find_function(module, qualname)
    return module.code_for_node(node.with_changes(leading_lines=())).strip("\n") + "\n"


def _fence(code: str) -> str:
    ticks = "````" if "```" in code else "```"
    return f"{ticks}python\n{code.rstrip()}\n{ticks}"


def _evidence_text(opportunity: Opportunity) -> str:
    data: dict[str, Any] = {
        "type": opportunity.type,
        "priority": opportunity.priority,
        "description": opportunity.description,
        "suggested_fix": opportunity.fix,
        "method": opportunity.method,
        "error_types": list(opportunity.error_types),
        "failure_signature": opportunity.signature,
        "evidence": opportunity.evidence,
    }
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    if len(text) > MAX_EVIDENCE_CHARS:
        text = text[:MAX_EVIDENCE_CHARS] + "\n... (evidence truncated)"
    return text


def build_messages(source: str, qualname: str, opportunity: Opportunity, *, path: str) -> list[dict[str, str]]:
    """The chat messages for one fix request; raises LLMError when the target is not in ``source``."""
    try:
        module = parse_checked(source)
    except SyntaxError as exc:
        raise LLMError(f"{path} does not parse, so it cannot be improved: {exc.msg}") from exc
    target = function_source(module, qualname)
    context = source
    if len(context) > MAX_MODULE_CONTEXT_CHARS:
        context = context[:MAX_MODULE_CONTEXT_CHARS] + "\n# ... (rest of the module truncated)\n"
    name = qualname.rsplit(".", 1)[-1]
    user = (
        f"File: {path}\n"
        f"Target function: {qualname}\n\n"
        f"## Why it needs changing (observed in the execution logs)\n"
        f"```json\n{_evidence_text(opportunity)}\n```\n\n"
        f"## The function to rewrite\n{_fence(target)}\n\n"
        f"## The whole module, for context only (do not return it)\n{_fence(context)}\n\n"
        f"Answer with the complete new `{name}` in one ```python block, following the rules."
    )
    return [{"role": "system", "content": RULES}, {"role": "user", "content": user}]
