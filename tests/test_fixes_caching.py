"""add_caching: only pure functions with hashable arguments and repeated-argument evidence get a cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _modload import load_module
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.models import Opportunity
from astroagent.telemetry import Telemetry


def _opp(**evidence) -> Opportunity:
    evidence = evidence or {"repeated_args": 0.9, "distinct_args": 8}
    return Opportunity(type="uncached_repeated_work", priority="medium", description="same args again",
                       signature="sig", fix="add_caching", evidence=evidence)



PURE = '''"""Stellar physics."""
import math

from astroagent.telemetry import instrument


@instrument
def luminosity(mass: float, exponent: float = 3.5) -> float:
    # the slow part, on purpose
    total = 0.0
    for step in range(1, 20001):
        total += math.sqrt(mass ** exponent) / step
    return total
'''

PURE_AFTER = '''"""Stellar physics."""
import math

from astroagent.telemetry import instrument
import functools


@instrument
@functools.lru_cache(maxsize=32, typed=True)
def luminosity(mass: float, exponent: float = 3.5) -> float:
    # the slow part, on purpose
    total = 0.0
    for step in range(1, 20001):
        total += math.sqrt(mass ** exponent) / step
    return total
'''


def test_before_after_pair_cache_below_instrument():
    outcome = apply_fix(PURE, "luminosity", _opp())
    assert outcome.status == "applied", outcome.reason
    assert outcome.new_source == PURE_AFTER
    assert "still timed" in outcome.reason
    assert check_change(PURE, outcome.new_source, kind="rule:add_caching").ok


def test_second_run_is_skipped():
    first = apply_fix(PURE, "luminosity", _opp())
    again = apply_fix(first.new_source, "luminosity", _opp())
    assert again.status == "skipped" and "already cached" in again.reason


@pytest.mark.parametrize("decorator", ["@functools.lru_cache(maxsize=None)", "@functools.cache",
                                       "@cachetools.cached(cachetools.LRUCache(10))"])
def test_already_cached_is_skipped(decorator):
    src = f"import functools, cachetools\n\n{decorator}\ndef f(x: int) -> int:\n    return x\n"
    assert apply_fix(src, "f", _opp()).status == "skipped"


IMPURE = {
    "random": "import random\n\ndef f(x: float) -> float:\n    return x + random.random()\n",
    "numpy random": "import numpy as np\n\ndef f(x: float) -> float:\n    return x * np.random.normal()\n",
    "clock": "from time import time\n\ndef f(x: float) -> float:\n    return x + time()\n",
    "datetime": "import datetime\n\ndef f(x: int) -> str:\n    return str(datetime.datetime.now())\n",
    "file read": "def f(p: str) -> str:\n    with open(p) as fh:\n        return fh.read()\n",
    "print": "def f(x: int) -> int:\n    print(x)\n    return x\n",
    "global": "TOTAL = 0\n\ndef f(x: int) -> int:\n    global TOTAL\n    TOTAL += x\n    return TOTAL\n",
    "module state": "SEEN = {}\n\ndef f(x: int) -> int:\n    SEEN[x] = 1\n    return x\n",
    "module append": "SEEN = []\n\ndef f(x: int) -> int:\n    SEEN.append(x)\n    return x\n",
    "network": "import urllib.request\n\ndef f(u: str) -> bytes:\n    return urllib.request.urlopen(u).read()\n",
    "impure helper": "import random\n\ndef g():\n    return random.random()\n\ndef f(x: int) -> float:\n    return x + g()\n",
    "generator": "def f(x: int):\n    yield x\n",
    "async": "async def f(x: int) -> int:\n    return x\n",
}


@pytest.mark.parametrize("case", sorted(IMPURE))
def test_impure_functions_are_rejected(case):
    outcome = apply_fix(IMPURE[case], "f", _opp())
    assert outcome.status == "rejected", (case, outcome)
    assert outcome.new_source is None and outcome.reason


@pytest.mark.parametrize("signature, why", [
    ("xs: list[float]", "is not hashable"),
    ("xs: np.ndarray", "is not hashable"),
    ("opts: dict", "is not hashable"),
    ("xs: 'Dict[str, int]'", "is not hashable"),
    ("xs: tuple = []", "mutable default"),
    ("xs: tuple = list()", "mutable default"),
    ("*xs: list", "is not hashable"),
])
def test_unhashable_arguments_are_rejected(signature, why):
    src = f"import numpy as np\n\ndef f({signature}) -> float:\n    return 1.0\n"
    outcome = apply_fix(src, "f", _opp())
    assert outcome.status == "rejected" and why in outcome.reason


@pytest.mark.parametrize("signature", ["x: int, name: str = 'a', flag: bool = False",
                                       "x: tuple[int, ...], y: 'float | None' = None",
                                       "x: Optional[int] = None, *, k=3", "*xs: float, **kw: str"])
def test_hashable_arguments_are_accepted(signature):
    src = f"from typing import Optional\n\ndef f({signature}) -> float:\n    return 1.0\n"
    assert apply_fix(src, "f", _opp()).status == "applied"


def test_argument_mutation_is_rejected():
    src = "def f(x: tuple, acc: frozenset = frozenset()) -> int:\n    acc.add(1)\n    return len(x)\n"
    outcome = apply_fix(src, "f", _opp())
    assert outcome.status == "rejected" and "argument mutation: acc.add()" in outcome.reason


def test_no_repeated_argument_evidence_is_rejected():
    outcome = apply_fix(PURE, "luminosity", _opp(repeated_args=0.0))
    assert outcome.status == "rejected" and "args_digest" in outcome.reason


MODEL = '''class Model:
    """A model."""

    def __init__(self, k: float):
        self.k = k

    def scaled(self, x: float) -> float:
        return self.k * x

    def power(self, x: float, *, y: int = 2) -> float:
        """Raise x to y."""
        # the body moves into a cached helper
        return x ** y

    @staticmethod
    def double(x: int) -> int:
        return x * 2

    def outer(self, x: int) -> int:
        def inner(y: int) -> int:
            return y
        return inner(x)
'''


def test_method_reading_self_is_refused_with_the_reason():
    outcome = apply_fix(MODEL, "Model.scaled", _opp())
    assert outcome.status == "rejected" and "reads self" in outcome.reason


def test_method_not_reading_self_delegates_to_a_cached_helper(tmp_path):
    outcome = apply_fix(MODEL, "Model.power", _opp())
    assert outcome.status == "applied" and "not keyed on it" in outcome.reason
    new = outcome.new_source
    assert "@functools.lru_cache(maxsize=32, typed=True)\ndef _cached_Model_power(x: float, *, y: int = 2) -> float:" in new
    assert '        """Raise x to y."""\n        return _cached_Model_power(x, y=y)' in new
    assert "# the body moves into a cached helper" in new
    assert check_change(MODEL, new, kind="rule:add_caching").ok
    assert apply_fix(new, "Model.power", _opp()).status == "skipped"
    module = load_module(tmp_path, "model_cache_mod", new)
    assert module.Model(1.0).power(3.0, y=3) == 27.0
    assert module._cached_Model_power.cache_info().currsize == 1


def test_staticmethod_gets_the_cache_directly_and_nested_functions_are_refused():
    outcome = apply_fix(MODEL, "Model.double", _opp())
    assert outcome.status == "applied"
    assert "    @staticmethod\n    @functools.lru_cache(maxsize=32, typed=True)\n    def double" in outcome.new_source
    nested = apply_fix(MODEL, "Model.outer.inner", _opp())
    assert nested.status == "rejected" and "nested" in nested.reason


def test_cache_size_follows_the_evidence_within_bounds():
    assert "maxsize=1024" in apply_fix(PURE, "luminosity", _opp(repeated_args=0.5, distinct_args=5000)).new_source
    assert "maxsize=256" in apply_fix(PURE, "luminosity", _opp(repeated_args=0.5)).new_source


def test_cached_pure_function_returns_identical_results_at_least_3x_faster(tmp_path):
    original = load_module(tmp_path, "pure_orig_mod", PURE.replace("luminosity", "luminosity"))
    cached = load_module(tmp_path, "pure_cached_mod", apply_fix(PURE, "luminosity", _opp()).new_source)
    args = [1.0, 1.5, 2.0] * 10

    def timed(fn):
        start = time.perf_counter()
        results = [fn(m) for m in args]
        return results, time.perf_counter() - start

    before, slow = timed(original.luminosity)
    after, fast = timed(cached.luminosity)
    assert after == before
    assert slow / fast >= 3, (slow, fast)


def test_instrument_above_the_cache_still_times_every_call(tmp_path):
    cached = load_module(tmp_path, "pure_tel_mod", apply_fix(PURE, "luminosity", _opp()).new_source)
    tel = Telemetry("experimenter", tmp_path / "data")
    with tel.execution(code_version="v2"):
        for _ in range(4):
            cached.luminosity(2.0)
    events = b"".join(p.read_bytes() for p in (tmp_path / "data" / "logs" / "experimenter").glob("execution_*"))
    assert events.count(b'"method_complete"') == 4


GRID = '''import math

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def zams_grid(m_min, m_max, n_points):
    """A grid of points (a list: mutable)."""
    rows = []
    for i in range(n_points):
        x = m_min + (m_max - m_min) * i / (n_points - 1)
        rows.append((x, sum(math.sin(x * k) for k in range(300))))
    return rows
'''


def test_unannotated_arguments_and_mutable_results_get_the_guarded_cache(tmp_path):
    outcome = apply_fix(GRID, "zams_grid", _opp())
    assert outcome.status == "applied", outcome.reason
    new = outcome.new_source
    assert "@instrument(digest_args=True)\n@_astroagent_lru_cache(maxsize=32)\ndef zams_grid" in new
    assert any("not provably hashable" in w for w in outcome.warnings)
    assert check_change(GRID, new, kind="rule:add_caching").ok
    assert apply_fix(new, "zams_grid", _opp()).status == "skipped"
    original = load_module(tmp_path, "grid_orig_mod", GRID)
    cached = load_module(tmp_path, "grid_cached_mod", new)
    first = cached.zams_grid(0.5, 2.0, 200)
    assert first == original.zams_grid(0.5, 2.0, 200)
    first.clear()                                   # a caller changing its result ...
    assert cached.zams_grid(0.5, 2.0, 200) == original.zams_grid(0.5, 2.0, 200)   # ... cannot change the cache
    assert cached.zams_grid.cache_info().hits == 1

    start = time.perf_counter()
    slow = [original.zams_grid(0.5, 2.0, 200) for _ in range(20)]
    mid = time.perf_counter()
    fast = [cached.zams_grid(0.5, 2.0, 200) for _ in range(20)]
    end = time.perf_counter()
    assert fast == slow and (mid - start) / (end - mid) >= 3


def test_guarded_cache_runs_unhashable_calls_uncached_instead_of_failing(tmp_path):
    src = "def total(xs, scale):\n    return sum(xs) * scale\n"
    module = load_module(tmp_path, "guarded_total_mod", apply_fix(src, "total", _opp()).new_source)
    assert module.total([1, 2], 2) == 6 and module.total([1, 2], 2) == 6
    assert module.total((1, 2), 2) == 6 and module.total((1, 2), 2) == 6
    info = module.total.cache_info()
    assert (info.hits, info.misses) == (1, 1)
