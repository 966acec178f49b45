"""A careful client of the data archive (timeouts, one clear error), for tools and the pipeline.

The Experimenter's own improvable code deliberately does its own plain ``urlopen``; this
client is what astroagent itself uses to list datasets and check that an archive is up.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from astroagent.errors import ArchiveError
from astroagent.science.datasets import LightCurve, Table, dataset_ids, dataset_info, parse_dataset, read_packaged

__all__ = ["ArchiveClient", "fetch_bytes", "wait_until_ready"]


def fetch_bytes(base_url: str, path: str, *, timeout: float = 10.0) -> tuple[bytes, str]:
    """(body, content type) of ``GET base_url + path``; ArchiveError on any failure."""
    url = base_url.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raise ArchiveError(f"archive {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ArchiveError(f"archive {url}: {exc.reason}") from None
    except (http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError, OSError) as exc:
        raise ArchiveError(f"archive {url}: {type(exc).__name__}: {exc}") from None


class ArchiveClient:
    """Reads datasets from an archive URL, or from the packaged files when the URL is None."""

    def __init__(self, base_url: str | None, *, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout

    def list_datasets(self) -> list[dict[str, Any]]:
        if self.base_url is None:
            return [{"id": i, "description": dataset_info(i).description} for i in dataset_ids()]
        body, ctype = fetch_bytes(self.base_url, "/datasets", timeout=self.timeout)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ArchiveError(f"archive {self.base_url}: /datasets is not JSON ({ctype or 'no type'})") from None
        if not isinstance(data, list):
            raise ArchiveError(f"archive {self.base_url}: /datasets is not a list")
        return data

    def fetch(self, dataset_id: str) -> bytes:
        dataset_info(dataset_id)  # unknown id: DataError before any network traffic
        if self.base_url is None:
            return read_packaged(dataset_id)
        body, _ = fetch_bytes(self.base_url, f"/datasets/{dataset_id}", timeout=self.timeout)
        return body

    def load(self, dataset_id: str) -> LightCurve | Table:
        return parse_dataset(dataset_id, self.fetch(dataset_id))


def wait_until_ready(base_url: str, *, timeout: float = 10.0, interval: float = 0.05,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """Poll ``/health`` until the archive answers; ArchiveError after ``timeout`` seconds."""
    deadline = clock() + timeout
    last = "no answer"
    while True:
        try:
            fetch_bytes(base_url, "/health", timeout=min(2.0, timeout))
            return
        except ArchiveError as exc:
            last = str(exc)
        if clock() >= deadline:
            raise ArchiveError(f"archive at {base_url} not ready after {timeout:g} s: {last}")
        sleep(interval)
