"""A corpus of proposals for the safety guard: hostile ones it must refuse and sound ones it must accept.

Each case is a small (target, proposed, change kind, expected verdict, why). The targets are realistic
pieces of Experimenter code; the proposals are written the way a careless or hostile code generator
would write them (one module per kind of attack), and the sound ones are real bug fixes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Case", "BASE", "PROC", "edit", "append", "all_cases"]


@dataclass(frozen=True)
class Case:
    id: str
    kind: str                      # what the proposal tries (the corpus counts per kind)
    proposed: str | bytes
    ok: bool                       # the verdict the guard must give
    why: str
    rule: str | None = None        # the rule a refusal must name (None: any)
    change: str | None = "llm"     # the guard kind: llm, rule:<fix>, or None (any known shape)
    functions: tuple[str, ...] | None = None
    target: str | bytes = ""


BASE = '''"""Light-curve tools for the Experimenter."""
import logging
import math
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from astroagent.telemetry import instrument
from astroagent.telemetry.instrument import Telemetry

log = logging.getLogger(__name__)
ARCHIVE = "http://127.0.0.1:8750"
DEFAULT_SIGMA = 3.0
__all__ = ["fetch", "status", "sigma_clip", "period", "parse_row", "Fitter"]


@instrument
def fetch(name, retries=3, *, timeout=10.0):
    """Download one light curve."""
    log.info("fetching %s", name)
    try:
        with urllib.request.urlopen(f"{ARCHIVE}/{name}", timeout=timeout) as response:
            return response.read()
    except ConnectionResetError:
        log.warning("reset while fetching %s", name)
        raise


def status(name):
    try:
        return urllib.request.urlopen(f"{ARCHIVE}/status/{name}", timeout=5).status
    except urllib.error.HTTPError:
        return None


def sigma_clip(values, nsigma=DEFAULT_SIGMA):
    data = list(values)
    while len(data) > 2:
        mean = sum(data) / len(data)
        std = math.sqrt(sum((v - mean) ** 2 for v in data) / len(data))
        outliers = [v for v in data if abs(v - mean) > nsigma * std]
        if not outliers:
            break
        for v in outliers:
            data.remove(v)
    return data


def period(times, fluxes, lo=0.5, hi=20.0):
    try:
        best = float(times[int(np.argmax(fluxes))])
    except ValueError:
        log.exception("no data")
        return None
    return min(max(best, lo), hi)


def parse_row(row):
    try:
        return float(row["flux"])
    except Exception:
        return None


def cache_path(name):
    return Path(os.environ.get("LC_CACHE", "cache")) / name


def save(name, data):
    path = cache_path(name)
    path.write_bytes(data)
    return path


def cleanup(path):
    os.remove(path)


def catalog():
    with urllib.request.urlopen(f"{ARCHIVE}/catalog") as response:
        return response.read()


class Fitter:
    def __init__(self, order=2):
        self.order = order

    @instrument
    def fit(self, x, y):
        log.debug("fitting %d points", len(x))
        coeffs = np.polyfit(x, y, self.order)
        return coeffs

    def _residuals(self, x, y, coeffs):
        return y - np.polyval(coeffs, x)
'''

# a program that already runs a process (so spawning is not new to the file, only to a function)
PROC = '''"""Record which code version produced a result."""
import subprocess

_sp = subprocess


def code_version():
    done = _sp.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _run_git(args):
    return _sp.run(["git", *args], capture_output=True, text=True, check=True).stdout


def describe():
    return _run_git(["describe", "--tags"])


def label(result):
    return {"result": result, "version": code_version()}
'''


def edit(old: str, new: str, source: str = BASE, count: int = 1) -> str:
    """``source`` with ``old`` replaced by ``new`` (``old`` must be there: a corpus typo fails loudly)."""
    if old not in source:
        raise AssertionError(f"corpus edit not found: {old[:60]!r}")
    return source.replace(old, new, count)


def append(code: str, source: str = BASE) -> str:
    return source + "\n\n" + code.strip("\n") + "\n"


def all_cases() -> list[Case]:
    from . import api, dynamic, errors, evidence, files, network, processes, rules, sound  # noqa: PLC0415

    cases: list[Case] = []
    for module in (evidence, errors, dynamic, processes, network, files, api, rules, sound):
        cases += module.CASES
    return [c if c.target else Case(**{**c.__dict__, "target": BASE}) for c in cases]
