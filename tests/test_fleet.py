"""The local worker fleet: N experiments at a time in supervised processes, each on the code
version asked for (the files on disk or a snapshot), the random canary assignment, and the
command line's fleet options (bad input, SIGTERM with no process left behind)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import psutil
import pytest

from astroagent.config import ArchiveConfig, PipelineConfig
from astroagent.orchestration.continuous_pipeline import ContinuousPipeline, PipelineOptions
from astroagent.orchestration.fleet import FleetSpec, LocalFleet, assign_version, make_fleet
from astroagent.orchestration.state import load_state
from astroagent.orchestration.versions import VersionStore, snapshot_before_change, snapshot_version
from astroagent.science.archive_server import ArchiveServer
from astroagent.telemetry import package_code_version
from astroagent.workspace import init_workspace

AGENT = textwrap.dedent('''
    import importlib, sys
    from astroagent.agents.common import BaseAgent
    from astroagent.telemetry import Telemetry, package_code_version

    class Rendezvous(BaseAgent):
        """Runs project['params']['mode'] in the workspace's code, logging like the real one."""
        name = "experimenter"

        def load_code(self):
            sys.path.insert(0, str(self.workspace))
            self.code = importlib.import_module("experimenter")
            self.version = package_code_version(self.workspace / "experimenter")
            self.telemetry = Telemetry("experimenter", self.data_dir)

        def execute(self, context):
            project = context.input_data["project"]
            with self.telemetry.execution(context.execution_id, code_version=self.version) as run:
                with run.span("analyse"):
                    verdict = self.code.run(project["params"])
            return {"code_version": self.version, "verdict": verdict}
''')

CODE = textwrap.dedent('''
    import os, pathlib, time
    def run(params):
        if params["mode"] == "crash":
            os.kill(os.getpid(), 9)
        mine, other = pathlib.Path(params["mine"]), pathlib.Path(params["other"])
        mine.write_text("here")
        for _ in range(2000):          # waits for the other experiment: only true concurrency ends it
            if other.exists():
                return "met"
            time.sleep(0.01)
        return "alone"
''')


@pytest.fixture()
def rig(tmp_path: Path) -> dict:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "rendezvous.py").write_text(AGENT)
    workspace = tmp_path / "ws"
    (workspace / "experimenter").mkdir(parents=True)
    (workspace / "experimenter" / "__init__.py").write_text(CODE)
    (workspace / "astroagent.yaml").write_text("{}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "agents")}
    return {"workspace": workspace, "data": tmp_path / "data", "env": env, "tmp": tmp_path}


def _fleet(rig: dict, workers: int) -> LocalFleet:
    config = PipelineConfig(experiment_timeout_seconds=60, restart_backoff_seconds=0.0)
    return LocalFleet(FleetSpec(workspace=rig["workspace"], data_dir=rig["data"], config=config, workers=workers,
                                agent_target="rendezvous:Rendezvous", env=rig["env"]))


def _meet(rig: dict, a: str, b: str, mode: str = "meet") -> dict:
    return {"project": {"id": a, "params": {"mode": mode, "mine": str(rig["tmp"] / a), "other": str(rig["tmp"] / b)}}}


def _events(data: Path) -> list[dict]:
    lines = []
    for path in sorted((data / "logs" / "experimenter").glob("execution_*.jsonl")):
        lines += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return lines


def test_two_workers_run_two_experiments_at_the_same_time(rig: dict) -> None:
    async def scenario():
        fleet = _fleet(rig, 2)
        try:
            return await asyncio.gather(fleet.run(_meet(rig, "a", "b")), fleet.run(_meet(rig, "b", "a")))
        finally:
            await fleet.close()

    first, second = asyncio.run(scenario())
    assert first.success and second.success, (first.error, second.error)
    assert first.output["verdict"] == second.output["verdict"] == "met"   # each saw the other running
    assert first.worker_pid != second.worker_pid


def test_one_worker_runs_them_one_after_the_other(rig: dict) -> None:
    async def scenario():
        fleet = _fleet(rig, 1)
        try:
            return await asyncio.gather(fleet.run(_meet(rig, "a", "b")), fleet.run(_meet(rig, "b", "a")))
        finally:
            await fleet.close()

    first, second = asyncio.run(scenario())
    assert {first.output["verdict"], second.output["verdict"]} == {"alone", "met"}


def test_a_worker_that_dies_fails_its_experiment_alone_and_loses_no_event(rig: dict) -> None:
    async def scenario():
        fleet = _fleet(rig, 2)
        try:
            crashed, survivor = await asyncio.gather(fleet.run(_meet(rig, "c", "s", mode="crash")),
                                                     fleet.run(_meet(rig, "s", "c")))
            again = await fleet.run(_meet(rig, "x", "s"))     # the fleet goes on with a new worker
            return crashed, survivor, again, fleet.counts()
        finally:
            await fleet.close()

    crashed, survivor, again, counts = asyncio.run(scenario())
    assert crashed.failure_kind == "crash" and "WorkerCrashed" in crashed.error
    assert survivor.success and again.success
    assert counts["crashes"] == 1
    events = _events(rig["data"])
    for outcome in (crashed, survivor, again):
        mine = [e["event_type"] for e in events if e["execution_id"] == outcome.execution_id]
        assert mine[0] == "execution_start" and mine[-1] == "execution_complete", mine
    closing = next(e for e in events if e["execution_id"] == crashed.execution_id
                   and e["event_type"] == "execution_complete")
    assert closing["event_data"]["success"] is False and closing["event_data"]["failure_type"] == "WorkerCrashed"


def test_each_experiment_runs_the_version_it_asks_for(rig: dict) -> None:
    code = rig["workspace"] / "experimenter" / "__init__.py"
    old, folder = snapshot_version(rig["workspace"], "experimenter", data_dir=rig["data"])
    assert old == package_code_version(rig["workspace"] / "experimenter") == package_code_version(folder / "experimenter")
    code.write_text(CODE + "\n# the canary\n")
    new = package_code_version(code.parent)

    async def scenario():
        fleet = _fleet(rig, 1)
        fleet.store.add(old, folder)
        try:
            asked = [old, None, old, new]
            outcomes = [await fleet.run(_meet(rig, f"v{i}", "v0"), version=v) for i, v in enumerate(asked)]
            unknown = await fleet.run(_meet(rig, "u", "v0"), version="0123456789ab")
            return outcomes, unknown, fleet.counts(), set(fleet.versions)
        finally:
            await fleet.close()

    outcomes, unknown, counts, versions = asyncio.run(scenario())
    assert [o.code_version for o in outcomes] == [old, new, old, new]
    assert all(o.success for o in outcomes)
    assert counts["restarts"] == 3             # one worker alternates: a restart on each change of version
    assert versions == {old, new}
    started = {e["execution_id"]: e["event_data"]["code_version"] for e in _events(rig["data"])
               if e["event_type"] == "execution_start"}
    assert [started[o.execution_id] for o in outcomes] == [old, new, old, new]
    assert unknown.failure_kind == "start" and "neither on disk nor snapshotted" in unknown.error


def test_a_snapshot_from_a_changes_backup_is_the_version_before_the_change(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "pkg" / "sub").mkdir(parents=True)
    (ws / "pkg" / "__init__.py").write_text("")
    target = ws / "pkg" / "sub" / "fetch.py"
    target.write_text("def fetch():\n    return 1\n")
    before = package_code_version(ws / "pkg")
    backup = tmp_path / "fetch_backup.py"
    backup.write_bytes(target.read_bytes())
    target.write_text("def fetch():\n    return 2\n")          # the change the Lab Technician applied
    version, folder = snapshot_before_change({"id": "chg-1", "file": "pkg/sub/fetch.py", "backup": str(backup)},
                                             ws, "pkg", data_dir=tmp_path / "data")
    assert version == before and (folder / "pkg" / "sub" / "fetch.py").read_text().endswith("return 1\n")
    assert target.read_text().endswith("return 2\n")           # the workspace is not touched
    again, same = snapshot_version(ws, "pkg", data_dir=tmp_path / "data", replace={"pkg/sub/fetch.py": backup})
    assert (again, same) == (version, folder)
    with pytest.raises(ValueError, match="not a file of the code package"):
        snapshot_version(ws, "pkg", data_dir=tmp_path / "data", replace={"../elsewhere.py": backup})
    with pytest.raises(FileNotFoundError, match="no backup"):
        snapshot_before_change({"id": "chg-2", "file": "pkg/sub/fetch.py", "backup": None}, ws, "pkg")
    assert not [p for p in (tmp_path / "data" / "pipeline" / "versions").iterdir() if p.name.startswith(".")]
    store = VersionStore(ws, "pkg")
    store.add(version, folder)
    assert store.folder_for(None) == ws and store.folder_for(version) == folder


def test_assign_version_splits_at_the_canary_fraction_and_is_reproducible() -> None:
    draws = [assign_version("base", "canary", 0.3, random.Random(7)) for _ in range(3)]
    assert len(set(draws)) == 1                      # the same seed, the same choice
    rng = random.Random(11)
    picks = [assign_version("base", "canary", 0.3, rng) for _ in range(4000)]
    assert 0.26 < picks.count("canary") / len(picks) < 0.34
    assert {assign_version("base", None, 0.5, rng) for _ in range(50)} == {"base"}
    assert assign_version("base", "base", 0.5, rng) == "base"
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        assign_version("base", "canary", 1.0, rng)


@pytest.fixture()
def real_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = ArchiveServer(ArchiveConfig())
    ws = init_workspace(tmp_path / "ws", archive_url=server.start())
    monkeypatch.chdir(ws)
    yield ws
    server.stop()


def test_the_pipeline_runs_its_experiments_on_two_workers_with_the_real_experimenter(real_workspace: Path) -> None:
    chosen: list[str | None] = []
    pipeline = ContinuousPipeline(PipelineOptions(workspace=real_workspace, max_cycles=2, projects_per_cycle=3,
                                                  handle_signals=False), workers=2)
    pipeline.disable_lab_technician()
    pipeline.choose_version = lambda project: chosen.append(project["id"]) or None
    state = asyncio.run(pipeline.run_continuous({"domain": "astrophysics"}))
    assert pipeline.fleet.size == 2 and state.experiments == 6 and state.successes == 6
    assert len(chosen) == 6
    pids = {e["event_data"].get("pid") for e in _events(real_workspace / "data")
            if e["event_type"] == "execution_start"}
    assert len(pids - {None}) == 2                   # both workers ran experiments


def test_make_fleet_refuses_no_workers_and_an_unknown_executor(tmp_path: Path) -> None:
    spec = FleetSpec(workspace=None, data_dir=tmp_path, config=PipelineConfig())
    from astroagent.errors import UsageError
    for bad in ({"workers": 0}, {"executor": "slurm"}):
        with pytest.raises(UsageError):
            make_fleet(FleetSpec(**{**spec.__dict__, **bad}))


def _astroagent(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "astroagent", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("value", ["0", "two", "-3"])
def test_run_refuses_a_bad_worker_count_in_one_line(tmp_path: Path, value: str) -> None:
    proc = _astroagent("run", "--workers", value, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--workers" in lines[0] and "Traceback" not in proc.stderr


def test_run_with_ray_but_no_ray_installed_names_the_extra(tmp_path: Path) -> None:
    shadow = tmp_path / "no_ray"
    shadow.mkdir()   # stands in for a machine without Ray: `import ray` fails as it would there
    (shadow / "ray.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    proc = _astroagent("run", "--executor", "ray", "--cycles", "1", cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'astroagent[ray]'" in lines[0]


def test_sigterm_stops_every_worker_of_a_two_worker_run(real_workspace: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "astroagent", "run", "--no-lab-technician", "--workers", "2"],
                            cwd=real_workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    family: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for child in psutil.Process(proc.pid).children(recursive=True):
            family.setdefault(child.pid, child)
        state = load_state(real_workspace / "data")
        if state is not None and state.experiments >= 2 and len(family) >= 2:
            break
        time.sleep(0.1)
    assert len(family) >= 2, "the run never started two workers"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    gone, alive = psutil.wait_procs(list(family.values()), timeout=5)
    assert not alive, f"left running: {alive}"
    state = load_state(real_workspace / "data")
    assert state is not None and state.status == "stopped"
    events = _events(real_workspace / "data")
    opened = {e["execution_id"] for e in events if e["event_type"] == "execution_start"}
    closed = {e["execution_id"] for e in events if e["event_type"] == "execution_complete"}
    assert opened == closed and len(opened) == state.experiments
    assert b"stopped after" in out
