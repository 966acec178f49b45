"""One chat completion against any OpenAI-compatible endpoint, bounded in time, size and retries.

The ``openai`` client does the HTTP; its own retries are off so that ours are explicit:
only connection errors, timeouts, 5xx and 429 are retried, with jittered exponential
backoff (``Retry-After`` honoured up to a cap) through an injected ``sleep``. The body is
read as a stream and abandoned once it passes the size cap or the time budget, so a
hostile server can neither flood memory nor hold the caller for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from astroagent.errors import LLMError

__all__ = [
    "Endpoint",
    "ChatAnswer",
    "Attempt",
    "TransientLLMError",
    "LLMExtraMissing",
    "EXTRA_MISSING",
    "DEFAULT_OPENAI_URL",
    "resolve_endpoint",
    "redact_url",
    "chat_completion",
]

EXTRA_MISSING = "the llm extra is not installed (pip install 'astroagent[llm]')"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "not-needed"          # Ollama, vLLM, llama.cpp accept any key
MAX_RETRY_AFTER_SECONDS = 30.0
_ERROR_SNIPPET = 200


class TransientLLMError(LLMError):
    """A failure worth another attempt: connection, timeout, 5xx, 429."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMExtraMissing(LLMError):
    def __init__(self) -> None:
        super().__init__(EXTRA_MISSING)


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str = field(repr=False)
    key_env: str | None                 # where the key came from; None = placeholder


@dataclass(frozen=True)
class Attempt:
    number: int
    seconds: float
    outcome: str                        # "ok" or the error, in words


@dataclass(frozen=True)
class ChatAnswer:
    content: str
    finish_reason: str | None
    usage: dict[str, Any]
    body_bytes: int
    attempts: tuple[Attempt, ...]


def redact_url(url: str) -> str:
    """``url`` without user:password or query (where keys sometimes hide); never raises."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<unparseable URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_url(url: str) -> None:
    """LLMError unless ``url`` is an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise LLMError(f"the LLM endpoint {redact_url(url)!r} is not an http(s) URL with a host and port")


def resolve_endpoint(base_url: str | None, api_key_env: str, env: Mapping[str, str]) -> Endpoint | None:
    """The endpoint to call: config URL, else ``OPENAI_BASE_URL``, else OpenAI itself when a key is set."""
    key = (env.get(api_key_env) or "").strip()
    url = (base_url or "").strip() or (env.get("OPENAI_BASE_URL") or "").strip()
    if not url:
        if not key:
            return None
        url = DEFAULT_OPENAI_URL
    return Endpoint(base_url=url.rstrip("/"), api_key=key or PLACEHOLDER_KEY, key_env=api_key_env if key else None)


def _transport_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)


def _content_of(message: Any) -> str | None:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers send content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return content if isinstance(content, str) else None


def _parse_body(body: bytes) -> tuple[str, str | None, dict[str, Any]]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise LLMError(f"the endpoint's answer is not valid JSON ({exc.msg}, {len(body)} bytes)") from exc
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMError("the endpoint's answer has no choices (not a chat completion)")
    content = _content_of(choices[0].get("message"))
    if content is None or not content.strip():
        raise LLMError("the LLM answered nothing (empty message)")
    content = content.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    reason = choices[0].get("finish_reason")
    return content, reason if isinstance(reason, str) else None, usage


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= MAX_RETRY_AFTER_SECONDS else None


def _once(client: Any, openai: Any, request: dict[str, Any], *, timeout: float, max_bytes: int,
          clock: Callable[[], float]) -> tuple[bytes, float]:
    """One HTTP exchange; the raw body. Raises TransientLLMError or LLMError."""
    start = clock()
    try:
        with client.chat.completions.with_streaming_response.create(**request) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise LLMError(f"the answer is too large (over {max_bytes} bytes); abandoned")
                if clock() - start > timeout:
                    raise TransientLLMError(f"the endpoint took over {timeout:g} s to answer")
                chunks.append(chunk)
            return b"".join(chunks), clock() - start
    except openai.APITimeoutError as exc:
        raise TransientLLMError(f"the endpoint did not answer within {timeout:g} s") from exc
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc.__context__
        detail = f"{type(cause).__name__}: {str(cause)[:_ERROR_SNIPPET]}" if cause else str(exc)
        raise TransientLLMError(f"cannot reach the endpoint: {detail}") from exc
    except openai.APIStatusError as exc:
        detail = str(getattr(exc, "message", exc))[:_ERROR_SNIPPET]
        status = exc.status_code
        if status == 429 or status >= 500:
            raise TransientLLMError(f"the endpoint answered HTTP {status}: {detail}",
                                    _retry_after(exc.response.headers)) from exc
        raise LLMError(f"the endpoint refused the request: HTTP {status}: {detail}") from exc
    except _transport_errors() as exc:
        raise TransientLLMError(f"the connection failed while reading the answer: {type(exc).__name__}") from exc


def _wait(base: Callable[[RetryCallState], float]) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientLLMError) and exc.retry_after is not None:
            return exc.retry_after
        return base(state)
    return wait


def chat_completion(endpoint: Endpoint, *, model: str, messages: list[dict[str, str]], temperature: float,
                    max_tokens: int, timeout: float, max_retries: int, max_response_chars: int,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> ChatAnswer:
    """Ask once (plus up to ``max_retries`` retries on transient failures); raises LLMError when all fail."""
    try:
        import openai
    except ImportError as exc:
        raise LLMExtraMissing() from exc
    _check_url(endpoint.base_url)
    request = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
    max_bytes = 6 * max_response_chars + 64 * 1024       # JSON escaping can grow code a few times
    attempts: list[Attempt] = []

    def attempt() -> bytes:
        number = len(attempts) + 1
        start = clock()
        try:
            body, _ = _once(client, openai, request, timeout=timeout, max_bytes=max_bytes, clock=clock)
        except LLMError as exc:
            attempts.append(Attempt(number, round(clock() - start, 4), str(exc)))
            raise
        attempts.append(Attempt(number, round(clock() - start, 4), "ok"))
        return body

    retrying = Retrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=_wait(wait_random_exponential(multiplier=0.5, max=8.0)),
        retry=retry_if_exception_type(TransientLLMError),
        sleep=sleep,
        reraise=True,
    )
    # Plain http (a local Ollama / vLLM) needs no TLS: skip loading the CA bundle (~0.1 s a client).
    plain = endpoint.base_url.lower().startswith("http://")
    http_client = openai.DefaultHttpxClient(verify=False) if plain else None
    with openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=timeout,
                       max_retries=0, http_client=http_client) as client:
        try:
            body = retrying(attempt)
        except TransientLLMError as exc:
            if len(attempts) > 1:
                raise _annotate(TransientLLMError(f"{exc} (gave up after {len(attempts)} attempts)"),
                                attempts, None) from exc
            raise _annotate(exc, attempts, None)
        except LLMError as exc:
            raise _annotate(exc, attempts, None)
    try:
        content, finish_reason, usage = _parse_body(body)
    except LLMError as exc:
        raise _annotate(exc, attempts, body)
    return ChatAnswer(content, finish_reason, usage, len(body), tuple(attempts))


def _annotate(exc: LLMError, attempts: list[Attempt], body: bytes | None) -> LLMError:
    """Attach what the transcript needs to a failure: the attempts and the raw body, if any."""
    exc.attempts = tuple(attempts)  # type: ignore[attr-defined]
    exc.raw_body = body  # type: ignore[attr-defined]
    return exc
