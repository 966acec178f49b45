"""Stellar relations against the literature."""

from __future__ import annotations

import numpy as np
import pytest

from astroagent.errors import DataError
from astroagent.science.datasets import Table, parse_dataset, read_packaged
from astroagent.science.stellar import (
    absolute_magnitudes,
    debcat_stars,
    fit_line,
    leavitt_fit,
    mass_luminosity,
    split_hr,
)


@pytest.mark.parametrize("m_min, m_max, alpha, alpha_err", [
    (1.05, 2.40, 4.329, 0.087),   # Eker et al. 2015, AJ 149, 131, intermediate-mass stars
    (2.40, 7.00, 3.962, 0.112),   # Eker et al. 2015, high-mass stars
])
def test_mass_luminosity_exponent_matches_eker_2015(m_min, m_max, alpha, alpha_err) -> None:
    stars = debcat_stars(parse_dataset("debcat", read_packaged("debcat")), min_logg=3.9)
    fit, _ = mass_luminosity(stars, m_min=m_min, m_max=m_max)
    assert abs(fit.slope - alpha) < np.hypot(fit.slope_err, alpha_err)  # within the combined 1 sigma


def test_hipparcos_hr_diagram_has_main_sequence_and_red_clump() -> None:
    stars = absolute_magnitudes(parse_dataset("hipparcos_hr", read_packaged("hipparcos_hr")), min_parallax_snr=10)
    giant = split_hr(stars["b_v"], stars["abs_mag"])
    assert 0.03 < giant.mean() < 0.2
    bv, mag = stars["b_v"], stars["abs_mag"]
    clump = giant & (bv > 0.9) & (bv < 1.2) & (mag > -0.5) & (mag < 2.0)
    # red clump M_V ≈ +0.8 (e.g. Girardi 2016, ARA&A 54, 95); Hp is within ~0.1 mag of V at these colours
    assert abs(np.median(mag[clump]) - 0.8) < 0.4
    ms = ~giant & (bv > 0.3) & (bv < 1.2)
    fit = fit_line(bv[ms], mag[ms])
    assert 5.0 < fit.slope < 6.5  # dwarfs fade ~5.5–6 mag per magnitude of B−V


def test_leavitt_slope_of_the_riess_2011_hosts() -> None:
    table = parse_dataset("riess2011_cepheids", read_packaged("riess2011_cepheids"))
    fit, kept = leavitt_fit(table, galaxies=None, min_period=0, max_period=1e9, clip_sigma=None)
    assert fit.n == 646 and kept.all()
    # A negative, near-infrared-Wesenheit slope; shallower than the LMC H-band slope −3.234 ± 0.042
    # (Persson et al. 2004, AJ 128, 2239), as Efstathiou 2014 (MNRAS 440, 1138) found for this sample,
    # which he traces to sub-luminous low-metallicity Cepheids skewing the global fit.
    # Not yet a comparison with a published slope *for this sample* within its uncertainty (issue #3):
    # no published value could be retrieved and checked here (R11 ApJ 730, 119; Efstathiou 2014).
    assert -3.1 < fit.slope < -2.6
    assert fit.slope - fit.slope_err > -3.234
    clipped, kept = leavitt_fit(table, galaxies=None, min_period=0, max_period=1e9, clip_sigma=2.5)
    assert clipped.n_rejected > 0 and clipped.reduced_chi2 < fit.reduced_chi2


def test_metallicity_term_on_the_riess_2011_hosts() -> None:
    # R11's form m_W = zp + b·log P + Z_W·Δlog[O/H]: the term is negative (metal-rich Cepheids
    # brighter) and moves the slope by much less than its uncertainty on this sample.
    table = parse_dataset("riess2011_cepheids", read_packaged("riess2011_cepheids"))
    plain, _ = leavitt_fit(table, galaxies=None, min_period=0, max_period=1e9, clip_sigma=2.5)
    metal, _ = leavitt_fit(table, galaxies=None, min_period=0, max_period=1e9, clip_sigma=2.5, metallicity=True)
    assert metal.metallicity_slope is not None and metal.metallicity_slope_err is not None
    assert metal.metallicity_slope + 2 * metal.metallicity_slope_err < 0
    assert abs(metal.slope - plain.slope) < plain.slope_err
    assert plain.metallicity_slope is None


def _synthetic(log_p: np.ndarray, gal: np.ndarray, m: np.ndarray, log_oh: np.ndarray | None = None) -> Table:
    n = len(log_p)
    return Table({"id": np.arange(n, dtype=float), "gal": gal.astype(float), "m": m, "merr": np.full(n, 0.05),
                  "P": 10 ** log_p, "logO_H": np.full(n, -3.3) if log_oh is None else log_oh,
                  "bias": np.zeros(n)}, {}, "synthetic")


def test_metallicity_fit_recovers_injected_slopes() -> None:
    rng = np.random.default_rng(7)
    log_p, gal = rng.uniform(0.8, 2.0, 400), rng.integers(1, 5, 400)
    log_oh = -3.3 + rng.normal(0, 0.2, 400)
    m = 25.0 + 0.3 * gal - 3.2 * log_p - 0.3 * (log_oh + 3.3) + rng.normal(0, 0.05, 400)
    fit, _ = leavitt_fit(_synthetic(log_p, gal, m, log_oh), galaxies=None, min_period=0, max_period=1e9,
                         clip_sigma=None, metallicity=True)
    assert abs(fit.slope + 3.2) < 3 * fit.slope_err
    assert fit.metallicity_slope is not None and fit.metallicity_slope_err is not None
    assert abs(fit.metallicity_slope + 0.3) < 3 * fit.metallicity_slope_err
    with pytest.raises(DataError, match="no range in log\\[O/H\\]"):
        leavitt_fit(_synthetic(log_p, gal, m), galaxies=None, min_period=0, max_period=1e9, clip_sigma=None,
                    metallicity=True)
    # one metallicity per galaxy: the term is a sum of the zero points, a degenerate fit, not a wild number
    per_galaxy = -3.3 + 0.1 * gal
    with pytest.raises(DataError, match="degenerate"):
        leavitt_fit(_synthetic(log_p, gal, m, per_galaxy), galaxies=None, min_period=0, max_period=1e9,
                    clip_sigma=None, metallicity=True)


def test_clipping_that_empties_a_galaxy_drops_it() -> None:
    # galaxy 2 has two Cepheids on a line of the wrong sign: clipping removes both, which used to
    # leave an all-zero zero-point column and a singular-matrix LinAlgError
    rng = np.random.default_rng(1)
    log_p = np.concatenate([np.linspace(1.0, 2.0, 30), [1.0, 2.0]])
    gal = np.array([1] * 30 + [2] * 2)
    m = 25 - 3.0 * log_p + rng.normal(0, 0.05, 32)
    m[30] += 2.0
    m[31] -= 2.0
    fit, kept = leavitt_fit(_synthetic(log_p, gal, m), galaxies=None, min_period=0, max_period=1e9, clip_sigma=3)
    assert fit.dropped_galaxies == (2,) and list(fit.intercepts) == [1]
    assert kept.sum() == 30 and fit.n_rejected == 2
    assert abs(fit.slope + 3.0) < 3 * fit.slope_err


def test_worst_mode_rejects_one_outlier_at_a_time() -> None:
    rng = np.random.default_rng(3)
    log_p, gal = rng.uniform(0.8, 2.0, 60), np.repeat([1, 2], 30)
    m = 25.0 - 3.0 * log_p + rng.normal(0, 0.05, 60)
    m[5] += 3.0  # one gross outlier
    table = _synthetic(log_p, gal, m)
    fit, kept = leavitt_fit(table, galaxies=None, min_period=0, max_period=1e9, clip_sigma=4.0, clip_mode="worst")
    assert not kept[5] and fit.n_rejected == 1
    clean = _synthetic(log_p, gal, np.where(np.arange(60) == 5, m - 3.0, m))
    wide, _ = leavitt_fit(clean, galaxies=None, min_period=0, max_period=1e9, clip_sigma=None, intrinsic_scatter=0.3)
    assert wide.reduced_chi2 < 0.2  # 0.3 mag of added scatter swamps the 0.05 mag of real scatter
    with pytest.raises(DataError, match="unknown clip mode 'median'"):
        leavitt_fit(table, galaxies=None, min_period=0, max_period=1e9, clip_sigma=3, clip_mode="median")


def test_single_galaxy_fit_and_empty_cut() -> None:
    table = parse_dataset("riess2011_cepheids", read_packaged("riess2011_cepheids"))
    fit, _ = leavitt_fit(table, galaxies=(4258,), min_period=0, max_period=1e9, clip_sigma=3)
    assert list(fit.intercepts) == [4258]
    with pytest.raises(DataError, match="Cepheids inside the cuts"):
        leavitt_fit(table, galaxies=(4258,), min_period=500, max_period=1e9, clip_sigma=None)


def test_line_fit_needs_spread_in_x() -> None:
    with pytest.raises(DataError, match="distinct x"):
        fit_line(np.ones(5), np.arange(5.0))
