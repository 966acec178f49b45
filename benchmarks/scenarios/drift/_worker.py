"""One code version of the drift scenario's program, run as its own worker process.

    python _worker.py VERSION_DIR DATA_DIR AGENT PACKAGE [--real-waits]

VERSION_DIR holds that version's package; the scenario's ``workload.py`` beside this file is the
work of one execution. The worker prints ``{"ready": true}``, then answers one JSON request a line
on stdin (``{"execution_id", "url", "i"}``) with one JSON line: ``{"success", "error_type",
"error", "waited"}``. Each execution runs inside ``Telemetry(...).execution`` as a real worker's
does, so the agent's own events are on disk; its outcome is recorded by the supervisor, not here.

Retry backoff (tenacity, which the change may add) waits on a virtual clock unless
``--real-waits``: the seconds it would have slept come back as ``waited`` and the supervisor adds
them to the execution's duration, so a run takes seconds and the counts do not depend on the machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


class VirtualWaits:
    """A ``sleep`` for tenacity that only adds up the seconds it was asked to wait."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, seconds: float) -> None:
        self.total += float(seconds)


def _virtualise(modules: list[Any], waits: VirtualWaits) -> None:
    """Point every tenacity retry in ``modules`` at the virtual clock (each call copies its sleep)."""
    import tenacity

    for module in modules:
        for value in vars(module).values():
            retrying = getattr(value, "retry", None)
            if isinstance(retrying, tenacity.BaseRetrying):
                retrying.sleep = waits


def main(argv: list[str]) -> int:
    folder, data_dir, agent, package = Path(argv[0]).resolve(), Path(argv[1]), argv[2], argv[3]
    sys.path[:0] = [str(folder), str(Path(__file__).resolve().parent)]
    from astroagent.telemetry import Telemetry, package_code_version

    import workload  # the scenario's driver; it imports the package from this version's folder

    version = package_code_version(folder / package)
    waits = VirtualWaits()
    if "--real-waits" not in argv[4:]:
        _virtualise([m for name, m in sys.modules.items() if name.split(".")[0] == package], waits)
    tel = Telemetry(agent, data_dir, code_roots=[folder / package], location_base=folder)
    print(json.dumps({"ready": True, "code_version": version}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        before = waits.total
        answer: dict[str, Any] = {"success": True, "error_type": None, "error": None}
        try:
            with tel.execution(request["execution_id"], code_version=version):
                workload.run_once(request["url"], int(request["i"]))
        except Exception as exc:  # the execution failed; the telemetry logged why
            answer.update(success=False, error_type=type(exc).__name__, error=f"{type(exc).__name__}: {exc}"[:500])
        answer["waited"] = waits.total - before
        print(json.dumps(answer), flush=True)
    tel.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
