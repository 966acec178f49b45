"""Stellar relations from real catalogues: mass–luminosity (DEBCat), the Hipparcos HR
diagram, the Cepheid period–luminosity (Leavitt) law.

Fits are weighted least squares; uncertainties come from the covariance scaled by the
reduced chi-square when the scatter exceeds the quoted errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astroagent.errors import DataError
from astroagent.science.datasets import Table

__all__ = [
    "LineFit",
    "fit_line",
    "debcat_stars",
    "mass_luminosity",
    "absolute_magnitudes",
    "split_hr",
    "leavitt_fit",
    "LeavittFit",
]


@dataclass(frozen=True)
class LineFit:
    slope: float
    slope_err: float
    intercept: float
    intercept_err: float
    reduced_chi2: float
    n: int


def fit_line(x: np.ndarray, y: np.ndarray, y_err: np.ndarray | None = None) -> LineFit:
    """y = intercept + slope·x, weighted by 1/y_err² (unweighted when y_err is None)."""
    if len(x) < 3 or np.ptp(x) == 0:
        raise DataError(f"a line fit needs at least 3 points with distinct x (got {len(x)})")
    sig = np.ones_like(x) if y_err is None else np.asarray(y_err, dtype=float)
    w = 1.0 / sig ** 2
    design = np.vstack([np.ones_like(x), x]).T
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    coef = cov @ design.T @ (y * w)
    dof = max(len(x) - 2, 1)
    chi2 = float(((y - design @ coef) ** 2 * w).sum() / dof)
    scale = chi2 if y_err is None else max(chi2, 1.0)
    return LineFit(slope=float(coef[1]), slope_err=float(np.sqrt(cov[1, 1] * scale)),
                   intercept=float(coef[0]), intercept_err=float(np.sqrt(cov[0, 0] * scale)),
                   reduced_chi2=chi2, n=len(x))


def debcat_stars(table: Table, *, min_logg: float) -> dict[str, np.ndarray]:
    """Both components of every binary as single stars: log M, log L, their errors, log g."""
    out: dict[str, list[np.ndarray]] = {"logm": [], "e_logm": [], "logl": [], "e_logl": [], "logg": []}
    for k in ("1", "2"):
        out["logm"].append(table[f"logm{k}"])
        out["e_logm"].append(table[f"e_logm{k}"])
        out["logl"].append(table[f"logl{k}"])
        out["e_logl"].append(table[f"e_logl{k}"])
        out["logg"].append(table[f"logg{k}"])
    stars = {k: np.concatenate(v) for k, v in out.items()}
    keep = np.ones(len(stars["logm"]), dtype=bool)
    for v in stars.values():
        keep &= np.isfinite(v)
    keep &= (stars["e_logl"] > 0) & (stars["logg"] >= min_logg)
    return {k: v[keep] for k, v in stars.items()}


def mass_luminosity(stars: dict[str, np.ndarray], *, m_min: float, m_max: float) -> tuple[LineFit, np.ndarray]:
    """log L = a + α log M for main-sequence stars with m_min < M ≤ m_max (solar units).
    Unweighted, as Eker et al. (2015, AJ 149, 131): the quoted errors are far smaller than the
    astrophysical scatter (age, metallicity), so weights would let a few stars set the slope."""
    m = 10 ** stars["logm"]
    sel = (m > m_min) & (m <= m_max)
    if sel.sum() < 3:
        raise DataError(f"only {int(sel.sum())} DEBCat stars between {m_min:g} and {m_max:g} M☉")
    return fit_line(stars["logm"][sel], stars["logl"][sel]), sel


def absolute_magnitudes(table: Table, *, min_parallax_snr: float) -> dict[str, np.ndarray]:
    """M_Hp = Hp + 5 log10(parallax / 100 mas) for stars with a good parallax and colour."""
    plx, e_plx = table["Plx_mas"], table["e_Plx_mas"]
    keep = (np.isfinite(plx) & np.isfinite(table["Hpmag"]) & np.isfinite(table["B_V"]) & (plx > 0)
            & (plx / e_plx >= min_parallax_snr))
    bv = table["B_V"][keep]
    mag = table["Hpmag"][keep] + 5.0 * np.log10(plx[keep] / 100.0)
    return {"b_v": bv, "abs_mag": mag}


def split_hr(b_v: np.ndarray, abs_mag: np.ndarray, *, bv_split: float = 0.8) -> np.ndarray:
    """True for giants: red (B−V > bv_split) stars brighter than a line lying between the main
    sequence and the giant branch (M = 5·(B−V) − 1.5, through the Hertzsprung gap)."""
    return (b_v > bv_split) & (abs_mag < 5.0 * b_v - 1.5)


@dataclass(frozen=True)
class LeavittFit:
    slope: float
    slope_err: float
    intercepts: dict[int, float]
    reduced_chi2: float
    n: int
    n_rejected: int


def leavitt_fit(table: Table, *, galaxies: tuple[int, ...] | None, min_period: float, max_period: float,
                clip_sigma: float | None) -> tuple[LeavittFit, np.ndarray]:
    """m_W = zp_gal + b·log10 P with one zero point per galaxy and a common slope b,
    iteratively clipping points more than ``clip_sigma`` errors from the fit."""
    gal, period = table["gal"].astype(int), table["P"]
    sel = (period >= min_period) & (period <= max_period)
    if galaxies:
        sel &= np.isin(gal, galaxies)
    if sel.sum() < 3:
        raise DataError(f"only {int(sel.sum())} Cepheids inside the cuts")
    names = sorted(set(gal[sel].tolist()))
    design = np.zeros((len(gal), len(names) + 1))
    design[:, 0] = np.log10(period)
    for j, g in enumerate(names):
        design[gal == g, j + 1] = 1.0
    y, err = table["m"], table["merr"]
    keep = sel.copy()
    for _ in range(20):
        w = 1.0 / err[keep] ** 2
        x = design[keep]
        cov = np.linalg.inv(x.T @ (x * w[:, None]))
        coef = cov @ x.T @ (y[keep] * w)
        if clip_sigma is None:
            break
        new = sel & (np.abs(y - design @ coef) / err < clip_sigma)
        if np.array_equal(new, keep):
            break
        keep = new
    dof = max(int(keep.sum()) - len(coef), 1)
    chi2 = float((((y - design @ coef) / err)[keep] ** 2).sum() / dof)
    return LeavittFit(slope=float(coef[0]), slope_err=float(np.sqrt(cov[0, 0] * max(chi2, 1.0))),
                      intercepts={g: float(coef[j + 1]) for j, g in enumerate(names)}, reduced_chi2=chi2,
                      n=int(keep.sum()), n_rejected=int(sel.sum() - keep.sum())), keep
