"""The fix registry: every rule registered, the public front, outcomes as data, and every rule's output
passing the guard and staying put on a second run."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import astroagent.labtech.fixes as fixes
from astroagent.config.models import FIX_TYPES
from astroagent.labtech.fixes import FixOutcome, FixRule, apply_fix, available_rules, get_rule
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.models import Opportunity


def test_public_front():
    assert sorted(fixes.__all__) == sorted(["FixOutcome", "FixRule", "get_rule", "available_rules", "apply_fix"])


def test_every_configured_rule_fix_is_registered():
    assert set(available_rules()) == set(FIX_TYPES) - {"llm_rewrite"}
    for name in available_rules():
        rule = get_rule(name)
        assert isinstance(rule, FixRule) and rule.name == name and rule.description


def test_unknown_fix_is_a_rejection_naming_the_known_rules():
    opp = Opportunity(type="complexity", priority="low", description="d", signature="s", fix="llm_rewrite")
    outcome = apply_fix("def f():\n    pass\n", "f", opp)
    assert outcome.status == "rejected" and "add_caching" in outcome.reason


SOURCE = '''"""A module every rule can work on."""
import urllib.request

from astroagent.telemetry import instrument


class Client:
    """Talks to the archive."""

    @instrument
    def fetch(self, url):
        # a network call without a timeout
        return urllib.request.urlopen(url).read()


def grid(lo: float, hi: float, n: int) -> float:
    return sum(lo + (hi - lo) * i / n for i in range(n))
'''

CASES = [
    ("add_retry_mechanism", "Client.fetch", dict(type="frequent_error", error_types=("ConnectionResetError",))),
    ("add_caching", "grid", dict(type="uncached_repeated_work", evidence={"repeated_args": 0.7})),
    ("add_timeout", "Client.fetch", dict(type="missing_timeout")),
    ("add_circuit_breaker", "Client.fetch", dict(type="dependency_outage", error_types=("TimeoutError",))),
    ("add_instrumentation", "grid", dict(type="missing_instrumentation")),
]


@pytest.mark.parametrize("fix, target, fields", CASES, ids=[c[0] for c in CASES])
def test_each_rule_output_passes_the_guard_is_idempotent_and_picklable(fix, target, fields):
    opp = Opportunity(priority="high", description="d", signature="s", fix=fix, **fields)
    outcome = apply_fix(SOURCE, target, opp)
    assert outcome.status == "applied", outcome.reason
    assert check_change(SOURCE, outcome.new_source, path="x.py", kind=f"rule:{fix}").ok
    assert "# a network call without a timeout" in outcome.new_source
    assert apply_fix(outcome.new_source, target, opp).status == "skipped"
    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_rules_compose_in_sequence():
    source = SOURCE
    for fix, target, fields in CASES:
        opp = Opportunity(priority="high", description="d", signature="s", fix=fix, **fields)
        outcome = apply_fix(source, target, opp)
        assert outcome.status == "applied", (fix, outcome.reason)
        assert check_change(source, outcome.new_source, kind=f"rule:{fix}").ok, fix   # each step, as improve guards it
        source = outcome.new_source
    compile(source, "composed.py", "exec")
    fetch = source[source.index("class Client"):source.index("def fetch")]
    assert fetch.index("@_AstroagentCircuitBreaker(") < fetch.index("@tenacity.retry(") < fetch.index("@instrument")
    grid = source[source.index("def fetch"):source.index("def grid")]
    assert grid.index("@instrument") < grid.index("@functools.lru_cache(")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.sampled_from([c[0] for c in CASES]))
def test_apply_fix_never_raises_on_any_text(text, fix):
    opp = Opportunity(type="frequent_error", priority="high", description="d", signature="s", fix=fix,
                      error_types=("ConnectionError",), evidence={"repeated_args": 0.5})
    outcome = apply_fix(text, "f", opp)
    assert isinstance(outcome, FixOutcome) and outcome.status in ("applied", "skipped", "rejected")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400), st.text(max_size=400))
def test_guard_never_raises_on_any_text(old, new):
    report = check_change(old, new)
    assert report.ok is (not report.violations)
