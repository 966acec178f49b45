"""An error type the program defines (``class FetchError(ArchiveError)``, ``ArchiveError(ConnectionError)``)
is judged by what it derives from, as its author would: transient with the words why and a retry that
catches it, or a programming error that is never retried; a name the workspace does not define stays
unclassified. The classes are read from the workspace's code, following imports to where bases live."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from _labtech_ws import TEST_FETCH, FlakyArchive, make_workspace, run_workload

from astroagent.cli import main

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analyze import default_targets, run_analysis
from astroagent.labtech.analysis.classes import workspace_classes

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
ERRORS = '''\
"""The archive client's errors."""


class ArchiveError(ConnectionError):
    """The archive could not be reached."""


class BadSpectrum(ValueError):
    """A spectrum that does not parse."""
'''
NET = '''\
"""Fetch and read spectra."""

from .errors import ArchiveError, BadSpectrum


class FetchError(ArchiveError):
    """One spectrum did not arrive."""


def fetch(url):
    raise FetchError("no spectrum")


def parse(raw):
    raise BadSpectrum("no header")


def other(x):
    raise QuotaError("over")
'''


def _workspace(root: Path, net: str = NET, errors: str = ERRORS) -> Path:
    for rel, text in {"spectra/__init__.py": "", "spectra/errors.py": errors, "spectra/net.py": net}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _logs(folder: Path, n: int = 12) -> Path:
    """n executions: fetch fails every third with FetchError, parse every fourth, other every fifth."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        t, eid = NOW - timedelta(hours=1, minutes=n - i), f"e{i}"
        events = [("execution_start", {"code_version": "v1"})]
        failed = [(m, etype, line) for m, etype, line, every in (("fetch", "FetchError", 11, 3),
                                                                 ("parse", "BadSpectrum", 15, 4),
                                                                 ("other", "QuotaError", 19, 5)) if i % every == 0]
        for method in ("fetch", "parse", "other"):
            hit = [f for f in failed if f[0] == method]
            if hit:
                _, etype, line = hit[0]
                events.append(("method_failed", {"method": method, "duration": 0.01, "error_type": etype,
                                                 "error": f"{etype}: it went wrong",
                                                 "location": {"file": "spectra/net.py", "line": line,
                                                              "function": method}}))
            else:
                events.append(("method_complete", {"method": method, "duration": 0.01, "success": True}))
        events.append(("execution_complete", {"success": not failed, "duration": 0.1}))
        lines += [orjson.dumps({"timestamp": (t + timedelta(seconds=k)).isoformat(), "execution_id": eid,
                                "event_type": et, "event_data": data}) for k, (et, data) in enumerate(events)]
    (folder / "execution_20240502.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def _analyse(ws: Path, logs: Path):
    config = LabTechnicianConfig()
    return run_analysis(config, logs, ws / "state", workspace=ws,
                        targets=default_targets(config, ws, code_package="spectra"), now=NOW)


def test_classes_are_read_where_the_bases_live_and_nowhere_outside_the_workspace(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    (tmp_path / "outside.py").write_text("class ArchiveError(KeyError):\n    pass\n")
    only_net = workspace_classes([ws / "spectra/net.py"], ws)     # errors.py is read because net imports it
    assert only_net.derivation("FetchError").words() == \
        "FetchError derives from ConnectionError through ArchiveError (spectra/net.py:6)"
    assert set(only_net.modules) == {"spectra.net", "spectra.errors"}
    raised_here = _workspace(tmp_path / "ws2", net="from spectra.errors import ArchiveError\n\n\n"
                                                 "def fetch(url):\n    raise ArchiveError(url)\n")
    assert workspace_classes([raised_here / "spectra/net.py"], raised_here).derivation("ArchiveError").base == \
        "ConnectionError"    # imported, not subclassed, by the one file analysed
    src = _workspace(tmp_path / "src_ws" / "src")
    (tmp_path / "src_ws" / "pyproject.toml").write_text("[project]\nname = 'spectra'\n")
    in_src = workspace_classes([src / "spectra/net.py"], tmp_path / "src_ws")
    assert in_src.derivation("spectra.net.FetchError").where == "src/spectra/net.py:6"


def test_analysis_judges_the_programs_own_classes_by_their_bases(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    analysis = _analyse(ws, _logs(tmp_path / "logs"))
    by_type = {p.error_type: p for p in analysis.error_patterns}
    fetch, parse, other = by_type["FetchError"], by_type["BadSpectrum"], by_type["QuotaError"]
    assert fetch.transient and not fetch.deterministic and fetch.derives_from == "ConnectionError"
    assert fetch.evidence[:2] == ("FetchError derives from ConnectionError through ArchiveError (spectra/net.py:6)",
                                  "ConnectionError is a network/timeout failure")
    assert parse.deterministic and not parse.transient and parse.evidence[0].startswith(
        "BadSpectrum derives from ValueError (spectra/errors.py:8)")
    assert not other.transient and not other.deterministic and other.derives_from is None  # not defined anywhere
    [retry] = [o for o in analysis.opportunities if o.fix == "add_retry_mechanism"]
    assert retry.target == "spectra/net.py::fetch" and retry.error_types == ("FetchError",)
    assert retry.evidence["derives_from"] == {"FetchError": "ConnectionError"}
    assert "FetchError (transient)" in retry.description
    assert not any(o.fix == "add_retry_mechanism" for o in analysis.opportunities if o.method in ("parse", "other"))


def test_a_changed_base_changes_the_answer_even_when_the_logs_did_not(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    logs = _logs(tmp_path / "logs")
    assert {p.error_type: p.transient for p in _analyse(ws, logs).error_patterns}["FetchError"]
    (ws / "spectra/errors.py").write_text(ERRORS.replace("ArchiveError(ConnectionError)", "ArchiveError(KeyError)"))
    again = {p.error_type: p for p in _analyse(ws, logs).error_patterns}["FetchError"]
    assert again.deterministic and again.derives_from == "KeyError"
    cache = orjson.loads((ws / "state/state/classes_cache.json").read_bytes())
    assert set(cache) == {"spectra/__init__.py", "spectra/errors.py", "spectra/net.py"}


# -- end to end: a flaky archive behind the program's own FetchError ---------------------------------

WS_ERRORS = '''\
"""The archive client's errors."""


class ArchiveError(ConnectionError):
    """The archive could not be reached."""
'''
WS_FETCH = '''\
"""Fetch a dataset from the archive."""

import urllib.request

from astroagent.telemetry import instrument
from experimenter.errors import ArchiveError


class FetchError(ArchiveError):
    """One dataset did not arrive."""


@instrument
def fetch_dataset(url):
    """The raw bytes at url."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except OSError as exc:
        raise FetchError("no dataset from the archive") from exc
'''


def test_a_flaky_fetch_raising_the_programs_own_error_is_classified_and_healed_by_a_retry_on_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_workspace(tmp_path / "ws", {"experimenter/errors.py": WS_ERRORS, "experimenter/fetch.py": WS_FETCH,
                                          "tests/test_fetch.py": TEST_FETCH})
    with FlakyArchive(reset_rate=1 / 3, seed=11) as archive:
        before, _, _ = run_workload(ws, archive.url, 30)
        assert before <= 26
        monkeypatch.chdir(ws)
        assert main(["labtech", "analyze", "--json"]) == 0
        [pattern] = [p for p in json.loads(capsys.readouterr().out)["error_patterns"]
                     if p["error_type"] == "FetchError"]
        assert pattern["transient"] and pattern["derives_from"] == "ConnectionError"
        assert pattern["evidence"][0] == \
            "FetchError derives from ConnectionError through ArchiveError (experimenter/fetch.py:9)"
        assert main(["labtech", "improve", "--dry-run", "--json"]) == 0
        dry = json.loads(capsys.readouterr().out)
        [proposed] = [i for i in dry["improvements_made"] if i["target"].endswith("::fetch_dataset")]
        assert proposed["status"] == "proposed", proposed["reason"]      # guard and validation passed
        assert proposed["fix"] == "add_retry_mechanism"
        assert "+    retry=tenacity.retry_if_exception_type(FetchError)," in proposed["diff"]
        assert (ws / "experimenter/fetch.py").read_text() == WS_FETCH
        assert main(["labtech", "improve", "--json"]) == 0
        [applied] = [i for i in json.loads(capsys.readouterr().out)["improvements_made"]
                     if i["target"].endswith("::fetch_dataset")]
        assert applied["status"] == "applied", applied["reason"]
        after, _, _ = run_workload(ws, archive.url, 30)
    print(f"\nown FetchError: success {before}/30 before, {after}/30 after the retry on it")
    assert after >= 29
