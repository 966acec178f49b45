"""A real OpenAI-compatible chat server on 127.0.0.1, scripted per test.

It answers ``POST /v1/chat/completions`` (and ``GET /v1/models``) over real HTTP in a
background thread, so the LLM engine is tested through the genuine ``openai`` client.

Usage::

    from fake_llm_server import FakeLLMServer, Reply, fenced   # tests/ is on sys.path under pytest

    with FakeLLMServer([Reply.error(500), Reply.code("def f():\\n    return 1\\n")]) as server:
        config = LabTechnicianConfig(llm=LLMConfig(base_url=server.base_url))   # ends in /v1
        ...
        server.requests[-1].messages      # what was asked (parsed JSON body)

Replies are used in order; the last one is repeated once the script runs out (an LLM that
always answers the same). ``replies`` may also be a callable ``(RecordedRequest) -> Reply``.
A slow reply waits on an event that ``stop()`` sets, so closing the server never hangs.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeLLMServer", "Reply", "RecordedRequest", "fenced"]


def fenced(code: str, lang: str = "python") -> str:
    """``code`` inside one Markdown fence, the way chat models return code."""
    return f"```{lang}\n{code.rstrip()}\n```"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an assistant message, an HTTP error, or raw bytes; optionally late."""

    status: int = 200
    content: str | None = ""
    finish_reason: str = "stop"
    raw: bytes | None = None                      # sent verbatim instead of a completion
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0                            # seconds before the answer is sent

    @classmethod
    def text(cls, content: str | None, *, finish_reason: str = "stop") -> Reply:
        return cls(content=content, finish_reason=finish_reason)

    @classmethod
    def code(cls, code: str, *, prose: str = "Here is the improved function:") -> Reply:
        return cls(content=f"{prose}\n\n{fenced(code)}\n")

    @classmethod
    def error(cls, status: int, message: str = "scripted failure", *,
              headers: Mapping[str, str] | None = None) -> Reply:
        body = json.dumps({"error": {"message": message, "type": "server_error", "code": status}})
        return cls(status=status, raw=body.encode(), headers=dict(headers or {}))

    @classmethod
    def malformed(cls, body: bytes = b'{"choices": [{"message": {"content": "```python\\ndef') -> Reply:
        return cls(raw=body)

    @classmethod
    def huge(cls, chars: int) -> Reply:
        return cls(content=fenced("x = 1\n" + "#" * chars))

    def slow(self, seconds: float) -> Reply:
        """This reply, sent only after ``seconds``."""
        return Reply(**{**self.__dict__, "delay": seconds})


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    json: Any                                     # the parsed body, or None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.json or {}).get("messages", []))

    @property
    def prompt_text(self) -> str:
        """Every message's content, joined: what a test greps for."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


ReplySource = Iterable["Reply | str"] | Callable[[RecordedRequest], "Reply | str"]


class FakeLLMServer:
    """A threaded HTTP server on an ephemeral loopback port; a context manager."""

    def __init__(self, replies: ReplySource = (), *, model: str = "fake-model") -> None:
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._script: Callable[[RecordedRequest], Reply | str]
        if callable(replies):
            self._script = replies
        else:
            queue = list(replies) or [Reply.text("")]
            counter = itertools.count()
            self._script = lambda _req: queue[min(next(counter), len(queue) - 1)]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-llm", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port; late replies still waiting are dropped. Safe to call twice or unstarted."""
        self._stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------
    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            reply = self._script(request)
        return Reply.text(reply) if isinstance(reply, str) else reply

    def _completion(self, request: RecordedRequest, reply: Reply) -> bytes:
        body = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": (request.json or {}).get("model", self.model),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }],
            "usage": {"prompt_tokens": len(request.prompt_text) // 4,
                      "completion_tokens": len(reply.content or "") // 4,
                      "total_tokens": (len(request.prompt_text) + len(reply.content or "")) // 4},
        }
        return json.dumps(body).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      headers: Mapping[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to do

            def _record(self) -> RecordedRequest:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                return RecordedRequest(self.command, self.path, headers, parsed)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    body = {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                    self._send(200, json.dumps(body).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                request = self._record()
                if request.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                reply = server._next_reply(request)
                if reply.delay and server._stopping.wait(reply.delay):
                    return  # shutting down: drop the late answer
                body = reply.raw if reply.raw is not None else server._completion(request, reply)
                self._send(reply.status, body, reply.content_type, reply.headers)

        return Handler
