"""Property-based fuzzing of the safety guard (``labtech.guard.check_change``).

Two properties: the guard never raises, whatever it is given; and every proposal built from a
valid module by a generated rule-breaking mutation is flagged, naming the rule. The families:
file deletion, process spawning, network, dynamic code (each plain, aliased by ``import as``,
``from import``, ``from import as`` or assignment, the import at module top or inside the
function), removing a public function / class / method, removing or renaming a parameter,
adding a required one, changing a default, removing a log or telemetry call, widening an
``except`` to swallow errors (``Exception``, ``BaseException``, bare, a tuple, a builtin
parent class, ``contextlib.suppress``). Harmless edits (new bodies, private helpers, optional
keyword parameters) must still pass (no false alarm).
"""

from __future__ import annotations

import ast
import copy
import keyword

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astroagent.labtech.changes.guard import GuardReport, check_change

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

BASE = '''"""Fetch and reduce light curves."""

import json
import logging
import math
from pathlib import Path

from astroagent.telemetry import instrument

log = logging.getLogger(__name__)


@instrument
def fetch_curve(path, *, limit=100):
    """Read a light curve."""
    log.info("reading %s", path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        log.warning("missing %s", path)
        raise
    return json.loads(text)[:limit]


def normalise(values, scale=1.0):
    total = sum(values)
    if not total:
        log.error("empty curve")
        return []
    return [v * scale / total for v in values]


def period_guess(times, fluxes, min_period=0.5, max_period=20.0):
    try:
        best = max(zip(fluxes, times))[1]
    except ValueError:
        log.exception("no data")
        return None
    return min(max(best, min_period), max_period)


class Reducer:
    def __init__(self, window=5):
        self.window = window

    def smooth(self, values, passes=1):
        out = list(values)
        for _ in range(passes):
            out = [sum(out[max(0, i - self.window):i + 1]) for i in range(len(out))]
        log.debug("smoothed %d values", len(out))
        return out

    def _key(self, values):
        return hash(tuple(values))


def _helper(x):
    print("helper", x)
    return math.sqrt(x)
'''

# (rule, module, attribute): a capability the old module does not have
CAPABILITIES = [
    ("file-deletion", "os", "remove"), ("file-deletion", "os", "unlink"), ("file-deletion", "os", "rmdir"),
    ("file-deletion", "shutil", "rmtree"), ("file-deletion", "os", "replace"),
    ("process", "subprocess", "run"), ("process", "subprocess", "Popen"), ("process", "subprocess", "check_output"),
    ("process", "os", "system"), ("process", "os", "popen"), ("process", "os", "execv"), ("process", "pty", "spawn"),
    ("process", "multiprocessing", "Process"),
    ("network", "socket", "socket"), ("network", "socket", "create_connection"),
    ("network", "urllib.request", "urlopen"), ("network", "http.client", "HTTPConnection"),
    ("network", "smtplib", "SMTP"),
    ("dynamic-code", "builtins", "eval"), ("dynamic-code", "builtins", "exec"),
    ("dynamic-code", "builtins", "__import__"), ("dynamic-code", "builtins", "compile"),
    ("dynamic-code", "importlib", "import_module"),
]
FUNCTIONS = ["fetch_curve", "normalise", "period_guess", "Reducer.__init__", "Reducer.smooth", "Reducer._key",
             "_helper", "<module>"]
NAMES = st.from_regex(r"\A[a-z][a-z0-9]{0,5}\Z").filter(
    lambda n: not keyword.iskeyword(n) and n not in {"self", "path", "values", "text", "total", "best", "out"})


def _tree() -> ast.Module:
    return ast.parse(BASE)


def _find(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.ClassDef:
    body, node = tree.body, None
    for part in qualname.split("."):
        node = next(n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
        body = node.body
    assert node is not None
    return node


def _stmts(code: str) -> list[ast.stmt]:
    return ast.parse(code).body


@st.composite
def capability_mutation(draw) -> tuple[str, str]:
    """(new source, rule): one new dangerous call, in one of the ways code can name it."""
    rule, module, attr = draw(st.sampled_from(CAPABILITIES))
    alias = draw(NAMES)
    arg = draw(st.sampled_from(['"data/out.csv"', "path", '["ls", "-l"]', "x"]))
    style = draw(st.sampled_from(["plain", "import_as", "from", "from_as", "assign"]))
    builtin = module == "builtins"
    if builtin and style in ("plain", "import_as"):
        imports, call = "", f"{attr}({arg})"
    elif style == "plain":
        imports, call = f"import {module}", f"{module}.{attr}({arg})"
    elif style == "import_as":
        imports, call = f"import {module} as {alias}", f"{alias}.{attr}({arg})"
    elif style == "from":
        imports, call = f"from {module} import {attr}", f"{attr}({arg})"
    elif style == "from_as":
        imports, call = f"from {module} import {attr} as {alias}", f"{alias}({arg})"
    else:
        head = "" if builtin else f"import {module}\n"
        imports, call = head.strip(), f"{alias} = {attr if builtin else module + '.' + attr}\n{alias}({arg})"
    tree = _tree()
    where = draw(st.sampled_from(FUNCTIONS))
    body = tree.body if where == "<module>" else _find(tree, where).body
    at = draw(st.integers(1 if where == "<module>" else 0, len(body)))
    body[at:at] = _stmts(call)
    if imports:
        if draw(st.booleans()) or where == "<module>":
            tree.body[1:1] = _stmts(imports)
        else:
            body[at:at] = _stmts(imports)
    if draw(st.booleans()):  # harmless noise beside the hazard
        tree.body.append(_stmts(f"def _extra_{alias}(a, b=2):\n    return a + b")[0])
    return ast.unparse(tree), rule


def _public_defs() -> list[str]:
    return ["fetch_curve", "normalise", "period_guess", "Reducer", "Reducer.__init__", "Reducer.smooth"]


@st.composite
def api_mutation(draw) -> tuple[str, str]:
    tree = _tree()
    kind = draw(st.sampled_from(["remove_def", "remove_param", "rename_param", "add_required", "change_default"]))
    if kind == "remove_def":
        qual = draw(st.sampled_from(_public_defs()))
        parent = tree if "." not in qual else _find(tree, qual.rsplit(".", 1)[0])
        node = _find(tree, qual)
        parent.body.remove(node)
        if not parent.body:
            parent.body.append(ast.Pass())
        return ast.unparse(tree), "public-api"
    func = _find(tree, draw(st.sampled_from(["fetch_curve", "normalise", "period_guess", "Reducer.__init__",
                                             "Reducer.smooth"])))
    assert isinstance(func, ast.FunctionDef)
    args = func.args
    params = [("pos", i) for i, a in enumerate(args.args) if a.arg != "self"]
    params += [("kw", i) for i in range(len(args.kwonlyargs))]
    where, index = draw(st.sampled_from(params))
    if kind == "add_required":
        args.args.insert(len(args.args) - len(args.defaults), ast.arg(draw(NAMES).upper() or "NEW"))
        return ast.unparse(tree), "parameters"
    if kind == "change_default":
        defaulted = [a for a in args.defaults] + [d for d in args.kw_defaults if d is not None]
        target = draw(st.sampled_from(defaulted))
        target.value = (target.value or 0) + 1 if isinstance(target.value, (int, float)) else 1
        return ast.unparse(tree), "parameters"
    if kind == "rename_param":
        arg = args.args[index] if where == "pos" else args.kwonlyargs[index]
        arg.arg = arg.arg + "_renamed"
        return ast.unparse(tree), "parameters"
    if where == "pos":
        first_default = len(args.args) - len(args.defaults)
        if index >= first_default:
            del args.defaults[index - first_default]
        del args.args[index]
    else:
        del args.kwonlyargs[index]
        del args.kw_defaults[index]
    return ast.unparse(tree), "parameters"


def _log_calls(tree: ast.Module) -> list[tuple[list, int]]:
    found = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            for i, stmt in enumerate(body):
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                    name = ast.unparse(stmt.value.func)
                    if name.startswith("log.") or name == "print":
                        found.append((body, i))
    return found


@st.composite
def logging_mutation(draw) -> tuple[str, str]:
    tree = _tree()
    if draw(st.integers(0, 5)) == 0:
        func = _find(tree, "fetch_curve")
        func.decorator_list.clear()
        return ast.unparse(tree), "logging"
    calls = _log_calls(tree)
    body, i = calls[draw(st.integers(0, len(calls) - 1))]
    body[i] = ast.Pass() if draw(st.booleans()) else ast.Expr(ast.Constant("log call gone"))
    return ast.unparse(tree), "logging"


@st.composite
def except_mutation(draw) -> tuple[str, str]:
    tree = _tree()
    handlers = [n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)]
    handler = draw(st.sampled_from(handlers))
    kind = draw(st.sampled_from(["Exception", "BaseException", "bare", "tuple", "parent", "suppress"]))
    if kind == "suppress":
        func = _find(tree, draw(st.sampled_from(["normalise", "Reducer.smooth", "_helper"])))
        assert isinstance(func, ast.FunctionDef)
        broad = draw(st.sampled_from(["Exception", "BaseException"]))
        wrapped = _stmts(f"with contextlib.suppress({broad}):\n    pass")[0]
        wrapped.body = func.body[:-1] or [ast.Pass()]
        func.body = [wrapped, func.body[-1]]
        tree.body[1:1] = _stmts("import contextlib")
        return ast.unparse(tree), "except-widened"
    if kind == "parent":
        old = ast.unparse(handler.type)
        parent = {"FileNotFoundError": "OSError", "ValueError": "Exception"}[old]
        handler.type = ast.Name(parent)
    # widening only breaks the rule when the handler swallows (a re-raising one hides nothing)
    handler.body = [s for s in handler.body if not isinstance(s, ast.Raise)] or [ast.Pass()]
    if kind == "parent":
        return ast.unparse(tree), "except-widened"
    if kind == "bare":
        handler.type = None
    elif kind == "tuple":
        handler.type = ast.Tuple([copy.deepcopy(handler.type), ast.Name("Exception")])
    else:
        handler.type = ast.Name(kind)
    return ast.unparse(tree), "except-widened"


@st.composite
def harmless_mutation(draw) -> str:
    tree = _tree()
    name = draw(NAMES)
    kind = draw(st.sampled_from(["helper", "public_with_default", "constant", "docstring", "keyword_default"]))
    if kind == "helper":
        tree.body.append(_stmts(f"def _{name}(a):\n    return [a] * 2")[0])
    elif kind == "public_with_default":
        # a private helper (a new public function is outside the allow-list; the deny-list let it pass)
        tree.body.append(_stmts(f"def _new_{name}(a, b=None):\n    log.info('new %s', a)\n    return a")[0])
    elif kind == "constant":
        func = _find(tree, "normalise")
        func.body.insert(0, _stmts(f"{name}_unused = {draw(st.integers(0, 10**6))}")[0])
    elif kind == "docstring":
        func = _find(tree, "period_guess")
        func.body.insert(0, ast.Expr(ast.Constant(draw(st.text(max_size=40)))))
    else:
        func = _find(tree, "normalise")
        assert isinstance(func, ast.FunctionDef)
        func.args.kwonlyargs.append(ast.arg(f"{name}_opt"))
        func.args.kw_defaults.append(ast.Constant(None))
    return ast.unparse(tree)


def _assert_flagged(new: str, rule: str) -> None:
    report = check_change(BASE, new, path="experimenter/curves.py")
    assert isinstance(report, GuardReport)
    assert not report.ok, f"guard let a {rule} change through:\n{new}"
    assert any(f": {rule}: " in line for line in report.violations), (rule, report.violations)


def test_the_unparsed_base_is_itself_acceptable() -> None:
    assert check_change(BASE, ast.unparse(_tree())).ok


@FUZZ
@given(capability_mutation())
def test_a_new_dangerous_call_is_always_flagged(case: tuple[str, str]) -> None:
    _assert_flagged(*case)


@FUZZ
@given(st.one_of(api_mutation(), logging_mutation(), except_mutation()))
def test_removed_api_params_logs_and_widened_excepts_are_always_flagged(case: tuple[str, str]) -> None:
    _assert_flagged(*case)


@settings(max_examples=100, deadline=None, database=None)
@given(harmless_mutation())
def test_harmless_edits_pass(new: str) -> None:
    report = check_change(BASE, new)
    assert report.ok, report.violations


SNIPPETS = ["import os", "x = 1", "def f(a):", "    return a", "class C:", "    pass", "try:", "except:", "    raise",
            "lambda: (", ")", "[" * 300, "]" * 300, "-" * 3000 + "1", "a." * 2000 + "b", "\x00", "\ud800", "\t",
            "@instrument", "async def g(*, k=1):", "    await x", "if True:", "else:", "yield", "f'{x!r:>{y}}'",
            "match x:", "    case [1, *r]:", "def h(a, /, b, *c, d, **e): ...", "type X = int", "𝔘 = 2"]


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=400),
    st.binary(max_size=400).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.lists(st.sampled_from(SNIPPETS), max_size=25).map("\n".join),
    st.builds(lambda depth, op: "x = " + op[0] * depth + "1" + op[1] * depth,
              st.integers(50, 20000), st.sampled_from([("(", ")"), ("[", "]"), ("-", ""), ("not ", ""), ("~", "")])),
    st.builds(lambda depth: "\n".join(" " * i + "if x:" for i in range(depth)) + "\n" + " " * depth + "pass",
              st.integers(1, 150)),
), st.sampled_from(["base", "same", "junk"]))
def test_the_guard_never_raises_on_any_proposal(proposal: str, old_kind: str) -> None:
    old = BASE if old_kind == "base" else proposal if old_kind == "same" else proposal[::-1]
    report = check_change(old, proposal, path="experimenter/x.py")
    assert isinstance(report, GuardReport) and isinstance(report.ok, bool)
    assert report.ok == (not report.violations)


def test_the_guard_never_raises_on_non_text() -> None:
    for old, new in [(BASE, None), (BASE, b"def f(): pass"), (None, BASE), (123, 4.5), (BASE, ["x"])]:
        report = check_change(old, new)  # type: ignore[arg-type]
        assert isinstance(report, GuardReport)
        if new is not BASE:
            assert not report.ok


# Ways hostile code can reach a capability without naming it the usual way. The guard must flag
# each (any rule); MISSED were gaps until the guard learned their shapes (module as a value, …).
EVASIONS = {
    "getattr-literal": "import os\ngetattr(os, 'remove')('x')",
    "star-import": "from os import *\nremove('x')",
    "two-hop-alias": "import os\na = os\nb = a\nb.remove('x')",
    "walrus": "import os\n(r := os.remove)('x')",
    "unbound-method": "from pathlib import Path\nPath.unlink(Path('x'))",
    "class-attribute": "import os\nclass K:\n    r = os.remove\nK.r('x')",
    "default-argument": "import os\ndef z(f=os.remove):\n    f('x')",
    "vars-of-module": "import os\nvars(os)['remove']('x')",
    "from-package-import": "from urllib import request\nrequest.urlopen('http://x')",
    "ctypes": "import ctypes\nctypes.CDLL(None).system(b'ls')",
}
MISSED = {
    "module-in-a-list": "import os\n[os][0].remove('x')",
    "sys-modules": "import sys\nsys.modules['os'].remove('x')",
    "module-dict": "import os\nos.__dict__['remove']('x')",
    "module-from-a-lambda": "import os\n(lambda: os)().remove('x')",
    "bound-method-reference": "from pathlib import Path\nf = Path('x').unlink\nf()",
    "timeit-runs-a-string": "import timeit\ntimeit.timeit('1')",
    "builtins-subscript": "m = __builtins__['__import__']('os')",
}


def test_evasive_spellings_of_a_capability_are_flagged() -> None:
    missed = [name for name, code in EVASIONS.items() if check_change(BASE, BASE + "\n" + code + "\n").ok]
    assert not missed


@pytest.mark.parametrize("name", sorted(MISSED))
def test_known_gaps_in_the_guard(name: str) -> None:
    assert not check_change(BASE, BASE + "\n" + MISSED[name] + "\n").ok
