"""Run one drift case: old code, a change that lands as the archive's fault rate moves, both judges.

Phase 1 runs the old code alone against the loopback archive. Then the change is written by the
real fix rule on the old source (from the error types phase 1 saw), the archive's reset rate is
moved (``ArchiveServer.set_faults``) and the change is "applied". Phase 2 assigns each execution at
random to the baseline (old code) or the canary (new code). Each version runs in its own worker
process (``_worker.py``); this process is the supervisor that times each execution and writes its
outcome record, the evidence both judges read (``_judges.py``). Only ``run.py`` prints.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Case", "load_cases", "run_case", "DRIFT_ROOT", "AGENT"]

DRIFT_ROOT = Path(__file__).resolve().parent
_WORKER = DRIFT_ROOT / "_worker.py"
AGENT = "lcnoise"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


@dataclass(frozen=True)
class Case:
    """One case of ``cases.yaml``, with the run's counts (full or ``--quick``) filled in."""

    name: str
    title: str
    description: str
    package: str
    module: str
    fix: str
    target: str
    opportunity_type: str
    rate_before: float
    rate_after: float
    before: int
    after: int
    to_horizon: bool
    horizon: int | None            # verdict horizon (max canary executions); None: the config's default
    truth: str                     # better | worse | no difference
    seed: int
    canary_fraction: float


def load_cases(quick: bool = False, seed: int | None = None, path: Path = DRIFT_ROOT / "cases.yaml") -> list[Case]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    small = spec.get("quick") or {}
    out = []
    for name, case in spec["cases"].items():
        change, rates = case["change"], case["reset_rate"]
        out.append(Case(
            name=name, title=case["title"], description=" ".join(str(case.get("description", "")).split()),
            package=spec["package"], module=spec["module"], fix=change["fix"], target=change["target"],
            opportunity_type=change["type"], rate_before=float(rates["before"]), rate_after=float(rates["after"]),
            before=int(small["before"] if quick else case["before"]),
            after=int(small["after"] if quick else case["after"]), to_horizon=bool(case.get("to_horizon")),
            horizon=int(small["horizon"]) if quick and small.get("horizon") else None, truth=case["truth"],
            seed=int(spec["seed"] if seed is None else seed), canary_fraction=float(spec["canary_fraction"])))
    return out


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    env.update(PYTHONDONTWRITEBYTECODE="1")
    return env


class Worker:
    """One code version's worker process; ``run`` hands it one execution and waits for its answer."""

    def __init__(self, folder: Path, data_dir: Path, package: str, *, real_waits: bool):
        self.name = folder.name
        self._stderr_path = folder.parent / f"{folder.name}.stderr"
        self._stderr = open(self._stderr_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        argv = [sys.executable, str(_WORKER), str(folder), str(data_dir), AGENT, package]
        self._proc = subprocess.Popen(argv + (["--real-waits"] if real_waits else []), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=_env())
        self.code_version: str = self._answer()["code_version"]

    def _answer(self) -> dict[str, Any]:
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line:
            self._stderr.flush()
            tail = self._stderr_path.read_text(encoding="utf-8").strip()[-1500:]
            raise RuntimeError(f"the {self.name} worker exited: {tail or 'no error output'}")
        return json.loads(line)

    def run(self, execution_id: str, url: str, i: int) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"execution_id": execution_id, "url": url, "i": i}) + "\n")
        self._proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        finally:
            if self._proc.stdout:
                self._proc.stdout.close()
            self._stderr.close()


def _execute(worker: Worker, recorder: Any, url: str, i: int, arm: str) -> dict[str, Any]:
    """One execution on ``worker``, timed and recorded here, outside the code being judged."""
    execution_id = uuid.uuid4().hex
    start = time.perf_counter()
    answer = worker.run(execution_id, url, i)
    duration = time.perf_counter() - start + float(answer["waited"])
    success = bool(answer["success"])
    recorder.settle(execution_id=execution_id, code_version=worker.code_version, success=success,
                    failure_kind=None if success else "agent", duration=duration, error=answer["error"])
    return {"arm": arm, "success": success, "error_type": answer["error_type"], "duration": duration,
            "waited": float(answer["waited"])}


def _write_change(case: Case, old: Path, new: Path, phase1: list[dict[str, Any]]) -> dict[str, Any]:
    """The new version: the case's fix rule run on the old source, from what phase 1 saw fail."""
    from astroagent.labtech.fixes import apply_fix
    from astroagent.labtech.models import Opportunity

    relative = f"{case.package}/{case.module}"
    errors = tuple(sorted({r["error_type"] for r in phase1 if r["error_type"]}))
    failed = sum(not r["success"] for r in phase1)
    opportunity = Opportunity(
        type=case.opportunity_type, priority="high", target=f"{relative}::{case.target}", fix=case.fix,
        signature=f"drift-{case.name}", method=case.target, error_types=errors,
        description=f"{failed} of {len(phase1)} executions failed ({', '.join(errors) or 'no error type'})")
    outcome = apply_fix((old / relative).read_text(encoding="utf-8"), case.target, opportunity)
    if outcome.status != "applied" or outcome.new_source is None:
        raise RuntimeError(f"case {case.name}: {case.fix} on {case.target} was {outcome.status}: {outcome.reason}")
    shutil.copytree(old, new, ignore=_IGNORE)
    (new / relative).write_text(outcome.new_source, encoding="utf-8")
    return {"fix": case.fix, "target": f"{relative}::{case.target}", "summary": outcome.reason,
            "error_types": list(errors)}


def _phase2(case: Case, workers: dict[str, Worker], recorder: Any, url: str, horizon: int) -> list[dict[str, Any]]:
    """Executions at random on the canary or the baseline: ``case.after`` of them, or, to the
    horizon, until each arm holds ``horizon`` (capped, so a skewed draw cannot run for ever)."""
    rng = random.Random(case.seed)
    rows: list[dict[str, Any]] = []
    seen = {"canary": 0, "baseline": 0}
    cap = max(case.after, 4 * horizon)

    def more() -> bool:
        if len(rows) < case.after:
            return True
        return case.to_horizon and min(seen.values()) < horizon and len(rows) < cap
    while more():
        arm = "canary" if rng.random() < case.canary_fraction else "baseline"
        rows.append(_execute(workers[arm], recorder, url, case.before + len(rows), arm))
        seen[arm] += 1
    return rows


def run_case(case: Case, *, real_waits: bool = False, keep: bool = False) -> dict[str, Any]:
    """Run ``case`` in a fresh temporary data folder; a dict of everything measured and both verdicts."""
    from _judges import judge_both

    from astroagent.config.models import ArchiveConfig, VerdictConfig
    from astroagent.science.archive_server import ArchiveServer
    from astroagent.telemetry.outcomes import OutcomeRecorder

    tmp = Path(tempfile.mkdtemp(prefix=f"astroagent-drift-{case.name}-"))
    old, new, data = tmp / "baseline", tmp / "canary", tmp / "data"
    shutil.copytree(DRIFT_ROOT / case.package, old / case.package, ignore=_IGNORE)
    config = VerdictConfig(**({"max_canary_executions": case.horizon} if case.horizon else {}))
    recorder = OutcomeRecorder(data, AGENT)
    started = time.perf_counter()
    workers: dict[str, Worker] = {}
    try:
        with ArchiveServer(ArchiveConfig(reset_rate=case.rate_before, seed=case.seed)) as archive:
            workers["baseline"] = Worker(old, data, case.package, real_waits=real_waits)
            phase1 = [_execute(workers["baseline"], recorder, archive.url, i, "baseline") for i in range(case.before)]
            change = _write_change(case, old, new, phase1)
            workers["canary"] = Worker(new, data, case.package, real_waits=real_waits)
            archive.set_faults(reset_rate=case.rate_after)
            applied_at = datetime.now(UTC)
            phase2 = _phase2(case, workers, recorder, archive.url, config.max_canary_executions)
            archive_stats = archive.stats()
        record = {"id": f"drift-{case.name}", "fix": case.fix, "type": case.opportunity_type,
                  "target": change["target"], "method": case.target, "design": "concurrent",
                  "code_version_before": workers["baseline"].code_version,
                  "code_version_after": workers["canary"].code_version, "applied_at": applied_at.isoformat()}
        verdicts = judge_both(record, data / "logs" / AGENT, config, datetime.now(UTC))
        for verdict in verdicts.values():
            verdict["right"] = verdict["claim"] == case.truth
    finally:
        for worker in workers.values():
            worker.close()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"name": case.name, "title": case.title, "description": case.description, "truth": case.truth,
            "reset_rate": {"before": case.rate_before, "after": case.rate_after}, "seed": case.seed,
            "horizon": config.max_canary_executions, "change": {**change, **{k: record[k] for k in (
                "code_version_before", "code_version_after", "applied_at")}},
            "phase1": _summary(phase1), "phase2": {arm: _summary([r for r in phase2 if r["arm"] == arm])
                                                   for arm in ("baseline", "canary")},
            "archive": archive_stats, **verdicts, "seconds": round(time.perf_counter() - started, 1),
            "workspace": str(tmp) if keep else None}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sum(r["success"] for r in rows)
    durations = sorted(r["duration"] for r in rows)
    return {"executions": len(rows), "succeeded": ok, "success_rate": round(ok / len(rows), 4) if rows else None,
            "median_seconds": round(durations[len(durations) // 2], 4) if rows else None,
            "waited_seconds": round(sum(r["waited"] for r in rows), 2)}
