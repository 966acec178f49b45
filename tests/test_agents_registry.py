from __future__ import annotations

import pickle
from typing import Any

import pytest

import astroagent
from astroagent.agents import BaseAgent, create_agent, register_agent, registered_agents
from astroagent.agents.common import AgentExecutionContext, AgentResult
from astroagent.errors import UnknownAgentError


def test_context_has_defaults_for_id_and_time() -> None:
    a = AgentExecutionContext(agent_name="lab_technician", state_name="manual_analysis",
                              input_data={"force_analysis": True})
    b = AgentExecutionContext(agent_name="lab_technician", state_name="manual_analysis")
    assert a.execution_id != b.execution_id
    assert a.timestamp.tzinfo is not None
    assert a.input_data == {"force_analysis": True}


def test_unknown_agent_lists_the_known_ones() -> None:
    with pytest.raises(UnknownAgentError) as info:
        create_agent("astrologer")
    assert "astrologer" in str(info.value)
    for name in ("experimenter", "lab_technician"):
        assert name in str(info.value)


class _Broken(BaseAgent):
    name = "broken"

    def execute(self, context: AgentExecutionContext) -> dict[str, Any]:
        return {"ratio": 1 / context.input_data["n"]}


def test_failing_agent_returns_the_real_cause(tmp_path) -> None:
    register_agent("broken", f"{__name__}:_Broken")
    assert "broken" in registered_agents()
    agent = create_agent("broken", data_dir=tmp_path)
    ok = agent.run(AgentExecutionContext(agent_name="broken", input_data={"n": 4}))
    assert ok.success and ok.output_data == {"ratio": 0.25}
    bad = agent.run(AgentExecutionContext(agent_name="broken", input_data={"n": 0}))
    assert not bad.success
    assert bad.error_message == "ZeroDivisionError: division by zero"
    assert bad.execution_time >= 0
    assert pickle.loads(pickle.dumps(bad)) == bad
    assert isinstance(bad, AgentResult)


def test_public_exports_are_curated() -> None:
    assert "AstroAgentError" in astroagent.__all__
    for name in astroagent.__all__:
        assert hasattr(astroagent, name)
    from astroagent import telemetry
    for name in telemetry.__all__:
        assert hasattr(telemetry, name)
