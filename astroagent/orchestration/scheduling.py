"""When the Lab Technician runs next: sooner while the Experimenter fails too often, later while
it is healthy, always within the configured bounds. Pure decisions on an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["LabSchedule", "adapt_interval", "after_run", "is_due", "seconds_until_due"]

SHRINK = 0.5
GROW = 1.5


@dataclass(frozen=True)
class LabSchedule:
    """The Lab Technician's timetable. ``base`` is the interval the user asked for; ``interval``
    the adapted one; ``last_run`` a clock reading (None: never ran, due once evidence exists)."""

    base: float
    interval: float
    min_interval: float
    max_interval: float
    threshold: float
    last_run: float | None = None
    experiments_at_last_run: int = 0
    min_new_experiments: int = 1

    @classmethod
    def create(cls, base: float, *, min_interval: float, max_interval: float, threshold: float,
               min_new_experiments: int = 1, now: float | None = None) -> "LabSchedule":
        low, high = min(min_interval, base), max(max_interval, base)
        return cls(base=base, interval=base, min_interval=low, max_interval=high, threshold=threshold,
                   last_run=now, min_new_experiments=max(0, min_new_experiments))

    def with_base(self, base: float) -> "LabSchedule":
        """The user set a new interval: it becomes the base and widens the bounds if it must."""
        return replace(self, base=base, interval=base, min_interval=min(self.min_interval, base),
                       max_interval=max(self.max_interval, base))


def adapt_interval(schedule: LabSchedule, success_rate: float | None) -> float:
    """The next interval: shrink while below the threshold, grow while healthy, clamp to bounds.
    With no evidence (None) the base interval stands."""
    if success_rate is None:
        proposed = schedule.base
    elif success_rate < schedule.threshold:
        proposed = min(schedule.interval, schedule.base) * SHRINK
    else:
        proposed = max(schedule.interval, schedule.base) * GROW
    return min(schedule.max_interval, max(schedule.min_interval, proposed))


def after_run(schedule: LabSchedule, *, now: float, success_rate: float | None,
              experiments: int) -> LabSchedule:
    """The schedule once the Lab Technician has run at ``now`` having seen ``success_rate``."""
    return replace(schedule, interval=adapt_interval(schedule, success_rate), last_run=now,
                   experiments_at_last_run=experiments)


def seconds_until_due(schedule: LabSchedule, now: float) -> float:
    if schedule.last_run is None:
        return 0.0
    return max(0.0, schedule.last_run + schedule.interval - now)


def is_due(schedule: LabSchedule, *, now: float, experiments: int) -> bool:
    """Due when its interval has passed and enough new experiments give it something to read."""
    if experiments - schedule.experiments_at_last_run < schedule.min_new_experiments:
        return False
    return seconds_until_due(schedule, now) <= 0.0
