"""The scenario benchmark stays runnable: one short flaky-network scenario through the real runner."""

from __future__ import annotations

from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[1] / "benchmarks" / "scenarios"


def test_flaky_network_scenario_gets_a_retry_and_nothing_else(monkeypatch):
    monkeypatch.syspath_prepend(str(SCENARIOS))
    from _harness import load_scenarios, run_scenario
    from run import summarize

    scenarios = {s.name: s for s in load_scenarios()}
    assert {"flaky_network", "deterministic_bug", "impure_slow", "method_on_class"} <= set(scenarios)
    result = run_scenario(scenarios["flaky_network"], executions=14)
    summary = summarize([result])

    made = [(c["fix"], c["target"], c["status"]) for c in result["changes"]]
    assert made == [("add_retry_mechanism", "starcat/catalog.py::fetch_catalog", "applied")]
    assert summary["wrong_changes"] == 0 and summary["unfixed_faults"] == 0
    assert result["tests"]["passed"]
    assert result["code_changed"]
    assert result["before"]["success_rate"] < 0.95 <= result["after"]["success_rate"]
    assert result["archive"]["faults"]["reset"] > 0
