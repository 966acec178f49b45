"""Verdicts: a change that makes things worse is rolled back, one that helps is kept, too little data waits."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from astroagent.config.models import VerdictConfig
from astroagent.labtech.models import Analysis, VersionStats
from astroagent.labtech.changes.verdicts import baseline_of, judge

CFG = VerdictConfig(min_executions=12, alpha=0.05, success_tolerance=0.02, time_tolerance=0.10)


def _version(name: str, executions: int, failed: int, durations=(), errors: int = 0) -> VersionStats:
    return VersionStats(code_version=name, executions=executions, failed=failed,
                        success_rate=(executions - failed) / executions if executions else 1.0,
                        method_durations={"fetch": tuple(durations)} if durations else {},
                        method_errors={"fetch": errors} if errors else {})


def _analysis(*versions: VersionStats) -> Analysis:
    return Analysis(generated_at=datetime(2026, 1, 1, tzinfo=UTC), window_hours=24, log_dir="x",
                    per_version={v.code_version: v for v in versions})


def _change(fix: str = "add_retry_mechanism", type_: str = "frequent_error") -> dict:
    return {"id": "chg-1", "fix": fix, "type": type_, "method": "fetch", "code_version_before": "old",
            "code_version_after": "new", "code_versions_after": ["new"]}


def test_too_little_data_is_pending() -> None:
    verdict = judge(_change(), _analysis(_version("old", 40, 14), _version("new", 5, 0)), CFG)
    assert verdict.verdict == "pending" and "5 of 12" in verdict.reason


def test_a_retry_that_lifts_success_is_kept_with_evidence() -> None:
    verdict = judge(_change(), _analysis(_version("old", 40, 14, errors=14), _version("new", 30, 0)), CFG)
    assert verdict.verdict == "kept"
    assert verdict.evidence["success"]["p_better"] < 0.05
    assert verdict.evidence["before"]["success_rate"] == 0.65 and verdict.evidence["after"]["success_rate"] == 1.0


def test_a_change_that_makes_success_worse_is_rolled_back() -> None:
    verdict = judge(_change("add_caching", "slow_method"),
                    _analysis(_version("old", 40, 0), _version("new", 20, 8)), CFG)
    assert verdict.verdict == "rolled_back" and "worse" in verdict.reason


def test_a_cache_that_is_faster_is_kept_and_a_slower_one_rolled_back() -> None:
    rng = random.Random(1)
    slow = [1.0 + rng.random() * 0.1 for _ in range(30)]
    fast = [0.01 + rng.random() * 0.01 for _ in range(30)]
    kept = judge(_change("add_caching", "slow_method"),
                 _analysis(_version("old", 20, 0, slow), _version("new", 20, 0, fast)), CFG)
    assert kept.verdict == "kept" and kept.evidence["time"]["ratio"] < 0.1
    worse = judge(_change("add_caching", "slow_method"),
                  _analysis(_version("old", 20, 0, fast), _version("new", 20, 0, slow)), CFG)
    assert worse.verdict == "rolled_back" and "slower" in worse.reason


def test_the_old_version_can_come_from_the_recorded_baseline() -> None:
    old = _analysis(_version("old", 40, 14, errors=14))
    change = {**_change(), "baseline": baseline_of(old, "old", "fetch")}
    verdict = judge(change, _analysis(_version("new", 30, 0)), CFG)
    assert verdict.verdict == "kept"


def test_no_difference_waits_then_keeps() -> None:
    small = judge(_change("add_caching", "slow_method"), _analysis(_version("old", 20, 1), _version("new", 14, 1)), CFG)
    assert small.verdict == "pending"
    large = judge(_change("add_caching", "slow_method"), _analysis(_version("old", 20, 1), _version("new", 40, 2)), CFG)
    assert large.verdict == "kept"


def test_changes_are_judged_on_every_version_that_contains_them() -> None:
    change = {**_change(), "code_versions_after": ["new", "newer"]}
    verdict = judge(change, _analysis(_version("old", 40, 14), _version("new", 6, 0), _version("newer", 8, 0)), CFG)
    assert verdict.verdict == "kept" and verdict.evidence["after"]["executions"] == 14


def test_a_cache_judged_beside_a_retry_is_kept_for_its_own_speed_not_the_retry_s_success() -> None:
    rng = random.Random(2)
    slow = [0.03 + rng.random() * 0.01 for _ in range(30)]
    fast = [1e-5 + rng.random() * 1e-6 for _ in range(30)]
    together = _analysis(_version("old", 30, 11, slow), _version("new", 30, 1, fast))
    cache = judge(_change("add_caching", "uncached_repeated_work"), together, CFG)
    assert cache.verdict == "kept" and cache.reason.startswith("faster: fetch median")
    retry = judge(_change(), together, CFG)
    assert retry.verdict == "kept" and retry.reason.startswith("better: success 63% → 97%")
    slower = judge(_change("add_caching", "uncached_repeated_work"),
                   _analysis(_version("old", 30, 11, fast), _version("new", 30, 1, slow)), CFG)
    assert slower.verdict == "rolled_back" and "slower" in slower.reason   # a better rate does not save it


def test_a_bug_fix_that_lifts_success_is_kept_even_when_its_method_now_runs_longer() -> None:
    rng = random.Random(3)
    failing_fast = [0.001 + rng.random() * 1e-4 for _ in range(30)]    # the bug raised at once
    working = [0.05 + rng.random() * 0.01 for _ in range(30)]
    verdict = judge(_change("llm_rewrite", "deterministic_failure"),
                    _analysis(_version("old", 30, 15, failing_fast), _version("new", 30, 0, working)), CFG)
    assert verdict.verdict == "kept" and verdict.reason.startswith("better: success 50% → 100%")


def test_a_retry_kept_for_its_success_says_what_its_waits_cost() -> None:
    rng = random.Random(4)
    quick = [0.01 + rng.random() * 0.001 for _ in range(30)]
    waiting = [0.02 + rng.random() * 0.001 for _ in range(30)]     # each call now waits between attempts
    verdict = judge(_change(), _analysis(_version("old", 30, 11, quick), _version("new", 30, 0, waiting)), CFG)
    assert verdict.verdict == "kept" and verdict.reason.startswith("better: success 63% → 100%")
    assert "at a cost: fetch 2.0× slower" in verdict.reason
    same = judge(_change(), _analysis(_version("old", 30, 11, quick), _version("new", 30, 0, quick)), CFG)
    assert same.verdict == "kept" and "cost" not in same.reason


def test_a_retry_whose_attempts_still_fail_before_it_succeeds_has_rid_the_method_of_its_failures() -> None:
    old = _version("old", 20, 2, errors=2)
    new = _version("new", 20, 0).model_copy(update={"method_errors": {"fetch": 12}, "method_absorbed": {"fetch": 12}})
    verdict = judge(_change(), _analysis(old, new), CFG)
    assert verdict.verdict == "kept" and "targeted failures in fetch are gone (2 → 0)" in verdict.reason
    assert verdict.evidence["after"]["method_errors"] == 0
    assert baseline_of(_analysis(new), "new", "fetch")["method_errors"] == 0
    unabsorbed = new.model_copy(update={"method_absorbed": {}})   # the same failures, not followed by a success
    assert judge(_change(), _analysis(old, unabsorbed), CFG).verdict == "pending"
