"""The Lab Technician agent: analyse the Experimenter's logs, judge earlier changes, improve its code.

    create_agent('lab_technician').run(AgentExecutionContext(agent_name='lab_technician',
        state_name='manual_analysis', input_data={'force_analysis': True}))

input_data: ``force_analysis`` (improve even when the analysis sees no need), ``dry_run``,
``engine`` (auto|rules|llm), ``max_improvements``, ``targets``, ``test_command``,
``window_hours``, ``log_dir``. Pending verdicts are judged on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from astroagent.agents.common import AgentExecutionContext, BaseAgent
from astroagent.errors import UsageError
from astroagent.paths import agent_log_dir, lab_technician_dir

__all__ = ["LabTechnicianAgent", "opportunity_summary"]

_KNOWN_INPUTS = {"force_analysis", "dry_run", "engine", "max_improvements", "targets", "test_command",
                 "window_hours", "log_dir", "force"}


def opportunity_summary(opp: Any) -> dict[str, Any]:
    """The public face of an opportunity (DESIGN §4): type, priority, description, target, fix."""
    return {"type": opp.type, "priority": opp.priority, "description": opp.description,
            "target": opp.target, "fix": opp.fix}


def _number(inputs: dict[str, Any], key: str, kind: type) -> Any:
    value = inputs.get(key)
    if value is None:
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"input_data[{key!r}]: expected a number, got {value!r}") from None
    if number < 0 or (kind is float and number == 0):
        raise UsageError(f"input_data[{key!r}]: must be positive, got {value!r}")
    return number


class LabTechnicianAgent(BaseAgent):
    """Analysis → verdicts on earlier changes → improvements (when needed or forced) → report."""

    name: ClassVar[str] = "lab_technician"

    def execute(self, context: AgentExecutionContext) -> dict[str, Any]:
        from astroagent.labtech.analysis.analyze import run_analysis
        from astroagent.labtech.changes.improve import default_targets, no_intervention_note, run_improvements
        from astroagent.labtech.reports.render import write_outputs

        inputs = dict(context.input_data or {})
        unknown = sorted(set(inputs) - _KNOWN_INPUTS)
        if unknown:
            raise UsageError(f"unknown input_data key {unknown[0]!r}; known: {', '.join(sorted(_KNOWN_INPUTS))}")
        force = bool(inputs.get("force_analysis") or inputs.get("force"))
        engine = inputs.get("engine") or self.config.lab_technician.engine
        targets = [Path(t) for t in (inputs.get("targets") or [])]
        log_dir = Path(inputs["log_dir"]) if inputs.get("log_dir") else agent_log_dir("experimenter", self.data_dir)
        state_dir = lab_technician_dir(self.data_dir)
        analysis = run_analysis(self.config.lab_technician, log_dir, state_dir, workspace=self.workspace,
                                targets=targets or default_targets(self.workspace, self.config),
                                window_hours=_number(inputs, "window_hours", float), force=force)
        improve = force or analysis.needs_intervention
        limit = _number(inputs, "max_improvements", int)
        outcome = run_improvements(analysis, config=self.config, workspace=self.workspace, data_dir=self.data_dir,
                                   targets=targets or None, test_command=inputs.get("test_command"),
                                   engine=engine, max_improvements=limit if improve else 0,
                                   dry_run=bool(inputs.get("dry_run")), force=force)
        notes = list(outcome.notes)
        if not improve:
            notes.append(no_intervention_note(analysis, self.config))
        try:
            outputs = write_outputs(analysis, state_dir, improvements=outcome.improvements)
        except Exception as exc:  # the changes are made and in the ledger; a broken report must not hide them
            outputs = {}
            notes.append(f"report not written: {type(exc).__name__}: {exc}")
        return {
            "success": True,
            "improvements_made": list(outcome.improvements),
            "opportunities": [opportunity_summary(o) for o in analysis.opportunities],
            "verdicts": list(outcome.verdicts),
            "notes": notes,
            "success_rate": analysis.executions.success_rate,
            "executions": analysis.executions.total,
            "needs_intervention": analysis.needs_intervention,
            "report_path": str(outputs.get("report_path")) if outputs.get("report_path") else None,
            "analysis_path": str(outputs.get("analysis_path")) if outputs.get("analysis_path") else None,
            "plots": [str(p) for p in outputs.get("plots") or []],
        }
