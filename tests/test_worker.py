"""The worker process and its supervisor: the JSON-lines protocol, crash restart with backoff,
hang kill with a logged failure, and restart on new code between experiments.

The supervisor is driven here by a small agent whose workspace code crashes, hangs or fails
on request, so each fault is exact and fast; the pipeline tests use the real Experimenter.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import psutil
import pytest

from astroagent.config import PipelineConfig
from astroagent.orchestration.supervisor import WorkerSupervisor, restart_delay
from astroagent.telemetry import package_code_version

AGENT = textwrap.dedent('''
    import importlib, sys
    from astroagent.agents.common import BaseAgent
    from astroagent.telemetry import Telemetry, package_code_version

    class ScriptedExperimenter(BaseAgent):
        """Imports the workspace package once (like the real one) and runs project['params']['mode']."""
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
                    verdict = self.code.run(project)
            return {"project_id": project["id"], "code_version": self.version, "verdict": verdict}
''')

CODE = textwrap.dedent('''
    import os, subprocess, time
    VERSION = "one"
    def run(project):
        mode = project["params"]["mode"]
        if mode == "spawn":  # a grandchild in a session of its own, then hang
            subprocess.Popen(["sleep", "600"], start_new_session=True)
            time.sleep(600)
        if mode == "crash":
            os.kill(os.getpid(), 9)
        if mode == "hang":
            time.sleep(600)
        if mode == "fail":
            raise ConnectionError("connection reset by peer")
        if mode == "print":
            print("a stray print on stdout")
        return VERSION
''')


@pytest.fixture()
def rig(tmp_path: Path) -> dict:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "scripted.py").write_text(AGENT)
    workspace = tmp_path / "ws"
    (workspace / "experimenter").mkdir(parents=True)
    (workspace / "experimenter" / "__init__.py").write_text(CODE)
    (workspace / "astroagent.yaml").write_text("{}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "agents")}
    return {"workspace": workspace, "data": tmp_path / "data", "env": env}


def _supervisor(rig: dict, events: list, **config: float) -> WorkerSupervisor:
    settings = {"experiment_timeout_seconds": 20, "restart_backoff_seconds": 0.05, **config}
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    sup = WorkerSupervisor(workspace=rig["workspace"], data_dir=rig["data"], config=PipelineConfig(**settings),
                           agent_target="scripted:ScriptedExperimenter", env=rig["env"], on_event=events.append,
                           sleep=sleep)
    sup.sleeps = sleeps  # type: ignore[attr-defined]
    return sup


def _project(mode: str) -> dict:
    return {"project": {"id": f"p-{mode}", "area": "exoplanets", "kind": "test", "params": {"mode": mode}}}


def _events(data: Path) -> list[dict]:
    lines = []
    for path in sorted((data / "logs" / "experimenter").glob("execution_*.jsonl")):
        lines += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return lines


def test_worker_speaks_json_lines_and_keeps_stdout_clean(rig: dict) -> None:
    requests = [{"type": "run", "id": "e1", "state_name": "experiment", "input_data": _project("print")},
                "not json", {"type": "run", "id": "e2", "input_data": _project("fail")}]
    stdin = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in requests) + "\n"
    proc = subprocess.run(
        [sys.executable, "-m", "astroagent.orchestration.worker", "--agent-target", "scripted:ScriptedExperimenter",
         "--workspace", str(rig["workspace"]), "--data-dir", str(rig["data"])],
        input=stdin, capture_output=True, text=True, env=rig["env"], timeout=60)
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [a["type"] for a in answers] == ["ready", "result", "error", "result"]
    assert answers[0]["code_version"] == package_code_version(rig["workspace"] / "experimenter")
    assert answers[1]["result"]["success"] and answers[1]["result"]["output_data"]["verdict"] == "one"
    assert "bad request" in answers[2]["error"]
    assert answers[3]["result"]["success"] is False
    assert "ConnectionError: connection reset by peer" in answers[3]["result"]["error_message"]
    assert "a stray print on stdout" in proc.stderr


def test_crashed_worker_is_restarted_with_backoff_and_the_experiment_logged_failed(rig: dict) -> None:
    events: list = []

    async def scenario() -> list:
        sup = _supervisor(rig, events)
        outcomes = [await sup.run(_project(m)) for m in ("ok", "crash", "crash", "ok", "ok")]
        await sup.shutdown()
        return outcomes + [sup]

    *outcomes, sup = asyncio.run(scenario())
    assert [o.success for o in outcomes] == [True, False, False, True, True]
    assert outcomes[1].failure_kind == "crash" and "signal 9" in outcomes[1].error
    assert sup.crashes == 2 and sup.restarts == 2
    assert sup.sleeps == [0.05, 0.1]  # exponential backoff after consecutive crashes
    assert len({o.worker_pid for o in outcomes}) == 3
    closing = [e for e in _events(rig["data"]) if e["execution_id"] == outcomes[1].execution_id
               and e["event_type"] == "execution_complete"]
    assert closing and closing[0]["event_data"]["success"] is False
    assert closing[0]["event_data"]["failure_type"] == "WorkerCrashed"


def test_hung_experiment_is_killed_at_the_timeout_and_logged_as_a_failed_execution(rig: dict) -> None:
    events: list = []

    family: dict[int, psutil.Process] = {}

    async def watch(sup: WorkerSupervisor) -> None:
        while True:
            if sup.pid:
                worker = psutil.Process(sup.pid)
                family.setdefault(worker.pid, worker)
                for child in worker.children(recursive=True):
                    family.setdefault(child.pid, child)
            await asyncio.sleep(0.05)

    async def scenario():
        sup = _supervisor(rig, events, experiment_timeout_seconds=2.0)
        await sup.start()
        watcher = asyncio.ensure_future(watch(sup))
        hung = await sup.run(_project("spawn"))   # hangs, with a grandchild in its own session
        watcher.cancel()
        after = await sup.run(_project("ok"))
        await sup.shutdown()
        return hung, after

    hung, after = asyncio.run(scenario())
    assert hung.failure_kind == "timeout" and not hung.success
    assert len(family) == 2
    gone, alive = psutil.wait_procs(list(family.values()), timeout=5)
    assert not alive, f"left running: {alive}"
    assert after.success
    mine = [e for e in _events(rig["data"]) if e["execution_id"] == hung.execution_id]
    types = [e["event_type"] for e in mine]
    assert types[0] == "execution_start" and types[-1] == "execution_complete"
    assert mine[-1]["event_data"]["success"] is False
    assert mine[-1]["event_data"]["failure_type"] == "ExperimentTimeout"
    stuck = next(e["event_data"] for e in mine if e["event_type"] == "execution_error")
    line = next(n for n, text in enumerate(CODE.splitlines(), 1) if "time.sleep(600)" in text)
    assert stuck["location"] == {"file": "experimenter/__init__.py", "function": "run", "line": line}
    assert stuck["method"] == "run" and "most recent call first" in stuck["traceback"]
    assert f"in run (experimenter/__init__.py:{line})" in hung.error
    assert not list((rig["data"] / "pipeline").glob("stacks_*.txt"))
    assert any(e["status"] == "killed" for e in events)


def test_new_code_restarts_the_worker_between_experiments_and_new_version_is_logged(rig: dict) -> None:
    events: list = []
    code = rig["workspace"] / "experimenter" / "__init__.py"
    before = package_code_version(code.parent)

    async def scenario():
        sup = _supervisor(rig, events)
        first = await sup.run(_project("ok"))
        code.write_text(CODE.replace('VERSION = "one"', 'VERSION = "two"'))
        second = await sup.run(_project("ok"))
        third = await sup.run(_project("ok"))
        await sup.shutdown()
        return first, second, third

    first, second, third = asyncio.run(scenario())
    after = package_code_version(code.parent)
    assert (first.output["verdict"], second.output["verdict"]) == ("one", "two")
    assert first.worker_pid != second.worker_pid == third.worker_pid
    assert (first.code_version, second.code_version) == (before, after)
    starts = [e["event_data"]["code_version"] for e in _events(rig["data"]) if e["event_type"] == "execution_start"]
    assert starts == [before, after, after]
    assert any(e["status"] == "restarting" and e["reason"] == "code changed" for e in events)


def test_worker_and_its_children_die_with_a_killed_pipeline(rig: dict, tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f'''
        import asyncio, sys
        from pathlib import Path
        from astroagent.config import PipelineConfig
        from astroagent.orchestration.supervisor import WorkerSupervisor
        async def main():
            sup = WorkerSupervisor(workspace=Path({str(rig["workspace"])!r}), data_dir=Path({str(rig["data"])!r}),
                                   config=PipelineConfig(), agent_target="scripted:ScriptedExperimenter")
            await sup.start()
            print(sup.pid, flush=True)
            await sup.run({{"project": {{"id": "h", "params": {{"mode": "spawn"}}}}}})
        asyncio.run(main())
    '''))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=rig["env"])
    worker_pid = int(parent.stdout.readline())
    worker = psutil.Process(worker_pid)
    deadline = time.monotonic() + 30
    while not worker.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    family = [worker, *worker.children(recursive=True)]
    assert len(family) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"orphans: {alive}"


def test_restart_delay_grows_exponentially_to_the_cap() -> None:
    assert [restart_delay(n, 1.0, 10.0) for n in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0]


def test_the_stuck_frame_is_the_most_recent_one_in_the_workspace_code(tmp_path: Path) -> None:
    from astroagent.orchestration.stacks import parse_dump

    ws = tmp_path / "ws"
    dump = textwrap.dedent(f'''\
        Thread 0x00007f01 (most recent call first):
          File "/usr/lib/python3.11/threading.py", line 320 in wait
        Current thread 0x00007f02 (most recent call first):
          File "/usr/lib/python3.11/socket.py", line 706 in readinto
          File "/usr/lib/python3.11/http/client.py", line 286 in _read_status
          File "{ws}/experimenter/fetch.py", line 15 in fetch_dataset
          File "{ws}/experimenter/__init__.py", line 22 in fetch_inputs
          File "/site-packages/astroagent/agents/experimenter.py", line 224 in execute
    ''')
    assert parse_dump(dump, ws / "experimenter", ws) == {"file": "experimenter/fetch.py",
                                                          "function": "fetch_dataset", "line": 15}
    assert parse_dump(dump, tmp_path / "elsewhere", ws) is None
    assert parse_dump("", ws / "experimenter", ws) is None
