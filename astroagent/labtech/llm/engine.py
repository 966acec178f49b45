"""The LLM fix engine: ask an OpenAI-compatible model for a new version of one function.

For what rules cannot fix (deterministic bugs, complexity). The answer is untrusted input:
``propose_fix`` only returns a candidate module (``LLMProposal.new_source``); the
improvement stage then runs the guard, validation and apply on it like on any change.
It never raises for endpoint or answer problems: those come back as ``status='failed'``
with the reason, and every request is recorded in a JSON transcript (never the key).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from astroagent.config.models import LabTechnicianConfig
from astroagent.errors import LLMError
from astroagent.labtech.llm.answer import AnswerRejected, extract_code_block, splice_function
from astroagent.labtech.llm.client import (
    Attempt,
    ChatAnswer,
    Endpoint,
    chat_completion,
    redact_url,
    resolve_endpoint,
)
from astroagent.labtech.llm.prompt import build_messages
from astroagent.labtech.models import Opportunity
from astroagent.atomic import atomic_write_bytes

__all__ = ["LLMProposal", "llm_configured", "propose_fix", "NOT_CONFIGURED"]

NOT_CONFIGURED = "no LLM endpoint is configured (set lab_technician.llm.base_url or OPENAI_BASE_URL)"
_TRANSCRIPT_TEXT_CAP = 400_000


@dataclass(frozen=True)
class LLMProposal:
    """What the engine proposes for one function; ``new_source`` is the whole module, unguarded."""

    status: Literal["proposed", "failed"]
    new_source: str | None
    reason: str
    model: str
    prompt_chars: int
    response_chars: int
    transcript_path: Path | None
    attempts: int = 0
    seconds: float = 0.0


def llm_configured(config: LabTechnicianConfig, env: Mapping[str, str] | None = None) -> bool:
    """True when an endpoint is configured (``llm.base_url`` or ``OPENAI_BASE_URL``): what ``auto`` asks."""
    env = os.environ if env is None else env
    return bool((config.llm.base_url or "").strip() or (env.get("OPENAI_BASE_URL") or "").strip())


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "target"


def _write_transcript(transcript_dir: Path, record: dict[str, Any], secret: str | None, qualname: str) -> Path:
    try:
        data = orjson.dumps(record, option=orjson.OPT_INDENT_2, default=str)
    except TypeError:  # e.g. lone surrogates in a source read with surrogateescape
        data = json.dumps(record, indent=2, default=str).encode("utf-8", "backslashreplace")
    if secret and len(secret) >= 4:
        data = data.replace(orjson.dumps(secret)[1:-1], b"[redacted]")
    transcript_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = transcript_dir / f"llm_{stamp}_{_safe_name(qualname)}.json"
    atomic_write_bytes(path, data)
    return path


def _cap(text: str | None) -> str | None:
    if text is None or len(text) <= _TRANSCRIPT_TEXT_CAP:
        return text
    return text[:_TRANSCRIPT_TEXT_CAP] + f"\n... ({len(text) - _TRANSCRIPT_TEXT_CAP} more chars not recorded)"


def _ask(config: LabTechnicianConfig, endpoint: Endpoint, messages: list[dict[str, str]],
         sleep: Callable[[float], None], clock: Callable[[], float]) -> ChatAnswer:
    llm = config.llm
    return chat_completion(
        endpoint, model=config.model, messages=messages, temperature=config.temperature,
        max_tokens=config.max_tokens, timeout=llm.timeout_seconds, max_retries=llm.max_retries,
        max_response_chars=llm.max_response_chars, sleep=sleep, clock=clock)


def _read_answer(answer: ChatAnswer, source: str, qualname: str, max_chars: int) -> str:
    """The new module from an answer, or AnswerRejected with the reason."""
    if len(answer.content) > max_chars:
        raise AnswerRejected(f"the answer is too large ({len(answer.content)} chars > {max_chars})")
    try:
        code = extract_code_block(answer.content)
    except AnswerRejected as exc:
        if answer.finish_reason == "length":
            raise AnswerRejected(f"the answer was cut off at max_tokens ({exc}); "
                                 "raise lab_technician.max_tokens") from exc
        raise
    return splice_function(source, qualname, code)


def _transcript_record(config: LabTechnicianConfig, endpoint: Any, messages: list[dict[str, str]],
                       attempts: tuple[Attempt, ...], raw: str | None, answer: ChatAnswer | None, *, path: str,
                       qualname: str, opportunity: Opportunity, outcome: dict[str, str],
                       seconds: float) -> dict[str, Any]:
    """Everything one exchange with the model was, for the transcript (the key itself never)."""
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "engine": "llm",
        "model": config.model,
        "endpoint": redact_url(endpoint.base_url) if endpoint else None,
        "api_key_from": endpoint.key_env if endpoint else None,
        "path": path,
        "qualname": qualname,
        "opportunity": {"type": opportunity.type, "signature": opportunity.signature,
                        "priority": opportunity.priority, "description": opportunity.description},
        "request": {"messages": messages, "temperature": config.temperature, "max_tokens": config.max_tokens,
                    "timeout_seconds": config.llm.timeout_seconds, "max_retries": config.llm.max_retries},
        "attempts": [a.__dict__ for a in attempts],
        "answer": _cap(raw),
        "finish_reason": answer.finish_reason if answer else None,
        "usage": answer.usage if answer else {},
        "outcome": outcome,
        "seconds": seconds,
    }


def propose_fix(source: str, qualname: str, opportunity: Opportunity, config: LabTechnicianConfig, *,
                path: str, transcript_dir: Path | None = None, env: Mapping[str, str] | None = None,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> LLMProposal:
    """Ask the configured model for a new ``qualname`` in ``source`` and splice it in; never raises LLMError."""
    env = os.environ if env is None else env
    start = clock()
    messages: list[dict[str, str]] = []
    endpoint = resolve_endpoint(config.llm.base_url, config.llm.api_key_env, env)
    answer: ChatAnswer | None = None
    raw: str | None = None
    attempts: tuple[Attempt, ...] = ()
    new_source: str | None = None
    try:
        messages = build_messages(source, qualname, opportunity, path=path)
        if endpoint is None:
            raise LLMError(NOT_CONFIGURED)
        try:
            answer = _ask(config, endpoint, messages, sleep, clock)
        except LLMError as exc:
            attempts = getattr(exc, "attempts", ())
            body = getattr(exc, "raw_body", None)
            raw = body.decode("utf-8", "replace") if body is not None else None
            raise
        attempts, raw = answer.attempts, answer.content
        new_source = _read_answer(answer, source, qualname, config.llm.max_response_chars)
        status: Literal["proposed", "failed"] = "proposed"
        reason = f"{config.model} proposed a new {qualname}"
    except LLMError as exc:
        status, reason, new_source = "failed", str(exc), None
    except RecursionError:  # pathological nesting in the module or the answer
        status, reason, new_source = "failed", "the code is nested too deeply to process", None
    seconds = round(clock() - start, 4)
    prompt_chars = sum(len(m["content"]) for m in messages)
    response_chars = len(raw) if raw is not None else 0
    transcript_path: Path | None = None
    if transcript_dir is not None:
        record = _transcript_record(config, endpoint, messages, attempts, raw, answer, path=path,
                                    qualname=qualname, opportunity=opportunity,
                                    outcome={"status": status, "reason": reason}, seconds=seconds)
        try:
            transcript_path = _write_transcript(Path(transcript_dir), record, endpoint.api_key if endpoint else None,
                                                qualname)
        except OSError as exc:
            reason = f"{reason} (transcript not written: {exc.strerror or exc})"
    return LLMProposal(status=status, new_source=new_source, reason=reason, model=config.model,
                       prompt_chars=prompt_chars, response_chars=response_chars,
                       transcript_path=transcript_path, attempts=len(attempts), seconds=seconds)
