"""Exoplanet population statistics against the literature."""

from __future__ import annotations

import numpy as np
import pytest

from astroagent.errors import DataError
from astroagent.science.datasets import parse_dataset, read_packaged
from astroagent.science.populations import fit_power_law, planets_with_masses, small_planets, valley_position


@pytest.fixture(scope="module")
def catalog():
    return parse_dataset("exoplanet_catalog", read_packaged("exoplanet_catalog"))


def test_radius_valley_where_fulton_found_it(catalog) -> None:
    # Fulton et al. 2017 (AJ 154, 109): a gap in the radius distribution between 1.5 and 2.0 R⊕
    radii = small_planets(catalog, max_period=100.0)
    best = valley_position(radii, bandwidth=0.03)
    rng = np.random.default_rng(0)
    boot = [valley_position(rng.choice(radii, len(radii)), bandwidth=0.03) for _ in range(100)]
    err = float(np.std(boot))
    assert 0 < err < 0.2
    assert 1.5 - err <= best <= 2.0 + err


def test_small_planet_mass_radius_exponent_matches_chen_kipping(catalog) -> None:
    # Chen & Kipping 2017 (ApJ 834, 17), Terran worlds: R ∝ M^(0.279 ± 0.023) → M ∝ R^3.58
    r, _, m, m_err = planets_with_masses(catalog, max_radius=1.6, max_mass_rel_err=0.5)
    fit = fit_power_law(r, m, m_err)
    assert fit.n > 50
    reference, reference_err = 1 / 0.279, 0.023 / 0.279 ** 2
    assert abs(fit.exponent - reference) < 2 * np.hypot(fit.exponent_err, reference_err)


def test_power_law_recovers_a_known_exponent() -> None:
    x = np.linspace(1, 3, 40)
    y = 2.0 * x ** 3.0
    fit = fit_power_law(x, y, 0.01 * y)
    assert fit.exponent == pytest.approx(3.0, abs=1e-9)


def test_too_few_planets_is_a_data_error() -> None:
    with pytest.raises(DataError, match="need at least 50"):
        valley_position(np.array([1.2, 1.9, 2.5]))
    with pytest.raises(DataError, match="at least 3"):
        fit_power_law(np.array([1.0, 2.0]), np.array([1.0, 8.0]), np.array([0.1, 0.1]))


def test_planets_of_one_radius_are_a_data_error_not_a_crash() -> None:
    with pytest.raises(DataError, match="distinct x"):
        fit_power_law(np.full(5, 1.5), np.arange(1.0, 6.0), np.full(5, 0.1))
