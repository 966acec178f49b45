"""LibCST static facts: size, complexity, retries, caches, impurity, timeouts, instrumentation."""

from __future__ import annotations

from pathlib import Path

from astroagent.labtech.analysis.static import analyze_files, analyze_source

SOURCE = '''
import functools
import random
import time
from urllib.request import urlopen as get
import requests
import tenacity
from astroagent.telemetry import instrument

CACHE = {}

@instrument(digest_args=True)
def fetch_dataset(name, base_url):
    with get(f"{base_url}/data/{name}.csv") as resp:
        return resp.read()

def fetch_ok(url):
    return requests.get(url, timeout=5).text

@tenacity.retry(stop=tenacity.stop_after_attempt(3))
def fetch_retried(url):
    return requests.get(url).text

def period_stats(values, n):
    total = 0.0
    for v in values:
        if v > 0 and n:
            total += v / n
    return total

@functools.lru_cache(maxsize=None)
def doubled(x):
    return x * 2

def impure(xs, d):
    global CACHE
    xs.append(1)
    d["k"] = 2
    print("hi")
    return random.random() + time.time()

class Model:
    def fit(self, data):
        for attempt in range(3):
            try:
                return sum(data)
            except ValueError:
                time.sleep(1)

    def gen(self):
        yield 1
'''


def test_facts_per_function() -> None:
    facts = analyze_source(SOURCE, "experimenter/fetch.py")
    f = facts["experimenter/fetch.py::fetch_dataset"]
    assert f.instrumented and not f.pure and f.missing_timeouts[0]["call"] == "urllib.request.urlopen"
    assert not facts["experimenter/fetch.py::fetch_ok"].missing_timeouts
    retried = facts["experimenter/fetch.py::fetch_retried"]
    assert retried.retries and retried.missing_timeouts
    stats = facts["experimenter/fetch.py::period_stats"]
    assert stats.pure and stats.complexity == 4 and stats.lines == 6
    assert facts["experimenter/fetch.py::doubled"].caches
    kinds = " ".join(facts["experimenter/fetch.py::impure"].impurity)
    for word in ("global mutation", "xs.append", "assigns into 'd'", "builtins.print", "random.random", "time.time"):
        assert word in kinds
    fit = facts["experimenter/fetch.py::Model.fit"]
    assert fit.is_method and fit.retries
    assert facts["experimenter/fetch.py::Model.gen"].is_generator


def test_unparsable_source_gives_no_facts() -> None:
    assert analyze_source("def broken(:\n", "x.py") == {}


def test_files_are_keyed_relative_to_the_workspace_and_cached(tmp_path: Path) -> None:
    pkg = tmp_path / "experimenter"
    pkg.mkdir()
    (pkg / "fetch.py").write_text(SOURCE)
    cache: dict = {}
    facts = analyze_files([pkg / "fetch.py"], tmp_path, cache)
    assert "experimenter/fetch.py::period_stats" in facts and facts["experimenter/fetch.py::period_stats"]["pure"]
    assert cache["experimenter/fetch.py"]["hash"]
    again = analyze_files([pkg / "fetch.py"], tmp_path, cache)
    assert again == facts


CALLS = '''
from urllib.request import urlopen
import numpy as np


def fetch_rows(url):
    with urlopen(url) as resp:
        return resp.read().splitlines()


def absolute_magnitudes(url, distance_pc):
    rows = fetch_rows(url)
    return [float(r) - 5 * np.log10(distance_pc / 10) for r in rows]


def report(url):
    return max(absolute_magnitudes(url, 100.0))


def ping(n):
    return pong(n - 1) if n else log_it(n)


def pong(n):
    return ping(n)


def log_it(n):
    print(n)
    return n


def even(n):
    return n == 0 or odd(n - 1)


def odd(n):
    return n != 0 and even(n - 1)


class Catalog:
    def load(self, url):
        return self._raw(url)

    def _raw(self, url):
        return fetch_rows(url)

    def scale(self, x):
        return even(x)
'''


def test_impurity_follows_calls_within_the_module_transitively_and_through_cycles() -> None:
    facts = analyze_source(CALLS, "experimenter/catalog.py")
    f = {k.split("::")[1]: v for k, v in facts.items()}
    mags = f["absolute_magnitudes"]
    assert not mags.pure and mags.impurity == ["calls fetch_rows (network: urlopen)"]
    assert mags.to_json()["pure"] is False
    assert f["report"].impurity == ["calls absolute_magnitudes -> fetch_rows (network: urlopen)"]
    assert f["ping"].impurity == ["calls log_it (I/O: print)"]                   # a cycle that reaches print
    assert f["pong"].impurity == ["calls ping -> log_it (I/O: print)"]
    assert f["even"].pure and f["odd"].pure                                      # a pure cycle stays pure
    assert f["Catalog.load"].impurity == ["calls Catalog._raw -> fetch_rows (network: urlopen)"]
    assert f["Catalog.scale"].pure


def test_facts_cached_by_an_older_analysis_are_recomputed(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "catalog.py").write_text(CALLS)
    stale = hashlib.blake2b(CALLS.encode(), digest_size=12).hexdigest()     # the hash before FACTS_VERSION
    cache = {"catalog.py": {"hash": stale, "facts": {"catalog.py::absolute_magnitudes": {"pure": True}}}}
    facts = analyze_files([tmp_path / "catalog.py"], tmp_path, cache)
    assert facts["catalog.py::absolute_magnitudes"]["pure"] is False
    assert facts["catalog.py::absolute_magnitudes"]["impurity"] == ["calls fetch_rows (network: urlopen)"]


def test_the_cache_rule_purity_check_follows_deep_chains_and_cycles() -> None:
    import libcst as cst

    from astroagent.labtech.knowledge.purity import function_effects

    chain = "".join(f"def f{i}(x):\n    return f{i + 1}(x)\n\n\n" for i in range(6))
    src = chain + "def f6(x):\n    return f0(x) if x else open(x).read()\n\n\ndef g(x):\n    return h(x)\n\n\n" \
        "def h(x):\n    return g(x - 1) if x else 0\n"
    effects = function_effects(cst.parse_module(src))
    assert effects["f0"] == ["calls f1 -> f2 -> f3 -> f4 -> f5 -> f6 (I/O: open)"]
    assert effects["g"] == [] and effects["h"] == []
