"""The telemetry self-test of a validation: does a failure still reach the log once the changed code is imported?

The import check imports the changed module in a fresh process, then defines a probe of its own,
decorated with ``@instrument``, and calls it inside an execution that logs to a scratch folder.
The probe raises an error carrying a nonce the process read from stdin before the import, so
the changed code cannot know it in advance. The validation passes only if a ``method_failed``
event with that nonce reached the log: a change that silences the writer, the failure path or
the decorator is rejected as ``tampering: telemetry self-test failed`` (with what
``astroagent.telemetry.integrity`` found changed by the import).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import orjson

__all__ = ["SCRIPT", "FAILED", "PROBE_AGENT", "new_nonce", "probe_folder", "problem"]

FAILED = "tampering: telemetry self-test failed"
PROBE_AGENT = "selftest"
_PROBE_DIR = ".astroagent-selftest"
_CHANGED = "astroagent-integrity: "
# argv: module, probe data dir; stdin: the nonce. ``{marker}``: the sandbox's marker attribute.
SCRIPT = ("import importlib, sys, sitecustomize\n"
          "if not getattr(sitecustomize, {marker!r}, False):\n"
          "    sys.exit('the validation sandbox (audit hook) is not installed')\n"
          "nonce = sys.stdin.readline().strip()\n"
          "from astroagent.telemetry.integrity import compare, snapshot\n"
          "before = snapshot(data_dir=sys.argv[2], agent=" + repr(PROBE_AGENT) + ")\n"
          "importlib.import_module(sys.argv[1])\n"
          "changed = compare(before, snapshot(data_dir=sys.argv[2], agent=" + repr(PROBE_AGENT) + "))\n"
          "from astroagent.telemetry import Telemetry, instrument\n"
          "class TelemetryProbeError(Exception):\n"
          "    pass\n"
          "@instrument\n"
          "def telemetry_probe():\n"
          "    raise TelemetryProbeError(nonce)\n"
          "telemetry = Telemetry(" + repr(PROBE_AGENT) + ", sys.argv[2])\n"
          "try:\n"
          "    with telemetry.execution(code_version='selftest'):\n"
          "        telemetry_probe()\n"
          "except TelemetryProbeError:\n"
          "    pass\n"
          "finally:\n"
          "    telemetry.close()\n"
          "for line in changed:\n"
          "    print(" + repr(_CHANGED) + " + line, file=sys.stderr)\n")


def new_nonce() -> str:
    return secrets.token_hex(16)


def probe_folder(scratch: Path) -> Path:
    """Where the probe logs: inside the scratch copy (the sandbox lets it write there), apart from data/."""
    return Path(scratch) / _PROBE_DIR


def _probe_logged(folder: Path, nonce: str) -> bool:
    for path in sorted((folder / "logs" / PROBE_AGENT).glob("execution_*.jsonl")):
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            continue
        for line in lines:
            if nonce.encode() not in line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            data = event.get("event_data") if isinstance(event, dict) else None
            if event.get("event_type") == "method_failed" and isinstance(data, dict) \
                    and data.get("method") == "telemetry_probe" and data.get("error_type") == "TelemetryProbeError" \
                    and nonce in str(data.get("error", "")):
                return True
    return False


def problem(folder: Path, nonce: str, output: str) -> str | None:
    """``FAILED`` and why, when the probe's failure did not reach the log or the import changed the telemetry."""
    changed = [line[len(_CHANGED):] for line in output.splitlines() if line.startswith(_CHANGED)]
    if _probe_logged(folder, nonce) and not changed:
        return None
    why = "; ".join(changed[:5]) if changed else "the probe's method_failed event never reached the log"
    return f"{FAILED}: {why}"
