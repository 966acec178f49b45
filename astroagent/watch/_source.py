"""Compile a watched module's source with ``@__astroagent_watch__(module, qualname)`` on its functions.

The decorator goes first (outermost) on every ``def`` at module level and in class bodies,
also inside module-level ``if``/``try``/``with`` blocks; nested functions and lambdas are left
alone. It takes the first decorator's position, so line numbers, ``co_firstlineno`` and
``inspect.getsource`` are those of the file. Because it is applied while the module runs,
every reference the module makes to its functions (registries, ``functools.partial``, default
arguments) holds the watched function, and pickling by name finds the same object.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from astroagent.watch.hook import DECORATOR

__all__ = ["compile_watched", "add_decorators"]

_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _defs(body: list[ast.stmt], prefix: str) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """Each function defined directly in ``body`` (or its blocks) with its qualified name."""
    for node in body:
        if isinstance(node, _FUNCTIONS):
            yield node, prefix + node.name
        elif isinstance(node, ast.ClassDef):
            yield from _defs(node.body, f"{prefix}{node.name}.")
        else:
            for field in _BLOCK_FIELDS:
                for child in getattr(node, field, None) or ():
                    if isinstance(child, (ast.ExceptHandler, ast.match_case)):
                        yield from _defs(child.body, prefix)
                    elif isinstance(child, ast.stmt):
                        yield from _defs([child], prefix)


def add_decorators(tree: ast.Module, module: str) -> int:
    """Put the watch decorator on each function of ``tree``; returns how many."""
    count = 0
    for node, qualname in _defs(tree.body, ""):
        anchor = node.decorator_list[0] if node.decorator_list else node
        call = ast.Call(func=ast.Name(id=DECORATOR, ctx=ast.Load()),
                        args=[ast.Constant(module), ast.Constant(qualname)], keywords=[])
        for part in (call, call.func, *call.args):
            ast.copy_location(part, anchor)
        node.decorator_list.insert(0, call)
        count += 1
    return count


def compile_watched(source: bytes, path: str, module: str) -> object:
    """The module's code object with the watch decorator added (a syntax error is raised as usual)."""
    tree = compile(source, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)  # ast.parse would add its frame
    add_decorators(tree, module)
    return compile(tree, path, "exec", dont_inherit=True)
