"""The program's own exception classes: what each derives from, as a user reads their code, and what a
retry names to catch it (the class as the module binds it, else its base)."""

from __future__ import annotations

import pytest

from astroagent.labtech.knowledge.exceptions import Scope, is_transient_name, retry_covers, retry_plan
from astroagent.labtech.knowledge.hierarchy import Derivation, Hierarchy, ModuleClasses, module_classes

ERRORS = "class ArchiveError(ConnectionError):\n    pass\n\n\nclass BadSpectrum(ValueError):\n    pass\n"
NET = '''\
import socket

from .errors import ArchiveError, BadSpectrum


class FetchError(ArchiveError):
    """The archive did not answer."""


class Stalled(socket.timeout):
    pass


class Garbled(FetchError, BadSpectrum):
    pass


class Plain(Exception):
    pass


class Client:
    class Refused(ConnectionRefusedError):
        pass
'''


def _spectra() -> Hierarchy:
    return Hierarchy([module_classes(NET, "spectra.net", "spectra/net.py"),
                      module_classes(ERRORS, "spectra.errors", "spectra/errors.py"),
                      module_classes("from .errors import ArchiveError\n", "spectra", "spectra/__init__.py",
                                     package=True)])


@pytest.mark.parametrize("name, base, through, where", [
    ("FetchError", "ConnectionError", ("ArchiveError",), "spectra/net.py:6"),
    ("spectra.net.FetchError", "ConnectionError", ("ArchiveError",), "spectra/net.py:6"),
    ("ArchiveError", "ConnectionError", (), "spectra/errors.py:1"),
    ("spectra.ArchiveError", "ConnectionError", (), "spectra/errors.py:1"),     # a package's re-export
    ("Stalled", "socket.timeout", (), "spectra/net.py:10"),
    ("Refused", "ConnectionRefusedError", (), "spectra/net.py:23"),           # nested in a class
    ("BadSpectrum", "ValueError", (), "spectra/errors.py:5"),
    ("Garbled", "ValueError", ("BadSpectrum",), "spectra/net.py:14"),         # a programming error wins
])
def test_a_class_the_program_defines_derives_from_its_nearest_known_base(name, base, through, where) -> None:
    found = _spectra().derivation(name)
    assert found == Derivation(name.rsplit(".", 1)[-1], base, through, where)


def test_the_evidence_names_the_class_its_base_and_where_it_is_defined() -> None:
    assert _spectra().derivation("FetchError").words() == \
        "FetchError derives from ConnectionError through ArchiveError (spectra/net.py:6)"


@pytest.mark.parametrize("name", ["Plain", "NotDefinedAnywhere", "ConnectionError", "ServiceUnavailable", "Client"])
def test_no_derivation_for_a_class_without_a_known_base_one_not_defined_or_one_the_table_knows(name) -> None:
    assert _spectra().derivation(name) is None


def test_two_classes_of_one_name_with_different_bases_are_not_guessed_between() -> None:
    other = module_classes("class FetchError(KeyError):\n    pass\n", "spectra.cache", "spectra/cache.py")
    same = module_classes("class FetchError(ConnectionResetError):\n    pass\n", "spectra.mirror", "spectra/m.py")
    assert Hierarchy([*_spectra().modules.values(), other]).derivation("FetchError") is None
    assert Hierarchy([*_spectra().modules.values(), same]).derivation("FetchError") is None
    assert Hierarchy([*_spectra().modules.values(), other]).derivation("spectra.net.FetchError").base == \
        "ConnectionError"


def test_bases_resolve_through_aliases_and_a_cycle_ends() -> None:
    source = ("import requests.exceptions as rex\nfrom http import client\n\n"
              "class Down(rex.ConnectionError):\n    pass\n\nclass Cut(client.RemoteDisconnected):\n    pass\n\n"
              "class A(B):\n    pass\n\nclass B(A):\n    pass\n")
    h = Hierarchy([module_classes(source, "app", "app.py")])
    assert h.derivation("Down").base == "requests.exceptions.ConnectionError"
    assert h.derivation("Cut").base == "http.client.RemoteDisconnected"
    assert h.derivation("A") is None


def test_a_module_that_does_not_parse_has_no_classes_and_the_facts_survive_json() -> None:
    assert module_classes("class (:", "m", "m.py").classes == ()
    facts = module_classes(NET, "spectra.net", "spectra/net.py", package=False)
    assert ModuleClasses.from_json(facts.to_json()) == facts


# -- what a retry catches ---------------------------------------------------------------------------

DERIVED = {"FetchError": "ConnectionError", "BadSpectrum": "ValueError", "Flaky5xx": "HTTPError",
           "Down": "requests.exceptions.ConnectionError"}


def test_a_retry_catches_the_class_as_the_module_binds_it_else_its_base() -> None:
    bound = Scope(names={"FetchError": "net.FetchError"})
    assert retry_plan(("FetchError",), bound, DERIVED).families == ["net.FetchError"]
    assert retry_plan(("FetchError",), Scope(), DERIVED).families == ["ConnectionError"]
    # a base only one library defines is caught by that library's class, only where it is imported
    assert retry_plan(("Down",), Scope(), DERIVED).families == []
    assert retry_plan(("Down",), Scope(libraries=frozenset({"requests"})), DERIVED).families == \
        ["requests.exceptions.ConnectionError"]


def test_a_class_deriving_from_a_programming_error_or_unknown_is_never_retried() -> None:
    plan = retry_plan(("BadSpectrum", "Unknown"), Scope(names={"BadSpectrum": "BadSpectrum", "Unknown": "Unknown"}),
                      DERIVED)
    assert plan.families == [] and plan.ignored == ["BadSpectrum", "Unknown"]
    assert not is_transient_name("BadSpectrum", DERIVED) and not is_transient_name("FetchError")
    assert is_transient_name("FetchError", DERIVED)


def test_an_http_error_of_the_program_stays_behind_the_5xx_predicate() -> None:
    plan = retry_plan(("Flaky5xx",), Scope(names={"Flaky5xx": "Flaky5xx"}), DERIVED)
    assert plan.families == [] and plan.http and plan.modules == ["urllib.error"]


def test_a_retry_on_the_class_or_its_base_covers_it() -> None:
    assert retry_covers(["FetchError"], "FetchError", DERIVED)
    assert retry_covers(["ConnectionError"], "FetchError", DERIVED)
    assert not retry_covers(["TimeoutError"], "FetchError", DERIVED)
    assert not retry_covers(["FetchError"], "FetchError")     # without the derivation it is nothing known
