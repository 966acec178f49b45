"""Control flow the guard needs: does a handler re-raise on every path, which code can never run,
and which ``finally`` blocks end the error in flight (``return``/``break``/``continue``).

A handler whose only ``raise`` sits under ``if False:`` or after a ``return`` swallows the error;
a log call under ``if False:`` is a removed log call. Constants are folded through the resolver.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

__all__ = ["always_raises", "dead_nodes", "finally_exits", "walk_own"]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)

Fold = Callable[[ast.AST], tuple[bool, object]]


def walk_own(nodes: list[ast.AST], *, into_scopes: bool = False) -> Iterator[ast.AST]:
    """Every node below ``nodes`` (iteratively), not entering nested functions and classes unless asked."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if not into_scopes and isinstance(node, _SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _leaves(stmt: ast.stmt) -> bool:
    """Whether some path through ``stmt`` leaves the enclosing block without raising."""
    stack: list[tuple[ast.AST, int]] = [(stmt, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.Return):
            return True
        if isinstance(node, (ast.Break, ast.Continue)) and depth == 0:
            return True
        if isinstance(node, _SCOPES):
            continue
        inner = depth + 1 if isinstance(node, _LOOPS) else depth
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return False


def always_raises(block: list[ast.stmt], fold: Fold) -> bool:
    """True when every path through ``block`` ends in a ``raise`` (conservative: unsure is False)."""
    for stmt in block:
        if isinstance(stmt, ast.Raise):
            return True
        if isinstance(stmt, (ast.Return, ast.Break, ast.Continue)):
            return False
        if isinstance(stmt, ast.If):
            known, value = fold(stmt.test)
            if known:
                if always_raises(stmt.body if value else stmt.orelse, fold):
                    return True
                if _leaves_block(stmt.body if value else stmt.orelse):
                    return False
                continue
            if always_raises(stmt.body, fold) and always_raises(stmt.orelse, fold):
                return True
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            if stmt.finalbody and always_raises(stmt.finalbody, fold):
                return True
            handlers_raise = all(always_raises(h.body, fold) for h in stmt.handlers)
            body_raises = always_raises(stmt.body, fold) or (stmt.orelse and always_raises(stmt.orelse, fold))
            if body_raises and handlers_raise:
                return True
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            if always_raises(stmt.body, fold):
                return True
        elif isinstance(stmt, ast.Match):
            wildcard = any(isinstance(c.pattern, ast.MatchAs) and c.pattern.pattern is None and c.guard is None
                           for c in stmt.cases)
            if wildcard and all(always_raises(c.body, fold) for c in stmt.cases):
                return True
        if _leaves(stmt):
            return False
    return False


def _leaves_block(block: list[ast.stmt]) -> bool:
    return any(_leaves(stmt) for stmt in block)


def dead_nodes(root: ast.AST, fold: Fold) -> set[int]:
    """ids of the nodes under ``root`` that can never run (after return/raise, under a false test)."""
    dead: set[int] = set()
    for node in walk_own([root], into_scopes=True):
        if id(node) in dead:
            dead.update(id(child) for child in ast.iter_child_nodes(node))
            continue
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                _dead_after_exit(block, dead)
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            known, value = fold(node.test)
            if known:
                if not value:
                    _mark(node.body if isinstance(node.body, list) else [node.body], dead)
                elif not isinstance(node, ast.While):
                    _mark(node.orelse if isinstance(node.orelse, list) else [node.orelse], dead)
        elif isinstance(node, ast.BoolOp):
            for i, value_node in enumerate(node.values[:-1]):
                known, value = fold(value_node)
                if known and (not value if isinstance(node.op, ast.And) else value):
                    _mark(node.values[i + 1:], dead)
                    break
    return dead


def _dead_after_exit(block: list[ast.stmt], dead: set[int]) -> None:
    for i, stmt in enumerate(block):
        if isinstance(stmt, (ast.Return, ast.Raise, ast.Break, ast.Continue)):
            _mark(block[i + 1:], dead)
            return


def _mark(nodes: list[ast.AST], dead: set[int]) -> None:
    for node in nodes:
        dead.add(id(node))


def finally_exits(root: ast.AST) -> list[ast.stmt]:
    """``return``/``break``/``continue`` statements in ``finally`` blocks under ``root`` (they end the
    error in flight); a ``break``/``continue`` of a loop inside the ``finally`` is not one."""
    found: list[ast.stmt] = []
    for node in walk_own([root], into_scopes=True):
        if not isinstance(node, ast.Try) and type(node).__name__ != "TryStar":
            continue
        stack: list[tuple[ast.AST, int]] = [(stmt, 0) for stmt in node.finalbody]
        while stack:
            inner, loops = stack.pop()
            if isinstance(inner, ast.Return) or (isinstance(inner, (ast.Break, ast.Continue)) and not loops):
                found.append(inner)
            if isinstance(inner, _SCOPES):
                continue
            depth = loops + 1 if isinstance(inner, _LOOPS) else loops
            stack.extend((child, depth) for child in ast.iter_child_nodes(inner))
    return found
