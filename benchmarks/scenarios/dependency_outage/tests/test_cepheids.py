from ephemeris.cepheids import fetch_cepheids, pl_slope

TABLE = "# id gal m merr P logO_H bias\n1 4536 25.0 0.3 10.0 -3.1 0.1\n2 4536 22.0 0.3 100.0 -3.1 0.1\n"


def test_slope_of_two_cepheids():
    assert abs(pl_slope(TABLE) - (-3.0)) < 1e-9


def test_fetch_reads_the_dataset(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "riess2011_cepheids").write_text(TABLE)
    assert fetch_cepheids(tmp_path.as_uri(), "riess2011_cepheids") == TABLE
