from lcdownload.download import download_lightcurve, scatter_ppm

CURVE = "time_bkjd,pdcsap_flux\n1.0,1000\n1.1,1001\n1.2,1000\n1.3,1001\n"


def test_scatter_of_an_alternating_curve():
    assert abs(scatter_ppm(CURVE) - 1000.0) < 1.0


def test_download_reads_the_dataset(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "kepler1_q1").write_text(CURVE)
    assert download_lightcurve(tmp_path.as_uri(), "kepler1_q1") == CURVE
