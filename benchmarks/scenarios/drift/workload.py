"""One execution: fetch Kepler-10's first-quarter light curve and measure its scatter."""

from lcnoise.photometry import fetch_lightcurve, scatter_ppm


def run_once(archive_url: str, i: int) -> None:
    ppm = scatter_ppm(fetch_lightcurve(archive_url, "kepler10_q1"))
    if not 1.0 < ppm < 1000.0:
        raise RuntimeError(f"a scatter of {ppm:.3g} ppm: the light curve is not Kepler-10's")
