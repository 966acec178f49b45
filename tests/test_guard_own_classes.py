"""The guard on a rule's retry that names the program's own exception class: accepted when the name is a
class the file defines or imports from the workspace and its bases reach a transient type; refused when it
derives from a programming error, is not a class, or its bases cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from astroagent.labtech.analysis.classes import workspace_classes
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.models import Opportunity

ERRORS = "class ArchiveError(ConnectionError):\n    pass\n\n\nclass BadSpectrum(ValueError):\n    pass\n"
KIND = "rule:add_retry_mechanism"


def _retry(source: str, name: str, base: str = "ConnectionError") -> str:
    opp = Opportunity(type="frequent_error", priority="high", description="d", fix="add_retry_mechanism",
                      signature="s", error_types=(name,), evidence={"derives_from": {name: base}})
    outcome = apply_fix(source, "fetch", opp)
    assert outcome.status == "applied", outcome.reason
    [line] = [x for x in outcome.new_source.splitlines() if "retry_if_exception_type(" in x]
    assert name in line, line      # the class itself, as the module binds it
    return outcome.new_source


def _workspace(root: Path, net: str) -> Path:
    for rel, text in {"spectra/__init__.py": "", "spectra/errors.py": ERRORS, "spectra/net.py": net}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("imports", ["from spectra.errors import ArchiveError", "from .errors import ArchiveError",
                                     "from . import errors as _e\nArchiveError = None"])
def test_a_retry_on_a_class_imported_from_the_workspace_is_judged_by_its_bases_there(tmp_path: Path,
                                                                                     imports: str) -> None:
    net = f"{imports}\n\n\ndef fetch(url):\n    raise ArchiveError(url)\n"
    ws = _workspace(tmp_path / "ws", net)
    if "ArchiveError = None" in imports:   # a value, not the class: the rule names it, the guard refuses it
        new = net.replace("def fetch", "@tenacity.retry(\n    retry=tenacity.retry_if_exception_type(ArchiveError),\n"
                          "    stop=tenacity.stop_after_attempt(5) | tenacity.stop_after_delay(30),\n"
                          "    wait=tenacity.wait_exponential(multiplier=0.1, max=2) + tenacity.wait_random(0, 0.2),\n"
                          "    reraise=True,\n)\ndef fetch").replace(imports, "import tenacity\n" + imports)
        report = check_change(net, new, path="spectra/net.py", kind=KIND, workspace=ws)
        assert not report.ok and "ArchiveError in the decorator of fetch does not refer to" in report.violations[0]
        return
    derived = workspace_classes([ws / "spectra/net.py"], ws).derivation("ArchiveError")   # as analysis reads it
    assert derived is not None and derived.base == "ConnectionError"
    new = _retry(net, "ArchiveError", derived.base)
    assert check_change(net, new, path="spectra/net.py", kind=KIND, workspace=ws).ok      # the guard agrees
    refused = check_change(net, new, path="spectra/net.py", kind=KIND)     # without the workspace: unread bases
    assert not refused.ok and "wrapping: ArchiveError in the decorator of fetch" in refused.violations[0]


def test_a_retry_on_a_class_deriving_from_a_programming_error_is_refused(tmp_path: Path) -> None:
    net = "from spectra.errors import BadSpectrum\n\n\ndef fetch(url):\n    raise BadSpectrum(url)\n"
    ws = _workspace(tmp_path / "ws", net)
    new = _retry(net.replace("BadSpectrum", "ArchiveError"), "ArchiveError").replace("ArchiveError", "BadSpectrum")
    report = check_change(net, new, path="spectra/net.py", kind=KIND, workspace=ws)
    assert not report.ok and "BadSpectrum in the decorator of fetch does not refer to" in report.violations[0]


@pytest.mark.parametrize("shadow", ["def FetchError():\n    pass\n",
                                    "class FetchError(ConnectionError):\n    pass\n\n\nFetchError = KeyError\n"])
def test_a_name_that_is_not_one_class_of_the_file_is_refused(shadow: str) -> None:
    clean = "class FetchError(ConnectionError):\n    pass\n\n\ndef fetch(url):\n    raise FetchError(url)\n"
    new = _retry(clean, "FetchError")
    old = shadow + "\n\ndef fetch(url):\n    raise FetchError(url)\n"
    tampered = new.replace("class FetchError(ConnectionError):\n    pass\n", shadow)
    assert check_change(clean, new, path="prog.py", kind=KIND).ok
    report = check_change(old, tampered, path="prog.py", kind=KIND)
    assert not report.ok and any("FetchError in the decorator" in v for v in report.violations)


def test_widening_the_rules_retry_with_the_programs_class_is_judged_the_same_way(tmp_path: Path) -> None:
    net = ("from .errors import ArchiveError, BadSpectrum\n\n\ndef fetch(url):\n"
           "    raise ArchiveError(url)\n")
    ws = _workspace(tmp_path / "ws", net)
    first = apply_fix(net, "fetch", Opportunity(type="frequent_error", priority="high", description="d",
                                                fix="add_retry_mechanism", signature="s",
                                                error_types=("TimeoutError",))).new_source
    wider = _retry(first, "ArchiveError")
    assert "retry_if_exception_type((TimeoutError, ArchiveError))" in wider
    assert check_change(first, wider, path="spectra/net.py", kind=KIND, workspace=ws).ok
    wrong = wider.replace("(TimeoutError, ArchiveError)", "(TimeoutError, BadSpectrum)")
    report = check_change(first, wrong, path="spectra/net.py", kind=KIND, workspace=ws)
    assert not report.ok and "BadSpectrum in the decorator of fetch" in report.violations[0]


def test_a_breaker_counts_the_programs_transient_class_and_the_guard_accepts_it() -> None:
    source = "class FetchError(ConnectionError):\n    pass\n\n\ndef fetch(url):\n    raise FetchError(url)\n"
    opp = Opportunity(type="dependency_outage", priority="high", description="d", fix="add_circuit_breaker",
                      signature="s", error_types=("FetchError",), evidence={"derives_from": {"FetchError":
                                                                                           "ConnectionError"}})
    outcome = apply_fix(source, "fetch", opp)
    assert outcome.status == "applied" and "failures=(FetchError,))" in outcome.new_source
    assert check_change(source, outcome.new_source, path="prog.py", kind="rule:add_circuit_breaker").ok
    mine, bad = "class FetchError(ConnectionError)", "class FetchError(ValueError)"
    report = check_change(source.replace(mine, bad), outcome.new_source.replace(mine, bad), path="prog.py",
                          kind="rule:add_circuit_breaker")
    assert report.violations == ("prog.py: wrapping: FetchError in the decorator of fetch does not refer to what "
                                 "add_circuit_breaker means by it",)
