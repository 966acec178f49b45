"""One execution: fetch the TESS light curve of Kepler-10 and check it is complete."""

from specfetch.fetch import count_points, fetch_lightcurve


def run_once(archive_url: str, i: int) -> None:
    points = count_points(fetch_lightcurve(archive_url, "kepler10_tess_s14"))
    if points < 1000:
        raise RuntimeError(f"only {points} points in the light curve")
