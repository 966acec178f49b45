"""The canary's sequential verdict against today's judge, both peeking after every execution, on simulated runs.

Each run interleaves canary and baseline executions at random (canary fraction 1/2) until both have
``--horizon`` executions. ``decide`` sees every look (its verdict depends on the first decided look only,
so one call on the whole run equals calling it after every execution); today's ``judge`` is called after
every execution on the executions so far and stops at its first non-pending verdict. Target method
times are log-normal (median 1 s, sigma 0.5), scaled by the scenario's factor on the canary.

    python benchmarks/bench_sequential.py [--runs 1000] [--horizon 200] [--seed 13] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from statistics import median

import numpy as np

from astroagent.config.models import VerdictConfig
from astroagent.labtech.changes.sequential import Sample, decide
from astroagent.labtech.changes.verdicts import judge
from astroagent.labtech.models import Analysis, VersionStats

_SIGNIFICANT = ("better", "worse", "faster", "slower")     # the judge's reasons backed by a test


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str            # reliability | speed
    p_canary: float
    p_baseline: float
    time_factor: float   # canary time / baseline time
    expect: str          # keep | roll_back | none
    fix: str
    type: str
    success_margin: float | None = None


SCENARIOS = (
    Scenario("a neutral, judged as a retry", "reliability", 0.7, 0.7, 1.0, "none",
             "add_retry_mechanism", "transient_error"),
    Scenario("a neutral, judged as a cache", "speed", 0.7, 0.7, 1.0, "none", "add_caching", "slow_method"),
    Scenario("b retry: 70% -> 100%, its waits 2x slower", "reliability", 1.0, 0.7, 2.0, "keep",
             "add_retry_mechanism", "transient_error"),
    Scenario("c cache: 5x faster", "speed", 0.7, 0.7, 0.2, "keep", "add_caching", "slow_method"),
    Scenario("d harmful fix: 70% -> 50%", "reliability", 0.5, 0.7, 1.0, "roll_back",
             "add_retry_mechanism", "transient_error"),
    Scenario("d harmful rewrite: 2x slower", "speed", 0.7, 0.7, 2.0, "roll_back", "add_caching", "slow_method"),
    Scenario("d cache 5x faster, 70% -> 50%", "speed", 0.5, 0.7, 0.2, "roll_back", "add_caching", "slow_method"),
    Scenario("c cache: 5x faster, success_margin 0.2", "speed", 0.7, 0.7, 0.2, "keep", "add_caching",
             "slow_method", 0.2),
    Scenario("d cache 5x faster, 70% -> 50%, success_margin 0.2", "speed", 0.5, 0.7, 0.2, "roll_back",
             "add_caching", "slow_method", 0.2),
)


@dataclass(frozen=True)
class Run:
    canary: Sample
    baseline: Sample
    labels: np.ndarray   # True: the execution at that position was a canary one


def simulate(rng: np.random.Generator, scenario: Scenario, horizon: int) -> Run:
    """One run's streams; the interleaving ends when both sides have ``horizon`` executions."""
    labels = rng.random(4 * horizon + 200) < 0.5
    canaries = np.cumsum(labels)
    end = int(np.flatnonzero(np.minimum(canaries, np.arange(1, labels.size + 1) - canaries) >= horizon)[0]) + 1

    def side(p: float, factor: float) -> Sample:
        return Sample(tuple(rng.random(horizon) < p), tuple(rng.lognormal(0.0, 0.5, horizon) * factor))
    return Run(side(scenario.p_canary, scenario.time_factor), side(scenario.p_baseline, 1.0), labels[:end])


def canary_count_at(labels: np.ndarray, pairs: int) -> int:
    """Canary executions done when the ``pairs``-th pair completed (both sides reached ``pairs``)."""
    canaries = np.cumsum(labels)
    both = np.minimum(canaries, np.arange(1, labels.size + 1) - canaries)
    return int(canaries[int(np.flatnonzero(both >= pairs)[0])])


def _stats(version: str, sample: Sample, n: int) -> VersionStats:
    return VersionStats.model_construct(code_version=version, executions=n,
                                        failed=sample.outcomes[:n].count(False),
                                        method_durations={"target": sample.durations[:n]}, method_errors={})


def todays_judge(run: Run, scenario: Scenario, config: VerdictConfig) -> tuple[str, str, int]:
    """Call ``judge`` after every execution; its first non-pending verdict, reason and canary count."""
    change = {"method": "target", "fix": scenario.fix, "type": scenario.type,
              "code_version_before": "baseline", "code_versions_after": ["canary"]}
    canaries = 0
    for position, is_canary in enumerate(run.labels, start=1):
        canaries += int(is_canary)
        analysis = Analysis.model_construct(per_version={
            "canary": _stats("canary", run.canary, canaries),
            "baseline": _stats("baseline", run.baseline, position - canaries)})
        verdict = judge(change, analysis, config)
        if verdict.verdict != "pending":
            return verdict.verdict, verdict.reason, canaries
    return "pending", "", canaries


def one_scenario(args: tuple[Scenario, int, int, int, float]) -> dict:
    """Every run of one scenario, seeded by its position so the table is reproducible."""
    scenario, runs, horizon, seed, alpha = args
    rng = np.random.default_rng(seed)
    config = VerdictConfig(alpha=alpha)
    seq = {"keep": 0, "roll_back": 0, "no_difference": 0, "both": 0, "action_keep": 0}
    seq_n: list[int] = []
    old = {"kept": 0, "rolled_back": 0, "not_worse": 0}
    old_n: list[int] = []
    for _ in range(runs):
        run = simulate(rng, scenario, horizon)
        verdict = decide(run.canary, run.baseline, scenario.kind, alpha, horizon, scenario.success_margin)
        seq[verdict.decision] += 1
        seq["action_keep"] += verdict.action == "keep"
        seq["both"] += {"success higher", "slower"} <= set(verdict.effects)
        if verdict.decision in ("keep", "roll_back") and verdict.decision == scenario.expect:
            seq_n.append(canary_count_at(run.labels, verdict.looks))
        outcome, reason, canaries = todays_judge(run, scenario, config)
        if outcome != "pending" and not reason.startswith(_SIGNIFICANT):
            old["not_worse"] += 1
        elif outcome in old:
            old[outcome] += 1
        if {"kept": "keep", "rolled_back": "roll_back"}.get(outcome) == scenario.expect \
                and reason.startswith(_SIGNIFICANT):
            old_n.append(canaries)
    return {"scenario": scenario, "runs": runs, "seq": seq, "seq_n": seq_n, "old": old, "old_n": old_n}


def _pct(count: int, runs: int) -> str:
    return f"{100 * count / runs:.1f} %"


def _med(values: list[int]) -> str:
    return f"{median(values):g}" if values else "–"


def table(results: list[dict]) -> str:
    head = ("| scenario | kind | expected | sequential keep / roll back / no difference | median canary "
            "executions to the right decision | final action keep (incl. horizon) | both effects reported | "
            "today's judge kept / rolled back on a test | today's judge kept as 'not worse' | "
            "its median canary executions |")
    lines = [head, "|" + "---|" * 10]
    for r in results:
        s, n, seq, old = r["scenario"], r["runs"], r["seq"], r["old"]
        lines.append(f"| {s.name} | {s.kind} | {s.expect} | {_pct(seq['keep'], n)} / {_pct(seq['roll_back'], n)} / "
                     f"{_pct(seq['no_difference'], n)} | {_med(r['seq_n'])} | {_pct(seq['action_keep'], n)} | "
                     f"{_pct(seq['both'], n)} | "
                     f"{_pct(old['kept'], n)} / {_pct(old['rolled_back'], n)} | {_pct(old['not_worse'], n)} | "
                     f"{_med(r['old_n'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=200, help="max executions per side")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    work = [(s, args.runs, args.horizon, args.seed + i, args.alpha) for i, s in enumerate(SCENARIOS)]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one_scenario, work))
    print(table(results))
    for r in results:
        if r["scenario"].expect == "none":
            wrong = r["seq"]["keep"] + r["seq"]["roll_back"]
            old_wrong = r["old"]["kept"] + r["old"]["rolled_back"]
            print(f"{r['scenario'].name}: sequential decided wrongly in {_pct(wrong, r['runs'])} of runs, "
                  f"today's judge (a significant test) in {_pct(old_wrong, r['runs'])}")
    print(f"{args.runs} runs per scenario, horizon {args.horizon} per side, alpha {args.alpha}, seed {args.seed}, "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
