"""add_instrumentation: @instrument on a function that fails without timings; the logs then see it."""

from __future__ import annotations


import pytest

from _modload import load_module
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.models import Opportunity
from astroagent.telemetry import Telemetry

OPP = Opportunity(type="missing_instrumentation", priority="low", description="no timings", signature="sig",
                  fix="add_instrumentation")

SRC = '''"""Transit search."""
import functools


def search(period: float) -> float:
    # fails on bad periods
    return 1.0 / period


class Finder:
    @staticmethod
    @functools.lru_cache(maxsize=8)
    def fold(x: int) -> int:
        return x
'''

AFTER = '''"""Transit search."""
import functools
from astroagent.telemetry import instrument


@instrument
def search(period: float) -> float:
    # fails on bad periods
    return 1.0 / period


class Finder:
    @staticmethod
    @functools.lru_cache(maxsize=8)
    def fold(x: int) -> int:
        return x
'''


def test_before_after_pair_and_idempotency():
    outcome = apply_fix(SRC, "search", OPP)
    assert outcome.status == "applied" and outcome.new_source == AFTER
    assert apply_fix(AFTER, "search", OPP).status == "skipped"
    assert check_change(SRC, AFTER, kind="rule:add_instrumentation").ok


def test_instrument_goes_above_a_cache_and_below_staticmethod():
    new = apply_fix(SRC, "Finder.fold", OPP).new_source
    assert "    @staticmethod\n    @instrument\n    @functools.lru_cache(maxsize=8)\n    def fold" in new


@pytest.mark.parametrize("src", ["async def search(p):\n    return p\n", "def search(p):\n    yield p\n"])
def test_async_and_generators_are_refused(src):
    assert apply_fix(src, "search", OPP).status == "rejected"


def test_instrumented_function_failures_reach_the_logs(tmp_path):
    module = load_module(tmp_path, "instr_mod", apply_fix(SRC, "search", OPP).new_source)
    tel = Telemetry("experimenter", tmp_path / "data")
    with pytest.raises(ZeroDivisionError):
        with tel.execution(code_version="v1"):
            module.search(0.0)
    logged = b"".join(p.read_bytes() for p in (tmp_path / "data" / "logs" / "experimenter").glob("execution_*"))
    assert b'"method_failed"' in logged and b"ZeroDivisionError" in logged and b"search" in logged


def test_instrument_goes_above_the_cache_astroagent_wrote_so_cache_hits_are_timed_too():
    src = "def depth(x):\n    return x * x\n"
    cached = apply_fix(src, "depth", Opportunity(type="uncached_repeated_work", priority="high", description="d",
                                                 signature="c", fix="add_caching",
                                                 evidence={"repeat_fraction": 0.8})).new_source
    new = apply_fix(cached, "depth", OPP).new_source
    assert new.index("@instrument") < new.index("@_astroagent_lru_cache")
