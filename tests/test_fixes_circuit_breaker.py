"""add_circuit_breaker: fail fast after a failure streak, recover after the cool-down, stay a ConnectionError."""

from __future__ import annotations

import threading

import pytest

from _modload import load_module
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.models import Opportunity


def _opp(*error_types: str, type: str = "dependency_outage", **evidence) -> Opportunity:
    return Opportunity(type=type, priority="high", description="archive down", signature="sig",
                       fix="add_circuit_breaker", error_types=error_types, evidence=evidence)



SRC = '''"""Archive access."""
from astroagent.telemetry import instrument

CALLS = []
DOWN = [True]


@instrument
def fetch(name):
    # the dependency
    CALLS.append(name)
    if DOWN[0]:
        raise ConnectionRefusedError("archive down")
    return name.upper()
'''


def test_breaker_goes_above_instrument_and_passes_the_guard():
    outcome = apply_fix(SRC, "fetch", _opp("ConnectionRefusedError"))
    assert outcome.status == "applied", outcome.reason
    new = outcome.new_source
    assert '@_AstroagentCircuitBreaker("fetch", threshold=5, cooldown=30, failures=(ConnectionError,))\n' \
           '@instrument\ndef fetch(name):\n    # the dependency' in new
    assert "class _AstroagentCircuitOpen(ConnectionError):" in new
    assert check_change(SRC, new, kind="rule:add_circuit_breaker").ok
    assert apply_fix(new, "fetch", _opp("ConnectionRefusedError")).status == "skipped"


def test_breaker_sits_above_an_existing_retry():
    retried = apply_fix(SRC, "fetch", Opportunity(
        type="frequent_error", priority="high", description="d", signature="s", fix="add_retry_mechanism",
        error_types=("ConnectionRefusedError",))).new_source
    new = apply_fix(retried, "fetch", _opp("ConnectionRefusedError")).new_source
    assert new.index("@_AstroagentCircuitBreaker(") < new.index("@tenacity.retry(") < new.index("@instrument")


def test_deterministic_failures_are_refused():
    assert apply_fix(SRC, "fetch", _opp("ZeroDivisionError", type="deterministic_failure")).status == "rejected"
    assert apply_fix(SRC, "fetch", _opp("KeyError")).status == "rejected"


def test_generated_breaker_fails_fast_then_recovers(tmp_path):
    new = apply_fix(SRC, "fetch", _opp("ConnectionRefusedError", breaker_threshold=3, breaker_cooldown=10)).new_source
    module = load_module(tmp_path, "breaker_mod", new)
    now = [100.0]
    module.fetch.circuit_breaker.clock = lambda: now[0]
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            module.fetch("a")
    with pytest.raises(ConnectionError, match="circuit open after 3 consecutive failures"):
        module.fetch("a")
    assert len(module.CALLS) == 3              # the open circuit did not call the dependency
    module.DOWN[0] = False
    now[0] += 11                               # after the cool-down one call goes through
    assert module.fetch("b") == "B"
    assert module.fetch("c") == "C" and len(module.CALLS) == 5


def test_other_errors_do_not_open_the_circuit(tmp_path):
    src = SRC.replace('raise ConnectionRefusedError("archive down")', 'raise ValueError("bad name")')
    module = load_module(tmp_path, "breaker_value_mod",
                   apply_fix(src, "fetch", _opp("ConnectionRefusedError", breaker_threshold=2)).new_source)
    for _ in range(5):
        with pytest.raises(ValueError):
            module.fetch("x")
    assert len(module.CALLS) == 5


def test_generated_breaker_is_thread_safe(tmp_path):
    module = load_module(tmp_path, "breaker_threads_mod",
                   apply_fix(SRC, "fetch", _opp("ConnectionRefusedError", breaker_threshold=1000)).new_source)

    def hammer():
        for _ in range(200):
            try:
                module.fetch("x")
            except ConnectionError:
                pass

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert module.fetch.circuit_breaker.streak == 800


def test_a_breaker_for_requests_counts_requests_own_errors():
    """requests' ConnectionError is not the builtin one: a breaker on the builtin alone would never open."""
    src = "import requests\n\n\ndef fetch(url):\n    return requests.get(url, timeout=5).text\n"
    new = apply_fix(src, "fetch", _opp("requests.exceptions.ConnectionError")).new_source
    assert "failures=(ConnectionError, requests.exceptions.ConnectionError))\ndef fetch" in new
    from astroagent.labtech.fixes.retry import AddRetryMechanism
    httpx_only = Opportunity(type="frequent_error", priority="high", description="d", signature="s",
                             fix="add_retry_mechanism", error_types=("httpx.ConnectError",))
    assert AddRetryMechanism().applicable(httpx_only) is None     # was refused as "not transient"
