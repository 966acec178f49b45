"""The dashboard over HTTP (Starlette's test client): each page shows the pipeline's real state, and
every state-changing request needs the token, comes from the dashboard's own pages, and stays inside
the data directory."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from _labtech_ws import FETCH, TEST_FETCH, make_workspace

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from astroagent.cli import main  # noqa: E402
from astroagent.config import load_config  # noqa: E402
from astroagent.dashboard import DashboardSettings, create_app  # noqa: E402
from astroagent.dashboard.server import announce  # noqa: E402
from astroagent.labtech.changes.improve import run_improvements  # noqa: E402
from astroagent.labtech.changes.ledger import Ledger  # noqa: E402
from astroagent.labtech.models import Analysis, ErrorPattern, ExecutionStats, MethodStats, Opportunity  # noqa: E402
from astroagent.labtech.reports.render import write_outputs  # noqa: E402
from astroagent.orchestration.control import PipelineControl, control_dir, result_of, submit  # noqa: E402
from astroagent.orchestration.state import ExperimentRecord, PipelineState, save_state  # noqa: E402
from astroagent.paths import lab_technician_dir  # noqa: E402

BASE = "http://127.0.0.1:8750"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _opportunity(signature: str) -> Opportunity:
    return Opportunity(type="frequent_error", priority="high", score=10.0, target="experimenter/fetch.py::fetch_dataset",
                       fix="add_retry_mechanism", signature=signature, method="fetch_dataset",
                       error_types=("ConnectionResetError",), description=f"ConnectionResetError ({signature})")


def _analysis(signature: str = "sig-a") -> Analysis:
    pattern = ErrorPattern(signature=signature, error_type="ConnectionResetError", template="connection reset by <host>",
                           count=25, absorbed=5, transient=True, method="fetch_dataset")
    return Analysis(generated_at=datetime.now(UTC), window_hours=24, log_dir="logs", opportunities=(_opportunity(signature),),
                    error_patterns=(pattern,), needs_intervention=True,
                    executions=ExecutionStats(total=60, failed=25, success_rate=35 / 60),
                    methods={"fetch_dataset": MethodStats(method="fetch_dataset", calls=60, mean=0.2, p50=0.1, p95=0.6)})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a running-looking pipeline, two changes awaiting approval, an analysis and an experiment."""
    ws = make_workspace(tmp_path_factory.mktemp("dash") / "ws",
                        {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH},
                        config="lab_technician:\n  approval: manual\n")
    config = load_config(ws)
    for signature in ("sig-a", "sig-b"):
        run_improvements(_analysis(signature), config=config, workspace=ws, data_dir=ws / "data")
    write_outputs(_analysis(), lab_technician_dir(ws / "data"))
    state = PipelineState(status="running", pid=os.getpid(), started_at=datetime.now(UTC).isoformat(),
                          updated_at=datetime.now(UTC).isoformat(), code_version="v1")
    for i in range(12):
        state.record(ExperimentRecord(t=2.0 * i, execution_id=f"e{i}", success=i % 3 != 0, code_version="v1",
                                      area="exoplanets"))
    save_state(ws / "data", state)
    project = ws / "data" / "projects" / "hr_diagram-1"
    project.mkdir(parents=True)
    (project / "plot.png").write_bytes(PNG)
    (project / "results.json").write_bytes(orjson.dumps({
        "project": {"id": "hr_diagram-1", "area": "stellar_evolution", "kind": "hr_diagram", "params": {},
                    "hypothesis": "The main sequence is a narrow band."},
        "verdict": "supported", "verdict_reason": "98 % of stars within 1 mag", "results": {"stars": 4213},
        "code_version": "v1", "execution_id": "e3", "created": datetime.now(UTC).isoformat()}))
    return ws


def _client(ws: Path, **settings) -> TestClient:
    made = DashboardSettings.create(data_dir=ws / "data", workspace=ws, **settings)
    return TestClient(create_app(made), base_url=BASE, follow_redirects=False)


def _waiting(ws: Path) -> list[dict]:
    return [c for c in Ledger(ws / "data").history() if c["status"] == "awaiting_approval"]


def _token(client: TestClient) -> str:
    return client.app.state.dashboard.settings.token


def test_each_page_shows_the_state_a_person_needs(lab: Path) -> None:
    client = _client(lab)
    waiting = _waiting(lab)
    overview = client.get("/").text
    assert "pipeline running" in overview and "Awaiting approval" in overview
    assert all(c["id"] in overview for c in waiting)
    assert ">12 <" in overview or "12 <span" in overview          # experiments done
    success = client.get("/success").text
    assert success.count('class="pt ok"') == 8 and success.count('class="pt fail"') == 4
    failures = client.get("/failures").text
    assert "ConnectionResetError" in failures and "fetch_dataset" in failures and "times-chart" in failures
    assert "<td class=num>20</td><td class=num>5</td>" in failures      # failed for good, absorbed by retries
    change = client.get(f"/changes/{waiting[0]['id']}").text
    assert 'class="add"' in change and "tenacity" in change and "Approve and apply" in change
    experiments = client.get("/experiments").text
    assert "hr_diagram-1" in experiments and "supported" in experiments
    page = client.get("/experiments/hr_diagram-1").text
    assert "4213" in page and "/experiments/hr_diagram-1/plot.png" in page
    plot = client.get("/experiments/hr_diagram-1/plot.png")
    assert plot.status_code == 200 and plot.content == PNG


def test_get_requests_change_nothing(lab: Path) -> None:
    files = [lab / "data/logs/lab_technician/ledger.jsonl", lab / "data/pipeline/state.json", lab / "experimenter/fetch.py"]
    before = [p.read_bytes() for p in files]
    client = _client(lab)
    for path in ("/", "/success", "/fragments/success", "/changes", "/failures", "/experiments",
                 f"/changes/{_waiting(lab)[0]['id']}", "/changes/x/approve", "/control/run-lab-technician"):
        assert client.get(path).status_code in (200, 404, 405)
    assert [p.read_bytes() for p in files] == before
    assert not control_dir(lab / "data").joinpath("requests").exists()


def test_the_live_fragment_is_304_until_a_new_experiment(lab: Path, tmp_path: Path) -> None:
    client = _client(lab)
    first = client.get("/fragments/success")
    etag = first.headers["etag"]
    assert first.json()["points"] == 12
    assert client.get("/fragments/success", headers={"If-None-Match": etag}).status_code == 304


def test_unknown_ids_and_paths_outside_the_data_directory_are_404(lab: Path, tmp_path: Path) -> None:
    client = _client(lab)
    missing = client.get("/changes/chg-00000000")
    assert missing.status_code == 404 and "no change" in missing.text and "<html" in missing.text
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "results.json").write_text('{"verdict": "secret"}')
    (outside / "plot.png").write_bytes(PNG)
    (lab / "data/projects/link").symlink_to(outside)
    try:
        for path in ("/experiments/link", "/experiments/link/plot.png", "/experiments/..%2F..%2Fpipeline",
                     "/experiments/%2E%2E/plot.png", "/static/..%2F..%2F..%2Fpaths.py", "/static/../views.py",
                     "/experiments/.hidden"):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert "secret" not in answer.text and "__all__" not in answer.text
    finally:
        (lab / "data/projects/link").unlink()
    ledger = Ledger(lab / "data")
    ledger.record_change({"id": "chg-evil0001", "status": "rolled_back", "backup": "/etc/passwd", "diff": ""})
    assert client.get("/changes/chg-evil0001/backup").status_code == 404


def test_state_changing_requests_need_the_token_from_this_origin(lab: Path) -> None:
    client = _client(lab)
    change = _waiting(lab)[0]["id"]
    token = _token(client)
    refused = [
        client.post(f"/changes/{change}/reject", data={}),
        client.post(f"/changes/{change}/reject", data={"token": "wrong-token"}),
        client.post(f"/changes/{change}/reject?token={token}", data={}),
        client.post(f"/changes/{change}/reject", data={"token": token}, headers={"Origin": "http://evil.example"}),
        client.post(f"/changes/{change}/reject", data={"token": token}, headers={"Sec-Fetch-Site": "cross-site"}),
        client.post(f"/changes/{change}/reject", data={"token": token}, headers={"Host": "evil.example:8750"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 400, 403, 403, 403]
    assert "needs the dashboard" in refused[0].text and "never accepted in the URL" in refused[2].text
    assert client.get("/", headers={"Host": "rebind.example"}).status_code == 403
    assert change in [c["id"] for c in _waiting(lab)]          # still waiting: nothing was changed
    header = client.post(f"/changes/{change}/reject", headers={"X-Astroagent-Token": token, "Origin": BASE})
    assert header.status_code == 303
    assert Ledger(lab / "data").get(change)["status"] == "rejected"


def test_approve_from_the_dashboard_applies_the_change(lab: Path) -> None:
    client = _client(lab)
    change = _waiting(lab)[-1]["id"]
    answer = client.post(f"/changes/{change}/approve", data={"token": _token(client)}, headers={"Origin": BASE})
    assert answer.status_code == 303
    page = client.get(answer.headers["location"]).text
    assert "approved and applied" in page
    assert Ledger(lab / "data").get(change)["status"] == "applied"
    assert "tenacity" in (lab / "experimenter/fetch.py").read_text()
    assert "Roll back" in page
    assert client.post("/changes/chg-nope/approve", data={"token": _token(client)}).status_code == 404


def test_read_only_shows_no_controls_and_accepts_no_change(lab: Path) -> None:
    client = _client(lab, read_only=True)
    page = client.get("/").text
    assert "<form" not in page and "read-only" in page
    change = Ledger(lab / "data").history()[0]["id"]
    assert "<form" not in client.get(f"/changes/{change}").text
    assert client.post(f"/changes/{change}/reject", data={"token": _token(client)}).status_code == 404
    assert client.post("/control/run-lab-technician", data={"token": _token(client)}).status_code == 404


def test_off_loopback_every_page_needs_a_login(lab: Path) -> None:
    settings = DashboardSettings.create(data_dir=lab / "data", workspace=lab, host="0.0.0.0")
    assert settings.login_required and any(settings.token in line for line in announce(settings, 8750))
    client = TestClient(create_app(settings), base_url="http://203.0.113.7:8750", follow_redirects=False)
    assert client.get("/").headers["location"] == "/login"
    assert client.post("/login", data={"token": "not-the-token"}).headers["location"] == "/login?failed=1"
    logged = client.post("/login", data={"token": settings.token})
    cookie = logged.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and settings.token.lower() not in cookie
    assert client.get("/").status_code == 200 and client.get("/changes").status_code == 200


def test_pipeline_controls_go_through_the_control_channel(lab: Path, tmp_path: Path) -> None:
    client = _client(lab)
    answer = client.post("/control/set-lab-interval", data={"token": _token(client), "seconds": "90"})
    assert answer.status_code == 303
    [request] = list((control_dir(lab / "data") / "requests").glob("*.json"))
    assert orjson.loads(request.read_bytes())["args"] == {"seconds": 90.0}
    request.unlink()
    assert client.post("/control/set-lab-interval", data={"token": _token(client), "seconds": "nan"}).status_code == 400
    stopped = _client(tmp_path / "nowhere")
    (tmp_path / "nowhere").mkdir()
    refused = stopped.post("/control/run-lab-technician", data={"token": _token(stopped)})
    assert refused.status_code == 409 and "no pipeline is running" in refused.text


def test_the_pipeline_consumes_each_request_once(tmp_path: Path) -> None:
    from astroagent.orchestration.continuous_pipeline import ContinuousPipeline

    ws = make_workspace(tmp_path / "ws")
    pipeline = ContinuousPipeline(workspace=ws, data_dir=ws / "data", handle_signals=False)
    first = submit(ws / "data", "disable_lab_technician")
    second = submit(ws / "data", "set_lab_interval", {"seconds": 120})
    controls = [PipelineControl(pipeline), PipelineControl(pipeline)]
    assert sum(c.poll_once() for c in controls) == 2
    assert not pipeline.lab_technician_enabled and pipeline.lab_technician_interval == 120
    assert result_of(ws / "data", first)["message"] == "the Lab Technician is disabled"
    assert result_of(ws / "data", second)["state"] == "done"
    status = orjson.loads((control_dir(ws / "data") / "pipeline.json").read_bytes())
    assert status["lab_enabled"] is False and status["lab_interval"] == 120


def test_cli_refuses_bad_input_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert main(["dashboard", "--token", "short"]) == 2
    assert "--token must be at least 8" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["dashboard"]) == 2
    assert capsys.readouterr().err.strip() == \
        "astroagent: error: the dashboard needs its extra: pip install 'astroagent[dashboard]'"
