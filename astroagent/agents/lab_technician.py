"""The Lab Technician agent: analyse each watched agent's logs, judge earlier changes, improve its code.

    create_agent('lab_technician').run(AgentExecutionContext(agent_name='lab_technician',
        state_name='manual_analysis', input_data={'force_analysis': True}))

input_data: ``force_analysis`` (improve even when the analysis sees no need), ``dry_run``,
``engine`` (auto|rules|llm), ``max_improvements``, ``targets``, ``test_command``,
``window_hours``, ``log_dir``, ``design`` (``concurrent`` when the caller runs each change as a
canary beside its baseline), ``agent`` (one agent of the config's ``agents:``; default every agent
with logs, the Experimenter first). Pending verdicts are judged on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from astroagent.agents.common import AgentExecutionContext, BaseAgent
from astroagent.errors import UsageError

__all__ = ["LabTechnicianAgent"]

_KNOWN_INPUTS = {"force_analysis", "dry_run", "engine", "max_improvements", "targets", "test_command",
                 "window_hours", "log_dir", "force", "design", "agent"}


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
        from astroagent.labtech import BEFORE_AFTER, SessionRequest, combined_output, run_agents

        inputs = dict(context.input_data or {})
        unknown = sorted(set(inputs) - _KNOWN_INPUTS)
        if unknown:
            raise UsageError(f"unknown input_data key {unknown[0]!r}; known: {', '.join(sorted(_KNOWN_INPUTS))}")
        request = SessionRequest(
            log_dir=Path(inputs["log_dir"]) if inputs.get("log_dir") else None,
            targets=tuple(Path(t) for t in (inputs.get("targets") or [])),
            test_command=inputs.get("test_command"), engine=inputs.get("engine"),
            max_improvements=_number(inputs, "max_improvements", int),
            window_hours=_number(inputs, "window_hours", float),
            force=bool(inputs.get("force_analysis") or inputs.get("force")), dry_run=bool(inputs.get("dry_run")),
            design=str(inputs.get("design") or BEFORE_AFTER))
        agent = str(inputs["agent"]) if inputs.get("agent") else None
        return combined_output(run_agents(request, agent=agent, config=self.config, workspace=self.workspace,
                                          data_dir=self.data_dir))
