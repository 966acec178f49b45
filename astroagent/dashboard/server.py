"""Serving the dashboard: in the foreground (``astroagent dashboard``) or on a thread beside a
running pipeline (``astroagent run --dashboard``), with uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from astroagent.dashboard.security import DashboardSettings
from astroagent.errors import UsageError

__all__ = ["DashboardSettings", "DashboardThread", "serve_forever", "announce"]


def _server(settings: DashboardSettings, sock: socket.socket):
    import uvicorn

    from astroagent.dashboard.app import create_app

    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    return server, [sock]


def _bind(settings: DashboardSettings) -> socket.socket:
    """Bind first, so a port in use is one clear line, and port 0 gives a free one."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, family, socket.SOCK_STREAM)
        sock = socket.socket(infos[0][0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(infos[0][4])
    except OSError as exc:
        raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def announce(settings: DashboardSettings, port: int) -> list[str]:
    """What to tell the person starting it: the address, and a generated token once."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    lines = [f"dashboard on http://{host}:{port}/ ({'read-only' if settings.read_only else 'with controls'})"]
    if settings.login_required and settings.token_generated:
        lines.append(f"dashboard token (shown once): {settings.token}")
    return lines


class DashboardThread:
    """uvicorn on a daemon thread; ``port`` is known as soon as ``start`` returns."""

    def __init__(self, settings: DashboardSettings):
        self.settings = settings
        self._sock = _bind(settings)
        self.port = self._sock.getsockname()[1]
        self._server, self._socks = _server(settings, self._sock)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": self._socks},
                                        name="astroagent-dashboard", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> DashboardThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> DashboardThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(settings: DashboardSettings, *, say: Callable[[str], None]) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn's own signal handling in the main thread)."""
    sock = _bind(settings)
    server, socks = _server(settings, sock)
    for line in announce(settings, sock.getsockname()[1]):
        say(line)
    try:
        server.run(sockets=socks)
    finally:
        sock.close()
