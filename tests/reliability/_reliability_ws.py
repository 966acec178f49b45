"""Workspaces, real logs and process checks shared by the reliability tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from astroagent.labtech.changes.apply import TMP_SUFFIX, sha256_file

ASTROAGENT = [sys.executable, "-m", "astroagent"]

STATS = '''\
"""Ratios of fluxes."""

import logging

from astroagent.telemetry import instrument

log = logging.getLogger(__name__)


@instrument
def ratio(a, b):
    """a divided by b."""
    log.info("ratio of %s and %s", a, b)
    try:
        return a / b
    except ZeroDivisionError:
        log.warning("zero flux")
        raise


def scale(values, factor):
    return [v * factor for v in values]
'''

TEST_STATS = '''\
from experimenter.stats import ratio, scale


def test_ratio():
    assert ratio(1, 2) == 0.5


def test_scale():
    assert scale([1, 2], 3) == [3, 6]
'''

STATS_RUNNER = '''\
"""N executions of ratio(); every k-th divides by zero (a deterministic bug)."""
import sys
from pathlib import Path

ws, n, k = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, str(ws))
from astroagent.telemetry import Telemetry, package_code_version
from experimenter.stats import ratio

tel = Telemetry("experimenter", ws / "data", code_roots=[ws / "experimenter"], location_base=ws)
version = package_code_version(ws / "experimenter")
for i in range(n):
    try:
        with tel.execution(code_version=version):
            ratio(1.0, 0 if i % k == 0 else 2.0)
    except ZeroDivisionError:
        pass
tel.close()
'''


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no ASTROAGENT_/OpenAI settings of the developer's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ASTROAGENT_") and k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    env.update(extra)
    return env


def write_stats_logs(ws: Path, n: int = 40, every: int = 3) -> None:
    runner = ws.parent / "stats_runner.py"
    runner.write_text(STATS_RUNNER)
    subprocess.run([sys.executable, str(runner), str(ws), str(n), str(every)], env=clean_env(), check=True,
                   timeout=120, capture_output=True)


def stray_temp_files(folder: Path) -> list[Path]:
    """Temp files the atomic writer leaves beside a target if a write never finished."""
    return [p for p in folder.rglob(f"*{TMP_SUFFIX}")]


def ledger_lines(data_dir: Path) -> tuple[list[dict], int]:
    """(parsed lines, torn lines) of the ledger: a kill may tear only the last line."""
    path = data_dir / "logs" / "lab_technician" / "ledger.jsonl"
    if not path.exists():
        return [], 0
    parsed, torn = [], 0
    raw = path.read_bytes().split(b"\n")
    for chunk in raw:
        if not chunk.strip():
            continue
        try:
            parsed.append(orjson.loads(chunk))
        except orjson.JSONDecodeError:
            torn += 1
    return parsed, torn


def file_state(path: Path, old_sha: str, new_sha: str) -> str:
    sha = sha256_file(path)
    return "old" if sha == old_sha else "new" if sha == new_sha else f"neither ({sha})"
