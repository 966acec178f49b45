"""One execution: absolute magnitudes for one of three survey configurations (the third is misconfigured)."""

from hrstars.magnitudes import absolute_magnitudes

SURVEYS = (
    ("hipparcos_hr", "Hpmag", "Plx_mas"),
    ("hipparcos_hr", "Hpmag", "Plx_mas"),
    ("exoplanet_catalog", "sy_vmag", "sy_plx"),   # the catalogue has no such columns: a KeyError every time
)


def run_once(archive_url: str, i: int) -> None:
    dataset, mag, plx = SURVEYS[i % 3]
    mags = absolute_magnitudes(archive_url, dataset, mag, plx)
    if len(mags) < 100:
        raise RuntimeError(f"only {len(mags)} stars with a parallax in {dataset}")
