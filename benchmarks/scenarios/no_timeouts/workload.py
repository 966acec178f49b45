"""One execution: download one of two Kepler light curves and measure its scatter."""

from lcdownload.download import download_lightcurve, scatter_ppm


def run_once(archive_url: str, i: int) -> None:
    dataset = ("kepler1_q1", "kepler10_q1")[i % 2]
    ppm = scatter_ppm(download_lightcurve(archive_url, dataset))
    if not 1.0 < ppm < 10_000.0:
        raise RuntimeError(f"implausible scatter {ppm:.1f} ppm for {dataset}")
