"""Error messages → templates, and failure patterns → transient or deterministic.

Templates mask what varies between occurrences of one failure (hosts, ports, numbers, hex
ids, uuids, paths, quoted strings) so that equal failures group. The masks are plain
regular expressions valid in both Python ``re`` and RE2, so the DuckDB ingest path
(``MASKS`` inside SQL) and the pure-Python path produce byte-identical templates.

Which types are transient is ``knowledge.exceptions``' table: exactly the types a retry can catch.
A class the program defines is judged by its nearest known base (``knowledge.hierarchy``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from astroagent.labtech.knowledge.exceptions import DETERMINISTIC_TYPES, TRANSIENT_TYPES
from astroagent.labtech.knowledge.hierarchy import Derivation

__all__ = [
    "MASKS",
    "template",
    "split_error",
    "signature",
    "Classification",
    "classify",
    "traceback_frames",
]

# (pattern, replacement), applied in order. ASCII classes only: RE2's \d and \w are ASCII.
MASKS: tuple[tuple[str, str], ...] = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
    (r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+", "<url>"),
    (r"'[^']*'", "'<str>'"),
    (r"\"[^\"]*\"", "\"<str>\""),
    (r"\b[0-9]{1,3}(\.[0-9]{1,3}){3}(:[0-9]+)?\b", "<host>"),
    (r"\b[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+:[0-9]+\b", "<host>"),
    (r"\b[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.(com|org|net|edu|gov|io|dev|local|internal|localhost)\b", "<host>"),
    (r"\blocalhost(:[0-9]+)?\b", "<host>"),
    (r"([A-Za-z]:)?([\\/][A-Za-z0-9_.~-]+){2,}[\\/]?", "<path>"),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
    (r"\b[0-9a-fA-F]{6,}\b", "<hex>"),
    (r"-?\b[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\b", "<n>"),
)
_COMPILED = tuple((re.compile(p), r) for p, r in MASKS)
_MAX_TEMPLATE = 300
_SPACE = re.compile(r"[\t\n\f\r ]+")
_TYPE_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*):")


def template(message: str | None) -> str:
    """The message with its variable parts masked (see ``MASKS``), whitespace collapsed."""
    if not message:
        return ""
    text = message[:2000]
    for pattern, repl in _COMPILED:
        text = pattern.sub(repl, text)
    return _SPACE.sub(" ", text).strip(" ")[:_MAX_TEMPLATE]


def split_error(error_type: str | None, error: str | None) -> tuple[str, str]:
    """``(error_type, message)``: the type given or the part of ``error`` before ':'."""
    message = error or ""
    if not error_type:
        match = _TYPE_PREFIX.match(message)
        error_type = match.group(1) if match else "UnknownError"
    if message.startswith(error_type + ":"):
        message = message[len(error_type) + 1:].strip()
    return error_type, message


def signature(error_type: str, tmpl: str, method: str | None, file: str | None, function: str | None) -> str:
    """Stable id of a failure: line numbers are left out, so a patch above it keeps the id."""
    key = "\x1f".join((error_type, tmpl, method or "", file or "", function or ""))
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


_TRANSIENT_WORDS = re.compile(
    r"timed? ?out|timeout|connection (reset|refused|aborted)|reset by peer|broken pipe|"
    r"temporar(il)?y (unavailable|failure)|service unavailable|bad gateway|gateway time|"
    r"too many requests|rate.?limit|try again|remote end closed|max retries exceeded|"
    r"name or service not known|network is unreachable|\b50[0-4]\b|\b429\b", re.IGNORECASE)
_HTTP_CLIENT = re.compile(r"\b4(0[0-9]|1[0-9])\b")


@dataclass(frozen=True)
class Classification:
    transient: bool
    deterministic: bool
    evidence: tuple[str, ...]


def classify(error_type: str, messages: Iterable[str], digests: Mapping[str, Sequence[int]] = {},
             min_repeats: int = 2, derived: Derivation | None = None) -> Classification:
    """Transient (retry may help) or deterministic (same input fails every time), with the words why.

    ``digests`` maps each args_digest this pattern failed with to ``(successes, failures)`` of
    that digest in the same method: a digest that both failed and succeeded is a failure that
    comes and goes; one that only ever failed (at least ``min_repeats`` times) is deterministic.
    ``derived``: ``error_type`` is the program's own class, judged as its nearest known base.
    """
    evidence: list[str] = [derived.words()] if derived else []
    base = (derived.base if derived else error_type).rsplit(".", 1)[-1]
    text = " ".join(m for m in messages if m)[:4000]
    flaky = [d for d, (ok, bad) in digests.items() if ok > 0 and bad > 0]
    stuck = [d for d, (ok, bad) in digests.items() if ok == 0 and bad >= min_repeats]
    if base in DETERMINISTIC_TYPES:
        evidence.append(f"{base} is a programming error: the same input fails the same way")
        if stuck:
            evidence.append(f"{len(stuck)} argument set(s) failed every time they were tried")
        return Classification(False, True, tuple(evidence))
    network_type = base in TRANSIENT_TYPES
    words = _TRANSIENT_WORDS.search(text)
    if base == "HTTPError" and not words and _HTTP_CLIENT.search(text):
        evidence.append("HTTP 4xx: the request itself is wrong, a retry will not help")
        return Classification(False, True, tuple(evidence))
    if network_type:
        evidence.append(f"{base} is a network/timeout failure")
    if words:
        evidence.append(f"the message says {words.group(0)!r}")
    if flaky:
        evidence.append(f"{len(flaky)} argument set(s) both failed and succeeded: the failure comes and goes")
    if network_type or words or flaky:
        if stuck and not flaky:
            evidence.append(f"{len(stuck)} argument set(s) never succeeded (a dependency may be down)")
        return Classification(True, False, tuple(evidence))
    if stuck:
        evidence.append(f"{len(stuck)} argument set(s) failed every time they were tried, never succeeded")
        return Classification(False, True, tuple(evidence))
    evidence.append("not recognisably transient; no repeated arguments to tell")
    return Classification(False, False, tuple(evidence))


_FRAME = re.compile(r'File "([^"]+)", line ([0-9]+), in ([^\s]+)')


def traceback_frames(text: str | None) -> list[tuple[str, int, str]]:
    """``(file, line, function)`` of each frame of a formatted Python traceback, outermost first."""
    if not text:
        return []
    return [(m.group(1), int(m.group(2)), m.group(3)) for m in _FRAME.finditer(text)]
