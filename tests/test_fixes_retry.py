"""add_retry_mechanism: before/after pairs, refusals, idempotency, and the generated code run for real."""

from __future__ import annotations

import asyncio
import http.server
import threading
import urllib.request
from pathlib import Path

import pytest

from _modload import load_module
from astroagent.labtech.fixes import apply_fix, available_rules, get_rule
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.models import Opportunity


def _opp(*error_types: str, type: str = "frequent_error", **evidence) -> Opportunity:
    return Opportunity(type=type, priority="high", description="flaky archive", signature="sig",
                       fix="add_retry_mechanism", error_types=error_types, evidence=evidence)



def _keeps_lines(old: str, new: str) -> bool:
    """Every original line is still there, in order (formatting and comments kept)."""
    remaining = iter(new.splitlines())
    return all(any(line == candidate for candidate in remaining) for line in old.splitlines())


PLAIN = '''import urllib.request


def fetch(url):
    return urllib.request.urlopen(url).read()
'''

PLAIN_AFTER = '''import urllib.request
import tenacity


@tenacity.retry(
    retry=tenacity.retry_if_exception_type((ConnectionError, TimeoutError)),
    stop=tenacity.stop_after_attempt(5) | tenacity.stop_after_delay(30),
    wait=tenacity.wait_exponential(multiplier=0.1, max=2) + tenacity.wait_random(0, 0.2),
    reraise=True,
)
def fetch(url):
    return urllib.request.urlopen(url).read()
'''


def test_registry_lists_the_rules_and_names_them_on_a_miss():
    assert {"add_retry_mechanism", "add_caching"} <= set(available_rules())
    with pytest.raises(KeyError, match="add_retry_mechanism"):
        get_rule("add_magic")


def test_before_after_pair_for_a_plain_function():
    outcome = apply_fix(PLAIN, "fetch", _opp("ConnectionResetError", "socket.timeout"))
    assert outcome.status == "applied", outcome.reason
    assert outcome.new_source == PLAIN_AFTER
    assert "at most 5 attempts" in outcome.reason


METHOD = '''"""Archive client."""
from astroagent.telemetry import instrument


class Archive:
    # talks to the archive
    @instrument
    def fetch(self,  name ,timeout=5):   # odd   spacing stays
        # why: the archive is slow
        return name  # trailing comment

    def other(self): return 1
'''


def test_method_gets_retry_above_instrument_with_formatting_and_comments_kept():
    outcome = apply_fix(METHOD, "Archive.fetch", _opp("RemoteDisconnected", "HTTPError"))
    assert outcome.status == "applied", outcome.reason
    new = outcome.new_source
    assert _keeps_lines(METHOD, new)
    assert new.index("@tenacity.retry(") < new.index("    @instrument")
    assert "tenacity.retry_if_exception(_astroagent_retryable_http_error)" in new
    assert "import urllib.error" in new and "def _astroagent_retryable_http_error" in new
    # the predicate is defined before any class that uses it at import time
    assert new.index("def _astroagent_retryable_http_error") < new.index("class Archive")
    assert check_change(METHOD, new, kind="rule:add_retry_mechanism").ok


def test_second_run_changes_nothing_and_a_second_target_reuses_the_predicate():
    first = apply_fix(METHOD, "Archive.fetch", _opp("HTTPError"))
    again = apply_fix(first.new_source, "Archive.fetch", _opp("HTTPError"))
    assert again.status == "skipped" and again.new_source is None and "already retries" in again.reason
    other = apply_fix(first.new_source, "Archive.other", _opp("HTTPError"))
    assert other.status == "applied"
    assert other.new_source.count("def _astroagent_retryable_http_error") == 1


def test_nested_function_is_found_by_qualname():
    src = "def outer():\n    def inner():\n        return 1\n    return inner()\n"
    for name in ("outer.inner", "outer.<locals>.inner", "experimenter/x.py::outer.inner"):
        outcome = apply_fix(src, name, _opp("ConnectionError"))
        assert outcome.status == "applied"
        assert "    @tenacity.retry(" in outcome.new_source


@pytest.mark.parametrize("decorator", ["@tenacity.retry(stop=tenacity.stop_after_attempt(2))",
                                       "@retry", "@backoff.on_exception(backoff.expo, OSError)"])
def test_already_retrying_is_skipped(decorator):
    src = f"import tenacity, backoff\nfrom tenacity import retry\n\n{decorator}\ndef fetch():\n    pass\n"
    outcome = apply_fix(src, "fetch", _opp("ConnectionResetError"))
    assert outcome.status == "skipped" and outcome.new_source is None


@pytest.mark.parametrize("opportunity, why", [
    (_opp("ZeroDivisionError", type="deterministic_failure"), "deterministic"),
    (_opp("ZeroDivisionError"), "deterministic"),
    (_opp("KeyError", "TypeError"), "deterministic"),
    (_opp(), "no observed exception types"),
    (_opp("SomethingOdd"), "no transient"),
])
def test_deterministic_or_unknown_failures_are_rejected(opportunity, why):
    outcome = apply_fix(PLAIN, "fetch", opportunity)
    assert outcome.status == "rejected" and why in outcome.reason and outcome.new_source is None


def test_mixed_types_retry_only_the_transient_ones_and_say_so():
    outcome = apply_fix(PLAIN, "fetch", _opp("ConnectionResetError", "ValueError"))
    assert outcome.status == "applied"
    assert "ValueError" not in outcome.new_source
    assert any("ValueError" in w for w in outcome.warnings)


def test_generators_missing_targets_and_broken_sources_are_rejected():
    gen = "def rows():\n    yield 1\n"
    assert apply_fix(gen, "rows", _opp("ConnectionError")).status == "rejected"
    assert "not found" in apply_fix(PLAIN, "nope", _opp("ConnectionError")).reason
    assert "does not parse" in apply_fix("def (:", "fetch", _opp("ConnectionError")).reason


def test_outcome_is_frozen_and_picklable():
    import pickle
    outcome = apply_fix(PLAIN, "fetch", _opp("ConnectionError"))
    assert pickle.loads(pickle.dumps(outcome)) == outcome
    with pytest.raises(Exception):
        outcome.status = "skipped"  # type: ignore[misc]


FLAKY = '''CALLS = []


def fetch(n):
    CALLS.append(n)
    if len(CALLS) < 3:
        raise ConnectionResetError("reset by peer")
    return n * 2


def broken(n):
    CALLS.append(n)
    raise ValueError("bad input")
'''


def test_generated_retry_really_recovers_a_flaky_function(tmp_path):
    outcome = apply_fix(FLAKY, "fetch", _opp("ConnectionResetError", "ValueError"))
    module = load_module(tmp_path, "flaky_retry_mod", outcome.new_source)
    waits: list[float] = []
    module.fetch.retry.sleep = waits.append          # tenacity's injectable sleep: no wall-clock waits
    assert module.fetch(21) == 42
    assert len(module.CALLS) == 3 and len(waits) == 2
    assert all(0 < w <= 2.2 for w in waits)


def test_generated_retry_gives_up_after_the_bound_and_reraises_the_real_error(tmp_path):
    src = "CALLS = []\n\ndef fetch():\n    CALLS.append(1)\n    raise TimeoutError('stalled')\n"
    module = load_module(tmp_path, "always_timeout_mod", apply_fix(src, "fetch", _opp("TimeoutError")).new_source)
    module.fetch.retry.sleep = lambda _: None
    with pytest.raises(TimeoutError, match="stalled"):
        module.fetch()
    assert len(module.CALLS) == 5


def test_generated_retry_leaves_other_errors_alone(tmp_path):
    src = "CALLS = []\n\ndef fetch():\n    CALLS.append(1)\n    raise ValueError('bad')\n"
    module = load_module(tmp_path, "value_error_mod", apply_fix(src, "fetch", _opp("ConnectionError")).new_source)
    with pytest.raises(ValueError):
        module.fetch()
    assert len(module.CALLS) == 1


def test_generated_retry_works_on_async_functions(tmp_path):
    src = ("CALLS = []\n\nasync def fetch():\n    CALLS.append(1)\n"
           "    if len(CALLS) < 2:\n        raise ConnectionRefusedError('down')\n    return 'ok'\n")
    module = load_module(tmp_path, "async_retry_mod", apply_fix(src, "fetch", _opp("ConnectionRefusedError")).new_source)

    async def no_sleep(_):
        return None

    module.fetch.retry.sleep = no_sleep
    assert asyncio.run(module.fetch()) == "ok" and len(module.CALLS) == 2


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    statuses: list[int] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        status = self.statuses.pop(0) if self.statuses else 200
        body = b"payload" if status == 200 else b"nope"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


HTTP_SRC = '''import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()
'''


def test_http_5xx_is_retried_against_a_real_loopback_server(flaky_server, tmp_path):
    _FlakyHandler.statuses = [503, 502]
    outcome = apply_fix(HTTP_SRC, "get", _opp("HTTPError"))
    module = load_module(tmp_path, "http_retry_mod", outcome.new_source)
    module.get.retry.sleep = lambda _: None
    url = f"http://127.0.0.1:{flaky_server.server_address[1]}/x"
    assert module.get(url) == b"payload"
    assert _FlakyHandler.statuses == []


def test_http_404_is_an_answer_not_a_flake(flaky_server, tmp_path):
    _FlakyHandler.statuses = [404, 200]
    module = load_module(tmp_path, "http_404_mod", apply_fix(HTTP_SRC, "get", _opp("HTTPError")).new_source)
    module.get.retry.sleep = lambda _: None
    url = f"http://127.0.0.1:{flaky_server.server_address[1]}/x"
    with pytest.raises(urllib.request.HTTPError) as info:
        module.get(url)
    assert info.value.code == 404 and _FlakyHandler.statuses == [200]


class _ResettingHandler(http.server.BaseHTTPRequestHandler):
    """Resets about a third of connections (seeded), the way the flaky archive does."""

    rng = __import__("random").Random(7)
    rate = 1 / 3

    def do_GET(self):  # noqa: N802
        if self.rng.random() < self.rate:
            import socket as _socket
            import struct
            self.connection.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()          # RST: the client sees a reset / remote disconnect
            self.close_connection = True
            return
        body = b"dataset"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass


TEMPLATE_FETCH = '''import urllib.request


def fetch_dataset(base_url, dataset_id):
    url = base_url.rstrip("/") + "/datasets/" + dataset_id
    response = urllib.request.urlopen(url, timeout=5)
    data = response.read()
    response.close()
    return data
'''


def test_real_connection_resets_success_rate_before_and_after(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ResettingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        before = load_module(tmp_path, "reset_before_mod", TEMPLATE_FETCH)
        observed: set[str] = set()
        ok_before = 0
        for i in range(60):
            try:
                before.fetch_dataset(base, f"d{i}")
                ok_before += 1
            except Exception as exc:                 # what the logs would show
                observed.add(type(exc).__name__)
        outcome = apply_fix(TEMPLATE_FETCH, "fetch_dataset", _opp(*sorted(observed)))
        assert outcome.status == "applied", (observed, outcome.reason)
        after = load_module(tmp_path, "reset_after_mod", outcome.new_source)
        after.fetch_dataset.retry.sleep = lambda _: None
        ok_after = sum(1 for i in range(60) if after.fetch_dataset(base, f"d{i}") == b"dataset")
    finally:
        server.shutdown()
        server.server_close()
    assert 0.45 <= ok_before / 60 <= 0.85, (ok_before, observed)
    assert ok_after == 60


def test_requests_errors_are_retried_by_their_own_classes_when_the_module_uses_requests():
    src = "import requests\n\n\ndef get(url):\n    return requests.get(url, timeout=5).content\n"
    outcome = apply_fix(src, "get", _opp("ConnectionError", "ReadTimeout"))
    assert outcome.status == "applied", outcome.reason
    # requests' ReadTimeout derives from requests.exceptions.Timeout, not from the builtin TimeoutError
    assert ("retry_if_exception_type((ConnectionError, requests.exceptions.ConnectionError, "
            "requests.exceptions.Timeout))") in outcome.new_source
    assert "import requests.exceptions" in outcome.new_source and not outcome.warnings
    assert check_change(src, outcome.new_source, kind="rule:add_retry_mechanism").ok


def test_a_new_transient_type_widens_astroagent_s_own_retry_instead_of_stacking_a_second():
    first = apply_fix(PLAIN, "fetch", _opp("ConnectionResetError")).new_source
    widened = apply_fix(first, "fetch", _opp("ConnectionResetError", "HTTPError"))
    assert widened.status == "applied" and "widen the retry of fetch to also retry HTTP 5xx/429" in widened.reason
    new = widened.new_source
    assert new.count("@tenacity.retry(") == 1 and new.count("def _astroagent_retryable_http_error") == 1
    assert ("retry=tenacity.retry_if_exception_type(ConnectionError) | "
            "tenacity.retry_if_exception(_astroagent_retryable_http_error)") in new
    assert "stop=tenacity.stop_after_attempt(5)" in new          # the rest of the decorator is kept
    assert check_change(first, new, kind="rule:add_retry_mechanism").ok
    again = apply_fix(new, "fetch", _opp("HTTPError", "ConnectionResetError"))
    assert again.status == "skipped" and "already retries on ConnectionError, HTTP 5xx/429" in again.reason
    timeouts = apply_fix(new, "fetch", _opp("TimeoutError")).new_source
    assert "retry_if_exception_type((ConnectionError, TimeoutError))" in timeouts
    # a retry somebody else wrote is never edited
    theirs = ("import tenacity\nimport urllib.request\n\n\n@tenacity.retry(stop=tenacity.stop_after_attempt(2))\n"
              "def fetch(url):\n    return urllib.request.urlopen(url).read()\n")
    assert apply_fix(theirs, "fetch", _opp("HTTPError")).status == "skipped"


def test_static_facts_tell_astroagent_s_retry_from_a_hand_written_one():
    from astroagent.labtech.analysis.static import analyze_source

    ours = apply_fix(PLAIN, "fetch", _opp("ConnectionResetError")).new_source
    theirs = ("import tenacity\n\n\n@tenacity.retry(stop=tenacity.stop_after_attempt(2))\n"
              "def fetch(url):\n    return url\n")
    assert analyze_source(ours, "m.py")["m.py::fetch"].own_retry
    facts = analyze_source(theirs, "m.py")["m.py::fetch"]
    assert facts.retries and not facts.own_retry


def test_only_a_retry_exactly_as_this_rule_writes_it_is_widened():
    ours = apply_fix(PLAIN, "fetch", _opp("ConnectionResetError")).new_source
    forever = ours.replace("stop=tenacity.stop_after_attempt(5) | tenacity.stop_after_delay(30)",
                           "stop=tenacity.stop_never")
    assert apply_fix(forever, "fetch", _opp("HTTPError")).status == "skipped"        # same shape, other policy
    computed = ours.replace("retry_if_exception_type(ConnectionError)", "retry_if_exception_type(errors())")
    assert apply_fix(computed, "fetch", _opp("HTTPError")).status == "skipped"       # would become `errors`
    starred = ours.replace("retry_if_exception_type(ConnectionError)", "retry_if_exception_type((*ERRS,))")
    assert apply_fix(starred, "fetch", _opp("HTTPError")).status == "skipped"
    stacked = ours.replace("def fetch(url):", "@backoff.on_exception(backoff.expo, OSError)\ndef fetch(url):")
    assert apply_fix(stacked, "fetch", _opp("HTTPError")).status == "skipped"        # theirs is there too
    generator = ours.replace("    return urllib.request.urlopen(url).read()", "    yield urllib.request.urlopen(url)")
    assert apply_fix(generator, "fetch", _opp("HTTPError")).status == "rejected"


def test_widening_for_long_timeouts_says_the_old_delay_cap_stays():
    ours = apply_fix(PLAIN, "fetch", _opp("ConnectionResetError")).new_source
    widened = apply_fix(ours, "fetch", _opp("TimeoutError", retry_max_delay=152.0))
    assert widened.status == "applied"
    assert any("keeps its 30 s delay cap" in w for w in widened.warnings)
