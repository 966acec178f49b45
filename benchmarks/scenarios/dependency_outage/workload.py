"""One poll: fetch the Cepheid table and check that brighter Cepheids have longer periods (negative slope)."""

from ephemeris.cepheids import fetch_cepheids, pl_slope


def run_once(archive_url: str, i: int) -> None:
    slope = pl_slope(fetch_cepheids(archive_url, "riess2011_cepheids"))
    if not -4.0 < slope < -0.5:
        raise RuntimeError(f"period-luminosity slope {slope:.2f} is not a Leavitt law")
