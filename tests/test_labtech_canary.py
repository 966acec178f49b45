"""A change judged as a concurrent canary: its own version against its baseline, same period only."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from astroagent.config.models import VerdictConfig
from astroagent.labtech.changes.canary import CONCURRENT, arms, canary_kind, judge_concurrent
from astroagent.telemetry.outcomes import OutcomeRecorder

APPLIED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OLD, NEW = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
CHANGE = {"id": "chg-1", "fix": "add_retry_mechanism", "type": "frequent_error", "design": CONCURRENT,
          "code_version_before": OLD, "code_version_after": NEW, "applied_at": APPLIED.isoformat()}


def _record(data: Path, when: datetime, version: str, success: bool, duration: float = 1.0) -> None:
    OutcomeRecorder(data, "experimenter").write({
        "timestamp": when, "execution_id": f"{version}-{when.timestamp()}", "code_version": version,
        "success": success, "failure_kind": None if success else "agent", "duration": duration,
        "recorded_by": "supervisor"})


def _stream(data: Path, n: int, p_new: float, p_old: float, *, start: datetime = APPLIED, seed: int = 1) -> None:
    rng = random.Random(seed)
    for i in range(n):
        when = start + timedelta(seconds=10 * i + 1)
        version = NEW if rng.random() < 0.5 else OLD
        _record(data, when, version, rng.random() < (p_new if version == NEW else p_old))


def _judge(data: Path, change: dict = CHANGE) -> object:
    return judge_concurrent(change, data / "logs" / "experimenter", VerdictConfig(),
                            now=APPLIED + timedelta(days=1))


def test_a_retry_that_removes_transient_failures_is_kept_with_both_sides_recorded(tmp_path: Path) -> None:
    _stream(tmp_path, 200, p_new=1.0, p_old=0.65)
    verdict = _judge(tmp_path)
    assert verdict.verdict == "kept", verdict.reason
    evidence = verdict.evidence
    assert evidence["design"] == "concurrent" and evidence["kind"] == "reliability"
    assert evidence["canary"]["code_version"] == NEW and evidence["baseline"]["code_version"] == OLD
    assert evidence["canary"]["failed"] == 0 and evidence["baseline"]["failed"] > 0
    assert evidence["period"]["first"] and evidence["statistic"]["decision"] == "keep"


def test_a_harmful_change_is_rolled_back(tmp_path: Path) -> None:
    _stream(tmp_path, 200, p_new=0.3, p_old=0.9)
    assert _judge(tmp_path).verdict == "rolled_back"


def test_a_few_executions_decide_nothing(tmp_path: Path) -> None:
    _stream(tmp_path, 6, p_new=1.0, p_old=0.5)
    verdict = _judge(tmp_path)
    assert verdict.verdict == "pending" and "so far" in verdict.reason


def test_only_the_changes_period_and_its_two_versions_count(tmp_path: Path) -> None:
    """An outage before the change (the old version failing) is not baseline evidence, and a
    third version running meanwhile is in neither arm."""
    for i in range(100):
        _record(tmp_path, APPLIED - timedelta(minutes=30) + timedelta(seconds=i), OLD, False)
        _record(tmp_path, APPLIED + timedelta(seconds=i + 1), "cccccccccccc", False)
    _stream(tmp_path, 60, p_new=0.8, p_old=0.8, start=APPLIED + timedelta(minutes=5))
    from astroagent.telemetry.outcomes import read_outcomes
    records = read_outcomes(tmp_path / "logs" / "experimenter", 0, (APPLIED + timedelta(days=1)).timestamp())
    canary, baseline = arms(CHANGE, records)
    assert len(canary) + len(baseline) == 60
    assert _judge(tmp_path).verdict == "pending"


def test_caches_are_speed_changes_and_retries_reliability() -> None:
    assert canary_kind({"fix": "add_caching"}) == "speed"
    assert canary_kind({"fix": "llm_rewrite", "type": "slow_method"}) == "speed"
    assert canary_kind({"fix": "add_retry_mechanism"}) == "reliability"
    assert canary_kind({"fix": "add_instrumentation"}) == "reliability"


def test_a_change_without_versions_waits(tmp_path: Path) -> None:
    verdict = _judge(tmp_path, {**CHANGE, "code_version_before": None})
    assert verdict.verdict == "pending"


def test_a_concurrent_rollout_applies_one_change_and_waits_for_its_verdict(tmp_path: Path) -> None:
    """Two opportunities, design concurrent: one canary is applied, the second waits for its
    verdict (two changes must never share one code version's evidence)."""
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from _labtech_ws import FETCH, TEST_FETCH, make_workspace

    from astroagent.config import AstroAgentConfig
    from astroagent.labtech.changes.improve import run_improvements
    from astroagent.labtech.changes.ledger import Ledger
    from astroagent.labtech.models import Analysis, ErrorPattern, Opportunity

    ws = make_workspace(tmp_path / "ws", {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH})
    opps = tuple(Opportunity(type="frequent_error", priority="high", score=10.0 - i, fix=fix,
                             target="experimenter/fetch.py::fetch_dataset", signature=f"sig-{i}",
                             method="fetch_dataset", error_types=("ConnectionResetError",), description="resets")
                 for i, fix in enumerate(("add_retry_mechanism", "add_timeout")))
    patterns = tuple(ErrorPattern(signature=f"sig-{i}", error_type="ConnectionResetError", template="reset",
                                  count=25, transient=True) for i in range(2))
    analysis = Analysis(generated_at=datetime.now(UTC), window_hours=24, log_dir="logs", opportunities=opps,
                        error_patterns=patterns, needs_intervention=True)
    first = run_improvements(analysis, config=AstroAgentConfig(), workspace=ws, data_dir=ws / "data",
                             design=CONCURRENT)
    applied = [i for i in first.improvements if i["status"] == "applied"]
    assert len(applied) == 1, first.improvements
    [change] = Ledger(ws / "data").pending()
    assert change["design"] == "concurrent" and change["applied_at"]
    second = run_improvements(analysis, config=AstroAgentConfig(), workspace=ws, data_dir=ws / "data",
                              design=CONCURRENT)
    assert second.improvements == ()
    assert any("still being judged" in note for note in second.notes), second.notes


def test_a_canary_that_cannot_start_is_rolled_back_without_statistics(tmp_path: Path) -> None:
    for i in range(3):
        _record(tmp_path, APPLIED + timedelta(seconds=2 * i + 1), OLD, True)
        OutcomeRecorder(tmp_path, "experimenter").write({
            "timestamp": APPLIED + timedelta(seconds=2 * i + 2), "execution_id": f"c{i}", "code_version": NEW,
            "success": False, "failure_kind": "start", "error": "ImportError: cannot import name 'x'",
            "duration": 0.1, "recorded_by": "supervisor"})
    verdict = _judge(tmp_path)
    assert verdict.verdict == "rolled_back" and "cannot run" in verdict.reason and "ImportError" in verdict.reason
