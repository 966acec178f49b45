"""Exoplanet population statistics from the NASA Exoplanet Archive table.

The radius valley: the minimum of a kernel density estimate of log10(radius) between the
super-Earth and sub-Neptune peaks (Fulton et al. 2017, AJ 154, 109 place it at 1.5–2.0 R⊕).
The mass–radius law: a weighted least-squares power law M ∝ R^b in log–log space, its
uncertainty from the covariance scaled by the reduced chi-square (intrinsic scatter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from astroagent.errors import DataError
from astroagent.science.datasets import Table
from astroagent.science.stellar import fit_line

__all__ = ["small_planets", "valley_position", "kde", "PowerLaw", "fit_power_law", "planets_with_masses"]


def small_planets(table: Table, *, max_period: float, min_radius: float = 1.0, max_radius: float = 4.0,
                  transit_only: bool = True) -> np.ndarray:
    """Radii (Earth radii) of confirmed, uncontroversial planets inside the cuts."""
    radius, period = table["pl_rade"], table["pl_orbper"]
    keep = (np.isfinite(radius) & np.isfinite(period) & (radius >= min_radius) & (radius <= max_radius)
            & (period <= max_period) & (table["pl_controv_flag"] != 1))
    if transit_only:
        keep &= np.asarray([m == "Transit" for m in table.text["discoverymethod"]])
    return radius[keep]


def kde(log_r: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density of ``log_r`` on an evenly spaced ``grid`` (dex), binned then smoothed
    (exact to the bin width, and O(n) so a bootstrap of thousands of planets stays fast)."""
    step = float(grid[1] - grid[0])
    pad = 5 * bandwidth
    edges = np.arange(grid[0] - pad - step / 2, grid[-1] + pad + step, step)
    counts, _ = np.histogram(log_r, bins=edges)
    smooth = gaussian_filter1d(counts.astype(float), bandwidth / step, mode="constant")
    centres = 0.5 * (edges[1:] + edges[:-1])
    return np.interp(grid, centres, smooth) / (len(log_r) * step)


def valley_position(radii: np.ndarray, *, bandwidth: float = 0.04, lo: float = 1.4, hi: float = 2.4,
                    n_grid: int = 201) -> float:
    """Radius (R⊕) of the deepest density minimum between ``lo`` and ``hi``."""
    if len(radii) < 50:
        raise DataError(f"only {len(radii)} planets inside the cuts; need at least 50 for a density estimate")
    grid = np.linspace(np.log10(lo), np.log10(hi), n_grid)
    density = kde(np.log10(radii), grid, bandwidth)
    interior = np.r_[False, (density[1:-1] < density[:-2]) & (density[1:-1] < density[2:]), False]
    idx = np.flatnonzero(interior)
    i = int(idx[np.argmin(density[idx])]) if len(idx) else int(np.argmin(density))
    return float(10 ** grid[i])


@dataclass(frozen=True)
class PowerLaw:
    exponent: float
    exponent_err: float
    log_amplitude: float
    log_amplitude_err: float
    reduced_chi2: float
    n: int


def planets_with_masses(table: Table, *, max_radius: float, max_mass_rel_err: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(radius, radius error, mass, mass error) of planets with a true mass (not M sin i)."""
    r, m = table["pl_rade"], table["pl_bmasse"]
    r_err = 0.5 * (np.abs(table["pl_radeerr1"]) + np.abs(table["pl_radeerr2"]))
    m_err = 0.5 * (np.abs(table["pl_bmasseerr1"]) + np.abs(table["pl_bmasseerr2"]))
    is_mass = np.asarray([p == "Mass" for p in table.text["pl_bmassprov"]])
    keep = (is_mass & np.isfinite(r) & np.isfinite(m) & np.isfinite(m_err) & np.isfinite(r_err) & (r > 0)
            & (m > 0) & (m_err > 0) & (r <= max_radius) & (m_err / m <= max_mass_rel_err)
            & (table["pl_controv_flag"] != 1))
    return r[keep], r_err[keep], m[keep], m_err[keep]


def fit_power_law(x: np.ndarray, y: np.ndarray, y_err: np.ndarray) -> PowerLaw:
    """log10 y = a + b log10 x by weighted least squares (errors on y only, carried into log space)."""
    line = fit_line(np.log10(x), np.log10(y), y_err / (y * np.log(10)))
    return PowerLaw(exponent=line.slope, exponent_err=line.slope_err, log_amplitude=line.intercept,
                    log_amplitude_err=line.intercept_err, reduced_chi2=line.reduced_chi2, n=line.n)
