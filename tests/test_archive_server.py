"""The archive is a real HTTP server on loopback; its faults are real socket/HTTP failures."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request

import orjson
import pytest

from astroagent.config.models import ArchiveConfig
from astroagent.errors import UsageError
from astroagent.science.archive_server import ArchiveServer, FaultPlan
from astroagent.science.datasets import read_packaged


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _outcome(url: str) -> str:
    try:
        _get(url)
        return "ok"
    except urllib.error.HTTPError as exc:
        return f"http{exc.code}"
    except (ConnectionResetError, http.client.RemoteDisconnected):
        return "reset"


def test_lists_and_serves_the_exact_files() -> None:
    with ArchiveServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        listing = orjson.loads(_get(server.url + "/datasets"))
        assert {d["id"] for d in listing} >= {"kepler1_q1", "debcat", "exoplanet_catalog"}
        assert _get(server.url + "/datasets/debcat") == read_packaged("debcat")
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(server.url + "/datasets/nope")
        assert info.value.code == 404
        assert server.stats()["requests"] == 3 and server.stats()["faults_total"] == 0


def test_resets_are_real_connection_resets() -> None:
    with ArchiveServer(ArchiveConfig(reset_rate=1.0)) as server:
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            _get(server.url + "/datasets/debcat")
        assert server.stats()["faults"]["reset"] == 1


def test_errors_are_5xx() -> None:
    with ArchiveServer(ArchiveConfig(error_rate=1.0, seed=2)) as server:
        codes = {_outcome(server.url + "/datasets/debcat") for _ in range(10)}
        assert codes and codes <= {"http500", "http502", "http503"}


def test_a_third_of_resets_fails_about_a_third_and_is_reproducible() -> None:
    runs = []
    for _ in range(2):
        with ArchiveServer(ArchiveConfig(reset_rate=1 / 3, seed=7)) as server:
            runs.append([_outcome(server.url + "/datasets/kepler10_q1") for _ in range(45)])
    assert runs[0] == runs[1]
    assert 8 <= runs[0].count("reset") <= 22
    assert set(runs[0]) == {"ok", "reset"}


def test_stall_delays_the_answer_and_stop_cuts_it_short() -> None:
    with ArchiveServer(ArchiveConfig(stall_rate=1.0, stall_seconds=0.3)) as server:
        start = time.perf_counter()
        assert _get(server.url + "/datasets/debcat") == read_packaged("debcat")
        assert time.perf_counter() - start >= 0.3
    server = ArchiveServer(ArchiveConfig(stall_rate=1.0, stall_seconds=60))
    url = server.start()
    seen: list[str] = []
    client = threading.Thread(target=lambda: seen.append(_outcome(url + "/datasets/debcat")))
    client.start()
    time.sleep(0.2)
    start = time.perf_counter()
    server.stop()
    client.join(5)
    assert time.perf_counter() - start < 2 and not client.is_alive()
    assert seen == ["reset"]


def test_stalls_time_out_a_client_with_a_timeout() -> None:
    with ArchiveServer(ArchiveConfig(stall_rate=1.0, stall_seconds=5)) as server:
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            _get(server.url + "/datasets/debcat", timeout=0.2)


def test_outage_window_with_an_injected_clock() -> None:
    now = [100.0]
    plan = FaultPlan(ArchiveConfig(outage_rate=0.2, outage_seconds=10, seed=1), clock=lambda: now[0])
    kinds = [plan.decide()[0] for _ in range(30)]
    first = kinds.index("outage")
    assert all(k == "outage" for k in kinds[first:])  # the clock stands still: the outage never ends
    now[0] += 11
    assert plan.decide()[0] in (None, "outage")


def test_outage_answers_503_for_every_request() -> None:
    with ArchiveServer(ArchiveConfig(outage_rate=1.0, outage_seconds=30)) as server:
        assert [_outcome(server.url + "/datasets/debcat") for _ in range(3)] == ["http503"] * 3
        assert _get(server.url + "/health") == b'{"status": "ok"}'
        assert server.stats()["faults"]["outage"] == 3


def test_fault_rate_spreads_over_reset_stall_error() -> None:
    plan = FaultPlan(ArchiveConfig(fault_rate=0.3, error_rate=0.1))
    assert plan.rates == pytest.approx({"reset": 0.1, "stall": 0.1, "error": 0.2, "outage": 0.0})
    with pytest.raises(UsageError, match="must not exceed 1"):
        FaultPlan(ArchiveConfig(fault_rate=0.9, reset_rate=0.9))


def test_missing_data_file_fails_at_start(tmp_path) -> None:
    with pytest.raises(UsageError, match="archive data file missing"):
        ArchiveServer(data_root=tmp_path).start()


def test_stop_leaves_no_handler_thread_behind() -> None:
    import socket as _socket

    server = ArchiveServer()
    url = server.start()
    host, port = url.rsplit(":", 1)[0].removeprefix("http://"), int(url.rsplit(":", 1)[1])
    idle = _socket.create_connection((host, port))  # a client that connects and says nothing
    request = b"GET /datasets/debcat HTTP/1.1\r\nHost: x\r\n\r\n"
    kept_alive = _socket.create_connection((host, port))
    kept_alive.sendall(request)
    kept_alive.recv(1024)
    time.sleep(0.1)
    before = threading.active_count()
    start = time.perf_counter()
    server.stop()
    deadline = time.monotonic() + 3
    while threading.active_count() > before - 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert time.perf_counter() - start < 3
    assert not [t for t in threading.enumerate() if t.name == "astroagent-archive"]
    assert threading.active_count() <= before - 3  # serve loop + both handler threads are gone
    idle.close()
    kept_alive.close()
