"""One execution: fetch the Cepheids, bootstrap the mean period of two host galaxies, check it is plausible."""

import statistics

from bootstrap.cepheids import fetch_periods
from bootstrap.resample import period_uncertainty

GALAXIES = ("4536", "4639", "3370")


def run_once(archive_url: str, i: int) -> None:
    periods = fetch_periods(archive_url, "riess2011_cepheids")
    for galaxy in (GALAXIES[i % 3], GALAXIES[(i + 1) % 3]):
        sample = periods[galaxy][:10]
        error = period_uncertainty(sample)
        sem = statistics.pstdev(sample) / len(sample) ** 0.5
        if not 0.5 * sem < error < 1.5 * sem:
            raise RuntimeError(f"NGC {galaxy}: bootstrap error {error:.3f} far from {sem:.3f}")
