"""What analysis and the fix rules must agree on, proved by running both sides on the same small programs:
a type called transient is retried by the retry analysis proposes, a function called pure is cached (and one
called impure is not), a network call reported without a timeout gets one where the real call takes it."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import libcst as cst
import pytest

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analytics import WindowStats
from astroagent.labtech.analysis.opportunities import find_opportunities
from astroagent.labtech.analysis.patterns import classify
from astroagent.labtech.analysis.static import analyze_source
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.knowledge.decorators import own_retry
from astroagent.labtech.knowledge.exceptions import DETERMINISTIC_TYPES, FAMILIES, TRANSIENT_TYPES, Family, \
    retry_covers
from astroagent.labtech.knowledge.hierarchy import Hierarchy, module_classes
from astroagent.labtech.knowledge.network import NETWORK_CALLS
from astroagent.labtech.models import ErrorPattern, MethodStats, Opportunity

LABTECH = Path(__file__).resolve().parents[1] / "astroagent" / "labtech"
_LIBRARY_MODULE = {"requests": "requests.exceptions", "httpx": "httpx", "urllib3": "urllib3.exceptions",
                   "aiohttp": "aiohttp"}


# -- transient exception types ------------------------------------------------------------------

def _cases() -> list[tuple[str, Family]]:
    return [(name, family) for name in sorted(FAMILIES) for family in FAMILIES[name]]


def _program(name: str, family: Family) -> str:
    """A module where ``family`` is what catches ``name``: it imports the library or defines the class."""
    header = f"import {family.library}\n" if family.library else ""
    if family.own:
        header += f"\n\nclass {name}(Exception):\n    pass\n"
    return header + "\n\ndef fetch(box):\n    box['calls'] += 1\n    raise box['error']\n"


def _real_error(name: str, family: Family, namespace: dict[str, Any]) -> BaseException:
    """The exception the running program raises (its real class, from the library it imports)."""
    import builtins
    import http.client
    import socket
    import ssl
    import urllib.error

    if family.own:
        return namespace[name]("down")
    if family.library:
        cls = getattr(importlib.import_module(_LIBRARY_MODULE[family.library]), name)
        return cls.__new__(cls)      # library errors take pools, requests, urls: the class is what counts
    if name == "HTTPError":
        return urllib.error.HTTPError("http://127.0.0.1:9/", 503, "Service Unavailable", None, None)
    if name == "URLError":
        return urllib.error.URLError(ConnectionRefusedError(111, "refused"))
    where = {"RemoteDisconnected": http.client, "IncompleteRead": http.client, "BadStatusLine": http.client,
             "timeout": socket, "socket.timeout": socket, "gaierror": socket, "SSLEOFError": ssl}
    cls = getattr(where.get(name, builtins), name.rsplit(".", 1)[-1])
    return cls.__new__(cls)


def _proposal(name: str, source: str) -> Opportunity:
    """What analysis proposes for ten failures of ``name`` in ``fetch`` (the real detector, real classifier,
    the classes ``source`` defines read as analysis reads the workspace's)."""
    message = "HTTP Error 503: Service Unavailable" if name == "HTTPError" else "the archive went away"
    derived = Hierarchy([module_classes(source, "prog", "prog.py")]).derivation(name)
    verdict = classify(name, [message], derived=derived)
    pattern = ErrorPattern(signature=f"sig-{name}", error_type=name, template=message, count=10, executions=10,
                           method="fetch", transient=verdict.transient, deterministic=verdict.deterministic,
                           derives_from=derived.base if derived else None)
    static = {k: f.to_json() for k, f in analyze_source(source, "prog.py").items()}
    stats = WindowStats(patterns=[pattern], methods={"fetch": MethodStats(method="fetch", calls=20, errors=10)})
    found = find_opportunities(stats, LabTechnicianConfig(), static, detectors=["frequent_error"])
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("name, family", _cases(), ids=[f"{n}-{f.library or ('own' if f.own else 'std')}"
                                                        for n, f in _cases()])
def test_every_transient_type_is_retried_by_the_retry_analysis_proposes(name: str, family: Family) -> None:
    source = _program(name, family)
    opportunity = _proposal(name, source)
    assert opportunity.fix == "add_retry_mechanism" and opportunity.target == "prog.py::fetch"
    outcome = apply_fix(source, "fetch", opportunity)
    assert outcome.status == "applied", outcome.reason
    decorator = next(d for d in cst.parse_module(outcome.new_source).body[-1].decorators)
    written = own_retry(decorator)
    assert written is not None
    assert (written.http if family.http else family.expr in written.families or family.own and name in
            written.families), (name, family, written)
    guard = check_change(source, outcome.new_source, path="prog.py", kind="rule:add_retry_mechanism",
                         functions=["fetch"])
    assert guard.ok, guard.violations
    # analysis, reading the new code, sees its own retry covering the type: no second proposal
    facts = analyze_source(outcome.new_source, "prog.py")["prog.py::fetch"]
    assert facts.own_retry and retry_covers(facts.own_retry_covers, name)
    assert _proposal(name, outcome.new_source).fix is None
    # and the retry really catches the real class: five attempts, then the error itself
    if family.library:
        pytest.importorskip(family.library, reason=f"{family.library} is not installed: the catch was checked as code")
    namespace: dict[str, Any] = {}
    exec(compile(outcome.new_source, "prog.py", "exec"), namespace)
    error = _real_error(name, family, namespace)
    fetch = namespace["fetch"].retry_with(sleep=lambda seconds: None)
    box = {"calls": 0, "error": error}
    with pytest.raises(type(error)):
        fetch(box)
    assert box["calls"] == 5


# the program's own class, derived from a known type: (its bases as written, imports they need, a retry names)
DERIVED = {
    "ConnectionError": ("ConnectionError", ""),
    "ConnectionResetError": ("ConnectionResetError", ""),
    "TimeoutError": ("TimeoutError", ""),
    "socket.timeout": ("socket.timeout", "import socket\n"),
    "http.client.IncompleteRead": ("http.client.IncompleteRead", "import http.client\n"),
    "through an own class": ("ArchiveError", "\n\nclass ArchiveError(ConnectionError):\n    pass\n"),
}


@pytest.mark.parametrize("case", sorted(DERIVED))
def test_a_class_of_the_program_derived_from_a_transient_type_is_retried_by_the_retry_analysis_proposes(
        case: str) -> None:
    bases, header = DERIVED[case]
    source = f"{header}\n\nclass FetchError({bases}):\n    pass\n\n\ndef fetch(box):\n    box['calls'] += 1\n" \
             "    raise box['error']\n"
    opportunity = _proposal("FetchError", source)
    assert opportunity.fix == "add_retry_mechanism", opportunity
    outcome = apply_fix(source, "fetch", opportunity)
    assert outcome.status == "applied", outcome.reason
    written = own_retry(cst.parse_module(outcome.new_source).body[-1].decorators[0])
    assert written is not None and written.families == ["FetchError"]      # the class itself, as the module binds it
    guard = check_change(source, outcome.new_source, path="prog.py", kind="rule:add_retry_mechanism",
                         functions=["fetch"])
    assert guard.ok, guard.violations
    assert _proposal("FetchError", outcome.new_source).fix is None     # analysis sees it covered
    namespace: dict[str, Any] = {}
    exec(compile(outcome.new_source, "prog.py", "exec"), namespace)
    box = {"calls": 0, "error": namespace["FetchError"]("down")}
    with pytest.raises(namespace["FetchError"]):
        namespace["fetch"].retry_with(sleep=lambda seconds: None)(box)
    assert box["calls"] == 5


def test_a_class_the_target_module_cannot_name_is_caught_by_its_base() -> None:
    """``fetch`` calls a client whose module raises FetchError(ConnectionError); fetch's module never imports it."""
    client = "class FetchError(ConnectionError):\n    pass\n\n\ndef get(box):\n    box['calls'] += 1\n" \
             "    raise FetchError('down')\n"
    source = "import client\n\n\ndef fetch(box):\n    return client.get(box)\n"
    opp = Opportunity(type="frequent_error", priority="high", description="d", fix="add_retry_mechanism",
                      signature="s", error_types=("FetchError",),
                      evidence={"derives_from": {"FetchError": "ConnectionError"}})
    outcome = apply_fix(source, "fetch", opp)
    assert outcome.status == "applied", outcome.reason
    assert own_retry(cst.parse_module(outcome.new_source).body[-1].decorators[0]).families == ["ConnectionError"]
    assert check_change(source, outcome.new_source, path="prog.py", kind="rule:add_retry_mechanism").ok
    module = type(sys)("client")
    exec(compile(client, "client.py", "exec"), module.__dict__)
    namespace: dict[str, Any] = {}
    sys.modules["client"] = module
    try:
        exec(compile(outcome.new_source, "prog.py", "exec"), namespace)
    finally:
        del sys.modules["client"]
    box = {"calls": 0}
    with pytest.raises(module.FetchError):
        namespace["fetch"].retry_with(sleep=lambda seconds: None)(box)
    assert box["calls"] == 5


@pytest.mark.parametrize("bases", ["ValueError", "KeyError", "ConnectionError, ValueError", "Exception"])
def test_a_class_of_the_program_derived_from_a_programming_error_or_nothing_known_is_never_retried(bases) -> None:
    source = f"class FetchError({bases}):\n    pass\n\n\ndef fetch(box):\n    raise box['error']\n"
    derived = Hierarchy([module_classes(source, "prog", "prog.py")]).derivation("FetchError")
    assert not classify("FetchError", ["the archive went away"], derived=derived).transient
    forced = Opportunity(type="frequent_error", priority="high", description="d", fix="add_retry_mechanism",
                         signature="s", error_types=("FetchError",),
                         evidence={"derives_from": {"FetchError": derived.base}} if derived else {})
    outcome = apply_fix(source, "fetch", forced)
    assert outcome.status == "rejected" and ("deterministic" in outcome.reason or "no transient" in outcome.reason)


def test_every_type_the_classifier_calls_transient_by_type_has_a_family_and_no_programming_error_is_retried() -> None:
    assert all(classify(name, ["x"]).transient for name in TRANSIENT_TYPES)
    assert TRANSIENT_TYPES <= set(FAMILIES) and not TRANSIENT_TYPES & DETERMINISTIC_TYPES
    for name in sorted(DETERMINISTIC_TYPES):
        opp = Opportunity(type="frequent_error", priority="high", description="d", fix="add_retry_mechanism",
                          signature="s", error_types=(name,))
        outcome = apply_fix("def fetch():\n    return 1\n", "fetch", opp)
        assert outcome.status == "rejected" and "deterministic" in outcome.reason


def test_a_transient_type_whose_library_the_module_does_not_import_is_refused_saying_why() -> None:
    opp = Opportunity(type="frequent_error", priority="high", description="d", fix="add_retry_mechanism",
                      signature="s", error_types=("MaxRetryError",))
    outcome = apply_fix("def fetch():\n    return 1\n", "fetch", opp)
    assert outcome.status == "rejected" and "MaxRetryError: transient, but nothing this module" in outcome.reason


# -- purity ---------------------------------------------------------------------------------------

PURITY = {   # name: (source of a module defining the target, target, pure?)
    "os.getenv": ("import os\n\ndef f(key: str) -> str:\n    return os.getenv(key, '')\n", False),
    "os.getenv aliased": ("from os import getenv as env\n\ndef f(key: str) -> str:\n    return env(key) or ''\n",
                          False),
    "os.environ read": ("import os\n\ndef f(key: str) -> str:\n    return os.environ[key]\n", False),
    "module dict write": ("CACHE = {}\n\ndef f(x: int) -> int:\n    CACHE[x] = x * 2\n    return x * 2\n", False),
    "module list append": ("SEEN = []\n\ndef f(x: int) -> int:\n    SEEN.append(x)\n    return x\n", False),
    "module attribute write": ("import math\n\ndef f(x: float) -> float:\n    math.tau = x\n    return x\n", False),
    "global": ("TOTAL = 0\n\ndef f(x: int) -> int:\n    global TOTAL\n    TOTAL += x\n    return TOTAL\n", False),
    "argument mutation": ("def f(xs: tuple, acc: frozenset = frozenset()) -> int:\n    acc.add(1)\n"
                          "    return len(xs)\n", False),
    "os.path.join": ("import os\n\ndef f(a: str, b: str) -> str:\n    return os.path.join(a, b)\n", True),
    "time.strptime": ("import time\n\ndef f(s: str) -> int:\n    return time.strptime(s, '%Y-%m-%d').tm_yday\n", True),
    "time.time": ("import time\n\ndef f(x: float) -> float:\n    return x + time.time()\n", False),
    "datetime.now": ("import datetime\n\ndef f(x: int) -> str:\n    return str(datetime.datetime.now())\n", False),
    "imported read_ helper": ("from catalogue import read_table\n\ndef f(path: str) -> int:\n"
                              "    return len(read_table(path))\n", False),
    "own pure read_ helper": ("def read_flag(bits: int) -> int:\n    return bits & 1\n\n\n"
                              "def f(bits: int) -> int:\n    return read_flag(bits) + 1\n", True),
    "own read_ helper doing I/O": ("def read_rows(path):\n    with open(path) as fh:\n        return fh.readlines()\n\n\n"
                                   "def f(path: str) -> int:\n    return len(read_rows(path))\n", False),
    "random": ("import random\n\ndef f(x: float) -> float:\n    return x + random.random()\n", False),
    "seeded rng object": ("import random\n\ndef f(n: int) -> float:\n    rng = random.Random()\n"
                          "    return rng.choice([1.0, 2.0]) * n\n", False),
    "numpy random": ("import numpy as np\n\ndef f(x: float) -> float:\n    return x * np.random.normal()\n", False),
    "file read": ("def f(p: str) -> str:\n    with open(p) as fh:\n        return fh.read()\n", False),
    "print": ("def f(x: int) -> int:\n    print(x)\n    return x\n", False),
    "network": ("import urllib.request\n\ndef f(u: str) -> bytes:\n    return urllib.request.urlopen(u).read()\n",
                False),
    "nested function doing I/O": ("def f(x: int) -> int:\n    def show():\n        print(x)\n    show()\n"
                                  "    return x\n", False),
    "math": ("import math\n\ndef f(x: float) -> float:\n    return math.sqrt(x) * 2\n", True),
    "local list and numpy": ("import numpy as np\n\ndef f(x: float) -> float:\n    out = []\n    out.append(x)\n"
                             "    return float(np.log10(out[0]))\n", True),
    "in-memory csv": ("import csv\nimport io\n\ndef f(text: str) -> int:\n"
                      "    return sum(1 for _ in csv.DictReader(io.StringIO(text)))\n", True),
    "json.loads": ("import json\n\ndef f(text: str) -> int:\n    return len(json.loads(text))\n", True),
}


def _caching_proposal(source: str) -> Opportunity | None:
    """What the detector proposes for ``f`` called 100 times with two argument sets (0.1 s each)."""
    static = {k: v.to_json() for k, v in analyze_source(source, "prog.py").items()}
    stats = WindowStats(methods={"f": MethodStats(method="f", calls=100, mean=0.1, total=10.0, distinct_args=2)},
                        digests={"f": {"d1": [50, 0], "d2": [50, 0]}})
    found = find_opportunities(stats, LabTechnicianConfig(), static, detectors=["uncached_repeated_work"])
    return next((o for o in found if o.fix == "add_caching"), None)


@pytest.mark.parametrize("case", sorted(PURITY))
def test_the_detector_proposes_a_cache_exactly_where_the_caching_rule_applies_one(case: str) -> None:
    source, pure = PURITY[case]
    assert analyze_source(source, "prog.py")["prog.py::f"].pure is pure
    proposal = _caching_proposal(source)
    assert (proposal is not None) is pure
    opportunity = proposal or Opportunity(type="uncached_repeated_work", priority="high", description="d",
                                          fix="add_caching", signature="s", evidence={"repeat_fraction": 0.98})
    outcome = apply_fix(source, "f", opportunity)
    assert (outcome.status == "applied") is pure, outcome.reason
    if not pure:
        assert "not pure" in outcome.reason


def test_a_method_that_never_reads_self_is_pure_to_both_and_cached_through_a_helper() -> None:
    source = "class Model:\n    def f(self, x: float) -> float:\n        return x * 2.0\n"
    facts = analyze_source(source, "prog.py")["prog.py::Model.f"]
    assert facts.pure and not facts.reads_self
    opp = Opportunity(type="uncached_repeated_work", priority="high", description="d", fix="add_caching",
                      signature="s", evidence={"repeat_fraction": 0.98})
    outcome = apply_fix(source, "Model.f", opp)
    assert outcome.status == "applied" and "_cached_Model_f" in outcome.new_source


# -- network calls --------------------------------------------------------------------------------

def _real_call(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _timeout_opportunity() -> Opportunity:
    return Opportunity(type="missing_timeout", priority="high", description="d", fix="add_timeout", signature="s",
                       evidence={"already_retries": False, "own_retry": False, "typical_p75": 0.5})


@pytest.mark.parametrize("call", sorted(NETWORK_CALLS))
def test_every_network_call_the_facts_know_gets_a_timeout_where_the_real_call_takes_it(call: str) -> None:
    spec = NETWORK_CALLS[call]
    before = spec.timeout_at or 1           # arguments up to (not including) the timeout's position
    args = ", ".join(["a", *(["None"] * (before - 1))])
    source = f"import {call.rpartition('.')[0]}\n\n\ndef fetch(a):\n    return {call}({args})\n"
    [seen] = analyze_source(source, "prog.py")["prog.py::fetch"].network_calls
    assert seen["call"] == call and not seen["timeout"]
    outcome = apply_fix(source, "fetch", _timeout_opportunity())
    assert outcome.status == "applied", outcome.reason
    assert f"{call}({args}, timeout=3.0)" in outcome.new_source
    assert ("tenacity.retry" in outcome.new_source) is (spec.writes is not True)   # a retry only where nothing is written
    assert not analyze_source(outcome.new_source, "prog.py")["prog.py::fetch"].missing_timeouts
    # the real callable takes that keyword, and (where positional) the timeout at that index
    signature = inspect.signature(_real_call(call))
    bound = signature.bind_partial(*range(before), timeout=3.0)
    assert bound.arguments.get("timeout", bound.arguments.get("kwargs", {}).get("timeout")) == 3.0
    if spec.timeout_at is not None:
        positional = ", ".join(["a", *(["None"] * spec.timeout_at)])
        passed = source.replace(f"{call}({args})", f"{call}({positional})")
        assert not analyze_source(passed, "prog.py")["prog.py::fetch"].missing_timeouts
        assert apply_fix(passed, "fetch", _timeout_opportunity()).status == "skipped"
        try:
            assert signature.bind_partial(*range(spec.timeout_at + 1)).arguments["timeout"] == spec.timeout_at
        except TypeError:   # keyword-only on this Python (HTTPSConnection from 3.12): such a call cannot exist
            assert signature.parameters["timeout"].kind is inspect.Parameter.KEYWORD_ONLY


def test_a_call_hiding_its_arguments_is_neither_reported_nor_changed() -> None:
    source = "import requests\n\n\ndef fetch(*args, **kwargs):\n    return requests.get(*args, **kwargs)\n"
    assert not analyze_source(source, "prog.py")["prog.py::fetch"].missing_timeouts
    assert apply_fix(source, "fetch", _timeout_opportunity()).status == "skipped"


# -- decorators -----------------------------------------------------------------------------------

DECORATORS = {   # decorator: (imports, retries, caches, instrumented)
    "@tenacity.retry(stop=tenacity.stop_after_attempt(3))": ("import tenacity", True, False, False),
    "@backoff.on_exception(backoff.expo, ConnectionError)": ("import backoff", True, False, False),
    "@stamina.retry(on=ConnectionError)": ("import stamina", True, False, False),
    "@retry(tries=3)": ("from retry import retry", True, False, False),
    "@functools.lru_cache(maxsize=None)": ("import functools", False, True, False),
    "@cache": ("from functools import cache", False, True, False),
    "@cachetools.func.ttl_cache(maxsize=8)": ("import cachetools.func", False, True, False),
    "@instrument(digest_args=True)": ("from astroagent.telemetry import instrument", False, False, True),
    "@telemetry.instrument": ("from astroagent import telemetry", False, False, True),
    "@contextlib.contextmanager": ("import contextlib", False, False, False),
}


@pytest.mark.parametrize("decorator", sorted(DECORATORS))
def test_a_decorator_the_facts_call_a_retry_cache_or_timer_is_one_the_rules_skip(decorator: str) -> None:
    imports, retries, caches, instrumented = DECORATORS[decorator]
    source = f"{imports}\n\n\n{decorator}\ndef f(x: int) -> int:\n    return x + 1\n"
    facts = analyze_source(source, "prog.py")["prog.py::f"]
    assert (facts.retries, facts.caches, facts.instrumented) == (retries, caches, instrumented)
    for fix, expected in (("add_retry_mechanism", retries), ("add_caching", caches),
                          ("add_instrumentation", instrumented)):
        opp = Opportunity(type="frequent_error", priority="high", description="d", fix=fix, signature="s",
                          error_types=("ConnectionResetError",), evidence={"repeat_fraction": 0.98})
        outcome = apply_fix(source, "f", opp)
        assert (outcome.status == "skipped") is expected, (fix, outcome)
        assert outcome.status in ("skipped", "applied"), (fix, outcome)


# -- the import graph -----------------------------------------------------------------------------

def _imports(package: str) -> dict[str, set[str]]:
    """Module file → the astroagent modules it imports (relative imports resolved)."""
    out: dict[str, set[str]] = {}
    for file in sorted((LABTECH / package).glob("*.py")):
        here = f"astroagent.labtech.{package}"
        found: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*here.split(".")[:len(here.split(".")) - node.level + 1], *filter(None, [base])])
                found.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
        out[f"{package}/{file.name}"] = {name for name in found if name.startswith("astroagent")}
    return out


def _offending(package: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {file: sorted(n for n in names if n.startswith("astroagent.labtech") and n != "astroagent.labtech"
                        and not n.startswith(allowed))
           for file, names in _imports(package).items()}
    return {file: names for file, names in bad.items() if names}


def test_knowledge_is_a_leaf_fixes_read_only_knowledge_and_analysis_never_reads_fixes() -> None:
    assert _imports("knowledge") and _imports("fixes") and _imports("analysis")
    assert _offending("knowledge", ("astroagent.labtech.knowledge", "astroagent.labtech.models")) == {}
    assert _offending("fixes", ("astroagent.labtech.knowledge", "astroagent.labtech.models",
                                "astroagent.labtech.fixes")) == {}
    assert {file: [n for n in names if n.startswith("astroagent.labtech.fixes")]
            for file, names in _imports("analysis").items() if any(n.startswith("astroagent.labtech.fixes")
                                                                   for n in names)} == {}


def test_the_tables_analysis_checks_before_parsing_load_without_libcst() -> None:
    for module in ("exceptions", "network"):
        tree = ast.parse((LABTECH / "knowledge" / f"{module}.py").read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {n for n in names if n.split(".")[0] in ("libcst", "astroagent")}, (module, names)
    assert "libcst" in sys.modules    # the rest of this file needs it: the check above is on the source


_FAMILY_EXPRS = sorted({f.expr for fams in FAMILIES.values() for f in fams if f.expr and not f.http})


@pytest.mark.parametrize("families, http", [*(([expr], False) for expr in _FAMILY_EXPRS),
                                            (_FAMILY_EXPRS[:4], True), ([], True)])
def test_the_guard_and_the_fixes_recognise_the_same_own_retry(families: list[str], http: bool) -> None:
    """The guard (ast) and knowledge.decorators (LibCST) each recognise astroagent's own retry:
    they must agree on every retry the rule writes, families and HTTP predicate included."""
    import ast

    import libcst as cst

    from astroagent.labtech.changes._rules import retry_families
    from astroagent.labtech.knowledge.decorators import own_retry, retry_decorator

    deco = retry_decorator(families, http, attempts=5, max_delay=30, initial_wait=0.5, max_wait=8, jitter=0.5)
    source = cst.Module(body=[cst.FunctionDef(name=cst.Name("f"), params=cst.Parameters(),
                                              body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Pass()])]),
                                              decorators=[deco])]).code
    ours = own_retry(deco)
    guards = retry_families(ast.parse(source).body[0].decorator_list[0])
    assert ours is not None and guards is not None
    assert (sorted(ours.families), ours.http) == (sorted(guards[0]), guards[1]) == (sorted(families), http)
