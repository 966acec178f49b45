"""Fetch the Riess et al. (2011) Cepheids (retrying server errors) and fit log P against magnitude."""

import math
import urllib.error
import urllib.request

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from astroagent.telemetry import instrument


def _server_error(exc: BaseException) -> bool:
    """5xx answers are worth another try; anything else is the archive's final word."""
    return isinstance(exc, urllib.error.HTTPError) and exc.code >= 500


@retry(retry=retry_if_exception(_server_error), stop=stop_after_attempt(3), wait=wait_fixed(0.3), reraise=True)
@instrument(digest_args=True)
def fetch_cepheids(base_url: str, dataset_id: str) -> str:
    """The Cepheid table's text."""
    with urllib.request.urlopen(f"{base_url}/datasets/{dataset_id}", timeout=10) as response:
        return response.read().decode("utf-8")


@instrument
def pl_slope(text: str) -> float:
    """Least-squares slope of the Wesenheit magnitude m against log10 of the period P (days)."""
    xs, ys = [], []
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("#") or len(parts) != 7:
            continue
        mag, period = float(parts[2]), float(parts[4])
        xs.append(math.log10(period))
        ys.append(mag)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
