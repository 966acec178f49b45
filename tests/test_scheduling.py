"""Adaptive Lab Technician scheduling: sooner while failing, later while healthy, within bounds."""

from __future__ import annotations

from astroagent.orchestration.scheduling import LabSchedule, adapt_interval, after_run, is_due, seconds_until_due


def _schedule(**kw: float) -> LabSchedule:
    args = dict(min_interval=60.0, max_interval=4 * 3600.0, threshold=0.9, now=0.0)
    args.update(kw)
    return LabSchedule.create(3600.0, **args)


def test_failing_experimenter_brings_the_lab_technician_sooner_down_to_the_minimum() -> None:
    schedule = _schedule()
    seen = []
    for run in range(10):
        schedule = after_run(schedule, now=float(run), success_rate=0.5, experiments=run + 1)
        seen.append(schedule.interval)
    assert seen[0] == 1800.0 and seen[1] == 900.0
    assert seen == sorted(seen, reverse=True)
    assert seen[-1] == 60.0


def test_healthy_experimenter_pushes_it_later_up_to_the_maximum() -> None:
    schedule = _schedule()
    for run in range(10):
        schedule = after_run(schedule, now=float(run), success_rate=0.99, experiments=run + 1)
    assert schedule.interval == 4 * 3600.0


def test_recovery_after_a_bad_spell_returns_to_at_least_the_base_interval() -> None:
    schedule = after_run(_schedule(), now=0.0, success_rate=0.2, experiments=5)
    assert schedule.interval == 1800.0
    schedule = after_run(schedule, now=1.0, success_rate=0.97, experiments=10)
    assert schedule.interval == 5400.0


def test_no_evidence_keeps_the_base_interval() -> None:
    assert adapt_interval(_schedule(), None) == 3600.0


def test_due_only_after_the_interval_and_with_new_experiments() -> None:
    schedule = _schedule(min_new_experiments=3)
    assert not is_due(schedule, now=3599.0, experiments=10)
    assert seconds_until_due(schedule, 3599.0) == 1.0
    assert is_due(schedule, now=3600.0, experiments=10)
    schedule = after_run(schedule, now=3600.0, success_rate=0.5, experiments=10)
    assert not is_due(schedule, now=10_000.0, experiments=12)   # nothing new to read yet
    assert is_due(schedule, now=10_000.0, experiments=13)


def test_a_user_interval_outside_the_bounds_widens_them() -> None:
    schedule = _schedule().with_base(5.0)
    assert schedule.interval == 5.0 and schedule.min_interval == 5.0
    assert after_run(schedule, now=0.0, success_rate=0.1, experiments=1).interval == 5.0
