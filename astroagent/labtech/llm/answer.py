"""Reading an LLM's answer as untrusted input: one code block, one function, spliced by LibCST.

Every check that fails raises ``AnswerRejected`` with a reason a user can act on. The
splice replaces only the target function's node; every other byte of the module is kept.
Whether the new function is *safe* is the guard's question, not this module's.
"""

from __future__ import annotations

import textwrap

import libcst as cst

from astroagent.errors import LLMError
from astroagent.labtech.llm.prompt import find_function, parse_checked

__all__ = ["AnswerRejected", "extract_code_block", "splice_function", "PYTHON_LANGS"]

PYTHON_LANGS = frozenset({"python", "py", "python3"})


class AnswerRejected(LLMError):
    """The answer cannot become a proposal (no code, bad code, wrong function, ...)."""


def _fenced_blocks(answer: str) -> tuple[list[tuple[str, str]], bool]:
    """Markdown fenced blocks as (language, code), and whether one was left open; linear time."""
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    lang, body = "", []
    for line in answer.splitlines(keepends=True):
        text = line.strip()
        if fence is None:
            char = text[:1]
            if char in ("`", "~") and text.startswith(char * 3):
                run = len(text) - len(text.lstrip(char))
                info = text[run:].strip()
                if char == "`" and "`" in info:
                    continue                                  # inline code, not a fence
                fence, lang, body = char * run, (info.split() or [""])[0].lower(), []
        elif text and set(text) == {fence[0]} and len(text) >= len(fence):
            blocks.append((lang, "".join(body)))
            fence = None
        else:
            body.append(line)
    return blocks, fence is not None


def extract_code_block(answer: str) -> str:
    """The single python code block of ``answer`` (an unlabelled block counts when none is labelled)."""
    if answer.lstrip().startswith("<think>") and "</think>" in answer:
        answer = answer[answer.rindex("</think>") + len("</think>"):]   # a reasoning model's scratchpad
    blocks, left_open = _fenced_blocks(answer)
    python = [code for lang, code in blocks if lang in PYTHON_LANGS]
    if not python:
        python = [code for lang, code in blocks if not lang]
    if len(python) > 1:
        raise AnswerRejected(f"the answer holds {len(python)} python code blocks; exactly one was asked for")
    if not python:
        if left_open:
            raise AnswerRejected("the answer has no complete ```python code block (cut off or unterminated?)")
        raise AnswerRejected("the answer has no ```python code block")
    code = textwrap.dedent(python[0])
    if not code.strip():
        raise AnswerRejected("the answer's code block is empty")
    return code


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(item, (cst.Import, cst.ImportFrom)) for item in stmt.body)


def _is_docstring_or_pass(stmt: cst.CSTNode) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    item = stmt.body[0]
    return isinstance(item, cst.Pass) or (
        isinstance(item, cst.Expr) and isinstance(item.value, (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis)))


def _first_line(snippet: cst.Module, node: cst.CSTNode) -> str:
    return snippet.code_for_node(node).strip().splitlines()[0][:80]


def _pick_function(snippet: cst.Module, qualname: str) -> tuple[cst.FunctionDef, list[cst.SimpleStatementLine]]:
    """The new definition of ``qualname`` in the snippet and the import lines beside it."""
    parts = qualname.split(".")
    imports: list[cst.SimpleStatementLine] = []
    body: list[cst.CSTNode] = list(snippet.body)
    level = 0
    while True:
        found: list[cst.FunctionDef] = []
        wrappers: list[cst.ClassDef] = []
        for stmt in body:
            if level == 0 and _is_import(stmt):
                imports.append(stmt)  # type: ignore[arg-type]
            elif isinstance(stmt, cst.FunctionDef) and stmt.name.value == parts[-1]:
                found.append(stmt)
            elif (isinstance(stmt, cst.ClassDef) and level < len(parts) - 1
                  and stmt.name.value == parts[level]):
                wrappers.append(stmt)
            elif level > 0 and _is_docstring_or_pass(stmt):
                continue
            elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                raise AnswerRejected(
                    f"the answer defines {stmt.name.value!r}, not (only) {parts[-1]!r}; "
                    f"exactly the target function was asked for")
            else:
                raise AnswerRejected(
                    f"the answer holds code besides {parts[-1]!r} and its imports: "
                    f"{_first_line(snippet, stmt)!r}")
        if len(found) + len(wrappers) > 1:
            raise AnswerRejected(f"the answer defines {parts[-1]!r} more than once")
        if found:
            return found[0], imports
        if not wrappers:
            raise AnswerRejected(f"the answer does not define {parts[-1]!r}")
        inner = wrappers[0].body
        body = list(inner.body) if isinstance(inner, cst.IndentedBlock) else []
        level += 1


def _merge_imports(module: cst.Module, imports: list[cst.SimpleStatementLine]) -> cst.Module:
    """Add the answer's import lines the module does not already have, after its last top-level import."""
    have = {module.code_for_node(s.with_changes(leading_lines=())).strip() for s in module.body if _is_import(s)}
    new: list[cst.SimpleStatementLine] = []
    for stmt in imports:
        text = cst.Module(body=[stmt.with_changes(leading_lines=())]).code.strip()
        if text not in have:
            have.add(text)
            new.append(stmt.with_changes(leading_lines=()))
    if not new:
        return module
    body = list(module.body)
    last = max((i for i, s in enumerate(body) if _is_import(s)), default=None)
    if last is None:
        has_doc = bool(body) and _is_docstring_or_pass(body[0]) and not isinstance(body[0].body[0], cst.Pass)
        at = 1 if has_doc else 0
    else:
        at = last + 1
    return module.with_changes(body=[*body[:at], *new, *body[at:]])


class _Replace(cst.CSTTransformer):
    def __init__(self, target: cst.FunctionDef, new: cst.FunctionDef) -> None:
        self.target, self.new, self.done = target, new, False

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if original_node is self.target:
            self.done = True
            return self.new.with_changes(leading_lines=original_node.leading_lines)
        return updated_node


def splice_function(source: str, qualname: str, code: str) -> str:
    """``source`` with ``qualname`` replaced by the definition in ``code`` (plus any new imports)."""
    try:
        snippet = parse_checked(code)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        raise AnswerRejected(f"the answer's code is not valid Python: {exc.msg}{where}") from exc
    new_def, imports = _pick_function(snippet, qualname)
    module = parse_checked(source)
    target = find_function(module, qualname)
    replacer = _Replace(target, new_def)
    spliced = module.visit(replacer)
    if not replacer.done:  # pragma: no cover - find_function just found it
        raise AnswerRejected(f"could not place the new {qualname} in the module")
    spliced = _merge_imports(spliced, imports)
    new_source = spliced.code
    if new_source == source:
        raise AnswerRejected("the answer changes nothing")
    try:
        compile(new_source, "<proposal>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise AnswerRejected(f"the spliced module does not compile: {exc}") from exc
    return new_source
