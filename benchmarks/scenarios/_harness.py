"""Run one scenario end to end: workload → ``labtech improve`` → workload → judge → tests → ledger.

Everything runs as it would for a user: the scenario is copied into a temporary workspace, the
workload and every astroagent command are real subprocesses, the archive is the real loopback
server with the scenario's faults. Only ``run.py`` prints; this module returns plain data.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Scenario", "load_scenarios", "run_scenario", "SCENARIO_ROOT"]

SCENARIO_ROOT = Path(__file__).resolve().parent
_WORKLOAD = SCENARIO_ROOT / "_workload.py"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "data", "scenario.yaml")


@dataclass(frozen=True)
class Scenario:
    """A scenario folder: its workspace files plus ``scenario.yaml`` (what runs and what is expected)."""

    name: str
    folder: Path
    title: str
    description: str
    package: str
    archive: dict[str, Any] | None
    before: int
    after: int
    period: float                                  # seconds between execution starts (0: back to back)
    cycles: int
    expected: tuple[tuple[str, str], ...]          # (fix, target) pairs that are the right change


def load_scenarios(root: Path = SCENARIO_ROOT) -> list[Scenario]:
    out = []
    for spec_path in sorted(root.glob("*/scenario.yaml")):
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
        work = spec.get("workload") or {}
        expected = tuple((f["fix"], f["target"]) for f in (spec.get("expected") or {}).get("fixes") or ())
        out.append(Scenario(
            name=spec_path.parent.name, folder=spec_path.parent, title=spec["title"],
            description=" ".join(str(spec.get("description", "")).split()), package=spec["package"],
            archive=spec.get("archive"), before=int(work.get("before", 30)), after=int(work.get("after", 30)),
            period=float(work.get("period", 0.0)), cycles=int(spec.get("cycles", 1)), expected=expected))
    return out


def _env(ws: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    env.update(ASTROAGENT_WORKSPACE=str(ws), PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    env.pop("OPENAI_BASE_URL", None)
    return env


def _run(argv: list[str], ws: Path, timeout: float, extra_env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = _env(ws)
    env.update(extra_env or {})
    return subprocess.run(argv, cwd=ws, env=env, capture_output=True, text=True, timeout=timeout)


def _workload(sc: Scenario, ws: Path, url: str, n: int) -> dict[str, Any]:
    proc = _run([sys.executable, str(_WORKLOAD), str(ws), url, str(n), sc.package, sc.package, str(sc.period)],
                ws, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{sc.name}: workload crashed: {proc.stderr.strip()[-1500:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    durations = data["durations"]
    return {"executions": data["executions"], "succeeded": data["succeeded"],
            "success_rate": data["succeeded"] / data["executions"], "total_seconds": sum(durations),
            "mean_seconds": statistics.fmean(durations), "p95_seconds": _p95(durations),
            "errors": data["errors"], "code_version": data["code_version"]}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _labtech(sc: Scenario, ws: Path, *extra: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "astroagent", "labtech", "improve", "--engine", "rules", "--json",
            "--logs", str(ws / "data" / "logs" / sc.package), *extra]
    start = time.perf_counter()
    proc = _run(argv, ws, timeout=900)
    out: dict[str, Any] = {"exit_code": proc.returncode, "seconds": round(time.perf_counter() - start, 2)}
    try:
        out.update(json.loads(proc.stdout))
    except json.JSONDecodeError:
        out["stderr"] = proc.stderr.strip()[-2000:]
        out["stdout"] = proc.stdout.strip()[-2000:]
    return out


def _history(ws: Path) -> list[dict[str, Any]]:
    proc = _run([sys.executable, "-m", "astroagent", "labtech", "history", "--json"], ws, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"labtech history failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout)["changes"]


def _tests(ws: Path) -> dict[str, Any]:
    proc = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], ws, timeout=300,
                extra_env={"PYTHONPATH": str(ws)})
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return {"passed": proc.returncode == 0, "summary": last}


def _judge(sc: Scenario, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare what the Lab Technician changed with what the scenario says is right."""
    made = [c for c in changes if c.get("status") in ("applied", "rolled_back")]
    expected = set(sc.expected)
    wrong = [c for c in made if (c.get("fix"), c.get("target")) not in expected]
    in_place = {(c.get("fix"), c.get("target")) for c in made if c.get("status") == "applied"}
    unfixed = sorted(f"{fix} on {target}" for fix, target in expected if (fix, target) not in in_place)
    return {"wrong_changes": [f"{c.get('fix')} on {c.get('target')} ({c.get('status')})" for c in wrong],
            "unfixed": unfixed}


def run_scenario(sc: Scenario, *, keep: bool = False, executions: int | None = None) -> dict[str, Any]:
    """Run ``sc`` in a fresh temporary workspace; a dict of everything measured.
    ``executions`` replaces the scenario's before/after counts (the smoke test runs a short version)."""
    n_before, n_after = (executions, executions) if executions else (sc.before, sc.after)
    from astroagent.config.models import ArchiveConfig
    from astroagent.science.archive_server import ArchiveServer

    tmp = Path(tempfile.mkdtemp(prefix=f"astroagent-scenario-{sc.name}-"))
    ws = tmp / sc.name
    shutil.copytree(sc.folder, ws, ignore=_IGNORE)
    (ws / "data").mkdir(exist_ok=True)
    started = time.perf_counter()
    archive = ArchiveConfig(**(sc.archive or {}))
    phases: list[dict[str, Any]] = []

    def phase(n: int) -> dict[str, Any]:
        """One workload run against a fresh archive with the scenario's seed: each code version meets
        the same fault schedule from its start (one archive for all phases let an outage that began
        in the run before the change carry into the run after it)."""
        with ArchiveServer(archive) as server:
            result = _workload(sc, ws, server.url, n)
            phases.append(server.stats())
        return result

    try:
        before = phase(n_before)
        after = before
        runs = []
        for _ in range(sc.cycles):
            runs.append(_labtech(sc, ws))
            after = phase(n_after)
        judged = _labtech(sc, ws, "--max-improvements", "0")
        tests = _tests(ws)
        changes = _history(ws)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    archive_stats = _sum_stats(phases)
    made = [{"id": c.get("id"), "fix": c.get("fix"), "target": c.get("target"), "status": c.get("status"),
             "verdict": c.get("verdict"), "reason": (c.get("verdict_reason") or c.get("reason") or "")[:300]}
            for c in changes]
    return {"name": sc.name, "title": sc.title, "description": sc.description,
            "expected": [{"fix": f, "target": t} for f, t in sc.expected], "before": before, "after": after,
            "code_changed": before["code_version"] != after["code_version"], "improve_runs": runs,
            "judge_run": judged, "changes": made, "tests": tests, "archive": archive_stats,
            **_judge(sc, changes), "seconds": round(time.perf_counter() - started, 1),
            "workspace": str(ws) if keep else None}


def _sum_stats(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """The archive counters of every workload phase, added up."""
    total: dict[str, Any] = {"requests": 0, "served": 0, "faults": {}, "faults_total": 0, "handler_errors": 0}
    for stats in phases:
        for key in ("requests", "served", "faults_total", "handler_errors"):
            total[key] += stats.get(key, 0)
        for kind, n in stats.get("faults", {}).items():
            total["faults"][kind] = total["faults"].get(kind, 0) + n
    return total
