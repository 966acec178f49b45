"""Evidence computed from timings for the detectors: stalls apart from typical calls, breaker cooldowns.

Pure functions on numbers (no window statistics, no configuration), so they are easy to test alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from astroagent.labtech.analysis.analytics import percentile

__all__ = ["duration_profile", "breaker_cooldown", "BREAKER_MAX_COOLDOWN"]

BREAKER_MAX_COOLDOWN = 30.0   # seconds a circuit breaker stays open at most


def duration_profile(samples: Sequence[float], *, min_stall_seconds: float = 1.0,
                     min_gap_ratio: float = 3.0) -> dict[str, Any]:
    """Typical durations of a method apart from its stalls, and the stalls themselves.

    Stalls are a minority of calls at least ``min_stall_seconds`` long, separated from the rest
    by a gap of ``min_gap_ratio`` (a bimodal distribution: a stalled call is slow, not failed).
    Keys: ``typical_p50``, ``typical_p75``, ``typical_max`` (the calls that are not stalls),
    ``stall_seconds`` (the shortest stall) and ``stall_calls`` (0 when there is no stall cluster).
    """
    xs = sorted(float(x) for x in samples if x is not None and x >= 0)
    if not xs:
        return {}
    split, best = len(xs), min_gap_ratio
    for i in range(max(1, (len(xs) + 1) // 2), len(xs)):     # the upper part is at most half of the calls
        if xs[i] < min_stall_seconds:
            continue
        ratio = xs[i] / max(xs[i - 1], 1e-3)
        if ratio >= best:
            split, best = i, ratio
    typical, stalls = xs[:split], xs[split:]
    return {"samples": len(xs), "typical_p50": round(percentile(typical, 50), 4),
            "typical_p75": round(percentile(typical, 75), 4), "typical_max": round(typical[-1], 4),
            "stall_calls": len(stalls), "stall_seconds": round(stalls[0], 4) if stalls else None,
            "max": round(xs[-1], 4)}


def breaker_cooldown(span: Sequence[float | None] | None) -> dict[str, float]:
    """How long a breaker stays open, from ``span`` = [count, first_ts, last_ts] of the longest failure
    run (by count): a quarter of how long it lasted, within [1, 30] s. Calls made after the dependency
    came back still fail until the next probe, so the cooldown bounds what the breaker costs per outage;
    a fixed 30 s cost more than a short outage."""
    if not span or span[1] is None or span[2] is None or span[2] < span[1]:
        return {}
    outage = float(span[2]) - float(span[1])
    return {"outage_seconds": round(outage, 1),
            "breaker_cooldown": round(min(BREAKER_MAX_COOLDOWN, max(1.0, outage / 4)), 1)}
