"""Can a cache key on these arguments, and can a cached result be handed out again? (Static, by annotation.)

An argument is hashable only when its annotation (or a literal default) says so; a result is
immutable only when its return annotation names immutable values only.
"""

from __future__ import annotations

import libcst as cst
from libcst.helpers import get_full_name_for_node

__all__ = ["param_hashability", "immutable_return"]

_HASHABLE = {"int", "float", "complex", "str", "bool", "bytes", "None", "tuple", "Tuple", "frozenset",
             "FrozenSet", "Hashable", "Decimal", "Fraction", "date", "datetime", "time", "timedelta", "Path",
             "PurePath", "PosixPath", "PurePosixPath", "type", "Type", "Enum", "IntEnum", "StrEnum"}
_HASHABLE_GENERICS = {"tuple", "Tuple", "Optional", "Union", "frozenset", "FrozenSet", "type", "Type",
                      "Annotated"}


def _hashable_annotation(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        try:
            text = expr.evaluated_value if isinstance(expr, cst.SimpleString) else None
            return isinstance(text, str) and _hashable_annotation(cst.parse_expression(text))
        except Exception:
            return False
    if isinstance(expr, cst.Name):
        return expr.value in _HASHABLE
    if isinstance(expr, cst.Attribute):
        return expr.attr.value in _HASHABLE
    if isinstance(expr, cst.Ellipsis):
        return True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        return _hashable_annotation(expr.left) and _hashable_annotation(expr.right)
    if isinstance(expr, cst.Subscript):
        base = get_full_name_for_node(expr.value) or ""
        short = base.rsplit(".", 1)[-1]
        if short == "Literal":
            return True
        if short not in _HASHABLE_GENERICS:
            return False
        elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
        if short == "Annotated":
            elements = elements[:1]
        return all(_hashable_annotation(e) for e in elements)
    return False


def _hashable_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False", "None")
    if isinstance(expr, cst.UnaryOperation):
        return _hashable_literal(expr.expression)
    if isinstance(expr, cst.Tuple):
        return all(_hashable_literal(e.value) for e in expr.elements)
    return False


_UNHASHABLE = {"list", "List", "dict", "Dict", "set", "Set", "bytearray", "ndarray", "DataFrame", "Series",
               "MutableSequence", "MutableMapping", "MutableSet", "deque", "defaultdict", "OrderedDict", "Counter",
               "array", "ArrayLike", "NDArray"}


def _names_in(expr: cst.BaseExpression) -> set[str]:
    class _Names(cst.CSTVisitor):
        found: set[str] = set()

        def visit_Name(self, node: cst.Name) -> None:
            self.found.add(node.value)

    names = _Names()
    names.found = set()
    expr.visit(names)
    return names.found


def param_hashability(node: cst.FunctionDef, *, skip_first: bool = False) -> tuple[list[str], list[str]]:
    """(reasons an argument is surely unhashable, names of arguments whose hashability is unknown)."""
    p = node.params
    params = [*p.posonly_params, *p.params]
    if skip_first and params:
        params = params[1:]
    params += list(p.kwonly_params)
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            params.append(star)
    unhashable: list[str] = []
    unknown: list[str] = []
    for param in params:
        name = param.name.value
        default = param.default
        if default is not None and isinstance(default, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp,
                                                         cst.SetComp)):
            unhashable.append(f"argument {name} has a mutable default")
            continue
        if default is not None and isinstance(default, cst.Call) and \
                get_full_name_for_node(default.func) in ("list", "dict", "set", "bytearray"):
            unhashable.append(f"argument {name} has a mutable default")
            continue
        if param.annotation is None:
            if default is None or not _hashable_literal(default):
                unknown.append(name)
            continue
        annotation = param.annotation.annotation
        if _hashable_annotation(annotation):
            continue
        if isinstance(annotation, cst.SimpleString):
            try:
                annotation = cst.parse_expression(str(annotation.evaluated_value))
            except Exception:
                unknown.append(name)
                continue
        if _names_in(annotation) & _UNHASHABLE:
            shown = cst.Module([]).code_for_node(param.annotation.annotation)
            unhashable.append(f"argument {name}: {shown} is not hashable")
        else:
            unknown.append(name)
    return unhashable, unknown


_IMMUTABLE_RETURNS = {"int", "float", "complex", "str", "bytes", "bool", "None", "frozenset", "Decimal",
                      "Fraction", "date", "datetime", "timedelta"}


def immutable_return(node: cst.FunctionDef) -> bool:
    """True when the return annotation names only immutable values (a cached result cannot be changed)."""
    if node.returns is None:
        return False
    names = _names_in(node.returns.annotation)
    allowed = _IMMUTABLE_RETURNS | {"Optional", "Union", "Literal", "tuple", "Tuple", "typing"}
    return bool(names) and names <= allowed
