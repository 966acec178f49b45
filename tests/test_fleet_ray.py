"""The Ray executor on a real local Ray instance (loopback only): two actors running the real
Experimenter against a loopback archive, code shipped per version, every event back in the
head's log, a lost actor counted as a crash, an unreachable cluster, SIGTERM with nothing left."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

ray = pytest.importorskip("ray", reason="the ray executor needs the astroagent[ray] extra")

from astroagent.config import ArchiveConfig, load_config  # noqa: E402
from astroagent.orchestration.fleet import FleetSpec, make_fleet  # noqa: E402
from astroagent.orchestration.state import load_state  # noqa: E402
from astroagent.orchestration.versions import snapshot_version  # noqa: E402
from astroagent.science.archive_server import ArchiveServer  # noqa: E402
from astroagent.science.projects import plan_projects  # noqa: E402
from astroagent.telemetry import package_code_version  # noqa: E402
from astroagent.workspace import init_workspace  # noqa: E402


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level="WARNING", namespace="astroagent-tests")
    yield
    ray.shutdown()


def _workspace(tmp_path: Path, **faults: float) -> tuple[Path, ArchiveServer, str]:
    server = ArchiveServer(ArchiveConfig(**faults))
    url = server.start()
    return init_workspace(tmp_path / "ws", archive_url=url), server, url


def _events(ws: Path) -> list[dict]:
    lines = []
    for path in sorted((ws / "data" / "logs" / "experimenter").glob("execution_*.jsonl")):
        lines += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return lines


def _inputs(url: str, n: int, seed: int = 3) -> list[dict]:
    return [{"project": p.model_dump(mode="json"), "archive_url": url}
            for p in plan_projects(["stellar_evolution", "exoplanets"], n, seed)]


def _fleet(ws: Path):
    return make_fleet(FleetSpec(workspace=ws, data_dir=ws / "data", config=load_config(ws).pipeline, workers=2,
                                executor="ray"))


def test_two_actors_run_both_code_versions_and_every_event_reaches_the_head(ray_instance, tmp_path: Path) -> None:
    ws, server, url = _workspace(tmp_path)
    old, folder = snapshot_version(ws, "experimenter")
    code = ws / "experimenter" / "__init__.py"
    code.write_text(code.read_text() + "\n# the canary\n")
    new = package_code_version(ws / "experimenter")

    async def scenario():
        fleet = _fleet(ws)
        fleet.store.add(old, folder)
        await fleet.start()
        try:
            asked = [old, new, old, new]
            return asked, await asyncio.gather(*(fleet.run(i, version=v) for v, i in zip(asked, _inputs(url, 4))))
        finally:
            await fleet.close()

    try:
        asked, outcomes = asyncio.run(scenario())
    finally:
        server.stop()
    assert all(o.success for o in outcomes), [o.error for o in outcomes]
    assert [o.code_version for o in outcomes] == asked
    events = _events(ws)
    for outcome, version in zip(outcomes, asked):
        mine = [e for e in events if e["execution_id"] == outcome.execution_id]
        assert mine[0]["event_type"] == "execution_start" and mine[-1]["event_type"] == "execution_complete"
        assert mine[0]["event_data"]["code_version"] == version
        assert any(e["event_type"] == "method_complete" for e in mine)    # written on the actor's node
    # the actors' supervisors' outcome records reach the head too: a canary verdict on Ray rests on them
    from astroagent.telemetry.outcomes import read_outcomes
    records = read_outcomes(ws / "data" / "logs" / "experimenter", 0, time.time() + 60)
    assert sorted((r["execution_id"], r["code_version"]) for r in records) == \
        sorted((o.execution_id, v) for o, v in zip(outcomes, asked))


def test_an_actor_that_dies_mid_experiment_is_a_crash_and_its_events_so_far_are_kept(
        ray_instance, tmp_path: Path) -> None:
    ws, server, url = _workspace(tmp_path, stall_rate=1.0, stall_seconds=4.0)   # every fetch takes 4 s

    async def killer() -> None:
        while True:                       # once the victim's first events are at the head, kill its actor
            start = [e for e in _events(ws) if e["execution_id"] == "victim" and e["event_type"] == "execution_start"]
            if start:
                psutil.Process(start[0]["event_data"]["pid"]).parent().kill()
                return
            await asyncio.sleep(0.05)

    async def scenario():
        fleet = _fleet(ws)
        await fleet.start()
        try:
            first, second = _inputs(url, 2)
            results = await asyncio.gather(fleet.run(first, execution_id="victim"),
                                           fleet.run(second, execution_id="survivor"), killer())
            return results[:2], fleet.counts()
        finally:
            await fleet.close()

    try:
        (victim, survivor), counts = asyncio.run(scenario())
    finally:
        server.stop()
    assert victim.failure_kind == "crash" and "Ray actor died" in victim.error
    assert survivor.success, survivor.error
    assert counts["crashes"] == 1
    events = _events(ws)
    mine = [e for e in events if e["execution_id"] == "victim"]
    assert mine[0]["event_type"] == "execution_start" and mine[0]["event_data"].get("written_by") != "supervisor"
    assert mine[-1]["event_type"] == "execution_complete" and mine[-1]["event_data"]["success"] is False
    assert mine[-1]["event_data"]["failure_type"] == "WorkerCrashed"
    assert [e["event_type"] for e in events if e["execution_id"] == "survivor"][-1] == "execution_complete"


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if text in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_an_unreachable_cluster_is_one_line_exit_1_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as probe:      # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_tmp = tmp_path / "ray"      # anything Ray started for this run would name this folder
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    proc = subprocess.run([sys.executable, "-m", "astroagent", "run", "--executor", "ray", "--ray-address",
                           f"127.0.0.1:{port}", "--cycles", "1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "Traceback" not in proc.stderr
    assert not _processes_mentioning(str(ray_tmp)) and not ray_tmp.exists()


def test_sigterm_stops_the_ray_run_and_every_process_it_started(tmp_path: Path) -> None:
    ws, server, _ = _workspace(tmp_path)
    env = {**os.environ, "ASTROAGENT_PIPELINE__SHUTDOWN_DEADLINE_SECONDS": "20"}
    proc = subprocess.Popen([sys.executable, "-m", "astroagent", "run", "--no-lab-technician", "--executor", "ray",
                             "--workers", "2"], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    family: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for child in psutil.Process(proc.pid).children(recursive=True):
                family.setdefault(child.pid, child)
            state = load_state(ws / "data")
            if state is not None and state.experiments >= 2:
                break
            time.sleep(0.2)
        assert state is not None and state.experiments >= 2, "the Ray run never finished two experiments"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 0, err[-2000:]
    gone, alive = psutil.wait_procs(list(family.values()), timeout=10)
    assert not alive, f"left running: {[p.info if hasattr(p, 'info') else p for p in alive]}"
    state = load_state(ws / "data")
    events = _events(ws)
    opened = {e["execution_id"] for e in events if e["event_type"] == "execution_start"}
    closed = {e["execution_id"] for e in events if e["event_type"] == "execution_complete"}
    assert opened == closed and len(opened) == state.experiments
