"""Which exception types are transient, and which family a retry names to catch each (no LibCST:
analysis imports it). The one table both sides read: patterns' classification calls a type transient
exactly when a retry can catch it somewhere, and the retry and breaker rules catch it through it.

    retry_plan(("ConnectionResetError", "HTTPError")) → (["ConnectionError"], ["urllib.error"], True, [])
    retry_plan(("MaxRetryError",), Scope(libraries={"urllib3"})).families → ["urllib3.exceptions.MaxRetryError"]

A type the table does not know may be the program's own class derived from one it does (``derived``:
class name → its nearest known base, from ``knowledge.hierarchy``): a retry catches that class as the
module binds it, else its base's family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Family", "Scope", "RetryPlan", "FAMILIES", "TRANSIENT_TYPES", "DETERMINISTIC_TYPES", "NEVER_RETRIED",
           "TIMEOUT_TYPES", "LIBRARIES", "retry_plan", "retry_covers", "is_transient_name"]


@dataclass(frozen=True)
class Family:
    """What a retry names to catch a type: ``expr`` (after importing ``module``), available always
    (builtins, stdlib) or only where the code imports ``library``; ``own``: the program's own class of
    that name, named as the module binds it; ``http``: urllib's HTTP errors, through a predicate that
    retries 5xx/429 and network-level URL errors only."""

    expr: str
    module: str = ""
    library: str = ""
    own: bool = False
    http: bool = False


def _std(expr: str) -> Family:
    return Family(expr, expr.rpartition(".")[0])


def _lib(library: str, expr: str) -> Family:
    return Family(expr, expr.rpartition(".")[0], library)


_CONNECTION, _TIMEOUT = _std("ConnectionError"), _std("TimeoutError")
_REQUESTS_TIMEOUT = _lib("requests", "requests.exceptions.Timeout")
_HTTPX_TIMEOUT, _HTTPX_TRANSPORT = _lib("httpx", "httpx.TimeoutException"), _lib("httpx", "httpx.TransportError")
_AIOHTTP = _lib("aiohttp", "aiohttp.ClientConnectionError")
_OWN = Family("", own=True)
_HTTP = Family("HTTP", "urllib.error", http=True)


def _urllib3(name: str) -> Family:
    return _lib("urllib3", f"urllib3.exceptions.{name}")


# exception type (as telemetry logs it: the class name) → the families that catch it, builtin/stdlib first
FAMILIES: Mapping[str, tuple[Family, ...]] = {
    "ConnectionError": (_CONNECTION, _lib("requests", "requests.exceptions.ConnectionError")),
    **{name: (_CONNECTION,) for name in ("ConnectionResetError", "ConnectionAbortedError", "ConnectionRefusedError",
                                         "BrokenPipeError", "RemoteDisconnected")},
    **{name: (_TIMEOUT,) for name in ("TimeoutError", "timeout", "socket.timeout")},
    "ReadTimeout": (_REQUESTS_TIMEOUT, _HTTPX_TIMEOUT),     # neither derives from the builtin TimeoutError
    "ConnectTimeout": (_REQUESTS_TIMEOUT, _HTTPX_TIMEOUT),
    "Timeout": (_REQUESTS_TIMEOUT,),
    "ChunkedEncodingError": (_lib("requests", "requests.exceptions.ChunkedEncodingError"),),
    **{name: (_HTTPX_TRANSPORT,) for name in ("ConnectError", "ReadError", "RemoteProtocolError")},
    "TimeoutException": (_HTTPX_TIMEOUT,),
    "ProtocolError": (_urllib3("ProtocolError"), _HTTPX_TRANSPORT),
    **{name: (_urllib3(name),) for name in ("ReadTimeoutError", "ConnectTimeoutError", "NewConnectionError",
                                            "MaxRetryError")},
    **{name: (_AIOHTTP,) for name in ("ClientConnectionError", "ClientConnectorError", "ClientOSError",
                                      "ServerDisconnectedError", "ServerTimeoutError")},
    "IncompleteRead": (_std("http.client.IncompleteRead"),),
    "BadStatusLine": (_std("http.client.BadStatusLine"),),
    "gaierror": (_std("socket.gaierror"),),
    "SSLEOFError": (_std("ssl.SSLEOFError"),),
    # no library defines these for a client: the program does (an archive client's own errors)
    **{name: (_OWN,) for name in ("ServiceUnavailable", "TooManyRequests", "TemporaryFailure", "ArchiveUnavailable")},
    "URLError": (_HTTP,),
    "HTTPError": (_HTTP,),
}
_BY_STATUS = frozenset({"HTTPError"})   # transient or not by its status code (the message), not by its type
TRANSIENT_TYPES = frozenset(FAMILIES) - _BY_STATUS
LIBRARIES = tuple(dict.fromkeys(f.library for fams in FAMILIES.values() for f in fams if f.library))
# what a call cut by its timeout raises (the retry widens ReadTimeout to the client library's timeout)
TIMEOUT_TYPES = ("TimeoutError", "ReadTimeout")

DETERMINISTIC_TYPES = frozenset({   # programming errors: the same input fails the same way
    "ZeroDivisionError", "KeyError", "TypeError", "ValueError", "IndexError", "AttributeError",
    "NameError", "AssertionError", "NotImplementedError", "ImportError", "ModuleNotFoundError",
    "SyntaxError", "UnboundLocalError", "RecursionError", "LookupError", "ArithmeticError",
    "OverflowError", "UnicodeDecodeError", "UnicodeEncodeError", "FloatingPointError",
})
NEVER_RETRIED = DETERMINISTIC_TYPES | {   # and these, which a retry only repeats
    "UnicodeError", "FileNotFoundError", "PermissionError", "IsADirectoryError", "NotADirectoryError",
    "FileExistsError", "JSONDecodeError", "StopIteration", "MemoryError", "KeyboardInterrupt", "SystemExit",
}


@dataclass(frozen=True)
class Scope:
    """What the code to retry can name: the top-level packages it imports, and the exception classes it
    defines or imports (class name → the expression it is bound to)."""

    libraries: frozenset[str] = frozenset()
    names: Mapping[str, str] = field(default_factory=dict)


class RetryPlan(NamedTuple):
    families: list[str]     # expressions for retry_if_exception_type, in a stable order
    modules: list[str]      # to import for them
    http: bool              # also retry urllib's HTTP errors through the 5xx/429 predicate
    ignored: list[str]      # observed types no family here catches


def _short(raw: str) -> str:
    return raw.rsplit(".", 1)[-1]


def _base(raw: str, derived: Mapping[str, str]) -> str | None:
    """The known base of the program's own class ``raw`` (None: the table knows ``raw`` itself, or nothing does)."""
    if FAMILIES.get(raw) or FAMILIES.get(_short(raw)):
        return None
    return derived.get(raw) or derived.get(_short(raw))


def _families(raw: str, derived: Mapping[str, str] = {}, scope: Scope | None = None) -> tuple[Family, ...]:
    """What catches ``raw``: the table's families, else (a derived class) the class itself where ``scope``
    names it, else its base's families."""
    base = _base(raw, derived)
    if base is None:
        return FAMILIES.get(raw) or FAMILIES.get(_short(raw), ())
    inherited = () if _short(base) in NEVER_RETRIED else _families(base)
    inherited = tuple(f for f in inherited if f.expr == base) or inherited   # requests.exceptions.ConnectionError
    if inherited and not any(f.http for f in inherited) and scope is not None and _short(raw) in scope.names:
        return (_OWN,)      # HTTP errors stay behind the 5xx/429 predicate (a 404 is an answer)
    return inherited


def retry_plan(error_types: Sequence[str], scope: Scope = Scope(), derived: Mapping[str, str] = {}) -> RetryPlan:
    """The families to retry for ``error_types`` in code that can name ``scope`` — pure.

    Builtin and stdlib families first, then each imported client library's, then the program's own
    classes: the generated decorator is the same whatever order the types were observed in."""
    families: list[str] = []
    modules: list[str] = []
    handled: set[str] = set()
    http = False

    def take(raw: str, expr: str, module: str) -> None:
        handled.add(raw)
        if expr not in families:
            families.append(expr)
        if module and module not in modules:
            modules.append(module)

    for raw in error_types:
        for family in _families(raw, derived, scope):
            if family.http:
                http = True
                handled.add(raw)
            elif not family.library and not family.own:
                take(raw, family.expr, family.module)
    if http and "urllib.error" not in modules:
        modules.append("urllib.error")
    for library in (lib for lib in LIBRARIES if lib in scope.libraries):
        for raw in error_types:
            for family in _families(raw, derived, scope):
                if family.library == library:
                    take(raw, family.expr, family.module)
    for raw in error_types:
        bound = scope.names.get(_short(raw)) or scope.names.get(_short(_base(raw, derived) or raw))
        if bound and any(family.own for family in _families(raw, derived, scope)):
            take(raw, bound, "")
    return RetryPlan(families, modules, http, [raw for raw in error_types if raw not in handled])


def retry_covers(covers: Sequence[str], error_type: str, derived: Mapping[str, str] = {}) -> bool:
    """Whether a retry catching ``covers`` (family expressions, "HTTP" for 5xx/429) already retries ``error_type``
    (a derived class: the class itself or its base)."""
    short = _short(error_type)
    if (base := _base(error_type, derived)) is not None:
        return any(_short(c) == short for c in covers) or retry_covers(covers, base)
    families, _, http, _ = retry_plan((error_type,))
    if families or http:
        return set(families) <= set(covers) and (not http or "HTTP" in covers)
    return any(f.library and f.expr in covers or f.own and any(_short(c) == short for c in covers)
               for f in _families(error_type))


def is_transient_name(name: str, derived: Mapping[str, str] = {}) -> bool:
    """Whether a retry or breaker can catch ``name`` in some code (builtin, stdlib, a client library, its own,
    or the program's class derived from one of these)."""
    return bool(_families(name, derived))
