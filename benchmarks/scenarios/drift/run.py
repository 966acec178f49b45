"""The drift scenario: the archive's fault rate moves at the moment a change lands; two judges decide.

    python benchmarks/scenarios/drift/run.py [--quick] [--only A|B] [--seed N] [--real-waits]
                                             [--json] [--output FILE] [--keep]

Case A: resets rise (10 % -> 80 %) as a good retry lands; case B: they fall (60 % -> 10 %) as a
useless @instrument lands. Each case runs once against the real loopback archive with a fixed seed:
the old code alone, then the change (the real fix rule's output) with executions assigned at random
to the old code (baseline) or the new (canary). Today's before/after judge and the concurrent
canary judge decide on the same outcome records; the table says which one was right.
``--quick`` runs fewer executions with a 40-pair verdict horizon (the smoke test's mode).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _drift import load_cases, run_case  # noqa: E402

__all__ = ["main", "run"]


def run(*, quick: bool = False, only: list[str] | None = None, seed: int | None = None,
        real_waits: bool = False, keep: bool = False) -> list[dict[str, Any]]:
    """Every case (or those named in ``only``), one after another: the archive's faults are drawn
    in request order, so the cases must not share the machine's archive traffic to stay seeded."""
    cases = [c for c in load_cases(quick=quick, seed=seed) if not only or c.name in only]
    return [run_case(c, real_waits=real_waits, keep=keep) for c in cases]


def _rate(side: dict[str, Any] | None) -> str:
    if not side:
        return "-"
    ok = side["executions"] - side["failed"]
    return f"{ok}/{side['executions']} ({ok / side['executions']:.0%})" if side["executions"] else "0/0"


def _old(r: dict[str, Any]) -> str:
    v = r["before_after"]
    p = (v.get("success") or {})
    stat = f"\nFisher p_worse={p['p_worse']:.2g}, p_better={p['p_better']:.2g}" if p else ""
    return (f"{v['verdict']} ({v['claim']})\nbefore {_rate(v['before'])} → after {_rate(v['after'])}{stat}")


def _canary(r: dict[str, Any]) -> str:
    v = r["concurrent"]
    s = v["success"]
    text = f"{v['verdict']}: {v['decision']} → {v['action']} ({v['claim']})\n"
    text += f"canary {_rate(v['canary'])} vs baseline {_rate(v['baseline'])}\n"
    text += (f"after {v['pairs']} of {v['horizon']} pairs: Δsuccess {s['estimate']:+.2f} "
             f"(CS {s['low']:+.2f} to {s['high']:+.2f}), e_better={s['e_better']:.3g}, e_worse={s['e_worse']:.3g}")
    if v["effects"]:
        text += f"\neffects: {', '.join(v['effects'])}"
    return text


def print_table(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="drift scenario: today's before/after judge vs the concurrent canary", show_lines=True)
    for column in ("case", "change", "resets", "truth", "before/after judge", "right", "concurrent canary", "right"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(
            f"{r['name']}: {r['title']}", r["change"]["fix"],
            f"{r['reset_rate']['before']:.0%} → {r['reset_rate']['after']:.0%}", r["truth"], _old(r),
            "yes" if r["before_after"]["right"] else "NO", _canary(r), "yes" if r["concurrent"]["right"] else "NO")
    console = Console(width=170)
    console.print(table)
    for r in results:
        one, two = r["phase1"], r["phase2"]
        console.print(f"{r['name']}: phase 1 old code {one['succeeded']}/{one['executions']}; phase 2 baseline "
                      f"{two['baseline']['succeeded']}/{two['baseline']['executions']}, canary "
                      f"{two['canary']['succeeded']}/{two['canary']['executions']}; archive "
                      f"{r['archive']['requests']} requests, {r['archive']['faults']['reset']} resets; {r['seconds']} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer executions, a 40-pair horizon (smoke test)")
    parser.add_argument("--only", action="append", choices=("A", "B"), help="run only this case (repeatable)")
    parser.add_argument("--seed", type=int, help="the archive's and the assignment's seed (default: cases.yaml)")
    parser.add_argument("--real-waits", action="store_true", help="let retry backoff really sleep")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--output", type=Path, metavar="FILE", help="also write the full JSON result to FILE")
    parser.add_argument("--keep", action="store_true", help="keep each temporary folder (path in the JSON)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        results = run(quick=args.quick, only=args.only, seed=args.seed, real_waits=args.real_waits, keep=args.keep)
    except RuntimeError as exc:  # a worker that died, a fix rule that refused: one line, not a traceback
        print(f"drift: {exc}", file=sys.stderr)
        return 1
    payload = json.dumps({"seconds": round(time.perf_counter() - start, 1), "cases": results}, indent=2, default=str)
    if args.output:
        args.output.write_text(payload + "\n", encoding="utf-8")
    if args.json:
        print(payload)
    else:
        print_table(results)
        print(f"{len(results)} cases in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
