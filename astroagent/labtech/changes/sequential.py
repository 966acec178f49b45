"""Anytime-valid canary verdicts: canary and baseline executions of the same period, judged at every look.

Method. Executions are paired in completion order (the i-th canary with the i-th baseline). For success
a pair gives x = (1 + y_canary - y_baseline) / 2 in {0, 1/2, 1}, whose mean is (1 + p_canary - p_baseline) / 2;
for the target method's time x = 1 when the canary's time is below the baseline's, 1/2 on a tie, else 0,
whose mean is 1/2 when both versions' times share one distribution. Each stream is tested with the
betting capital of Waudby-Smith & Ramdas (2023, "Estimating means of bounded random variables by
betting", JRSS-B 86(1)), with their diversified-Kelly bets: against a null mean m,
    K_t(m) = (1/D) sum_d prod_i (1 + lambda_d (x_i - m)),  lambda_d = d / ((D + 1) m),  d = 1..D = 10,
and the mirrored bettor against means above m (lambda_d = d / ((D + 1)(1 - m)), betting the other way).
Under its null each bettor's capital is a nonnegative (super)martingale starting at 1, so by Ville's
inequality P(sup_t K_t >= 2/a) <= a/2 — at every sample size, however often it is looked at, stopped
whenever. Inverting the test over m gives a confidence sequence for p_canary - p_baseline; inverting the
time test over a factor r (canary time against r x baseline time) gives one for the median pair ratio
(the quantile confidence sequences of Howard & Ramdas 2022, "Sequential estimation of quantiles").

Guarantees, for pairs that are i.i.d. (random assignment; a drift that hits both versions alike mostly
cancels: with random assignment the i-th canary and the i-th baseline ran about sqrt(i) executions apart):
- reliability: P(keep | success not higher) <= alpha/2 and P(roll back | success not lower) <= alpha/2,
  so a neutral change is decided either way in at most alpha of runs, under continuous monitoring.
- speed: alpha is split in halves between time and success (Bonferroni): P(keep | not faster) <= alpha/4,
  P(roll back | neutral) <= alpha/4 (slower) + alpha/4 (success lower): at most 3/4 alpha in all.
- each reported interval covers its quantity at every look at once with probability >= 1 - its level.

Decisions. reliability fixes (retry, timeout, breaker, LLM bug fixes): keep when success is credibly
higher, roll back when credibly lower. speed changes (cache, slow-method rewrites): keep when credibly
faster and not credibly less successful, roll back when credibly slower or credibly less successful.
A speed-up shows long before a moderate loss of success does (a 5x cache in ~10 pairs, 70% -> 50% in
~100), so ``success_margin`` lets a careful caller also require, before keeping, that success is
credibly not lower by more than the margin (a one-sided test of p_c - p_b <= -margin; it only makes
keeping harder, so the error bounds above still hold).
At ``max_executions`` pairs without a decision: "no_difference", and then
- a reliability fix is kept (action "keep") unless it is credibly slower: the faults it guards may be too
  rare to show in N executions and it did not credibly lower success, but a time cost with no gain
  shown is a reason to remove it (action "roll_back");
- a speed change is rolled back: speed is its only purpose and N executions did not show it, so it
  only adds risk (staleness, memory). Instrumentation, whose purpose is measurement, is best judged
  as kind "reliability" (kept while it harms nothing).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Sample", "Effect", "Counts", "SequentialVerdict", "decide", "TEST_NAME"]

TEST_NAME = ("paired betting confidence sequence (diversified Kelly, Waudby-Smith & Ramdas 2023) "
             "on success differences and on time order")
KINDS = ("reliability", "speed")
_BETS = np.arange(1, 11) / 11.0                 # diversified-Kelly fractions d / (D + 1)
_VALUES = np.array([0.0, 0.5, 1.0])             # what one pair can show
_DELTA_GRID = np.linspace(-1.0, 1.0, 201)[1:-1]   # candidate success differences, step 0.01
_TIME_FLOOR = 1e-9                              # a time below 1 ns counts as 1 ns (coarse clocks give 0)
_E_CAP = 1e300                                  # e-values stay finite in JSON


@dataclass(frozen=True)
class Sample:
    """One version's executions in completion order: success of each and the target method's time in it.

    ``durations`` is empty (nothing timed) or one entry per execution; ``None``/NaN marks an execution
    in which the target method was not timed.
    """

    outcomes: tuple[bool, ...]
    durations: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        outcomes = tuple(self.outcomes)
        for value in outcomes:
            if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
                raise ValueError(f"an outcome must be True/False (or 1/0), got {value!r}")
        durations = tuple(_duration(value) for value in self.durations)
        if durations and len(durations) != len(outcomes):
            raise ValueError(f"{len(durations)} durations for {len(outcomes)} executions: give one per "
                             "execution (None where the method was not timed) or none")
        object.__setattr__(self, "outcomes", tuple(bool(value) for value in outcomes))
        object.__setattr__(self, "durations", durations)

    @property
    def executions(self) -> int:
        return len(self.outcomes)

    @property
    def failures(self) -> int:
        return self.outcomes.count(False)


def _duration(value: Any) -> float:
    if value is None:
        return math.nan
    number = float(value)
    if number < 0 or math.isinf(number):
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {value!r}")
    return number


@dataclass(frozen=True)
class Counts:
    """What one side contributed at the deciding look."""

    executions: int
    failures: int
    timed: int


@dataclass(frozen=True)
class Effect:
    """One compared quantity at the deciding look.

    Success: ``estimate`` is p_canary - p_baseline. Time: the median canary/baseline time ratio over
    pairs. ``low``/``high`` bound it at every look with probability >= 1 - ``level`` (``high`` None:
    unbounded). ``e_better``/``e_worse`` are the e-values against "the canary is not better" (higher
    success, shorter time) and against "not worse"; ``credible`` is "better", "worse" or "none".
    """

    estimate: float
    low: float
    high: float | None
    e_better: float
    e_worse: float
    credible: str
    pairs: int
    level: float


@dataclass(frozen=True)
class SequentialVerdict:
    """The judge's answer after the latest look; frozen, JSON-serialisable through ``to_dict``.

    ``decision`` is keep | roll_back | continue | no_difference; ``action`` what to do now (keep |
    roll_back | wait; at the horizon it follows the fix kind, see the module docstring). ``looks`` is the
    number of pairs at which the decision was reached (later executions do not change it).
    """

    decision: str
    action: str
    kind: str
    reason: str
    effects: tuple[str, ...]
    success: Effect
    time: Effect | None
    canary: Counts
    baseline: Counts
    looks: int
    max_executions: int
    alpha: float
    success_margin: float | None = None
    test: str = TEST_NAME

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["effects"] = list(self.effects)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SequentialVerdict:
        fields = dict(data)
        fields["effects"] = tuple(fields["effects"])
        fields["success"] = Effect(**fields["success"])
        fields["time"] = Effect(**fields["time"]) if fields.get("time") else None
        fields["canary"] = Counts(**fields["canary"])
        fields["baseline"] = Counts(**fields["baseline"])
        return cls(**fields)


def _log_capital(counts: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log capital of the upward and downward bettors against each null mean in ``m``.

    Every observation is 0, 1/2 or 1, so the capital after a stream depends only on how many of each it
    holds: ``counts`` has shape (len(m), 3).
    """
    dev = (_VALUES[None, :] - m[:, None])[..., None]
    up = np.log1p(_BETS * dev / m[:, None, None])
    down = np.log1p(-_BETS * dev / (1.0 - m)[:, None, None])
    weights = counts[..., None]
    return _mean_exp((weights * up).sum(axis=1)), _mean_exp((weights * down).sum(axis=1))


def _mean_exp(log_values: np.ndarray) -> np.ndarray:
    """log of the mean of exp over the bets (last axis): the diversified bettor's capital."""
    top = log_values.max(axis=-1)
    return top + np.log(np.exp(log_values - top[..., None]).mean(axis=-1))


def _path(x: np.ndarray, m: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Log capital against mean ``m`` after each of ``x`` (index 0: no observation yet)."""
    dev = (x - m)[:, None]
    zero = np.zeros(1)
    return (np.concatenate([zero, _mean_exp(np.cumsum(np.log1p(_BETS * dev / m), axis=0))]),
            np.concatenate([zero, _mean_exp(np.cumsum(np.log1p(-_BETS * dev / (1.0 - m)), axis=0))]))


def _value_counts(x: np.ndarray) -> np.ndarray:
    """How many observations are 0, 1/2 and 1."""
    return np.bincount(np.rint(2 * x).astype(int), minlength=3).astype(float)


def _e(log_value: float) -> float:
    return float(min(math.exp(min(log_value, 700.0)), _E_CAP))


def _credible(e_better: float, e_worse: float, level: float) -> str:
    if e_worse >= 2 / level:
        return "worse"
    return "better" if e_better >= 2 / level else "none"


def _hull(accepted: np.ndarray) -> tuple[int, int] | None:
    index = np.flatnonzero(accepted)
    return (int(index[0]), int(index[-1])) if index.size else None


def _success_effect(x: np.ndarray, level: float) -> Effect:
    """Difference of success rates with its confidence sequence (grid hull, ends refined on a finer grid)."""
    estimate = float(2 * x.mean() - 1) if x.size else 0.0
    bar = math.log(2 / level)
    counts = _value_counts(x)

    def accepted(delta: np.ndarray) -> np.ndarray:
        up, down = _log_capital(np.tile(counts, (delta.size, 1)), (delta + 1) / 2)
        return np.maximum(up, down) < bar
    hull = _hull(accepted(_DELTA_GRID))
    if hull is None:                             # every difference refuted: report the point estimate
        low = high = estimate
    else:
        low = _edge(accepted, _DELTA_GRID[hull[0] - 1], _DELTA_GRID[hull[0]]) if hull[0] > 0 else -1.0
        high = _edge(accepted, _DELTA_GRID[hull[1] + 1], _DELTA_GRID[hull[1]]) \
            if hull[1] < _DELTA_GRID.size - 1 else 1.0
    up0, down0 = _path(x)
    e_better, e_worse = _e(up0[-1]), _e(down0[-1])
    return Effect(round(estimate, 6), round(low, 6), round(high, 6), e_better, e_worse,
                  _credible(e_better, e_worse, level), int(x.size), level)


def _edge(accepted: Any, rejected: float, inside: float) -> float:
    """The boundary between a refuted and an accepted difference, to 1/64 of a grid step, erring wide."""
    between = np.linspace(rejected, inside, 65)
    return float(between[np.flatnonzero(accepted(between))[0] - 1])


def _time_order(log_ratio: np.ndarray) -> np.ndarray:
    """1 where the canary's time is below the baseline's, 1/2 on a tie, else 0."""
    return (log_ratio < 0) + 0.5 * (log_ratio == 0)


def _time_effect(log_ratio: np.ndarray, level: float) -> Effect:
    """Median canary/baseline time ratio with its quantile confidence sequence."""
    points = np.unique(log_ratio)
    between = (points[:-1] + points[1:]) / 2
    candidates = np.sort(np.concatenate([points, between, [points[0] - 1, points[-1] + 1]]))
    ordered = np.sort(log_ratio)
    left, right = np.searchsorted(ordered, candidates, "left"), np.searchsorted(ordered, candidates, "right")
    counts = np.stack([ordered.size - right, right - left, left], axis=1).astype(float)   # slower, tie, faster
    log_up, log_down = _log_capital(counts, np.full(candidates.size, 0.5))
    hull = _hull(np.maximum(log_up, log_down) < math.log(2 / level))
    if hull is None:
        low = high = float(np.median(log_ratio))
    else:                                        # close the accepted candidates onto observed ratios
        below = points[points <= candidates[hull[0]]]
        above = points[points >= candidates[hull[1]]]
        low = float(below[-1]) if below.size else -math.inf
        high = float(above[0]) if above.size else math.inf
    up0, down0 = _path(_time_order(log_ratio))
    e_better, e_worse = _e(up0[-1]), _e(down0[-1])
    return Effect(round(float(np.exp(np.median(log_ratio))), 6), round(math.exp(low), 6),
                  round(math.exp(high), 6) if math.isfinite(high) else None, e_better, e_worse,
                  _credible(e_better, e_worse, level), int(log_ratio.size), level)


def _timed_pairs(canary: Sample, baseline: Sample, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Log time ratios of timed pairs within the first ``n`` executions, and how many exist at each look."""
    def timed(sample: Sample) -> np.ndarray:
        return np.array(sample.durations[:n], dtype=float) if sample.durations else np.full(n, np.nan)
    c, b = timed(canary), timed(baseline)
    seen = np.minimum(np.cumsum(~np.isnan(c)), np.cumsum(~np.isnan(b)))
    c, b = c[~np.isnan(c)], b[~np.isnan(b)]
    k = min(c.size, b.size)
    log_ratio = np.log(np.maximum(c[:k], _TIME_FLOOR)) - np.log(np.maximum(b[:k], _TIME_FLOOR))
    return log_ratio, np.concatenate([[0], seen]).astype(int)


def _check(kind: str, alpha: float, max_executions: int, success_margin: float | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if isinstance(max_executions, bool) or not isinstance(max_executions, (int, np.integer)) \
            or max_executions < 1:
        raise ValueError(f"max_executions must be a whole number >= 1, got {max_executions!r}")
    if success_margin is not None and not 0 <= success_margin < 1:
        raise ValueError(f"success_margin must lie in [0, 1), got {success_margin!r}")


def _crossings(x: np.ndarray, log_ratio: np.ndarray, seen: np.ndarray, levels: tuple[float, float],
               success_margin: float | None) -> dict[str, np.ndarray]:
    """Per look (pairs 0..n): whether each one-sided test has crossed its threshold 2/level."""
    s_up, s_down = _path(x)
    t_up, t_down = _path(_time_order(log_ratio))
    s_bar, t_bar = math.log(2 / levels[0]), math.log(2 / levels[1])
    safe = np.ones(x.size + 1, dtype=bool)
    if success_margin is not None:               # "success is not lower by more than the margin"
        safe = _path(x, (1 - success_margin) / 2)[0] >= s_bar
    return {"higher": s_up >= s_bar, "lower": s_down >= s_bar, "faster": t_up[seen] >= t_bar,
            "slower": t_down[seen] >= t_bar, "safe": safe}


def _first_look(kind: str, crossed: dict[str, np.ndarray]) -> tuple[str, int] | None:
    """The first look (pairs) at which the kind's rules decide, and the decision; None if none does yet."""
    if kind == "reliability":
        roll, keep = crossed["lower"], crossed["higher"]
    else:
        roll = crossed["lower"] | crossed["slower"]
        keep = crossed["faster"] & crossed["safe"] & ~roll
    decided = np.flatnonzero(roll | keep)
    if not decided.size:
        return None
    look = int(decided[0])
    return ("roll_back" if roll[look] else "keep"), look


def decide(canary: Sample, baseline: Sample, kind: str = "reliability", alpha: float = 0.05,
           max_executions: int = 200, success_margin: float | None = None) -> SequentialVerdict:
    """Judge a canary against its concurrent baseline; safe to call after every execution.

    The verdict depends only on the first ``looks`` pairs, so calling it again with more executions
    returns the same decision once one is reached. ``success_margin`` (speed changes only): also require,
    before keeping, credible evidence that success is not lower by more than this difference.
    """
    _check(kind, alpha, max_executions, success_margin)
    n = min(canary.executions, baseline.executions, int(max_executions))
    x = (1.0 + np.array(canary.outcomes[:n], dtype=float) - np.array(baseline.outcomes[:n], dtype=float)) / 2
    log_ratio, seen = _timed_pairs(canary, baseline, n)
    levels = (alpha, alpha) if kind == "reliability" else (alpha / 2, alpha / 2)
    first = _first_look(kind, _crossings(x, log_ratio, seen, levels, success_margin))
    if first is not None:
        decision, look = first
    else:
        decision, look = ("no_difference" if n == max_executions else "continue"), n
    success = _success_effect(x[:look], levels[0])
    time = _time_effect(log_ratio[:seen[look]], levels[1]) if seen[look] else None
    effects = _effects(success, time)
    return SequentialVerdict(
        decision=decision, action=_action(decision, kind, time), kind=kind,
        reason=_reason(decision, kind, success, time, effects, look), effects=effects,
        success=success, time=time, canary=_counts(canary, look), baseline=_counts(baseline, look),
        looks=look, max_executions=int(max_executions), alpha=alpha, success_margin=success_margin)


def _counts(sample: Sample, look: int) -> Counts:
    timed = sum(1 for value in sample.durations[:look] if not math.isnan(value))
    return Counts(look, sample.outcomes[:look].count(False), timed)


def _effects(success: Effect, time: Effect | None) -> tuple[str, ...]:
    effects = {"better": ("success higher",), "worse": ("success lower",)}.get(success.credible, ())
    if time is not None:
        effects += {"better": ("faster",), "worse": ("slower",)}.get(time.credible, ())
    return effects


def _action(decision: str, kind: str, time: Effect | None) -> str:
    if decision in ("keep", "roll_back"):
        return decision
    if decision == "continue":
        return "wait"
    if kind == "speed" or (time is not None and time.credible == "worse"):
        return "roll_back"
    return "keep"


def _reason(decision: str, kind: str, success: Effect, time: Effect | None, effects: tuple[str, ...],
            look: int) -> str:
    text = (f"success difference {success.estimate:+.2f} "
            f"({100 * (1 - success.level):g}% CS {success.low:+.2f} to {success.high:+.2f})")
    if time is not None:
        high = "inf" if time.high is None else f"{time.high:.3g}"
        text += f"; time ratio {time.estimate:.3g} ({100 * (1 - time.level):g}% CS {time.low:.3g} to {high})"
    then = _action(decision, kind, time).replace("_", " ")
    verdict = {"keep": "keep", "roll_back": "roll back", "continue": "not decided yet",
               "no_difference": f"no difference at the horizon ({then}, a {kind} change)"}[decision]
    both = "; lifts success but makes executions slower (both effects)" \
        if {"success higher", "slower"} <= set(effects) else ""
    return f"{verdict} after {look} pairs: {text}{both}"
