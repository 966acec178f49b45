"""Which exception families a retry catches for observed exception types (no LibCST: analysis uses it).

    retry_plan(("ConnectionResetError", "HTTPError")) → (["ConnectionError"], ["urllib.error"], True, [])
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["retry_plan", "retry_covers"]

# exception name → (module to import or "", expression naming the family to retry)
_FAMILY: dict[str, tuple[str, str]] = {
    **{name: ("", "ConnectionError") for name in (
        "ConnectionError", "ConnectionResetError", "ConnectionAbortedError", "ConnectionRefusedError",
        "BrokenPipeError", "RemoteDisconnected")},
    **{name: ("", "TimeoutError") for name in ("TimeoutError", "timeout", "ReadTimeout", "socket.timeout")},
    "IncompleteRead": ("http.client", "http.client.IncompleteRead"),
    "BadStatusLine": ("http.client", "http.client.BadStatusLine"),
    "gaierror": ("socket", "socket.gaierror"),
}
_HTTP_NAMES = ("HTTPError", "URLError")


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1] if name != "socket.timeout" else name


def retry_plan(error_types: tuple[str, ...]) -> tuple[list[str], list[str], bool, list[str]]:
    """(family expressions, modules to import, needs the HTTP predicate, ignored types) — pure."""
    families: list[str] = []
    modules: list[str] = []
    http = False
    ignored: list[str] = []
    for raw in error_types:
        name = raw if raw in _FAMILY else _short(raw)
        if name in _FAMILY:
            module, expr = _FAMILY[name]
            if expr not in families:
                families.append(expr)
            if module and module not in modules:
                modules.append(module)
        elif name in _HTTP_NAMES:
            http = True
        else:
            ignored.append(raw)
    if http and "urllib.error" not in modules:
        modules.append("urllib.error")
    return families, modules, http, ignored


def retry_covers(covers: Sequence[str], error_type: str) -> bool:
    """Whether a retry catching ``covers`` (family expressions, "HTTP" for 5xx/429) already retries ``error_type``."""
    families, _, http, _ = retry_plan((error_type,))
    return (bool(families) or http) and set(families) <= set(covers) and (not http or "HTTP" in covers)
