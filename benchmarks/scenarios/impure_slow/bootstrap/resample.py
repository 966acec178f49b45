"""The bootstrap: resample the measurements with replacement, many times, and look at the spread."""

import random
import statistics

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def period_uncertainty(periods: tuple[float, ...], draws: int = 4000) -> float:
    """Bootstrap standard error of the mean period (fresh random resamples on every call)."""
    rng = random.Random()
    means = []
    for _ in range(draws):
        sample = [rng.choice(periods) for _ in periods]
        means.append(sum(sample) / len(sample))
    return statistics.pstdev(means)
