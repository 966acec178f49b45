from hrstars.magnitudes import absolute_magnitudes

TABLE = "HIP,Plx_mas,Hpmag\n1,100.0,5.0\n2,10.0,7.0\n3,,9.0\n"


def test_absolute_magnitudes(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "hipparcos_hr").write_text(TABLE)
    mags = absolute_magnitudes(tmp_path.as_uri(), "hipparcos_hr", "Hpmag", "Plx_mas")
    assert [round(m, 6) for m in mags] == [5.0, 2.0]
