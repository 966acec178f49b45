"""Many SIGKILLs of the journaled apply itself: a process applies change after change to one
file (``apply.apply_recorded_change``, the step ``labtech improve`` ends with) and is killed at
a seeded random instant, 40 times. After each kill and ``apply.recover()`` the file is one of
the known versions, no temp file or journal is left, and the ledger's applied changes form an
unbroken chain from the original to what the file holds now: no change lost, none recorded twice.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _labtech_ws import make_workspace
from _reliability_ws import clean_env, ledger_lines, stray_temp_files

from astroagent.labtech.changes.apply import journal_path, recover, sha256_bytes, sha256_file
from astroagent.labtech.changes.ledger import Ledger

SEED = 4242
KILLS = 40
VERSIONS = [f'"""Version {i}."""\n\n\ndef value():\n    return {i}\n' + "# padding\n" * (200 * i + 1)
            for i in range(3)]

DRIVER = '''\
import sys
from pathlib import Path
from astroagent.labtech.changes.apply import apply_recorded_change, recover, sha256_file
from astroagent.labtech.changes.ledger import new_change_id

ws, versions = Path(sys.argv[1]), sys.argv[2:]
data = ws / "data"
recover(data, ws)
target = ws / "experimenter" / "mod.py"
shas = [__import__("hashlib").sha256(v.encode()).hexdigest() for v in versions]
while True:
    current = sha256_file(target)
    nxt = versions[(shas.index(current) + 1) % len(versions)]
    apply_recorded_change({"id": new_change_id(), "file": "experimenter/mod.py", "sha_before": current,
                           "package": "experimenter", "fix": "loop", "signature": "loop"},
                          nxt, workspace=ws, data_dir=data)
'''

pytestmark = pytest.mark.slow


def _chain(ws: Path, shas: list[str]) -> int:
    applied = [c for c in Ledger(ws / "data").history() if c.get("status") == "applied"]
    expected_before = shas[0]
    for change in applied:
        assert change["sha_before"] == expected_before, "a change is missing from the ledger (or recorded twice)"
        assert change["sha_after"] in shas
        expected_before = change["sha_after"]
    assert sha256_file(ws / "experimenter/mod.py") == expected_before, "the file holds a change the ledger lacks"
    return len(applied)


def test_forty_kills_of_the_journaled_apply(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    ws = make_workspace(tmp_path / "ws", {"experimenter/mod.py": VERSIONS[0]})
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    shas = [sha256_bytes(v.encode()) for v in VERSIONS]
    torn_seen = pending_journals = 0
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(driver), str(ws), *VERSIONS], env=clean_env(),
                                stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.15, 0.9))
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        assert sha256_file(ws / "experimenter/mod.py") in shas, "a half-written file after SIGKILL"
        torn_seen += ledger_lines(ws / "data")[1]
        pending_journals += journal_path(ws / "data").exists()
        recover(ws / "data", ws)
        assert not journal_path(ws / "data").exists() and not stray_temp_files(ws / "experimenter")
        _chain(ws, shas)
    changes = _chain(ws, shas)
    backups = list((ws / "data/logs/lab_technician/backups").glob("mod_*.py"))
    assert {sha256_file(b) for b in backups} <= set(shas)
    print(f"\napply loop: {KILLS} SIGKILLs (seed {SEED}), {changes} changes applied and chained in the ledger, "
          f"{pending_journals} kills left a journal to recover, torn ledger lines seen {torn_seen}; lost 0")
    assert changes >= KILLS // 4
