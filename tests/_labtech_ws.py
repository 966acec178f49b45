"""Small hand-made research workspaces for the Lab Technician's improvement tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

COMPUTE = '''\
"""Arithmetic the tests check."""


def square(x):
    """The square of x."""
    return x * x


def mean(values):
    return sum(values) / len(values)
'''

TEST_COMPUTE = '''\
from experimenter.compute import mean, square


def test_square():
    assert square(3) == 9


def test_mean():
    assert mean([1, 2, 3]) == 2
'''


def make_workspace(root: Path, files: dict[str, str] | None = None, *, config: str = "") -> Path:
    """A workspace with ``experimenter/compute.py`` and its test, plus ``files`` (path → text)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "astroagent.yaml").write_text(textwrap.dedent(config) or "lab_technician: {}\n")
    layout = {"experimenter/__init__.py": "", "experimenter/compute.py": COMPUTE,
              "tests/test_compute.py": TEST_COMPUTE, **(files or {})}
    for rel, text in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "data").mkdir(exist_ok=True)
    return root


FETCH = '''\
"""Fetch a dataset from the archive."""

import urllib.request

from astroagent.telemetry import instrument


@instrument
def fetch_dataset(url):
    """The raw bytes at url."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()
'''

TEST_FETCH = '''\
from pathlib import Path

from experimenter.fetch import fetch_dataset


def test_fetch_reads_a_local_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b\\n1,2\\n")
    assert fetch_dataset(path.as_uri()) == b"a,b\\n1,2\\n"
'''

RUNNER = '''\
"""Run N executions of the workspace's Experimenter code with telemetry; print how many succeeded."""
import sys
from pathlib import Path

ws, url, n, mode = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, str(ws))
from astroagent.telemetry import Telemetry, package_code_version

tel = Telemetry("experimenter", ws / "data", code_roots=[ws / "experimenter"], location_base=ws)
version = package_code_version(ws / "experimenter")
ok = 0
results = []
import time
start = time.perf_counter()
for i in range(n):
    try:
        with tel.execution(code_version=version):
            if mode == "fetch":
                from experimenter.fetch import fetch_dataset
                results.append(len(fetch_dataset(url)))
            elif mode == "model":
                from experimenter.model import model_flux
                results.append(sum(model_flux(2.5, 120000) for _ in range(4)))
            elif mode == "ratio":
                from experimenter.stats import ratio
                results.append(ratio(1.0, 0.0))
            elif mode == "noisy":
                from experimenter.model import noisy_flux
                results.append(noisy_flux(2.5))
        ok += 1
    except Exception:
        pass
elapsed = time.perf_counter() - start
tel.close()
print(ok, elapsed, repr(results[:3]))
'''

MODEL = '''\
"""A slow, pure model evaluation called again and again with the same arguments."""

import math
import random

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def model_flux(period: float, samples: int) -> float:
    """The summed squared phase curve of a sinusoid (deterministic, no I/O)."""
    total = 0.0
    for i in range(samples):
        total += math.sin(i * period / samples) ** 2
    return total


@instrument(digest_args=True)
def noisy_flux(period: float) -> float:
    """A flux with photon noise: a new draw every call (impure)."""
    return period + random.gauss(0.0, 0.01)
'''

TEST_MODEL = '''\
from experimenter.model import model_flux


def test_model_flux_is_deterministic():
    assert model_flux(2.5, 1000) == model_flux(2.5, 1000)
    assert model_flux(0.0, 10) == 0.0
'''


class FlakyArchive:
    """A real HTTP/1.0 server on 127.0.0.1 that resets a seeded fraction of connections."""

    def __init__(self, reset_rate: float = 1 / 3, seed: int = 7, body: bytes = b"x" * 2048):
        import random
        import socket
        import threading
        self.reset_rate, self.body = reset_rate, body
        self._rng = random.Random(seed)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.requests = self.resets = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dataset.csv"

    def _serve(self) -> None:
        import socket
        import struct
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(5)
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.requests += 1
                    if self._rng.random() < self.reset_rate:
                        self.resets += 1
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        continue
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body) + self.body)
                except OSError:
                    pass

    def __enter__(self) -> "FlakyArchive":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._sock.close()
        self._thread.join(timeout=5)


def run_workload(ws: Path, url: str, n: int, mode: str = "fetch") -> tuple[int, float, str]:
    """Run the runner in a fresh process (as the Experimenter would); (successes, seconds, results)."""
    import os
    import subprocess
    import sys
    runner = ws.parent / "runner.py"
    runner.write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    out = subprocess.run([sys.executable, str(runner), str(ws), url, str(n), mode], capture_output=True,
                         text=True, env=env, timeout=300, check=True).stdout.split(None, 2)
    return int(out[0]), float(out[1]), out[2].strip()
