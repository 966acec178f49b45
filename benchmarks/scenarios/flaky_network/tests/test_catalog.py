from starcat.catalog import fetch_catalog, hot_jupiters

TABLE = "pl_name,pl_orbper,pl_rade\nHot b,3.5,13.0\nCold b,300,12.0\nSmall b,2.0,1.1\nBlank b,,12\n"


def test_hot_jupiters_keeps_short_period_giants_only():
    assert hot_jupiters(TABLE) == ["Hot b"]


def test_fetch_catalog_reads_the_dataset(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "exoplanet_catalog").write_text(TABLE)
    assert fetch_catalog(tmp_path.as_uri(), "exoplanet_catalog") == TABLE
