"""Transit search in a light curve: running-median detrend, then astropy's BoxLeastSquares.

A coarse frequency grid finds the peak, a fine grid around it refines the period; the
period uncertainty is the half width at half maximum of the refined peak (the resolution the
data allow, conservative), the depth uncertainty is BLS's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.timeseries import BoxLeastSquares
from scipy.ndimage import median_filter

from astroagent.errors import DataError

__all__ = ["TransitSearch", "detrend", "bls_search", "DEFAULT_DURATIONS"]

DEFAULT_DURATIONS = (0.04, 0.06, 0.08, 0.1, 0.12, 0.16)


@dataclass(frozen=True)
class TransitSearch:
    period: float
    period_err: float
    depth: float            # fractional
    depth_err: float
    duration: float         # days
    t0: float               # BKJD
    snr: float
    n_transits: int
    periods: np.ndarray     # the coarse periodogram, for the plot
    power: np.ndarray


def detrend(time: np.ndarray, flux: np.ndarray, window_days: float) -> np.ndarray:
    """Relative flux (flux / running median − 1); the window must be several transit durations wide."""
    if len(time) < 10:
        raise DataError(f"light curve has only {len(time)} points")
    cadence = float(np.median(np.diff(time)))
    if not cadence > 0:
        raise DataError("light curve times are not increasing")
    size = max(3, int(round(window_days / cadence)) | 1)
    trend = median_filter(flux, size=size, mode="nearest")
    if np.any(trend <= 0):
        raise DataError("light curve has non-positive flux")
    return flux / trend - 1.0


def _hwhm(periods: np.ndarray, power: np.ndarray, i: int) -> float:
    half = power[i] - 0.5 * (power[i] - np.median(power))
    lo = i
    while lo > 0 and power[lo] > half:
        lo -= 1
    hi = i
    while hi < len(power) - 1 and power[hi] > half:
        hi += 1
    return max(float(periods[hi] - periods[lo]) / 2.0, float(np.median(np.diff(periods))))


def bls_search(time: np.ndarray, rel_flux: np.ndarray, flux_err: np.ndarray, *, min_period: float = 0.5,
               max_period: float = 10.0, durations: tuple[float, ...] = DEFAULT_DURATIONS,
               frequency_factor: float = 10.0, refine_points: int = 600) -> TransitSearch:
    """The strongest box-shaped dip between ``min_period`` and ``max_period`` days."""
    baseline = float(time.max() - time.min())
    max_period = min(max_period, baseline / 2.0)
    if not 0 < min_period < max_period:
        raise DataError(f"period range {min_period:g}–{max_period:g} d does not fit a {baseline:.1f} d baseline")
    durs = np.asarray([d for d in durations if d < min_period], dtype=float)
    if len(durs) == 0:
        raise DataError(f"no transit duration shorter than the minimum period {min_period:g} d")
    model = BoxLeastSquares(time, rel_flux, flux_err)
    periods = model.autoperiod(durs, minimum_period=min_period, maximum_period=max_period,
                               frequency_factor=frequency_factor)
    coarse = model.power(periods, durs, objective="snr")
    best = int(np.nanargmax(coarse.power))
    p0 = float(coarse.period[best])
    step = 2.0 * p0 * frequency_factor * durs.min() / baseline ** 2 * p0  # a few coarse steps each side
    fine_periods = np.linspace(p0 - max(step, 0.002 * p0), p0 + max(step, 0.002 * p0), refine_points)
    fine = model.power(fine_periods, durs, objective="snr")
    j = int(np.nanargmax(fine.power))
    period = float(fine.period[j])
    duration = float(fine.duration[j])
    n_transits = int(np.unique(np.round((time - float(fine.transit_time[j])) / period)).size)
    return TransitSearch(period=period, period_err=_hwhm(fine_periods, np.asarray(fine.power), j),
                         depth=float(fine.depth[j]), depth_err=float(fine.depth_err[j]), duration=duration,
                         t0=float(fine.transit_time[j]), snr=float(fine.depth_snr[j]), n_transits=n_transits,
                         periods=np.asarray(coarse.period), power=np.asarray(coarse.power))
