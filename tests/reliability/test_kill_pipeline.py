"""SIGKILL the pipeline (``astroagent run``) at seeded random instants: no orphans, state consistent.

A real workspace (``init_workspace``) against the loopback archive with faults, the Lab
Technician due every 2 s. Every trial starts ``astroagent run``, watches its process tree, and
SIGKILLs the pipeline process at a random instant. Afterwards every process it had started
(Experimenter and Lab Technician workers, their children) must be gone, the pipeline state and
the ledger must parse, and the target code must be a version the ledger knows. The next start
(``astroagent run --cycles 1``) must recover and finish cleanly.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from _reliability_ws import ASTROAGENT, clean_env, ledger_lines, stray_temp_files

from astroagent.config import ArchiveConfig
from astroagent.labtech.changes.apply import journal_path, sha256_file
from astroagent.labtech.changes.ledger import Ledger
from astroagent.orchestration.state import load_state
from astroagent.science.archive_server import ArchiveServer
from astroagent.workspace import init_workspace

SEED = 7031
TRIALS = 4
ORPHAN_GRACE = 5.0      # seconds the workers get to notice their parent died (PR_SET_PDEATHSIG)

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return clean_env(ASTROAGENT_PIPELINE__PROJECTS_PER_CYCLE="1", ASTROAGENT_PIPELINE__MIN_LAB_INTERVAL="1",
                     ASTROAGENT_PIPELINE__RESTART_BACKOFF_SECONDS="0.1", MPLBACKEND="Agg")


def _is_lab(p: psutil.Process) -> bool:
    try:
        return "lab_technician" in " ".join(p.cmdline())
    except psutil.Error:
        return False


def _watch(proc: subprocess.Popen, until: float, seen: dict[int, psutil.Process], *,
           lab: bool = False) -> bool:
    """Record every process the pipeline started (recursively) until ``until`` (monotonic), or with
    ``lab`` until a Lab Technician worker is running; True when one was seen."""
    root = psutil.Process(proc.pid)
    while time.monotonic() < until and proc.poll() is None:
        try:
            for child in root.children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        if lab and any(_is_lab(p) and p.is_running() for p in seen.values()):
            return True
        time.sleep(0.02)
    return any(_is_lab(p) for p in seen.values())


def _alive(procs: dict[int, psutil.Process]) -> list[str]:
    out = []
    for p in procs.values():
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return out


def _check_consistent(ws: Path) -> None:
    data = ws / "data"
    state = load_state(data)
    assert state is not None, "pipeline state unreadable after the kill"
    assert ledger_lines(data)[1] <= 1, "more than one torn ledger line"
    shas = {c.get("sha_after") for c in Ledger(data).history() if c.get("status") == "applied"}
    for target in (ws / "experimenter").glob("*.py"):
        assert not target.name.endswith(".astroagent-tmp")
    if not journal_path(data).exists():  # without an interrupted write every changed file is a recorded version
        for change in Ledger(data).history():
            if change.get("status") == "applied":
                assert sha256_file(ws / change["file"]) in shas | {change.get("sha_before")}


def test_sigkill_the_pipeline_at_random_instants(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    server = ArchiveServer(ArchiveConfig(reset_rate=0.25, error_rate=0.1, seed=3))
    url = server.start()
    try:
        ws = init_workspace(tmp_path / "ws", archive_url=url)
        results = []
        for trial in range(TRIALS):
            proc = subprocess.Popen(ASTROAGENT + ["run", "--cycles", "500", "--lab-interval", "2"], cwd=ws,
                                    env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            seen: dict[int, psutil.Process] = {}
            start = time.monotonic()
            if trial % 2:   # half the kills land while the Lab Technician works (it may be changing code)
                _watch(proc, start + 40.0, seen, lab=True)
                _watch(proc, time.monotonic() + rng.uniform(0.0, 2.0), seen)
            else:
                _watch(proc, start + rng.uniform(1.5, 9.0), seen)
            delay = time.monotonic() - start
            lab_seen = any(_is_lab(p) for p in seen.values())
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            seen.update({c.pid: c for c in psutil.Process(proc.pid).children(recursive=True)})
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            deadline = time.monotonic() + ORPHAN_GRACE
            while _alive(seen) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = _alive(seen)
            assert not left, f"trial {trial}: orphans {ORPHAN_GRACE:g} s after SIGKILL: {left}"
            _check_consistent(ws)
            results.append((round(delay, 2), len(seen), lab_seen))
        final = subprocess.run(ASTROAGENT + ["run", "--cycles", "1"], cwd=ws, env=_env(), capture_output=True,
                               text=True, timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
        state = load_state(ws / "data")
        assert state is not None and state.status == "stopped"
        assert not journal_path(ws / "data").exists() and not stray_temp_files(ws / "experimenter")
        _check_consistent(ws)
    finally:
        server.stop()
    print(f"\npipeline kills (seed {SEED}): " + ", ".join(
        f"at {d} s ({n} child processes{', Lab Technician running' if lab else ''})" for d, n, lab in results))
    assert any(lab for _, _, lab in results), "no kill landed while the Lab Technician ran"
