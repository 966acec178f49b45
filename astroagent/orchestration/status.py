"""Status updates to the pipeline's ``status_callbacks``: every callback gets every update; one
that raises is reported once (then counted) and never stops the pipeline."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from astroagent.telemetry import utcnow

__all__ = ["StatusBroadcaster", "StatusCallback"]

StatusCallback = Callable[[dict[str, Any]], Any]
log = logging.getLogger("astroagent.pipeline")


class StatusBroadcaster:
    """Sends each update (stamped with the time) to the callbacks in ``callbacks``, a live list the
    user may append to; an async callback is scheduled on the running loop."""

    def __init__(self, callbacks: list[StatusCallback]):
        self.callbacks = callbacks
        self.errors = 0
        self._reported: set[int] = set()

    def emit(self, update: dict[str, Any]) -> None:
        update = {"timestamp": utcnow().isoformat(), **update}
        for callback in list(self.callbacks):
            try:
                result = callback(update)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    task.add_done_callback(lambda t, cb=callback: self._awaited(cb, t))
            except Exception as exc:  # a user's callback must never stop the pipeline
                self._report(callback, exc)

    def _awaited(self, callback: StatusCallback, task: asyncio.Future) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._report(callback, task.exception())

    def _report(self, callback: StatusCallback, exc: BaseException) -> None:
        self.errors += 1
        if id(callback) not in self._reported:
            self._reported.add(id(callback))
            name = getattr(callback, "__qualname__", repr(callback))
            log.warning("status callback %s raised %s: %s; the pipeline goes on (further errors counted)",
                        name, type(exc).__name__, exc)
