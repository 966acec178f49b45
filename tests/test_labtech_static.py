"""LibCST static facts: size, complexity, retries, caches, impurity, timeouts, instrumentation."""

from __future__ import annotations

from pathlib import Path

from astroagent.labtech.static import analyze_files, analyze_source

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
