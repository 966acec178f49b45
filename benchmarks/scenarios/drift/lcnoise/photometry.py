"""Fetch a light curve over HTTP and measure its point-to-point scatter."""

import csv
import io
import statistics
import urllib.request

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def fetch_lightcurve(base_url: str, dataset_id: str) -> str:
    """The light curve's CSV text, as the archive serves it."""
    with urllib.request.urlopen(f"{base_url}/datasets/{dataset_id}", timeout=10) as response:
        return response.read().decode("utf-8")


def scatter_ppm(text: str) -> float:
    """Robust point-to-point scatter of the good-quality flux, in parts per million of its median
    (differences of neighbours cancel slow trends; the MAD ignores transits and flares)."""
    flux = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            value, quality = float(row["pdcsap_flux"]), int(row["sap_quality"])
        except ValueError:
            continue  # a blank cell: no flux measured at this cadence
        if quality == 0 and value == value:
            flux.append(value)
    steps = [b - a for a, b in zip(flux, flux[1:])]
    centre = statistics.median(steps)
    mad = statistics.median(abs(step - centre) for step in steps)
    return 1.4826 * mad / 2 ** 0.5 / statistics.median(flux) * 1e6
