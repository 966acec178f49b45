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
    "CLIP_MODES",
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
    # Z_W of m_W = zp + b·log P + Z_W·(log[O/H] − pivot); None when the fit has no metallicity term
    metallicity_slope: float | None = None
    metallicity_slope_err: float | None = None
    metallicity_pivot: float = 0.0
    dropped_galaxies: tuple[int, ...] = ()  # galaxies whose every Cepheid was clipped


CLIP_MODES = ("all", "worst")


def _leavitt_solve(y: np.ndarray, err: np.ndarray, log_p: np.ndarray, gal: np.ndarray, z: np.ndarray | None,
                   keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Weighted least squares over the kept Cepheids; galaxies with no kept Cepheid get no column
    (a zero column would make the normal matrix singular). Returns coef, cov, model, galaxies."""
    names = sorted(set(gal[keep].tolist()))
    cols = [log_p] + ([z] if z is not None else []) + [(gal == g).astype(float) for g in names]
    design = np.vstack(cols).T
    x, w = design[keep], 1.0 / err[keep] ** 2
    if keep.sum() <= design.shape[1]:
        raise DataError(f"only {int(keep.sum())} Cepheids left for {design.shape[1]} parameters "
                        "(clipping or the cuts left too few)")
    if np.ptp(log_p[keep]) == 0 or (z is not None and np.ptp(z[keep]) == 0):
        raise DataError("the kept Cepheids span no range in period" if np.ptp(log_p[keep]) == 0
                        else "the kept Cepheids span no range in log[O/H]; fit without the metallicity term")
    if np.linalg.matrix_rank(x * np.sqrt(w)[:, None]) < x.shape[1]:   # inv() would not always notice
        raise DataError("the Leavitt fit is degenerate (period and metallicity do not vary independently "
                        "of the galaxies)")
    cov = np.linalg.inv(x.T @ (x * w[:, None]))
    coef = cov @ x.T @ (y[keep] * w)
    return coef, cov, design @ coef, names


def leavitt_fit(table: Table, *, galaxies: tuple[int, ...] | None, min_period: float, max_period: float,
                clip_sigma: float | None, metallicity: bool = False, intrinsic_scatter: float = 0.0,
                clip_mode: str = "all") -> tuple[LeavittFit, np.ndarray]:
    """m_W = zp_gal + b·log10 P [+ Z_W·Δlog[O/H]] with one zero point per galaxy and a common slope b.

    Errors are the quoted ones with ``intrinsic_scatter`` (mag) added in quadrature. Outliers more
    than ``clip_sigma`` errors from the fit are rejected iteratively: ``clip_mode="all"`` re-selects
    every point each pass (a rejected point may come back, unless its whole galaxy was rejected);
    ``"worst"`` removes only the single largest outlier per pass and refits (the SH0ES iterative fit of Riess et al. 2016 as re-implemented
    in Feeney et al.'s public hh0 code, ``riess_reject``: 2.7σ with 0.065 mag intrinsic scatter).
    A galaxy whose Cepheids are all rejected is dropped from the fit (``dropped_galaxies``).
    """
    if clip_mode not in CLIP_MODES:
        raise DataError(f"unknown clip mode {clip_mode!r}; known: {', '.join(CLIP_MODES)}")
    if intrinsic_scatter < 0 or (clip_sigma is not None and clip_sigma <= 0):
        raise DataError("intrinsic_scatter must be >= 0 and clip_sigma > 0")
    gal, period = table["gal"].astype(int), table["P"]
    sel = (period >= min_period) & (period <= max_period)
    if galaxies:
        sel &= np.isin(gal, galaxies)
    if sel.sum() < 3:
        raise DataError(f"only {int(sel.sum())} Cepheids inside the cuts")
    y, err = table["m"], np.sqrt(table["merr"] ** 2 + intrinsic_scatter ** 2)
    log_p = np.log10(period)
    pivot = float(np.mean(table["logO_H"][sel])) if metallicity else 0.0
    z = table["logO_H"] - pivot if metallicity else None
    all_names = sorted(set(gal[sel].tolist()))
    keep = sel.copy()
    for _ in range(int(sel.sum()) if clip_mode == "worst" else 20):
        coef, cov, model, names = _leavitt_solve(y, err, log_p, gal, z, keep)
        if clip_sigma is None:
            break
        resid = np.abs(y - model) / err
        if clip_mode == "worst":
            worst = int(np.argmax(np.where(keep, resid, -np.inf)))
            if resid[worst] <= clip_sigma:
                break
            keep = keep.copy()
            keep[worst] = False
            continue
        new = sel & (resid < clip_sigma)
        if np.array_equal(new, keep):
            break
        keep = new
    else:
        coef, cov, model, names = _leavitt_solve(y, err, log_p, gal, z, keep)
    n_par = len(coef)
    dof = max(int(keep.sum()) - n_par, 1)
    chi2 = float((((y - model) / err)[keep] ** 2).sum() / dof)
    scale = max(chi2, 1.0)
    off = 2 if metallicity else 1
    return LeavittFit(slope=float(coef[0]), slope_err=float(np.sqrt(cov[0, 0] * scale)),
                      intercepts={g: float(coef[j + off]) for j, g in enumerate(names)}, reduced_chi2=chi2,
                      n=int(keep.sum()), n_rejected=int(sel.sum() - keep.sum()),
                      metallicity_slope=float(coef[1]) if metallicity else None,
                      metallicity_slope_err=float(np.sqrt(cov[1, 1] * scale)) if metallicity else None,
                      metallicity_pivot=pivot,
                      dropped_galaxies=tuple(g for g in all_names if g not in names)), keep
