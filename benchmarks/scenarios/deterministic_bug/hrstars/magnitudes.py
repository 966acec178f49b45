"""Fetch a survey table and turn apparent magnitudes and parallaxes into absolute magnitudes."""

import csv
import io
import math
import urllib.request

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def fetch_rows(base_url: str, dataset_id: str) -> list[dict[str, str]]:
    """The table's rows as dictionaries keyed by column name."""
    with urllib.request.urlopen(f"{base_url}/datasets/{dataset_id}", timeout=10) as response:
        return list(csv.DictReader(io.StringIO(response.read().decode("utf-8"))))


@instrument(digest_args=True)
def absolute_magnitudes(base_url: str, dataset_id: str, mag_column: str, parallax_column: str) -> list[float]:
    """M = m + 5 log10(parallax / 100 mas) for every star with a positive parallax."""
    out = []
    for row in fetch_rows(base_url, dataset_id):
        mag, parallax = row[mag_column], row[parallax_column]
        if mag and parallax and float(parallax) > 0:
            out.append(float(mag) + 5 * math.log10(float(parallax) / 100.0))
    return out
