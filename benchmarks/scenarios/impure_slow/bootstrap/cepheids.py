"""Fetch the Riess et al. (2011) Cepheid table and group the periods by host galaxy."""

import urllib.request

from astroagent.telemetry import instrument


@instrument(digest_args=True)
def fetch_periods(base_url: str, dataset_id: str) -> dict[str, tuple[float, ...]]:
    """Host galaxy (NGC number) -> the periods (days) of its Cepheids, in table order."""
    with urllib.request.urlopen(f"{base_url}/datasets/{dataset_id}", timeout=10) as response:
        text = response.read().decode("utf-8")
    periods: dict[str, list[float]] = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("#") or len(parts) != 7:
            continue
        periods.setdefault(parts[1], []).append(float(parts[4]))
    return {galaxy: tuple(values) for galaxy, values in periods.items()}
