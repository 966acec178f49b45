"""The archive answers exactly as docs/archive.md says (a real server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from astroagent.config.models import ArchiveConfig
from astroagent.science.archive_server import ArchiveServer

DOC = Path(__file__).parents[1] / "docs" / "archive.md"


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_every_documented_path_answers_as_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    with ArchiveServer(ArchiveConfig(error_rate=0.0)) as archive:
        base = archive.url.rstrip("/")
        assert _get(f"{base}/health")[::2] == (200, b'{"status": "ok"}')
        status, _, body = _get(f"{base}/datasets/")
        catalog = orjson.loads(body)
        assert status == 200 and [d["id"] for d in catalog] == sorted(d["id"] for d in catalog)
        assert all(set(d) == {"id", "description", "bytes", "sha256", "media_type"} for d in catalog)
        assert all(f"`{d['id']}`" in doc for d in catalog)          # the page names every dataset
        first = catalog[0]
        status, headers, data = _get(f"{base}/datasets/{first['id']}?x=1")
        assert status == 200 and len(data) == first["bytes"]
        assert headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest() == first["sha256"]
        assert headers["Content-Type"] == f"{first['media_type']}; charset=utf-8"
        status, _, body = _get(f"{base}/datasets/nope")
        assert status == 404 and orjson.loads(body)["known"] == sorted(d["id"] for d in catalog)
        assert _get(f"{base}/elsewhere")[::2] == (404, b'{"error":"no such path \'/elsewhere\'"}')
