"""One execution: fetch the catalogue, count its hot Jupiters (there are many)."""

from starcat.catalog import fetch_catalog, hot_jupiters


def run_once(archive_url: str, i: int) -> None:
    names = hot_jupiters(fetch_catalog(archive_url, "exoplanet_catalog"))
    if len(names) < 10:
        raise RuntimeError(f"only {len(names)} hot Jupiters: the catalogue is incomplete")
