"""The Experimenter agent end to end: real data, a real archive on loopback, real failures."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from astroagent.agents import AgentExecutionContext, create_agent
from astroagent.config.models import ArchiveConfig
from astroagent.science.archive_server import ArchiveServer
from astroagent.science.datasets import read_packaged
from astroagent.science.projects import make_project
from astroagent.telemetry import package_code_version
from astroagent.workspace import init_workspace

HR = {"dataset_id": "hipparcos_hr", "min_parallax_snr": 10.0, "bv_split": 0.8}
ML = {"dataset_id": "debcat", "mass_range": "intermediate", "min_logg": 3.9}


def _ctx(**data) -> AgentExecutionContext:
    return AgentExecutionContext(agent_name="experimenter", state_name="experiment", input_data=data)


def _events(data_dir: Path) -> list[dict]:
    lines = []
    for path in sorted((data_dir / "logs" / "experimenter").glob("execution_*.jsonl")):
        lines += [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return lines


def _projects(data_dir: Path) -> list[str]:
    root = data_dir / "projects"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws")


def test_runs_a_project_from_the_workspace_code(workspace: Path) -> None:
    agent = create_agent("experimenter", workspace=workspace)
    project = make_project("mass_luminosity", ML, project_id="ml-test")
    result = agent.run(_ctx(project=project.model_dump()))
    assert result.success, result.error_message
    out = result.output_data
    assert out["project_id"] == "ml-test" and out["verdict"] == "supported"
    assert out["code_version"] == package_code_version(workspace / "experimenter")
    assert abs(out["results"]["alpha"]["value"] - 4.329) < 0.3 and out["results"]["alpha"]["error"] > 0
    folder = Path(out["output_dir"])
    assert folder == workspace / "data" / "projects" / "ml-test"
    assert sorted(p.name for p in folder.iterdir()) == ["plot.png", "results.json", "results.md"]
    assert (folder / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = orjson.loads((folder / "results.json").read_bytes())
    assert doc["verdict"] == "supported" and doc["project"]["kind"] == "mass_luminosity"
    assert "Eker" in (folder / "results.md").read_text()
    events = _events(workspace / "data")
    start = next(e for e in events if e["event_type"] == "execution_start")
    assert start["event_data"]["code_version"] == out["code_version"]
    assert start["event_data"]["project_id"] == "ml-test" and start["event_data"]["kind"] == "mass_luminosity"
    spans = [e["event_data"]["method"] for e in events if e["event_type"] == "method_complete"]
    for stage in ("load_project", "fetch_data", "analysis", "result_validation", "write_results"):
        assert stage in spans
    assert "zams_grid" in spans and "fetch_dataset" in spans
    assert events[-1]["event_type"] == "execution_complete" and events[-1]["event_data"]["success"] is True


def test_plans_one_project_from_area_and_seed(workspace: Path) -> None:
    agent = create_agent("experimenter", workspace=workspace)
    first = agent.run(_ctx(area="stellar_evolution", seed=3))
    again = agent.run(_ctx(area="stellar_evolution", seed=3))
    assert first.success and again.success
    assert first.output_data["project_id"] == again.output_data["project_id"]
    assert first.output_data["area"] == "stellar_evolution"


def test_without_a_workspace_runs_the_packaged_code(tmp_path: Path) -> None:
    agent = create_agent("experimenter", data_dir=tmp_path / "data")
    result = agent.run(_ctx(project=make_project("hr_diagram", HR, project_id="hr").model_dump()))
    assert result.success, result.error_message
    assert (tmp_path / "data" / "projects" / "hr" / "plot.png").is_file()


def test_unknown_area_is_a_failed_execution_in_the_logs(workspace: Path) -> None:
    result = create_agent("experimenter", workspace=workspace).run(_ctx(area="cosmology"))
    assert not result.success
    assert "unknown research area 'cosmology'" in result.error_message
    events = _events(workspace / "data")
    failed = next(e for e in events if e["event_type"] == "method_failed")
    assert failed["event_data"]["method"] == "load_project" and failed["event_data"]["error_type"] == "UsageError"
    assert events[-1]["event_data"]["success"] is False
    assert _projects(workspace / "data") == []


def test_missing_dataset_id_fails_cleanly(workspace: Path) -> None:
    project = make_project("hr_diagram", {**HR, "dataset_id": "no_such"}, project_id="missing")
    result = create_agent("experimenter", workspace=workspace).run(_ctx(project=project.model_dump()))
    assert not result.success and "unknown dataset 'no_such'" in result.error_message
    failed = [e for e in _events(workspace / "data") if e["event_type"] == "method_failed"]
    assert failed[0]["event_data"]["method"] == "fetch_dataset"  # the innermost span logs it once
    assert failed[0]["event_data"]["location"]["file"] == "experimenter/fetch.py"
    assert _projects(workspace / "data") == []


def test_archive_resets_give_real_network_errors(workspace: Path) -> None:
    agent = create_agent("experimenter", workspace=workspace)
    project = make_project("mass_luminosity", ML, project_id="net")
    with ArchiveServer(ArchiveConfig(reset_rate=1.0)) as server:
        result = agent.run(_ctx(project=project.model_dump(), archive_url=server.url))
    assert not result.success
    assert result.error_message.startswith(("ConnectionResetError", "RemoteDisconnected"))
    failed = [e["event_data"] for e in _events(workspace / "data") if e["event_type"] == "method_failed"]
    assert failed[0]["method"] == "fetch_dataset" and failed[0]["args_digest"]
    assert failed[0]["location"] == {"file": "experimenter/fetch.py", "function": "fetch_dataset",
                                     "line": failed[0]["location"]["line"]}
    assert _projects(workspace / "data") == []


def test_archive_5xx_is_an_http_error(workspace: Path) -> None:
    agent = create_agent("experimenter", workspace=workspace)
    with ArchiveServer(ArchiveConfig(error_rate=1.0)) as server:
        result = agent.run(_ctx(project=make_project("mass_luminosity", ML).model_dump(), archive_url=server.url))
    assert not result.success and result.error_message.startswith("HTTPError: HTTP Error 50")


def test_a_third_of_resets_fails_about_a_third_of_fetches(workspace: Path) -> None:
    from astroagent.agents.experimenter import load_research_code

    code = load_research_code(workspace / "experimenter")
    outcomes = []
    with ArchiveServer(ArchiveConfig(reset_rate=1 / 3, seed=4)) as server:
        for _ in range(30):
            try:
                code.fetch_dataset(server.url, "debcat")
                outcomes.append("ok")
            except (ConnectionResetError, OSError) as exc:
                outcomes.append(type(exc).__name__)
    assert 5 <= len([o for o in outcomes if o != "ok"]) <= 16


@pytest.fixture()
def garbage_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"<!DOCTYPE html><html><body><h1>Gateway maintenance</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_archive_answering_html_is_a_data_error(workspace: Path, garbage_server: str) -> None:
    agent = create_agent("experimenter", workspace=workspace)
    result = agent.run(_ctx(project=make_project("mass_luminosity", ML).model_dump(), archive_url=garbage_server))
    assert not result.success and "HTML" in result.error_message and result.error_message.startswith("DataError")
    failed = [e["event_data"] for e in _events(workspace / "data") if e["event_type"] == "method_failed"]
    # parsing is not instrumented: the failure lands on the fetch_data stage, located in load_dataset
    assert failed[-1]["method"] == "fetch_data"
    assert failed[-1]["location"]["function"] == "load_dataset"
    assert _projects(workspace / "data") == []


def test_truncated_file_from_the_archive_is_a_data_error(workspace: Path, tmp_path: Path) -> None:
    from astroagent.science.datasets import DATASETS, data_root
    import shutil

    root = tmp_path / "archive_data"
    shutil.copytree(data_root(), root)
    raw = read_packaged("debcat")
    (root / DATASETS["debcat"].filename).write_bytes(raw[: len(raw) // 2])
    agent = create_agent("experimenter", workspace=workspace)
    with ArchiveServer(data_root=root) as server:
        result = agent.run(_ctx(project=make_project("mass_luminosity", ML).model_dump(), archive_url=server.url))
    assert not result.success and "truncated" in result.error_message
    assert _projects(workspace / "data") == []


def test_failure_while_writing_leaves_nothing_half_written(workspace: Path) -> None:
    experiment = workspace / "experimenter" / "stellar.py"
    source = experiment.read_text()
    experiment.write_text(source.replace('"zams_bv": zams_bv[::40]', '"zams_bv": "not a list"'))
    result = create_agent("experimenter", workspace=workspace).run(
        _ctx(project=make_project("hr_diagram", HR, project_id="hr-broken").model_dump()))
    assert not result.success
    root = workspace / "data" / "projects"
    assert not root.exists() or list(root.iterdir()) == []


def test_deterministic_bug_on_the_rare_variant(workspace: Path) -> None:
    params = {"dataset_id": "riess2011_cepheids", "galaxies": None, "min_period": 100.0, "max_period": 250.0,
              "clip_sigma": None}
    result = create_agent("experimenter", workspace=workspace).run(
        _ctx(project=make_project("leavitt_law", params).model_dump()))
    assert not result.success and result.error_message.startswith("ZeroDivisionError")
    failed = [e["event_data"] for e in _events(workspace / "data") if e["event_type"] == "method_failed"]
    assert failed[-1]["location"]["file"] == "experimenter/stellar.py"
    assert failed[-1]["location"]["function"] == "galaxy_mean_log_period"


def test_code_changes_and_other_workspaces_are_picked_up(tmp_path: Path) -> None:
    first = init_workspace(tmp_path / "one")
    second = init_workspace(tmp_path / "two")
    project = make_project("mass_luminosity", ML, project_id="v").model_dump()
    a = create_agent("experimenter", workspace=first).run(_ctx(project=project))
    models = second / "experimenter" / "models.py"
    models.write_text(models.read_text() + "\n\nMARKER = 'second workspace'\n")
    b = create_agent("experimenter", workspace=second).run(_ctx(project=project))
    assert a.success and b.success
    assert a.output_data["code_version"] != b.output_data["code_version"]
    import sys
    assert sys.modules["experimenter.models"].MARKER == "second workspace"
    assert sys.modules["experimenter"].__file__.startswith(str(second))
    c = create_agent("experimenter", workspace=first).run(_ctx(project=project))
    assert c.success and not hasattr(sys.modules["experimenter.models"], "MARKER")
