"""Download a light curve and compute its point-to-point scatter in parts per million."""

import csv
import io
import statistics
import urllib.request

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def download_lightcurve(base_url: str, dataset_id: str) -> str:
    """The light curve's CSV text."""
    response = urllib.request.urlopen(f"{base_url}/datasets/{dataset_id}")
    try:
        return response.read().decode("utf-8")
    finally:
        response.close()


@instrument
def scatter_ppm(text: str) -> float:
    """Median absolute point-to-point difference of the normalised flux, in ppm."""
    flux = [float(row["pdcsap_flux"]) for row in csv.DictReader(io.StringIO(text)) if row["pdcsap_flux"]]
    level = statistics.median(flux)
    diffs = [abs(b - a) / level for a, b in zip(flux, flux[1:])]
    return statistics.median(diffs) * 1e6
