"""The cache key of one file's static facts, importable without libcst (analysis checks it before parsing)."""

from __future__ import annotations

import hashlib

__all__ = ["FACTS_VERSION", "facts_digest"]

FACTS_VERSION = "6"   # part of each cached file's hash: facts cached by an older analysis are recomputed


def facts_digest(data: bytes) -> str:
    """Hash of a file's bytes and the facts version; equal digests mean the cached facts still hold."""
    return hashlib.blake2b(FACTS_VERSION.encode() + data, digest_size=12).hexdigest()
