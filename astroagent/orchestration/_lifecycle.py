"""The pipeline's signals and shutdown: SIGINT/SIGTERM stop it gracefully (a second one aborts),
and shutdown stops the Lab Technician, the fleet and saves the state, whatever happened.

A mixin of ``ContinuousPipeline``.
"""

from __future__ import annotations

import asyncio
import signal
import threading

from astroagent.telemetry import utcnow

__all__ = ["PipelineLifecycle"]


class PipelineLifecycle:
    """Signal handling and shutdown for the pipeline; see the module docstring."""

    def _install_signals(self) -> list[signal.Signals]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return []
        assert self._loop is not None
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        return installed

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop_requested:
            self._emit({"stage": "pipeline", "status": "aborting", "signal": sig.name})
            self._abort_requested = True
            if self._loop is not None:
                self._loop.create_task(self.fleet.abort())
                self._loop.create_task(self._lab_worker.abort())
        else:
            self._emit({"stage": "pipeline", "status": "stopping", "signal": sig.name})
        self.stop()

    async def _shutdown(self, installed: list[signal.Signals]) -> None:
        try:
            if self._lab_task is not None and not self._lab_task.done():
                await self._lab_worker.abort()
                await asyncio.gather(self._lab_task, return_exceptions=True)
            self._lab_task = None
            await self.fleet.close(deadline=min(5.0, self.config.pipeline.shutdown_deadline_seconds))
            await self._lab_worker.shutdown(deadline=1.0)
        finally:
            self._running = False
            self._stop = None
            self.state.status = "stopped"
            self.state.stopped_at = utcnow().isoformat()
            self._save()
            for sig in installed:
                assert self._loop is not None
                self._loop.remove_signal_handler(sig)
            self._emit({"stage": "pipeline", "status": "stopped", "experiments": self.state.experiments,
                        "success_rate": self.state.success_rate, "cycles": self.state.cycle})
