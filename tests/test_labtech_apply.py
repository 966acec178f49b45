"""Applying a change: backup, journal, atomic write; a kill at any instant leaves the file wholly old
or wholly new, the ledger agreeing with it, and no stray files once ``recover`` has run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from astroagent.errors import PatchRejected
from astroagent.labtech.changes.apply import (
    CRASH_ENV,
    backup_file,
    journal_path,
    journaled_write,
    recover,
    sha256_bytes,
    sha256_file,
)
from astroagent.labtech.changes.ledger import Ledger

OLD = b"def f():\n    return 1\n" * 200
NEW = b"def f():\n    return 2\n" * 300


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    ws = tmp_path / "ws"
    (ws / "experimenter").mkdir(parents=True)
    target = ws / "experimenter" / "mod.py"
    target.write_bytes(OLD)
    data = ws / "data"
    data.mkdir()
    return ws, data, target


def _line(sha: str, event_id: str) -> dict:
    return {"event": "update", "event_id": event_id, "id": "chg-test", "current_sha": sha}


def _assert_clean(ws: Path, data: Path, target: Path) -> None:
    assert sha256_file(target) in (sha256_bytes(OLD), sha256_bytes(NEW))
    assert not journal_path(data).exists()
    strays = [p.name for p in target.parent.iterdir() if p.name != "mod.py"]
    assert strays == []
    lab = journal_path(data).parent
    assert not [p for p in lab.iterdir() if p.name.endswith(".astroagent-tmp")]


def test_apply_backup_and_ledger(tmp_path: Path) -> None:
    ws, data, target = _setup(tmp_path)
    backup = backup_file(target, data)
    assert backup.parent.name == "backups" and backup.name.startswith("mod_") and backup.read_bytes() == OLD
    Ledger(data).record_change({"id": "chg-test", "status": "applied"})
    new_sha, version = journaled_write(target, NEW, data_dir=data, workspace=ws, expect_sha=sha256_bytes(OLD),
                              ledger_lines=[_line(sha256_bytes(NEW), "e1")])
    assert target.read_bytes() == NEW and new_sha == sha256_bytes(NEW) and version is None
    assert Ledger(data).get("chg-test")["current_sha"] == new_sha
    _assert_clean(ws, data, target)
    assert recover(data, ws) == ()


def test_refuses_a_file_edited_since_it_was_read_and_paths_outside(tmp_path: Path) -> None:
    ws, data, target = _setup(tmp_path)
    with pytest.raises(PatchRejected, match="changed on disk"):
        journaled_write(target, NEW, data_dir=data, workspace=ws, expect_sha="0" * 64, ledger_lines=[])
    outside = tmp_path / "outside.py"
    outside.write_bytes(OLD)
    with pytest.raises(PatchRejected, match="outside the workspace"):
        journaled_write(outside, NEW, data_dir=data, workspace=ws, expect_sha=sha256_bytes(OLD), ledger_lines=[])
    assert target.read_bytes() == OLD and outside.read_bytes() == OLD


_CHILD = textwrap.dedent("""
    import sys, uuid
    from pathlib import Path
    from astroagent.labtech.changes.apply import journaled_write, sha256_bytes, sha256_file
    ws, data, target = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    old, new = {old!r}, {new!r}
    loops = int(sys.argv[4])
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    for i in range(loops):
        current = target.read_bytes()
        data_next = new if current == old else old
        sha = sha256_bytes(data_next)
        journaled_write(target, data_next, data_dir=data, workspace=ws, expect_sha=sha256_bytes(current),
                        ledger_lines=[{{"event": "update", "event_id": uuid.uuid4().hex, "id": "chg-test",
                                       "current_sha": sha}}])
""").format(old=OLD, new=NEW)


def _run_child(tmp_path: Path, ws: Path, data: Path, target: Path, loops: int, env: dict | None = None,
               kill_after: float | None = None) -> int:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(ws), str(data), str(target), str(loops)],
                            stdout=subprocess.PIPE, env={**os.environ, **(env or {})})
    assert proc.stdout.readline() == b"ready\n"
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=30)


def _check_recovered(ws: Path, data: Path, target: Path) -> None:
    notes = recover(data, ws)
    assert all(n.startswith("recovery:") for n in notes)
    _assert_clean(ws, data, target)
    recorded = (Ledger(data).get("chg-test") or {}).get("current_sha", sha256_bytes(OLD))
    assert recorded == sha256_file(target), "the ledger must agree with the file after recovery"


@pytest.mark.parametrize("point", ["journal_written", "target_tmp_half", "target_tmp_written", "target_replaced",
                                   "ledger_line_written", "journal_cleared"])
def test_crash_at_each_step_recovers(tmp_path: Path, point: str) -> None:
    ws, data, target = _setup(tmp_path)
    Ledger(data).record_change({"id": "chg-test", "status": "applied"})
    code = _run_child(tmp_path, ws, data, target, loops=1, env={CRASH_ENV: point})
    assert code == 77
    _check_recovered(ws, data, target)
    expect_new = point in ("target_replaced", "ledger_line_written", "journal_cleared")
    assert target.read_bytes() == (NEW if expect_new else OLD)


def test_sigkill_at_random_instants_leaves_old_or_new(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    ws, data, target = _setup(tmp_path)
    Ledger(data).record_change({"id": "chg-test", "status": "applied"})
    for _ in range(16):
        _run_child(tmp_path, ws, data, target, loops=10_000, kill_after=rng.uniform(0.0, 0.05))
        _check_recovered(ws, data, target)
    assert len(Ledger(data).history()) == 1


@pytest.mark.parametrize("point", ["backup_tmp_half", "journal_written", "target_tmp_half", "target_replaced",
                                   "journal_cleared"])
def test_a_recorded_change_killed_at_any_step_is_whole_and_in_the_ledger_iff_new(tmp_path: Path, point: str) -> None:
    ws, data, target = _setup(tmp_path)
    script = tmp_path / "apply_one.py"
    script.write_text(textwrap.dedent(f"""
        from pathlib import Path
        from astroagent.labtech.changes.apply import apply_recorded_change, sha256_file
        ws = Path({str(ws)!r}); target = ws / "experimenter" / "mod.py"
        apply_recorded_change({{"id": "chg-crash001", "file": "experimenter/mod.py", "package": "experimenter",
                               "sha_before": sha256_file(target)}}, {NEW.decode()!r}, workspace=ws,
                              data_dir=ws / "data")
    """))
    code = subprocess.run([sys.executable, str(script)], env={**os.environ, CRASH_ENV: point}).returncode
    assert code == 77
    recover(data, ws)
    _assert_clean(ws, data, target)
    assert not list((data / "logs/lab_technician/backups").glob(".*"))
    change = Ledger(data).get("chg-crash001")
    if target.read_bytes() == OLD:
        assert change is None and point in ("backup_tmp_half", "journal_written", "target_tmp_half")
        return
    from astroagent.telemetry import package_code_version
    assert change["status"] == "applied" and change["code_version_after"] == package_code_version(ws / "experimenter")
    assert Path(change["backup"]).read_bytes() == OLD
