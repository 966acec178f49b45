"""One PNG per experiment kind: labelled axes with units, the data, the fit, the result.

Uses matplotlib's object API on the Agg canvas (no pyplot state), so plots are safe in
threads and never open a window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["render_plot", "PLOTTERS"]


def _figure(ncols: int = 1, width: float = 7.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, 4.6), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _transit(fig: Figure, axes: Any, p: dict[str, Any]) -> None:
    left, right = axes
    left.plot(p["periods"], p["power"], lw=0.7, color="0.2")
    left.axvline(p["period"], color="tab:red", lw=1, ls="--", label=f"BLS {p['period']:.5f} d")
    if p.get("catalog_period"):
        left.axvline(p["catalog_period"], color="tab:blue", lw=1, ls=":", label=f"catalogue {p['catalog_period']:.5f} d")
    left.set_xscale("log")
    left.set_xlabel("trial period [days]")
    left.set_ylabel("BLS signal-to-noise")
    left.legend(fontsize=8)
    phase = ((np.asarray(p["time"]) - p["t0"] + 0.5 * p["period"]) % p["period"]) - 0.5 * p["period"]
    hours = phase * 24.0
    right.plot(hours, np.asarray(p["rel_flux"]) * 1e6, ".", ms=2, color="0.4", alpha=0.6)
    half = 12.0 * p["duration"]
    right.plot([-3 * half, -half, -half, half, half, 3 * half],
               [0, 0, -p["depth"] * 1e6, -p["depth"] * 1e6, 0, 0], color="tab:red", lw=1.2, label="box model")
    right.set_xlim(-6 * half, 6 * half)
    right.set_xlabel("time from mid-transit [hours]")
    right.set_ylabel("relative flux [ppm]")
    right.legend(fontsize=8)
    fig.suptitle(f"{p['target']}: transit search ({p['dataset_id']})")


def _valley(fig: Figure, ax: Any, p: dict[str, Any]) -> None:
    radii = np.asarray(p["radii"])
    bins = np.logspace(np.log10(1.0), np.log10(4.0), 40)
    ax.hist(radii, bins=bins, color="0.7", edgecolor="0.4", label=f"{len(radii)} planets")
    ax.set_xscale("log")
    ax.axvline(p["valley"], color="tab:red", lw=1.5, label=f"valley {p['valley']:.2f} ± {p['valley_err']:.2f} R⊕")
    ax.axvspan(p["valley"] - p["valley_err"], p["valley"] + p["valley_err"], color="tab:red", alpha=0.15)
    ax.axvspan(1.5, 2.0, color="tab:blue", alpha=0.08, label="Fulton et al. 2017: 1.5–2.0 R⊕")
    ax.set_xlabel("planet radius [R⊕]")
    ax.set_ylabel("number of planets")
    ax.set_xticks([1, 1.5, 2, 3, 4], labels=["1", "1.5", "2", "3", "4"])
    ax.legend(fontsize=8)
    ax.set_title(f"Radius valley (P < {p['max_period']:g} d)")


def _mass_radius(fig: Figure, ax: Any, p: dict[str, Any]) -> None:
    r, m = np.asarray(p["radius"]), np.asarray(p["mass"])
    ax.errorbar(r, m, yerr=np.asarray(p["mass_err"]), fmt="o", ms=3, color="0.3", ecolor="0.75", lw=0.8)
    grid = np.linspace(r.min(), r.max(), 100)
    ax.plot(grid, 10 ** p["log_amplitude"] * grid ** p["exponent"], color="tab:red",
            label=f"fit M ∝ R^{p['exponent']:.2f}±{p['exponent_err']:.2f}")
    ax.plot(grid, grid ** p["reference"], color="tab:blue", ls=":", label=f"Chen & Kipping 2017: R^{p['reference']:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [t for t in (0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0) if r.min() * 0.9 <= t <= r.max() * 1.1]
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.set_xlabel("planet radius [R⊕]")
    ax.set_ylabel("planet mass [M⊕]")
    ax.legend(fontsize=8)
    ax.set_title(f"Mass–radius relation, R ≤ {p['max_radius']:g} R⊕")


def _mass_luminosity(fig: Figure, ax: Any, p: dict[str, Any]) -> None:
    ax.plot(p["logm_all"], p["logl_all"], ".", ms=3, color="0.75", label="DEBCat stars")
    ax.plot(p["logm"], p["logl"], "o", ms=3, color="0.25", label="fitted range")
    x = np.linspace(min(p["logm"]), max(p["logm"]), 50)
    ax.plot(x, p["intercept"] + p["alpha"] * x, color="tab:red",
            label=f"L ∝ M^{p['alpha']:.2f}±{p['alpha_err']:.2f}")
    if p.get("zams_logm"):
        ax.plot(p["zams_logm"], p["zams_logl"], color="tab:blue", ls=":", label="ZAMS (Tout et al. 1996)")
    ax.set_xlabel("log10 mass [M☉]")
    ax.set_ylabel("log10 luminosity [L☉]")
    ax.legend(fontsize=8)
    ax.set_title("Main-sequence mass–luminosity relation")


def _hr(fig: Figure, ax: Any, p: dict[str, Any]) -> None:
    bv, mag, giant = np.asarray(p["b_v"]), np.asarray(p["abs_mag"]), np.asarray(p["giant"], dtype=bool)
    ax.plot(bv[~giant], mag[~giant], ".", ms=1, color="0.35", alpha=0.5, label="main sequence and others")
    ax.plot(bv[giant], mag[giant], ".", ms=1, color="tab:orange", alpha=0.8, label="giant branch")
    if p.get("zams_bv"):
        ax.plot(p["zams_bv"], p["zams_mv"], color="tab:blue", lw=1.2, label="ZAMS (Tout 1996 + Torres 2010 BC)")
    x = np.linspace(0.3, 1.2, 10)
    ax.plot(x, p["ms_intercept"] + p["ms_slope"] * x, color="tab:red", lw=1.2,
            label=f"MS fit slope {p['ms_slope']:.2f}±{p['ms_slope_err']:.2f} mag/mag")
    ax.set_xlim(-0.4, 2.0)
    ax.set_ylim(14, -4)
    ax.set_xlabel("B − V [mag]")
    ax.set_ylabel("absolute magnitude M_Hp [mag]")
    ax.legend(fontsize=7, markerscale=8, loc="lower left")
    ax.set_title(f"Hipparcos HR diagram ({len(bv)} stars)")


def _leavitt(fig: Figure, ax: Any, p: dict[str, Any]) -> None:
    logp, shifted, kept = np.asarray(p["log_period"]), np.asarray(p["shifted_mag"]), np.asarray(p["kept"], bool)
    ax.plot(logp[kept], shifted[kept], "o", ms=2.5, color="0.3", label="Cepheids (galaxy zero points removed)")
    if (~kept).any():
        ax.plot(logp[~kept], shifted[~kept], "x", ms=3, color="0.7", label="clipped")
    x = np.linspace(logp.min(), logp.max(), 10)
    ax.plot(x, p["slope"] * (x - 1.0), color="tab:red", label=f"slope {p['slope']:.2f}±{p['slope_err']:.2f}")
    ax.plot(x, p["reference"] * (x - 1.0), color="tab:blue", ls=":", label=f"LMC (Persson 2004) {p['reference']:.2f}")
    ax.invert_yaxis()
    ax.set_xlabel("log10 period [days]")
    ax.set_ylabel("m_W − zero point(galaxy) at log P = 1 [mag]")
    ax.legend(fontsize=8)
    ax.set_title("Cepheid period–luminosity (Leavitt) law, Riess et al. 2011 hosts")


PLOTTERS = {
    "transit_search": (_transit, 2),
    "radius_valley": (_valley, 1),
    "mass_radius": (_mass_radius, 1),
    "mass_luminosity": (_mass_luminosity, 1),
    "hr_diagram": (_hr, 1),
    "leavitt_law": (_leavitt, 1),
}


def render_plot(kind: str, plot_data: dict[str, Any], path: Path) -> Path:
    """Draw the plot of one experiment kind into ``path`` (PNG)."""
    draw, ncols = PLOTTERS[kind]
    fig, axes = _figure(ncols, width=11.0 if ncols == 2 else 7.0)
    draw(fig, axes, plot_data)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
