"""The reliability suite: shared helpers live in ``tests/`` (``_labtech_ws``, ``fake_llm_server``)."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent.parent)
_HERE = str(Path(__file__).resolve().parent)
for _path in (_TESTS, _HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)
