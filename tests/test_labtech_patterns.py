"""Message templates and transient / deterministic classification."""

from __future__ import annotations

import pytest

from astroagent.labtech.analysis import _duck
from astroagent.labtech.analysis.patterns import classify, signature, split_error, template, traceback_frames

MESSAGES = [
    "HTTPConnectionPool(host='127.0.0.1', port=51234): Max retries exceeded with url: /data/kplr0001.csv",
    "Failed to connect to archive.stsci.edu:443 after 3 attempts",
    "timed out after 12.5 seconds reading /srv/data/lc_12.fits",
    "HTTP Error 503: Service Unavailable for request 8f3a9b2c4d1e",
    "job 550e8400-e29b-41d4-a716-446655440000 failed at https://x.example.org/a?b=1 (code -3.5e-4)",
    "'kplr000000012'",
    "C:\\Users\\me\\data\\file.csv missing",
    "float division by zero",
    "",
]


def test_equal_failures_share_one_template() -> None:
    a = template("Failed to connect to archive.stsci.edu:443 after 3 attempts")
    b = template("Failed to connect to mast.example.org:8443 after 5 attempts")
    assert a == b == "Failed to connect to <host> after <n> attempts"
    assert template(MESSAGES[0]) == ("HTTPConnectionPool(host='<str>', port=<n>): Max retries exceeded "
                                     "with url: <path>")
    assert template(MESSAGES[3]) == "HTTP Error <n>: Service Unavailable for request <hex>"
    assert template(MESSAGES[4]) == "job <uuid> failed at <url> (code <n>)"
    assert template("KeyError 'a'") == template("KeyError 'b'")
    assert template("float division by zero") == "float division by zero"


@pytest.mark.skipif(not _duck.available(), reason="duckdb not installed")
def test_sql_masks_make_the_same_templates_as_python() -> None:
    import duckdb

    con = duckdb.connect()
    for msg in MESSAGES:
        sql = con.execute(f"SELECT {_duck._TEMPLATE_SQL} FROM (SELECT ? AS msg)", [msg]).fetchone()[0]
        assert sql == template(msg), msg


def test_error_type_comes_from_the_field_or_the_message_prefix() -> None:
    assert split_error(None, "ConnectionError: refused") == ("ConnectionError", "refused")
    assert split_error("TimeoutError", "TimeoutError: late") == ("TimeoutError", "late")
    assert split_error(None, "something odd") == ("UnknownError", "something odd")


def test_network_failures_are_transient_and_programming_errors_deterministic() -> None:
    net = classify("ConnectionError", ["Failed to connect to <host>"])
    assert net.transient and not net.deterministic and "network" in net.evidence[0]
    bug = classify("ZeroDivisionError", ["float division by zero"])
    assert bug.deterministic and not bug.transient
    assert classify("KeyError", ["'x'"]).deterministic
    assert classify("RuntimeError", ["upstream said 502 Bad Gateway"]).transient
    assert classify("HTTPError", ["HTTP Error 404: Not Found"]).deterministic
    assert classify("HTTPError", ["HTTP Error 503: Service Unavailable"]).transient


def test_argument_digests_decide_unknown_types() -> None:
    flaky = classify("ArchiveGlitch", ["odd"], {"d1": (3, 2)})
    assert flaky.transient and any("comes and goes" in e for e in flaky.evidence)
    stuck = classify("ArchiveGlitch", ["odd"], {"d1": (0, 4)})
    assert stuck.deterministic and any("every time" in e for e in stuck.evidence)
    unknown = classify("ArchiveGlitch", ["odd"])
    assert not unknown.transient and not unknown.deterministic


def test_signature_ignores_line_numbers_and_is_stable() -> None:
    a = signature("KeyError", "'<str>'", "fit", "experimenter/fit.py", "fit")
    assert a == signature("KeyError", "'<str>'", "fit", "experimenter/fit.py", "fit")
    assert a != signature("KeyError", "'<str>'", "fetch", "experimenter/fit.py", "fit")


def test_traceback_frames_parse_python_tracebacks() -> None:
    tb = ('Traceback (most recent call last):\n  File "/ws/a.py", line 3, in main\n    f()\n'
          '  File "/ws/experimenter/b.py", line 9, in f\n    1/0\nZeroDivisionError: division by zero\n')
    assert traceback_frames(tb) == [("/ws/a.py", 3, "main"), ("/ws/experimenter/b.py", 9, "f")]
