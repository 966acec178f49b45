"""Which calls reach the network, how each takes its timeout, and whether it may write (no LibCST).

Static facts report a call here without a timeout; the timeout rule adds one where this table says
and retries only calls that cannot write. One table, so a call the facts flag is a call the rule fixes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["NetworkCall", "NETWORK_CALLS", "NETWORK_MODULES", "WRITE_METHODS", "timeout_passed", "is_network"]


@dataclass(frozen=True)
class NetworkCall:
    """``timeout_at``: index of the positional parameter that is the timeout (None: keyword only);
    ``writes``: a retry could repeat a side effect (None: only when it sends data, as urlopen does)."""

    timeout_at: int | None
    writes: bool | None


_READS = ("get", "head", "options")
_WRITES = ("post", "put", "patch", "delete", "request")   # request: the method is an argument
NETWORK_CALLS: dict[str, NetworkCall] = {
    "urllib.request.urlopen": NetworkCall(2, None),
    "http.client.HTTPConnection": NetworkCall(2, True),
    # Python 3.11: (host, port, key_file, cert_file, timeout, ...); 3.12+: timeout is keyword only, so
    # five positional arguments pass a timeout on 3.11 and are an error on 3.12: index 4 is right for both
    "http.client.HTTPSConnection": NetworkCall(4, True),
    "socket.create_connection": NetworkCall(1, True),   # raw connections: the protocol on top is unknown
    **{f"{lib}.{verb}": NetworkCall(None, False) for lib in ("requests", "httpx") for verb in _READS},
    **{f"{lib}.{verb}": NetworkCall(None, True) for lib in ("requests", "httpx") for verb in _WRITES},
    "httpx.stream": NetworkCall(None, True),
    "urllib3.request": NetworkCall(None, True),
}
# a call into these modules reaches the network even when it is not in NETWORK_CALLS (impurity)
NETWORK_MODULES = ("socket", "ssl", "requests", "urllib.request", "httpx", "http.client", "urllib3", "aiohttp",
                   "ftplib", "smtplib")
# methods that write on any receiver (``session.post(...)``, ``client.delete(...)``)
WRITE_METHODS = ("post", "put", "patch", "delete")


def is_network(name: str) -> bool:
    """Whether the resolved call ``name`` reaches the network."""
    return name in NETWORK_CALLS or any(name == m or name.startswith(m + ".") for m in NETWORK_MODULES)


def timeout_passed(call: NetworkCall, positional: int, keywords: Iterable[str], starred: bool) -> bool | None:
    """Whether a call with ``positional`` positional arguments and these keywords passes a timeout;
    None when ``*args``/``**kwargs`` hide it (neither side can tell)."""
    if "timeout" in keywords:
        return True
    if call.timeout_at is not None and positional > call.timeout_at:
        return True
    return None if starred else False
