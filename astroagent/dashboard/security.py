"""Who may change what: the token, the CSRF checks and the Host check of the dashboard.

- Binding to loopback needs no login; a token is still generated and put in every form, so a
  page of another site cannot post here (it cannot read the token) — plus an Origin check.
- Binding to any other address (or giving ``--token``) needs the token to see anything: a login
  form sets an HttpOnly, SameSite=Strict session cookie derived from it.
- Every state-changing request carries the token in a form field or the ``X-Astroagent-Token``
  header, never in the URL; GET requests change nothing.
- On loopback the Host header must name loopback (a DNS-rebinding page gets a 403).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from astroagent.errors import UsageError

__all__ = ["DashboardSettings", "is_loopback", "TOKEN_HEADER", "SESSION_COOKIE", "Refusal", "check_host",
           "check_origin", "session_value"]

TOKEN_HEADER = "x-astroagent-token"
SESSION_COOKIE = "astroagent_session"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DashboardSettings:
    """Where the dashboard reads, where it listens, and its token."""

    data_dir: Path
    workspace: Path | None
    host: str
    port: int
    read_only: bool
    token: str
    login_required: bool
    token_generated: bool

    @classmethod
    def create(cls, *, data_dir: Path, workspace: Path | None, host: str = "127.0.0.1", port: int = 8750,
               read_only: bool = False, token: str | None = None) -> DashboardSettings:
        if token is not None and (len(token) < 8 or not token.isprintable() or token.strip() != token):
            raise UsageError("--token must be at least 8 printable characters without surrounding spaces")
        if not host.strip():
            raise UsageError("--host must not be empty")
        return cls(data_dir=Path(data_dir).resolve(), workspace=Path(workspace).resolve() if workspace else None,
                   host=host, port=port, read_only=read_only, token=token or secrets.token_urlsafe(24),
                   login_required=token is not None or not is_loopback(host), token_generated=token is None)

    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())


class Refusal(Exception):
    """A request the dashboard will not serve: status code and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def session_value(settings: DashboardSettings) -> str:
    """The session cookie: derived from the token, so the token itself never sits in a cookie."""
    return hmac.new(settings.token.encode(), b"astroagent-dashboard-session", hashlib.sha256).hexdigest()


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def check_host(settings: DashboardSettings, host_header: str | None) -> None:
    """On loopback only loopback names are served (against DNS rebinding)."""
    if not is_loopback(settings.host):
        return
    if not host_header or _host_name(host_header.lower()) not in _LOOPBACK_NAMES:
        raise Refusal(403, f"Host {host_header!r} is not this dashboard's address")


def check_origin(host_header: str | None, origin: str | None, fetch_site: str | None) -> None:
    """A state-changing request must come from a page of this dashboard."""
    if fetch_site and fetch_site not in ("same-origin", "none"):
        raise Refusal(403, f"cross-site request refused (Sec-Fetch-Site: {fetch_site})")
    if origin is not None and origin not in (f"http://{host_header}", f"https://{host_header}"):
        raise Refusal(403, f"cross-origin request refused (Origin {origin})")
