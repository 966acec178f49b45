"""Fetch the exoplanet catalogue over HTTP and select planets from it."""

import csv
import io
import urllib.request

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def fetch_catalog(base_url: str, dataset_id: str) -> str:
    """The catalogue's CSV text, as the archive serves it."""
    with urllib.request.urlopen(f"{base_url}/datasets/{dataset_id}", timeout=10) as response:
        return response.read().decode("utf-8")


@instrument
def hot_jupiters(text: str, max_period: float = 10.0, min_radius: float = 8.0) -> list[str]:
    """Names of planets on orbits shorter than ``max_period`` days larger than ``min_radius`` Earth radii."""
    names = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            period, radius = float(row["pl_orbper"]), float(row["pl_rade"])
        except ValueError:
            continue  # a blank cell: the catalogue does not know this planet's period or radius
        if period < max_period and radius > min_radius:
            names.append(row["pl_name"])
    return names
