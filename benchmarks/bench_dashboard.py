"""Dashboard benchmark: server time per page over a 1 M-event log history, and live-update latency.

    python benchmarks/bench_dashboard.py [--events 1000000] [--repeat 20] [--live 10]

Builds a data directory as a long pipeline leaves it: ``gen_logs`` writes the log history, the
real Lab Technician analysis reads it once (its ``analysis_<ts>.json`` is what the Failures page
shows), a full pipeline state (the trimmed history of 2000 experiments over three code
versions), a ledger of 200 changes with diffs and 100 experiment results. Then:

- server time per page: each page requested right after the state and the ledger changed, then
  ``--repeat`` times unchanged, in process (Starlette's test client; the figure includes its
  transport, so it is an upper bound); goal < 200 ms;
- live latency: a real server on 127.0.0.1 and the /success page in headless Chromium; a new
  experiment is saved to the state and the time until the page shows its dot is measured
  ``--live`` times; goal <= 2 s. Without /usr/bin/chromium the page's poll is replayed with urllib.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gen_logs import generate  # noqa: E402

from astroagent.config import LabTechnicianConfig  # noqa: E402
from astroagent.labtech.analysis.analyze import run_analysis  # noqa: E402
from astroagent.labtech.changes.ledger import Ledger  # noqa: E402
from astroagent.labtech.reports.render import write_outputs  # noqa: E402
from astroagent.orchestration.state import MAX_HISTORY, ChangeRecord, ExperimentRecord, PipelineState, save_state  # noqa: E402
from astroagent.paths import lab_technician_dir, lab_technician_state_dir  # noqa: E402

PAGES = ("/", "/success", "/fragments/success", "/changes", "/changes/chg-00000100", "/failures", "/experiments",
         "/experiments/project-0042")
DIFF = "".join(f"-    old line {i}\n+    new line {i}\n" for i in range(40))


def build(data: Path, events: int) -> dict[str, float]:
    """The data directory (see the module docstring); returns how long its parts took to make."""
    took: dict[str, float] = {}
    start = time.perf_counter()
    generate(data / "logs" / "experimenter", events=events, days=7.0, seed=3)
    took["generate logs"] = time.perf_counter() - start
    start = time.perf_counter()
    lab = lab_technician_dir(data)
    analysis = run_analysis(LabTechnicianConfig(analysis_window_hours=24 * 7), data / "logs" / "experimenter",
                            lab_technician_state_dir(lab), window_hours=24 * 7)
    write_outputs(analysis, lab)
    took["analysis (once, by the Lab Technician)"] = time.perf_counter() - start
    now = datetime.now(UTC)
    state = PipelineState(status="stopped", started_at=(now - timedelta(hours=6)).isoformat(),
                          updated_at=now.isoformat(), code_version="v3")
    for i in range(MAX_HISTORY):
        state.record(ExperimentRecord(t=10.0 * i, execution_id=f"e{i}", success=(i * 7919) % 10 < 6 + i // 700,
                                      code_version=f"v{1 + i // 700}", area="exoplanets", duration=3.0))
    state.changes = [ChangeRecord(id=f"chg-{n:08d}", fix="add_retry_mechanism", t=7000.0 * n, status="applied",
                                  verdict="kept") for n in (1, 2)]
    save_state(data, state)
    ledger = Ledger(data)
    for n in range(200):
        ledger.record_change({"id": f"chg-{n:08d}", "type": "frequent_error", "fix": "add_retry_mechanism",
                              "target": f"experimenter/m{n}.py::f", "status": "applied" if n % 3 else "rejected",
                              "verdict": "kept" if n % 3 else None, "diff": DIFF, "reason": "retry",
                              "created_at": (now - timedelta(minutes=200 - n)).isoformat(),
                              "applied_at": (now - timedelta(minutes=200 - n)).isoformat(),
                              "evidence": {"count": n, "why": "transient"}})
    for n in range(100):
        folder = data / "projects" / f"project-{n:04d}"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(
            '{"project": {"id": "p", "area": "exoplanets", "kind": "radius_valley", "params": {}, "hypothesis": "h"},'
            f' "verdict": "supported", "verdict_reason": "r", "results": {{"n": {n}}}, "code_version": "v1",'
            f' "created": "{now.isoformat()}"}}')
    return took


def page_times(data: Path, repeat: int) -> dict[str, tuple[float, float, float]]:
    from starlette.testclient import TestClient

    from astroagent.dashboard import DashboardSettings, create_app

    client = TestClient(create_app(DashboardSettings.create(data_dir=data, workspace=None)),
                        base_url="http://127.0.0.1:8750")
    for path in PAGES:
        assert client.get(path).status_code == 200, path          # templates compiled once
    out = {}
    for path in PAGES:
        _add_experiment(data)                                      # fresh: the state and ledger just changed,
        Ledger(data).update("chg-00000001", note=str(time.time()))  # as after every experiment of a live run
        start = time.perf_counter()
        client.get(path)
        cold = time.perf_counter() - start
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            client.get(path)
            times.append(time.perf_counter() - start)
        out[path] = (cold, statistics.median(times), max(times))
    return out


def _add_experiment(data: Path) -> None:
    from astroagent.orchestration.state import load_state

    state = load_state(data)
    state.record(ExperimentRecord(t=state.history[-1].t + 10, execution_id=f"live{time.time_ns()}", success=True,
                                  code_version="v3"))
    state.updated_at = datetime.now(UTC).isoformat()
    save_state(data, state)


def live_latency(data: Path, rounds: int) -> tuple[str, list[float]]:
    from astroagent.dashboard import DashboardSettings
    from astroagent.dashboard.server import DashboardThread

    server = DashboardThread(DashboardSettings.create(data_dir=data, workspace=None, port=0)).start()
    try:
        if Path("/usr/bin/chromium").is_file():
            return "headless Chromium", _browser_latency(server.url, data, rounds)
        return "urllib replaying the page's 1 s poll", _poll_latency(server.url, data, rounds)
    finally:
        server.stop()


def _browser_latency(url: str, data: Path, rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        page.goto(url + "/success")
        for _ in range(rounds):
            before = page.inner_text("#live-points")
            start = time.perf_counter()
            _add_experiment(data)
            page.wait_for_function(f"document.getElementById('live-points').textContent != '{before}'",
                                   timeout=10_000, polling=20)
            out.append(time.perf_counter() - start)
            time.sleep(0.37)      # new experiments land at varying phases of the page's poll
        browser.close()
    return out


def _poll_latency(url: str, data: Path, rounds: int) -> list[float]:
    import urllib.request

    import orjson
    out = []
    for _ in range(rounds):
        seen = orjson.loads(urllib.request.urlopen(url + "/fragments/success").read())["experiments"]
        start = time.perf_counter()
        _add_experiment(data)
        while orjson.loads(urllib.request.urlopen(url + "/fragments/success").read())["experiments"] == seen:
            time.sleep(1.0)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--live", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="astroagent-bench-dashboard-") as tmp:
        data = Path(tmp) / "data"
        for what, seconds in build(data, args.events).items():
            print(f"{what}: {seconds:.1f} s")
        print(f"\nserver time per page, {args.events:,} events of log history: right after a new experiment "
              f"and ledger line (files re-read), then median / max of {args.repeat} unchanged:")
        for path, (cold, median, worst) in page_times(data, args.repeat).items():
            print(f"  {path:<28} {1000 * cold:7.1f} ms   {1000 * median:7.1f} ms / {1000 * worst:7.1f} ms")
        how, latencies = live_latency(data, args.live)
        print(f"\nlive update latency ({how}, {len(latencies)} new experiments): median "
              f"{statistics.median(latencies):.2f} s, max {max(latencies):.2f} s")


if __name__ == "__main__":
    main()
