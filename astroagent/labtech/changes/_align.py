"""Pair the statements of two versions of one block (module, class or function body).

Definitions pair by name, ``from m import …`` by module (it may gain names), everything else by
its exact syntax tree; what is left over was removed or added. Both kinds of change start here.
"""

from __future__ import annotations

import ast

__all__ = ["align", "same", "key_of", "param_list", "params_kept", "render_params"]

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def key_of(stmt: ast.stmt) -> tuple:
    if isinstance(stmt, _DEFS):
        return ("def", stmt.name)
    if isinstance(stmt, ast.ImportFrom):
        return ("from", stmt.module, stmt.level)
    return ("stmt", ast.dump(stmt))


def same(a: ast.AST | None, b: ast.AST | None) -> bool:
    """Equal syntax trees (positions and comments aside)."""
    if a is None or b is None:
        return a is b
    return ast.dump(a) == ast.dump(b)


def align(old: list[ast.stmt], new: list[ast.stmt]
          ) -> tuple[list[tuple[ast.stmt, ast.stmt]], list[ast.stmt], list[ast.stmt]]:
    """(pairs in order, old statements with no partner, new statements with no partner)."""
    new_keys = [key_of(s) for s in new]
    pairs: list[tuple[ast.stmt, ast.stmt]] = []
    removed: list[ast.stmt] = []
    added: list[ast.stmt] = []
    cursor = 0
    for stmt in old:
        key = key_of(stmt)
        try:
            j = new_keys.index(key, cursor)
        except ValueError:
            removed.append(stmt)
            continue
        added.extend(new[cursor:j])
        pairs.append((stmt, new[j]))
        cursor = j + 1
    added.extend(new[cursor:])
    return pairs, removed, added


def param_list(args: ast.arguments) -> list[tuple[str, str, str | None, str | None]]:
    """(name, kind, default, annotation) of every parameter, in order."""
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out = []
    for i, arg in enumerate(positional):
        kind = "positional-only" if i < len(args.posonlyargs) else "positional"
        out.append((arg.arg, kind, _dump(defaults[i]), _dump(arg.annotation)))
    if args.vararg:
        out.append((args.vararg.arg, "*args", None, _dump(args.vararg.annotation)))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append((arg.arg, "keyword-only", _dump(default), _dump(arg.annotation)))
    if args.kwarg:
        out.append((args.kwarg.arg, "**kwargs", None, _dump(args.kwarg.annotation)))
    return out


def _dump(node: ast.AST | None) -> str | None:
    return ast.dump(node) if node is not None else None


def params_kept(old: ast.arguments, new: ast.arguments) -> bool:
    """Every old parameter is still there, in order, same kind and default; additions have literal defaults."""
    olds, news = param_list(old), param_list(new)
    defaults = {id(d) for d in (*new.defaults, *new.kw_defaults) if isinstance(d, ast.Constant)}
    literal = {arg.arg for arg, d in zip(new.kwonlyargs, new.kw_defaults) if d is not None and id(d) in defaults}
    positional = new.posonlyargs + new.args
    offset = len(positional) - len(new.defaults)
    literal |= {positional[offset + i].arg for i, d in enumerate(new.defaults) if id(d) in defaults}
    index = 0
    for param in news:
        if index < len(olds) and param == olds[index]:
            index += 1
        elif param[0] not in literal or param[3] is not None:
            return False
    return index == len(olds)


def render_params(args: ast.arguments) -> str:
    return "(" + ", ".join(name + ("=…" if default else "") for name, _, default, _ in param_list(args)) + ")"
