"""Tamper evidence at run time: the real worker process fails an execution whose workspace code
changed the telemetry or logging it is judged by, the supervisor records it, and the Lab
Technician rolls the change that brought that code back and bars it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from test_worker import AGENT   # imports the workspace package at warm-up, like the real one

from astroagent.config import PipelineConfig, load_config
from astroagent.labtech.analysis.analyze import run_analysis
from astroagent.labtech.changes.apply import apply_recorded_change, sha256_file
from astroagent.labtech.changes.improve import judge_pending
from astroagent.labtech.changes.ledger import Ledger, new_change_id
from astroagent.orchestration.supervisor import WorkerSupervisor
from astroagent.telemetry import package_code_version

CLEAN = "def run(data):\n    return 'supported'\n"
# what a hostile or careless change does at import, and the words the failure must name
AT_IMPORT = {
    "writer": ("from astroagent.telemetry.writer import EventWriter\n"
               "EventWriter.write = lambda self, *args, **kwargs: None\n", "EventWriter.write"),
    "record_failure": ("from astroagent.telemetry import Telemetry\n"
                       "Telemetry.record_failure = lambda self, *args, **kwargs: None\n", "Telemetry.record_failure"),
    "logging": ("import logging\nlogging.disable(logging.CRITICAL)\n", "logging.disable"),
    "data_dir": ("import os\nos.environ['ASTROAGENT_DATA_DIR'] = '/tmp/astroagent-elsewhere'\n",
                 "ASTROAGENT_DATA_DIR"),
}


def _workspace(root: Path, code: str) -> Path:
    ws = root / "ws"
    (ws / "experimenter").mkdir(parents=True)
    (ws / "experimenter" / "__init__.py").write_text(code)
    (ws / "astroagent.yaml").write_text("{}\n")
    return ws


def _supervisor(tmp_path: Path, ws: Path) -> WorkerSupervisor:
    (tmp_path / "agents").mkdir(exist_ok=True)
    (tmp_path / "agents" / "scripted.py").write_text(AGENT)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "agents")}
    return WorkerSupervisor(workspace=ws, data_dir=tmp_path / "data", config=PipelineConfig(),
                            agent_target="scripted:ScriptedExperimenter", env=env)


def _run(sup: WorkerSupervisor, count: int = 1) -> list:
    async def go() -> list:
        try:
            return [await sup.run({"project": {"id": f"p{i}", "params": {}}}) for i in range(count)]
        finally:
            await sup.shutdown()
            sup.close()
    return asyncio.run(go())


def _lines(folder: Path, pattern: str) -> list[dict]:
    return [orjson.loads(line) for path in sorted(folder.glob(pattern)) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("kind", sorted(AT_IMPORT))
def test_workspace_code_that_tampers_at_import_fails_its_execution_as_tampering(tmp_path: Path, kind: str) -> None:
    code, named = AT_IMPORT[kind]
    ws = _workspace(tmp_path, code + CLEAN)
    [outcome] = _run(_supervisor(tmp_path, ws))
    assert not outcome.success and outcome.failure_kind == "tampering"
    assert outcome.error.startswith("tampering: ") and named in outcome.error
    logs = tmp_path / "data" / "logs" / "experimenter"
    [record] = _lines(logs, "outcomes_*.jsonl")
    assert record["recorded_by"] == "supervisor" and record["execution_id"] == outcome.execution_id
    assert record["failure_kind"] == "tampering" and record["success"] is False
    assert record["code_version"] == package_code_version(ws / "experimenter")
    assert any(named in line for line in record["tampering"])
    closes = [e for e in _lines(logs, "execution_*.jsonl") if e["event_type"] == "execution_complete"
              and e["event_data"].get("written_by") == "supervisor"]
    assert closes and closes[-1]["event_data"]["failure_type"] == "tampering"


def test_untouched_telemetry_keeps_a_success_and_the_record_agrees(tmp_path: Path) -> None:
    [outcome] = _run(_supervisor(tmp_path, _workspace(tmp_path, CLEAN)))
    assert outcome.success and outcome.failure_kind is None
    [record] = _lines(tmp_path / "data" / "logs" / "experimenter", "outcomes_*.jsonl")
    assert record["success"] is True and record["events"] == "success" and record["agree"] is True


def test_tampering_during_an_execution_fails_it_and_every_later_one(tmp_path: Path) -> None:
    code = ("from astroagent.telemetry.instrument import Execution\n"
            "def run(data):\n"
            "    Execution.fail = lambda self, *args, **kwargs: None\n"
            "    return 'supported'\n")
    outcomes = _run(_supervisor(tmp_path, _workspace(tmp_path, code)), count=2)
    assert [o.failure_kind for o in outcomes] == ["tampering", "tampering"]
    assert "Execution.fail" in outcomes[0].error


def test_the_change_that_brought_tampering_code_is_rolled_back_and_barred(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, CLEAN)
    data = tmp_path / "data"
    target = ws / "experimenter" / "__init__.py"
    change_id = new_change_id()
    hostile = AT_IMPORT["writer"][0] + CLEAN
    apply_recorded_change({"id": change_id, "file": "experimenter/__init__.py", "package": "experimenter",
                           "sha_before": sha256_file(target), "signature": "sig-run", "fix": "llm_rewrite",
                           "type": "frequent_error", "target": "experimenter/__init__.py::run", "method": "run",
                           "engine": "llm", "qualname": "run"}, hostile, workspace=ws, data_dir=data)
    _run(_supervisor(tmp_path, ws), count=2)      # fewer than min_executions: no statistics would decide
    config = load_config(ws)
    analysis = run_analysis(config.lab_technician, data / "logs" / "experimenter", tmp_path / "state", workspace=ws)
    assert any(o.type == "tampering" for o in analysis.opportunities)
    verdicts, _ = judge_pending(analysis, config=config, workspace=ws, data_dir=data)
    [verdict] = verdicts
    assert verdict["id"] == change_id and verdict["verdict"] == "rolled_back"
    assert verdict["reason"].startswith("tampering") and "EventWriter.write" in verdict["reason"]
    assert target.read_text() == CLEAN
    ledger = Ledger(data)
    assert ledger.get(change_id)["status"] == "rolled_back"
    assert ledger.already_tried("sig-run", "llm_rewrite")


def test_snapshot_and_compare_name_each_kind_of_change_in_a_fresh_process(tmp_path: Path) -> None:
    script = textwrap.dedent('''
        import logging, sys
        from astroagent.telemetry import instrument as instrument_module
        from astroagent.telemetry.instrument import Telemetry
        from astroagent.telemetry.integrity import compare, snapshot
        logging.getLogger("astroagent.pipeline")
        before = snapshot(data_dir=sys.argv[1], agent="experimenter")
        print(compare(before, snapshot(data_dir=sys.argv[1], agent="experimenter")))
        Telemetry.record_error.__code__ = (lambda self, *a, **k: None).__code__
        logging.getLogger("astroagent.pipeline").setLevel(logging.CRITICAL)
        logging.getLogger().addHandler(logging.NullHandler())
        import astroagent.telemetry
        astroagent.telemetry.instrument = lambda f=None, **k: f
        for line in compare(before, snapshot(data_dir=sys.argv[1], agent="experimenter")):
            print(line)
    ''')
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "[]"
    text = "\n".join(out[1:])
    assert "Telemetry.record_error: __code__ rewritten" in text
    assert "logger 'astroagent.pipeline' level changed: 0 → 50" in text
    assert "logger 'root' handlers changed" in text
    assert "astroagent.telemetry.instrument replaced" in text
