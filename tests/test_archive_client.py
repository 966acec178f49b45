"""The careful archive client: timeouts and one clear ArchiveError."""

from __future__ import annotations

import pytest

from astroagent.config.models import ArchiveConfig
from astroagent.errors import ArchiveError, DataError
from astroagent.science.archive_client import ArchiveClient, wait_until_ready
from astroagent.science.archive_server import ArchiveServer
from astroagent.science.datasets import LightCurve, read_packaged


def test_reads_through_the_archive_and_offline() -> None:
    with ArchiveServer() as server:
        client = ArchiveClient(server.url)
        assert client.fetch("debcat") == read_packaged("debcat")
        assert isinstance(client.load("kepler1_q1"), LightCurve)
        assert {d["id"] for d in client.list_datasets()} == {d["id"] for d in ArchiveClient(None).list_datasets()}
    assert ArchiveClient(None).fetch("debcat") == read_packaged("debcat")


def test_failures_become_archive_errors() -> None:
    with ArchiveServer(ArchiveConfig(stall_rate=1.0, stall_seconds=5)) as server:
        with pytest.raises(ArchiveError, match="timed out"):
            ArchiveClient(server.url, timeout=0.2).fetch("debcat")
    with ArchiveServer(ArchiveConfig(error_rate=1.0)) as server:
        with pytest.raises(ArchiveError, match="HTTP 50"):
            ArchiveClient(server.url).fetch("debcat")
    with pytest.raises(DataError, match="unknown dataset"):
        ArchiveClient("http://127.0.0.1:9").fetch("nope")


def test_wait_until_ready_gives_up_with_a_clear_error() -> None:
    with ArchiveServer() as server:
        wait_until_ready(server.url)
    clock = iter([0.0, 0.5, 1.0, 2.0, 5.0])
    with pytest.raises(ArchiveError, match="not ready after 1 s"):
        wait_until_ready("http://127.0.0.1:9", timeout=1.0, clock=lambda: next(clock), sleep=lambda s: None)
