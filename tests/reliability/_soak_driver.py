"""Run the ContinuousPipeline for N cycles with the fast Experimenter; sample this process's RSS,
open files and children after every experiment; print one JSON summary line.

    python _soak_driver.py WORKSPACE ARCHIVE_URL CYCLES LAB_INTERVAL
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import psutil

from astroagent.orchestration.continuous_pipeline import ContinuousPipeline

from _soak_agent import fast_planner

STEP = 0.1   # seconds of pipeline time each experiment adds


def main() -> int:
    ws, url, cycles, interval = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    me = psutil.Process()
    samples: list[dict] = []
    outcomes: list[bool] = []
    labs: list[dict] = []
    children: dict[int, psutil.Process] = {}

    def clock() -> float:
        """Real time plus STEP per finished experiment: the Lab Technician is due at least every
        interval / STEP experiments however fast the machine runs them (and no later in real time)."""
        return time.monotonic() + STEP * len(outcomes)

    pipeline = ContinuousPipeline(workspace=ws, archive_url=url, max_cycles=cycles, projects_per_cycle=1,
                                  experimenter_target="_soak_agent:FastExperimenter", planner=fast_planner,
                                  handle_signals=False, clock=clock)
    pipeline.set_lab_technician_interval(interval)
    pipeline.enable_lab_technician()
    t0 = time.monotonic()

    def sample(update: dict) -> None:
        if update["stage"] == "experiment" and update["status"] in ("completed", "failed"):
            outcomes.append(update["status"] == "completed")
            for child in me.children(recursive=True):
                children.setdefault(child.pid, child)
            samples.append({"n": len(outcomes), "t": round(time.monotonic() - t0, 3),
                            "rss": me.memory_info().rss, "fds": me.num_fds(), "threads": me.num_threads(),
                            "children": len(me.children(recursive=True))})
        elif update["stage"] == "lab_technician" and update["status"] in ("completed", "failed"):
            labs.append({"n": len(outcomes), "status": update["status"], "error": update.get("error"),
                         "improvements": [(i.get("fix"), i.get("status"), (i.get("reason") or "")[:300])
                                          for i in update.get("improvements_made") or []],
                         "verdicts": [(v.get("id"), v.get("verdict")) for v in update.get("verdicts") or []]})

    pipeline.status_callbacks.append(sample)
    state = asyncio.run(pipeline.run_continuous({"domain": "astrophysics", "research_areas": ["exoplanets"]}))
    time.sleep(0.5)
    alive = [f"{p.pid} {' '.join(p.cmdline())[:100]}" for p in children.values()
             if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    print(json.dumps({"samples": samples, "outcomes": outcomes, "labs": labs, "alive_children": alive,
                      "children_seen": len(children), "cycles": state.cycle, "experiments": state.experiments,
                      "changes": [(c.id, c.type, c.status, c.verdict) for c in state.changes],
                      "restarts": state.worker_restarts, "crashes": state.worker_crashes, "hangs": state.worker_hangs,
                      "seconds": round(time.monotonic() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
