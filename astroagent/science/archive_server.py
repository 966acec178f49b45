"""A real HTTP data archive on loopback, with reproducible fault injection.

    GET /datasets        JSON list of {id, description, bytes, sha256, media_type}
    GET /datasets/<id>   the dataset's bytes (404 for an unknown id)
    GET /health          always answers (never faulted), for readiness checks

Faults (each at its rate, drawn from one seeded RNG in request order, so a sequential client
sees the same faults on every run): ``reset`` — abrupt close with SO_LINGER 0, the client
gets ConnectionResetError / RemoteDisconnected; ``stall`` — wait ``stall_seconds`` before
answering; ``error`` — a 500/502/503 answer; ``outage`` — start a window of
``outage_seconds`` in which every request gets 503. ``fault_rate`` is a shorthand: it adds
``fault_rate / 3`` to each of the reset, stall and error rates. ``set_faults`` changes the rates
while the archive serves (a degradation that starts at a chosen moment), the draws continuing.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from astroagent.config.models import ArchiveConfig
from astroagent.errors import UsageError
from astroagent.science.datasets import DATASETS, dataset_path

__all__ = ["ArchiveServer", "FaultPlan", "FAULT_KINDS"]

FAULT_KINDS = ("reset", "stall", "error", "outage")
_FAULT_FIELDS = {"fault_rate", "reset_rate", "stall_rate", "stall_seconds", "error_rate", "outage_rate",
                 "outage_seconds"}


def _rates(config: ArchiveConfig) -> dict[str, float]:
    """Each fault kind's rate per request; UsageError when they add up to more than 1."""
    share = config.fault_rate / 3.0
    rates = {"reset": config.reset_rate + share, "stall": config.stall_rate + share,
             "error": config.error_rate + share, "outage": config.outage_rate}
    total = sum(rates.values())
    if total > 1.0 + 1e-9:
        raise UsageError(f"archive fault rates add up to {total:.3f}; they must not exceed 1 "
                         f"(reset {rates['reset']:.3f}, stall {rates['stall']:.3f}, "
                         f"error {rates['error']:.3f}, outage {rates['outage']:.3f})")
    return rates


class FaultPlan:
    """Decides, per request, which fault (if any) to inject; pure apart from its seeded RNG and clock."""

    def __init__(self, config: ArchiveConfig, clock: Callable[[], float] = time.monotonic):
        self.rates = _rates(config)
        self.outage_seconds = config.outage_seconds
        self._rng = random.Random(config.seed)
        self._clock = clock
        self._outage_until = -1.0
        self._lock = threading.Lock()

    def set_rates(self, config: ArchiveConfig) -> None:
        """Take ``config``'s fault rates from the next request on; the seeded draws continue where
        they were (the same schedule on every run), and an outage under way runs its course."""
        rates = _rates(config)
        with self._lock:
            self.rates, self.outage_seconds = rates, config.outage_seconds

    def decide(self) -> tuple[str | None, int]:
        """(fault kind or None, HTTP status to use for an error answer)."""
        with self._lock:
            draw = self._rng.random()
            status = self._rng.choice((500, 502, 503))
            now = self._clock()
            if now < self._outage_until:
                return "outage", 503
            edge = 0.0
            for kind in FAULT_KINDS:
                edge += self.rates[kind]
                if draw < edge:
                    if kind == "outage":
                        self._outage_until = now + self.outage_seconds
                        return "outage", 503
                    return kind, status
            return None, 200


class _Handler(BaseHTTPRequestHandler):
    server_version = "astroagent-archive/1"
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that sends nothing cannot hold a thread for ever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the archive reports through stats(), not stderr

    @property
    def archive(self) -> "ArchiveServer":
        return self.server.archive  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, b'{"status": "ok"}', "application/json")
            return
        kind, status = self.archive._plan.decide()
        self.archive._count("requests")
        if kind is not None:
            self.archive._count(f"fault_{kind}")
        if kind == "reset":
            self._reset()
            return
        if kind == "stall":
            if self.archive._stopping.wait(self.archive.config.stall_seconds):
                self._reset()
                return
        elif kind in ("error", "outage"):
            reason = "archive outage" if kind == "outage" else "injected server error"
            self._send(status, orjson.dumps({"error": reason, "status": status}), "application/json")
            return
        self._route(path)

    def _route(self, path: str) -> None:
        if path == "/datasets":
            self._send(200, orjson.dumps(self.archive.catalog()), "application/json")
            return
        if path.startswith("/datasets/"):
            dataset_id = path[len("/datasets/"):]
            body = self.archive._body(dataset_id)
            if body is None:
                self._send(404, orjson.dumps({"error": f"unknown dataset {dataset_id!r}",
                                              "known": sorted(DATASETS)}), "application/json")
                return
            self.archive._count("served")
            self._send(200, body, DATASETS[dataset_id].media_type + "; charset=utf-8",
                       digest=self.archive.digest(dataset_id))
            return
        self._send(404, orjson.dumps({"error": f"no such path {path!r}"}), "application/json")

    def _send(self, status: int, body: bytes, media_type: str, *, digest: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        if digest is not None:
            self.send_header("X-Content-SHA256", digest)
        self.end_headers()
        self.wfile.write(body)

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST instead of FIN."""
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            sock.close()
        except OSError:
            pass
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    archive: "ArchiveServer"

    def __init__(self, *args: Any, **kwargs: Any):
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Wake every handler still blocked on a kept-alive connection, so no thread lingers."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.archive._count("handler_errors")  # a client that went away mid-answer; nothing to print


class ArchiveServer:
    """The archive as a context manager: ``with ArchiveServer(cfg) as url: ...`` or start()/stop()."""

    def __init__(self, config: ArchiveConfig | None = None, *, data_root: Path | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config or ArchiveConfig()
        self.data_root = data_root
        self._plan = FaultPlan(self.config, clock)
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._bodies: dict[str, tuple[bytes, str]] = {}   # dataset id -> (bytes, sha256), read once
        self.url: str | None = None

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._stats[key] += 1

    def _body(self, dataset_id: str) -> bytes | None:
        if dataset_id not in DATASETS:
            return None
        if dataset_id not in self._bodies:
            body = dataset_path(dataset_id, self.data_root).read_bytes()
            self._bodies[dataset_id] = (body, hashlib.sha256(body).hexdigest())
        return self._bodies[dataset_id][0]

    def digest(self, dataset_id: str) -> str | None:
        """SHA-256 of a dataset's bytes (computed once, with the first read)."""
        return self._bodies[dataset_id][1] if self._body(dataset_id) is not None else None

    def catalog(self) -> list[dict[str, Any]]:
        out = []
        for dataset_id, info in sorted(DATASETS.items()):
            body = self._body(dataset_id) or b""
            out.append({"id": dataset_id, "description": info.description, "bytes": len(body),
                        "sha256": self.digest(dataset_id), "media_type": info.media_type})
        return out

    def start(self) -> str:
        if self._server is not None:
            return self.url  # type: ignore[return-value]
        for dataset_id in DATASETS:  # fail at start, not per request, when a file is missing
            path = dataset_path(dataset_id, self.data_root)
            if not path.is_file():
                raise UsageError(f"archive data file missing: {path}")
        host = self.config.host
        server_cls = _Server
        if ":" in host:
            server_cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        try:
            self._server = server_cls((host, self.config.port), _Handler)
        except OSError as exc:
            raise UsageError(f"archive cannot listen on {host}:{self.config.port}: {exc.strerror or exc}") from None
        self._server.archive = self
        self._stopping.clear()
        port = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="astroagent-archive", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop promptly: stalled requests are cut off, the listening socket closed."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_open_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def set_faults(self, **rates: float) -> None:
        """Change fault fields (``reset_rate=0.6``, any ArchiveConfig fault field) while serving, e.g.
        an outage that begins at a chosen moment; the seeded draws continue. Unknown fields or rates
        adding up to more than 1: UsageError, and nothing changes."""
        unknown = sorted(set(rates) - _FAULT_FIELDS)
        if unknown:
            raise UsageError(f"not an archive fault field: {unknown[0]!r}; known: {', '.join(sorted(_FAULT_FIELDS))}")
        try:
            config = ArchiveConfig(**{**self.config.model_dump(), **rates})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UsageError(f"archive {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        self._plan.set_rates(config)
        self.config = config

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            faults = {kind: self._stats.get(f"fault_{kind}", 0) for kind in FAULT_KINDS}
            return {"requests": self._stats.get("requests", 0), "served": self._stats.get("served", 0),
                    "faults": faults, "faults_total": sum(faults.values()),
                    "handler_errors": self._stats.get("handler_errors", 0)}

    def __enter__(self) -> "ArchiveServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
