"""Smoke tests of the research code, offline (packaged data, no archive) and fast.

They judge every change to ``experimenter/``: each experiment kind must still run and give
the same science.
"""

import math

import pytest

import experimenter
from experimenter.fetch import fetch_dataset, load_dataset
from experimenter.models import zams_grid


def run(kind, params):
    project = {"kind": kind, "params": params}
    return experimenter.analyse(project, experimenter.fetch_inputs(project, None))


def test_fetch_reads_the_packaged_dataset_offline():
    raw = fetch_dataset(None, "debcat")
    assert raw.startswith(b"#")
    assert len(load_dataset(None, "debcat")) > 250


def test_unknown_dataset_is_an_error():
    with pytest.raises(Exception, match="unknown dataset"):
        load_dataset(None, "no_such_dataset")


def test_transit_search_recovers_tres2_b():
    out = run("transit_search", {"dataset_id": "kepler1_q1", "planet": "TrES-2 b", "catalog_period": 2.47063,
                                 "detrend_window": 0.75, "min_period": 0.5, "max_period": 10.0})
    assert abs(out["results"]["period"]["value"] - 2.47063) / 2.47063 < 0.001
    assert out["verdict"] == "supported"


def test_radius_valley_between_populations():
    out = run("radius_valley", {"dataset_id": "exoplanet_catalog", "max_period": 100.0, "bandwidth": 0.03,
                                "n_boot": 20})
    assert 1.5 < out["results"]["valley_radius"]["value"] < 2.1
    assert out["results"]["valley_radius"]["error"] > 0


def test_mass_radius_power_law():
    out = run("mass_radius", {"dataset_id": "exoplanet_catalog", "max_radius": 1.6, "max_mass_rel_err": 0.5})
    assert 3.0 < out["results"]["exponent"]["value"] < 4.2


def test_mass_luminosity_exponent():
    out = run("mass_luminosity", {"dataset_id": "debcat", "mass_range": "intermediate", "min_logg": 3.9})
    assert 3.9 < out["results"]["alpha"]["value"] < 4.6


def test_hr_diagram_red_clump():
    out = run("hr_diagram", {"dataset_id": "hipparcos_hr", "min_parallax_snr": 10.0, "bv_split": 0.8})
    assert 0.3 < out["results"]["red_clump_abs_mag"]["value"] < 1.5


def test_leavitt_slope():
    out = run("leavitt_law", {"dataset_id": "riess2011_cepheids", "galaxies": None, "min_period": 0.0,
                              "max_period": 250.0, "clip_sigma": None})
    assert -3.3 < out["results"]["slope"]["value"] < -2.5
    with_z = run("leavitt_law", {"dataset_id": "riess2011_cepheids", "galaxies": None, "min_period": 0.0,
                                 "max_period": 250.0, "clip_sigma": 2.5, "metallicity": True})
    assert -3.3 < with_z["results"]["slope"]["value"] < -2.5
    assert with_z["results"]["metallicity_slope"]["value"] < 0


def test_zams_grid_is_deterministic_and_physical():
    first = zams_grid(0.5, 2.0, 50)
    assert first == zams_grid(0.5, 2.0, 50)
    sun = min(first, key=lambda row: abs(row[0]))
    assert math.isclose(10 ** sun[1], 0.7, rel_tol=0.1)  # the zero-age Sun had ~0.7 L_sun
