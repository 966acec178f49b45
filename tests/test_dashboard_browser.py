"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) over a
real `astroagent run` in a subprocess, on a flaky loopback archive, with the Lab Technician in
approval mode: the chart gains points live, a person approves one change and rejects another, and a
state-changing request without the token is refused.

Set DASHBOARD_SCREENSHOTS=DIR to keep a screenshot of each page there (docs/dashboard/ holds them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium; .ci/run does it)")]
playwright_api = pytest.importorskip("playwright.sync_api")

OVERRIDES = {
    "lab_technician": {"engine": "rules", "approval": "manual", "safety_constraints": {"max_improvements": 3},
                       "verdict": {"min_executions": 12}},
    "experimenter": {"request_timeout_seconds": 5},
    "pipeline": {"lab_technician_interval": 1, "min_lab_interval": 1, "max_lab_interval": 2,
                 "min_experiments_between_lab": 4, "projects_per_cycle": 4, "experiment_timeout_seconds": 40,
                 "restart_backoff_seconds": 0.2, "shutdown_deadline_seconds": 5},
}


def _until(check, what: str, timeout: float):  # noqa: ANN001, ANN202
    """Poll ``check`` (bounded by a count of 0.25 s rounds) until it returns something true."""
    for _ in range(int(timeout / 0.25)):
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def running(tmp_path: Path):
    """A workspace on a flaky archive, `astroagent run` on it in a subprocess, the dashboard on a thread."""
    from astroagent.config import ArchiveConfig
    from astroagent.dashboard.security import DashboardSettings
    from astroagent.dashboard.server import DashboardThread
    from astroagent.science.archive_server import ArchiveServer
    from astroagent.workspace import init_workspace

    archive = ArchiveServer(ArchiveConfig(reset_rate=0.4, error_rate=0.05, seed=5))
    url = archive.start()
    ws = init_workspace(tmp_path / "lab", archive_url=url)
    config = yaml.safe_load((ws / "astroagent.yaml").read_text()) or {}
    for section, values in OVERRIDES.items():
        config.setdefault(section, {}).update(values)
    (ws / "astroagent.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    run = subprocess.Popen([sys.executable, "-m", "astroagent", "run", "--duration", "85"], cwd=ws, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    settings = DashboardSettings.create(data_dir=ws / "data", workspace=ws, port=0)
    server = DashboardThread(settings).start()
    try:
        yield ws, server
    finally:
        server.stop()
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=20)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
        archive.stop()


def _waiting(ws: Path) -> list[dict]:
    from astroagent.labtech.changes.ledger import Ledger

    return [c for c in Ledger(ws / "data").history() if c.get("status") == "awaiting_approval"]


def _shoot(page, name: str, shots: Path | None, *, full_page: bool = True) -> None:  # noqa: ANN001
    if shots is not None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=full_page)


def test_watch_approve_reject_and_refuse_in_a_real_browser(running, tmp_path: Path) -> None:
    ws, server = running
    shots = Path(os.environ["DASHBOARD_SCREENSHOTS"]) if os.environ.get("DASHBOARD_SCREENSHOTS") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(30_000)
        page.goto(server.url + "/success")
        count = "document.querySelectorAll('#success-chart circle.pt').length"
        page.wait_for_function(f"{count} >= 2", timeout=60_000)
        seen = page.evaluate(count)
        page.wait_for_function(f"{count} > {seen}", timeout=40_000)       # live: no reload
        assert page.locator("#success-chart circle.pt.new").count() >= 1
        assert "updated" in page.inner_text("#live-updated")

        _until(lambda: len(_waiting(ws)) >= 2, "two changes awaiting approval", 60)
        first, second = _waiting(ws)[:2]
        target = ws / first["file"]
        before = target.read_bytes()
        page.goto(server.url + "/")
        assert page.locator("tr.awaiting").count() >= 2
        _shoot(page, "overview", shots)
        page.click(f"tr.awaiting a[href='/changes/{first['id']}']")
        assert page.locator("pre.diff .add").count() >= 1
        _shoot(page, "change_awaiting", shots)
        for _ in range(3):           # a Lab Technician run holding the lock is said in one line: try again
            page.click("button.approve")
            page.wait_for_selector(".note", timeout=90_000)
            if "another Lab Technician run" not in page.inner_text(".note"):
                break
        assert "approved and applied" in page.inner_text(".note")
        assert page.inner_text("#change-status") == "applied"
        assert target.read_bytes() != before                          # the file changed
        _shoot(page, "change_applied", shots)

        page.goto(server.url + "/changes")
        assert page.locator(f"tr.status-applied a[href='/changes/{first['id']}']").count() == 1
        page.goto(f"{server.url}/changes/{second['id']}")
        page.fill("input[name=why]", "not before the review meeting")
        page.click("button.reject")
        page.wait_for_selector(".note")
        assert page.inner_text("#change-status") == "rejected"
        page.goto(server.url + "/changes")
        _shoot(page, "changes", shots)

        status = page.evaluate(f"""fetch('/changes/{first["id"]}/rollback', {{method: 'POST'}})
                                    .then(r => r.status)""")
        assert status == 403
        from astroagent.labtech.changes.ledger import Ledger
        assert Ledger(ws / "data").get(first["id"])["status"] == "applied"     # refused: nothing changed

        page.goto(server.url + "/success")
        page.wait_for_function("document.querySelectorAll('#success-chart a.mark').length >= 1")
        _shoot(page, "success_over_time", shots)
        for name in ("failures", "experiments"):
            page.goto(f"{server.url}/{name}")
            _shoot(page, name, shots, full_page=name != "experiments")
        first_experiment = page.locator("table a[href^='/experiments/']").first
        if first_experiment.count():
            first_experiment.click()
            page.wait_for_selector("img.plot")
            _shoot(page, "experiment", shots)
        browser.close()
