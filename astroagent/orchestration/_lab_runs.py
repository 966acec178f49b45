"""The pipeline's Lab Technician runs: on its adaptive schedule or on demand, in a worker
process of its own, beside the experiments or between them (``experiments_during_lab``).

A mixin of ``ContinuousPipeline``: it reads and updates the pipeline's schedule and state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from astroagent.agents.common import AgentResult
from astroagent.labtech import CONCURRENT
from astroagent.orchestration.ledger_view import pending_change_ids, with_ledger_facts
from astroagent.orchestration.scheduling import after_run, is_due
from astroagent.orchestration.versions import CodeGate
from astroagent.telemetry import utcnow

__all__ = ["LabTechnicianRuns"]

log = logging.getLogger("astroagent.pipeline")


class LabTechnicianRuns:
    """Runs the Lab Technician for the pipeline; see the module docstring."""

    async def run_lab_technician_now(self, *, force: bool = False) -> AgentResult:
        """Run the Lab Technician once, now, whatever the schedule (between experiments unless
        ``experiments_during_lab``). ``force`` lets it change code even when the success rate is fine."""
        return await self._lab_run("manual_analysis", force)

    async def _lab_run(self, state_name: str, force: bool) -> AgentResult:
        self._code_gate = self._code_gate or CodeGate()
        self._lab_lock = self._lab_lock or asyncio.Lock()
        new = self.state.experiments - self._schedule.experiments_at_last_run   # the history is trimmed:
        since = self.state.history[-new:] if new > 0 else []                      # count back from its end
        rate_seen = (sum(r.success for r in since) / len(since)) if since else self.state.recent_success_rate()
        concurrent = self._running and self.config.pipeline.experiments_during_lab
        async with self._lab_lock, (contextlib.nullcontext() if concurrent else self._code_gate.writing()):
            self.state.lab_started_at.append(self._now())
            self._emit({"stage": "lab_technician", "status": "started", "state_name": state_name})
            inputs: dict[str, Any] = {"force_analysis": force}
            if self.rollout is not None:     # changes are judged as canaries beside their baseline
                inputs["design"] = CONCURRENT
            self._judge_now = False
            waiting = self._pending_changes() if state_name == "scheduled_analysis" else []
            if waiting and self.config.pipeline.judge_before_changing:
                inputs["max_improvements"] = 0   # judge the change in place before stacking another
            work = self._lab_worker.run(inputs, state_name=state_name,
                                        timeout=self.config.pipeline.lab_technician_timeout_seconds)
            if self._running and self._stop is not None:
                outcome = await self._guarded(work, self._lab_worker, self.config.pipeline.shutdown_deadline_seconds)
            else:
                outcome = await work
            await self._lab_worker.shutdown(deadline=5.0)
        result = AgentResult(agent_name="lab_technician", execution_id=outcome.execution_id,
                             success=outcome.success, output_data=outcome.output, error_message=outcome.error,
                             execution_time=outcome.duration)
        self.last_lab_result = result
        if self.rollout is not None:
            self.rollout.refresh()           # a new canary starts, or a judged one ends
        self._schedule = after_run(self._schedule, now=self._clock(), success_rate=rate_seen,
                                   experiments=self.state.experiments)
        self.state.lab_runs += 1
        self.state.lab_runs_at.append(self._now())
        improvements = with_ledger_facts(self.data_dir, result.output_data.get("improvements_made") or [],
                                         now_t=self._now(), now_wall=utcnow())
        self.state.record_lab_output({**result.output_data, "improvements_made": improvements}, self._now())
        self._save()
        update: dict[str, Any] = {"stage": "lab_technician", "status": "completed" if result.success else "failed",
                                  "improvements_made": improvements,
                                  "verdicts": list(result.output_data.get("verdicts") or []),
                                  "report_path": result.output_data.get("report_path"),
                                  "success_rate": rate_seen, "next_interval": self._schedule.interval}
        if not result.success:
            update["error"] = result.error_message
        self._emit(update)
        if waiting := [i.get("id") for i in improvements if i.get("status") == "awaiting_approval"]:
            self._emit({"stage": "lab_technician", "status": "awaiting_approval", "changes": waiting})
        return result

    def _pending_changes(self) -> list[str]:
        return pending_change_ids(self.data_dir, [c.id for c in self.state.changes if c.verdict == "pending"])

    async def _start_scheduled_lab_run(self) -> None:
        """Run the Lab Technician; with ``experiments_during_lab`` experiments go on meanwhile
        (on the code in place until its change lands, then on the new code after a restart)."""
        run = self._lab_run("scheduled_analysis", self.force_lab_analysis)
        if not self.config.pipeline.experiments_during_lab:
            await run
            return
        self._lab_task = asyncio.ensure_future(run)
        self._lab_task.add_done_callback(self._lab_task_done)

    def _lab_task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.warning("Lab Technician run failed: %s: %s", type(exc).__name__, exc)
            self._emit({"stage": "lab_technician", "status": "failed", "error": f"{type(exc).__name__}: {exc}"})

    def _lab_due(self) -> bool:
        if self._lab_task is not None and not self._lab_task.done():
            return False
        return self._lab_enabled and (self._judge_now or is_due(self._schedule, now=self._clock(),
                                                                experiments=self.state.experiments))
