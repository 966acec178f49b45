"""Run one scenario's workload N times through the telemetry, in its own process, as the program would.

    python _workload.py WORKSPACE ARCHIVE_URL N AGENT PACKAGE PERIOD_SECONDS

With a period, executions start on a fixed clock grid (a poller: execution i starts at i × period,
or at once when the previous one overran), so two code versions see the same wall-clock span of
the archive's faults. Each execution is ``workload.run_once(archive_url, i)`` (from the scenario's ``workload.py``) inside
``Telemetry(...).execution(code_version=package_code_version(package))``; an exception fails the
execution. Prints one JSON object: successes, per-execution wall times, the code version.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    ws, url, n, agent, package, period = Path(argv[0]).resolve(), argv[1], int(argv[2]), argv[3], argv[4], float(argv[5])
    sys.path.insert(0, str(ws))
    from astroagent.telemetry import Telemetry, package_code_version

    import workload  # the scenario's own driver, next to its package

    tel = Telemetry(agent, ws / "data", code_roots=[ws / package], location_base=ws)
    version = package_code_version(ws / package)
    durations: list[float] = []
    errors: dict[str, int] = {}
    ok = 0
    t0 = time.perf_counter()
    for i in range(n):
        start = time.perf_counter()
        try:
            with tel.execution(code_version=version):
                workload.run_once(url, i)
            ok += 1
        except Exception as exc:  # the execution failed; the telemetry logged why
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        durations.append(time.perf_counter() - start)
        if period > 0 and i + 1 < n:
            time.sleep(max(0.0, t0 + (i + 1) * period - time.perf_counter()))
    tel.close()
    print(json.dumps({"executions": n, "succeeded": ok, "durations": durations, "errors": errors,
                      "code_version": version}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
