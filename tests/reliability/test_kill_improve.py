"""SIGKILL ``astroagent labtech improve`` at seeded random instants; nothing is ever half-written.

A small workspace whose real logs (a loopback archive resetting a third of connections) call for
a retry. Each trial copies it, starts the real CLI and kills it with SIGKILL: either at a uniform
random instant of its run, or a random 0–60 ms after its backup appears (the write window, which a
uniform instant would rarely hit). After every kill: the target is byte-for-byte the old or the
new version, no temp file lies beside it, every ledger line but a torn last one parses, and the
recovery entry point (``apply.recover``) leaves a ledger that agrees with the file. Some trials
then run ``labtech improve`` again, which must finish the job exactly once.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _labtech_ws import FETCH, TEST_FETCH, FlakyArchive, make_workspace, run_workload
from _reliability_ws import ASTROAGENT, clean_env, file_state, ledger_lines, stray_temp_files

from astroagent.labtech.changes.apply import journal_path, recover, sha256_bytes, sha256_file
from astroagent.labtech.changes.ledger import Ledger

SEED = 20261126
UNIFORM_TRIALS = 2
WINDOW_TRIALS = 5
RERUN_EVERY = 4            # every 4th trial also re-runs improve to completion
TARGET = "experimenter/fetch.py"
IMPROVE = ["labtech", "improve", "--json", "--test-command", "true"]   # pinned tests: see the reference run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with 40 executions of real logs: about a third failed on connection resets."""
    ws = make_workspace(tmp_path_factory.mktemp("kill") / "template",
                        {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH})
    with FlakyArchive(reset_rate=1 / 3, seed=11) as archive:
        ok, _, _ = run_workload(ws, archive.url, 40)
    assert ok < 36, "the logs must call for a retry"
    return ws


def _improve(ws: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(ASTROAGENT + IMPROVE + list(extra), cwd=ws, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 180) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out)


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest


def _check_after_kill(ws: Path, old_sha: str, new_sha: str) -> str:
    data = ws / "data"
    state = file_state(ws / TARGET, old_sha, new_sha)
    assert state in ("old", "new"), f"{TARGET} is {state} after SIGKILL"
    strays = stray_temp_files(ws / "experimenter")
    if strays:  # a kill mid-write leaves the temp file; the journal must name it so recovery removes it
        assert journal_path(data).exists(), f"temp file {strays} beside the target and no journal naming it"
        journal = json.loads(journal_path(data).read_bytes())
        assert [p.name for p in strays] == [journal["tmp"]] and strays[0].parent == (ws / TARGET).parent, strays
    lines, torn = ledger_lines(data)
    assert torn <= 1, "more than one torn ledger line"
    notes = recover(data, ws)          # the recovery entry point every start runs
    assert not journal_path(data).exists() and not stray_temp_files(ws / "experimenter")
    left = stray_temp_files(ws)
    assert not left, f"temp files recovery does not clean up: {[str(p.relative_to(ws)) for p in left]}"
    assert file_state(ws / TARGET, old_sha, new_sha) == state, f"recovery changed the file: {notes}"
    applied = [c for c in Ledger(data).history() if c.get("status") == "applied"]
    if state == "new":
        assert len(applied) == 1 and applied[0]["sha_after"] == new_sha and applied[0]["file"] == TARGET, notes
        assert Path(applied[0]["backup"]).read_bytes() == FETCH.encode()
    else:
        assert applied == [], f"the ledger records a change the file does not have: {notes}"
    known = {c["id"] for c in Ledger(data).history()}
    for line in ledger_lines(data)[0]:
        assert line.get("id") in known, f"ledger line about an unknown change: {line}"
    return state


def test_sigkill_at_random_instants_never_leaves_a_half_written_file(template: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    old_sha = sha256_bytes(FETCH.encode())
    # the reference: one undisturbed run gives the new version and the run's length
    ref = _copy(template, tmp_path / "reference")
    started = time.monotonic()
    result = _finish(_improve(ref))
    full = time.monotonic() - started
    [change] = [i for i in result["improvements_made"] if i["status"] == "applied"]
    assert change["fix"] == "add_retry_mechanism", result
    new_sha = sha256_file(ref / TARGET)
    assert new_sha != old_sha
    outcomes: list[tuple[str, float, str]] = []
    trials = ["uniform"] * UNIFORM_TRIALS + ["window"] * WINDOW_TRIALS
    rng.shuffle(trials)
    for n, kind in enumerate(trials):
        ws = _copy(template, tmp_path / f"trial{n}")
        backups = ws / "data/logs/lab_technician/backups"
        proc = _improve(ws)
        t0 = time.monotonic()
        if kind == "uniform":
            deadline = t0 + rng.uniform(0.05, full)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.005)
        else:
            while not backups.exists() and proc.poll() is None:
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.06))
        at = time.monotonic() - t0
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        strays_seen = bool(stray_temp_files(ws))
        state = _check_after_kill(ws, old_sha, new_sha)
        outcomes.append((kind, round(at, 3), "finished before the kill" if finished else state,
                         "temp file left for recovery" if strays_seen else ""))
        if n % RERUN_EVERY == RERUN_EVERY - 1 or (state == "old" and kind == "window" and n % 2 == 0):
            again = _finish(_improve(ws))
            assert file_state(ws / TARGET, old_sha, new_sha) == "new", again
            applied = [c for c in Ledger(ws / "data").history() if c.get("status") == "applied"]
            assert len(applied) == 1 and applied[0]["sha_after"] == new_sha
            assert not stray_temp_files(ws) and not journal_path(ws / "data").exists()
        shutil.rmtree(ws)
    print(f"\nimprove kill trials (seed {SEED}, undisturbed run {full:.1f} s):")
    for kind, at, state, note in outcomes:
        print(f"  {kind:<8} killed at {at:6.3f} s -> {state} {note}")
    states = [s for _, _, s, _ in outcomes]
    assert "old" in states and "new" in states, "the kills should land on both sides of the write"
