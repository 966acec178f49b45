"""Several processes log through the telemetry while the Lab Technician reads incrementally.

Writers are real processes using ``Telemetry`` (executions with spans, about a third failing),
interleaving with a reader that calls ``run_analysis`` again and again with its checkpoint
state. At the end the analysis has counted every event, execution, failure and method call
exactly once: the same numbers the writers report and the lines on disk hold.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import orjson
from _reliability_ws import clean_env

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analyze import run_analysis

WRITERS = 4
EXECUTIONS = 120

WRITER = '''\
import json, random, sys, time
from pathlib import Path
from astroagent.telemetry import Telemetry

data, seed, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
tel = Telemetry("experimenter", data)
done = {"executions": 0, "failed": 0, "fetch": 0, "fetch_failed": 0, "reduce": 0, "events": 0}
for i in range(n):
    try:
        with tel.execution(code_version=f"v{seed % 2}") as run:
            done["events"] += 2
            with run.span("fetch"):
                done["fetch"] += 1
                done["events"] += 1
                if rng.random() < 0.3:
                    done["fetch_failed"] += 1
                    raise ConnectionResetError("reset by peer")
            with run.span("reduce"):
                done["reduce"] += 1
                done["events"] += 1
                sum(range(rng.randint(0, 2000)))
    except ConnectionResetError:
        done["failed"] += 1
    done["executions"] += 1
    if rng.random() < 0.2:
        time.sleep(rng.uniform(0, 0.004))
tel.close()
print(json.dumps(done))
'''


def _lines_on_disk(log_dir: Path) -> list[dict]:
    events = []
    for path in sorted(log_dir.glob("execution_*.jsonl")):
        events += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return events


def test_no_event_lost_or_counted_twice_while_writers_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log_dir, state_dir = data / "logs" / "experimenter", data / "logs" / "lab_technician"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    config = LabTechnicianConfig()
    writers = [subprocess.Popen([sys.executable, str(script), str(data), str(seed), str(EXECUTIONS)],
                                stdout=subprocess.PIPE, text=True, env=clean_env()) for seed in range(WRITERS)]
    reads, seen = 0, []
    while any(w.poll() is None for w in writers):
        analysis = run_analysis(config, log_dir, state_dir, force=True)
        reads += 1
        seen.append(analysis.log_entries_analyzed)
        time.sleep(0.01)
    reports = [json.loads(w.communicate()[0]) for w in writers]
    assert all(w.returncode == 0 for w in writers)
    final = run_analysis(config, log_dir, state_dir, force=True)
    again = run_analysis(config, log_dir, state_dir, force=True)   # nothing new: nothing changes
    total = {k: sum(r[k] for r in reports) for k in reports[0]}
    on_disk = _lines_on_disk(log_dir)
    assert len(on_disk) == total["events"]
    assert seen == sorted(seen), "a later read counted fewer events than an earlier one"
    assert final.log_entries_analyzed == total["events"] and final.malformed_lines == 0
    assert final.executions.total == total["executions"] == WRITERS * EXECUTIONS
    assert final.executions.failed == total["failed"]
    assert final.methods["fetch"].calls == total["fetch"] and final.methods["fetch"].errors == total["fetch_failed"]
    assert final.methods["reduce"].calls == total["reduce"] and final.methods["reduce"].errors == 0
    assert again.log_entries_analyzed == final.log_entries_analyzed
    assert again.executions == final.executions
    print(f"\nconcurrency: {WRITERS} writers, {total['events']} events, {total['executions']} executions "
          f"({total['failed']} failed), {reads} incremental reads while writing; lost 0, double-counted 0")
