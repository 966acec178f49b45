"""Which decorators retry, cache or time a function, and the exact retry astroagent writes.

Static facts ("it already retries / caches / is instrumented") and the fix rules ("skip: already
there", "widen our own retry") both ask here. The retry rule writes its decorator with
``retry_decorator`` and static facts read it back with ``own_retry``: one format, in one module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import libcst as cst
from libcst.helpers import get_full_name_for_node

__all__ = ["RETRY_LIBRARIES", "RETRY_DECORATORS", "CACHE_DECORATORS", "GUARDED_CACHE", "INSTRUMENT",
           "HTTP_PREDICATE", "is_retry_decorator", "is_cache_decorator", "is_instrument", "OwnRetry", "own_retry",
           "retry_condition", "retry_decorator"]

RETRY_LIBRARIES = ("tenacity", "backoff", "retrying", "retry", "stamina")
RETRY_DECORATORS = ("retry", "on_exception", "on_predicate", "retry_call", "retry_context")
GUARDED_CACHE = "_astroagent_lru_cache"     # the caching rule's helper for arguments not provably hashable
CACHE_DECORATORS = frozenset({GUARDED_CACHE, "lru_cache", "cache", "cached", "cached_property", "memoize",
                              "memoized", "cachedmethod", "ttl_cache", "lfu_cache", "fifo_cache", "rr_cache",
                              "mru_cache"})
INSTRUMENT = "instrument"
HTTP_PREDICATE = "_astroagent_retryable_http_error"


def is_retry_decorator(name: str) -> bool:
    """``name`` (dotted or resolved, ``tenacity.retry``) is a retry decorator."""
    parts = name.split(".")
    return parts[0] in RETRY_LIBRARIES or parts[-1] in RETRY_DECORATORS


def is_cache_decorator(name: str) -> bool:
    """``name`` (``functools.lru_cache``, ``cachetools.func.ttl_cache``, ``cache``) is a cache decorator."""
    parts = name.split(".")
    return parts[-1] in CACHE_DECORATORS or parts[0] == "cachetools"


def is_instrument(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == INSTRUMENT


def retry_condition(families: Sequence[str], http: bool) -> str:
    """The ``retry=`` expression for these families (and the HTTP 5xx/429 predicate)."""
    conditions = []
    if families:
        inner = families[0] if len(families) == 1 else "(" + ", ".join(families) + ")"
        conditions.append(f"tenacity.retry_if_exception_type({inner})")
    if http:
        conditions.append(f"tenacity.retry_if_exception({HTTP_PREDICATE})")
    return " | ".join(conditions)


def retry_decorator(families: Sequence[str], http: bool, *, attempts: int, max_delay: float, initial_wait: float,
                    max_wait: float, jitter: float) -> cst.Decorator:
    """The bounded tenacity retry with jitter astroagent writes (``own_retry`` recognises exactly this)."""
    source = (
        "@tenacity.retry(\n"
        f"    retry={retry_condition(families, http)},\n"
        f"    stop=tenacity.stop_after_attempt({attempts}) | tenacity.stop_after_delay({max_delay:g}),\n"
        f"    wait=tenacity.wait_exponential(multiplier={initial_wait:g}, max={max_wait:g})"
        f" + tenacity.wait_random(0, {jitter:g}),\n"
        "    reraise=True,\n"
        ")\n"
        "def _(): pass\n"
    )
    return cst.ensure_type(cst.parse_statement(source), cst.FunctionDef).decorators[0]


# the stop= and wait= retry_decorator writes; anything else is not ours
_OWN_STOP = re.compile(r"tenacity\.stop_after_attempt\(\d+\) \| tenacity\.stop_after_delay\((\d+(?:\.\d+)?)\)")
_OWN_WAIT = re.compile(r"tenacity\.wait_exponential\(multiplier=[\d.]+, max=[\d.]+\)"
                       r" \+ tenacity\.wait_random\(0, [\d.]+\)")


class OwnRetry(NamedTuple):
    families: list[str]     # what its retry_if_exception_type catches
    http: bool              # it also retries through the HTTP predicate
    max_delay: float        # its stop_after_delay


def own_retry(decorator: cst.Decorator) -> OwnRetry | None:
    """The retry astroagent wrote — ``@tenacity.retry(retry=tenacity.retry_if_exception_type(...)
    [| tenacity.retry_if_exception(<predicate>)], stop=..., wait=..., reraise=True)`` — else None
    (a retry someone else wrote is never edited)."""
    call = decorator.decorator
    if not isinstance(call, cst.Call) or get_full_name_for_node(call.func) != "tenacity.retry":
        return None
    kwargs = {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}
    if set(kwargs) != {"retry", "stop", "wait", "reraise"} or len(kwargs) != len(call.args) \
            or not (isinstance(kwargs["reraise"], cst.Name) and kwargs["reraise"].value == "True"):
        return None
    code = cst.Module(body=[]).code_for_node
    stop = _OWN_STOP.fullmatch(code(kwargs["stop"]))
    if stop is None or not _OWN_WAIT.fullmatch(code(kwargs["wait"])):
        return None     # same shape, other policy (e.g. stop_never): somebody else's retry
    parts: list[cst.BaseExpression] = []
    expr = kwargs["retry"]
    while isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        parts.append(expr.right)
        expr = expr.left
    parts.append(expr)
    families: list[str] = []
    http = False
    for part in parts:
        if not isinstance(part, cst.Call) or len(part.args) != 1:
            return None
        name, value = get_full_name_for_node(part.func), part.args[0].value
        if name == "tenacity.retry_if_exception" and get_full_name_for_node(value) == HTTP_PREDICATE:
            http = True
        elif name == "tenacity.retry_if_exception_type":
            items = value.elements if isinstance(value, cst.Tuple) else [cst.Element(value)]
            for item in items:
                if item.__class__ is not cst.Element or not isinstance(item.value, (cst.Name, cst.Attribute)):
                    return None        # a call, subscript or starred item: not a family this rule wrote
                families.append(get_full_name_for_node(item.value) or "")
        else:
            return None
    return OwnRetry(sorted(set(families), key=families.index), http, float(stop.group(1)))
