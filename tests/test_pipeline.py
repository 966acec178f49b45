"""The ContinuousPipeline with the real Experimenter and Lab Technician: the seed's API as written,
recovery from a killed worker, a restart on new code, and a graceful SIGTERM with no orphan."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import psutil
import pytest

from astroagent.agents.common import AgentResult
from astroagent.config import ArchiveConfig
from astroagent.orchestration.continuous_pipeline import ContinuousPipeline
from astroagent.orchestration.state import load_state
from astroagent.science.archive_server import ArchiveServer
from astroagent.telemetry import package_code_version
from astroagent.workspace import init_workspace


@pytest.fixture()
def make_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real workspace whose archive (on 127.0.0.1) runs with the given faults."""
    servers: list[ArchiveServer] = []

    def make(**faults: float) -> Path:
        server = ArchiveServer(ArchiveConfig(**faults))
        servers.append(server)
        ws = init_workspace(tmp_path / "ws", archive_url=server.start())
        monkeypatch.chdir(ws)
        monkeypatch.setenv("ASTROAGENT_PIPELINE__PROJECTS_PER_CYCLE", "2")
        return ws

    yield make
    for server in servers:
        server.stop()


@pytest.fixture()
def workspace(make_workspace) -> Path:
    return make_workspace()


def _log_events(ws: Path) -> list[dict]:
    events = []
    for path in sorted((ws / "data" / "logs" / "experimenter").glob("execution_*.jsonl")):
        events += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return events


def _stop_after(pipeline: ContinuousPipeline, experiments: int):
    def callback(update: dict) -> None:
        if update["stage"] == "experiment" and update["status"] in ("completed", "failed") \
                and update["experiments"] >= experiments:
            pipeline.stop()
    return callback


def test_the_seed_example_runs_as_written(workspace: Path, caplog: pytest.LogCaptureFixture) -> None:
    updates: list[dict] = []

    def cb(update: dict) -> None:
        updates.append(update)

    def broken(update: dict) -> None:
        raise RuntimeError("a monitoring bug")

    async def seed() -> tuple:
        pipeline = ContinuousPipeline()
        pipeline.set_lab_technician_interval(3600)
        pipeline.enable_lab_technician()
        pipeline.status_callbacks.append(cb)
        pipeline.status_callbacks.append(broken)
        pipeline.status_callbacks.append(_stop_after(pipeline, 3))
        await pipeline.run_continuous({'domain': 'astrophysics', 'research_areas': ['stellar_evolution', 'exoplanets']})
        result = await pipeline.run_lab_technician_now()
        pipeline.disable_lab_technician()
        return pipeline, result

    with caplog.at_level(logging.WARNING, logger="astroagent.pipeline"):
        pipeline, result = asyncio.run(seed())
    assert isinstance(result, AgentResult) and result.success, result.error_message
    assert isinstance(result.output_data["improvements_made"], list)
    assert all("stage" in u and "status" in u for u in updates)
    done = [u for u in updates if u["stage"] == "experiment" and u["status"] in ("completed", "failed")]
    assert len(done) == 3 and {u["area"] for u in done} == {"stellar_evolution", "exoplanets"}
    assert sum(u["status"] == "completed" for u in done) == 3  # a healthy archive: every experiment works
    lab = [u for u in updates if u["stage"] == "lab_technician" and u["status"] == "completed"]
    assert lab and "improvements_made" in lab[-1]
    assert "a monitoring bug" in caplog.text and pipeline.callback_errors >= len(updates)
    assert not pipeline.lab_technician_enabled
    state = load_state(workspace / "data")
    assert state is not None and state.status == "stopped" and state.experiments == 3 and state.lab_runs == 1


def test_a_killed_worker_is_replaced_and_the_pipeline_goes_on(make_workspace) -> None:
    workspace = make_workspace(stall_rate=1.0, stall_seconds=0.8)  # every fetch takes 0.8 s
    pipeline = ContinuousPipeline(workspace=workspace)
    pipeline.disable_lab_technician()
    killed: list[int] = []

    def killer(update: dict) -> None:
        if update["stage"] == "experiment" and update["status"] == "started" and pipeline.state.experiments == 1:
            killed.append(pipeline.worker.pid)   # kill -9 it in the middle of experiment 2
            threading.Timer(0.4, os.kill, (killed[0], signal.SIGKILL)).start()

    pipeline.status_callbacks += [killer, _stop_after(pipeline, 3)]
    state = asyncio.run(pipeline.run_continuous({"domain": "astrophysics", "research_areas": ["exoplanets"]}))
    outcomes = [(r.success, r.failure_kind) for r in state.history]
    assert outcomes[1] == (False, "crash")
    assert outcomes[2] == (True, None)
    assert state.worker_crashes == 1 and state.worker_restarts == 1
    crashed = state.history[1].execution_id
    closing = [e for e in _log_events(workspace) if e["execution_id"] == crashed
               and e["event_type"] == "execution_complete"]
    assert closing and closing[-1]["event_data"]["success"] is False
    assert not psutil.pid_exists(killed[0])


def test_new_code_restarts_the_worker_between_experiments(make_workspace) -> None:
    workspace = make_workspace(stall_rate=1.0, stall_seconds=1.2)  # every fetch takes 1.2 s
    package = workspace / "experimenter"
    old = package_code_version(package)
    pipeline = ContinuousPipeline(workspace=workspace)
    pipeline.disable_lab_technician()

    def change_code(update: dict) -> None:
        if update["stage"] == "experiment" and update["status"] == "started":
            if pipeline.state.experiments == 1:   # while experiment 2 runs, a change lands on disk
                target = package / "fetch.py"
                threading.Timer(0.5, target.write_text, (target.read_text() + "\n\nCHANGED = 1\n",)).start()

    pipeline.status_callbacks += [change_code, _stop_after(pipeline, 3)]
    state = asyncio.run(pipeline.run_continuous({"domain": "astrophysics", "research_areas": ["exoplanets"]}))
    new = package_code_version(package)
    assert new != old
    starts = [e["event_data"] for e in _log_events(workspace) if e["event_type"] == "execution_start"]
    assert [s["code_version"] for s in starts] == [old, old, new]  # never switched in the middle of experiment 2
    assert [r.code_version for r in state.history] == [old, old, new]
    assert starts[0]["pid"] == starts[1]["pid"] != starts[2]["pid"]  # the restart came before experiment 3
    assert state.worker_restarts == 1


def test_sigterm_stops_astroagent_run_gracefully_with_no_orphan(workspace: Path) -> None:
    env = {**os.environ, "ASTROAGENT_PIPELINE__SHUTDOWN_DEADLINE_SECONDS": "20"}
    proc = subprocess.Popen([sys.executable, "-m", "astroagent", "run", "--no-lab-technician"], cwd=workspace,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    state_file = workspace / "data" / "pipeline" / "state.json"
    deadline = time.monotonic() + 60
    children: list[psutil.Process] = []
    while time.monotonic() < deadline:
        state = load_state(workspace / "data")
        children = psutil.Process(proc.pid).children(recursive=True)
        if state is not None and state.experiments >= 1 and children:
            break
        time.sleep(0.1)
    assert children, "the pipeline never started its worker"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err.decode()[-2000:]
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"orphans: {alive}"
    state = orjson.loads(state_file.read_bytes())
    assert state["status"] == "stopped"
    assert state["experiments"] == state["successes"] + state["failures"] == len(state["history"])
    events = _log_events(workspace)
    opened = {e["execution_id"] for e in events if e["event_type"] == "execution_start"}
    closed = {e["execution_id"] for e in events if e["event_type"] == "execution_complete"}
    assert opened == closed and len(opened) == state["experiments"]
    assert b"stopped after" in out


def test_an_unreadable_saved_state_is_kept_aside_and_said_not_silently_overwritten(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ws = init_workspace(tmp_path / "ws")
    state = ws / "data" / "pipeline" / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{ half a state")
    pipeline = ContinuousPipeline(workspace=ws, data_dir=ws / "data", handle_signals=False)
    assert pipeline.state.experiments == 0 and not state.exists()
    assert (ws / "data" / "pipeline" / "state.json.unreadable").read_text() == "{ half a state"
    assert "could not read the saved state" in caplog.text
