from bootstrap.cepheids import fetch_periods

TABLE = "#  id  gal m merr P logO_H bias\n1 4536 24.5 0.3 13.0 -3.4 0.1\n2 4536 25.9 0.7 13.07 -3.0 0.3\n3 1309 24.0 0.4 30.5 -3.1 0.2\n"


def test_periods_grouped_by_galaxy(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "riess2011_cepheids").write_text(TABLE)
    assert fetch_periods(tmp_path.as_uri(), "riess2011_cepheids") == {"4536": (13.0, 13.07), "1309": (30.5,)}
