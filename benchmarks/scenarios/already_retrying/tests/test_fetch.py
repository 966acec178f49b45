import pytest

from specfetch.fetch import count_points, fetch_lightcurve


def test_fetch_and_count(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "kepler10_tess_s14").write_bytes(b"time,flux\n1,2\n3,4\n")
    assert count_points(fetch_lightcurve(tmp_path.as_uri(), "kepler10_tess_s14")) == 2


def test_a_missing_file_is_not_retried_for_ever(tmp_path):
    with pytest.raises(OSError):
        fetch_lightcurve(tmp_path.as_uri(), "missing")
