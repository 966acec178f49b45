"""Several watched programs: the config's agents resolved to folders, and the Lab Technician agent (what
the ContinuousPipeline's worker runs) running one session per agent with logs."""

from __future__ import annotations

import shutil
from pathlib import Path

from astroagent.agents.common import AgentExecutionContext
from astroagent.agents.lab_technician import LabTechnicianAgent
from astroagent.config import load_config
from astroagent.config.watched import agent_lab_dir, select_agents, watched_agents

SEED = Path(__file__).parent / "data" / "seed_logs"


def _ws(root: Path) -> Path:
    root.mkdir()
    (root / "astroagent.yaml").write_text("agents:\n  survey:\n    targets: [survey/]\n    test_command: 'true'\n"
                                          "    logs: survey-logs\n  quiet: {}\n")
    shutil.copytree(SEED, root / "data" / "logs" / "experimenter")
    shutil.copytree(SEED, root / "survey-logs")
    shutil.copytree(SEED, root / "data" / "logs" / "stray")        # written by `watch --agent stray`
    (root / "data" / "logs" / "lab_technician").mkdir()
    (root / "survey").mkdir()
    (root / "survey" / "scan.py").write_text("def scan():\n    return 1\n")
    return root


def test_agents_resolve_with_the_experimenter_first_and_stray_log_folders_last(tmp_path: Path) -> None:
    ws = _ws(tmp_path / "ws")
    agents = watched_agents(load_config(ws, env={}), workspace=ws, data_dir=ws / "data")
    assert [a.name for a in agents] == ["experimenter", "survey", "quiet", "stray"]
    experimenter, survey, quiet, stray = agents
    assert experimenter.code_package == "experimenter" and experimenter.log_dir == ws / "data/logs/experimenter"
    assert survey.targets == ("survey/",) and survey.code_package is None and survey.test_command == "true"
    assert survey.log_dir == ws / "survey-logs" and quiet.code_package == "quiet"
    assert stray.code_package == "stray" and not stray.configured
    assert [a.name for a in select_agents(agents, None)] == ["experimenter", "survey", "stray"]  # with logs
    assert agent_lab_dir("survey", ws / "data") == ws / "data/logs/lab_technician/agents/survey"


def test_the_lab_technician_agent_runs_a_session_per_agent(tmp_path: Path) -> None:
    ws = _ws(tmp_path / "ws")
    agent = LabTechnicianAgent(workspace=ws, data_dir=ws / "data")
    context = AgentExecutionContext(agent_name="lab_technician", state_name="manual_analysis",
                                    input_data={"window_hours": 1e6})
    out = agent.run(context).output_data
    assert [a["agent"] for a in out["agents"]] == ["experimenter", "survey", "stray"]
    assert out["agent"] == "experimenter" and out["executions"] == out["agents"][0]["executions"] == 20
    assert {o["agent"] for o in out["opportunities"]} == {"experimenter", "survey", "stray"}
    assert all(Path(a["report_path"]).parent == agent_lab_dir(a["agent"], ws / "data") for a in out["agents"])
    one = agent.run(AgentExecutionContext(agent_name="lab_technician", state_name="manual_analysis",
                                          input_data={"window_hours": 1e6, "agent": "survey"})).output_data
    assert [a["agent"] for a in one["agents"]] == ["survey"]
    shutil.rmtree(ws / "survey")
    broken = agent.run(AgentExecutionContext(agent_name="lab_technician", state_name="manual_analysis",
                                             input_data={"agent": "survey"}))
    assert not broken.success and "agents.survey.targets: 'survey/' matches no file" in broken.error_message
