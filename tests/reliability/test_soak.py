"""Soak: the ContinuousPipeline for 300 short cycles on a faulty archive, the Lab Technician every 6 s
of pipeline time, where each experiment adds 0.1 s to real time (so it runs at least every 60
experiments on any machine, however fast).

The real pipeline, worker protocol, telemetry, archive server (35 % of connections
reset) and Lab Technician; only the project is made fast (``_soak_agent.FastExperimenter``: the
workspace's own ``fetch_dataset`` downloads one 39 KB dataset; no science after it), so a cycle
takes tens of milliseconds instead of a second. Experiments pause while the Lab Technician works
(``experiments_during_lab: false``) so its fix lands at a cycle count, not a wall-clock race;
the workspace's pinned test is a fast offline test of ``fetch_dataset`` (the code the soak runs).
The pipeline process's RSS and open files must stay flat, no process it started may outlive
it, and once the Lab Technician's fix is in the success rate must end high.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from _reliability_ws import clean_env

from astroagent.config import ArchiveConfig
from astroagent.science.archive_server import ArchiveServer
from astroagent.workspace import init_workspace

CYCLES = 300
LAB_INTERVAL = 6.0
HERE = Path(__file__).resolve().parent
PINNED_TEST = '''\
from experimenter.fetch import fetch_dataset


def test_fetch_reads_the_packaged_dataset_offline():
    assert fetch_dataset(None, "riess2011_cepheids").startswith(b"#")
'''

pytestmark = pytest.mark.slow


def test_soak_memory_and_files_stay_flat_and_success_ends_high(tmp_path: Path) -> None:
    server = ArchiveServer(ArchiveConfig(reset_rate=0.35, seed=5))
    url = server.start()
    try:
        ws = init_workspace(tmp_path / "ws", archive_url=url)
        (ws / "tests" / "test_smoke.py").unlink()   # the soak only runs fetch: pin its fast test
        (ws / "tests" / "test_fetch.py").write_text(PINNED_TEST)
        env = clean_env(PYTHONPATH=str(HERE), MPLBACKEND="Agg", ASTROAGENT_PIPELINE__MIN_LAB_INTERVAL=str(LAB_INTERVAL),
                        ASTROAGENT_PIPELINE__EXPERIMENTS_DURING_LAB="false")
        proc = subprocess.run([sys.executable, str(HERE / "_soak_driver.py"), str(ws), url, str(CYCLES),
                               str(LAB_INTERVAL)], cwd=ws, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    samples, outcomes = out["samples"], out["outcomes"]
    assert out["cycles"] == CYCLES and len(outcomes) == CYCLES
    warm = samples[20:100]
    late = samples[-100:]
    rss_growth = statistics.median(s["rss"] for s in late) - statistics.median(s["rss"] for s in warm)
    fds_warm, fds_late = max(s["fds"] for s in warm), max(s["fds"] for s in late)
    fixed_at = min((lab["n"] for lab in out["labs"] for fix, status, _ in lab["improvements"]
                    if fix == "add_retry_mechanism" and status == "applied"), default=CYCLES)
    before = outcomes[:fixed_at]
    first, last = sum(before) / max(1, len(before)), sum(outcomes[-60:]) / 60
    summary = (f"soak: {CYCLES} cycles in {out['seconds']} s, {len(out['labs'])} Lab Technician runs, "
               f"changes {out['changes']}; success {first:.0%} over the {len(before)} experiments before the "
               f"retry, {last:.0%} over the last 60; "
               f"RSS {warm[0]['rss'] / 2**20:.1f} -> {samples[-1]['rss'] / 2**20:.1f} MiB "
               f"(median growth {rss_growth / 2**20:.2f} MiB), open files {fds_warm} -> {fds_late}, "
               f"threads {samples[-1]['threads']}, child processes seen {out['children_seen']}, "
               f"alive after stop {len(out['alive_children'])}, worker restarts {out['restarts']}, "
               f"crashes {out['crashes']}, hangs {out['hangs']}")
    print("\n" + summary)
    assert not out["alive_children"], out["alive_children"]
    assert fds_late <= fds_warm + 1, summary
    assert rss_growth < 6 * 2**20, summary
    assert max(s["threads"] for s in late) <= max(s["threads"] for s in warm) + 1, summary
    assert fixed_at < CYCLES - 60, ("the retry never landed (or too late to judge)", out["labs"])
    assert last >= 0.9, (summary, out["labs"])
