"""The scenario benchmark: small faulty programs, each improved by ``astroagent labtech improve``.

    python benchmarks/scenarios/run.py [--only NAME ...] [--jobs N] [--json] [--output FILE] [--keep]

For each scenario (a folder with ``scenario.yaml``): copy it to a temporary workspace, run its
workload against the loopback archive with the scenario's faults (before), run ``labtech improve
--engine rules --json`` as a subprocess, run the workload on the new code (after), run the
Lab Technician again so the ledger judges the change, run the scenario's tests, and compare what
changed with what the scenario says is right. Prints a table and two counts: changes made that
should not have been (goal: none) and fixable faults left unfixed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Scenario, load_scenarios, run_scenario  # noqa: E402

__all__ = ["main", "summarize"]


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The two headline counts (and their items) over all scenario results."""
    wrong = [f"{r['name']}: {w}" for r in results for w in r.get("wrong_changes", [])]
    unfixed = [f"{r['name']}: {u}" for r in results for u in r.get("unfixed", [])]
    return {"scenarios": len(results), "wrong_changes": len(wrong), "wrong_change_items": wrong,
            "unfixed_faults": len(unfixed), "unfixed_fault_items": unfixed,
            "fixable_faults": sum(len(r.get("expected", [])) for r in results),
            "tests_failing": [r["name"] for r in results if not r.get("tests", {}).get("passed")],
            "errors": [f"{r['name']}: {r['error']}" for r in results if r.get("error")]}


def _changed(r: dict[str, Any]) -> str:
    made = [c for c in r.get("changes", []) if c["status"] in ("applied", "rolled_back")]
    if not made:
        return "none"
    return "\n".join(f"{c['fix']} on {c['target'].split('::', 1)[1]} ({c['status']})" for c in made)


def _expected(r: dict[str, Any]) -> str:
    return "\n".join(f"{e['fix']} on {e['target'].split('::', 1)[1]}" for e in r["expected"]) or "no change"


def _verdicts(r: dict[str, Any]) -> str:
    made = [c for c in r.get("changes", []) if c["status"] in ("applied", "rolled_back")]
    return "\n".join(c.get("verdict") or "-" for c in made) or "-"


def _outcome(r: dict[str, Any]) -> str:
    if r.get("error"):
        return "ERROR"
    bad = len(r["wrong_changes"]) + len(r["unfixed"]) + (0 if r["tests"]["passed"] else 1)
    return "right" if not bad else "WRONG" if r["wrong_changes"] else "missed" if r["unfixed"] else "tests fail"


def print_table(results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="astroagent scenario benchmark (labtech improve --engine rules)", show_lines=True)
    for column in ("scenario", "expected", "changed (status)", "verdict", "success before → after",
                   "s/execution before → after", "tests", "outcome"):
        table.add_column(column, overflow="fold")
    for r in results:
        if r.get("error"):
            table.add_row(r["name"], _expected(r), "-", "-", "-", "-", "-", f"ERROR: {r['error'][:200]}")
            continue
        b, a = r["before"], r["after"]
        table.add_row(
            r["name"], _expected(r), _changed(r), _verdicts(r),
            f"{b['success_rate']:.0%} → {a['success_rate']:.0%}",
            f"{b['mean_seconds']:.3f} → {a['mean_seconds']:.3f}",
            "pass" if r["tests"]["passed"] else "FAIL", _outcome(r))
    console = Console(width=170)
    console.print(table)
    console.print(f"changes made that should not have been: {summary['wrong_changes']} (goal: 0)"
                  + "".join(f"\n  - {w}" for w in summary["wrong_change_items"]))
    console.print(f"fixable faults left unfixed: {summary['unfixed_faults']} of {summary['fixable_faults']}"
                  + "".join(f"\n  - {u}" for u in summary["unfixed_fault_items"]))
    if summary["tests_failing"]:
        console.print(f"scenario tests failing after the run: {', '.join(summary['tests_failing'])}")
    for error in summary["errors"]:
        console.print(f"error: {error}")


def _safe_run(sc: Scenario, keep: bool) -> dict[str, Any]:
    try:
        return run_scenario(sc, keep=keep)
    except Exception as exc:  # one broken scenario must not hide the others' results
        return {"name": sc.name, "title": sc.title, "expected": [{"fix": f, "target": t} for f, t in sc.expected],
                "error": f"{type(exc).__name__}: {exc}", "wrong_changes": [], "unfixed": [],
                "tests": {"passed": False}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this scenario (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="scenarios run at once (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--output", type=Path, metavar="FILE", help="also write the full JSON result to FILE")
    parser.add_argument("--keep", action="store_true", help="keep each temporary workspace (path in the JSON)")
    args = parser.parse_args(argv)
    scenarios = load_scenarios()
    if args.only:
        unknown = sorted(set(args.only) - {s.name for s in scenarios})
        if unknown:
            print(f"unknown scenario {unknown[0]!r}; known: {', '.join(s.name for s in scenarios)}", file=sys.stderr)
            return 2
        scenarios = [s for s in scenarios if s.name in args.only]
    # the slowest (clocked) scenarios first, so the others run alongside them
    ordered = sorted(scenarios, key=lambda s: -(s.before + s.after) * (s.period + 0.05) * s.cycles)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = dict(zip([s.name for s in ordered], pool.map(lambda s: _safe_run(s, args.keep), ordered)))
    results = [done[s.name] for s in scenarios]
    summary = summarize(results)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    payload = json.dumps({"summary": summary, "scenarios": results}, indent=2, default=str)
    if args.output:
        args.output.write_text(payload + "\n", encoding="utf-8")
    if args.json:
        print(payload)
    else:
        print_table(results, summary)
        print(f"{len(results)} scenarios in {summary['seconds']:.0f} s")
    return 0 if not summary["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
