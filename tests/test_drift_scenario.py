"""The drift scenario: faults that move as a change lands fool the before/after judge, not the canary.

Also the archive's ``set_faults``, which the scenario uses to move the faults while serving.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from astroagent.config.models import ArchiveConfig
from astroagent.errors import UsageError
from astroagent.science.archive_server import ArchiveServer

DRIFT_RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "scenarios" / "drift" / "run.py"


def _fetches(url: str, n: int) -> list[bool]:
    """Whether each of ``n`` sequential dataset requests was answered."""
    out = []
    for _ in range(n):
        try:
            with urllib.request.urlopen(f"{url}/datasets/kepler10_q1", timeout=10) as response:
                out.append(response.status == 200 and len(response.read()) > 0)
        except (OSError, http.client.HTTPException):
            out.append(False)
    return out


def test_set_faults_moves_the_reset_rate_while_serving() -> None:
    with ArchiveServer(ArchiveConfig(seed=3)) as archive:
        calm = _fetches(archive.url, 8)
        archive.set_faults(reset_rate=1.0)
        storm = _fetches(archive.url, 8)
        archive.set_faults(reset_rate=0.0)
        after = _fetches(archive.url, 8)
        stats = archive.stats()
    assert calm == [True] * 8 and storm == [False] * 8 and after == [True] * 8
    assert stats["faults"]["reset"] == 8 and stats["served"] == 16


def test_the_draws_continue_across_set_faults_so_a_run_repeats() -> None:
    runs = []
    for _ in range(2):
        with ArchiveServer(ArchiveConfig(reset_rate=0.1, seed=5)) as archive:
            first = _fetches(archive.url, 10)
            archive.set_faults(reset_rate=0.5)
            runs.append(first + _fetches(archive.url, 30))
    assert runs[0] == runs[1]
    assert 5 <= runs[0][10:].count(False) <= 25


def test_bad_faults_are_refused_and_change_nothing() -> None:
    with ArchiveServer(ArchiveConfig(seed=1)) as archive:
        with pytest.raises(UsageError, match="add up to"):
            archive.set_faults(reset_rate=0.7, error_rate=0.5)
        with pytest.raises(UsageError, match="not an archive fault field: 'port'"):
            archive.set_faults(port=80)
        with pytest.raises(UsageError, match="reset_rate"):
            archive.set_faults(reset_rate=1.5)
        assert _fetches(archive.url, 6) == [True] * 6
        assert archive.config.reset_rate == 0.0 and archive.config.error_rate == 0.0


def test_quick_drift_run_fools_the_before_after_judge_and_not_the_canary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, str(DRIFT_RUN), "--quick", "--json"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cases = {c["name"]: c for c in json.loads(proc.stdout)["cases"]}

    a = cases["A"]        # resets 10 % -> 80 % as the retry lands
    assert a["change"]["code_version_before"] != a["change"]["code_version_after"]
    assert a["archive"]["faults"]["reset"] > 0
    assert a["phase1"]["success_rate"] > a["phase2"]["canary"]["success_rate"] > a["phase2"]["baseline"]["success_rate"]
    assert a["before_after"]["verdict"] == "rolled_back" and not a["before_after"]["right"]
    assert a["concurrent"]["verdict"] == "kept" and a["concurrent"]["decision"] == "keep"
    assert a["concurrent"]["right"] and "success higher" in a["concurrent"]["effects"]
    assert a["concurrent"]["pairs"] < a["concurrent"]["horizon"]      # decided before the horizon

    b = cases["B"]        # resets 60 % -> 10 % as a useless @instrument lands
    assert b["before_after"]["verdict"] == "kept" and b["before_after"]["claim"] == "better"
    assert b["concurrent"]["decision"] in ("no_difference", "continue")
    assert b["concurrent"]["claim"] != "better"
    assert not list(tmp_path.glob("astroagent-drift-*"))             # nothing left behind
