"""add_timeout: network calls without a timeout get one; calls that have one keep theirs."""

from __future__ import annotations

import socket
import threading

import pytest

from _modload import load_module
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.fixes.timeout import timeout_seconds
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.models import Opportunity


def _opp(**evidence) -> Opportunity:
    evidence.setdefault("already_retries", False)   # what the static facts say (missing_timeout writes it)
    return Opportunity(type="missing_timeout", priority="medium", description="no timeout", signature="sig",
                       fix="add_timeout", evidence=evidence)


SRC = '''import urllib.request as ur
import requests
from socket import create_connection


def fetch(url):
    # why: the archive sometimes stalls
    data = ur.urlopen(url).read()
    kept = ur.urlopen(url, None, 5)
    named = requests.get(url, timeout=3)
    r = requests.post(
        url,
        json={},
    )
    return create_connection(("h", 1))


def other(url):
    return ur.urlopen(url)
'''

AFTER = '''import urllib.request as ur
import requests
from socket import create_connection


def fetch(url):
    # why: the archive sometimes stalls
    data = ur.urlopen(url, timeout=30.0).read()
    kept = ur.urlopen(url, None, 5)
    named = requests.get(url, timeout=3)
    r = requests.post(
        url,
        json={},
        timeout=30.0,
    )
    return create_connection(("h", 1), timeout=30.0)


def other(url):
    return ur.urlopen(url)
'''


def test_before_after_pair_inside_the_target_only():
    outcome = apply_fix(SRC, "fetch", _opp())
    assert outcome.status == "applied", outcome.reason
    assert outcome.new_source == AFTER
    assert "3 call(s)" in outcome.reason
    # fetch POSTs: a timed-out POST may have been carried out, so no retry comes with the timeout
    assert any("may write (requests.post, socket.create_connection)" in w for w in outcome.warnings)
    assert check_change(SRC, outcome.new_source, kind="rule:add_timeout").ok


def test_no_second_retry_and_none_for_a_whole_module():
    hand_written = apply_fix(SRC, "fetch", _opp(already_retries=True))
    assert hand_written.status == "applied" and "tenacity" not in hand_written.new_source
    assert any("already retries" in w for w in hand_written.warnings)
    decorated = SRC.replace("def fetch(url):", "@tenacity.retry\ndef fetch(url):").replace(
        "import requests\n", "import requests\nimport tenacity\n")
    again = apply_fix(decorated, "fetch", _opp())
    assert again.status == "applied" and again.new_source.count("@tenacity.retry") == 1
    assert "timeout=30.0" in again.new_source
    whole = apply_fix(SRC, "<module>", _opp())
    assert "tenacity" not in whole.new_source
    unknown = apply_fix(SRC, "fetch", Opportunity(type="missing_timeout", priority="low", description="d",
                                                   signature="s", fix="add_timeout"))
    assert "tenacity" not in unknown.new_source and any("unknown" in w for w in unknown.warnings)


READER = '''import urllib.request
import requests


def read(url):
    first = urllib.request.urlopen(url).read()
    return first + requests.get(url).content
'''


def test_a_reading_function_gets_a_retry_on_timeouts_and_the_transient_errors_seen_there():
    opp = _opp(timeout_seconds=50, transient_types=["ConnectionResetError"])
    outcome = apply_fix(READER, "read", opp)
    new = outcome.new_source
    assert outcome.status == "applied" and "retry read on" in outcome.reason
    assert "retry_if_exception_type((TimeoutError, ConnectionError, requests.exceptions.Timeout))" in new
    assert "_astroagent_retryable_http_error" in new      # urlopen wraps a connect timeout in URLError
    assert "stop_after_delay(70)" in new     # the last attempt may start at 70 s and end by the 120 s ceiling
    assert check_change(READER, new, kind="rule:add_timeout").ok
    sender = READER.replace("urlopen(url)", "urlopen(url, b'x')")
    assert "tenacity" not in apply_fix(sender, "read", opp).new_source


def test_second_run_is_skipped_and_the_module_target_covers_every_function():
    first = apply_fix(SRC, "fetch", _opp())
    assert apply_fix(first.new_source, "fetch", _opp()).status == "skipped"
    whole = apply_fix(SRC, "<module>", _opp())
    assert whole.status == "applied" and "return ur.urlopen(url, timeout=30.0)" in whole.new_source


def test_timeout_follows_the_evidence():
    assert "timeout=12.0" in apply_fix(SRC, "fetch", _opp(timeout_seconds=12)).new_source
    assert "timeout=9.0" in apply_fix(SRC, "fetch", _opp(p95=3.0)).new_source      # older evidence: p95 only
    assert "timeout=120.0" in apply_fix(SRC, "fetch", _opp(p95=500.0)).new_source


def test_timeout_comes_from_the_calls_that_are_not_stalls_and_cuts_the_stalls():
    # 0.3 s calls with 6 s stalls: p95 holds the stalls, so 3 x p95 (18 s) would never cut one
    stalled = _opp(typical_p50=0.3, typical_p75=0.32, p95=6.0, stall_seconds=6.0, stall_calls=3)
    assert timeout_seconds(stalled) == 3.0 and "timeout=3.0" in apply_fix(SRC, "fetch", stalled).new_source
    assert timeout_seconds(_opp(typical_p75=2.0, stall_seconds=8.0)) == 6.0      # 5 x 2 s, but below the stall
    assert timeout_seconds(_opp(typical_p75=0.05, stall_seconds=2.0)) == 1.5     # the stall wins over the floor
    assert timeout_seconds(_opp(typical_p50=0.8, p95=1.1)) == 4.0                # median when p75 is missing
    assert timeout_seconds(_opp(typical_p75=40.0, p95=60.0)) == 120.0            # ceiling
    assert timeout_seconds(_opp(p95=30.0, stall_seconds=20.0)) == 15.0           # old evidence, still capped
    assert timeout_seconds(_opp()) == 30.0


def test_methods_and_missing_targets():
    src = "import urllib.request\n\nclass A:\n    def get(self, u):\n        return urllib.request.urlopen(u)\n"
    assert "urlopen(u, timeout=30.0)" in apply_fix(src, "A.get", _opp()).new_source
    assert apply_fix(src, "A.nope", _opp()).status == "rejected"
    assert apply_fix("def f():\n    return 1\n", "f", _opp()).status == "skipped"


def _listener(backlog: int) -> tuple[socket.socket, int]:
    """A loopback socket that accepts connections (the test decides what it answers) and its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(backlog)
    return listener, listener.getsockname()[1]


def test_generated_timeout_really_stops_a_stalled_peer(tmp_path):
    listener, port = _listener(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    src = (f"import urllib.request\n\ndef get():\n"
           f"    return urllib.request.urlopen('http://127.0.0.1:{port}/').read()\n")
    new = apply_fix(src, "get", _opp(timeout_seconds=0.3)).new_source
    module = load_module(tmp_path, "stall_mod", new)
    with pytest.raises((TimeoutError, OSError)):
        module.get()      # the peer accepts and never answers: without the fix this hangs forever
    listener.close()


def test_a_stall_now_costs_one_timeout_and_a_new_attempt(tmp_path):
    """The peer stalls on the first connection and answers the second: the fixed call gets the data."""
    listener, port = _listener(2)
    held = []

    def serve():
        held.append(listener.accept()[0])          # first connection: accepted, never answered
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nstars")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    src = (f"import urllib.request\n\ndef get():\n"
           f"    return urllib.request.urlopen('http://127.0.0.1:{port}/').read()\n")
    new = apply_fix(src, "get", _opp(timeout_seconds=0.3)).new_source
    module = load_module(tmp_path, "stall_retry_mod", new)
    assert module.get() == b"stars"     # a timeout alone would have raised TimeoutError here
    listener.close()
    for conn in held:
        conn.close()


def test_writes_through_a_session_or_a_request_object_get_no_retry():
    opp = _opp(timeout_seconds=5)
    session = ("import requests\n\n\ndef push(url, s):\n    requests.get(url)\n"
               "    return s.post(url, json={})\n")
    assert "tenacity" not in apply_fix(session, "push", opp).new_source
    request = ("import urllib.request\n\n\ndef push(url):\n"
               "    return urllib.request.urlopen(urllib.request.Request(url, data=b'x')).read()\n")
    assert "tenacity" not in apply_fix(request, "push", opp).new_source
    get = request.replace("data=b'x'", "method='GET'")
    assert "tenacity.retry" in apply_fix(get, "push", opp).new_source
